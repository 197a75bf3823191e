/* test_sim_observed.c: what a running OpenEMR 7.0.3 did (OPENEMR.md §12) and
 * the simulator now does too: the refresh scope rule, the token endpoint's
 * answer to a made-up code, the authorization endpoint's order of checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test_sim.h"

#define API_SCOPE "openid offline_access api:fhir api:oemr user/Patient.read user/patient.read"
#define API_SCOPE_ECHOED "openid offline_access user/Patient.read user/patient.read"
/* the code exchange's answer also echoes the nonce sent at /authorize */
#define API_SCOPE_ECHOED_NONCE API_SCOPE_ECHOED " nonce"

static json_t *post(const char *body, long *status)
{
    tresp r;
    t_form(TOKEN, body, NULL, NULL, &r);
    json_t *j = t_json(&r);
    *status = r.status;
    t_resp_free(&r);
    return j;
}

static json_t *refresh_with(const char *rt, const char *scope, long *status)
{
    char body[8192];
    char *sc = scope ? t_urlenc(scope) : NULL;
    snprintf(body, sizeof(body),
             "grant_type=refresh_token&refresh_token=%s&client_id=" CONF_ID
             "&client_secret=" CONF_SECRET "%s%s", rt, sc ? "&scope=" : "", sc ? sc : "");
    free(sc);
    return post(body, status);
}

static int access_has(const json_t *tok, const char *scope)
{
    json_t *c = t_jwt_claims(t_jstr(tok, "access_token"));
    size_t i;
    json_t *v;
    int found = 0;
    json_array_foreach(json_object_get(c, "scopes"), i, v)
        found |= sim_streq_t(json_string_value(v), scope);
    json_decref(c);
    return found;
}

static void observed_token_scope_omits_api_scopes(void)
{
    json_t *t = t_tokens(API_SCOPE);
    CHECK(t);
    int ok = sim_streq_t(t_jstr(t, "scope"), API_SCOPE_ECHOED_NONCE) && access_has(t, "api:oemr");
    json_decref(t);
    CHECK(ok);
}

/* The echoed scope sent back is refused; with api:oemr, or with no scope at
 * all, the refresh works and the token still carries api:*. */
static void observed_refresh_scope_without_api_oemr_is_invalid_scope(void)
{
    long st1, st2, st3;
    json_t *t = t_tokens(API_SCOPE);
    CHECK(t);
    char rt[2048];
    snprintf(rt, sizeof(rt), "%s", t_jstr(t, "refresh_token"));
    json_decref(t);
    json_t *bad = refresh_with(rt, API_SCOPE_ECHOED, &st1);
    int refused = st1 == 400 && sim_streq_t(t_jstr(bad, "error"), "invalid_scope") &&
                  sim_streq_t(t_jstr(bad, "error_description"),
                              "The requested scope is invalid, unknown, or malformed") &&
                  sim_streq_t(t_jstr(bad, "hint"), "Check the `user/patient.read` scope");
    json_decref(bad);
    json_t *good = refresh_with(rt, API_SCOPE, &st2);
    int renewed = st2 == 200 && sim_streq_t(t_jstr(good, "scope"), API_SCOPE_ECHOED) &&
                  access_has(good, "api:oemr");
    char rt2[2048];
    snprintf(rt2, sizeof(rt2), "%s", good ? t_jstr(good, "refresh_token") : "");
    json_decref(good);
    json_t *plain = refresh_with(rt2, NULL, &st3);
    int original = st3 == 200 && access_has(plain, "api:oemr") && access_has(plain, "api:fhir");
    json_decref(plain);
    CHECK(refused);
    CHECK(renewed);
    CHECK(original);
}

/* A code the server never issued: 400 "Bad request" before the client is
 * looked at, so it says nothing about the client. */
static void observed_made_up_code_is_bad_request_for_every_client(void)
{
    static const char *const clients[] = {
        "client_id=" CONF_ID "&client_secret=" CONF_SECRET,
        "client_id=" CONF_ID "&client_secret=wrong",
        "client_id=" OFF_ID "&client_secret=" OFF_SECRET,
        "client_id=nobody&client_secret=x",
    };
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        char body[1024];
        long st;
        snprintf(body, sizeof(body),
                 "grant_type=authorization_code&code=def502madeup%zu&redirect_uri="
                 "http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fcallback&code_verifier="
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&%s", i, clients[i]);
        json_t *j = post(body, &st);
        int ok = st == 400 && sim_streq_t(t_jstr(j, "error"), "invalid_request") &&
                 sim_streq_t(t_jstr(j, "error_description"), "Bad request") &&
                 sim_streq_t(t_jstr(j, "message"), "Bad request") && !json_object_get(j, "hint");
        if (!ok)
            fprintf(stderr, "    client row %zu: %ld %s\n", i, st, t_jstr(j, "error"));
        json_decref(j);
        CHECK(ok);
    }
}

