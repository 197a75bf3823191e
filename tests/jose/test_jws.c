/* test_jws.c - JWS compact verification: RFC 7515 examples and tokens made
 * here with GnuTLS (good, tampered, wrong key, alg confusion, refused algs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/b64url.h"
#include "jose/jose.h"
#include "jose_testkeys.h"
#include "rfc7515.h"

#define PAYLOAD "{\"iss\":\"https://emr.example.org/oauth2/default\",\"sub\":\"u1\",\"aud\":\"c1\"}"

static struct tk_key rsa, p256, p256b, p384;

static int keys_setup(void **state)
{
    if (tk_generate(&rsa, 2048, 0, NULL, "") || tk_generate(&p256, 0, GNUTLS_ECC_CURVE_SECP256R1, NULL, "") ||
        tk_generate(&p256b, 0, GNUTLS_ECC_CURVE_SECP256R1, NULL, "") ||
        tk_generate(&p384, 0, GNUTLS_ECC_CURVE_SECP384R1, NULL, ""))
        return -1;
    return 0;
}

static int keys_teardown(void **state)
{
    tk_free(&rsa);
    tk_free(&p256);
    tk_free(&p256b);
    tk_free(&p384);
    return 0;
}

/* Parse + verify tok against a JWKS made of the given public JWKs. */
static int verify_with(const char *tok, const char *const *jwks_members, size_t n)
{
    char doc[8192];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"keys\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s%s", i ? "," : "", jwks_members[i]);
    o += (size_t)snprintf(doc + o, sizeof doc - o, "]}");
    struct jwks s;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (jwks_parse(doc, o, &s, &err) != VAP_OK)
        return 100;
    struct jose_jws j;
    char why[128];
    int rc = jose_jws_parse(tok, strlen(tok), &j, why, sizeof why);
    if (rc == JOSE_OK)
        rc = jose_jws_verify(&j, &s, why, sizeof why);
    jose_jws_free(&j);
    jwks_free(&s);
    return rc;
}

static void rfc7515_a2_rs256_example_verifies(void **state)
{
    const char *k[] = {RFC_A2_JWK};
    assert_int_equal(verify_with(RFC_A2_TOKEN, k, 1), JOSE_OK);
}

static void rfc7515_a3_es256_example_verifies(void **state)
{
    const char *k[] = {RFC_A3_JWK};
    assert_int_equal(verify_with(RFC_A3_TOKEN, k, 1), JOSE_OK);
}

static void rfc7515_examples_fail_with_each_others_key(void **state)
{
    const char *a2[] = {RFC_A2_JWK}, *a3[] = {RFC_A3_JWK};
    assert_int_equal(verify_with(RFC_A2_TOKEN, a3, 1), JOSE_E_NOKEY);
    assert_int_equal(verify_with(RFC_A3_TOKEN, a2, 1), JOSE_E_NOKEY);
}

static void generated_tokens_verify_for_each_algorithm(void **state)
{
    struct { const char *alg; const struct tk_key *key; } cases[] = {
        {"RS256", &rsa}, {"RS384", &rsa}, {"ES256", &p256}, {"ES384", &p384},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[64], tok[4096];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", cases[i].alg);
        assert_int_equal(tk_sign(cases[i].key, cases[i].alg, hdr, PAYLOAD, tok, sizeof tok), 0);
        const char *k[] = {cases[i].key->jwk};
        assert_int_equal(verify_with(tok, k, 1), JOSE_OK);
    }
}

/* Change one base64url character in the middle of part (0 header, 1
 * payload, 2 signature) so the token still decodes. */
static void tamper(char *tok, int part)
{
    char *p = tok;
    for (int i = 0; i < part; i++)
        p = strchr(p, '.') + 1;
    size_t len = strcspn(p, ".");
    char *c = p + len / 2;
    *c = *c == 'A' ? 'B' : 'A';
}

