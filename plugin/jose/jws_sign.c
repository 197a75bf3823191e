/* jws_sign.c - compact JWS signing and the private_key_jwt client assertion
 * (see jws_sign.h). */
#include "jose/jws_sign.h"

#include <gnutls/crypto.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "jose/b64url.h"
#include "jose/jose.h"

#define ES384_HALF 48u

static size_t sig_to_jose(int alg, const gnutls_datum_t *sig, unsigned char *out, size_t cap);

int jose_sign_compact(gnutls_privkey_t key, int alg, const char *kid, const char *payload,
                      size_t payload_len, char *out, size_t cap)
{
    if (key == NULL || kid == NULL || payload == NULL || (alg != JOSE_RS384 && alg != JOSE_ES384))
        return -1;
    unsigned bits = 0;
    int pk = gnutls_privkey_get_pk_algorithm(key, &bits);
    if ((alg == JOSE_RS384) != (pk == GNUTLS_PK_RSA) ||
        (alg == JOSE_ES384) != (pk == GNUTLS_PK_ECDSA) || (alg == JOSE_ES384 && bits != 384))
        return -1; /* ES384 is P-384 only (RFC 7518 §3.4) */
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", jose_alg_name(alg), "typ", "JWT", "kid", kid);
    char *h = hdr ? json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(hdr);
    if (h == NULL)
        return -1;
    size_t hl = strlen(h), hb = B64URL_ENCODED_LEN(hl), pb = B64URL_ENCODED_LEN(payload_len);
    unsigned char raw[1024];
    gnutls_datum_t sig = {NULL, 0};
    int rc = -1;
    /* header . payload . signature (RS384 at most 8192 bits, 683 characters) */
    if (hb + 1 + pb + 1 + B64URL_ENCODED_LEN(sizeof raw) + 1 > cap ||
        b64url_encode((const unsigned char *)h, hl, out, cap) != 0)
        goto out;
    out[hb] = '.';
    if (b64url_encode((const unsigned char *)payload, payload_len, out + hb + 1, cap - hb - 1) != 0)
        goto out;
    size_t signing_len = hb + 1 + pb;
    gnutls_datum_t data = {(unsigned char *)out, (unsigned)signing_len};
    gnutls_sign_algorithm_t sa =
        alg == JOSE_RS384 ? GNUTLS_SIGN_RSA_SHA384 : GNUTLS_SIGN_ECDSA_SHA384;
    if (gnutls_privkey_sign_data2(key, sa, 0, &data, &sig) != 0)
        goto out;
    size_t n = sig_to_jose(alg, &sig, raw, sizeof raw);
    out[signing_len] = '.';
    if (n == 0 || b64url_encode(raw, n, out + signing_len + 1, cap - signing_len - 1) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && cap > 0)
        sodium_memzero(out, cap);
    gnutls_free(sig.data);
    free(h);
    return rc;
}

int jose_client_assertion(gnutls_privkey_t key, int alg, const char *kid, const char *client_id,
                          const char *token_url, int64_t now, char *out, size_t cap)
{
    unsigned char r[JOSE_JTI_BYTES];
    char jti[B64URL_ENCODED_LEN(JOSE_JTI_BYTES) + 1];
    if (client_id == NULL || token_url == NULL || !*client_id || !*token_url)
        return -1;
    randombytes_buf(r, sizeof r);
    if (b64url_encode(r, sizeof r, jti, sizeof jti) != 0)
        return -1;
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "iss", client_id, "sub", client_id, "aud",
                          token_url, "jti", jti, "iat", (json_int_t)now, "exp",
                          (json_int_t)(now + JOSE_ASSERTION_LIFE_S));
    char *p = c ? json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(c);
    if (p == NULL)
        return -1;
    int rc = jose_sign_compact(key, alg, kid, p, strlen(p), out, cap);
    free(p);
    return rc;
}

/* RS384: the PKCS#1 v1.5 signature as is.  ES384: GnuTLS's DER
 * ECDSA-Sig-Value to JOSE's fixed-size r || s (RFC 7518 §3.4). */
static size_t sig_to_jose(int alg, const gnutls_datum_t *sig, unsigned char *out, size_t cap)
{
    if (alg == JOSE_RS384) {
        if (sig->size > cap)
            return 0;
        memcpy(out, sig->data, sig->size);
        return sig->size;
    }
    gnutls_datum_t r = {NULL, 0}, s = {NULL, 0};
    size_t n = 0;
    if (gnutls_decode_rs_value(sig, &r, &s) == 0 && cap >= 2 * ES384_HALF) {
        const unsigned char *rp = r.data, *sp = s.data;
        size_t rl = r.size, sl = s.size;
        while (rl > ES384_HALF && *rp == 0)
            rp++, rl--;
        while (sl > ES384_HALF && *sp == 0)
            sp++, sl--;
        if (rl <= ES384_HALF && sl <= ES384_HALF) {
            memset(out, 0, 2 * ES384_HALF);
            memcpy(out + ES384_HALF - rl, rp, rl);
            memcpy(out + 2 * ES384_HALF - sl, sp, sl);
            n = 2 * ES384_HALF;
        }
    }
    gnutls_free(r.data);
    gnutls_free(s.data);
    return n;
}
