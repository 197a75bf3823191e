/* sim_oauth_misc.c: OpenEMR's discovery documents (OIDC and SMART, with
 * their quirks), /jwk, the FHIR /metadata statement and dynamic client
 * registration (OPENEMR.md §2, §3, §8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim_internal.h"

static void reg_error(sim_resp *r, const char *error, const char *desc);
static int all_strings(const json_t *a);

static const char *const smart_caps[] = {
    "launch-ehr", "context-ehr-patient", "sso-openid-connect", "launch-standalone",
    "context-standalone-patient", "permission-offline", "permission-patient", "permission-user",
    "permission-v1", "permission-v2", "authorize-post", "client-public",
    "client-confidential-symmetric", "client-confidential-asymmetric", "context-banner",
    "context-style", NULL};

void sim_h_openid_config(sim_req *q, sim_resp *r)
{
    const char *iss = q->srv->issuer;
    char u[8][160];
    const char *tails[8] = {"/authorize", "/token", "/jwk", "/userinfo", "/registration",
                            "/logout", "/introspect", NULL};
    for (int i = 0; tails[i]; i++)
        snprintf(u[i], sizeof(u[i]), "%s%s", iss, tails[i]);
    json_t *o = json_object();
    json_object_set_new(o, "issuer", json_string(iss));
    json_object_set_new(o, "authorization_endpoint", json_string(u[0]));
    json_object_set_new(o, "token_endpoint", json_string(u[1]));
    json_object_set_new(o, "jwks_uri", json_string(u[2]));
    /* advertised, but OpenEMR has no route for it (404) */
    json_object_set_new(o, "userinfo_endpoint", json_string(u[3]));
    json_object_set_new(o, "registration_endpoint", json_string(u[4]));
    json_object_set_new(o, "end_session_endpoint", json_string(u[5]));
    json_object_set_new(o, "introspection_endpoint", json_string(u[6]));
    json_object_set_new(o, "scopes_supported", sim_scope_server_list());
    json_object_set_new(o, "response_types_supported", json_pack("[s,s,s,s,s,s,s]", "code",
        "token", "id_token", "code token", "code id_token", "token id_token",
        "code token id_token"));
    /* plain is advertised but rejected at /authorize, as in OpenEMR */
    json_object_set_new(o, "code_challenge_methods_supported", json_pack("[s,s]", "S256", "plain"));
    json_object_set_new(o, "grant_types_supported", json_pack("[s,s]", "authorization_code",
                                                              "refresh_token"));
    json_object_set_new(o, "subject_types_supported", json_pack("[s]", "public"));
    json_object_set_new(o, "id_token_signing_alg_values_supported", json_pack("[s]", "RS256"));
    json_object_set_new(o, "token_endpoint_auth_methods_supported",
                        json_pack("[s]", "client_secret_post"));
    json_object_set_new(o, "claims_supported", json_pack("[s,s,s,s,s,s,s,s,s,s,s,s]", "aud",
        "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "locale",
        "name", "sub", "fhirUser"));
    if (sim_fault_take(q->srv, "/oauth2/default/.well-known/openid-configuration",
                       SIM_F_DISC_ISS_SUPPORTED, SIM_F_DISC_ISS_SUPPORTED, NULL, NULL))
        json_object_set_new(o, "authorization_response_iss_parameter_supported", json_true());
    if (sim_fault_take(q->srv, "/oauth2/default/.well-known/openid-configuration",
                       SIM_F_DISC_RELATIVE, SIM_F_DISC_RELATIVE, NULL, NULL)) {
        /* OpenEMR builds every URL from its "Site Address" global: empty, they
         * all come out relative to the web root. */
        static const char *const keys[] = {"issuer", "authorization_endpoint",
            "token_endpoint", "jwks_uri", "userinfo_endpoint", "registration_endpoint",
            "end_session_endpoint", "introspection_endpoint", NULL};
        size_t origin = strlen(iss) - strlen("/oauth2/default");
        for (int i = 0; keys[i]; i++) {
            const char *v = json_string_value(json_object_get(o, keys[i]));
            if (v && strlen(v) > origin)
                json_object_set_new(o, keys[i], json_string(v + origin));
        }
    }
    sim_resp_json(r, 200, o);
}