static void tampered_payload_or_signature_fails(void **state)
{
    struct { const char *alg; const struct tk_key *key; int part; } cases[] = {
        {"RS256", &rsa, 1}, {"RS256", &rsa, 2}, {"ES256", &p256, 1}, {"ES256", &p256, 2},
        {"ES384", &p384, 1}, {"ES384", &p384, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[64], tok[4096];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"}", cases[i].alg);
        assert_int_equal(tk_sign(cases[i].key, cases[i].alg, hdr, PAYLOAD, tok, sizeof tok), 0);
        tamper(tok, cases[i].part);
        const char *k[] = {cases[i].key->jwk};
        assert_int_equal(verify_with(tok, k, 1), JOSE_E_BADSIG);
    }
}

static void rfc_token_with_another_payload_fails(void **state)
{
    /* A.3's signature moved onto a different payload */
    const char *tok = "eyJhbGciOiJFUzI1NiJ9.e30.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const char *k[] = {RFC_A3_JWK};
    assert_int_equal(verify_with(tok, k, 1), JOSE_E_BADSIG);
}

static void wrong_key_of_the_right_type_fails(void **state)
{
    char tok[4096];
    assert_int_equal(tk_sign(&rsa, "RS256", "{\"alg\":\"RS256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *k1[] = {RFC_A2_JWK};
    assert_int_equal(verify_with(tok, k1, 1), JOSE_E_BADSIG);
    assert_int_equal(tk_sign(&p256, "ES256", "{\"alg\":\"ES256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *k2[] = {p256b.jwk};
    assert_int_equal(verify_with(tok, k2, 1), JOSE_E_BADSIG);
}

static void refused_algorithms_never_reach_a_key(void **state)
{
    static const char *const algs[] = {"none", "HS256", "HS384", "HS512", "RS512", "PS256",
                                       "ES512", "EdDSA", "rs256", "", "RS256 "};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char hdr[64], tok[4096];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"}", algs[i]);
        assert_int_equal(tk_sign(&rsa, "RS256", hdr, PAYLOAD, tok, sizeof tok), 0);
        const char *k[] = {rsa.jwk};
        assert_int_equal(verify_with(tok, k, 1), JOSE_E_ALG);
    }
}

static void unsigned_none_token_is_refused(void **state)
{
    /* {"alg":"none"} . payload . "" (the classic attack has no signature) */
    const char *tok = "eyJhbGciOiJub25lIn0." RFC_SIGNED_PAYLOAD ".";
    const char *k[] = {RFC_A2_JWK};
    assert_int_not_equal(verify_with(tok, k, 1), JOSE_OK);
    const char *tok2 = "eyJhbGciOiJub25lIn0." RFC_SIGNED_PAYLOAD ".AAAA";
    assert_int_equal(verify_with(tok2, k, 1), JOSE_E_ALG);
}

static void crit_header_is_refused(void **state)
{
    char tok[4096];
    assert_int_equal(tk_sign(&rsa, "RS256", "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}",
                             PAYLOAD, tok, sizeof tok), 0);
    const char *k[] = {rsa.jwk};
    assert_int_equal(verify_with(tok, k, 1), JOSE_E_ALG);
}

static void algorithm_confusion_is_refused(void **state)
{
    char tok[4096];
    /* RS256 claimed, only an EC key published */
    assert_int_equal(tk_sign(&rsa, "RS256", "{\"alg\":\"RS256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *ec[] = {p256.jwk};
    assert_int_equal(verify_with(tok, ec, 1), JOSE_E_NOKEY);
    /* ES256 claimed, signed with P-384: the P-384 key is not an ES256 key */
    assert_int_equal(tk_sign(&p384, "ES384", "{\"alg\":\"ES256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *k384[] = {p384.jwk};
    assert_int_equal(verify_with(tok, k384, 1), JOSE_E_NOKEY);
    /* ES384 claimed over a P-256 signature, with both keys published */
    assert_int_equal(tk_sign(&p256, "ES256", "{\"alg\":\"ES384\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *both[] = {p256.jwk, p384.jwk};
    assert_int_equal(verify_with(tok, both, 2), JOSE_E_BADSIG);
    /* the key's own alg binds it: an RS384 key does not verify RS256 */
    char withalg[2600];
    snprintf(withalg, sizeof withalg, "%.*s,\"alg\":\"RS384\"}", (int)strlen(rsa.jwk) - 1, rsa.jwk);
    assert_int_equal(tk_sign(&rsa, "RS256", "{\"alg\":\"RS256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *bound[] = {withalg};
    assert_int_equal(verify_with(tok, bound, 1), JOSE_E_NOKEY);
}

static void hs256_signed_with_the_public_key_is_refused(void **state)
{
    /* the HS256-with-RSA-public-key trick: header says HS256 */
    const char *tok = "eyJhbGciOiJIUzI1NiJ9." RFC_SIGNED_PAYLOAD
                      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char *k[] = {RFC_A2_JWK};
    assert_int_equal(verify_with(tok, k, 1), JOSE_E_ALG);
}

static void kid_selects_the_key(void **state)
{
    struct tk_key a, b;
    char tok[4096];
    assert_int_equal(tk_generate(&a, 0, GNUTLS_ECC_CURVE_SECP256R1, "a", ""), 0);
    assert_int_equal(tk_generate(&b, 0, GNUTLS_ECC_CURVE_SECP256R1, "b", ""), 0);
    const char *k[] = {a.jwk, b.jwk};
    assert_int_equal(tk_sign(&b, "ES256", "{\"alg\":\"ES256\",\"kid\":\"b\"}", PAYLOAD, tok, sizeof tok), 0);
    assert_int_equal(verify_with(tok, k, 2), JOSE_OK);
    /* right key, wrong kid: the key named "a" is tried and fails */
    assert_int_equal(tk_sign(&b, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a\"}", PAYLOAD, tok, sizeof tok), 0);
    assert_int_equal(verify_with(tok, k, 2), JOSE_E_BADSIG);
    /* unknown kid: the caller should re-fetch the JWKS once */
    assert_int_equal(tk_sign(&b, "ES256", "{\"alg\":\"ES256\",\"kid\":\"c\"}", PAYLOAD, tok, sizeof tok), 0);
    assert_int_equal(verify_with(tok, k, 2), JOSE_E_NOKEY);
    tk_free(&a);
    tk_free(&b);
}

static void no_kid_uses_the_single_key_or_tries_each(void **state)
{
    char tok[4096];
    assert_int_equal(tk_sign(&rsa, "RS256", "{\"alg\":\"RS256\"}", PAYLOAD, tok, sizeof tok), 0);
    const char *one[] = {rsa.jwk};
    assert_int_equal(verify_with(tok, one, 1), JOSE_OK);
    const char *several[] = {RFC_A2_JWK, p256.jwk, rsa.jwk};
    assert_int_equal(verify_with(tok, several, 3), JOSE_OK);
}

static void der_encoded_ecdsa_signature_is_refused(void **state)
{
    /* JOSE wants raw r||s; a DER signature (70-72 bytes) must not pass */
    char tok[4096];
    unsigned char der[80];
    char sig64[128];
    assert_int_equal(tk_sign(&p256, "ES256", "{\"alg\":\"ES256\"}", PAYLOAD, tok, sizeof tok), 0);
    char *dot = strrchr(tok, '.');
    unsigned char raw[64];
    size_t n;
    assert_int_equal(b64url_decode(dot + 1, strlen(dot + 1), raw, sizeof raw, &n), 0);
    size_t dl = jose_rs_to_der(raw, 32, der, sizeof der);
    assert_true(dl > 64);
    assert_int_equal(b64url_encode(der, dl, sig64, sizeof sig64), 0);
    memcpy(dot + 1, sig64, strlen(sig64) + 1);
    const char *k[] = {p256.jwk};
    assert_int_equal(verify_with(tok, k, 1), JOSE_E_BADSIG);
}

static void rs_to_der_is_minimal_and_non_negative(void **state)
{
    unsigned char rs[64], der[80];
    memset(rs, 0, sizeof rs);
    rs[0] = 0x80; /* high bit: needs a 0x00 sign byte */
    rs[31] = 1;
    rs[63] = 5;   /* s = 5: leading zeros stripped */
    size_t n = jose_rs_to_der(rs, 32, der, sizeof der);
    assert_int_equal(n, 2 + (2 + 33) + (2 + 1));
    assert_int_equal(der[0], 0x30);
    assert_int_equal(der[1], n - 2);
    assert_int_equal(der[2], 0x02);
    assert_int_equal(der[3], 33);
    assert_int_equal(der[4], 0x00);
    assert_int_equal(der[5], 0x80);
    assert_int_equal(der[37], 0x02);
    assert_int_equal(der[38], 1);
    assert_int_equal(der[39], 5);
    assert_int_equal(jose_rs_to_der(rs, 32, der, 10), 0);
}

static void malformed_tokens_are_refused(void **state)
{
    static const char *const toks[] = {
        "", ".", "..", "a.b", "a.b.c.d", "eyJhbGciOiJSUzI1NiJ9..", ".e30.AAAA",
        "eyJhbGciOiJSUzI1NiJ9.e30=.AAAA", "eyJhbGciOiJSUzI1NiJ9.e30.AA AA",
        "bm90IGpzb24.e30.AAAA",                 /* header "not json" */
        "WyJSUzI1NiJd.e30.AAAA",                /* header ["RS256"] */
        "eyJ0eXAiOiJKV1QifQ.e30.AAAA",          /* no alg */
        "eyJhbGciOjF9.e30.AAAA",                /* alg 1 */
        "eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AAAA", /* duplicate alg */
        "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AAAA",         /* kid 1 */
    };
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        struct jose_jws j;
        char why[128];
        assert_int_equal(jose_jws_parse(toks[i], strlen(toks[i]), &j, why, sizeof why),
                         JOSE_E_MALFORMED);
        assert_null(j.payload);
    }
}

static void verify_compact_returns_the_payload(void **state)
{
    struct jwks s;
    vap_error err;
    VAP_INIT(vap_error, err);
    const char *doc = "{\"keys\":[" RFC_A2_JWK "]}";
    assert_int_equal(jwks_parse(doc, strlen(doc), &s, &err), VAP_OK);
    unsigned char *payload;
    size_t n;
    int jrc;
    assert_int_equal(jose_verify_compact(RFC_A2_TOKEN, strlen(RFC_A2_TOKEN), &s, &payload, &n,
                                         &jrc, &err), VAP_OK);
    assert_int_equal(jrc, JOSE_OK);
    assert_non_null(strstr((char *)payload, "\"iss\":\"joe\""));
    assert_int_equal(n, strlen((char *)payload));
    free(payload);
    assert_int_equal(jose_verify_compact(RFC_A3_TOKEN, strlen(RFC_A3_TOKEN), &s, &payload, &n,
                                         &jrc, &err), VAP_E_PROTOCOL);
    assert_int_equal(jrc, JOSE_E_NOKEY);
    assert_null(payload);
    assert_non_null(strstr(err.message, "refused"));
    jwks_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7515_a2_rs256_example_verifies),
        cmocka_unit_test(rfc7515_a3_es256_example_verifies),
        cmocka_unit_test(rfc7515_examples_fail_with_each_others_key),
        cmocka_unit_test(generated_tokens_verify_for_each_algorithm),
        cmocka_unit_test(tampered_payload_or_signature_fails),
        cmocka_unit_test(rfc_token_with_another_payload_fails),
        cmocka_unit_test(wrong_key_of_the_right_type_fails),
        cmocka_unit_test(refused_algorithms_never_reach_a_key),
        cmocka_unit_test(unsigned_none_token_is_refused),
        cmocka_unit_test(crit_header_is_refused),
        cmocka_unit_test(algorithm_confusion_is_refused),
        cmocka_unit_test(hs256_signed_with_the_public_key_is_refused),
        cmocka_unit_test(kid_selects_the_key),
        cmocka_unit_test(no_kid_uses_the_single_key_or_tries_each),
        cmocka_unit_test(der_encoded_ecdsa_signature_is_refused),
        cmocka_unit_test(rs_to_der_is_minimal_and_non_negative),
        cmocka_unit_test(malformed_tokens_are_refused),
        cmocka_unit_test(verify_compact_returns_the_payload),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