static long authorize(const char *client, const char *redirect, const char *method, tresp *r)
{
    char path[2048], ch[44], v[65];
    char *ru = t_urlenc(redirect);
    t_pkce(v, ch);
    snprintf(path, sizeof(path),
             "/oauth2/default/authorize?response_type=code&client_id=%s&redirect_uri=%s"
             "&scope=openid%%20api%%3Afhir%%20patient%%2FPatient.read&state=probe"
             "&code_challenge=%s&code_challenge_method=%s", client, ru, ch, method);
    free(ru);
    t_req("GET", path, NULL, NULL, r);
    return r->status;
}

/* plain is refused before anything else; with S256 an unknown client or a
 * redirect URI that differs gets 401 invalid_client, a good one the login. */
static void observed_authorize_checks_challenge_method_first(void)
{
    static const struct {
        const char *client, *redirect, *method;
        long status;
        const char *error, *hint, *location;
    } rows[] = {
        {"nobody", "http://127.0.0.1:9/x", "plain", 400, "invalid_request",
         "Code challenge method must be one of `S256`", NULL},
        {CONF_ID, REDIRECT "/", "plain", 400, "invalid_request",
         "Code challenge method must be one of `S256`", NULL},
        {"nobody", REDIRECT, "S256", 401, "invalid_client", NULL, NULL},
        {CONF_ID, REDIRECT "/", "S256", 401, "invalid_client", NULL, NULL},
        {CONF_ID, "http://localhost:8765/callback", "S256", 401, "invalid_client", NULL, NULL},
        {CONF_ID, REDIRECT, "S256", 307, NULL, NULL, "/oauth2/default/provider/login"},
        {OFF_ID, REDIRECT, "S256", 307, NULL, NULL, "/oauth2/default/provider/login"},
    };
    json_decref(t_control("auto-approve", "{\"user\":null}"));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        tresp r;
        long st = authorize(rows[i].client, rows[i].redirect, rows[i].method, &r);
        json_t *j = t_json(&r);
        int ok = st == rows[i].status &&
                 (!rows[i].error || sim_streq_t(t_jstr(j, "error"), rows[i].error)) &&
                 (!rows[i].hint || sim_streq_t(t_jstr(j, "hint"), rows[i].hint)) &&
                 (!rows[i].location || strcmp(r.location, rows[i].location) == 0);
        if (!ok)
            fprintf(stderr, "    row %zu: %ld %s %s\n", i, st, t_jstr(j, "error"), r.location);
        json_decref(j);
        t_resp_free(&r);
        if (!ok) {
            json_decref(t_control("auto-approve", "{\"user\":\"admin\",\"patient\":3}"));
            CHECK(ok);
        }
    }
    json_decref(t_control("auto-approve", "{\"user\":\"admin\",\"patient\":3}"));
}

static long search_total(const char *bearer, const char *query, int *entries)
{
    char path[512];
    tresp r;
    snprintf(path, sizeof(path), FHIR "/Patient%s%s", query ? "?" : "", query ? query : "");
    t_get(path, bearer, &r);
    json_t *j = t_json(&r);
    long total = r.status == 200 ? (long)json_integer_value(json_object_get(j, "total")) : -1;
    *entries = (int)json_array_size(json_object_get(j, "entry"));
    json_decref(j);
    t_resp_free(&r);
    return total;
}

/* With --openemr-quirks, any _count or _offset empties a search (7.0.3). */
static void observed_paging_params_empty_a_search(void)
{
    json_t *t = t_tokens("openid offline_access api:fhir user/Patient.read");
    CHECK(t);
    char bearer[4096];
    snprintf(bearer, sizeof(bearer), "%s", t_jstr(t, "access_token"));
    json_decref(t);
    int e0, e1, e2, e3, e4, e5;
    json_decref(t_control("quirks", "{\"enabled\": true}"));
    long all = search_total(bearer, NULL, &e0);
    long counted = search_total(bearer, "_count=50", &e1);
    long offset = search_total(bearer, "_offset=0", &e2);
    long named = search_total(bearer, "name=a", &e3);
    long named_counted = search_total(bearer, "name=a&_count=50", &e4);
    json_decref(t_control("quirks", "{\"enabled\": false}"));
    long strict = search_total(bearer, "_count=5", &e5);
    CHECK(all == 120 && e0 == 120);
    CHECK(counted == 0 && e1 == 0);
    CHECK(offset == 0 && e2 == 0);
    CHECK(named > 0 && e3 == named);
    CHECK(named_counted == 0 && e4 == 0);
    CHECK(strict == 5 && e5 == 5);   /* without quirks, current code's paging */
}

