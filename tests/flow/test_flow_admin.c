/* test_flow_admin.c - the practice admin's path against the simulator
 * register (confidential client, created disabled with user/
 * scopes, enabled by the admin; enabled at once with patient scopes; refused
 * before anything is sent when it cannot keep the secret), and check: the
 * pass and the fail path of every item.
 *
 * Usage: test-flow-admin PLUGIN.so [CASE | PREFIX*] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flowkit.h"
#include "vapseal.h"

static struct flowkit k;
static int failures;

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("  line %d: ", __LINE__);                                               \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* ---- helpers ---------------------------------------------------------------- */

/* A new 0700 store under the kit's dir; with secret, seal it for issuer and
 * client_id. */
static const char *new_store_for(const char *issuer, const char *name, const char *client_id,
                                 const char *secret)
{
    static char path[8][160];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 160, "%s/%s", k.dir, name);
    if (mkdir(p, 0700) != 0)
        return NULL;
    if (secret != NULL) {
        seal_err se = {0};
        seal_store *st = NULL;
        seal_binding bind = {issuer, client_id};
        int rc = seal_store_open(p, &st, &se) != 0 ||
                 seal_store_put(st, k.keyring, "client_secret", &bind,
                                (const uint8_t *)secret, strlen(secret), NULL, &se) != 0;
        seal_store_close(st);
        if (rc)
            return NULL;
    }
    return p;
}

static const char *new_store(const char *name, const char *client_id, const char *secret)
{
    return new_store_for(k.issuer, name, client_id, secret);
}

static vap_check_report *run_check(vap_instance *in)
{
    vap_check_report *rep = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (k.api->check(in, NULL, &rep, &err) != VAP_OK) {
        printf("  check failed: %s\n", err.message);
        return NULL;
    }
    return rep;
}

static const vap_check_item *item(const vap_check_report *rep, const char *name)
{
    for (size_t i = 0; rep && i < rep->n_items; i++)
        if (strcmp(rep->items[i]->name, name) == 0)
            return rep->items[i];
    static const vap_check_item missing = {sizeof missing, 0, "missing", -1, 0, "(no such item)"};
    return &missing;
}

/* The item has result (and, with FAIL, code) and its message carries word. */
static int item_is(const vap_check_report *rep, const char *name, int result, int code,
                   const char *word)
{
    const vap_check_item *it = item(rep, name);
    int ok = it->result == result && (result != VAP_CHECK_FAIL || it->code == code) &&
             (word == NULL || strstr(it->message, word) != NULL);
    if (!ok)
        printf("  %s: result %d code %d (want %d/%d, \"%s\"): %s\n", name, it->result,
               it->code, result, code, word ? word : "", it->message);
    return ok;
}

/* check() on an instance made with the extra options (pairs, NULL-ended). */
#define CHECK_WITH(rep, ...)                                                               \
    do {                                                                                   \
        vap_instance *in_ = NULL;                                                          \
        vap_error e_;                                                                      \
        int rc_ = flowkit_instance(&k, &in_, &e_, __VA_ARGS__);                            \
        EXPECT(rc_ == VAP_OK, "instance_new: %s", e_.message);                             \
        rep = run_check(in_);                                                              \
        k.api->instance_free(in_);                                                         \
        EXPECT(rep != NULL, "no report");                                                  \
    } while (0)

static int enable_client(const char *id, int enabled)
{
    char body[256];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"enabled\":%s}", id,
             enabled ? "true" : "false");
    return flowkit_control(&k, "clients/enable", body, NULL, 0) == 200 ? 0 : -1;
}

static int do_register(vap_instance *in, vap_register_result **res, vap_error *err)
{
    vap_register_request req;
    VAP_INIT(vap_register_request, req);
    req.client_name = "Front desk phone";
    VAP_INIT(vap_error, *err);
    return k.api->register_client(in, NULL, &req, res, err);
}

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

/* ---- register ---------------------------------------------------------------- */

