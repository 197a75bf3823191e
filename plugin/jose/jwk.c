/* jwk.c - importing JWKs with GnuTLS; every field is checked before use. */
#include "jose/jwk.h"

#include <stdio.h>
#include <string.h>

#include "jose/b64url.h"
#include "core/errors.h"
#include "core/json.h"

static int jwk_b64_member(const json_t *obj, const char *name, unsigned char *out,
                          size_t cap, size_t *len);
static int jwk_rsa(const json_t *obj, struct jwk_key *k, char *why, size_t why_len);
static int jwk_ec(const json_t *obj, struct jwk_key *k, char *why, size_t why_len);

int jwk_from_json(const json_t *obj, struct jwk_key *k, char *why, size_t why_len)
{
    memset(k, 0, sizeof *k);
    if (!json_is_object(obj)) {
        snprintf(why, why_len, "a key is not a JSON object");
        return VAP_E_PROTOCOL;
    }
    const char *kty = pjson_str(obj, "kty");
    const char *use = pjson_str(obj, "use");
    const char *alg = pjson_str(obj, "alg");
    const json_t *kid = json_object_get(obj, "kid");
    if (kty == NULL) {
        snprintf(why, why_len, "a key has no \"kty\"");
        return VAP_E_PROTOCOL;
    }
    if (use != NULL && strcmp(use, "sig") != 0) {
        snprintf(why, why_len, "a key is for \"use\":\"%.16s\", not signatures", use);
        return VAP_E_UNSUPPORTED;
    }
    if (alg != NULL && strcmp(alg, "RS256") && strcmp(alg, "RS384") &&
        strcmp(alg, "ES256") && strcmp(alg, "ES384")) {
        snprintf(why, why_len, "a key is for algorithm %.16s, which is not accepted", alg);
        return VAP_E_UNSUPPORTED;
    }
    if (kid != NULL) {
        if (!json_is_string(kid) || json_string_length(kid) >= JWK_KID_MAX ||
            strlen(json_string_value(kid)) != json_string_length(kid)) {
            snprintf(why, why_len, "a key has a \"kid\" that is not a short string");
            return VAP_E_PROTOCOL;
        }
        memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
        k->has_kid = 1;
    }
    if (json_object_get(obj, "d") != NULL || json_object_get(obj, "p") != NULL) {
        /* A published private key is a server mistake; never rely on it. */
        snprintf(why, why_len, "a key carries private parameters");
        return VAP_E_PROTOCOL;
    }
    if (alg != NULL)
        snprintf(k->alg, sizeof k->alg, "%s", alg);
    int rc;
    if (strcmp(kty, "RSA") == 0)
        rc = jwk_rsa(obj, k, why, why_len);
    else if (strcmp(kty, "EC") == 0)
        rc = jwk_ec(obj, k, why, why_len);
    else {
        snprintf(why, why_len, "key type \"%.16s\" is not supported", kty);
        rc = VAP_E_UNSUPPORTED;
    }
    if (rc == 0 && k->alg[0] != '\0' &&
        ((k->type == JWK_RSA) != (k->alg[0] == 'R') ||
         (k->type == JWK_EC &&
          (k->curve == GNUTLS_ECC_CURVE_SECP256R1) != (strcmp(k->alg, "ES256") == 0)))) {
        snprintf(why, why_len, "a key's \"alg\" %s does not fit its type or curve", k->alg);
        rc = VAP_E_PROTOCOL;
    }
    if (rc != 0)
        jwk_key_clear(k);
    return rc;
}

void jwk_key_clear(struct jwk_key *k)
{
    if (k->pub != NULL)
        gnutls_pubkey_deinit(k->pub);
    memset(k, 0, sizeof *k);
}

int jwks_parse(const char *buf, size_t len, struct jwks *out, vap_error *err)
{
    char why[160];
    char first_why[160] = "";
    memset(out, 0, sizeof *out);
    json_t *root = pjson_parse(buf, len, JWKS_MAX_BYTES, why, sizeof why);
    if (root == NULL)
        return err_set(err, VAP_E_PROTOCOL, "the server's signing keys (jwks_uri) "
                       "could not be read: %s", why);
    int rc = VAP_OK;
    const json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        rc = err_set(err, VAP_E_PROTOCOL, "the server's signing keys (jwks_uri) "
                     "have no \"keys\" list: check jwks_uri points at the JWKS");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        if (out->n == JWKS_MAX_KEYS) {
            out->skipped += json_array_size(keys) - i;
            break;
        }
        if (jwk_from_json(json_array_get(keys, i), &out->keys[out->n], why,
                          sizeof why) == 0)
            out->n++;
        else {
            out->skipped++;
            if (first_why[0] == '\0')
                snprintf(first_why, sizeof first_why, "%s", why);
        }
    }
    if (out->n == 0)
        rc = err_set(err, VAP_E_PROTOCOL, "the server publishes no usable signing "
                     "key (RSA 2048+ or EC P-256/P-384)%s%s", first_why[0] ? ": " : "",
                     first_why);
