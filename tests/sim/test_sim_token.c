/* test_sim_token.c: the token endpoint's rows (OPENEMR.md §6), refresh
 * rotation and revocation, introspection, logout, id_token signatures and
 * the control endpoint's clock, key and fault switches. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <sodium.h>

#include "test_sim.h"

typedef struct fresh { char code[2048], verifier[65]; } fresh;

static int new_code(fresh *f, const char *client, const char *scope)
{
    char ch[44];
    t_pkce(f->verifier, ch);
    char *c = t_code(client, scope, ch, "s1");
    if (!c)
        return -1;
    snprintf(f->code, sizeof(f->code), "%s", c);
    free(c);
    return 0;
}

static json_t *post_token(const char *body, long *status, tresp *keep)
{
    tresp r;
    t_form(TOKEN, body, NULL, NULL, &r);
    json_t *j = t_json(&r);
    *status = r.status;
    if (keep) {
        *keep = r;
        keep->body = NULL;
    }
    t_resp_free(&r);
    return j;
}

/* the redirect URI, form-encoded, for use inside printf formats */
#define RU "http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fcallback"

static void token_code_exchange_returns_openemr_fields(void)
{
    tresp r;
    fresh f;
    char body[8192];
    CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, f.code, f.verifier);
    long st;
    json_t *j = post_token(body, &st, &r);
    CHECK(st == 200 && j);
    json_t *at = t_jwt_claims(t_jstr(j, "access_token"));
    json_t *idt = t_jwt_claims(t_jstr(j, "id_token"));
    int ok = sim_streq_t(t_jstr(j, "token_type"), "Bearer") &&
             json_integer_value(json_object_get(j, "expires_in")) == 3600 &&
             t_jstr(j, "refresh_token") && strncmp(t_jstr(j, "refresh_token"), "def502", 6) == 0 &&
             !sim_scope_has_t(t_jstr(j, "scope"), "api:fhir") &&
             sim_scope_has_t(t_jstr(j, "scope"), "patient/Patient.read") &&
             t_jstr(j, "patient") && json_is_true(json_object_get(j, "need_patient_banner")) &&
             strstr(r.ctype, "application/json") && strstr(r.cache_control, "no-store");
    int at_ok = at && sim_streq_t(t_jstr(at, "aud"), CONF_ID) && t_jstr(at, "jti") &&
                json_is_array(json_object_get(at, "scopes")) && json_object_get(at, "nbf");
    int id_ok = idt && sim_streq_t(t_jstr(idt, "aud"), CONF_ID) &&
                sim_streq_t(t_jstr(idt, "nonce"), "n-0S6_WzA2Mj") &&
                json_is_true(json_object_get(idt, "api:fhir")) && t_jstr(idt, "fhirUser") &&
                strstr(t_jstr(idt, "fhirUser"), "/Practitioner/") && !json_object_get(idt, "nbf");
    json_decref(at);
    json_decref(idt);
    json_decref(j);
    CHECK(ok);
    CHECK(at_ok);
    CHECK(id_ok);
}

static void token_basic_auth_works(void)
{
    tresp r;
    fresh f;
    char body[8192];
    CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s", f.code, f.verifier);
    t_form(TOKEN, body, CONF_ID, CONF_SECRET, &r);
    t_resp_free(&r);
    CHECK(r.status == 200);
}

static void token_body_credentials_win_over_basic(void)
{
    tresp r;
    fresh f;
    char body[8192];
    CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, f.code, f.verifier);
    t_form(TOKEN, body, CONF_ID, "wrong-basic-secret", &r);
    t_resp_free(&r);
    CHECK(r.status == 200);
}

