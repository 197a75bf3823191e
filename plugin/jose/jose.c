/* jose.c - compact JWS: strict split, header checks, signature with GnuTLS.
 * The header's own key hints (jwk, jku, x5u, x5c) are never followed: keys
 * come only from the issuer's JWKS. */
#include "jose/jose.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/b64url.h"
#include "core/errors.h"
#include "core/json.h"

static int jose_header(const char *h, size_t len, struct jose_jws *out, char *why,
                       size_t why_len);
static int jose_key_fits(const struct jose_jws *j, const struct jwk_key *k);
static int jose_verify_key(const struct jose_jws *j, const struct jwk_key *k);
static size_t jose_der_int(const unsigned char *v, size_t n, unsigned char *out);

int jose_alg_from_name(const char *name)
{
    if (strcmp(name, "RS256") == 0)
        return JOSE_RS256;
    if (strcmp(name, "RS384") == 0)
        return JOSE_RS384;
    if (strcmp(name, "ES256") == 0)
        return JOSE_ES256;
    if (strcmp(name, "ES384") == 0)
        return JOSE_ES384;
    return 0;
}

const char *jose_alg_name(int alg)
{
    switch (alg) {
    case JOSE_RS256: return "RS256";
    case JOSE_RS384: return "RS384";
    case JOSE_ES256: return "ES256";
    case JOSE_ES384: return "ES384";
    default: return "?";
    }
}

int jose_jws_parse(const char *tok, size_t len, struct jose_jws *out, char *why,
                   size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > JOSE_JWS_MAX) {
        snprintf(why, why_len, "token empty or longer than %u bytes", JOSE_JWS_MAX);
        return JOSE_E_MALFORMED;
    }
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d1 == NULL || d2 == NULL ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL) {
        snprintf(why, why_len, "not a compact JWS (three dot-separated parts)");
        return JOSE_E_MALFORMED;
    }
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1);
    size_t sl = len - (size_t)(d2 + 1 - tok);
    if (hl == 0 || sl == 0) {
        snprintf(why, why_len, "the token has an empty header or signature");
        return JOSE_E_MALFORMED;
    }
    int rc = jose_header(tok, hl, out, why, why_len);
    if (rc != JOSE_OK)
        goto fail;
    rc = JOSE_E_NOMEM;
    out->payload = malloc(B64URL_DECODED_MAX(pl) + 1);
    out->sig = malloc(B64URL_DECODED_MAX(sl));
    if (out->payload == NULL || out->sig == NULL) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    rc = JOSE_E_MALFORMED;
    if (b64url_decode(d1 + 1, pl, out->payload, B64URL_DECODED_MAX(pl),
                      &out->payload_len) != 0 ||
        b64url_decode(d2 + 1, sl, out->sig, B64URL_DECODED_MAX(sl), &out->sig_len) != 0) {
        snprintf(why, why_len, "the token's payload or signature is not base64url");
        goto fail;
    }
    out->payload[out->payload_len] = '\0';
    out->signing_input = tok;
    out->signing_len = (size_t)(d2 - tok);
    return JOSE_OK;
fail:
    jose_jws_free(out);
    return rc;
}

int jose_jws_verify(const struct jose_jws *j, const struct jwks *keys, char *why,
                    size_t why_len)
{
    int tried = 0;
    for (size_t i = 0; keys != NULL && i < keys->n; i++) {
        const struct jwk_key *k = &keys->keys[i];
        if (j->has_kid && (!k->has_kid || strcmp(j->kid, k->kid) != 0))
            continue;
        if (!jose_key_fits(j, k))
            continue;
        tried++;
        int rc = jose_verify_key(j, k);
        if (rc == JOSE_OK)
            return JOSE_OK;
        if (rc == JOSE_E_NOMEM) {
            snprintf(why, why_len, "out of memory");
            return rc;
        }
    }
    if (tried == 0) {
        snprintf(why, why_len, j->has_kid
                 ? "no %s signing key with the token's kid"
                 : "no %s signing key of the right type", jose_alg_name(j->alg));
        return JOSE_E_NOKEY;
    }
    snprintf(why, why_len, "the %s signature does not verify", jose_alg_name(j->alg));
    return JOSE_E_BADSIG;
}

void jose_jws_free(struct jose_jws *j)
{
    free(j->payload);
    free(j->sig);
    memset(j, 0, sizeof *j);
}

int jose_verify_compact(const char *tok, size_t len, const struct jwks *keys,
                        unsigned char **payload, size_t *payload_len, int *rc_out,
                        vap_error *err)
{
    struct jose_jws j;
    char why[128];
    *payload = NULL;
    *payload_len = 0;
    int rc = jose_jws_parse(tok, len, &j, why, sizeof why);
    if (rc == JOSE_OK)
        rc = jose_jws_verify(&j, keys, why, sizeof why);
    if (rc_out != NULL)
        *rc_out = rc;
    if (rc != JOSE_OK) {
        jose_jws_free(&j);
        if (rc == JOSE_E_NOMEM)
            return err_set(err, VAP_E_NOMEM, "out of memory checking a signed token");
        return err_set(err, VAP_E_PROTOCOL, "the server's signed token was refused "
                       "(%s): if the server changed its signing key, retry; "
                       "otherwise check the issuer setting", why);
    }
    *payload = j.payload;
    *payload_len = j.payload_len;
    j.payload = NULL;
    jose_jws_free(&j);
    return VAP_OK;
}

