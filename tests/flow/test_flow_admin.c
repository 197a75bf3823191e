/* test_flow_admin.c - check against the simulator: the pass and the fail
 * path of every item (helpers in admin_kit.c).
 *
 * Usage: test-flow-admin PLUGIN.so [CASE | PREFIX*] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_kit.h"
#include "vapseal.h"

/* ---- check: every item passes on a good set-up ------------------------------ */

static int check_all_pass_after_authorize(void)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    const char *store = new_store("s-allpass", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "store", store, NULL) == VAP_OK, "setup");
    int rc = flowkit_authorize(&k, in, &gi, &err, NULL, 0);
    k.api->release(gi);
    EXPECT(rc == VAP_OK, "authorize: %s", err.message);
    vap_check_report *rep = run_check(in);
    k.api->instance_free(in);
    EXPECT(rep != NULL, "no report");
    static const char *const names[] = {"connection", "discovery", "pkce", "scopes",
                                        "redirect_uri", "store", "client", "fhir", "grant"};
    int ok = rep->n_failed == 0 && rep->n_warnings == 0 && rep->n_items == 10;
    for (size_t i = 0; i < 9; i++)
        ok &= item_is(rep, names[i], VAP_CHECK_PASS, 0, NULL);
    /* OpenEMR checks the secret only at a code exchange: never a pass. */
    ok &= item_is(rep, "secret", VAP_CHECK_UNKNOWN, 0, "first code exchange");
    ok &= item_is(rep, "fhir", VAP_CHECK_PASS, 0, "4.0.1");
    k.api->release(rep);
    EXPECT(ok, "not every item passed");
    return 0;
}

/* ---- check: fail paths ------------------------------------------------------- */

