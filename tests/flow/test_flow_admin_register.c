/* test_flow_admin_register.c - register against the simulator: a
 * confidential client, created disabled with user/ scopes unless the server
 * says otherwise, enabled by the admin; enabled at once with patient scopes;
 * refused before anything is sent when it cannot keep the secret.
 *
 * Usage: test-flow-admin-register PLUGIN.so [CASE | PREFIX*] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_kit.h"
#include "vapseal.h"

/* ---- register ---------------------------------------------------------------- */

/* A store that already holds a client's secret: registering again seals the
 * new one and keeps the old as client_secret.previous (vap-seal restore
 * brings it back), since no one has seen either. */
static int register_keeps_the_secret_it_replaces(void)
{
    static const char old_secret[] = "the-secret-registered-before-4c1d";
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *store = new_store("s-reg-again", "client-registered-before", old_secret);
    EXPECT(store && flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, NULL) ==
                        VAP_OK, "setup: %s", err.message);
    int rc = do_register(in, &res, &err);
    k.api->instance_free(in);
    EXPECT(rc == VAP_OK, "register: %s", err.message);
    k.api->release(res);
    seal_err se = {0};
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *sec = NULL;
    seal_binding old_bind = {k.issuer, "client-registered-before"};
    int read = seal_store_open(store, &st, &se) == 0 &&
               seal_keyring_load(k.keyring, (uid_t)-1, &ring, &se) == 0 &&
               seal_secret_new(&sec, &se) == 0 &&
               seal_store_read(st, ring, "client_secret.previous", &old_bind, sec, &se) == 0;
    int same = read && seal_secret_size(sec) == strlen(old_secret) &&
               memcmp(seal_secret_data(sec), old_secret, strlen(old_secret)) == 0;
    seal_secret_free(sec);
    seal_keyring_free(ring);
    seal_store_close(st);
    EXPECT(read, "client_secret.previous: %s", se.message);
    EXPECT(same, "client_secret.previous holds another value");
    return 0;
}

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

static const struct admin_case cases[] = {
    ADMIN_CASE(register_user_scopes_disabled_then_enabled),
    ADMIN_CASE(register_user_scopes_enabled_by_server_says_enabled),
    ADMIN_CASE(register_keeps_the_secret_it_replaces),
    ADMIN_CASE(register_patient_scopes_enabled_at_once),
    ADMIN_CASE(register_manual_approval_says_disabled),
    ADMIN_CASE(register_refused_when_client_id_configured),
    ADMIN_CASE(register_refused_before_server_when_store_unusable),
    ADMIN_CASE(register_scope_the_server_refuses_is_config),
};

int main(int argc, char **argv)
{
    return admin_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