size_t jose_rs_to_der(const unsigned char *rs, size_t n, unsigned char *out,
                      size_t out_cap)
{
    /* two INTEGERs of at most n+1 bytes each, 2+2 header bytes, SEQUENCE
     * header 2 bytes: fits short-form lengths for n <= 60 */
    unsigned char r[72], s[72];
    if (n == 0 || n > 60 || out_cap < 2 * (n + 3) + 2)
        return 0;
    size_t rl = jose_der_int(rs, n, r), sl = jose_der_int(rs + n, n, s);
    size_t body = rl + sl;
    out[0] = 0x30;
    out[1] = (unsigned char)body;
    memcpy(out + 2, r, rl);
    memcpy(out + 2 + rl, s, sl);
    return body + 2;
}

static int jose_header(const char *h, size_t len, struct jose_jws *out, char *why,
                       size_t why_len)
{
    unsigned char buf[JOSE_HEADER_MAX];
    size_t n;
    char jwhy[96];
    if (len > B64URL_ENCODED_LEN(sizeof buf) ||
        b64url_decode(h, len, buf, sizeof buf, &n) != 0) {
        snprintf(why, why_len, "the token header is not base64url or too long");
        return JOSE_E_MALFORMED;
    }
    json_t *hdr = pjson_parse((const char *)buf, n, JOSE_HEADER_MAX, jwhy, sizeof jwhy);
    if (!json_is_object(hdr)) {
        snprintf(why, why_len, "the token header is not a JSON object");
        json_decref(hdr);
        return JOSE_E_MALFORMED;
    }
    int rc = JOSE_OK;
    const char *alg = pjson_str(hdr, "alg");
    const json_t *kid = json_object_get(hdr, "kid");
    if (alg == NULL) {
        snprintf(why, why_len, "the token header has no \"alg\"");
        rc = JOSE_E_MALFORMED;
    } else if ((out->alg = jose_alg_from_name(alg)) == 0) {
        snprintf(why, why_len, "signature algorithm \"%.16s\" is not accepted (only "
                 "RS256, RS384, ES256, ES384)", alg);
        rc = JOSE_E_ALG;
    } else if (json_object_get(hdr, "crit") != NULL) {
        /* RFC 7515 §4.1.11: we understand no extension, so we must refuse */
        snprintf(why, why_len, "the token header has \"crit\" extensions");
        rc = JOSE_E_ALG;
    } else if (kid != NULL) {
        if (!json_is_string(kid) || json_string_length(kid) >= JWK_KID_MAX ||
            strlen(json_string_value(kid)) != json_string_length(kid)) {
            snprintf(why, why_len, "the token header's \"kid\" is not a short string");
            rc = JOSE_E_MALFORMED;
        } else {
            memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
            out->has_kid = 1;
        }
    }
    json_decref(hdr);
    return rc;
}

/* Algorithms are bound to key types and curves: no RS256 token checked with
 * an EC key, no ES256 token checked with a P-384 key. */
static int jose_key_fits(const struct jose_jws *j, const struct jwk_key *k)
{
    if (k->alg[0] != '\0' && strcmp(k->alg, jose_alg_name(j->alg)) != 0)
        return 0;
    switch (j->alg) {
    case JOSE_RS256:
    case JOSE_RS384:
        return k->type == JWK_RSA;
    case JOSE_ES256:
        return k->type == JWK_EC && k->curve == GNUTLS_ECC_CURVE_SECP256R1;
    case JOSE_ES384:
        return k->type == JWK_EC && k->curve == GNUTLS_ECC_CURVE_SECP384R1;
    default:
        return 0;
    }
}

static int jose_verify_key(const struct jose_jws *j, const struct jwk_key *k)
{
    gnutls_datum_t data = {(unsigned char *)j->signing_input, (unsigned)j->signing_len};
    gnutls_datum_t sig;
    gnutls_sign_algorithm_t sa;
    unsigned char der[2 * 51 + 2];
    switch (j->alg) {
    case JOSE_RS256:
        sa = GNUTLS_SIGN_RSA_SHA256;
        break;
    case JOSE_RS384:
        sa = GNUTLS_SIGN_RSA_SHA384;
        break;
    case JOSE_ES256:
        sa = GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
        break;
    case JOSE_ES384:
        sa = GNUTLS_SIGN_ECDSA_SECP384R1_SHA384;
        break;
    default:
        return JOSE_E_ALG;
    }
    if (k->type == JWK_EC) {
        size_t n = k->bits / 8;
        /* RFC 7518 §3.4: exactly 2 * coordinate size, never DER */
        if (j->sig_len != 2 * n)
            return JOSE_E_BADSIG;
        size_t dl = jose_rs_to_der(j->sig, n, der, sizeof der);
        if (dl == 0)
            return JOSE_E_BADSIG;
        sig.data = der;
        sig.size = (unsigned)dl;
    } else {
        if (j->sig_len != (k->bits + 7) / 8)
            return JOSE_E_BADSIG;
        sig.data = j->sig;
        sig.size = (unsigned)j->sig_len;
    }
    int r = gnutls_pubkey_verify_data2(k->pub, sa, 0, &data, &sig);
    if (r == GNUTLS_E_MEMORY_ERROR)
        return JOSE_E_NOMEM;
    return r >= 0 ? JOSE_OK : JOSE_E_BADSIG;
}

/* A DER INTEGER of an unsigned big-endian value: minimal, non-negative. */
static size_t jose_der_int(const unsigned char *v, size_t n, unsigned char *out)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    size_t pad = (v[0] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (unsigned char)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v, n);
    return n + pad + 2;
}
