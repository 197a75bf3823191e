/* test_redirect.c - the callback URL/query parser, the redirect-URI check
 * and the messages for `error=` callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/redirect.h"

#define REDIRECT_URI "http://localhost:8000/oauth/callback"

static vap_error new_err(void)
{
    vap_error e;
    VAP_INIT(vap_error, e);
    return e;
}

static void expect_field(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void accepted_inputs_yield_their_fields(void **state)
{
    static const struct {
        const char *in;
        const char *code, *state, *iss, *error, *desc, *hint, *base, *path;
    } cases[] = {
        {REDIRECT_URI "?code=def502abc&state=S1",
         "def502abc", "S1", NULL, NULL, NULL, NULL, REDIRECT_URI, "/oauth/callback"},
        {"code=abc&state=xyz", "abc", "xyz", NULL, NULL, NULL, NULL, NULL, NULL},
        {"?code=abc&state=xyz", "abc", "xyz", NULL, NULL, NULL, NULL, NULL, NULL},
        {"/oauth/callback?code=a%2Fb&state=s", "a/b", "s", NULL, NULL, NULL, NULL,
         NULL, "/oauth/callback"},
        /* RFC 9207 iss, percent-encoded as form values are. */
        {"code=c&state=s&iss=https%3A%2F%2Femr.example.org%2Foauth2%2Fdefault", "c",
         "s", "https://emr.example.org/oauth2/default", NULL, NULL, NULL, NULL, NULL},
        /* '+' is a space in a query value. */
        {"error=access_denied&error_description=The+user+said+no", NULL, NULL, NULL,
         "access_denied", "The user said no", NULL, NULL, NULL},
        /* OpenEMR's invalid_scope callback: no state, with hint and message. */
        {REDIRECT_URI "?error=invalid_scope&error_description=The+requested+scope"
         "+is+invalid%2C+unknown%2C+or+malformed&hint=Check+the+%60patient%2F%2A.read"
         "%60+scope&message=The+requested+scope+is+invalid%2C+unknown%2C+or+malformed",
         NULL, NULL, NULL, "invalid_scope",
         "The requested scope is invalid, unknown, or malformed",
         "Check the `patient/*.read` scope", REDIRECT_URI, "/oauth/callback"},
        /* Unknown parameters, even repeated, are ignored; empty pieces too. */
        {"code=c&&session_state=1&session_state=2&state=s", "c", "s", NULL, NULL,
         NULL, NULL, NULL, NULL},
        /* The fragment is not part of the query. */
        {REDIRECT_URI "?code=c&state=s#code=evil", "c", "s", NULL, NULL, NULL, NULL,
         REDIRECT_URI, "/oauth/callback"},
        /* A pasted line keeps its newline: trimmed. */
        {"  code=c&state=s\r\n", "c", "s", NULL, NULL, NULL, NULL, NULL, NULL},
        /* Lower-case hex escapes decode too. */
        {"code=%7e%7E&state=s", "~~", "s", NULL, NULL, NULL, NULL, NULL, NULL},
        /* A parameter without '=' has an empty value. */
        {"code&state=s", "", "s", NULL, NULL, NULL, NULL, NULL, NULL},
        /* A URL without a path. */
        {"http://127.0.0.1:8000?code=c", "c", NULL, NULL, NULL, NULL, NULL,
         "http://127.0.0.1:8000", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redirect_result r;
        vap_error e = new_err();
        int rc = redirect_parse(cases[i].in, strlen(cases[i].in), &r, &e);
        if (rc != 0)
            fail_msg("case %zu refused: %s", i, e.message);
        expect_field(r.code, cases[i].code);
        expect_field(r.state, cases[i].state);
        expect_field(r.iss, cases[i].iss);
        expect_field(r.error, cases[i].error);
        expect_field(r.error_description, cases[i].desc);
        expect_field(r.hint, cases[i].hint);
        expect_field(r.base, cases[i].base);
        expect_field(r.path, cases[i].path);
        redirect_free(&r);
    }
}

