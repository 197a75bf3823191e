/* test_jose_claims.c - typed claims extraction from a JWT payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jose/jose_claims.h"

static void openemr_id_token_claims_are_extracted(void **state)
{
    const char *p = "{\"iss\":\"https://emr.example.org/oauth2/default\",\"aud\":\"cid\","
                    "\"iat\":1700000000,\"exp\":1700003600,\"sub\":\"9a1b\","
                    "\"nonce\":\"n-0S6\",\"api:fhir\":true,"
                    "\"fhirUser\":\"https://emr.example.org/apis/default/fhir/Practitioner/9a1b\"}";
    struct jose_claims c;
    char why[128];
    assert_int_equal(jose_claims_parse(p, strlen(p), &c, why, sizeof why), 0);
    assert_string_equal(c.iss, "https://emr.example.org/oauth2/default");
    assert_string_equal(c.sub, "9a1b");
    assert_string_equal(c.nonce, "n-0S6");
    assert_non_null(strstr(c.fhir_user, "Practitioner/9a1b"));
    assert_int_equal(c.n_aud, 1);
    assert_true(jose_claims_has_aud(&c, "cid"));
    assert_false(jose_claims_has_aud(&c, "other"));
    assert_int_equal(c.has, JOSE_HAS_EXP | JOSE_HAS_IAT);
    assert_int_equal(c.exp, 1700003600);
    assert_null(c.azp);
    jose_claims_free(&c);
    assert_null(c.root);
}

static void audience_array_and_fractional_dates_are_read(void **state)
{
    const char *p = "{\"aud\":[\"a\",\"cid\"],\"azp\":\"cid\",\"nbf\":12.9,\"exp\":13}";
    struct jose_claims c;
    char why[128];
    assert_int_equal(jose_claims_parse(p, strlen(p), &c, why, sizeof why), 0);
    assert_int_equal(c.n_aud, 2);
    assert_true(jose_claims_has_aud(&c, "cid"));
    assert_int_equal(c.nbf, 12);
    assert_int_equal(c.has, JOSE_HAS_NBF | JOSE_HAS_EXP);
    jose_claims_free(&c);
}

static void wrongly_typed_claims_are_refused(void **state)
{
    static const char *const bad[] = {
        "[]", "\"x\"", "{\"iss\":1}", "{\"sub\":null}", "{\"aud\":[]}", "{\"aud\":[1]}",
        "{\"aud\":{}}", "{\"exp\":\"1\"}", "{\"exp\":-1}", "{\"iat\":1e300}",
        "{\"nonce\":[\"a\"]}", "{\"iss\":\"a\",\"iss\":\"b\"}", "{\"sub\":\"a\\u0000b\"}",
        "{\"aud\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}", "{", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jose_claims c;
        char why[128] = "";
        assert_int_equal(jose_claims_parse(bad[i], strlen(bad[i]), &c, why, sizeof why), -1);
        assert_true(why[0] != '\0');
        assert_null(c.root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openemr_id_token_claims_are_extracted),
        cmocka_unit_test(audience_array_and_fractional_dates_are_read),
        cmocka_unit_test(wrongly_typed_claims_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