/* Each row: how to spoil a good code exchange, and what OpenEMR answers. */
static void token_error_table(void)
{
    static const struct {
        const char *name, *fmt; int basic; long status; const char *error, *desc, *hint;
    } rows[] = {
        {"unknown client", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=nobody&client_secret=x", 0, 401, "invalid_client",
         "Client authentication failed", NULL},
        {"bad secret", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=" CONF_ID "&client_secret=wrong", 0, 401, "invalid_client",
         "Client authentication failed", NULL},
        {"missing secret (strict)", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=" CONF_ID, 0, 401, "invalid_client", NULL, NULL},
        {"disabled client", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=" OFF_ID "&client_secret=" OFF_SECRET, 0, 401,
         "invalid_client", "Client authentication failed", NULL},
        {"missing code", "grant_type=authorization_code&redirect_uri=" RU "&code_verifier=%2$s"
         "&client_id=" CONF_ID "&client_secret=" CONF_SECRET "&x=%1$s", 0, 400, "invalid_request",
         NULL, "Check the `code` parameter"},
        {"unknown code", "grant_type=authorization_code&code=def502nope%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, 0, 400,
         "invalid_request", "Bad request", NULL},
        {"missing grant_type", "code=%s&redirect_uri=" RU "&code_verifier=%s&client_id=" CONF_ID
         "&client_secret=" CONF_SECRET, 0, 400, "invalid_request", "Bad request", NULL},
        {"unknown grant type", "grant_type=password&code=%s&code_verifier=%s", 0, 400,
         "unsupported_grant_type", NULL, "Check that all required parameters have been provided"},
        {"redirect mismatch", "grant_type=authorization_code&code=%s&redirect_uri=http%%3A%%2F%%2F"
         "127.0.0.1%%3A8765%%2Fother&code_verifier=%s&client_id=" CONF_ID "&client_secret="
         CONF_SECRET, 0, 400, "invalid_request", NULL, "Invalid redirect URI"},
        {"other client", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s&client_id=" OTHER_ID "&client_secret=" OTHER_SECRET, 0, 400,
         "invalid_request", NULL, "Authorization code was not issued to this client"},
        {"pkce mismatch", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%.20sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&client_id=" CONF_ID
         "&client_secret=" CONF_SECRET, 0, 400, "invalid_grant", NULL, "Failed to verify `code_verifier`."},
        {"missing verifier", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&client_id=" CONF_ID "&client_secret=" CONF_SECRET "&x=%s", 0, 400, "invalid_request",
         NULL, "Check the `code_verifier` parameter"},
        {"basic bad secret", "grant_type=authorization_code&code=%s&redirect_uri=" RU
         "&code_verifier=%s", 1, 401, "invalid_client", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fresh f;
        char body[8192];
        tresp r;
        CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
/* the rows' formats are literals in the table above */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(body, sizeof(body), rows[i].fmt, f.code, f.verifier);
#pragma GCC diagnostic pop
        if (rows[i].basic)
            t_form(TOKEN, body, CONF_ID, "wrong", &r);
        else
            t_form(TOKEN, body, NULL, NULL, &r);
        json_t *j = t_json(&r);
        int ok = r.status == rows[i].status && sim_streq_t(t_jstr(j, "error"), rows[i].error) &&
                 (!rows[i].desc || sim_streq_t(t_jstr(j, "error_description"), rows[i].desc)) &&
                 (!rows[i].hint || sim_streq_t(t_jstr(j, "hint"), rows[i].hint)) &&
                 sim_streq_t(t_jstr(j, "message"), t_jstr(j, "error_description")) &&
                 (!rows[i].basic || strstr(r.www_auth, "Basic realm=\"OAuth\"")) &&
                 (rows[i].basic || r.www_auth[0] == '\0');
        if (!ok)
            fprintf(stderr, "    row '%s': %ld %s\n", rows[i].name, r.status, r.body);
        json_decref(j);
        t_resp_free(&r);
        CHECK(ok);
    }
}

static void token_expired_code_is_invalid_request(void)
{
    fresh f;
    char body[8192];
    long st;
    CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
    json_decref(t_control("skew", "{\"seconds\": 61}"));
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, f.code, f.verifier);
    json_t *j = post_token(body, &st, NULL);
    json_decref(t_control("skew", "{\"seconds\": 0}"));
    int ok = st == 400 && sim_streq_t(t_jstr(j, "error"), "invalid_request") &&
             sim_streq_t(t_jstr(j, "hint"), "Authorization code has expired");
    json_decref(j);
    CHECK(ok);
}

static void token_code_replay_strict_and_quirks(void)
{
    for (int quirks = 0; quirks < 2; quirks++) {
        fresh f;
        char body[8192];
        long st1, st2;
        json_decref(t_control("quirks", quirks ? "{\"enabled\": true}" : "{\"enabled\": false}"));
        CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
        snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
                 "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, f.code,
                 f.verifier);
        json_decref(post_token(body, &st1, NULL));
        json_decref(post_token(body, &st2, NULL));
        json_decref(t_control("quirks", "{\"enabled\": false}"));
        CHECK(st1 == 200);
        CHECK(st2 == (quirks ? 200 : 400));
    }
}

