/* test_jwk.c - JWK import (RSA >= 2048, EC P-256/P-384 on the curve) and
 * JWKS documents with and without kid/alg/use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jose/b64url.h"
#include "jose_testkeys.h"
#include "jose/jwk.h"
#include "rfc7515.h"

static char why[160];

static int import(const char *json, struct jwk_key *k)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    why[0] = '\0';
    int rc = jwk_from_json(o, k, why, sizeof why);
    json_decref(o);
    return rc;
}

static void rfc7515_rsa_key_imports_as_2048_bits(void **state)
{
    struct jwk_key k;
    assert_int_equal(import(RFC_A2_JWK, &k), 0);
    assert_int_equal(k.type, JWK_RSA);
    assert_int_equal(k.bits, 2048);
    assert_int_equal(k.has_kid, 0);
    jwk_key_clear(&k);
}

static void rfc7515_ec_key_imports_on_p256(void **state)
{
    struct jwk_key k;
    assert_int_equal(import(RFC_A3_JWK, &k), 0);
    assert_int_equal(k.type, JWK_EC);
    assert_int_equal(k.curve, GNUTLS_ECC_CURVE_SECP256R1);
    jwk_key_clear(&k);
}

static void generated_p384_key_imports(void **state)
{
    struct tk_key t;
    struct jwk_key k;
    assert_int_equal(tk_generate(&t, 0, GNUTLS_ECC_CURVE_SECP384R1, "k1", ",\"alg\":\"ES384\""), 0);
    assert_int_equal(import(t.jwk, &k), 0);
    assert_int_equal(k.curve, GNUTLS_ECC_CURVE_SECP384R1);
    assert_string_equal(k.kid, "k1");
    assert_string_equal(k.alg, "ES384");
    jwk_key_clear(&k);
    tk_free(&t);
}

static void short_rsa_key_is_refused(void **state)
{
    /* a 1024-bit modulus (odd, top bit set): import must stop at the size */
    unsigned char n[128];
    char nb[200], json[400];
    memset(n, 0xC5, sizeof n);
    assert_int_equal(b64url_encode(n, sizeof n, nb, sizeof nb), 0);
    snprintf(json, sizeof json, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
    struct jwk_key k;
    assert_int_equal(import(json, &k), VAP_E_PROTOCOL);
    assert_non_null(strstr(why, "only 1024 bits"));
    assert_null(k.pub);
}

static void off_curve_point_is_refused(void **state)
{
    /* RFC 7515 A.3's x with another (well-formed) y: not a point of P-256 */
    const char *json = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_A3_X
                       "\",\"y\":\"x_FEzRu8m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    struct jwk_key k;
    assert_int_equal(import(json, &k), VAP_E_PROTOCOL);
    assert_non_null(strstr(why, "not on its curve"));
}

struct bad_key {
    const char *json;
    int want;
};

