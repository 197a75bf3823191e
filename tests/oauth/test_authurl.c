/* test_authurl.c - the authorization URL: parameters, order, and
 * percent-encoding of every value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/authurl.h"
#include "oauth/redirect.h"

static vap_error new_err(void)
{
    vap_error e;
    VAP_INIT(vap_error, e);
    return e;
}

static authurl_params openemr_params(void)
{
    authurl_params p = {
        .authorization_endpoint = "https://emr.example.org/oauth2/default/authorize",
        .client_id = "Yz1_abc-DEF",
        .redirect_uri = "http://localhost:8000/oauth/callback",
        .scope = "openid fhirUser offline_access api:fhir user/Patient.read",
        .state = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        .nonce = "n-0S6_WzA2Mj",
        .code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        .aud = "https://emr.example.org/apis/default/fhir",
        .launch = NULL,
    };
    return p;
}

static void openemr_url_has_every_parameter_encoded(void **state)
{
    authurl_params p = openemr_params();
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), 0);
    assert_string_equal(url,
        "https://emr.example.org/oauth2/default/authorize"
        "?response_type=code"
        "&client_id=Yz1_abc-DEF"
        "&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Foauth%2Fcallback"
        "&scope=openid%20fhirUser%20offline_access%20api%3Afhir%20user%2FPatient.read"
        "&state=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        "&nonce=n-0S6_WzA2Mj"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
        "&aud=https%3A%2F%2Femr.example.org%2Fapis%2Fdefault%2Ffhir");
    free(url);
}

static void values_cannot_inject_parameters(void **state)
{
    authurl_params p = openemr_params();
    p.scope = "openid&response_type=token#x?y=z+w%20";
    p.launch = "abc=def&ghi";
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), 0);
    assert_non_null(strstr(url, "&scope=openid%26response_type%3Dtoken%23x%3Fy%3Dz%2Bw%2520&"));
    assert_non_null(strstr(url, "&launch=abc%3Ddef%26ghi"));
    /* Only one response_type, the one we set. */
    const char *first = strstr(url, "response_type=");
    assert_non_null(first);
    assert_null(strstr(first + 1, "response_type="));
    free(url);
}

static void endpoint_with_query_gets_ampersand(void **state)
{
    authurl_params p = openemr_params();
    p.authorization_endpoint = "https://idp.example.org/authorize?tenant=a";
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), 0);
    assert_non_null(strstr(url, "/authorize?tenant=a&response_type=code&"));
    free(url);
}

static void endpoint_with_fragment_is_refused(void **state)
{
    authurl_params p = openemr_params();
    p.authorization_endpoint = "https://idp.example.org/authorize#x";
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), VAP_E_INVAL);
    assert_null(url);
}

static void missing_values_are_refused(void **state)
{
    for (int i = 0; i < 8; i++) {
        authurl_params p = openemr_params();
        const char **fields[] = {&p.authorization_endpoint, &p.client_id,
                                 &p.redirect_uri, &p.scope, &p.state, &p.nonce,
                                 &p.code_challenge, &p.aud};
        *fields[i] = NULL;
        char *url = NULL;
        vap_error e = new_err();
        assert_int_equal(authurl_build(&p, &url, &e), VAP_E_INVAL);
        assert_null(url);
    }
    authurl_params p = openemr_params();
    p.client_id = "";
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), VAP_E_CONFIG);
}

static void overlong_url_is_refused(void **state)
{
    authurl_params p = openemr_params();
    size_t n = AUTHURL_MAX_LEN / 3 + 10;
    char *scope = malloc(n + 1);
    assert_non_null(scope);
    memset(scope, ' ', n);
    scope[n] = '\0';
    p.scope = scope;
    char *url = NULL;
    vap_error e = new_err();
    assert_int_equal(authurl_build(&p, &url, &e), VAP_E_INVAL);
    assert_null(url);
    assert_non_null(strstr(e.message, "shorten the scope"));
    free(scope);
}

static void encode_table(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"AZaz09-._~", "AZaz09-._~"},
        {" ", "%20"},
        {"+", "%2B"},
        {"/:?#[]@!$&'()*,;=%", "%2F%3A%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2C%3B%3D%25"},
        {"\xc3\xa9\x7f\x01", "%C3%A9%7F%01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        size_t n = 0;
        assert_int_equal(authurl_encode(cases[i].in, strlen(cases[i].in), out,
                                        sizeof out, &n), 0);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
    char small[4];
    size_t n;
    assert_int_equal(authurl_encode(" ", 1, small, 3, &n), VAP_E_INVAL);
    assert_int_equal(authurl_encode(" ", 1, small, 4, &n), 0);
}

/* What we encode, the callback parser decodes back to the same bytes. */
static void encoding_round_trips_through_the_callback_parser(void **state)
{
    const char *value = "a b+c&d=e%f/g?h#i~\xc3\xa9";
    char q[256] = "state=s&code=";
    size_t n;
    assert_int_equal(authurl_encode(value, strlen(value), q + 13, sizeof q - 13, &n), 0);
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse(q, strlen(q), &r, &e), 0);
    assert_string_equal(r.code, value);
    redirect_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openemr_url_has_every_parameter_encoded),
        cmocka_unit_test(values_cannot_inject_parameters),
        cmocka_unit_test(endpoint_with_query_gets_ampersand),
        cmocka_unit_test(endpoint_with_fragment_is_refused),
        cmocka_unit_test(missing_values_are_refused),
        cmocka_unit_test(overlong_url_is_refused),
        cmocka_unit_test(encode_table),
        cmocka_unit_test(encoding_round_trips_through_the_callback_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
