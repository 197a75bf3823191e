/* test_flow_admin_backend.c - the admin path for SMART Backend Services
 * (grant=client_credentials) against the simulator: register --backend sends
 * the key vap-seal keygen sealed (inline, or by jwks_uri) and binds it to
 * the new client; check asks for a real client_credentials token and says
 * which of key, published JWKS, system scopes and client is wrong.
 *
 * Usage: test-flow-admin-backend PLUGIN.so [CASE | PREFIX*] */
#include <gnutls/abstract.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_kit.h"
#include "clientkey.h"
#include "vapseal.h"

#define BK_SCOPE "api:fhir system/Patient.read system/Appointment.read"

static void system_scopes(int on)
{
    flowkit_control(&k, "system-scopes", on ? "{\"enabled\":true}" : "{\"enabled\":false}", NULL,
                    0);
}

/* A store holding a signing key sealed as vap-seal keygen seals it before
 * registration (bound to the issuer alone); its kid and public JWKS out. */
static const char *store_with_key(const char *name, char kid[CKEY_KID_MAX], char *jwks,
                                  size_t cap)
{
    const char *store = new_store(name, NULL, NULL);
    struct ckey_set set = {0};
    gnutls_privkey_t key = NULL;
    char jwk[CKEY_JWK_MAX];
    uint8_t img[6 + CKEY_MAX_KEYS * (4 + CKEY_DER_MAX)];
    size_t len = 0;
    seal_err se = {0};
    seal_store *st = NULL;
    seal_binding bind = {k.issuer, CKEY_UNREGISTERED};
    int ok = store != NULL && ckey_set_generate(&set, CKEY_RS384, CKEY_CURRENT) == CKEY_OK &&
             ckey_import(set.k[0].der, set.k[0].der_len, &key) == CKEY_OK &&
             ckey_public_jwk(key, CKEY_RS384, jwk, sizeof jwk, kid) == CKEY_OK &&
             ckey_set_serialize(&set, img, sizeof img, &len) == CKEY_OK &&
             seal_store_open(store, &st, &se) == 0 &&
             seal_store_put(st, k.keyring, CKEY_ITEM, &bind, img, len, NULL, &se) == 0;
    if (key != NULL)
        gnutls_privkey_deinit(key);
    ckey_set_clear(&set);
    seal_store_close(st);
    if (ok && jwks != NULL)
        snprintf(jwks, cap, "{\"keys\":[%s]}", jwk);
    return ok ? store : NULL;
}

/* A backend instance on store (client_id may be NULL), extra pairs after. */
#define BACKEND(in, err, store, id, ...)                                                   \
    flowkit_instance(&k, &(in), &(err), "client_id", (id), "store", (store), "grant",      \
                     "client_credentials", "client_auth", "private_key_jwt", "scope",      \
                     BK_SCOPE, __VA_ARGS__)

static int register_backend(const char *store, const char *jwks_uri, vap_register_result **res,
                            vap_error *err)
{
    vap_instance *in = NULL;
    int rc = BACKEND(in, *err, store, NULL, NULL);
    if (rc != VAP_OK)
        return rc;
    vap_register_request req;
    VAP_INIT(vap_register_request, req);
    req.client_name = "Backend line";
    req.jwks_uri = jwks_uri;
    VAP_INIT(vap_error, *err);
    rc = k.api->register_client(in, NULL, &req, res, err);
    k.api->instance_free(in);
    return rc;
}

/* Hosts body at /_sim/hosted/name; its URL into url. */
static int host_doc(const char *name, const char *body, char *url, size_t cap)
{
    char req[8192], out[512];
    snprintf(req, sizeof req, "{\"name\":\"%s\",\"body\":%s}", name, body);
    if (flowkit_control(&k, "host", req, out, sizeof out) != 200)
        return -1;
    const char *u = strstr(out, "\"url\":\"");
    if (u == NULL)
        return -1;
    u += 7;
    snprintf(url, cap, "%.*s", (int)strcspn(u, "\""), u);
    return 0;
}

/* A real client_credentials token for the registered client. */
static int backend_token(const char *store, const char *id, vap_error *err)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    int rc = BACKEND(in, *err, store, id, NULL);
    if (rc != VAP_OK)
        return rc;
    VAP_INIT(vap_error, *err);
    rc = k.api->refresh(in, NULL, &gi, err);
    k.api->release(gi);
    k.api->instance_free(in);
    return rc;
}

/* ---- register --backend ------------------------------------------------------ */