static void malformed_inputs_are_refused(void **state)
{
    static const struct {
        const char *in;
        const char *message_part;
    } cases[] = {
        {"", "empty"},
        {"code=a%2&state=s", "escape"},
        {"code=a%zz&state=s", "escape"},
        {"code=a%&state=s", "escape"},
        {"code=a%00b&state=s", "NUL"},
        {"code=a&state=s%0", "escape"},
        {"code=a b&state=s", "space"},
        {"code=a\x01&state=s", "character"},
        {"code=\xc3\xa9&state=s", "character"},
        {"code=a&code=b&state=s", "code parameter twice"},
        {"code=a&state=s&state=t", "state parameter twice"},
        {"code=a&state=s&iss=x&iss=y", "iss parameter twice"},
        {"error=a&error=b", "error parameter twice"},
        {"error=x&error_description=a&error_description=b", "twice"},
        {"error=x&hint=a&hint=b", "twice"},
        {"code=a&sta%74e=s&state=t", "state parameter twice"},
        {"code=a%0Ab&state=s", "control"},
        {"code=a&state=s%09", "control"},
        {"state=s", "neither"},
        {REDIRECT_URI, "neither"},
        {"http:localhost/cb?code=a", "//"},
        {"bad%zzname=1&code=a", "escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redirect_result r;
        vap_error e = new_err();
        int rc = redirect_parse(cases[i].in, strlen(cases[i].in), &r, &e);
        if (rc != VAP_E_INVAL)
            fail_msg("case %zu (%s) gave %d", i, cases[i].in, rc);
        assert_null(r.code);
        assert_null(r.storage_);
        if (strstr(e.message, cases[i].message_part) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, e.message,
                     cases[i].message_part);
    }
}

static void message_never_quotes_the_code(void **state)
{
    const char *in = "code=SECRETCODE&code=SECRETCODE2&state=s";
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse(in, strlen(in), &r, &e), VAP_E_INVAL);
    assert_null(strstr(e.message, "SECRET"));
}

static void input_over_16k_is_refused_and_16k_accepted(void **state)
{
    size_t n = REDIRECT_MAX_LEN + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, "state=s&code=", 13);
    memset(big + 13, 'A', n - 13);
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse(big, n, &r, &e), VAP_E_INVAL);
    assert_non_null(strstr(e.message, "longer than"));
    assert_int_equal(redirect_parse(big, n - 1, &r, &e), 0);
    assert_int_equal(strlen(r.code), n - 1 - 13);
    redirect_free(&r);
    free(big);
}

static void input_is_read_only_up_to_len(void **state)
{
    /* The bytes after len would make the code longer and add a state. */
    const char *in = "code=abc&state=s1XXXX&state=again";
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse(in, 17, &r, &e), 0);
    assert_string_equal(r.code, "abc");
    assert_string_equal(r.state, "s1");
    redirect_free(&r);
}