void sim_h_smart_config(sim_req *q, sim_resp *r)
{
    const char *iss = q->srv->issuer;
    char a[160], t[160], j[160], in[160];
    snprintf(a, sizeof(a), "%s/authorize", iss);
    snprintf(t, sizeof(t), "%s/token", iss);
    snprintf(j, sizeof(j), "%s/jwk", iss);
    snprintf(in, sizeof(in), "%s/introspect", iss);
    json_t *o = json_object();
    /* current OpenEMR: issuer is the FHIR base, and no registration_endpoint */
    json_object_set_new(o, "issuer", json_string(q->srv->fhir_base));
    json_object_set_new(o, "jwks_uri", json_string(j));
    json_object_set_new(o, "authorization_endpoint", json_string(a));
    json_object_set_new(o, "token_endpoint", json_string(t));
    json_object_set_new(o, "introspection_endpoint", json_string(in));
    json_object_set_new(o, "grant_types_supported", json_pack("[s,s]", "client_credentials",
                                                              "authorization_code"));
    json_object_set_new(o, "code_challenge_methods_supported", json_pack("[s]", "S256"));
    json_object_set_new(o, "token_endpoint_auth_methods_supported",
                        json_pack("[s,s]", "client_secret_basic", "private_key_jwt"));
    /* OpenEMR nests the list inside another list (a bug) */
    json_object_set_new(o, "scopes_supported", json_pack("[o]", sim_scope_server_list()));
    json_object_set_new(o, "response_types_supported", json_pack("[s]", "code"));
    json_t *caps = json_array();
    for (int i = 0; smart_caps[i]; i++)
        json_array_append_new(caps, json_string(smart_caps[i]));
    json_object_set_new(o, "capabilities", caps);
    sim_resp_json(r, 200, o);
}

void sim_h_metadata(sim_req *q, sim_resp *r)
{
    json_t *ext = json_array();
    for (int i = 0; smart_caps[i]; i++)
        json_array_append_new(ext, json_pack("{s:s,s:s}", "url",
            "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities",
            "valueCode", smart_caps[i]));
    json_t *res = json_array();
    for (int t = 1; t < SIM_R_COUNT; t++)
        json_array_append_new(res, json_pack("{s:s,s:[{s:s},{s:s}]}", "type", sim_res_name(t),
            "interaction", "code", "read", "code", "search-type"));
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:s,s:[s],s:[{s:s,s:{s:o,s:[{s:[{s:s,s:s}]}]},s:o}]}",
        "resourceType", "CapabilityStatement", "status", "active", "date", "2026-01-05",
        "kind", "instance",
        "software", "name", "OpenEMR", "version", "7.0.4 (openemr-sim)",
        "implementation", "description", "OpenEMR FHIR API (simulated)", "url", q->srv->fhir_base,
        "fhirVersion", "4.0.1", "format", "application/json",
        "rest", "mode", "server", "security", "extension", ext, "service", "coding", "system",
        "http://terminology.hl7.org/CodeSystem/restful-security-service", "code", "SMART-on-FHIR",
        "resource", res);
    sim_resp_json(r, 200, o);
}

void sim_h_jwk(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    if (sim_jwks_odd_take(s, q->path)) {
        sim_api_error(r, 404, "Route not found");
        return;
    }
    pthread_mutex_lock(&s->lock);
    json_t *k = sim_jwk_of(s->keys[s->nkeys - 1]);
    pthread_mutex_unlock(&s->lock);
    if (!k) {
        sim_api_error(r, 500, "could not export the signing key");
        return;
    }
    sim_resp_json(r, 200, json_pack("{s:[o]}", "keys", k));
}