static int register_backend_without_a_key_names_keygen(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    system_scopes(1);
    const char *store = new_store("s-bk-nokey", NULL, NULL);
    long before = flowkit_counter(&k, "routes.registration");
    int rc = register_backend(store, NULL, &res, &err);
    k.api->release(res);
    char want[512];
    snprintf(want, sizeof want,
             "no signing key is sealed in %s yet: run vap-seal keygen -c CONFIG first (register "
             "--backend sends OpenEMR the public half of that key)",
             store);
    EXPECT(rc == VAP_E_CONFIG && strcmp(err.message, want) == 0, "%d: %s", rc, err.message);
    EXPECT(flowkit_counter(&k, "routes.registration") == before, "the server was asked");
    return 0;
}

static int register_backend_inline_binds_the_key_to_the_new_client(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    char kid[CKEY_KID_MAX], id[128];
    system_scopes(1);
    const char *store = store_with_key("s-bk-inline", kid, NULL, 0);
    EXPECT(store != NULL, "setup");
    int rc = register_backend(store, NULL, &res, &err);
    EXPECT(rc == VAP_OK, "register: %d %s", rc, err.message);
    snprintf(id, sizeof id, "%s", res->client_id);
    char steps[1024];
    snprintf(steps, sizeof steps,
             "OpenEMR creates a backend services client disabled until an administrator "
             "approves it. To enable it: log in to OpenEMR as an administrator; open "
             "Administration > System > API Clients; find \"Backend line\" (client id %.12s...); "
             "click Edit; tick Enable and save. Also keep \"Enable OpenEMR FHIR System Scopes\" "
             "(rest_system_scopes_api) switched on in Administration > Config > Connectors: "
             "while it is off, OpenEMR refuses every system/ scope. Then run: vap-host check",
             id);
    int ok = res->enabled == 0 && strcmp(res->next_steps, steps) == 0 &&
             strcmp(res->key_id, kid) == 0;
    if (!ok)
        printf("  enabled %d key_id %s steps: %s\n", res->enabled, res->key_id, res->next_steps);
    k.api->release(res);
    EXPECT(ok, "result");
    /* disabled as OpenEMR creates it; enabled, the sealed key gets a token */
    rc = backend_token(store, id, &err);
    EXPECT(rc == VAP_E_CLIENT, "token before enabling: %d %s", rc, err.message);
    EXPECT(enable_client(id, 1) == 0, "enable");
    rc = backend_token(store, id, &err);
    EXPECT(rc == VAP_OK, "token with the registered key: %d %s", rc, err.message);
    return 0;
}

static int register_backend_system_scopes_off_names_the_global(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    char kid[CKEY_KID_MAX];
    system_scopes(0);
    const char *store = store_with_key("s-bk-sysoff", kid, NULL, 0);
    int rc = register_backend(store, NULL, &res, &err);
    k.api->release(res);
    system_scopes(1);
    EXPECT(rc == VAP_E_CONFIG &&
               strcmp(err.message,
                      "OpenEMR does not know the system/ scopes (Invalid scope: system/Patient.read"
                      "): an OpenEMR administrator must switch on \"Enable OpenEMR FHIR System "
                      "Scopes\" (rest_system_scopes_api, Administration > Config > Connectors); "
                      "then register again") == 0,
           "%d: %s", rc, err.message);
    return 0;
}

static int register_backend_inline_refused_suggests_jwks_uri(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    char kid[CKEY_KID_MAX];
    system_scopes(1);
    const char *store = store_with_key("s-bk-refused", kid, NULL, 0);
    EXPECT(flowkit_control(&k, "faults",
                           "{\"route\":\"/oauth2/default/registration\",\"kind\":"
                           "\"register_no_inline_jwks\",\"count\":1}",
                           NULL, 0) == 200,
           "fault");
    int rc = register_backend(store, NULL, &res, &err);
    k.api->release(res);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    EXPECT(rc == VAP_E_CONFIG &&
               strcmp(err.message,
                      "OpenEMR refused the public key sent inline (invalid_client_metadata): some "
                      "OpenEMR versions cannot register an inline jwks; publish the output of "
                      "vap-seal jwks at an https URL OpenEMR can reach, then run vap-host register "
                      "--backend --jwks-uri URL") == 0,
           "%d: %s", rc, err.message);
    return 0;
}