static void target_check_compares_base_byte_for_byte(void **state)
{
    static const struct {
        const char *in;
        int ok;
    } cases[] = {
        {REDIRECT_URI "?code=c", 1},
        {"http://localhost:8000/oauth/callback/?code=c", 0},
        {"http://LOCALHOST:8000/oauth/callback?code=c", 0},
        {"http://127.0.0.1:8000/oauth/callback?code=c", 0},
        {"http://localhost:8001/oauth/callback?code=c", 0},
        {"/oauth/callback?code=c", 1},
        {"/oauth/other?code=c", 0},
        {"code=c", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redirect_result r;
        vap_error e = new_err();
        assert_int_equal(redirect_parse(cases[i].in, strlen(cases[i].in), &r, &e), 0);
        int rc = redirect_check_target(&r, REDIRECT_URI, &e);
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu (%s): rc %d", i, cases[i].in, rc);
        if (!cases[i].ok)
            assert_non_null(strstr(e.message, REDIRECT_URI));
        redirect_free(&r);
    }
}

static void target_check_ignores_the_registered_uris_own_query(void **state)
{
    const char *uri = "https://app.example.org/cb?tenant=a";
    static const struct {
        const char *in;
        int ok;
    } cases[] = {
        {"https://app.example.org/cb?tenant=a&code=c&state=s", 1},
        {"https://app.example.org/cb2?tenant=a&code=c&state=s", 0},
        {"https://app.example.org/c?code=c", 0},
        {"/cb?tenant=a&code=c", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redirect_result r;
        vap_error e = new_err();
        assert_int_equal(redirect_parse(cases[i].in, strlen(cases[i].in), &r, &e), 0);
        if ((redirect_check_target(&r, uri, &e) == 0) != cases[i].ok)
            fail_msg("case %zu (%s)", i, cases[i].in);
        redirect_free(&r);
    }
}

static void error_callbacks_get_clear_messages(void **state)
{
    static const struct {
        const char *in;
        int status;
        const char *parts[3];
    } cases[] = {
        {"error=access_denied", VAP_E_DENIED, {"access_denied", "authorize again", NULL}},
        {"error=invalid_scope&error_description=The+requested+scope+is+invalid%2C"
         "+unknown%2C+or+malformed&hint=Check+the+%60patient%2F%2A.read%60+scope",
         VAP_E_CONFIG, {"patient/*.read", "wildcard", "scope option"}},
        {"error=invalid_scope&hint=Check+the+%60Patient.read%60+scope",
         VAP_E_CONFIG, {"Patient.read", "patient/Patient.read", "scope option"}},
        {"error=invalid_scope&error_description=unknown+scope",
         VAP_E_CONFIG, {"invalid_scope", "unknown scope", "scope option"}},
        {"error=unauthorized_client", VAP_E_CLIENT, {"unauthorized_client", NULL, NULL}},
        {"error=server_error", VAP_E_UNAVAILABLE, {"try again later", NULL, NULL}},
        {"error=temporarily_unavailable", VAP_E_UNAVAILABLE, {"try again", NULL, NULL}},
        {"error=unsupported_response_type", VAP_E_UNSUPPORTED, {"code flow", NULL, NULL}},
        {"error=login_required&error_description=x", VAP_E_PROTOCOL, {"login_required", NULL, NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redirect_result r;
        vap_error e = new_err();
        assert_int_equal(redirect_parse(cases[i].in, strlen(cases[i].in), &r, &e), 0);
        int rc = redirect_error_status(&r, &e);
        if (rc != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, rc, cases[i].status);
        assert_int_equal(e.code, rc);
        assert_string_equal(e.oauth_error, r.error);
        for (size_t k = 0; k < 3 && cases[i].parts[k]; k++)
            if (strstr(e.message, cases[i].parts[k]) == NULL)
                fail_msg("case %zu: '%s' lacks '%s'", i, e.message, cases[i].parts[k]);
        redirect_free(&r);
    }
}

static void error_status_is_ok_without_error(void **state)
{
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse("code=c&state=s", 14, &r, &e), 0);
    assert_int_equal(redirect_error_status(&r, &e), 0);
    assert_int_equal(e.code, 0);
    redirect_free(&r);
}

static void error_description_script_is_cleaned_of_controls(void **state)
{
    const char *in = "error=access_denied&error_description=%3Cscript%3E%0D%0Aalert(1)";
    redirect_result r;
    vap_error e = new_err();
    assert_int_equal(redirect_parse(in, strlen(in), &r, &e), 0);
    redirect_error_status(&r, &e);
    assert_null(strchr(e.message, '\n'));
    assert_null(strchr(e.message, '\r'));
    redirect_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_inputs_yield_their_fields),
        cmocka_unit_test(malformed_inputs_are_refused),
        cmocka_unit_test(message_never_quotes_the_code),
        cmocka_unit_test(input_over_16k_is_refused_and_16k_accepted),
        cmocka_unit_test(input_is_read_only_up_to_len),
        cmocka_unit_test(target_check_compares_base_byte_for_byte),
        cmocka_unit_test(target_check_ignores_the_registered_uris_own_query),
        cmocka_unit_test(error_callbacks_get_clear_messages),
        cmocka_unit_test(error_status_is_ok_without_error),
        cmocka_unit_test(error_description_script_is_cleaned_of_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