static void token_quirks_accept_omitted_secret_on_code(void)
{
    fresh f;
    char body[8192];
    long st;
    json_decref(t_control("quirks", "{\"enabled\": true}"));
    CHECK(new_code(&f, CONF_ID, STD_SCOPE) == 0);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s&client_id=" CONF_ID, f.code, f.verifier);
    json_decref(post_token(body, &st, NULL));
    json_decref(t_control("quirks", "{\"enabled\": false}"));
    CHECK(st == 200);
}

static json_t *refresh(const char *rt, const char *client, const char *secret, const char *scope,
                       long *st)
{
    char body[8192];
    char *sc = scope ? t_urlenc(scope) : NULL;
    snprintf(body, sizeof(body), "grant_type=refresh_token&refresh_token=%s&client_id=%s%s%s%s%s",
             rt, client, secret ? "&client_secret=" : "", secret ? secret : "",
             sc ? "&scope=" : "", sc ? sc : "");
    free(sc);
    return post_token(body, st, NULL);
}

static void refresh_rotates_and_revokes_old_tokens(void)
{
    long st;
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    char path[200];
    snprintf(path, sizeof(path), FHIR "/Patient/%s", t_jstr(t1, "patient"));
    json_t *c0 = t_control("counters", NULL);
    json_t *r0 = t_control("rotations", NULL);
    struct timespec b0, b1;
    clock_gettime(CLOCK_MONOTONIC, &b0);
    json_t *t2 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET, NULL, &st);
    clock_gettime(CLOCK_MONOTONIC, &b1);
    int new_rt = st == 200 && t_jstr(t2, "refresh_token") &&
                 !sim_streq_t(t_jstr(t2, "refresh_token"), t_jstr(t1, "refresh_token")) &&
                 t_jstr(t2, "id_token") && sim_streq_t(t_jstr(t2, "patient"), t_jstr(t1, "patient"));
    long old_access = t_status_of_get(path, t_jstr(t1, "access_token"));
    long new_access = t_status_of_get(path, t_jstr(t2, "access_token"));
    json_t *again = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET, NULL, &st);
    int reuse = st == 401 && sim_streq_t(t_jstr(again, "error"), "invalid_request") &&
                sim_streq_t(t_jstr(again, "error_description"), "The refresh token is invalid.") &&
                sim_streq_t(t_jstr(again, "hint"), "Token has been revoked");
    json_t *c1 = t_control("counters", NULL);
    /* One rotation (the refused reuse is none), timed while the call was
     * in flight, on the same clock as the caller's. */
    json_t *r1 = t_control("rotations", NULL);
    json_t *times = json_object_get(r1, "monotonic_ns");
    long long rot = json_integer_value(json_array_get(times, json_array_size(times) - 1));
    int one_rotation = json_integer_value(json_object_get(r1, "total")) ==
                       json_integer_value(json_object_get(r0, "total")) + 1;
    int timed = rot >= (long long)b0.tv_sec * 1000000000LL + b0.tv_nsec &&
                rot <= (long long)b1.tv_sec * 1000000000LL + b1.tv_nsec;
    json_decref(r0);
    json_decref(r1);
    json_int_t d_reuse = json_integer_value(json_object_get(c1, "revoked_refresh_reuse")) -
                         json_integer_value(json_object_get(c0, "revoked_refresh_reuse"));
    json_int_t d_refresh =
        json_integer_value(json_object_get(json_object_get(c1, "token_requests"), "refresh_token")) -
        json_integer_value(json_object_get(json_object_get(c0, "token_requests"), "refresh_token"));
    json_decref(t1);
    json_decref(t2);
    json_decref(again);
    json_decref(c0);
    json_decref(c1);
    CHECK(new_rt);
    CHECK(old_access == 401);
    CHECK(new_access == 200);
    CHECK(reuse);
    CHECK(d_reuse == 1);
    CHECK(d_refresh == 2);
    CHECK(one_rotation);
    CHECK(timed);
}