static int register_backend_by_jwks_uri_works_where_inline_is_refused(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    char kid[CKEY_KID_MAX], jwks[2048], url[256], id[128];
    system_scopes(1);
    const char *store = store_with_key("s-bk-uri", kid, jwks, sizeof jwks);
    EXPECT(store && host_doc("bk-uri", jwks, url, sizeof url) == 0, "setup");
    flowkit_control(&k, "faults",
                    "{\"route\":\"/oauth2/default/registration\",\"kind\":"
                    "\"register_no_inline_jwks\",\"count\":5}",
                    NULL, 0);
    int rc = register_backend(store, url, &res, &err);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    EXPECT(rc == VAP_OK, "register: %d %s", rc, err.message);
    snprintf(id, sizeof id, "%s", res->client_id);
    int ok = strcmp(res->key_id, kid) == 0 && res->enabled == 0;
    k.api->release(res);
    EXPECT(ok, "result");
    EXPECT(enable_client(id, 1) == 0, "enable");
    rc = backend_token(store, id, &err);
    EXPECT(rc == VAP_OK, "token with the key OpenEMR reads from the URL: %d %s", rc, err.message);
    return 0;
}

static int register_backend_jwks_uri_without_the_key_registers_nothing(void)
{
    vap_register_result *res = NULL;
    vap_error err;
    char kid[CKEY_KID_MAX], url[256], want[512];
    system_scopes(1);
    const char *store = store_with_key("s-bk-urinokey", kid, NULL, 0);
    EXPECT(store && host_doc("bk-empty", "{\"keys\":[]}", url, sizeof url) == 0, "setup");
    long before = flowkit_counter(&k, "routes.registration");
    int rc = register_backend(store, url, &res, &err);
    k.api->release(res);
    snprintf(want, sizeof want,
             "nothing was registered: %s does not list the sealed key (kid %s); publish the "
             "output of vap-seal jwks there first",
             url, kid);
    EXPECT(rc == VAP_E_CONFIG && strcmp(err.message, want) == 0, "%d: %s", rc, err.message);
    EXPECT(flowkit_counter(&k, "routes.registration") == before, "the server was asked");
    return 0;
}

static int register_jwks_uri_without_backend_grant_is_refused(void)
{
    vap_instance *in = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    const char *store = new_store("s-bk-code", NULL, NULL);
    EXPECT(flowkit_instance(&k, &in, &err, "client_id", NULL, "store", store, NULL) == VAP_OK,
           "setup");
    vap_register_request req;
    VAP_INIT(vap_register_request, req);
    req.jwks_uri = "https://keys.example.org/jwks.json";
    VAP_INIT(vap_error, err);
    int rc = k.api->register_client(in, NULL, &req, &res, &err);
    k.api->release(res);
    k.api->instance_free(in);
    EXPECT(rc == VAP_E_INVAL &&
               strcmp(err.message, "a jwks_uri is registered for backend services only: add "
                                   "grant=client_credentials client_auth=private_key_jwt to the "
                                   "config line") == 0,
           "%d: %s", rc, err.message);
    return 0;
}

/* ---- check ------------------------------------------------------------------- */

/* A registered backend client on a store of its own: id and kid out. */
static const char *registered(const char *name, int by_uri, char kid[CKEY_KID_MAX], char *id,
                              size_t cap)
{
    char jwks[2048], url[256];
    vap_register_result *res = NULL;
    vap_error err;
    system_scopes(1);
    const char *store = store_with_key(name, kid, jwks, sizeof jwks);
    if (store == NULL || (by_uri && host_doc(name, jwks, url, sizeof url) != 0))
        return NULL;
    int rc = register_backend(store, by_uri ? url : NULL, &res, &err);
    if (rc != VAP_OK) {
        printf("  register: %s\n", err.message);
        return NULL;
    }
    snprintf(id, cap, "%s", res->client_id);
    k.api->release(res);
    return store;
}

static vap_check_report *check_backend_instance(const char *store, const char *id,
                                                const char *jwks_uri)
{
    vap_instance *in = NULL;
    vap_error err;
    if (BACKEND(in, err, store, id, "jwks_uri", jwks_uri, NULL) != VAP_OK) {
        printf("  instance: %s\n", err.message);
        return NULL;
    }
    vap_check_report *rep = run_check(in);
    k.api->instance_free(in);
    return rep;
}

