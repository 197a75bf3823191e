/*
 * fuzz_vseal_payload.c - the sealed payload parser (crypto/seal_format.c,
 * seal_format_parse_payload) called on plaintext, as if it had just
 * authenticated: a mutated sealed file never gets past the AEAD tag, so the
 * vseal target never reaches this code.  Whatever parses must hand out an
 * issuer and client_id of 1..SEAL_BINDING_MAX bytes and a value inside the
 * input.
 */
#include "seal_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seal_secret *s;
    seal_err err;
    if (s == NULL && (sodium_init() < 0 || seal_secret_new(&s, &err) != SEAL_OK))
        abort();
    if (size > SEAL_FILE_MAX)
        return 0;
    seal_secret_clear(s);
    memcpy(s->buf, data, size);
    s->used = size;
    if (seal_format_parse_payload(s, size, &err) != SEAL_OK)
        return 0;
    s->loaded = 1;
    seal_binding b;
    if (seal_secret_binding(s, &b) != SEAL_OK)
        abort();
    size_t il = strlen(b.issuer), cl = strlen(b.client_id);
    if (il == 0 || il > SEAL_BINDING_MAX || cl == 0 || cl > SEAL_BINDING_MAX ||
        il != s->issuer_len || cl != s->client_len)
        abort();
    if (s->value_off + s->value_len > size || memcmp(s->buf + s->value_off, data + s->value_off, s->value_len))
        abort();
    seal_secret_clear(s);
    return 0;
}