out:
    json_decref(root);
    if (rc != VAP_OK)
        jwks_free(out);
    return rc;
}

void jwks_free(struct jwks *s)
{
    for (size_t i = 0; i < s->n; i++)
        jwk_key_clear(&s->keys[i]);
    memset(s, 0, sizeof *s);
}

static int jwk_rsa(const json_t *obj, struct jwk_key *k, char *why, size_t why_len)
{
    unsigned char n[JWK_RSA_MAX_BYTES], e[8];
    size_t nl, el;
    if (jwk_b64_member(obj, "n", n, sizeof n, &nl) != 0 ||
        jwk_b64_member(obj, "e", e, sizeof e, &el) != 0) {
        snprintf(why, why_len, "an RSA key has a missing or malformed \"n\" or \"e\"");
        return VAP_E_PROTOCOL;
    }
    size_t z = 0;
    while (z < nl && n[z] == 0)
        z++;
    if (el == 0 || (e[el - 1] & 1) == 0 || (el == 1 && e[0] < 3)) {
        snprintf(why, why_len, "an RSA key has an invalid exponent");
        return VAP_E_PROTOCOL;
    }
    if ((nl - z) * 8 < JWK_RSA_MIN_BITS) {
        snprintf(why, why_len, "an RSA key has only %zu bits (at least %d needed)",
                 (nl - z) * 8, JWK_RSA_MIN_BITS);
        return VAP_E_PROTOCOL;
    }
    gnutls_datum_t m = {n + z, (unsigned)(nl - z)}, ex = {e, (unsigned)el};
    if (gnutls_pubkey_init(&k->pub) < 0 ||
        gnutls_pubkey_import_rsa_raw(k->pub, &m, &ex) < 0) {
        snprintf(why, why_len, "an RSA key could not be imported");
        return VAP_E_PROTOCOL;
    }
    unsigned bits = 0;
    gnutls_pubkey_get_pk_algorithm(k->pub, &bits);
    if (bits < JWK_RSA_MIN_BITS) {
        snprintf(why, why_len, "an RSA key has only %u bits (at least %d needed)",
                 bits, JWK_RSA_MIN_BITS);
        return VAP_E_PROTOCOL;
    }
    k->type = JWK_RSA;
    k->bits = bits;
    return 0;
}

static int jwk_ec(const json_t *obj, struct jwk_key *k, char *why, size_t why_len)
{
    const char *crv = pjson_str(obj, "crv");
    size_t clen;
    if (crv != NULL && strcmp(crv, "P-256") == 0) {
        k->curve = GNUTLS_ECC_CURVE_SECP256R1;
        clen = 32;
    } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
        k->curve = GNUTLS_ECC_CURVE_SECP384R1;
        clen = 48;
    } else {
        snprintf(why, why_len, "an EC key is on curve \"%.16s\" (only P-256 and "
                 "P-384 are accepted)", crv ? crv : "(none)");
        return VAP_E_UNSUPPORTED;
    }
    unsigned char x[48], y[48];
    size_t xl, yl;
    /* RFC 7518 §6.2.1.2: coordinates are exactly the curve's size */
    if (jwk_b64_member(obj, "x", x, sizeof x, &xl) != 0 ||
        jwk_b64_member(obj, "y", y, sizeof y, &yl) != 0 || xl != clen || yl != clen) {
        snprintf(why, why_len, "an EC key has a missing or malformed \"x\" or \"y\"");
        return VAP_E_PROTOCOL;
    }
    gnutls_datum_t dx = {x, (unsigned)xl}, dy = {y, (unsigned)yl};
    if (gnutls_pubkey_init(&k->pub) < 0 ||
        gnutls_pubkey_import_ecc_raw(k->pub, k->curve, &dx, &dy) < 0 ||
        gnutls_pubkey_verify_params(k->pub) < 0) {
        /* verify_params checks the point lies on the curve (invalid-curve
         * attacks feed off-curve points). */
        snprintf(why, why_len, "an EC key's point is not on its curve");
        return VAP_E_PROTOCOL;
    }
    k->type = JWK_EC;
    k->bits = (unsigned)clen * 8;
    return 0;
}

static int jwk_b64_member(const json_t *obj, const char *name, unsigned char *out,
                          size_t cap, size_t *len)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return -1;
    return b64url_decode(json_string_value(v), json_string_length(v), out, cap, len);
}
