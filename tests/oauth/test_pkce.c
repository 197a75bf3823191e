/* test_pkce.c - PKCE S256 challenges and the random handles (RFC 7636). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "oauth/pkce.h"

static void challenge_matches_rfc7636_appendix_b(void **state)
{
    const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    char out[PKCE_CHALLENGE_SIZE];

    assert_int_equal(pkce_challenge_s256(verifier, strlen(verifier), out,
                                         sizeof out), 0);
    assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void random_token_is_43_unreserved_chars(void **state)
{
    char tok[PKCE_TOKEN_SIZE];

    assert_int_equal(pkce_random_token(tok, sizeof tok), 0);
    assert_int_equal(strlen(tok), 43);
    assert_true(pkce_verifier_valid(tok, strlen(tok)));
}

static void random_tokens_differ(void **state)
{
    char a[PKCE_TOKEN_SIZE], b[PKCE_TOKEN_SIZE];

    assert_int_equal(pkce_random_token(a, sizeof a), 0);
    assert_int_equal(pkce_random_token(b, sizeof b), 0);
    assert_string_not_equal(a, b);
}

static void random_token_refuses_small_buffer(void **state)
{
    char small[PKCE_TOKEN_LEN];
    assert_int_not_equal(pkce_random_token(small, sizeof small), 0);
}

static void challenge_refuses_invalid_verifiers(void **state)
{
    static const char *const bad[] = {
        "",
        "short",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX",   /* 42 chars */
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+",  /* '+' not allowed */
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEj X",  /* space */
        "dBjftJeZ4CVP/mB92K27uhbUJU1p1r_wW1gFWFOEjXk",  /* '/' */
    };
    char out[PKCE_CHALLENGE_SIZE];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(pkce_challenge_s256(bad[i], strlen(bad[i]), out,
                                                 sizeof out), 0);
}

static void verifier_length_limits_are_43_and_128(void **state)
{
    char v[130];
    memset(v, 'a', sizeof v);
    assert_false(pkce_verifier_valid(v, 42));
    assert_true(pkce_verifier_valid(v, 43));
    assert_true(pkce_verifier_valid(v, 128));
    assert_false(pkce_verifier_valid(v, 129));
    memcpy(v, "-._~", 4);
    assert_true(pkce_verifier_valid(v, 43));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(challenge_matches_rfc7636_appendix_b),
        cmocka_unit_test(random_token_is_43_unreserved_chars),
        cmocka_unit_test(random_tokens_differ),
        cmocka_unit_test(random_token_refuses_small_buffer),
        cmocka_unit_test(challenge_refuses_invalid_verifiers),
        cmocka_unit_test(verifier_length_limits_are_43_and_128),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
