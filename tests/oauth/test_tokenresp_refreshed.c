/* test_tokenresp_refreshed.c - a refresh's 2xx answer (DESIGN.md, Keeping
 * the grant alive, rule 9): the server has rotated, so what is odd but not
 * the tokens is a warning; the tokens themselves stay strict, and no
 * warning carries a value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "oauth/tokenresp.h"

#define AT "\"access_token\":\"eyJ0eXAiOiJKV1QifQ.e30.c2ln\""
#define RT "\"refresh_token\":\"def50200secretrefresh\""

struct row {
    const char *name;
    const char *body;
    int rc;
    const char *warn;      /* a piece of the warning; NULL: no warning at all */
    int64_t expires_in;    /* expected when rc == 0 (-2: do not check)       */
    int banner;            /* expected need_patient_banner (-2: do not check) */
    int scope_kept;        /* 1: scope parsed, 0: dropped, -1: do not check   */
};

static const struct row rows[] = {
    {"plain_answer_has_no_warning",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"expires_in\":3600,\"scope\":\"openid\"}", 0, NULL,
     3600, -1, 1},
    {"fractional_expires_in_is_rounded_down",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"expires_in\":3599.5}", 0,
     "expires_in is not a whole number (taken as 3599 s)", 3599, -2, -1},
    {"banner_as_text_is_read",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"need_patient_banner\":\"false\"}", 0,
     "need_patient_banner is not true or false (read as text)", -2, 0, -1},
    {"banner_of_another_type_is_ignored",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"need_patient_banner\":7}", 0,
     "need_patient_banner is not true or false (ignored)", -2, -1, -1},
    {"unknown_members_are_named",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"x_site_banner\":\"Welcome to the clinic\"}", 0,
     "unknown member x_site_banner (ignored)", -2, -2, -1},
    {"unusable_scope_is_dropped",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"scope\":42}", 0,
     "the server's scope is unusable (ignored)", -2, -2, 0},
    {"unusable_patient_is_dropped",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"patient\":\"../etc\"}", 0,
     "the server's patient is unusable (ignored)", -2, -2, -1},
    {"negative_expires_in_is_dropped",
     "{" AT "," RT ",\"token_type\":\"Bearer\",\"expires_in\":-5}", 0,
     "the server's expires_in is unusable (ignored)", 0, -2, -1},
    {"missing_token_type_is_taken_as_bearer", "{" AT "," RT "}", 0, "no token_type", -2, -2, -1},
    {"malformed_refresh_token_stays_refused",
     "{" AT ",\"refresh_token\":\"has space\",\"token_type\":\"Bearer\"}", VAP_E_PROTOCOL, NULL, -2,
     -2, -1},
    {"missing_access_token_stays_refused", "{" RT ",\"token_type\":\"Bearer\"}", VAP_E_PROTOCOL,
     NULL, -2, -2, -1},
    {"non_json_stays_refused", "<html>", VAP_E_PROTOCOL, NULL, -2, -2, -1},
};

static void refreshed_answers_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        tokresp t;
        vap_error e;
        char warn[512];
        VAP_INIT(vap_error, e);
        int rc = tokresp_parse_refreshed(r->body, strlen(r->body), &t, warn, sizeof warn, &e);
        if (rc != r->rc)
            fail_msg("%s: rc %d (%s)", r->name, rc, e.message);
        if (rc == 0) {
            if (r->warn == NULL && warn[0] != '\0')
                fail_msg("%s: unexpected warning '%s'", r->name, warn);
            if (r->warn != NULL && strstr(warn, r->warn) == NULL)
                fail_msg("%s: warning '%s' lacks '%s'", r->name, warn, r->warn);
            if (r->expires_in != -2 && t.expires_in != r->expires_in)
                fail_msg("%s: expires_in %lld", r->name, (long long)t.expires_in);
            if (r->banner != -2 && t.need_patient_banner != r->banner)
                fail_msg("%s: banner %d", r->name, t.need_patient_banner);
            if (r->scope_kept >= 0 && (t.scope != NULL) != r->scope_kept)
                fail_msg("%s: scope %s", r->name, t.scope ? "kept" : "dropped");
            assert_non_null(t.refresh_token);
            assert_string_equal(t.refresh_token, "def50200secretrefresh");
        }
        /* No value in a warning or a message: only member names. */
        if (strstr(warn, "Welcome") != NULL || strstr(warn, "secret") != NULL ||
            strstr(e.message, "secret") != NULL || strstr(e.message, "has space") != NULL)
            fail_msg("%s: a value leaked: '%s' / '%s'", r->name, warn, e.message);
        tokresp_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refreshed_answers_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