/* The item's message is exactly want (result and, with FAIL, code too). */
static int item_exact(const vap_check_report *rep, const char *name, int result, int code,
                      const char *want)
{
    const vap_check_item *it = item(rep, name);
    int ok = item_is(rep, name, result, code, NULL) && strcmp(it->message, want) == 0;
    if (!ok)
        printf("  %s:\n    got:  %s\n    want: %s\n", name, it->message, want);
    return ok;
}

static int check_backend_enabled_client_gets_a_real_token(void)
{
    char kid[CKEY_KID_MAX], id[128], want[512];
    const char *store = registered("s-ck-ok", 0, kid, id, sizeof id);
    EXPECT(store && enable_client(id, 1) == 0, "setup");
    vap_check_report *rep = check_backend_instance(store, id, NULL);
    EXPECT(rep != NULL, "no report");
    int ok = rep->n_failed == 0 &&
             item_exact(rep, "pkce", VAP_CHECK_SKIP, 0,
                        "not needed: grant=client_credentials has no authorization step") &&
             item_exact(rep, "redirect_uri", VAP_CHECK_SKIP, 0,
                        "not checked: grant=client_credentials has no browser sign-in, so "
                        "OpenEMR never redirects to it") &&
             item_exact(rep, "grant", VAP_CHECK_SKIP, 0,
                        "not checked: grant=client_credentials keeps no grant; a token is asked "
                        "for when needed (the token item above asked for one)") &&
             item_exact(rep, "scopes", VAP_CHECK_WARN, 0,
                        "scope uses system/ scopes, which are practice-wide by nature: the token "
                        "reads every patient's records, and OpenEMR's audit log shows each "
                        "request as its API system user, not a staff member") &&
             item_exact(rep, "system_scopes", VAP_CHECK_PASS, 0,
                        "on: OpenEMR granted the configured system/ scopes");
    snprintf(want, sizeof want, "signing key sealed (RS384, kid %s)", kid);
    ok = ok && item_exact(rep, "key", VAP_CHECK_PASS, 0, want);
    snprintf(want, sizeof want,
             "whether OpenEMR holds key %s is not known here: the key was registered inline (or "
             "by hand), and OpenEMR shows no client's registered keys; the token request below "
             "tells whether it accepts the key",
             kid);
    ok = ok && item_exact(rep, "jwks", VAP_CHECK_UNKNOWN, 0, want);
    snprintf(want, sizeof want,
             "OpenEMR issued a client_credentials token (valid 60 s) to client_id=%s signing "
             "with key %s: the client is enabled and its key registered; the token was wiped, "
             "not kept",
             id, kid);
    ok = ok && item_exact(rep, "token", VAP_CHECK_PASS, 0, want) &&
         item_is(rep, "fhir", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    EXPECT(ok, "report");
    return 0;
}

/* check's token request is a question: no token metric a monitor sees. */
static int check_backend_token_request_is_not_counted(void)
{
    char kid[CKEY_KID_MAX], id[128];
    const char *store = registered("s-ck-metric", 0, kid, id, sizeof id);
    EXPECT(store && enable_client(id, 1) == 0, "setup");
    static const char *const names[] = {VAP_METRIC_TOKEN_OK, VAP_METRIC_TOKEN_REAUTH,
                                        VAP_METRIC_TOKEN_CLIENT, VAP_METRIC_TOKEN_UNAVAILABLE,
                                        VAP_METRIC_TOKEN_OTHER, VAP_METRIC_TOKEN_MS};
    int before = 0, after = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        before += fakehost_metric_count(k.fh, names[i]);
    vap_check_report *rep = check_backend_instance(store, id, NULL);
    int issued = item_is(rep, "token", VAP_CHECK_PASS, 0, NULL);
    k.api->release(rep);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        after += fakehost_metric_count(k.fh, names[i]);
    EXPECT(issued, "no token issued");
    EXPECT(after == before, "%d token metrics from check", after - before);
    return 0;
}

static int check_backend_disabled_client_is_named(void)
{
    char kid[CKEY_KID_MAX], id[128], want[768];
    const char *store = registered("s-ck-off", 0, kid, id, sizeof id);
    EXPECT(store != NULL, "setup");
    vap_check_report *rep = check_backend_instance(store, id, NULL);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "OpenEMR refused client_id=%s signing with key %s (invalid_client: Client "
             "authentication failed): the client is disabled (new backend clients are: "
             "Administration > System > API Clients > Edit > Enable), or its registered keys "
             "lack %s (register the output of vap-seal jwks)",
             id, kid, kid);
    int ok = item_exact(rep, "token", VAP_CHECK_FAIL, VAP_E_CLIENT, want) &&
             item_exact(rep, "system_scopes", VAP_CHECK_UNKNOWN, 0,
                        "not known: OpenEMR refused the client before it looked at the scopes");
    k.api->release(rep);
    EXPECT(ok, "report");
    return 0;
}

