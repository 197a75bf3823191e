/* test_fetch_checks.c - the pure checks of fetch: which paths are refused
 * before any request, and which 400 bodies mean OpenEMR logged the grant
 * out (the grant is then marked for re-authorization, so a false match
 * costs the practice its grant). */
#include <stdio.h>
#include <string.h>

#include "fhir/fetch.h"

static int failures;

static void check(const char *name, int ok)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", name);
    failures += !ok;
}

static int path_ok(const char *p)
{
    vap_error err;
    VAP_INIT(vap_error, err);
    return fetch_check_path(p, strlen(p), &err) == VAP_OK;
}

static int logged_out(const char *b)
{
    return fetch_is_logged_out(b, strlen(b));
}

int main(void)
{
    check("plain_paths_are_accepted", path_ok("Patient/123") && path_ok("/Patient") &&
                                          path_ok("Patient/a%20b") && path_ok("api/patient/1/encounter"));
    check("encoded_dots_are_refused", !path_ok("Patient/%2e%2e/x") && !path_ok("%2E%2E/metadata"));
    check("encoded_slash_is_refused", !path_ok("Patient%2f..%2fmetadata") && !path_ok("Patient/1%2F") &&
                                          !path_ok("a%2Fb"));
    check("encoded_backslash_is_refused", !path_ok("Patient%5c..%5cmetadata") && !path_ok("a%5Cb"));

    check("openemr_logout_message_is_logged_out",
          logged_out("{\"error\":\"invalid_request\",\"message\":\"Refresh Token revoked or logged out\","
                     "\"code\":400}"));
    check("logout_in_error_description_is_logged_out",
          logged_out("{\"error\":\"invalid_grant\",\"error_description\":\"Refresh Token revoked or logged out\"}"));
    check("logout_phrase_in_a_resource_is_not_logged_out",
          !logged_out("{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"diagnostics\":"
                      "\"Refresh Token revoked or logged out\"}]}") &&
              !logged_out("{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"Refresh Token revoked or "
                          "logged out\"}]}"));
    check("logout_phrase_in_html_is_not_logged_out",
          !logged_out("<html><body>Refresh Token revoked or logged out</body></html>"));
    check("logout_phrase_in_another_field_is_not_logged_out",
          !logged_out("{\"error\":\"invalid_request\",\"note\":\"Refresh Token revoked or logged out\"}"));
    check("empty_body_is_not_logged_out", !fetch_is_logged_out(NULL, 0) && !logged_out(""));
    return failures ? 1 : 0;
}