static void refresh_without_offline_access_gives_no_refresh_token(void)
{
    long st, st2;
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    json_t *t2 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET,
                         "openid api:fhir patient/Patient.read", &st);
    json_t *t3 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET, NULL, &st2);
    int ok = st == 200 && !json_object_get(t2, "refresh_token") && t_jstr(t2, "access_token");
    json_decref(t1);
    json_decref(t2);
    json_decref(t3);
    CHECK(ok);
    CHECK(st2 == 401);   /* the old one is revoked all the same */
}

static void refresh_error_table(void)
{
    long st;
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    char rt[2048];
    snprintf(rt, sizeof(rt), "%s", t_jstr(t1, "refresh_token"));
    json_decref(t1);
    static const struct { const char *rt, *client, *secret, *scope; long status; const char *error, *hint; } rows[] = {
        {"def502garbage", CONF_ID, CONF_SECRET, NULL, 401, "invalid_request", "Cannot decrypt the refresh token"},
        {NULL, OTHER_ID, OTHER_SECRET, NULL, 401, "invalid_request", "Token is not linked to client"},
        {NULL, CONF_ID, CONF_SECRET, "openid user/Patient.read", 400, "invalid_scope", "Check the `user/Patient.read` scope"},
        {NULL, CONF_ID, CONF_SECRET, "openid patient/*.read", 400, "invalid_scope", "Check the `patient/*.read` scope"},
        {NULL, CONF_ID, "wrong", NULL, 401, "invalid_client", NULL},
        {NULL, CONF_ID, NULL, NULL, 401, "invalid_client", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *j = refresh(rows[i].rt ? rows[i].rt : rt, rows[i].client, rows[i].secret,
                            rows[i].scope, &st);
        int ok = st == rows[i].status && sim_streq_t(t_jstr(j, "error"), rows[i].error) &&
                 (!rows[i].hint || sim_streq_t(t_jstr(j, "hint"), rows[i].hint));
        if (!ok)
            fprintf(stderr, "    row %zu: %ld %s %s\n", i, st, t_jstr(j, "error"), t_jstr(j, "hint"));
        json_decref(j);
        CHECK(ok);
    }
    /* the refresh token survived every failed attempt */
    json_t *ok = refresh(rt, CONF_ID, CONF_SECRET, NULL, &st);
    json_decref(ok);
    CHECK(st == 200);
}

static void refresh_quirks_skip_secret_check(void)
{
    long st;
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    json_decref(t_control("quirks", "{\"enabled\": true}"));
    json_t *t2 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, "wrong", NULL, &st);
    json_decref(t_control("quirks", "{\"enabled\": false}"));
    json_decref(t1);
    json_decref(t2);
    CHECK(st == 200);
}

static void control_revoke_refresh_token(void)
{
    long st;
    char body[4096];
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", t_jstr(t1, "refresh_token"));
    json_t *c = t_control("revoke-refresh-tokens", body);
    int n = (int)json_integer_value(json_object_get(c, "revoked"));
    json_decref(c);
    json_t *t2 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET, NULL, &st);
    int ok = st == 401 && sim_streq_t(t_jstr(t2, "hint"), "Token has been revoked");
    json_decref(t1);
    json_decref(t2);
    CHECK(n == 1);
    CHECK(ok);
}