static int check_backend_unknown_key_is_named(void)
{
    char kid[CKEY_KID_MAX], other[CKEY_KID_MAX], id[128], jwks[2048], body[4096], want[768];
    const char *store = registered("s-ck-key", 0, kid, id, sizeof id);
    EXPECT(store && enable_client(id, 1) == 0, "setup");
    /* the admin's copy of the client now holds another key only */
    EXPECT(store_with_key("s-ck-key-other", other, jwks, sizeof jwks) != NULL, "other key");
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"jwks\":%s}", id, jwks);
    EXPECT(flowkit_control(&k, "client-jwks", body, NULL, 0) == 200, "client-jwks");
    vap_check_report *rep = check_backend_instance(store, id, NULL);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "unknown key: OpenEMR does not accept key %s for client_id=%s (invalid_client: No "
             "key with kid %s is registered for this client): register the output of vap-seal "
             "jwks with the client",
             kid, id, kid);
    int ok = item_exact(rep, "token", VAP_CHECK_FAIL, VAP_E_CLIENT, want);
    k.api->release(rep);
    EXPECT(ok, "report");
    return 0;
}

static int check_backend_system_scopes_off_names_the_switch(void)
{
    char kid[CKEY_KID_MAX], id[128], want[512];
    const char *store = registered("s-ck-sys", 0, kid, id, sizeof id);
    EXPECT(store && enable_client(id, 1) == 0, "setup");
    system_scopes(0);
    vap_check_report *rep = check_backend_instance(store, id, NULL);
    system_scopes(1);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "no token: OpenEMR accepted client_id=%s and key %s (it checks the client first) "
             "but refused the scopes; see system_scopes",
             id, kid);
    int ok = item_exact(rep, "system_scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                        "off: OpenEMR refused system/Patient.read (invalid_scope) and lists no "
                        "system/ scopes; an OpenEMR administrator must switch on \"Enable "
                        "OpenEMR FHIR System Scopes\" (rest_system_scopes_api, Administration > "
                        "Config > Connectors)") &&
             item_exact(rep, "token", VAP_CHECK_FAIL, VAP_E_CONFIG, want) &&
             /* the scopes item leaves system/ scopes to the token request */
             item_is(rep, "scopes", VAP_CHECK_WARN, 0, "practice-wide");
    k.api->release(rep);
    EXPECT(ok, "report");
    return 0;
}

static int check_backend_jwks_uri_is_read_and_compared(void)
{
    char kid[CKEY_KID_MAX], id[128], url[256], want[768];
    const char *store = registered("s-ck-uri", 1, kid, id, sizeof id);
    EXPECT(store != NULL, "setup");
    /* the URL the registration used, served by the simulator */
    snprintf(url, sizeof url, "%s/_sim/hosted/s-ck-uri", k.base);
    vap_check_report *rep = check_backend_instance(store, id, url);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "jwks_uri %s lists the sealed key %s (OpenEMR reads the client's keys there)", url,
             kid);
    int ok = item_exact(rep, "jwks", VAP_CHECK_PASS, 0, want);
    /* published, yet refused: the client is disabled */
    snprintf(want, sizeof want,
             "disabled client: OpenEMR refused client_id=%s (invalid_client: Client "
             "authentication failed) though its jwks_uri lists key %s; enable it: Administration "
             "> System > API Clients > Edit > Enable",
             id, kid);
    ok = ok && item_exact(rep, "token", VAP_CHECK_FAIL, VAP_E_CLIENT, want);
    k.api->release(rep);
    EXPECT(ok, "report (published, disabled)");
    /* the document loses the key: check says so before OpenEMR refuses */
    EXPECT(enable_client(id, 1) == 0 && host_doc("s-ck-uri", "{\"keys\":[]}", url, sizeof url) == 0,
           "setup 2");
    rep = check_backend_instance(store, id, url);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "%s does not list the sealed key %s, so OpenEMR cannot verify this client's token "
             "requests: publish the output of vap-seal jwks there",
             url, kid);
    ok = item_exact(rep, "jwks", VAP_CHECK_FAIL, VAP_E_CLIENT, want) &&
         item_is(rep, "token", VAP_CHECK_FAIL, VAP_E_CLIENT, "unknown key: ");
    k.api->release(rep);
    EXPECT(ok, "report (not published)");
    return 0;
}

