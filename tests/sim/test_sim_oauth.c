/* test_sim_oauth.c: discovery documents, /jwk, registration, /authorize
 * errors and the browser login/consent sequence (OPENEMR.md §2-§5, §7). */
#include <stdlib.h>
#include <string.h>

#include "test_sim.h"

static int array_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    return 0;
}

static void openid_configuration_has_openemr_quirks(void)
{
    tresp r;
    char iss[200];
    t_get("/oauth2/default/.well-known/openid-configuration", NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    CHECK(r.status == 200 && j);
    snprintf(iss, sizeof(iss), "%s/oauth2/default", g_base);
    int ok_iss = t_jstr(j, "issuer") && strcmp(t_jstr(j, "issuer"), iss) == 0;
    int plain = array_has(json_object_get(j, "code_challenge_methods_supported"), "plain");
    json_t *am = json_object_get(j, "token_endpoint_auth_methods_supported");
    int only_post = json_array_size(am) == 1 && array_has(am, "client_secret_post");
    int userinfo = t_jstr(j, "userinfo_endpoint") != NULL;
    json_decref(j);
    CHECK(ok_iss);
    CHECK(plain);
    CHECK(only_post);
    CHECK(userinfo);
}

static void userinfo_is_advertised_but_404(void)
{
    CHECK(t_status_of_get("/oauth2/default/userinfo", NULL) == 404);
}

static void smart_configuration_issuer_is_fhir_base_without_registration(void)
{
    tresp r;
    char want[200];
    t_get(FHIR "/.well-known/smart-configuration", NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    CHECK(r.status == 200 && j);
    snprintf(want, sizeof(want), "%s" FHIR, g_base);
    int iss = t_jstr(j, "issuer") && strcmp(t_jstr(j, "issuer"), want) == 0;
    int noreg = json_object_get(j, "registration_endpoint") == NULL;
    int nested = json_is_array(json_array_get(json_object_get(j, "scopes_supported"), 0));
    int s256 = array_has(json_object_get(j, "code_challenge_methods_supported"), "S256") &&
               !array_has(json_object_get(j, "code_challenge_methods_supported"), "plain");
    json_decref(j);
    CHECK(iss);
    CHECK(noreg);
    CHECK(nested);
    CHECK(s256);
}

static void jwk_has_one_rsa_key_without_kid(void)
{
    tresp r;
    t_get("/oauth2/default/jwk", NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    json_t *keys = json_object_get(j, "keys"), *k = json_array_get(keys, 0);
    int ok = json_array_size(keys) == 1 && t_jstr(k, "kty") && strcmp(t_jstr(k, "kty"), "RSA") == 0 &&
             t_jstr(k, "n") && sim_streq_t(t_jstr(k, "e"), "AQAB") &&
             sim_streq_t(t_jstr(k, "use"), "sig") && !json_object_get(k, "kid") &&
             !json_object_get(k, "alg");
    json_decref(j);
    CHECK(ok);
}

static void metadata_is_public_capability_statement(void)
{
    tresp r;
    t_get(FHIR "/metadata", NULL, &r);
    json_t *j = t_json(&r);
    int no_oauth_uris = !strstr(r.body, "oauth-uris") && strstr(r.body, "launch-standalone");
    t_resp_free(&r);
    int ok = r.status == 200 && sim_streq_t(t_jstr(j, "resourceType"), "CapabilityStatement");
    json_decref(j);
    CHECK(ok);
    CHECK(no_oauth_uris);
}

static json_t *do_register(const char *body, const char *ctype, long *status)
{
    tresp r;
    char h[128];
    const char *hs[] = {h, NULL};
    snprintf(h, sizeof(h), "Content-Type: %s", ctype);
    t_req("POST", "/oauth2/default/registration", hs, body, &r);
    json_t *j = t_json(&r);
    *status = r.status;
    t_resp_free(&r);
    return j;
}

static void registration_private_is_confidential_with_secret(void)
{
    long st;
    json_t *j = do_register("{\"application_type\":\"private\",\"client_name\":\"t\","
        "\"redirect_uris\":[\"" REDIRECT "\"],\"scope\":\"openid offline_access api:fhir "
        "patient/Patient.read\"}", "application/json", &st);
    int ok = st == 200 && t_jstr(j, "client_id") && strlen(t_jstr(j, "client_id")) == 43 &&
             t_jstr(j, "client_secret") && strlen(t_jstr(j, "client_secret")) == 86 &&
             sim_streq_t(t_jstr(j, "client_role"), "user") &&
             json_integer_value(json_object_get(j, "client_secret_expires_at")) == 0 &&
             t_jstr(j, "registration_access_token") && t_jstr(j, "registration_client_uri");
    json_decref(j);
    CHECK(ok);
}

static void registration_web_is_public_without_secret(void)
{
    long st;
    json_t *j = do_register("{\"application_type\":\"web\",\"redirect_uris\":[\"" REDIRECT "\"],"
                            "\"scope\":\"openid patient/Patient.read\"}", "application/json", &st);
    int ok = st == 200 && sim_streq_t(t_jstr(j, "client_secret"), "") &&
             sim_streq_t(t_jstr(j, "client_role"), "patient");
    json_decref(j);
    CHECK(ok);
}

static void registration_errors_table(void)
{
    static const struct { const char *body, *ctype, *error; } rows[] = {
        {"{\"redirect_uris\":[\"" REDIRECT "\"],\"scope\":\"openid\"}", "text/plain",
         "invalid_client_metadata"},
        {"{\"redirect_uris\":[\"" REDIRECT "\"],\"scope\":\"openid patient/*.read\"}",
         "application/json", "invalid_scope"},
        {"{\"redirect_uris\":[\"" REDIRECT "\"]}", "application/json", "invalid_scope"},
        {"{\"scope\":\"openid\"}", "application/json", "invalid_redirect_uri"},
        {"{\"redirect_uris\":\"" REDIRECT "\",\"scope\":\"openid\"}", "application/json",
         "invalid_client_metadata"},
        {"{\"redirect_uris\":[\"" REDIRECT "\"],\"scope\":\"openid\","
         "\"token_endpoint_auth_method\":\"none\"}", "application/json", "invalid_client_metadata"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        long st;
        json_t *j = do_register(rows[i].body, rows[i].ctype, &st);
        int ok = st == 400 && sim_streq_t(t_jstr(j, "error"), rows[i].error);
        if (!ok)
            fprintf(stderr, "    row %zu: %ld %s\n", i, st, t_jstr(j, "error"));
        json_decref(j);
        CHECK(ok);
    }
}

static void registration_user_scopes_start_disabled_until_enabled(void)
{
    long st;
    char v[65], ch[44], body[8192], enable[256];
    json_t *j = do_register("{\"application_type\":\"private\",\"redirect_uris\":[\"" REDIRECT
        "\"],\"scope\":\"openid api:fhir user/Patient.read\"}", "application/json", &st);
    CHECK(st == 200 && j);
    char id[64], secret[128];
    snprintf(id, sizeof(id), "%s", t_jstr(j, "client_id"));
    snprintf(secret, sizeof(secret), "%s", t_jstr(j, "client_secret"));
    json_decref(j);
    for (int round = 0; round < 2; round++) {
        t_pkce(v, ch);
        char *code = t_code(id, "openid api:fhir user/Patient.read", ch, "s");
        CHECK(code);    /* /authorize does not check the enabled flag */
        char *ru = t_urlenc(REDIRECT);
        snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s"
                 "&code_verifier=%s&client_id=%s&client_secret=%s", code, ru, v, id, secret);
        free(ru);
        free(code);
        tresp r;
        t_form(TOKEN, body, NULL, NULL, &r);
        json_t *e = t_json(&r);
        t_resp_free(&r);
        int want = round == 0 ? r.status == 401 && sim_streq_t(t_jstr(e, "error"), "invalid_client")
                              : r.status == 200;
        json_decref(e);
        CHECK(want);
        snprintf(enable, sizeof(enable), "{\"client_id\":\"%s\",\"enabled\":true}", id);
        json_decref(t_control("clients/enable", enable));
    }
}

static long authorize_status(const char *query, tresp *out)
{
    char path[4096];
    snprintf(path, sizeof(path), "/oauth2/default/authorize?%s", query);
    t_req("GET", path, NULL, NULL, out);
    return out->status;
}

static void authorize_error_table(void)
{
    char ru_ok[] = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback";
    char q[2048];
    static const struct { const char *client, *redirect, *extra, *error, *hint; long status; } rows[] = {
        {"nobody", NULL, "&scope=openid", "invalid_client", NULL, 401},
        {CONF_ID, "http%3A%2F%2Fevil.example%2Fcb", "&scope=openid", "invalid_client", NULL, 401},
        {CONF_ID, NULL, "&scope=openid&aud=https%3A%2F%2Fwrong.example%2Ffhir", "invalid_request",
         "Aud parameter did not match authorized server", 400},
        {CONF_ID, NULL, "&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
         "invalid_request", "Code challenge method must be one of `S256`", 400},
        {CONF_ID, NULL, "&scope=openid&code_challenge_method=plain"
         "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "invalid_request",
         "Code challenge method must be one of `S256`", 400},
        {CONF_ID, NULL, "&scope=openid&code_challenge_method=S256&code_challenge=short",
         "invalid_request", "Code challenge must follow the specifications of RFC-7636.", 400},
        {PUB_ID, NULL, "&scope=openid", "invalid_request",
         "Code challenge must be provided for public clients", 400},
        {CONF_ID, NULL, "&scope=openid&launch=xyz", "invalid_request",
         "Aud parameter did not match authorized server", 400},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        tresp r;
        snprintf(q, sizeof(q), "response_type=code&client_id=%s&redirect_uri=%s&state=abc%s",
                 rows[i].client, rows[i].redirect ? rows[i].redirect : ru_ok, rows[i].extra);
        authorize_status(q, &r);
        json_t *j = t_json(&r);
        int ok = r.status == rows[i].status && sim_streq_t(t_jstr(j, "error"), rows[i].error) &&
                 (!rows[i].hint || sim_streq_t(t_jstr(j, "hint"), rows[i].hint)) &&
                 r.location[0] == '\0';
        if (!ok)
            fprintf(stderr, "    row %zu: %ld %s\n", i, r.status, r.body);
        json_decref(j);
        t_resp_free(&r);
        CHECK(ok);
    }
}

static void authorize_unknown_scope_redirects_without_state(void)
{
    static const char *const bad[] = {"patient/*.read", "Patient.read", "patient/Patient.write",
                                      "system/Patient.read", "patient/Medication.rs"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tresp r;
        char q[1024], hint[128];
        char *s = t_urlenc(bad[i]);
        snprintf(q, sizeof(q), "response_type=code&client_id=" CONF_ID "&redirect_uri="
                 "http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fcallback&state=keepme&scope=openid%%20%s", s);
        free(s);
        authorize_status(q, &r);
        t_resp_free(&r);
        char *err = t_query_param(r.location, "error");
        char *h = t_query_param(r.location, "hint");
        char *st = t_query_param(r.location, "state");
        char *msg = t_query_param(r.location, "message");
        snprintf(hint, sizeof(hint), "Check the `%s` scope", bad[i]);
        int ok = r.status == 302 && strncmp(r.location, REDIRECT "?", strlen(REDIRECT) + 1) == 0 &&
                 sim_streq_t(err, "invalid_scope") && sim_streq_t(h, hint) && !st && msg;
        if (!ok)
            fprintf(stderr, "    scope %s: %ld %s\n", bad[i], r.status, r.location);
        free(err);
        free(h);
        free(st);
        free(msg);
        CHECK(ok);
    }
}

static void authorize_loopback_redirect_may_change_port(void)
{
    tresp r;
    authorize_status("response_type=code&client_id=" CONF_ID "&redirect_uri=http%3A%2F%2F127.0.0.1"
                     "%3A40123%2Fcallback&state=s&scope=openid", &r);
    t_resp_free(&r);
    static const char want[] = "http://127.0.0.1:40123/callback?code=";
    CHECK(r.status == 302);
    CHECK(strncmp(r.location, want, sizeof(want) - 1) == 0);
}

/* Drives login, patient picker and consent with form posts and the cookie. */
static void login_flow_with_cookie_picker_and_consent(void)
{
    tresp r;
    char cookie[600], body[2048], q[1024];
    const char *hs[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    char v[65], ch[44];
    json_decref(t_control("auto-approve", "{\"user\": null}"));
    t_pkce(v, ch);
    snprintf(q, sizeof(q), "response_type=code&client_id=" CONF_ID "&redirect_uri=http%%3A%%2F%%2F"
             "127.0.0.1%%3A8765%%2Fcallback&state=st9&code_challenge_method=S256&code_challenge=%s"
             "&scope=openid%%20offline_access%%20api%%3Afhir%%20launch%%2Fpatient%%20patient%%2F"
             "Patient.read", ch);
    authorize_status(q, &r);
    t_resp_free(&r);
    json_decref(t_control("auto-approve", "{\"user\": \"admin\"}"));
    CHECK(r.status == 307);
    CHECK(strstr(r.location, "/oauth2/default/provider/login"));
    CHECK(strstr(r.cookie, "Path=/oauth2/") && strstr(r.cookie, "SameSite=None") &&
          strstr(r.cookie, "Secure"));
    char *semi = strchr(r.cookie, ';');
    CHECK(semi);
    snprintf(cookie, sizeof(cookie), "Cookie: %.*s", (int)(semi - r.cookie), r.cookie);
    t_req("GET", "/oauth2/default/provider/login", hs + 1, NULL, &r);
    char *csrf_at = strstr(r.body, "name=\"csrf_token_form\" value=\"");
    char csrf[64] = "";
    if (csrf_at)
        sscanf(csrf_at + 30, "%63[^\"]", csrf);
    t_resp_free(&r);
    CHECK(r.status == 200 && csrf[0]);
    snprintf(body, sizeof(body), "username=admin&password=wrong&user_role=api&csrf_token_form=%s", csrf);
    t_req("POST", "/oauth2/default/login", hs, body, &r);
    t_resp_free(&r);
    CHECK(r.status == 401);
    snprintf(body, sizeof(body), "username=admin&password=pass&user_role=api&csrf_token_form=%s", csrf);
    t_req("POST", "/oauth2/default/login", hs, body, &r);
    t_resp_free(&r);
    CHECK(r.status == 302 && strstr(r.location, "/smart/patient-select"));
    t_req("GET", "/oauth2/default/smart/patient-select", hs + 1, NULL, &r);
    char *pid_at = strstr(r.body, "name=\"patient_id\" value=\"");
    char pid[40] = "";
    if (pid_at)
        sscanf(pid_at + 25, "%39[^\"]", pid);
    t_resp_free(&r);
    CHECK(pid[0]);
    snprintf(body, sizeof(body), "patient_id=%s&csrf_token_form=%s", pid, csrf);
    t_req("POST", "/oauth2/default/smart/patient-select-confirm", hs, body, &r);
    t_resp_free(&r);
    CHECK(r.status == 302 && strstr(r.location, "/scope-authorize-confirm"));
    t_req("GET", "/oauth2/default/scope-authorize-confirm", hs + 1, NULL, &r);
    int has_boxes = strstr(r.body, "scope[offline_access]") != NULL;
    t_resp_free(&r);
    CHECK(has_boxes);
    /* untick offline_access: the grant must come back without a refresh token */
    snprintf(body, sizeof(body), "csrf_token_form=%s&proceed=1&scope%%5Bopenid%%5D=openid"
             "&scope%%5Bapi%%3Afhir%%5D=api%%3Afhir&scope%%5Blaunch%%2Fpatient%%5D=launch%%2Fpatient"
             "&scope%%5Bpatient%%2FPatient.read%%5D=patient%%2FPatient.read", csrf);
    t_req("POST", "/oauth2/default/device/code", hs, body, &r);
    t_resp_free(&r);
    CHECK(r.status == 302);
    char *code = t_query_param(r.location, "code"), *st = t_query_param(r.location, "state");
    int state_ok = sim_streq_t(st, "st9");
    free(st);
    CHECK(code && state_ok);
    char *ru = t_urlenc(REDIRECT);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s"
             "&code_verifier=%s", code, ru, v);
    free(ru);
    free(code);
    t_form(TOKEN, body, CONF_ID, CONF_SECRET, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 200 && !json_object_get(j, "refresh_token") &&
             sim_streq_t(t_jstr(j, "patient"), pid) &&
             !sim_scope_has_t(t_jstr(j, "scope"), "offline_access");
    json_decref(j);
    CHECK(ok);
}

static void token_code_minted_without_state_is_bad_request(void)
{
    char v[65], ch[44], body[8192];
    tresp r;
    t_pkce(v, ch);
    char *code = t_code(CONF_ID, STD_SCOPE, ch, NULL);
    CHECK(code);
    char *ru = t_urlenc(REDIRECT);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s"
             "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, code, ru, v);
    free(ru);
    free(code);
    t_form(TOKEN, body, NULL, NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 400 && sim_streq_t(t_jstr(j, "error_description"), "Bad request") &&
             !json_object_get(j, "hint");
    json_decref(j);
    CHECK(ok);
}

static void token_verifier_without_challenge_is_invalid_request(void)
{
    char body[8192];
    tresp r;
    char *code = t_code(CONF_ID, STD_SCOPE, NULL, "s");
    CHECK(code);
    char *ru = t_urlenc(REDIRECT);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s"
             "&code_verifier=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
             "&client_id=" CONF_ID "&client_secret=" CONF_SECRET, code, ru);
    free(ru);
    free(code);
    t_form(TOKEN, body, NULL, NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 400 && sim_streq_t(t_jstr(j, "error"), "invalid_request") &&
             sim_streq_t(t_jstr(j, "hint"), "code_verifier received when no code_challenge is present");
    json_decref(j);
    CHECK(ok);
}

static void token_refresh_without_refresh_token_is_invalid_request(void)
{
    tresp r;
    t_form(TOKEN, "grant_type=refresh_token&client_id=" CONF_ID "&client_secret=" CONF_SECRET,
           NULL, NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 400 && sim_streq_t(t_jstr(j, "error"), "invalid_request") &&
             sim_streq_t(t_jstr(j, "hint"), "Check the `refresh_token` parameter");
    json_decref(j);
    CHECK(ok);
}

static void token_json_body_is_not_parsed(void)
{
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    t_req("POST", TOKEN, hs, "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"x\"}", &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    int ok = r.status == 400 && sim_streq_t(t_jstr(j, "error_description"), "Bad request");
    json_decref(j);
    CHECK(ok);
}

static void registration_read_back_is_403(void)
{
    CHECK(t_status_of_get("/oauth2/default/client/" CONF_ID, NULL) == 403);
}

static void unknown_site_is_400(void)
{
    CHECK(t_status_of_get("/oauth2/othersite/.well-known/openid-configuration", NULL) == 400);
    CHECK(t_status_of_get("/apis/othersite/fhir/metadata", NULL) == 400);
}

const tcase t_oauth_cases[] = {
    {"token_code_minted_without_state_is_bad_request", token_code_minted_without_state_is_bad_request},
    {"token_verifier_without_challenge_is_invalid_request",
     token_verifier_without_challenge_is_invalid_request},
    {"token_refresh_without_refresh_token_is_invalid_request",
     token_refresh_without_refresh_token_is_invalid_request},
    {"token_json_body_is_not_parsed", token_json_body_is_not_parsed},
    {"registration_read_back_is_403", registration_read_back_is_403},
    {"unknown_site_is_400", unknown_site_is_400},
    {"openid_configuration_has_openemr_quirks", openid_configuration_has_openemr_quirks},
    {"userinfo_is_advertised_but_404", userinfo_is_advertised_but_404},
    {"smart_configuration_issuer_is_fhir_base_without_registration",
     smart_configuration_issuer_is_fhir_base_without_registration},
    {"jwk_has_one_rsa_key_without_kid", jwk_has_one_rsa_key_without_kid},
    {"metadata_is_public_capability_statement", metadata_is_public_capability_statement},
    {"registration_private_is_confidential_with_secret", registration_private_is_confidential_with_secret},
    {"registration_web_is_public_without_secret", registration_web_is_public_without_secret},
    {"registration_errors_table", registration_errors_table},
    {"registration_user_scopes_start_disabled_until_enabled",
     registration_user_scopes_start_disabled_until_enabled},
    {"authorize_error_table", authorize_error_table},
    {"authorize_unknown_scope_redirects_without_state", authorize_unknown_scope_redirects_without_state},
    {"authorize_loopback_redirect_may_change_port", authorize_loopback_redirect_may_change_port},
    {"login_flow_with_cookie_picker_and_consent", login_flow_with_cookie_picker_and_consent},
    {NULL, NULL}};