static int register_user_scopes_disabled_then_enabled(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *store = new_store("s-reg-user", NULL, NULL);
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, NULL) ==
                        VAP_OK, "setup: %s", err.message);
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc == VAP_OK, "register: %s", err.message);
    char id[128];
    snprintf(id, sizeof id, "%s", res->client_id);
    int disabled = res->enabled == 0 && strstr(res->next_steps, "API Clients") != NULL &&
                   strstr(res->next_steps, "Enable") != NULL &&
                   strstr(res->next_steps, "Front desk phone") != NULL;
    k.api->release(res);
    EXPECT(strlen(id) == 43, "client_id %s", id);
    EXPECT(disabled, "not reported disabled with the steps");
    /* The sealed secret is the new client's: check finds it, bound to the id. */
    vap_check_report *rep;
    CHECK_WITH(rep, "client_id", id, "store", store, NULL);
    int ok = item_is(rep, "client", VAP_CHECK_FAIL, VAP_E_CLIENT, "disabled") &&
             item_is(rep, "redirect_uri", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    EXPECT(ok, "disabled client not reported");
    EXPECT(enable_client(id, 1) == 0, "enable");
    CHECK_WITH(rep, "client_id", id, "store", store, NULL);
    ok = item_is(rep, "client", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    EXPECT(ok, "enabled client not accepted");
    /* And the whole flow works with it. */
    vap_grant_info *gi = NULL;
    EXPECT(flowkit_instance(&k, &in, &err, "client_id", id, "store", store, NULL) == VAP_OK,
           "instance");
    rc = flowkit_authorize(&k, in, &gi, &err, NULL, 0);
    k.api->release(gi);
    k.api->instance_free(in);
    EXPECT(rc == VAP_OK, "authorize with the registered client: %s", err.message);
    return 0;
}

/* The server's answer outranks the rule: a client with user/ scopes that
 * the token endpoint treats as enabled is reported enabled. */
static int register_user_scopes_enabled_by_server_says_enabled(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *store = new_store("s-reg-user-on", NULL, NULL);
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, NULL) ==
                        VAP_OK, "setup: %s", err.message);
    EXPECT(flowkit_control(&k, "faults", "{\"route\":\"/oauth2/default/registration\","
                                         "\"kind\":\"register_enabled\",\"count\":1}",
                           NULL, 0) == 200, "fault");
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    EXPECT(rc == VAP_OK, "register: %s", err.message);
    int enabled = res->enabled == 1 && res->next_steps[0] == '\0';
    EXPECT(enabled, "enabled %d, steps: %s", res->enabled, res->next_steps);
    k.api->release(res);
    return 0;
}

static int register_patient_scopes_enabled_at_once(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *scope = "openid fhirUser offline_access api:fhir launch/patient "
                        "patient/Patient.read";
    const char *store = new_store("s-reg-patient", NULL, NULL);
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, "scope",
                                     scope, NULL) == VAP_OK, "setup: %s", err.message);
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc == VAP_OK, "register: %s", err.message);
    int ok = res->enabled == 1 && res->next_steps[0] == '\0';
    char id[128];
    snprintf(id, sizeof id, "%s", res->client_id);
    k.api->release(res);
    EXPECT(ok, "not reported enabled");
    vap_check_report *rep;
    CHECK_WITH(rep, "client_id", id, "store", store, "scope", scope, NULL);
    ok = item_is(rep, "client", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    return ok ? 0 : 1;
}

/* With the practice's manual approval on, even a patient-scope client
 * starts disabled: register learns it from the server and says so. */
static int register_manual_approval_says_disabled(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *scope = "openid fhirUser offline_access api:fhir launch/patient "
                        "patient/Patient.read";
    const char *store = new_store("s-reg-manual", NULL, NULL);
    EXPECT(flowkit_control(&k, "manual-approval", "{\"enabled\":true}", NULL, 0) == 200,
           "manual approval on");
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, "scope",
                                     scope, NULL) == VAP_OK, "setup: %s", err.message);
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    flowkit_control(&k, "manual-approval", "{\"enabled\":false}", NULL, 0);
    EXPECT(rc == VAP_OK, "register: %s", err.message);
    int ok = res->enabled == 0 && strstr(res->next_steps, "by hand") != NULL &&
             strstr(res->next_steps, "Enable") != NULL;
    k.api->release(res);
    EXPECT(ok, "not reported disabled");
    return 0;
}

