/* test_flow_authorize.c - authorization against the OpenEMR simulator: the
 * whole flow through the login and consent forms, every error row of
 * OPENEMR.md §6-7 an authorization or a code exchange can produce (each
 * checked for its vap_status, its OAuth error code and a message that says
 * what to do), state mismatch and replay, and the RFC 9207 iss parameter.
 * Every failing case also proves the sealed store is byte for byte what the
 * last successful authorization left.
 *
 * Usage: test-flow-authorize PLUGIN.so [CASE] */
#include <stdio.h>
#include <string.h>

#include "test_flow_authorize_kit.h"

#define LOOPBACK_REDIRECT "http://127.0.0.1:8000/oauth/callback"

static vap_instance *inst;        /* the main instance (client FLOW_CLIENT_ID) */
static unsigned char baseline[32]; /* the store after the last success         */
static char loc[AFK_LOC_MAX];

/* The store is what the last success left. */
static int store_unchanged(struct flowkit *k)
{
    unsigned char now[32];
    return afk_store_digest(k->store, now) == 0 && memcmp(now, baseline, 32) == 0;
}

static int new_baseline(struct flowkit *k)
{
    return afk_store_digest(k->store, baseline);
}

static long code_requests(struct flowkit *k)
{
    return flowkit_counter(k, "token_requests.authorization_code");
}

/* begin + auto-approved redirect on inst, URL edited by edit(arg). */
static int redirect_with(struct flowkit *k, vap_instance *in,
                         void (*edit)(char *, size_t, const void *), const void *arg)
{
    long status = 0;
    vap_error err;
    if (afk_begin_and_redirect(k, in, edit, arg, &status, loc, sizeof loc, &err) != 0) {
        printf("  begin/redirect failed: %s\n", err.message);
        return -1;
    }
    if (status != 302) {
        printf("  /authorize answered %ld, not 302\n", status);
        return -1;
    }
    return 0;
}

static void edit_param(char *url, size_t cap, const void *arg)
{
    const char *const *nv = arg; /* {name, value} */
    if (afk_set_param(url, cap, nv[0], nv[1]) != 0)
        printf("  (no %s parameter to edit)\n", nv[0]);
}

/* ---- the whole flow ------------------------------------------------------- */

static int full_authorization_through_login_and_consent_pages(struct flowkit *k)
{
    vap_authorize_begin_result *b = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    AFK_CHECK(flowkit_control(k, "auto-approve", "{\"user\":null}", NULL, 0) == 200, "sim");
    AFK_CHECK(k->api->authorize_begin(inst, NULL, NULL, &b, &err) == VAP_OK, "%s", err.message);
    /* OIDC Core §11: offline_access asks for consent explicitly */
    int prompt = strstr(b->url, "&prompt=consent") != NULL;
    /* the staff member unticks one scope on the consent page */
    int got = afk_browser_login(k, b->url, "user/soap_note.write", loc, sizeof loc);
    k->api->release(b);
    flowkit_control(k, "auto-approve", "{\"user\":\"admin\"}", NULL, 0);
    AFK_CHECK(prompt, "no prompt=consent with offline_access");
    AFK_CHECK(got == 0, "the browser did not reach the callback");
    AFK_CHECK(strncmp(loc, FLOW_REDIRECT "?code=", strlen(FLOW_REDIRECT) + 6) == 0, "%s", loc);
    VAP_INIT(vap_error, err);
    int rc = k->api->authorize_complete(inst, NULL, loc, strlen(loc), &gi, &err);
    AFK_CHECK(rc == VAP_OK && gi != NULL, "rc %d: %s", rc, err.message);
    int ok = gi->state == VAP_GRANT_VALID && gi->has_refresh_token && gi->generation >= 1 &&
             strstr(gi->scope, "user/Patient.read") != NULL &&
             strstr(gi->scope, "user/soap_note.write") == NULL &&
             strstr(gi->fhir_user, "/Practitioner/") != NULL && gi->subject[0] != '\0';
    char scope[512];
    snprintf(scope, sizeof scope, "%s", gi->scope);
    k->api->release(gi);
    AFK_CHECK(ok, "granted scope '%s'", scope);
    AFK_CHECK(!fakehost_log_contains(k->fh, FLOW_SECRET), "the secret reached the log");
    return new_baseline(k);
}

