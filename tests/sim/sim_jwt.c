/* sim_jwt.c: RS256 compact JWTs for the simulator's access tokens and
 * id_tokens, in the header shape OpenEMR uses (typ JWT, alg RS256, no kid). */
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "sim_internal.h"

int sim_jwt_sign(gnutls_privkey_t key, json_t *claims, char **out)
{
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"RS256\"}";
    char *payload = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL;
    gnutls_datum_t sig = {NULL, 0};
    sim_buf b;
    int rc = -1;

    sim_buf_init(&b, 1 << 16);
    payload = json_dumps(claims, JSON_COMPACT);
    h64 = sim_b64url((const unsigned char *)header, sizeof(header) - 1);
    p64 = payload ? sim_b64url((const unsigned char *)payload, strlen(payload)) : NULL;
    if (!h64 || !p64)
        goto out;
    sim_buf_addf(&b, "%s.%s", h64, p64);
    if (b.oom)
        goto out;
    gnutls_datum_t data = {(unsigned char *)b.p, (unsigned)b.len};
    if (gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &data, &sig) < 0)
        goto out;
    s64 = sim_b64url(sig.data, sig.size);
    if (!s64 || sim_buf_addf(&b, ".%s", s64) != 0)
        goto out;
    *out = sim_buf_steal(&b);
    rc = *out ? 0 : -1;
out:
    sim_buf_free(&b);
    free(payload);
    free(h64);
    free(p64);
    free(s64);
    gnutls_free(sig.data);
    return rc;
}

int sim_jwt_sign_fault(const unsigned char *key, size_t keylen, json_t *claims, char **out)
{
    const char *header = key ? "{\"typ\":\"JWT\",\"alg\":\"HS256\"}"
                             : "{\"typ\":\"JWT\",\"alg\":\"none\"}";
    char *payload = json_dumps(claims, JSON_COMPACT), *h64 = NULL, *p64 = NULL, *s64 = NULL;
    unsigned char mac[32];
    sim_buf b;
    int rc = -1;

    sim_buf_init(&b, 1 << 16);
    h64 = sim_b64url((const unsigned char *)header, strlen(header));
    p64 = payload ? sim_b64url((const unsigned char *)payload, strlen(payload)) : NULL;
    if (!h64 || !p64 || sim_buf_addf(&b, "%s.%s.", h64, p64) != 0)
        goto out;
    if (key) {
        if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, b.p, b.len - 1, mac) < 0 ||
            !(s64 = sim_b64url(mac, sizeof(mac))) || sim_buf_addf(&b, "%s", s64) != 0)
            goto out;
    }
    *out = sim_buf_steal(&b);
    rc = *out ? 0 : -1;
out:
    sim_buf_free(&b);
    free(payload);
    free(h64);
    free(p64);
    free(s64);
    return rc;
}

json_t *sim_jwt_payload(const char *tok, size_t len)
{
    size_t a = 0;
    while (a < len && tok[a] != '.')
        a++;
    if (a >= len)
        return NULL;
    size_t b = a + 1;
    while (b < len && tok[b] != '.')
        b++;
    if (b >= len)
        return NULL;
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (sim_b64url_decode(tok + a + 1, b - a - 1, &raw, &rawlen) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}
