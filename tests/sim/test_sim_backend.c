/* test_sim_backend.c: SMART Backend Services as OpenEMR serves it
 * (OPENEMR.md §11): client_credentials only with a jwt-bearer assertion,
 * registration with grant_types ["client_credentials"] only for a
 * confidential client with keys and system/ scopes, and system/ scopes
 * unknown while rest_system_scopes_api is off.  The signed-assertion path
 * itself is exercised end to end by flow-backend. */
#include <string.h>

#include "test_sim.h"

static long reg(const char *body, json_t **out)
{
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    t_req("POST", "/oauth2/default/registration", hs, body, &r);
    *out = t_json(&r);
    long st = r.status;
    t_resp_free(&r);
    return st;
}

#define BK_REG(app, keys, scope)                                                          \
    "{\"application_type\":\"" app "\",\"redirect_uris\":[\"" REDIRECT "\"],"             \
    "\"token_endpoint_auth_method\":\"private_key_jwt\",\"grant_types\":"                 \
    "[\"client_credentials\"],\"scope\":\"" scope "\"" keys "}"
#define BK_KEYS ",\"jwks\":{\"keys\":[]}"
#define BK_SCOPE "api:fhir system/Patient.read"

static void client_credentials_needs_an_assertion(void)
{
    tresp r;
    t_form(TOKEN, "grant_type=client_credentials&scope=system%2FPatient.read", CONF_ID,
           CONF_SECRET, &r);
    json_t *e = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 401 && strcmp(t_jstr(e, "error"), "invalid_client") == 0 &&
             strstr(t_jstr(e, "hint"), "assertion type is not supported") != NULL;
    json_decref(e);
    CHECK(ok);
}

static void system_scopes_follow_the_global(void)
{
    json_t *j = NULL;
    json_decref(t_control("system-scopes", "{\"enabled\":false}"));
    long st = reg(BK_REG("private", BK_KEYS, BK_SCOPE), &j);
    int refused = st == 400 && strcmp(t_jstr(j, "error"), "invalid_scope") == 0;
    json_decref(j);
    CHECK(refused);
    json_decref(t_control("system-scopes", "{\"enabled\":true}"));
    st = reg(BK_REG("private", BK_KEYS, BK_SCOPE), &j);
    int ok = st == 200 && t_jstr(j, "client_id") != NULL;
    json_decref(j);
    json_decref(t_control("system-scopes", "{\"enabled\":false}"));
    CHECK(ok);
}

static void client_credentials_registration_rules(void)
{
    json_t *j = NULL;
    json_decref(t_control("system-scopes", "{\"enabled\":true}"));
    /* a public client, no keys, no system/ scopes: each refused */
    long pub = reg(BK_REG("web", BK_KEYS, BK_SCOPE), &j);
    json_decref(j);
    long nokeys = reg(BK_REG("private", "", BK_SCOPE), &j);
    json_decref(j);
    long nosys = reg(BK_REG("private", BK_KEYS, "api:fhir user/Patient.read"), &j);
    json_decref(j);
    json_decref(t_control("system-scopes", "{\"enabled\":false}"));
    CHECK(pub == 400 && nokeys == 400 && nosys == 400);
}

static void control_system_scopes_needs_a_boolean(void)
{
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    t_req("POST", "/_sim/system-scopes", hs, "{\"enabled\":1}", &r);
    long st = r.status;
    t_resp_free(&r);
    CHECK(st == 400);
}

const tcase t_backend_cases[] = {
    {"client_credentials_needs_an_assertion", client_credentials_needs_an_assertion},
    {"system_scopes_follow_the_global", system_scopes_follow_the_global},
    {"client_credentials_registration_rules", client_credentials_registration_rules},
    {"control_system_scopes_needs_a_boolean", control_system_scopes_needs_a_boolean},
    {NULL, NULL}};