static int register_refused_when_client_id_configured(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    long before = flowkit_counter(&k, "routes.registration");
    EXPECT(flowkit_instance(&k, &in, &err, NULL) == VAP_OK, "setup");
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc == VAP_E_CONFIG && res == NULL && strstr(err.message, "client_id") != NULL,
           "rc %d: %s", rc, err.message);
    EXPECT(flowkit_counter(&k, "routes.registration") == before, "the server was asked");
    return 0;
}

static int register_refused_before_server_when_store_unusable(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    char store[192];
    snprintf(store, sizeof store, "%s/no-such-store", k.dir);
    long before = flowkit_counter(&k, "routes.registration");
    EXPECT(flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, NULL) == VAP_OK,
           "setup");
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc != VAP_OK && res == NULL, "register succeeded without a store");
    EXPECT(flowkit_counter(&k, "routes.registration") == before,
           "a client was registered whose secret could not be kept");
    return 0;
}

static int register_scope_the_server_refuses_is_config(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *store = new_store("s-reg-badscope", NULL, NULL);
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, "scope",
                                     FLOW_SCOPE " user/Foo.read", NULL) == VAP_OK, "setup");
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc == VAP_E_CONFIG && strstr(err.message, "scope") != NULL &&
               strcmp(err.oauth_error, "invalid_scope") == 0, "rc %d: %s", rc, err.message);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(void);
} cases[] = {
#define CASE(f) {#f, f}
    CASE(check_all_pass_after_authorize),
    CASE(check_untrusted_ca_fails_connection_with_tls),
    CASE(check_unreachable_server_fails_connection),
    CASE(check_404_names_the_api_switch),
    CASE(check_relative_discovery_names_site_address),
    CASE(check_unknown_site_names_the_site_segment),
    CASE(check_issuer_mismatch_fails_discovery),
    CASE(check_scope_the_server_lacks_fails_scopes),
    CASE(check_patient_scopes_warn),
    CASE(check_unregistered_redirect_uri_fails),
    CASE(check_open_store_fails_store),
    CASE(check_missing_keyring_fails_store),
    CASE(check_empty_store_names_secret_and_grant),
    CASE(check_wrong_secret_is_unknown_not_pass),
    CASE(check_unknown_client_fails_client),
    CASE(check_disabled_client_fails_client_until_enabled),
    CASE(check_without_client_id_says_register),
    CASE(check_dead_grant_fails_grant),
    CASE(check_grant_without_configured_scopes_warns),
    CASE(check_leaves_the_grant_untouched),
    CASE(register_user_scopes_disabled_then_enabled),
    CASE(register_user_scopes_enabled_by_server_says_enabled),
    CASE(register_patient_scopes_enabled_at_once),
    CASE(register_manual_approval_says_disabled),
    CASE(register_refused_when_client_id_configured),
    CASE(register_refused_before_server_when_store_unusable),
    CASE(register_scope_the_server_refuses_is_config),
#undef CASE
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [CASE]\n", argv[0]);
        return 2;
    }
    if (flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    size_t ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* argv[2]: one case, or a prefix ending in '*' (meson runs the check_*
         * and register_* halves in parallel: each is slow under valgrind). */
        size_t plen = argc > 2 ? strlen(argv[2]) : 0;
        if (argc > 2 && (plen > 0 && argv[2][plen - 1] == '*'
                             ? strncmp(argv[2], cases[i].name, plen - 1) != 0
                             : strcmp(argv[2], cases[i].name) != 0))
            continue;
        ran++;
        int rc = cases[i].fn();
        printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", cases[i].name);
        failures += rc != 0;
    }
    flowkit_stop(&k);
    printf("%zu passed, %d failed\n", ran - (size_t)failures, failures);
    return failures || ran == 0 ? 1 : 0;
}
