/* test_jws_sign.c - the private_key_jwt client assertion, checked
 * independently of the plugin's own parser and verifier: decoded here with
 * libsodium's base64, parsed with Jansson, its signature verified with
 * GnuTLS's public key API (RS384 as PKCS#1 v1.5 over SHA-384, ES384 as
 * JOSE r||s re-encoded to DER). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <gnutls/crypto.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"
#include "jose/jws_sign.h"

#define CLIENT "pk-client-7Qz"
#define TOKEN_URL "https://emr.example.org/oauth2/default/token"
#define NOW 1767225600

static gnutls_privkey_t rsa, p384, p256;

static gnutls_privkey_t gen(gnutls_pk_algorithm_t pk, unsigned bits)
{
    gnutls_privkey_t k;
    if (gnutls_privkey_init(&k) != 0 || gnutls_privkey_generate2(k, pk, bits, 0, NULL, 0) != 0)
        return NULL;
    return k;
}

static int keys_setup(void **state)
{
    rsa = gen(GNUTLS_PK_RSA, 3072);
    p384 = gen(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
    p256 = gen(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
    return rsa && p384 && p256 ? 0 : -1;
}

static int keys_teardown(void **state)
{
    gnutls_privkey_deinit(rsa);
    gnutls_privkey_deinit(p384);
    gnutls_privkey_deinit(p256);
    return 0;
}

/* base64url (no padding) decoded with libsodium, NUL-terminated. */
static unsigned char *b64(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len + 1);
    size_t n = 0;
    assert_int_equal(sodium_base642bin(out, len + 1, s, len, NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    out[n] = '\0';
    *out_len = n;
    return out;
}

struct parsed {
    json_t *hdr, *claims;
    unsigned char *sig;
    size_t sig_len, signing_len;
};

static void split(const char *tok, struct parsed *p)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    size_t n;
    unsigned char *h = b64(tok, (size_t)(d1 - tok), &n);
    unsigned char *c = b64(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    p->hdr = json_loads((char *)h, JSON_REJECT_DUPLICATES, NULL);
    p->claims = json_loads((char *)c, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(p->hdr);
    assert_non_null(p->claims);
    free(h);
    free(c);
    p->sig = b64(d2 + 1, strlen(d2 + 1), &p->sig_len);
    p->signing_len = (size_t)(d2 - tok);
}

static void parsed_free(struct parsed *p)
{
    json_decref(p->hdr);
    json_decref(p->claims);
    free(p->sig);
}

/* GnuTLS's verdict on the signature, from the public half only. */
static int gnutls_verifies(gnutls_privkey_t key, int es384, const char *tok, const struct parsed *p)
{
    gnutls_pubkey_t pub;
    gnutls_datum_t data = {(unsigned char *)tok, (unsigned)p->signing_len};
    gnutls_datum_t sig = {p->sig, (unsigned)p->sig_len}, der = {NULL, 0};
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
    int rc;
    if (es384) {
        assert_int_equal(p->sig_len, 96); /* JOSE: r || s, 48 bytes each */
        gnutls_datum_t r = {p->sig, 48}, s = {p->sig + 48, 48};
        assert_int_equal(gnutls_encode_rs_value(&der, &r, &s), 0);
        rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &der);
    } else {
        assert_int_equal(p->sig_len, 384); /* RSA 3072 */
        rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA384, 0, &data, &sig);
    }
    gnutls_free(der.data);
    gnutls_pubkey_deinit(pub);
    return rc >= 0;
}