/* ---- token endpoint rows (OPENEMR.md §6) ------------------------------------ */

static int wrong_client_secret_is_invalid_client(struct flowkit *k)
{
    char store[256];
    vap_instance *in = NULL;
    vap_error err;
    AFK_CHECK(flowkit_control(k, "clients",
                              "{\"client_id\":\"flow-wrongsecret\",\"client_secret\":"
                              "\"the-secret-the-server-issued\",\"redirect_uris\":[\"" FLOW_REDIRECT
                              "\"],\"scope\":\"" FLOW_SCOPE "\"}", NULL, 0) == 200, "sim");
    AFK_CHECK(afk_second_store(k, "store-wrongsecret", NULL, "flow-wrongsecret", "a-mistyped-secret",
                               store, sizeof store) == 0, "store");
    AFK_CHECK(flowkit_instance(k, &in, &err, "client_id", "flow-wrongsecret", "store", store,
                               NULL) == VAP_OK, "%s", err.message);
    int r = redirect_with(k, in, NULL, NULL);
    int rc = r == 0 ? afk_complete(k, in, loc, &err) : -999;
    k->api->instance_free(in);
    AFK_CHECK(rc == VAP_E_CLIENT, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_client") == 0 && err.http_status == 401, "%s %d",
              err.oauth_error, err.http_status);
    AFK_CHECK(strstr(err.message, "client secret") != NULL, "%s", err.message);
    AFK_CHECK(!fakehost_log_contains(k->fh, "a-mistyped-secret"), "the secret reached the log");
    return store_unchanged(k) ? 0 : -1;
}