/* The paged_total fault: a server that pages by itself and says so. */
static void fault_paged_total_caps_and_counts_every_match(void)
{
    json_t *t = t_tokens("openid offline_access api:fhir user/Patient.read");
    CHECK(t);
    char bearer[4096];
    snprintf(bearer, sizeof(bearer), "%s", t_jstr(t, "access_token"));
    json_decref(t);
    int e0, e1;
    json_decref(t_control("faults", "{\"route\":\"" FHIR "/Patient\",\"kind\":\"paged_total\","
                                    "\"count\":2,\"status\":7}"));
    long first = search_total(bearer, NULL, &e0);
    long second = search_total(bearer, "_count=7&_offset=7", &e1);
    json_decref(t_control("faults/clear", "{}"));
    CHECK(first == 120 && e0 == 7);
    CHECK(second == 120 && e1 == 7);
}

static long raw_status(const char *method, const char *target, const char *path, char *allow,
                       size_t allow_cap);

/* With --openemr-quirks a missing scope is a bare 401 with an empty body. */
static void observed_missing_scope_is_a_bare_401(void)
{
    json_t *t = t_tokens("openid offline_access api:fhir user/Patient.read");
    CHECK(t);
    char path[256];
    snprintf(path, sizeof(path), FHIR "/Observation?patient=%s", "x");
    json_decref(t_control("quirks", "{\"enabled\": true}"));
    tresp r;
    t_get(path, t_jstr(t, "access_token"), &r);
    json_decref(t_control("quirks", "{\"enabled\": false}"));
    long st = r.status;
    size_t len = r.len;
    t_resp_free(&r);
    json_decref(t);
    CHECK(st == 401 && len == 0);
}

/* HEAD /metadata is a 404 (OpenEMR routes GET only, after running PHP);
 * "OPTIONS *" is the web server's own 200, which warms a connection. */
static void observed_head_metadata_is_404_options_star_is_200(void)
{
    char allow[128] = "";
    long head = raw_status("HEAD", NULL, FHIR "/metadata", NULL, 0);
    long get = raw_status("GET", NULL, FHIR "/metadata", NULL, 0);
    long opt = raw_status("OPTIONS", "*", "/", allow, sizeof(allow));
    CHECK(head == 404);
    CHECK(get == 200);
    CHECK(opt == 200 && strstr(allow, "GET") != NULL);
}

static size_t allow_hdr(char *b, size_t size, size_t n, void *ud)
{
    char **a = ud;
    size_t len = size * n;
    if (a[0] && len > 7 && strncasecmp(b, "Allow: ", 7) == 0)
        snprintf(a[0], (size_t)(uintptr_t)a[1], "%.*s", (int)(len - 7), b + 7);
    return len;
}

static size_t sink(char *b, size_t size, size_t n, void *ud)
{
    (void)b;
    (void)ud;
    return size * n;
}

static long raw_status(const char *method, const char *target, const char *path, char *allow,
                       size_t allow_cap)
{
    char url[512];
    long st = -1;
    void *ud[2] = {allow, (void *)(uintptr_t)allow_cap};
    snprintf(url, sizeof(url), "%s%s", g_base, path);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(g_srv));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, allow_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, ud);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (target)
        curl_easy_setopt(c, CURLOPT_REQUEST_TARGET, target);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(c);
    return st;
}

const tcase t_observed_cases[] = {
    {"observed_missing_scope_is_a_bare_401", observed_missing_scope_is_a_bare_401},
    {"observed_head_metadata_is_404_options_star_is_200",
     observed_head_metadata_is_404_options_star_is_200},
    {"observed_paging_params_empty_a_search", observed_paging_params_empty_a_search},
    {"fault_paged_total_caps_and_counts_every_match", fault_paged_total_caps_and_counts_every_match},
    {"observed_token_scope_omits_api_scopes", observed_token_scope_omits_api_scopes},
    {"observed_refresh_scope_without_api_oemr_is_invalid_scope",
     observed_refresh_scope_without_api_oemr_is_invalid_scope},
    {"observed_made_up_code_is_bad_request_for_every_client",
     observed_made_up_code_is_bad_request_for_every_client},
    {"observed_authorize_checks_challenge_method_first",
     observed_authorize_checks_challenge_method_first},
    {NULL, NULL}};