static void check_assertion(gnutls_privkey_t key, int alg)
{
    char tok[JOSE_ASSERTION_MAX];
    struct parsed p;
    assert_int_equal(
        jose_client_assertion(key, alg, "kid-1", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), 0);
    split(tok, &p);
    assert_string_equal(json_string_value(json_object_get(p.hdr, "alg")),
                        alg == JOSE_RS384 ? "RS384" : "ES384");
    assert_string_equal(json_string_value(json_object_get(p.hdr, "kid")), "kid-1");
    assert_string_equal(json_string_value(json_object_get(p.hdr, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(p.claims, "iss")), CLIENT);
    assert_string_equal(json_string_value(json_object_get(p.claims, "sub")), CLIENT);
    assert_string_equal(json_string_value(json_object_get(p.claims, "aud")), TOKEN_URL);
    assert_int_equal(json_integer_value(json_object_get(p.claims, "iat")), NOW);
    assert_int_equal(json_integer_value(json_object_get(p.claims, "exp")), NOW + 60);
    const char *jti = json_string_value(json_object_get(p.claims, "jti"));
    assert_non_null(jti);
    size_t jl;
    free(b64(jti, strlen(jti), &jl));
    assert_int_equal(jl, 16); /* 128 random bits */
    assert_true(gnutls_verifies(key, alg == JOSE_ES384, tok, &p));
    /* one flipped bit of the payload, and GnuTLS says no */
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_false(gnutls_verifies(key, alg == JOSE_ES384, tok, &p));
    parsed_free(&p);
}

static void rs384_assertion_claims_and_signature(void **state)
{
    check_assertion(rsa, JOSE_RS384);
}

static void es384_assertion_claims_and_signature(void **state)
{
    check_assertion(p384, JOSE_ES384);
}

static void every_assertion_has_a_new_jti(void **state)
{
    char a[JOSE_ASSERTION_MAX], b[JOSE_ASSERTION_MAX];
    struct parsed pa, pb;
    assert_int_equal(
        jose_client_assertion(p384, JOSE_ES384, "k", CLIENT, TOKEN_URL, NOW, a, sizeof a), 0);
    assert_int_equal(
        jose_client_assertion(p384, JOSE_ES384, "k", CLIENT, TOKEN_URL, NOW, b, sizeof b), 0);
    split(a, &pa);
    split(b, &pb);
    assert_string_not_equal(json_string_value(json_object_get(pa.claims, "jti")),
                            json_string_value(json_object_get(pb.claims, "jti")));
    parsed_free(&pa);
    parsed_free(&pb);
}

static void claims_are_json_escaped(void **state)
{
    char tok[JOSE_ASSERTION_MAX];
    struct parsed p;
    assert_int_equal(
        jose_client_assertion(rsa, JOSE_RS384, "k\"1", "a\"b\\c", TOKEN_URL, NOW, tok, sizeof tok),
        0);
    split(tok, &p);
    assert_string_equal(json_string_value(json_object_get(p.claims, "iss")), "a\"b\\c");
    assert_string_equal(json_string_value(json_object_get(p.hdr, "kid")), "k\"1");
    parsed_free(&p);
}

static void key_and_alg_must_agree(void **state)
{
    char tok[JOSE_ASSERTION_MAX];
    assert_int_equal(
        jose_client_assertion(rsa, JOSE_ES384, "k", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), -1);
    assert_int_equal(
        jose_client_assertion(p384, JOSE_RS384, "k", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), -1);
    assert_int_equal(
        jose_client_assertion(rsa, JOSE_RS256, "k", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), -1);
    /* a P-256 key cannot make an ES384 signature of the right size */
    assert_int_equal(
        jose_client_assertion(p256, JOSE_ES384, "k", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), -1);
    assert_int_equal(
        jose_client_assertion(rsa, JOSE_RS384, "k", "", TOKEN_URL, NOW, tok, sizeof tok), -1);
}

static void small_buffer_is_refused_and_wiped(void **state)
{
    char tok[200];
    memset(tok, 'x', sizeof tok);
    assert_int_equal(
        jose_client_assertion(rsa, JOSE_RS384, "k", CLIENT, TOKEN_URL, NOW, tok, sizeof tok), -1);
    for (size_t i = 0; i < sizeof tok; i++)
        assert_true(tok[i] == 'x' || tok[i] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rs384_assertion_claims_and_signature),
        cmocka_unit_test(es384_assertion_claims_and_signature),
        cmocka_unit_test(every_assertion_has_a_new_jti),
        cmocka_unit_test(claims_are_json_escaped),
        cmocka_unit_test(key_and_alg_must_agree),
        cmocka_unit_test(small_buffer_is_refused_and_wiped),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