static void unusable_keys_are_refused_with_the_right_class(void **state)
{
    static const struct bad_key cases[] = {
        {"{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
         VAP_E_UNSUPPORTED},
        {"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"RSA\",\"alg\":\"RS512\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"RSA\",\"alg\":\"HS256\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_UNSUPPORTED},
        {"{\"kty\":\"RSA\",\"alg\":\"ES256\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_PROTOCOL},
        {"{\"kty\":\"EC\",\"alg\":\"ES384\",\"crv\":\"P-256\",\"x\":\"" RFC_A3_X "\",\"y\":\"" RFC_A3_Y "\"}",
         VAP_E_PROTOCOL},
        {"{\"kty\":\"RSA\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAA\"}", VAP_E_PROTOCOL},  /* even e */
        {"{\"kty\":\"RSA\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQ\"}", VAP_E_PROTOCOL},    /* e = 1 */
        {"{\"kty\":\"RSA\",\"n\":\"" RFC_A2_N "=\",\"e\":\"AQAB\"}", VAP_E_PROTOCOL}, /* padding */
        {"{\"kty\":\"RSA\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\",\"d\":\"AQAB\"}", VAP_E_PROTOCOL},
        {"{\"kty\":\"RSA\",\"e\":\"AQAB\"}", VAP_E_PROTOCOL},
        {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"" RFC_A3_Y "\"}", VAP_E_PROTOCOL},
        {"{\"kty\":\"RSA\",\"kid\":7,\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_PROTOCOL},
        {"{\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\"}", VAP_E_PROTOCOL},
        {"[1,2]", VAP_E_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jwk_key k;
        assert_int_equal(import(cases[i].json, &k), cases[i].want);
        assert_null(k.pub);
    }
}

static void jwks_shapes_are_accepted(void **state)
{
    static const struct { const char *doc; size_t n, skipped; const char *kid0; } cases[] = {
        /* OpenEMR: one RSA key, use=sig, no kid, no alg */
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"" RFC_A2_N "\",\"e\":\"AQAB\",\"use\":\"sig\"}]}", 1, 0, ""},
        {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"2010-12-29\",\"alg\":\"RS256\",\"n\":\"" RFC_A2_N
         "\",\"e\":\"AQAB\"}]}", 1, 0, "2010-12-29"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}," RFC_A3_JWK ",{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\""
         RFC_A2_N "\",\"e\":\"AQAB\"}]}", 1, 2, ""},
        {"{\"keys\":[" RFC_A2_JWK "," RFC_A3_JWK "],\"extra\":true}", 2, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jwks s;
        vap_error err;
        VAP_INIT(vap_error, err);
        assert_int_equal(jwks_parse(cases[i].doc, strlen(cases[i].doc), &s, &err), VAP_OK);
        assert_int_equal(s.n, cases[i].n);
        assert_int_equal(s.skipped, cases[i].skipped);
        assert_string_equal(s.keys[0].kid, cases[i].kid0);
        jwks_free(&s);
        assert_int_equal(s.n, 0);
    }
}

static void jwks_without_usable_keys_is_refused(void **state)
{
    static const char *const docs[] = {
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}",
        "{\"keys\":{}}",
        "{}",
        "not json",
        "{\"keys\":[" RFC_A3_JWK "],\"keys\":[]}", /* duplicate key */
        "{\"keys\":[" RFC_A3_JWK "]} trailing",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct jwks s;
        vap_error err;
        VAP_INIT(vap_error, err);
        assert_int_equal(jwks_parse(docs[i], strlen(docs[i]), &s, &err), VAP_E_PROTOCOL);
        assert_int_equal(err.code, VAP_E_PROTOCOL);
        assert_true(strlen(err.message) > 10);
        assert_int_equal(s.n, 0);
    }
}

static void jwks_over_the_size_cap_is_refused(void **state)
{
    static char doc[JWKS_MAX_BYTES + 512];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"keys\":[" RFC_A3_JWK "],\"pad\":\"");
    memset(doc + o, 'a', JWKS_MAX_BYTES);
    o += JWKS_MAX_BYTES;
    memcpy(doc + o, "\"}", 3);
    struct jwks s;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(jwks_parse(doc, o + 2, &s, &err), VAP_E_PROTOCOL);
}

static void jwks_keeps_at_most_the_key_cap(void **state)
{
    char doc[16 * 1024];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"keys\":[");
    for (int i = 0; i < JWKS_MAX_KEYS + 3; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s" RFC_A3_JWK, i ? "," : "");
    o += (size_t)snprintf(doc + o, sizeof doc - o, "]}");
    struct jwks s;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(jwks_parse(doc, o, &s, &err), VAP_OK);
    assert_int_equal(s.n, JWKS_MAX_KEYS);
    assert_int_equal(s.skipped, 3);
    jwks_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7515_rsa_key_imports_as_2048_bits),
        cmocka_unit_test(rfc7515_ec_key_imports_on_p256),
        cmocka_unit_test(generated_p384_key_imports),
        cmocka_unit_test(short_rsa_key_is_refused),
        cmocka_unit_test(off_curve_point_is_refused),
        cmocka_unit_test(unusable_keys_are_refused_with_the_right_class),
        cmocka_unit_test(jwks_shapes_are_accepted),
        cmocka_unit_test(jwks_without_usable_keys_is_refused),
        cmocka_unit_test(jwks_over_the_size_cap_is_refused),
        cmocka_unit_test(jwks_keeps_at_most_the_key_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
