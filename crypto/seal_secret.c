/*
 * seal_secret.c - the plaintext buffer an opened item is decrypted into:
 * one sodium_malloc allocation made once and reused by every open (a
 * sodium_malloc/free pair costs ~55 us here, decrypting 4 KB ~4 us).
 */
#include "seal_internal.h"

#include <stdlib.h>
#include <string.h>

int seal_secret_new(seal_secret **out, seal_err *err)
{
    seal_secret *s = calloc(1, sizeof *s);
    if (s == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of memory");
    s->buf = sodium_malloc(SEAL_FILE_MAX + SEAL_SECRET_TAIL);
    s->sealed = malloc(SEAL_FILE_MAX);
    if (s->buf == NULL || s->sealed == NULL) {
        sodium_free(s->buf);
        free(s->sealed);
        free(s);
        return seal_fail(err, SEAL_E_NOMEM, "out of secure memory for a secret (check RLIMIT_MEMLOCK)");
    }
    *out = s;
    return SEAL_OK;
}

void seal_secret_free(seal_secret *s)
{
    if (s == NULL)
        return;
    sodium_free(s->buf); /* wipes */
    free(s->sealed);
    free(s);
}

void seal_secret_clear(seal_secret *s)
{
    /* Only what the previous open wrote is wiped: wiping all 68 KB would
     * cost more than the decryption itself. */
    if (s->used > 0)
        sodium_memzero(s->buf, s->used);
    if (s->tail_used > 0)
        sodium_memzero(s->buf + SEAL_FILE_MAX, s->tail_used);
    s->used = s->tail_used = 0;
    s->value_off = s->value_len = 0;
    s->issuer_off = s->issuer_len = 0;
    s->client_off = s->client_len = 0;
    s->generation = s->created = 0;
    s->loaded = 0;
}

const uint8_t *seal_secret_data(const seal_secret *s)
{
    return s->loaded ? s->buf + s->value_off : NULL;
}

size_t seal_secret_size(const seal_secret *s)
{
    return s->loaded ? s->value_len : 0;
}

uint64_t seal_secret_generation(const seal_secret *s)
{
    return s->generation;
}

uint64_t seal_secret_created(const seal_secret *s)
{
    return s->created;
}

int seal_secret_binding(const seal_secret *s, seal_binding *out)
{
    if (!s->loaded)
        return SEAL_E_INVAL;
    out->issuer = (const char *)s->buf + s->issuer_off;
    out->client_id = (const char *)s->buf + s->client_off;
    return SEAL_OK;
}
