/* test_http_redact.c - what the HTTP layer logs never carries a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/http.h"
#include "http/http_redact.h"

struct redact_case {
    const char *in;
    const char *want;
};

static void form_fields_named_like_secrets_are_redacted(void **state)
{
    static const struct redact_case cases[] = {
        {"grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&code_verifier=dBjft",
         "grant_type=authorization_code&code=[redacted]&code_verifier=[redacted]"},
        {"client_id=abc&client_secret=s3cr3t", "client_id=abc&client_secret=[redacted]"},
        {"refresh_token=def502&scope=openid", "refresh_token=[redacted]&scope=openid"},
        {"password=x&username=bob", "password=[redacted]&username=bob"},
        {"client_assertion=eyJ.x.y&assertion=a&access_token=t&id_token=i",
         "client_assertion=[redacted]&assertion=[redacted]&access_token=[redacted]&id_token=[redacted]"},
        {"client%5Fsecret=s3cr3t", "client%5Fsecret=[redacted]"},
        {"CODE=abc", "CODE=[redacted]"},
        {"codex=abc&state=xyz", "codex=abc&state=xyz"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        http_redact_form(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void json_secret_keys_and_token_values_are_redacted(void **state)
{
    static const struct redact_case cases[] = {
        {"{\"access_token\":\"abc\",\"token_type\":\"Bearer\",\"expires_in\":3600}",
         "{\"access_token\":\"[redacted]\",\"token_type\":\"Bearer\",\"expires_in\":3600}"},
        {"{\"refresh_token\" : \"def50200aa\", \"scope\":\"openid\"}",
         "{\"refresh_token\" : \"[redacted]\", \"scope\":\"openid\"}"},
        {"{\"note\":\"eyJhbGciOiJSUzI1NiJ9.e30.sig\"}", "{\"note\":\"[redacted]\"}"},
        {"{\"x\":\"AbCdEfGhIjKlMnOpQrStUvWxYz012345\"}", "{\"x\":\"[redacted]\"}"},
        {"{\"error\":\"invalid_grant\",\"error_description\":\"The refresh token is invalid.\"}",
         "{\"error\":\"invalid_grant\",\"error_description\":\"The refresh token is invalid.\"}"},
        {"{\"a\\\"b\":\"c\"}", "{\"a\\\"b\":\"c\"}"},
        {"{\"id_token\":\"unterminated", "{\"id_token\":\"[redacted]\""},
        {"[\"def50200xyz\", 1]", "[\"[redacted]\", 1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        http_redact_json(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void credential_headers_are_redacted(void **state)
{
    static const struct redact_case cases[] = {
        {"Authorization: Bearer eyJabc", "Authorization: [redacted]"},
        {"authorization: Basic Zm9vOmJhcg==", "authorization: [redacted]"},
        {"Proxy-Authorization: Basic x", "Proxy-Authorization: [redacted]"},
        {"Cookie: apiOpenEMR=abc", "Cookie: [redacted]"},
        {"Accept: application/json", "Accept: application/json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        http_redact_header(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void url_query_secrets_are_redacted(void **state)
{
    static const struct redact_case cases[] = {
        {"https://h/cb?code=abc&state=xyz", "https://h/cb?code=[redacted]&state=xyz"},
        {"https://h/fhir/Patient?name=x", "https://h/fhir/Patient?name=x"},
        {"https://h/cb?state=1#access_token=x", "https://h/cb?state=1#[redacted]"},
        {"https://h/path", "https://h/path"},
        {"https://h/apis/default/fhir/Patient/9a1b-77", "https://h/apis/default/fhir/Patient/[redacted]"},
        {"https://h/apis/default/fhir/Patient/9a1b/_history/3?x=1",
         "https://h/apis/default/fhir/Patient/[redacted]/_history/[redacted]?x=1"},
        {"https://h/apis/default/fhir/Patient/$export", "https://h/apis/default/fhir/Patient/$export"},
        {"https://h/apis/default/fhir/metadata", "https://h/apis/default/fhir/metadata"},
        {"https://h/apis/default/api/patient/93f1/encounter/5e2/soap_note",
         "https://h/apis/default/api/patient/[redacted]/encounter/[redacted]/soap_note"},
        {"https://h/apis/default/api/patient/93f1/encounter",
         "https://h/apis/default/api/patient/[redacted]/encounter"},
        {"https://h/r4/Encounter/e-12", "https://h/r4/Encounter/[redacted]"},
        {"https://h/oauth2/default/token", "https://h/oauth2/default/token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[160];
        http_redact_url(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void truncated_output_is_marked_and_terminated(void **state)
{
    char out[16];
    const char *in = "scope=openid+fhirUser+offline_access";
    size_t n = http_redact_form(in, strlen(in), out, sizeof out);
    assert_int_equal(n, 15);
    assert_int_equal(strlen(out), 15);
    assert_memory_equal(out + 12, "...", 3);
}

static void form_builder_encodes_and_wipes(void **state)
{
    struct http_form f;
    http_form_init(&f);
    assert_int_equal(http_form_add(&f, "redirect_uri", "http://localhost:8000/cb"), 0);
    assert_int_equal(http_form_add(&f, "scope", "openid fhirUser"), 0);
    assert_int_equal(http_form_add(&f, "x", "a&b=c~_.-"), 0);
    assert_string_equal(f.buf, "redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb"
                               "&scope=openid+fhirUser&x=a%26b%3Dc~_.-");
    assert_int_equal(f.len, strlen(f.buf));
    http_form_free(&f);
    assert_null(f.buf);
    assert_int_equal(f.len, 0);
}

static void looks_like_token_table(void **state)
{
    static const struct { const char *v; int want; } cases[] = {
        {"eyJhbGciOi", 1}, {"def50200abc", 1}, {"AbCdEfGhIjKlMnOpQrStUvWx", 1},
        {"short", 0}, {"The refresh token is invalid.", 0},
        {"https://emr.example.org/oauth2/default", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(http_redact_looks_like_token(cases[i].v, strlen(cases[i].v)),
                         cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(form_fields_named_like_secrets_are_redacted),
        cmocka_unit_test(json_secret_keys_and_token_values_are_redacted),
        cmocka_unit_test(credential_headers_are_redacted),
        cmocka_unit_test(url_query_secrets_are_redacted),
        cmocka_unit_test(truncated_output_is_marked_and_terminated),
        cmocka_unit_test(form_builder_encodes_and_wipes),
        cmocka_unit_test(looks_like_token_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