void sim_h_registration(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    json_error_t jerr;
    json_t *in = NULL, *out = NULL;
    char bad[200];
    if (!q->content_type || strncasecmp(q->content_type, "application/json", 16) != 0) {
        reg_error(r, "invalid_client_metadata", "Unexpected content type");
        return;
    }
    in = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(in)) {
        reg_error(r, "invalid_client_metadata", "Invalid client metadata: the body is not a JSON object");
        goto out;
    }
    const char *lists[] = {"redirect_uris", "post_logout_redirect_uris", "contacts", NULL};
    for (int i = 0; lists[i]; i++) {
        json_t *v = json_object_get(in, lists[i]);
        if (v && (!json_is_array(v) || !all_strings(v))) {
            snprintf(bad, sizeof(bad), "%s must be a JSON array of strings", lists[i]);
            reg_error(r, "invalid_client_metadata", bad);
            goto out;
        }
    }
    const char *method = json_string_value(json_object_get(in, "token_endpoint_auth_method"));
    if (method && strcmp(method, "client_secret_basic") != 0 &&
        strcmp(method, "client_secret_post") != 0 && strcmp(method, "private_key_jwt") != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Unsupported token_endpoint_auth_method value : %.200s", method);
        reg_error(r, "invalid_client_metadata", msg);
        goto out;
    }
    json_t *ru = json_object_get(in, "redirect_uris");
    if (!ru || json_array_size(ru) == 0) {
        reg_error(r, "invalid_redirect_uri", "Redirect URI is required");
        goto out;
    }
    const char *scope = json_string_value(json_object_get(in, "scope"));
    if (!scope || sim_scope_check(scope, bad, sizeof(bad)) != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Invalid scope: %.200s", scope && *bad ? bad : "(empty)");
        reg_error(r, "invalid_scope", msg);
        goto out;
    }
    /* Some OpenEMR versions read jwks as a string and refuse the object
     * RFC 7591 defines; a jwks_uri registers there. */
    if (json_is_object(json_object_get(in, "jwks")) &&
        sim_fault_take(s, q->path, SIM_F_REGISTER_NO_INLINE_JWKS, SIM_F_REGISTER_NO_INLINE_JWKS,
                       NULL, NULL)) {
        reg_error(r, "invalid_client_metadata",
                  "Unexpected value for parameter \"jwks\": expecting \"string\", got \"array\"");
        goto out;
    }
    const char *app_type = json_string_value(json_object_get(in, "application_type"));
    int confidential = sim_streq(app_type, "private");
    sim_client *c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->id = sim_random_b64url(32);
    c->secret = confidential ? sim_random_b64url(64) : NULL;
    c->redirect_uris = json_deep_copy(ru);
    json_t *pl = json_object_get(in, "post_logout_redirect_uris");
    c->post_logout_uris = pl ? json_deep_copy(pl) : json_array();
    c->scope = strdup(scope);
    c->name = sim_strdup0(json_string_value(json_object_get(in, "client_name")));
    int needs_admin = confidential ? sim_scope_has_prefix(scope, "user/") ||
                                         sim_scope_has_prefix(scope, "system/")
                                   : sim_scope_has(scope, "launch");
    c->enabled = !(needs_admin || __atomic_load_n(&s->cfg.manual_approval, __ATOMIC_RELAXED)) ||
                 sim_fault_take(s, q->path, SIM_F_REGISTER_ENABLED, SIM_F_REGISTER_ENABLED, NULL,
                                NULL);
    if (!c->id || (confidential && !c->secret) || !c->scope) {
        sim_client_free(c);
        goto oom;
    }
    if (sim_pkjwt_register(c, in, bad, sizeof(bad)) != 0) {
        sim_client_free(c);
        reg_error(r, "invalid_client_metadata", bad);
        goto out;
    }
    char uri[256];
    char *rat = sim_random_b64url(48);
    snprintf(uri, sizeof(uri), "%s/client/%s", s->issuer, c->id);
    out = json_deep_copy(in);
    json_object_set_new(out, "client_id", json_string(c->id));
    json_object_set_new(out, "client_secret", json_string(c->secret ? c->secret : ""));
    json_object_set_new(out, "registration_access_token", json_string(rat ? rat : ""));
    json_object_set_new(out, "registration_client_uri", json_string(uri));
    json_object_set_new(out, "client_id_issued_at", json_integer((json_int_t)time(NULL)));
    json_object_set_new(out, "client_secret_expires_at", json_integer(0));
    json_object_set_new(out, "client_role", json_string(confidential ? "user" : "patient"));
    free(rat);
    pthread_mutex_lock(&s->lock);
    int rc = sim_client_add_locked(s, c);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto oom;
    sim_resp_json(r, 200, out);
    out = NULL;
    goto out;
oom:
    sim_api_error(r, 500, "out of memory registering the client");
out:
    json_decref(in);
    json_decref(out);
}

static void reg_error(sim_resp *r, const char *error, const char *desc)
{
    sim_resp_json(r, 400, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
}

static int all_strings(const json_t *a)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        if (!json_is_string(v))
            return 0;
    return 1;
}
