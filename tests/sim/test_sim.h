/* test_sim.h: helpers shared by the simulator's own tests (an HTTPS client
 * on libcurl, JSON helpers, the OAuth steps, and a tiny test runner). */
#ifndef TEST_SIM_H
#define TEST_SIM_H

#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "sim.h"

typedef struct tresp {
    long status;
    char *body;
    size_t len;
    char location[16384];
    char ctype[128];
    char cookie[512];
    char www_auth[128];
    char cache_control[64];
    CURLcode cc;
} tresp;

typedef struct tcase {
    const char *name;
    void (*fn)(void);
} tcase;

extern sim_server *g_srv;
extern const char *g_base;
extern int g_failed;
extern int g_fresh_connect;   /* 1 = next t_req opens a new connection */

#define REDIRECT "http://127.0.0.1:8765/callback"
#define CONF_ID "conf"
#define CONF_SECRET "conf-secret-value"
#define OTHER_ID "other"
#define OTHER_SECRET "other-secret-value"
#define PUB_ID "pub"
#define OFF_ID "off"
#define OFF_SECRET "off-secret-value"
#define TOKEN "/oauth2/default/token"
#define FHIR "/apis/default/fhir"
#define STD_SCOPE "openid fhirUser offline_access api:fhir launch/patient patient/Patient.read " \
                  "patient/Encounter.read patient/Observation.rs"

/* Fails the running test and returns from it. */
#define CHECK(cond) do { if (!(cond)) { t_fail(__FILE__, __LINE__, #cond); return; } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
        fprintf(stderr, "    got \"%s\", want \"%s\"\n", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        t_fail(__FILE__, __LINE__, #a " == " #b); return; } } while (0)

void t_fail(const char *file, int line, const char *what);

/* One request on a shared keep-alive handle.  path may be absolute or start
 * with '/' (relative to the server).  headers: NULL-terminated list. */
int t_req(const char *method, const char *path, const char *const *headers, const char *body,
          tresp *out);
void t_resp_free(tresp *r);
void t_req_cleanup(void);
int t_get(const char *path, const char *bearer, tresp *out);
int t_form(const char *path, const char *body, const char *basic_id, const char *basic_secret,
           tresp *out);
json_t *t_json(const tresp *r);
/* POST /_sim/<action> with a JSON body; returns the parsed answer or NULL. */
json_t *t_control(const char *action, const char *json);
const char *t_jstr(const json_t *o, const char *key);
/* Value of query parameter k in url, decoded; caller frees; NULL if absent. */
char *t_query_param(const char *url, const char *k);
char *t_urlenc(const char *s);

/* PKCE pair: verifier (64 chars) and its S256 challenge. */
void t_pkce(char verifier[65], char challenge[44]);
/* Auto-approved /authorize: returns the code (caller frees) or NULL. */
char *t_code(const char *client_id, const char *scope, const char *challenge, const char *state);
/* code + token exchange for the conf client; returns the token response. */
json_t *t_tokens(const char *scope);
json_t *t_jwt_claims(const char *jwt);
long t_status_of_get(const char *path, const char *bearer);
int sim_streq_t(const char *a, const char *b);              /* NULL-safe strcmp == 0 */
int sim_scope_has_t(const char *list, const char *word);    /* word in space list */

extern const tcase t_oauth_cases[], t_token_cases[], t_fhir_cases[], t_observed_cases[],
    t_backend_cases[];
#endif