static int client_not_enabled_says_where_to_enable_it(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(flowkit_control(k, "clients/enable",
                              "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":false}", NULL,
                              0) == 200, "sim");
    /* consent succeeds (OpenEMR does not check the flag there); /token refuses */
    int r = redirect_with(k, inst, NULL, NULL);
    int rc = r == 0 ? afk_complete(k, inst, loc, &err) : -999;
    flowkit_control(k, "clients/enable", "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":true}",
                    NULL, 0);
    AFK_CHECK(rc == VAP_E_CLIENT, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_client") == 0, "%s", err.oauth_error);
    AFK_CHECK(strstr(err.message, "enable the client under Administration → System → API "
                                  "Clients") != NULL, "%s", err.message);
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

static int pkce_mismatch_is_invalid_grant(struct flowkit *k)
{
    /* the request carries someone else's challenge (RFC 7636 App. B's) */
    static const char *const nv[] = {"code_challenge",
                                     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"};
    vap_error err;
    AFK_CHECK(redirect_with(k, inst, edit_param, nv) == 0, "redirect");
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_E_REAUTH_REQUIRED, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_grant") == 0, "%s", err.oauth_error);
    AFK_CHECK(strstr(err.message, "PKCE verification failed") != NULL &&
                  strstr(err.message, "authorize again") != NULL, "%s", err.message);
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

static int code_older_than_60_seconds_is_expired(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    /* the staff member took 61 s: move the server's clock, never sleep */
    AFK_CHECK(flowkit_control(k, "skew", "{\"seconds\":61}", NULL, 0) == 200, "sim");
    int rc = afk_complete(k, inst, loc, &err);
    flowkit_control(k, "skew", "{\"seconds\":0}", NULL, 0);
    AFK_CHECK(rc == VAP_E_REAUTH_REQUIRED, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_request") == 0, "%s", err.oauth_error);
    AFK_CHECK(strstr(err.message, "expired") != NULL && strstr(err.message, "60 seconds") &&
                  strstr(err.message, "authorize again") != NULL, "%s", err.message);
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

static int unknown_code_is_bad_request(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    AFK_CHECK(afk_set_param(loc, sizeof loc, "code", "def50200deadbeef") == 0, "edit");
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_E_REAUTH_REQUIRED, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_request") == 0, "%s", err.oauth_error);
    AFK_CHECK(strstr(err.message, "authorize again") != NULL, "%s", err.message);
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

/* The code was issued for another redirect URI than the one the token
 * request names (a loopback registration lets /authorize vary the port; the
 * callback is then brought back to the configured one). */
static int redirect_uri_mismatch_shows_the_uri_sent(struct flowkit *k)
{
    static const char *const nv[] = {"redirect_uri",
                                     "http%3A%2F%2F127.0.0.1%3A8001%2Foauth%2Fcallback"};
    char store[256];
    vap_instance *in = NULL;
    vap_error err;
    AFK_CHECK(flowkit_control(k, "clients",
                              "{\"client_id\":\"flow-loopback\",\"client_secret\":\"loop-secret\","
                              "\"redirect_uris\":[\"" LOOPBACK_REDIRECT "\"],\"scope\":\""
                              FLOW_SCOPE "\"}", NULL, 0) == 200, "sim");
    AFK_CHECK(afk_second_store(k, "store-loopback", NULL, "flow-loopback", "loop-secret", store,
                               sizeof store) == 0, "store");
    AFK_CHECK(flowkit_instance(k, &in, &err, "client_id", "flow-loopback", "store", store,
                               "redirect_uri", LOOPBACK_REDIRECT, NULL) == VAP_OK, "%s",
              err.message);
    int r = redirect_with(k, in, edit_param, nv);
    char *port = strstr(loc, ":8001/");
    if (port != NULL)
        memcpy(port, ":8000/", 6);
    int rc = r == 0 && port ? afk_complete(k, in, loc, &err) : -999;
    k->api->instance_free(in);
    AFK_CHECK(rc == VAP_E_CONFIG, "rc %d: %s", rc, err.message);
    AFK_CHECK(strcmp(err.oauth_error, "invalid_request") == 0, "%s", err.oauth_error);
    AFK_CHECK(strstr(err.message, LOOPBACK_REDIRECT) != NULL &&
                  strstr(err.message, "byte for byte") != NULL, "%s", err.message);
    return store_unchanged(k) ? 0 : -1;
}

/* ---- authorization endpoint rows (OPENEMR.md §7) ---------------------------- */

static int rejected_scope_names_it_and_its_replacement(struct flowkit *k)
{
    static const struct {
        const char *encoded, *name, *advice;
    } rows[] = {
        {"openid+patient%2F*.read", "patient/*.read", "e.g. patient/Patient.read"},
        {"openid+Patient.read", "Patient.read", "patient/Patient.read or user/Patient.read"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *nv[] = {"scope", rows[i].encoded};
        vap_error err;
        long before = code_requests(k);
        AFK_CHECK(redirect_with(k, inst, edit_param, nv) == 0, "redirect");
        AFK_CHECK(strstr(loc, "error=invalid_scope") != NULL, "%s", loc);
        /* OpenEMR sends it without state: named, but not taken as its answer. */
        AFK_CHECK(strstr(loc, "state=") == NULL, "%s", loc);
        int rc = afk_complete(k, inst, loc, &err);
        AFK_CHECK(rc == VAP_E_PROTOCOL, "%s: rc %d: %s", rows[i].name, rc, err.message);
        AFK_CHECK(err.oauth_error[0] == '\0', "%s", err.oauth_error);
        AFK_CHECK(strstr(err.message, "unverified (no state") != NULL, "%s", err.message);
        AFK_CHECK(strstr(err.message, rows[i].name) != NULL &&
                      strstr(err.message, rows[i].advice) != NULL, "%s", err.message);
        AFK_CHECK(code_requests(k) == before, "a token request was made");
    }
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

/* ---- state ------------------------------------------------------------------ */

static int state_mismatch_is_refused_before_any_exchange(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    long before = code_requests(k);
    AFK_CHECK(afk_set_param(loc, sizeof loc, "state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") ==
                  0, "edit");
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_E_PROTOCOL, "rc %d: %s", rc, err.message);
    AFK_CHECK(strstr(err.message, "matches no pending authorization") != NULL &&
                  strstr(err.message, "start the authorization again") != NULL, "%s", err.message);
    AFK_CHECK(code_requests(k) == before, "the code was exchanged");
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

/* An error= is not believed before its state is found pending: with a
 * state nobody waits for it is a protocol error, not a denial, and the
 * authorization that is pending still completes. */
static int error_with_a_state_nobody_waits_for_is_not_believed(struct flowkit *k)
{
    vap_error err;
    char forged[AFK_LOC_MAX];
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    const char *q = strchr(loc, '?');
    AFK_CHECK(q != NULL, "%s", loc);
    snprintf(forged, sizeof forged, "%.*s?error=access_denied&error_description=denied&state=%s",
             (int)(q - loc), loc, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    long before = code_requests(k);
    int rc = afk_complete(k, inst, forged, &err);
    AFK_CHECK(rc == VAP_E_PROTOCOL, "rc %d: %s", rc, err.message);
    AFK_CHECK(err.oauth_error[0] == '\0', "the forged error was taken: %s", err.oauth_error);
    AFK_CHECK(strstr(err.message, "matches no pending authorization") != NULL, "%s", err.message);
    AFK_CHECK(code_requests(k) == before, "a token request was made");
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_OK, "the pending authorization: rc %d: %s", rc, err.message);
    return new_baseline(k);
}

static int state_is_single_use(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_OK, "first use: rc %d: %s", rc, err.message);
    AFK_CHECK(new_baseline(k) == 0, "digest");
    long before = code_requests(k);
    rc = afk_complete(k, inst, loc, &err); /* the same callback again */
    AFK_CHECK(rc == VAP_E_PROTOCOL && strstr(err.message, "already used") != NULL,
              "a replayed callback: rc %d: %s", rc, err.message);
    AFK_CHECK(code_requests(k) == before, "the replayed code was exchanged");
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

/* ---- RFC 9207 iss ------------------------------------------------------------ */

/* An /authorize fault for the browser's request: authorize_begin asks the
 * authorization endpoint once before it hands out the URL, so the fault
 * covers that question too. */
static int authz_fault(struct flowkit *k, const char *kind)
{
    char body[256];
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"%s\",\"count\":2}",
             AFK_AUTHZ_ROUTE, kind);
    return flowkit_control(k, "faults", body, NULL, 0) == 200 ? 0 : -1;
}

static int iss_parameter_of_another_issuer_is_refused(struct flowkit *k)
{
    vap_error err;
    AFK_CHECK(authz_fault(k, "authorize_iss_wrong") == 0, "fault");
    AFK_CHECK(redirect_with(k, inst, NULL, NULL) == 0, "redirect");
    AFK_CHECK(strstr(loc, "&iss=") != NULL, "%s", loc);
    long before = code_requests(k);
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(rc == VAP_E_PROTOCOL, "rc %d: %s", rc, err.message);
    AFK_CHECK(strstr(err.message, "mix-up") != NULL, "%s", err.message);
    AFK_CHECK(code_requests(k) == before, "the code was exchanged");
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

static int iss_parameter_missing_when_advertised_is_refused(struct flowkit *k)
{
    vap_instance *in = NULL; /* a fresh instance reads discovery afresh */
    vap_error err;
    AFK_CHECK(afk_fault(k, AFK_DISC_ROUTE, "discovery_iss_supported") == 0, "fault");
    AFK_CHECK(flowkit_instance(k, &in, &err, NULL) == VAP_OK, "%s", err.message);
    long before = code_requests(k);
    int r = redirect_with(k, in, NULL, NULL);
    int rc = r == 0 ? afk_complete(k, in, loc, &err) : -999;
    k->api->instance_free(in);
    AFK_CHECK(rc == VAP_E_PROTOCOL, "rc %d: %s", rc, err.message);
    AFK_CHECK(strstr(err.message, "iss parameter") != NULL, "%s", err.message);
    AFK_CHECK(code_requests(k) == before, "the code was exchanged");
    AFK_CHECK(store_unchanged(k), "the stored grant changed");
    return 0;
}

static int iss_parameter_matching_when_advertised_is_accepted(struct flowkit *k)
{
    vap_instance *in = NULL;
    vap_error err;
    AFK_CHECK(afk_fault(k, AFK_DISC_ROUTE, "discovery_iss_supported") == 0 &&
                  authz_fault(k, "authorize_iss") == 0, "fault");
    AFK_CHECK(flowkit_instance(k, &in, &err, NULL) == VAP_OK, "%s", err.message);
    int r = redirect_with(k, in, NULL, NULL);
    int rc = r == 0 ? afk_complete(k, in, loc, &err) : -999;
    k->api->instance_free(in);
    AFK_CHECK(rc == VAP_OK, "rc %d: %s", rc, err.message);
    return new_baseline(k);
}

int main(int argc, char **argv)
{
    static const struct afk_case cases[] = {
        {"full_authorization_through_login_and_consent_pages",
         full_authorization_through_login_and_consent_pages},
        {"wrong_client_secret_is_invalid_client", wrong_client_secret_is_invalid_client},
        {"client_not_enabled_says_where_to_enable_it", client_not_enabled_says_where_to_enable_it},
        {"pkce_mismatch_is_invalid_grant", pkce_mismatch_is_invalid_grant},
        {"code_older_than_60_seconds_is_expired", code_older_than_60_seconds_is_expired},
        {"unknown_code_is_bad_request", unknown_code_is_bad_request},
        {"redirect_uri_mismatch_shows_the_uri_sent", redirect_uri_mismatch_shows_the_uri_sent},
        {"rejected_scope_names_it_and_its_replacement",
         rejected_scope_names_it_and_its_replacement},
        {"state_mismatch_is_refused_before_any_exchange",
         state_mismatch_is_refused_before_any_exchange},
        {"state_is_single_use", state_is_single_use},
        {"error_with_a_state_nobody_waits_for_is_not_believed",
         error_with_a_state_nobody_waits_for_is_not_believed},
        {"iss_parameter_of_another_issuer_is_refused", iss_parameter_of_another_issuer_is_refused},
        {"iss_parameter_missing_when_advertised_is_refused",
         iss_parameter_missing_when_advertised_is_refused},
        {"iss_parameter_matching_when_advertised_is_accepted",
         iss_parameter_matching_when_advertised_is_accepted},
    };
    struct flowkit k;
    vap_error err;
    if (argc < 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    if (flowkit_instance(&k, &inst, &err, NULL) != VAP_OK) {
        printf("instance: %s\n", err.message);
        flowkit_stop(&k);
        return 1;
    }
    /* every case but the first compares against a grant sealed before it */
    vap_grant_info *gi = NULL;
    int rc = flowkit_authorize(&k, inst, &gi, &err, NULL, 0);
    k.api->release(gi);
    if (rc != VAP_OK || new_baseline(&k) != 0) {
        printf("first authorization failed: %s\n", err.message);
        k.api->instance_free(inst);
        flowkit_stop(&k);
        return 1;
    }
    int exit_code = afk_run(&k, cases, sizeof cases / sizeof cases[0], argc > 2 ? argv[2] : NULL);
    k.api->instance_free(inst);
    flowkit_stop(&k);
    return exit_code;
}