static void control_expire_access_tokens_now(void)
{
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    char path[200];
    snprintf(path, sizeof(path), FHIR "/Patient/%s", t_jstr(t1, "patient"));
    long before = t_status_of_get(path, t_jstr(t1, "access_token"));
    json_decref(t_control("expire-access-tokens", "{\"client_id\":\"" CONF_ID "\"}"));
    long after = t_status_of_get(path, t_jstr(t1, "access_token"));
    long st;
    json_t *t2 = refresh(t_jstr(t1, "refresh_token"), CONF_ID, CONF_SECRET, NULL, &st);
    json_decref(t1);
    json_decref(t2);
    CHECK(before == 200);
    CHECK(after == 401);
    CHECK(st == 200);
}

static void control_access_ttl_sets_expires_in(void)
{
    json_decref(t_control("access-ttl", "{\"seconds\": 5}"));
    json_t *t1 = t_tokens(STD_SCOPE);
    json_decref(t_control("access-ttl", "{\"seconds\": 3600}"));
    CHECK(t1);
    json_int_t e = json_integer_value(json_object_get(t1, "expires_in"));
    json_decref(t1);
    CHECK(e == 5);
}

/* Verifies an RS256 JWT against the server's current /jwk key. */
static int verify_with_jwk(const char *jwt)
{
    tresp r;
    int ok = 0;
    t_get("/oauth2/default/jwk", NULL, &r);
    json_t *j = t_json(&r);
    t_resp_free(&r);
    json_t *k = json_array_get(json_object_get(j, "keys"), 0);
    unsigned char n[600], e[16], sig[600];
    size_t nl = 0, el = 0, sl = 0;
    const char *ns = t_jstr(k, "n"), *es = t_jstr(k, "e");
    const char *dot2 = strrchr(jwt, '.');
    if (ns && es && dot2 &&
        sodium_base642bin(n, sizeof(n), ns, strlen(ns), NULL, &nl, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        sodium_base642bin(e, sizeof(e), es, strlen(es), NULL, &el, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        sodium_base642bin(sig, sizeof(sig), dot2 + 1, strlen(dot2 + 1), NULL, &sl, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
        gnutls_pubkey_t pk;
        gnutls_datum_t dn = {n, (unsigned)nl}, de = {e, (unsigned)el};
        gnutls_datum_t data = {(unsigned char *)jwt, (unsigned)(dot2 - jwt)}, ds = {sig, (unsigned)sl};
        gnutls_pubkey_init(&pk);
        if (gnutls_pubkey_import_rsa_raw(pk, &dn, &de) >= 0)
            ok = gnutls_pubkey_verify_data2(pk, GNUTLS_SIGN_RSA_SHA256, 0, &data, &ds) >= 0;
        gnutls_pubkey_deinit(pk);
    }
    json_decref(j);
    return ok;
}

static void id_token_verifies_and_faults_spoil_it(void)
{
    static const struct { const char *kind; int sig_ok; const char *claim, *bad; } rows[] = {
        {NULL, 1, NULL, NULL},
        {"id_token_bad_signature", 0, NULL, NULL},
        {"id_token_wrong_iss", 1, "iss", "https://127.0.0.1/oauth2/wrong-issuer"},
        {"id_token_wrong_aud", 1, "aud", "some-other-client"},
        {"id_token_wrong_nonce", 1, "nonce", "not-the-nonce-you-sent"},
        {"id_token_expired", 1, "exp", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char f[256];
        if (rows[i].kind) {
            snprintf(f, sizeof(f), "{\"route\":\"" TOKEN "\",\"kind\":\"%s\",\"count\":1}", rows[i].kind);
            json_decref(t_control("faults", f));
        }
        json_t *t1 = t_tokens(STD_SCOPE);
        CHECK(t1);
        const char *idt = t_jstr(t1, "id_token");
        json_t *c = t_jwt_claims(idt);
        int sig = verify_with_jwk(idt);
        int claim_ok = 1;
        if (rows[i].claim && rows[i].bad)
            claim_ok = sim_streq_t(t_jstr(c, rows[i].claim), rows[i].bad);
        else if (rows[i].claim)
            claim_ok = json_integer_value(json_object_get(c, "exp")) < (json_int_t)time(NULL);
        if (sig != rows[i].sig_ok || !claim_ok)
            fprintf(stderr, "    row %s: sig %d claim %d\n", rows[i].kind ? rows[i].kind : "none", sig, claim_ok);
        json_decref(c);
        json_decref(t1);
        CHECK(sig == rows[i].sig_ok);
        CHECK(claim_ok);
    }
}

static void rotate_jwks_changes_the_key(void)
{
    tresp r;
    t_get("/oauth2/default/jwk", NULL, &r);
    json_t *a = t_json(&r);
    t_resp_free(&r);
    json_t *rot = t_control("rotate-jwks", "{}");
    t_get("/oauth2/default/jwk", NULL, &r);
    json_t *b = t_json(&r);
    t_resp_free(&r);
    const char *na = t_jstr(json_array_get(json_object_get(a, "keys"), 0), "n");
    const char *nb = t_jstr(json_array_get(json_object_get(b, "keys"), 0), "n");
    int changed = rot && na && nb && strcmp(na, nb) != 0;
    json_decref(a);
    json_decref(b);
    json_decref(rot);
    CHECK(changed);
    json_t *t1 = t_tokens(STD_SCOPE);
    int ok = t1 && verify_with_jwk(t_jstr(t1, "id_token"));
    json_decref(t1);
    CHECK(ok);
}

static void transport_faults_table(void)
{
    static const struct { const char *kind; int ms; long status; CURLcode cc; } rows[] = {
        {"5xx", 0, 503, CURLE_OK},
        {"reset", 0, 0, CURLE_RECV_ERROR},
        {"truncated", 0, 200, CURLE_PARTIAL_FILE},
        {"latency", 20, 200, CURLE_OK},
        {"drip", 1, 200, CURLE_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char f[256];
        tresp r;
        snprintf(f, sizeof(f), "{\"route\":\"/oauth2/default/jw*\",\"kind\":\"%s\","
                 "\"count\":1,\"ms\":%d}", rows[i].kind, rows[i].ms);
        json_decref(t_control("faults", f));
        /* a new connection: on a reused one curl silently retries a reset request */
        g_fresh_connect = 1;
        t_get("/oauth2/default/jwk", NULL, &r);
        g_fresh_connect = 0;
        json_t *j = t_json(&r);
        int complete = j != NULL;
        json_decref(j);
        t_resp_free(&r);
        int ok = rows[i].cc == CURLE_RECV_ERROR ? r.cc != CURLE_OK && r.status == 0
                                                : r.cc == rows[i].cc && r.status == rows[i].status;
        if (rows[i].status == 200 && rows[i].cc == CURLE_OK)
            ok = ok && complete;
        if (!ok)
            fprintf(stderr, "    fault %s: cc %d status %ld\n", rows[i].kind, r.cc, r.status);
        CHECK(ok);
        /* the fault was for one request only */
        CHECK(t_status_of_get("/oauth2/default/jwk", NULL) == 200);
    }
}

static void introspect_reports_active_then_inactive(void)
{
    tresp r;
    char body[8192];
    json_t *t1 = t_tokens(STD_SCOPE);
    CHECK(t1);
    snprintf(body, sizeof(body), "token=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET,
             t_jstr(t1, "access_token"));
    t_form("/oauth2/default/introspect", body, NULL, NULL, &r);
    json_t *a = t_json(&r);
    t_resp_free(&r);
    json_decref(t_control("expire-access-tokens", "{\"client_id\":\"" CONF_ID "\"}"));
    t_form("/oauth2/default/introspect", body, NULL, NULL, &r);
    json_t *b = t_json(&r);
    t_resp_free(&r);
    snprintf(body, sizeof(body), "token=%s&client_id=" CONF_ID "&client_secret=bad",
             t_jstr(t1, "refresh_token"));
    t_form("/oauth2/default/introspect", body, NULL, NULL, &r);
    json_t *c = t_json(&r);
    t_resp_free(&r);
    int ok = json_is_true(json_object_get(a, "active")) && json_is_false(json_object_get(b, "active")) &&
             json_is_false(json_object_get(c, "active")) && r.status == 200;
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(t1);
    CHECK(ok);
}

static void logout_makes_tokens_400_and_redirects(void)
{
    json_t *cl = t_control("clients", "{\"client_id\":\"lo\",\"client_secret\":\"lo-secret\","
        "\"redirect_uris\":[\"" REDIRECT "\"],\"post_logout_redirect_uris\":[\"http://127.0.0.1:8765/bye\"],"
        "\"scope\":\"openid offline_access api:fhir launch/patient patient/Patient.read\"}");
    CHECK(cl);
    json_decref(cl);
    fresh f;
    char body[8192], path[8192];
    long st;
    CHECK(new_code(&f, "lo", "openid offline_access api:fhir launch/patient patient/Patient.read") == 0);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=" RU
             "&code_verifier=%s&client_id=lo&client_secret=lo-secret", f.code, f.verifier);
    json_t *t1 = post_token(body, &st, NULL);
    CHECK(st == 200 && t1);
    char fpath[200];
    snprintf(fpath, sizeof(fpath), FHIR "/Patient/%s", t_jstr(t1, "patient"));
    snprintf(path, sizeof(path), "/oauth2/default/logout?id_token_hint=%s&post_logout_redirect_uri="
             "http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fbye&state=zz", t_jstr(t1, "id_token"));
    tresp r;
    t_get(path, NULL, &r);
    t_resp_free(&r);
    int redirected = r.status == 302 && strcmp(r.location, "http://127.0.0.1:8765/bye?state=zz") == 0;
    tresp fr;
    t_get(fpath, t_jstr(t1, "access_token"), &fr);
    json_t *e = t_json(&fr);
    t_resp_free(&fr);
    int after = fr.status == 400 && sim_streq_t(t_jstr(e, "message"), "Refresh Token revoked or logged out");
    json_decref(e);
    json_decref(t1);
    CHECK(redirected);
    CHECK(after);
}

const tcase t_token_cases[] = {
    {"token_code_exchange_returns_openemr_fields", token_code_exchange_returns_openemr_fields},
    {"token_basic_auth_works", token_basic_auth_works},
    {"token_body_credentials_win_over_basic", token_body_credentials_win_over_basic},
    {"token_error_table", token_error_table},
    {"token_expired_code_is_invalid_request", token_expired_code_is_invalid_request},
    {"token_code_replay_strict_and_quirks", token_code_replay_strict_and_quirks},
    {"token_quirks_accept_omitted_secret_on_code", token_quirks_accept_omitted_secret_on_code},
    {"refresh_rotates_and_revokes_old_tokens", refresh_rotates_and_revokes_old_tokens},
    {"refresh_without_offline_access_gives_no_refresh_token", refresh_without_offline_access_gives_no_refresh_token},
    {"refresh_error_table", refresh_error_table},
    {"refresh_quirks_skip_secret_check", refresh_quirks_skip_secret_check},
    {"control_revoke_refresh_token", control_revoke_refresh_token},
    {"control_expire_access_tokens_now", control_expire_access_tokens_now},
    {"control_access_ttl_sets_expires_in", control_access_ttl_sets_expires_in},
    {"id_token_verifies_and_faults_spoil_it", id_token_verifies_and_faults_spoil_it},
    {"rotate_jwks_changes_the_key", rotate_jwks_changes_the_key},
    {"transport_faults_table", transport_faults_table},
    {"introspect_reports_active_then_inactive", introspect_reports_active_then_inactive},
    {"logout_makes_tokens_400_and_redirects", logout_makes_tokens_400_and_redirects},
    {NULL, NULL}};
