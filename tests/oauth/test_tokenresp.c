/* test_tokenresp.c - token responses parsed strictly, and OpenEMR's exact
 * error bodies (OPENEMR.md §6) classified into statuses and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/tokenresp.h"

#define REDIRECT_URI "http://localhost:8000/oauth/callback"
#define SENT_SCOPE "openid offline_access user/patient.read"

static vap_error new_err(void)
{
    vap_error e;
    VAP_INIT(vap_error, e);
    return e;
}

/* OpenEMR's success body: Bearer, ~3600 s, def502 refresh token, scope
 * without api:*, with nonce, standalone patient context. */
static const char openemr_success[] =
    "{\"id_token\":\"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln\","
    "\"token_type\":\"Bearer\",\"expires_in\":3599,"
    "\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln\","
    "\"refresh_token\":\"def50200a1b2c3\","
    "\"scope\":\"openid fhirUser offline_access launch/patient "
    "patient/Patient.read nonce\","
    "\"patient\":\"9a1b2c3d-1111-2222-3333-444455556666\","
    "\"need_patient_banner\":true,"
    "\"smart_style_url\":\"https://emr.example.org/public/smart-styles/smart-light.json\"}";

static void openemr_success_body_parses(void **state)
{
    tokresp t;
    vap_error e = new_err();
    assert_int_equal(tokresp_parse(openemr_success, sizeof openemr_success - 1,
                                   &t, &e), 0);
    assert_string_equal(t.access_token,
                        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln");
    assert_string_equal(t.refresh_token, "def50200a1b2c3");
    assert_string_equal(t.id_token, "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln");
    assert_int_equal(t.expires_in, 3599);
    assert_string_equal(t.scope, "openid fhirUser offline_access launch/patient "
                                 "patient/Patient.read nonce");
    assert_string_equal(t.patient, "9a1b2c3d-1111-2222-3333-444455556666");
    assert_null(t.encounter);
    assert_int_equal(t.need_patient_banner, 1);
    tokresp_free(&t);
    assert_null(t.access_token);
}

static void minimal_body_parses_with_defaults(void **state)
{
    const char *b = "{\"access_token\":\"at\",\"token_type\":\"bearer\"}";
    tokresp t;
    vap_error e = new_err();
    assert_int_equal(tokresp_parse(b, strlen(b), &t, &e), 0);
    assert_string_equal(t.access_token, "at");
    assert_null(t.refresh_token);
    assert_null(t.id_token);
    assert_null(t.scope);
    assert_int_equal(t.expires_in, 0);
    assert_int_equal(t.need_patient_banner, -1);
    tokresp_free(&t);
}

static void expires_in_forms(void **state)
{
    static const struct {
        const char *value;
        int64_t want; /* -1: refused */
    } cases[] = {
        {"3600", 3600},       {"1", 1},
        {"\"3600\"", 3600},   {"null", 0},
        {"0", -1},            {"-5", -1},
        {"3600.5", -1},       {"\"\"", -1},
        {"\"36x0\"", -1},     {"\"-1\"", -1},
        {"\" 3600\"", -1},    {"\"12345678901\"", -1},
        {"2147483647", 2147483647}, {"2147483648", -1},
        {"true", -1},         {"[3600]", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"access_token\":\"a\",\"token_type\":\"Bearer\","
                 "\"expires_in\":%s}", cases[i].value);
        tokresp t;
        vap_error e = new_err();
        int rc = tokresp_parse(body, strlen(body), &t, &e);
        if (cases[i].want < 0) {
            if (rc != VAP_E_PROTOCOL)
                fail_msg("expires_in %s accepted", cases[i].value);
            assert_non_null(strstr(e.message, "expires_in"));
        } else {
            if (rc != 0)
                fail_msg("expires_in %s refused: %s", cases[i].value, e.message);
            assert_int_equal(t.expires_in, cases[i].want);
        }
        tokresp_free(&t);
    }
}

static void malformed_bodies_are_refused_naming_the_member(void **state)
{
    static const struct {
        const char *body;
        const char *part;
    } cases[] = {
        {"", "unusable"},
        {"not json", "unusable"},
        {"[]", "not a JSON object"},
        {"{\"access_token\":\"a\"}", "token_type"},
        {"{\"access_token\":\"a\",\"token_type\":\"mac\"}", "token_type"},
        {"{\"access_token\":\"a\",\"token_type\":\"DPoP\"}", "token_type"},
        {"{\"token_type\":\"Bearer\"}", "no access_token"},
        {"{\"access_token\":\"\",\"token_type\":\"Bearer\"}", "access_token"},
        {"{\"access_token\":7,\"token_type\":\"Bearer\"}", "access_token"},
        {"{\"access_token\":\"a b\",\"token_type\":\"Bearer\"}", "access_token"},
        {"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"token_type\":\"Bearer\"}", "access_token"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"refresh_token\":\"\"}", "refresh_token"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"id_token\":{}}", "id_token"},
        {"{\"access_token\":\"a\",\"access_token\":\"b\",\"token_type\":\"Bearer\"}", "unusable"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"scope\":[\"openid\"]}", "scope"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"scope\":\"a\\\"b\"}", "scope"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"scope\":\"a\\tb\"}", "scope"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"patient\":\"../Practitioner/1\"}", "patient"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"patient\":\"\"}", "patient"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"patient\":42}", "patient"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"encounter\":\"a/b\"}", "encounter"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"need_patient_banner\":\"yes\"}", "need_patient_banner"},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\"} trailing", "unusable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tokresp t;
        vap_error e = new_err();
        int rc = tokresp_parse(cases[i].body, strlen(cases[i].body), &t, &e);
        if (rc != VAP_E_PROTOCOL)
            fail_msg("case %zu accepted (%d)", i, rc);
        assert_null(t.access_token);
        if (strstr(e.message, cases[i].part) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, e.message, cases[i].part);
    }
}

static void parse_message_never_contains_token_values(void **state)
{
    const char *b = "{\"access_token\":\"SECRET-AT\",\"token_type\":\"Bearer\","
                    "\"refresh_token\":\"SECRET RT\"}";
    tokresp t;
    vap_error e = new_err();
    assert_int_equal(tokresp_parse(b, strlen(b), &t, &e), VAP_E_PROTOCOL);
    assert_null(strstr(e.message, "SECRET"));
}

static void scope_is_normalised_to_single_spaces(void **state)
{
    const char *b = "{\"access_token\":\"a\",\"token_type\":\"Bearer\","
                    "\"scope\":\"  openid   fhirUser \"}";
    tokresp t;
    vap_error e = new_err();
    assert_int_equal(tokresp_parse(b, strlen(b), &t, &e), 0);
    assert_string_equal(t.scope, "openid fhirUser");
    tokresp_free(&t);
}

static void body_over_cap_is_refused(void **state)
{
    size_t n = TOKRESP_BODY_CAP + 1;
    char *b = malloc(n);
    assert_non_null(b);
    memset(b, ' ', n);
    memcpy(b, "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}", 42);
    tokresp t;
    vap_error e = new_err();
    assert_int_equal(tokresp_parse(b, n, &t, &e), VAP_E_PROTOCOL);
    assert_non_null(strstr(e.message, "too large"));
    assert_int_equal(tokresp_parse(b, n - 1, &t, &e), 0);
    tokresp_free(&t);
    free(b);
}

/* ---- error classification: OpenEMR's exact bodies --------------------- */

typedef struct {
    const char *name;
    tokresp_grant grant;
    int http;
    const char *body;
    int status;
    const char *oauth_error;
    const char *parts[3];
} classify_case;

static const classify_case classify_cases[] = {
    {"disabled or wrong secret", TOKRESP_GRANT_CODE, 401,
     "{\"error\":\"invalid_client\",\"error_description\":\"Client authentication "
     "failed\",\"message\":\"Client authentication failed\"}",
     VAP_E_CLIENT, "invalid_client",
     {"Administration → System → API Clients", "secret", "enable"}},
    {"missing parameter", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"The request is missing "
     "a required parameter, includes an invalid parameter value, includes a "
     "parameter more than once, or is otherwise malformed.\",\"hint\":\"Check the "
     "`code_verifier` parameter\",\"message\":\"The request is missing a required "
     "parameter, includes an invalid parameter value, includes a parameter more "
     "than once, or is otherwise malformed.\"}",
     VAP_E_PROTOCOL, "invalid_request", {"`code_verifier`", NULL, NULL}},
    {"code expired", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"The request is missing "
     "a required parameter, includes an invalid parameter value, includes a "
     "parameter more than once, or is otherwise malformed.\",\"hint\":"
     "\"Authorization code has expired\",\"message\":\"The request is missing a "
     "required parameter, includes an invalid parameter value, includes a "
     "parameter more than once, or is otherwise malformed.\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_request", {"expired", "60 seconds", "authorize again"}},
    {"code for another client", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"The request is missing "
     "a required parameter, includes an invalid parameter value, includes a "
     "parameter more than once, or is otherwise malformed.\",\"hint\":"
     "\"Authorization code was not issued to this client\",\"message\":\"x\"}",
     VAP_E_CONFIG, "invalid_request", {"another client", "client_id", NULL}},
    {"redirect uri mismatch", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"The request is missing "
     "a required parameter, includes an invalid parameter value, includes a "
     "parameter more than once, or is otherwise malformed.\",\"hint\":\"Invalid "
     "redirect URI\",\"message\":\"x\"}",
     VAP_E_CONFIG, "invalid_request", {REDIRECT_URI, "byte for byte", NULL}},
    {"unknown code (Bad request)", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"Bad request\","
     "\"message\":\"Bad request\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_request", {"Bad request", "authorize again", NULL}},
    {"pkce mismatch", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"The provided "
     "authorization grant (e.g., authorization code, resource owner credentials) "
     "or refresh token is invalid, expired, revoked, does not match the "
     "redirection URI used in the authorization request, or was issued to another "
     "client.\",\"hint\":\"Failed to verify `code_verifier`.\",\"message\":\"x\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_grant", {"PKCE verification failed", "authorize again", NULL}},
    {"invalid_grant (standard provider)", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_grant", {"authorize again", NULL, NULL}},
    {"scope not allowed", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"invalid_scope\",\"error_description\":\"The requested scope is "
     "invalid, unknown, or malformed\",\"hint\":\"Check the `user/Foo.read` "
     "scope\",\"message\":\"The requested scope is invalid, unknown, or malformed\"}",
     VAP_E_CONFIG, "invalid_scope", {"user/Foo.read", "scope option", NULL}},
    {"unknown grant type", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"unsupported_grant_type\",\"error_description\":\"The "
     "authorization grant type is not supported by the authorization server.\","
     "\"hint\":\"Check that all required parameters have been provided\","
     "\"message\":\"x\"}",
     VAP_E_UNSUPPORTED, "unsupported_grant_type", {"grant type", NULL, NULL}},
    {"unauthorized_client", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"unauthorized_client\"}",
     VAP_E_CLIENT, "unauthorized_client", {"registration", NULL, NULL}},
    {"unknown oauth error", TOKRESP_GRANT_CODE, 400,
     "{\"error\":\"weird_error\",\"error_description\":\"odd\"}",
     VAP_E_PROTOCOL, "weird_error", {"weird_error", "odd", NULL}},
    /* Refresh rows. */
    {"refresh token revoked", TOKRESP_GRANT_REFRESH, 401,
     "{\"error\":\"invalid_request\",\"error_description\":\"The refresh token is "
     "invalid.\",\"hint\":\"Token has been revoked\",\"message\":\"The refresh "
     "token is invalid.\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_request", {"authorize again", NULL, NULL}},
    {"refresh invalid_grant", TOKRESP_GRANT_REFRESH, 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}",
     VAP_E_REAUTH_REQUIRED, "invalid_grant", {"authorize again", NULL, NULL}},
    {"refresh after logout", TOKRESP_GRANT_REFRESH, 400,
     "{\"error\":\"An error occurred\",\"message\":\"Refresh Token revoked or "
     "logged out\",\"code\":400}",
     VAP_E_REAUTH_REQUIRED, "An error occurred", {"authorize again", NULL, NULL}},
    {"refresh invalid_client is not reauth", TOKRESP_GRANT_REFRESH, 401,
     "{\"error\":\"invalid_client\",\"error_description\":\"Client authentication "
     "failed\",\"message\":\"Client authentication failed\"}",
     VAP_E_CLIENT, "invalid_client", {"grant is kept", "disabled or deleted", NULL}},
    {"refresh other invalid_request keeps grant", TOKRESP_GRANT_REFRESH, 400,
     "{\"error\":\"invalid_request\",\"error_description\":\"Bad request\"}",
     VAP_E_PROTOCOL, "invalid_request", {"grant is kept", NULL, NULL}},
    /* A refused refresh scope is never a config error: the config did not
     * change.  The message names what was refused and what was sent. */
    {"refresh nonce scope bug", TOKRESP_GRANT_REFRESH, 400,
     "{\"error\":\"invalid_scope\",\"hint\":\"Check the `nonce` scope\"}",
     VAP_E_DENIED, "invalid_scope", {"nonce", NULL, NULL}},
    {"refresh invalid_scope (OpenEMR 7.0.3) names refused and sent", TOKRESP_GRANT_REFRESH, 400,
     "{\"error\":\"invalid_scope\",\"error_description\":\"The requested scope is invalid, "
     "unknown, or malformed\",\"hint\":\"Check the `user/patient.read` scope\",\"message\":"
     "\"The requested scope is invalid, unknown, or malformed\"}",
     VAP_E_DENIED, "invalid_scope", {"scope user/patient.read on refresh", "sent \"" SENT_SCOPE "\"",
                                     "grant is kept"}},
    /* Transport-ish failures. */
    {"502 html", TOKRESP_GRANT_CODE, 502, "<html>Bad Gateway</html>",
     VAP_E_UNAVAILABLE, "", {"HTTP 502", "try again later", NULL}},
    {"500 oauth server_error", TOKRESP_GRANT_CODE, 500,
     "{\"error\":\"server_error\"}", VAP_E_UNAVAILABLE, "server_error", {"HTTP 500", NULL, NULL}},
    {"429", TOKRESP_GRANT_REFRESH, 429, "", VAP_E_UNAVAILABLE, "", {"HTTP 429", NULL, NULL}},
    {"empty 400", TOKRESP_GRANT_CODE, 400, "", VAP_E_UNAVAILABLE, "", {"HTTP 400", NULL, NULL}},
    {"non-json 401", TOKRESP_GRANT_CODE, 401, "Unauthorized", VAP_E_UNAVAILABLE, "", {"HTTP 401", NULL, NULL}},
    {"json without error", TOKRESP_GRANT_CODE, 400, "{\"message\":\"x\"}",
     VAP_E_UNAVAILABLE, "", {"HTTP 400", NULL, NULL}},
    {"404 not found", TOKRESP_GRANT_CODE, 404, "", VAP_E_CONFIG, "", {"issuer", "APIs", NULL}},
};

static void openemr_error_rows_are_classified(void **state)
{
    for (size_t i = 0; i < sizeof classify_cases / sizeof classify_cases[0]; i++) {
        const classify_case *c = &classify_cases[i];
        tokresp_ctx ctx = {c->grant, REDIRECT_URI, 0, SENT_SCOPE, NULL};
        vap_error e = new_err();
        int rc = tokresp_classify(c->http, c->body, strlen(c->body), &ctx, &e);
        if (rc != c->status)
            fail_msg("%s: status %d, want %d (%s)", c->name, rc, c->status, e.message);
        assert_int_equal(e.code, rc);
        assert_int_equal(e.http_status, c->http);
        if (strcmp(e.oauth_error, c->oauth_error) != 0)
            fail_msg("%s: oauth_error '%s'", c->name, e.oauth_error);
        for (size_t k = 0; k < 3 && c->parts[k]; k++)
            if (strstr(e.message, c->parts[k]) == NULL)
                fail_msg("%s: '%s' lacks '%s'", c->name, e.message, c->parts[k]);
    }
}

/* OpenEMR never checks the secret on refresh: blaming it sends the admin
 * the wrong way. */
static void refresh_invalid_client_does_not_blame_the_secret(void **state)
{
    tokresp_ctx ctx = {TOKRESP_GRANT_REFRESH, NULL, 0, NULL, NULL};
    vap_error e = new_err();
    const char *body = "{\"error\":\"invalid_client\",\"error_description\":\"Client "
                       "authentication failed\"}";
    assert_int_equal(tokresp_classify(401, body, strlen(body), &ctx, &e), VAP_E_CLIENT);
    assert_null(strstr(e.message, "secret"));
    assert_non_null(strstr(e.message, "disabled or deleted"));
}

/* A refused scope the plugin added to the renewal itself (not in the stored
 * grant): a new authorization with the same scope line would add it again,
 * so the message must not send the admin there. */
static void refresh_invalid_scope_on_a_scope_the_plugin_added_says_so(void **state)
{
    const char *granted = "openid offline_access user/patient.read";
    const char *sent = "openid offline_access user/patient.read api:oemr";
    tokresp_ctx ctx = {TOKRESP_GRANT_REFRESH, NULL, 0, sent, granted};
    vap_error e = new_err();
    const char *body = "{\"error\":\"invalid_scope\",\"hint\":\"Check the `api:oemr` scope\"}";
    assert_int_equal(tokresp_classify(400, body, strlen(body), &ctx, &e), VAP_E_DENIED);
    assert_non_null(strstr(e.message, "api:oemr"));
    assert_non_null(strstr(e.message, "the plugin added it"));
    assert_non_null(strstr(e.message, "will not help"));
    /* A scope of the grant itself keeps the usual message. */
    const char *own = "{\"error\":\"invalid_scope\",\"hint\":\"Check the `user/patient.read` "
                      "scope\"}";
    e = new_err();
    assert_int_equal(tokresp_classify(400, own, strlen(own), &ctx, &e), VAP_E_DENIED);
    assert_null(strstr(e.message, "plugin added"));
    assert_non_null(strstr(e.message, "authorize again"));
    /* Without the grant's scope (an older caller) nothing is claimed. */
    tokresp_ctx bare = {TOKRESP_GRANT_REFRESH, NULL, 0, sent, NULL};
    e = new_err();
    assert_int_equal(tokresp_classify(400, body, strlen(body), &bare, &e), VAP_E_DENIED);
    assert_null(strstr(e.message, "plugin added"));
}

static void retry_after_is_passed_through(void **state)
{
    tokresp_ctx ctx = {TOKRESP_GRANT_REFRESH, NULL, 30, NULL, NULL};
    vap_error e = new_err();
    assert_int_equal(tokresp_classify(503, "", 0, &ctx, &e), VAP_E_UNAVAILABLE);
    assert_int_equal(e.retry_after_s, 30);
}

static void server_description_is_truncated_and_stripped(void **state)
{
    char body[1200], desc[700];
    memset(desc, 'x', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    memcpy(desc, "line1\\nline2\\u0007", 18);
    snprintf(body, sizeof body, "{\"error\":\"odd_error\",\"error_description\":\"%s\"}",
             desc);
    vap_error e = new_err();
    tokresp_classify(400, body, strlen(body), NULL, &e);
    assert_non_null(strstr(e.message, "line1 line2 "));
    assert_null(strchr(e.message, '\a'));
    assert_non_null(strstr(e.message, "...\""));
    assert_true(strlen(e.message) < sizeof e.message);
}

static void clean_text_keeps_utf8_whole_and_marks_cuts(void **state)
{
    static const struct {
        const char *in;
        size_t size;
        const char *want;
    } cases[] = {
        {"hello", 16, "hello"},
        {"a\tb\x7f" "c", 16, "a b c"},
        {"caf\xc3\xa9", 16, "caf\xc3\xa9"},
        {"bad\xc3(x", 16, "bad?(x"},
        {"\xed\xa0\x80", 16, "???"},           /* a surrogate is not UTF-8 */
        {"0123456789", 11, "0123456789"},      /* fits exactly */
        {"0123456789A", 11, "0123456..."},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, "\xc3\xa9\xc3\xa9..."},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 7, "\xc3\xa9..."},
        {NULL, 8, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        tokresp_clean_text(cases[i].in, out, cases[i].size);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: got '%s' want '%s'", i, out, cases[i].want);
    }
}

static void error_body_parse_rejects_non_oauth_shapes(void **state)
{
    static const char *const bad[] = {
        "", "x", "[]", "{}", "{\"error\":5}", "{\"error\":\"\"}",
        "{\"error\":\"a\\\"b\"}", "{\"error\":\"\\u00e9\"}",
        "{\"error\":\"a\",\"error\":\"b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tokresp_error te;
        assert_int_equal(tokresp_error_parse(bad[i], strlen(bad[i]), &te),
                         VAP_E_PROTOCOL);
        assert_string_equal(te.error, "");
    }
}

static void hint_name_extracts_backquoted_text(void **state)
{
    char out[64];
    assert_true(tokresp_hint_name("Check the `patient/Patient.read` scope", out, sizeof out));
    assert_string_equal(out, "patient/Patient.read");
    assert_false(tokresp_hint_name("no quotes", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(tokresp_hint_name("one ` only", out, sizeof out));
    assert_false(tokresp_hint_name("empty `` name", out, sizeof out));
    assert_false(tokresp_hint_name(NULL, out, sizeof out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openemr_success_body_parses),
        cmocka_unit_test(minimal_body_parses_with_defaults),
        cmocka_unit_test(expires_in_forms),
        cmocka_unit_test(malformed_bodies_are_refused_naming_the_member),
        cmocka_unit_test(parse_message_never_contains_token_values),
        cmocka_unit_test(scope_is_normalised_to_single_spaces),
        cmocka_unit_test(body_over_cap_is_refused),
        cmocka_unit_test(openemr_error_rows_are_classified),
        cmocka_unit_test(retry_after_is_passed_through),
        cmocka_unit_test(refresh_invalid_client_does_not_blame_the_secret),
        cmocka_unit_test(refresh_invalid_scope_on_a_scope_the_plugin_added_says_so),
        cmocka_unit_test(server_description_is_truncated_and_stripped),
        cmocka_unit_test(clean_text_keeps_utf8_whole_and_marks_cuts),
        cmocka_unit_test(error_body_parse_rejects_non_oauth_shapes),
        cmocka_unit_test(hint_name_extracts_backquoted_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