static int check_backend_before_registration_names_the_next_step(void)
{
    char kid[CKEY_KID_MAX], want[512];
    const char *store = store_with_key("s-ck-noid", kid, NULL, 0);
    EXPECT(store != NULL, "setup");
    vap_check_report *rep = check_backend_instance(store, NULL, NULL);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want, "signing key sealed (RS384, kid %s)", kid);
    int ok = item_exact(rep, "key", VAP_CHECK_PASS, 0, want) &&
             item_exact(rep, "system_scopes", VAP_CHECK_SKIP, 0,
                        "not checked: no client_id yet") &&
             item_exact(rep, "token", VAP_CHECK_FAIL, VAP_E_CONFIG,
                        "no client_id in the config: run vap-host register --backend (after "
                        "vap-seal keygen), or copy the Client ID from Administration > System > "
                        "API Clients into client_id=");
    k.api->release(rep);
    EXPECT(ok, "report with a key");
    store = new_store("s-ck-nokey", NULL, NULL);
    rep = check_backend_instance(store, NULL, NULL);
    EXPECT(rep != NULL, "no report");
    snprintf(want, sizeof want,
             "no signing key is sealed in %s: run vap-seal keygen -c CONFIG, then vap-host "
             "register --backend",
             store);
    ok = item_exact(rep, "key", VAP_CHECK_FAIL, VAP_E_CONFIG, want) &&
         item_exact(rep, "jwks", VAP_CHECK_SKIP, 0, "not checked: no usable signing key");
    k.api->release(rep);
    EXPECT(ok, "report without a key");
    return 0;
}

static int check_backend_key_of_another_client_is_named(void)
{
    char kid[CKEY_KID_MAX];
    /* made before registration, then the client_id copied in by hand */
    const char *store = store_with_key("s-ck-bound", kid, NULL, 0);
    EXPECT(store != NULL, "setup");
    vap_check_report *rep = check_backend_instance(store, "copied-by-hand", NULL);
    EXPECT(rep != NULL, "no report");
    int ok = item_exact(rep, "key", VAP_CHECK_FAIL, VAP_E_SEAL,
                        "the sealed signing key belongs to another client than "
                        "client_id=copied-by-hand (or to none yet): remove client_id= and run "
                        "vap-host register --backend, which ties the key to the client it "
                        "registers") &&
             item_exact(rep, "token", VAP_CHECK_SKIP, 0, "not asked for: no usable signing key");
    k.api->release(rep);
    EXPECT(ok, "report");
    /* and a token request on that line says the same, in the words of the key */
    vap_error err;
    char want[512];
    int rc = backend_token(store, "copied-by-hand", &err);
    snprintf(want, sizeof want,
             "the signing key sealed in %s belongs to another client than "
             "client_id=copied-by-hand (or to none yet, made before registration): on a line "
             "without client_id, vap-host register --backend ties it to the client it registers",
             store);
    EXPECT(rc == VAP_E_SEAL && strcmp(err.message, want) == 0, "%d: %s", rc, err.message);
    return 0;
}

static const struct admin_case cases[] = {
    ADMIN_CASE(register_backend_without_a_key_names_keygen),
    ADMIN_CASE(register_backend_inline_binds_the_key_to_the_new_client),
    ADMIN_CASE(register_backend_system_scopes_off_names_the_global),
    ADMIN_CASE(register_backend_inline_refused_suggests_jwks_uri),
    ADMIN_CASE(register_backend_by_jwks_uri_works_where_inline_is_refused),
    ADMIN_CASE(register_backend_jwks_uri_without_the_key_registers_nothing),
    ADMIN_CASE(register_jwks_uri_without_backend_grant_is_refused),
    ADMIN_CASE(check_backend_enabled_client_gets_a_real_token),
    ADMIN_CASE(check_backend_token_request_is_not_counted),
    ADMIN_CASE(check_backend_disabled_client_is_named),
    ADMIN_CASE(check_backend_unknown_key_is_named),
    ADMIN_CASE(check_backend_system_scopes_off_names_the_switch),
    ADMIN_CASE(check_backend_jwks_uri_is_read_and_compared),
    ADMIN_CASE(check_backend_before_registration_names_the_next_step),
    ADMIN_CASE(check_backend_key_of_another_client_is_named),
};

int main(int argc, char **argv)
{
    return admin_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