static int check_untrusted_ca_fails_connection_with_tls(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "ca_file", "/etc/ssl/certs/ca-certificates.crt", NULL);
    int ok = item_is(rep, "connection", VAP_CHECK_FAIL, VAP_E_TLS, "ca_file=") &&
             item_is(rep, "discovery", VAP_CHECK_SKIP, 0, NULL) &&
             item_is(rep, "pkce", VAP_CHECK_SKIP, 0, NULL) &&
             item_is(rep, "fhir", VAP_CHECK_FAIL, VAP_E_TLS, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_unreachable_server_fails_connection(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "issuer", "https://127.0.0.1:1/oauth2/default", "fhir_base",
               "https://127.0.0.1:1/apis/default/fhir", NULL);
    int ok = item_is(rep, "connection", VAP_CHECK_FAIL, VAP_E_UNAVAILABLE, "firewall") &&
             item_is(rep, "client", VAP_CHECK_SKIP, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* OpenEMR with its APIs off answers 404 on /oauth2/ and /apis/: a path the
 * simulator does not serve gives the same 404. */
static int check_404_names_the_api_switch(void)
{
    char iss[256], fhir[256];
    snprintf(iss, sizeof iss, "%s/openemr/oauth2/default", k.base);
    snprintf(fhir, sizeof fhir, "%s/openemr/apis/default/fhir", k.base);
    vap_check_report *rep;
    CHECK_WITH(rep, "issuer", iss, "fhir_base", fhir, NULL);
    int ok = item_is(rep, "connection", VAP_CHECK_PASS, 0, NULL) &&
             item_is(rep, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG, "Connectors") &&
             item_is(rep, "fhir", VAP_CHECK_FAIL, VAP_E_CONFIG, "FHIR API is off");
    k.api->release(rep);
    /* authorize says the same. */
    vap_instance *in = NULL;
    vap_authorize_begin_result *b = NULL;
    vap_error err;
    const char *store = new_store_for(iss, "s-404", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "issuer", iss, "fhir_base", fhir, "store",
                                     store, NULL) == VAP_OK, "instance");
    VAP_INIT(vap_error, err);
    int rc = k.api->authorize_begin(in, NULL, NULL, &b, &err);
    k.api->release(b);
    k.api->instance_free(in);
    ok &= rc == VAP_E_CONFIG && strstr(err.message, "FHIR API is enabled") != NULL;
    if (!ok)
        printf("  authorize_begin rc %d: %s\n", rc, err.message);
    return ok ? 0 : 1;
}

/* OpenEMR with an empty "Site Address" serves relative URLs: check (and
 * authorize) name that setting. */
static int check_relative_discovery_names_site_address(void)
{
    EXPECT(flowkit_control(&k, "faults",
                           "{\"route\":\"/oauth2/default/.well-known/openid-configuration\","
                           "\"kind\":\"discovery_relative_urls\",\"count\":1}",
                           NULL, 0) == 200, "fault");
    vap_check_report *rep;
    CHECK_WITH(rep, NULL);
    int ok = item_is(rep, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG, "Site Address") &&
             item_is(rep, "client", VAP_CHECK_SKIP, 0, NULL);
    k.api->release(rep);
    EXPECT(flowkit_control(&k, "faults",
                           "{\"route\":\"/oauth2/default/.well-known/openid-configuration\","
                           "\"kind\":\"discovery_relative_urls\",\"count\":1}",
                           NULL, 0) == 200, "fault");
    vap_instance *in = NULL;
    vap_authorize_begin_result *b = NULL;
    vap_error err;
    EXPECT(flowkit_instance(&k, &in, &err, NULL) == VAP_OK, "instance");
    VAP_INIT(vap_error, err);
    int rc = k.api->authorize_begin(in, NULL, NULL, &b, &err);
    k.api->release(b);
    k.api->instance_free(in);
    ok &= rc == VAP_E_CONFIG && strstr(err.message, "Site Address") != NULL;
    if (!ok)
        printf("  authorize_begin rc %d: %s\n", rc, err.message);
    return ok ? 0 : 1;
}

static int check_unknown_site_names_the_site_segment(void)
{
    char iss[256], fhir[256];
    snprintf(iss, sizeof iss, "%s/oauth2/clinic2", k.base);
    snprintf(fhir, sizeof fhir, "%s/apis/clinic2/fhir", k.base);
    vap_check_report *rep;
    CHECK_WITH(rep, "issuer", iss, "fhir_base", fhir, NULL);
    int ok = item_is(rep, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG, "site segment");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_issuer_mismatch_fails_discovery(void)
{
    char iss[256];
    snprintf(iss, sizeof iss, "https://localhost:%u/oauth2/default", sim_port(k.sim));
    vap_check_report *rep;
    CHECK_WITH(rep, "issuer", iss, NULL);
    int ok = item_is(rep, "connection", VAP_CHECK_PASS, 0, NULL) &&
             item_is(rep, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG, "issuer") &&
             item_is(rep, "pkce", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_scope_the_server_lacks_fails_scopes(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "scope", FLOW_SCOPE " user/Foo.read", NULL);
    int ok = item_is(rep, "scopes", VAP_CHECK_FAIL, VAP_E_CONFIG, "user/Foo.read");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_patient_scopes_warn(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "scope",
               "openid fhirUser offline_access api:fhir launch/patient patient/Patient.read",
               NULL);
    int ok = item_is(rep, "scopes", VAP_CHECK_WARN, 0, "one patient") && rep->n_warnings >= 1;
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_unregistered_redirect_uri_fails(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "redirect_uri", "http://localhost:8000/other/callback", NULL);
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_FAIL, VAP_E_CONFIG, "API Clients") &&
             item_is(rep, "client", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* OpenEMR compares the redirect URI byte for byte: a trailing slash or
 * another port is another URI, and check must not pass it. */
static int check_redirect_uri_with_a_trailing_slash_or_another_port_fails(void)
{
    static const char *const near[] = {FLOW_REDIRECT "/", "http://localhost:8001/oauth/callback",
                                       "http://127.0.0.1:8000/oauth/callback"};
    int ok = 1;
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        vap_check_report *rep;
        CHECK_WITH(rep, "redirect_uri", near[i], NULL);
        if (!item_is(rep, "redirect_uri", VAP_CHECK_FAIL, VAP_E_CONFIG, "API Clients")) {
            printf("  %s was not refused\n", near[i]);
            ok = 0;
        }
        k.api->release(rep);
    }
    return ok ? 0 : 1;
}

static int check_open_store_fails_store(void)
{
    const char *store = new_store("s-open", NULL, NULL);
    EXPECT(store && chmod(store, 0755) == 0, "setup");
    vap_check_report *rep;
    CHECK_WITH(rep, "store", store, NULL);
    int ok = item_is(rep, "store", VAP_CHECK_FAIL, VAP_E_SEAL, NULL) &&
             item_is(rep, "client", VAP_CHECK_SKIP, 0, NULL) &&
             item_is(rep, "grant", VAP_CHECK_SKIP, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_missing_keyring_fails_store(void)
{
    char ring[192];
    snprintf(ring, sizeof ring, "%s/no-such-keyring", k.dir);
    vap_check_report *rep;
    CHECK_WITH(rep, "keyring", ring, NULL);
    int ok = item_is(rep, "store", VAP_CHECK_FAIL, VAP_E_SEAL, "vap-seal init");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_empty_store_names_secret_and_grant(void)
{
    const char *store = new_store("s-empty", NULL, NULL);
    EXPECT(store != NULL, "setup");
    vap_check_report *rep;
    CHECK_WITH(rep, "store", store, NULL);
    int ok = item_is(rep, "store", VAP_CHECK_PASS, 0, NULL) &&
             item_is(rep, "client", VAP_CHECK_FAIL, VAP_E_CONFIG, "vap-seal put") &&
             item_is(rep, "grant", VAP_CHECK_FAIL, VAP_E_REAUTH_REQUIRED, "authorize");
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* OpenEMR checks the secret only when a real code is exchanged (§12): check
 * cannot know a wrong one, so it says unknown, never a tick. */
static int check_wrong_secret_is_unknown_not_pass(void)
{
    const char *store = new_store("s-wrong", FLOW_CLIENT_ID, "not-the-secret");
    EXPECT(store != NULL, "setup");
    EXPECT(flowkit_control(&k, "quirks", "{\"enabled\":true}", NULL, 0) == 200, "quirks on");
    vap_check_report *rep;
    CHECK_WITH(rep, "store", store, NULL);
    flowkit_control(&k, "quirks", "{\"enabled\":false}", NULL, 0);
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_PASS, 0, NULL) &&
             item_is(rep, "client", VAP_CHECK_PASS, 0, "enabled") &&
             item_is(rep, "secret", VAP_CHECK_UNKNOWN, 0, "vap-host authorize");
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* A client_id the server does not know: refused on the probe renewal. */
static int check_unknown_client_fails_client(void)
{
    const char *store = new_store("s-unknown", "no-such-client", FLOW_SECRET);
    EXPECT(store != NULL, "setup");
    vap_check_report *rep;
    CHECK_WITH(rep, "client_id", "no-such-client", "store", store, NULL);
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_FAIL, VAP_E_CONFIG, NULL) &&
             item_is(rep, "client", VAP_CHECK_FAIL, VAP_E_CLIENT, "unknown or disabled");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_disabled_client_fails_client_until_enabled(void)
{
    EXPECT(enable_client(FLOW_CLIENT_ID, 0) == 0, "disable");
    vap_check_report *rep;
    CHECK_WITH(rep, NULL);
    int ok = item_is(rep, "client", VAP_CHECK_FAIL, VAP_E_CLIENT, "Enable");
    k.api->release(rep);
    EXPECT(enable_client(FLOW_CLIENT_ID, 1) == 0, "enable");
    CHECK_WITH(rep, NULL);
    ok &= item_is(rep, "client", VAP_CHECK_PASS, 0, "enabled");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_without_client_id_says_register(void)
{
    vap_check_report *rep;
    CHECK_WITH(rep, "client_id", NULL, NULL);
    int ok = item_is(rep, "client", VAP_CHECK_FAIL, VAP_E_CONFIG, "vap-host register") &&
             item_is(rep, "redirect_uri", VAP_CHECK_WARN, 0, "no client_id") &&
             item_is(rep, "grant", VAP_CHECK_SKIP, 0, NULL) &&
             item_is(rep, "discovery", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_dead_grant_fails_grant(void)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    const char *store = new_store("s-dead", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "store", store, NULL) == VAP_OK, "setup");
    int rc = flowkit_authorize(&k, in, &gi, &err, NULL, 0);
    k.api->release(gi);
    gi = NULL;
    EXPECT(rc == VAP_OK, "authorize: %s", err.message);
    EXPECT(flowkit_control(&k, "revoke-refresh-tokens", "{}", NULL, 0) == 200, "revoke");
    VAP_INIT(vap_error, err);
    rc = k.api->refresh(in, NULL, &gi, &err);
    k.api->release(gi);
    EXPECT(rc == VAP_E_REAUTH_REQUIRED, "refresh rc %d: %s", rc, err.message);
    vap_check_report *rep = run_check(in);
    k.api->instance_free(in);
    int ok = item_is(rep, "grant", VAP_CHECK_FAIL, VAP_E_REAUTH_REQUIRED, "authorize again");
    k.api->release(rep);
    return ok ? 0 : 1;
}

static int check_grant_without_configured_scopes_warns(void)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    vap_authorize_begin_result *b = NULL;
    vap_error err;
    const char *store = new_store("s-narrow", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "store", store, NULL) == VAP_OK, "setup");
    vap_authorize_request req;
    VAP_INIT(vap_authorize_request, req);
    req.scope = "openid fhirUser offline_access api:fhir user/Patient.read";
    VAP_INIT(vap_error, err);
    int rc = k.api->authorize_begin(in, NULL, &req, &b, &err);
    char loc[4096] = "";
    long status = 0;
    if (rc == VAP_OK && flowkit_get_location(&k, b->url, &status, loc, sizeof loc) == 0) {
        VAP_INIT(vap_error, err);
        rc = k.api->authorize_complete(in, NULL, loc, strlen(loc), &gi, &err);
    }
    k.api->release(b);
    k.api->release(gi);
    EXPECT(rc == VAP_OK && loc[0], "narrow authorize: %s", err.message);
    vap_check_report *rep = run_check(in);
    k.api->instance_free(in);
    int ok = item_is(rep, "grant", VAP_CHECK_WARN, 0, "user/Appointment.read");
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* check asks the token endpoint with a made-up code: the stored grant is
 * neither spent nor rewritten, and still refreshes afterwards. */
static int check_leaves_the_grant_untouched(void)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL, *after = NULL;
    vap_error err;
    const char *store = new_store("s-untouched", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "store", store, NULL) == VAP_OK, "setup");
    int rc = flowkit_authorize(&k, in, &gi, &err, NULL, 0);
    EXPECT(rc == VAP_OK, "authorize: %s", err.message);
    uint64_t gen = gi->generation;
    k.api->release(gi);
    long refreshes = flowkit_counter(&k, "token_requests.refresh_token");
    vap_check_report *rep = run_check(in);
    k.api->release(rep);
    VAP_INIT(vap_error, err);
    rc = k.api->status(in, NULL, &after, &err);
    int same = rc == VAP_OK && after->generation == gen && after->state == VAP_GRANT_VALID;
    k.api->release(after);
    after = NULL;
    long refreshes_after_check = flowkit_counter(&k, "token_requests.refresh_token");
    VAP_INIT(vap_error, err);
    rc = k.api->refresh(in, NULL, &after, &err);
    k.api->release(after);
    k.api->instance_free(in);
    EXPECT(same, "the grant changed during check");
    /* One renewal request, with a made-up refresh token (the client probe):
     * it rotates nothing. */
    EXPECT(refreshes_after_check == refreshes + 1, "check made %ld refresh requests, want 1",
           refreshes_after_check - refreshes);
    EXPECT(rc == VAP_OK, "refresh after check: %s", err.message);
    return 0;
}

static const struct admin_case cases[] = {
    ADMIN_CASE(check_all_pass_after_authorize),
    ADMIN_CASE(check_untrusted_ca_fails_connection_with_tls),
    ADMIN_CASE(check_unreachable_server_fails_connection),
    ADMIN_CASE(check_404_names_the_api_switch),
    ADMIN_CASE(check_relative_discovery_names_site_address),
    ADMIN_CASE(check_unknown_site_names_the_site_segment),
    ADMIN_CASE(check_issuer_mismatch_fails_discovery),
    ADMIN_CASE(check_scope_the_server_lacks_fails_scopes),
    ADMIN_CASE(check_patient_scopes_warn),
    ADMIN_CASE(check_unregistered_redirect_uri_fails),
    ADMIN_CASE(check_redirect_uri_with_a_trailing_slash_or_another_port_fails),
    ADMIN_CASE(check_open_store_fails_store),
    ADMIN_CASE(check_missing_keyring_fails_store),
    ADMIN_CASE(check_empty_store_names_secret_and_grant),
    ADMIN_CASE(check_wrong_secret_is_unknown_not_pass),
    ADMIN_CASE(check_unknown_client_fails_client),
    ADMIN_CASE(check_disabled_client_fails_client_until_enabled),
    ADMIN_CASE(check_without_client_id_says_register),
    ADMIN_CASE(check_dead_grant_fails_grant),
    ADMIN_CASE(check_grant_without_configured_scopes_warns),
    ADMIN_CASE(check_leaves_the_grant_untouched),
};

int main(int argc, char **argv)
{
    return admin_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
