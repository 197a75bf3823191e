/* test_flow_refresh.c - keeping the grant alive, in one process, against the
 * simulator (DESIGN.md, Keeping the grant alive, rules 1 and 5-8):
 *
 *   - every failure class gets its code, and the sealed grant stays byte for
 *     byte as it was (or is marked, for a dead grant): a disabled client, a
 *     401 for a missing scope, a logout, resets and 5xx on the token
 *     endpoint and on FHIR, FHIR latency past the deadline;
 *   - a token endpoint slower than the caller's deadline: the caller times
 *     out, the renewal completes and is sealed (rule 10);
 *   - reload: after vap-seal put client_secret and vap-seal rotate-key, the
 *     next request uses the new secret / key without a new instance; and
 *     rotate-key under a host that never calls reload is not mistaken for
 *     a renewal (rule 11);
 *   - proactive renewal with the margin rule on the fake host's clock.
 *
 * The leak scan over everything these flows produce is test_flow_leak.c.
 * Usage: test-flow-refresh MODULE VAP_SEAL errors|transient|reload */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testcheck.h"
#include "flowkit.h"
#include "vapseal.h"

#define NEW_SECRET "flow-secret-rotated-51be0c"

static struct flowkit K;
static vap_instance *I;
static const char *vap_seal;

/* ---- helpers ------------------------------------------------------------------ */

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The sealed grant's bytes as they are on disk. */
static size_t grant_bytes(uint8_t *buf, size_t cap)
{
    seal_store *st = NULL;
    seal_err se = {0};
    size_t len = 0;
    if (seal_store_open(K.store, &st, &se) != 0 ||
        seal_store_read_raw(st, "grant", buf, cap, &len, &se) != 0)
        len = 0;
    seal_store_close(st);
    return len;
}

static int grant_header(const char *item, seal_header *h)
{
    seal_store *st = NULL;
    seal_err se = {0};
    int rc = seal_store_open(K.store, &st, &se) == 0 && seal_store_header(st, item, h, &se) == 0
                 ? 0
                 : -1;
    seal_store_close(st);
    return rc;
}

static int do_refresh(vap_error *err, int64_t deadline_ms)
{
    vap_grant_info *gi = NULL;
    vap_call call;
    VAP_INIT(vap_call, call);
    call.deadline_ms = deadline_ms;
    VAP_INIT(vap_error, *err);
    int rc = K.api->refresh(I, deadline_ms ? &call : NULL, &gi, err);
    K.api->release(gi);
    return rc;
}

static int do_fetch(const char *path, vap_error *err, int64_t deadline_ms)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_call call;
    VAP_INIT(vap_call, call);
    call.deadline_ms = deadline_ms;
    flowkit_get_req(&req, path, "_count=1");
    VAP_INIT(vap_error, *err);
    int rc = K.api->fetch(I, deadline_ms ? &call : NULL, &req, &resp, err);
    if (rc == VAP_OK && (resp == NULL || resp->status != 200))
        rc = VAP_E_PROTOCOL;
    K.api->release(resp);
    return rc;
}

static int grant_state(void)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int st = K.api->status(I, NULL, &gi, &err) == VAP_OK && gi ? gi->state : -1;
    K.api->release(gi);
    return st;
}

static long refreshes(void)
{
    return flowkit_counter(&K, "token_requests.refresh_token");
}

static void reauthorize(void)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    check(flowkit_authorize(&K, I, &gi, &err, NULL, 0) == VAP_OK, "authorize_again");
    K.api->release(gi);
}

/* How many refresh tokens the simulator has minted (its secrets log). */
static long minted_refresh_tokens(void)
{
    static char line[1 << 16];
    long n = 0;
    FILE *f = fopen(getenv("FLOW_SECRETS_LOG"), "r");
    while (f && fgets(line, sizeof line, f) != NULL)
        n += strncmp(line, "refresh_token ", 14) == 0;
    if (f)
        fclose(f);
    return n;
}

static int fault(const char *route, const char *kind, int count, int ms)
{
    char body[256];
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"%s\",\"count\":%d,\"ms\":%d}",
             route, kind, count, ms);
    return flowkit_control(&K, "faults", body, NULL, 0) == 200 ? 0 : -1;
}

/* Run a command with stdin text; returns its exit status. */
static int run_with_stdin(const char *cmd, const char *input)
{
    FILE *p = popen(cmd, "w");
    if (p == NULL)
        return -1;
    fputs(input, p);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- failure classes ------------------------------------------------------------ */

static void test_disabled_client(void)
{
    static uint8_t before[SEAL_FILE_MAX], after[SEAL_FILE_MAX];
    vap_error err;
    size_t n0 = grant_bytes(before, sizeof before);
    check(flowkit_control(&K, "clients/enable",
                          "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":false}", NULL,
                          0) == 200,
          "sim_disable_client");
    int rc = do_refresh(&err, 0);
    check(rc == VAP_E_CLIENT, "disabled_client_is_e_client");
    check(strstr(err.message, "isabled") != NULL, "disabled_client_message_names_the_fix");
    /* OpenEMR never checks the secret on refresh: the message must not send
     * the admin to re-seal it. */
    check(strstr(err.message, "secret") == NULL,
          "disabled_client_on_refresh_does_not_blame_the_secret");
    size_t n1 = grant_bytes(after, sizeof after);
    check(n0 > 0 && n0 == n1 && memcmp(before, after, n0) == 0,
          "disabled_client_keeps_grant_byte_for_byte");
    check(grant_state() == VAP_GRANT_VALID, "disabled_client_grant_not_marked");
    flowkit_control(&K, "clients/enable",
                    "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":true}", NULL, 0);
    check(do_refresh(&err, 0) == VAP_OK, "grant_renews_once_the_client_is_enabled");
}

static void test_missing_scope(void)
{
    vap_error err;
    check(do_refresh(&err, 0) == VAP_OK, "fresh_token_for_scope_test");
    long r0 = refreshes();
    int rc = do_fetch("Observation", &err, 0);
    check(rc == VAP_E_DENIED, "missing_scope_401_is_e_denied");
    check(strstr(err.message, "user/Observation.read") != NULL,
          "missing_scope_message_names_the_scope");
    check(err.http_status == 401, "missing_scope_keeps_http_status");
    check(refreshes() == r0, "missing_scope_makes_no_refresh");
}

/* OpenEMR leaves api:* out of every token response and refuses a refresh
 * scope with user/patient.read but no api:oemr: the grant must survive any
 * number of renewals, not die at the second. */
static void test_ten_refreshes_in_a_row(void)
{
    vap_error err;
    long r0 = refreshes();
    int ok = 1, scoped = 1;
    /* OpenEMR echoes the authorization's nonce among the scopes: not one. */
    vap_grant_info *g0 = NULL;
    VAP_INIT(vap_error, err);
    check(K.api->status(I, NULL, &g0, &err) == VAP_OK && g0 && strstr(g0->scope, "nonce") == NULL &&
              strstr(g0->scope, "api:oemr") != NULL,
          "authorized_scope_has_api_scopes_and_no_nonce");
    K.api->release(g0);
    for (int i = 0; i < 10 && ok; i++) {
        int rc = do_refresh(&err, 0);
        if (rc != VAP_OK) {
            fprintf(stderr, "  refresh %d: %s (%s)\n", i + 1, err.message, err.oauth_error);
            ok = 0;
        }
        vap_grant_info *gi = NULL;
        vap_error se;
        VAP_INIT(vap_error, se);
        if (K.api->status(I, NULL, &gi, &se) != VAP_OK || gi == NULL ||
            strstr(gi->scope, "api:oemr") == NULL || strstr(gi->scope, "api:fhir") == NULL ||
            strstr(gi->scope, "nonce") != NULL)
            scoped = 0;
        K.api->release(gi);
    }
    check(ok, "ten_refreshes_in_a_row_all_succeed");
    check(refreshes() - r0 == 10, "ten_refreshes_make_ten_token_requests");
    check(scoped, "granted_scope_keeps_api_scopes_across_refreshes");
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_works_after_ten_refreshes");
}

/* A refresh the server refuses for its scope is not a config error: the
 * message says what was sent and what was refused, and the grant is kept. */
static void test_refused_refresh_scope(void)
{
    static uint8_t before[SEAL_FILE_MAX], after[SEAL_FILE_MAX];
    vap_error err;
    size_t n0 = grant_bytes(before, sizeof before);
    /* The server refuses a scope it granted (as OpenEMR did for a scope
     * list without api:oemr). */
    check(fault("/oauth2/default/token", "refresh_invalid_scope", 1, 0) == 0,
          "sim_invalid_scope_fault");
    int rc = do_refresh(&err, 0);
    check(rc != VAP_E_CONFIG && rc == VAP_E_DENIED, "refused_refresh_scope_is_not_e_config");
    check(strcmp(err.oauth_error, "invalid_scope") == 0, "refused_refresh_scope_names_the_error");
    check(strstr(err.message, "sent \"openid") != NULL &&
              strstr(err.message, "scope user/Patient.read on refresh") != NULL,
          "refused_refresh_scope_says_what_was_sent_and_refused");
    size_t n1 = grant_bytes(after, sizeof after);
    check(n0 > 0 && n0 == n1 && memcmp(before, after, n0) == 0,
          "refused_refresh_scope_keeps_grant_byte_for_byte");
    check(fakehost_log_contains(K.fh, "the refresh sent scope"), "refused_scope_is_logged_in_full");
    check(do_refresh(&err, 0) == VAP_OK, "grant_renews_after_a_refused_scope");
}

struct transient_case {
    const char *name;
    const char *route; /* the token endpoint, or a FHIR route */
    const char *kind;
    int count;
    int expect;
};

static void test_transient(void)
{
    static uint8_t before[SEAL_FILE_MAX], after[SEAL_FILE_MAX];
    static const struct transient_case cases[] = {
        {"token_5xx_retried_then_e_unavailable", "/oauth2/default/token", "5xx", 20,
         VAP_E_UNAVAILABLE},
        {"token_reset_retried_then_e_unavailable", "/oauth2/default/token", "reset", 20,
         VAP_E_UNAVAILABLE},
        {"fhir_5xx_retried_then_e_unavailable", "/apis/default/fhir/Patient", "5xx", 20,
         VAP_E_UNAVAILABLE},
        {"fhir_reset_retried_then_e_unavailable", "/apis/default/fhir/Patient", "reset", 20,
         VAP_E_UNAVAILABLE},
        {"token_one_5xx_is_retried_to_success", "/oauth2/default/token", "5xx", 1, VAP_OK},
        {"token_one_reset_is_retried_to_success", "/oauth2/default/token", "reset", 1, VAP_OK},
        {"fhir_one_reset_is_retried_to_success", "/apis/default/fhir/Patient", "reset", 1,
         VAP_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct transient_case *c = &cases[i];
        vap_error err;
        int token = strstr(c->route, "token") != NULL;
        size_t n0 = grant_bytes(before, sizeof before);
        fault(c->route, c->kind, c->count, 0);
        int rc = token ? do_refresh(&err, 0) : do_fetch("Patient", &err, 0);
        flowkit_control(&K, "faults/clear", "{}", NULL, 0);
        check(rc == c->expect, c->name);
        if (rc != c->expect)
            printf("  %s: rc=%d (%s)\n", c->name, rc, err.message);
        if (c->expect != VAP_OK) {
            size_t n1 = grant_bytes(after, sizeof after);
            check(n0 > 0 && n0 == n1 && memcmp(before, after, n0) == 0,
                  "transient_failure_keeps_grant_byte_for_byte");
            check(do_refresh(&err, 0) == VAP_OK, "grant_still_renews_after_transient_failure");
        }
    }
}

static void test_latency(void)
{
    static uint8_t before[SEAL_FILE_MAX], after[SEAL_FILE_MAX];
    vap_error err;
    /* FHIR slower than the deadline: E_TIMEOUT, nothing else changes. */
    size_t n0 = grant_bytes(before, sizeof before);
    fault("/apis/default/fhir/Patient", "latency", 1, 1500);
    int rc = do_fetch("Patient", &err, real_ms() + 500);
    check(rc == VAP_E_TIMEOUT, "fhir_latency_past_deadline_is_e_timeout");
    size_t n1 = grant_bytes(after, sizeof after);
    check(n0 > 0 && n0 == n1 && memcmp(before, after, n0) == 0,
          "fhir_timeout_keeps_grant_byte_for_byte");
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_works_after_fhir_timeout");

    /* The token endpoint slower than the deadline: the caller gets
     * E_TIMEOUT, but the request, once sent, runs to its end on the
     * plugin's own clock (rule 10): OpenEMR rotates as it answers, so an
     * abandoned request would leave only a revoked refresh token.  The
     * renewal is sealed and the next call uses it without a request. */
    long r0 = refreshes();
    long u0 = flowkit_counter(&K, "revoked_refresh_reuse");
    long m0 = minted_refresh_tokens();
    seal_header g0, g1;
    check(grant_header("grant", &g0) == 0, "grant_header_before_slow_refresh");
    fault("/oauth2/default/token", "latency", 1, 1500);
    rc = do_refresh(&err, real_ms() + 500);
    check(rc == VAP_E_TIMEOUT, "token_latency_past_deadline_is_e_timeout");
    check(strstr(err.message, "renewal goes on") != NULL, "timeout_says_the_renewal_goes_on");
    /* Wait for the renewal to be sealed (polled, bounded; no clock). */
    for (int i = 0; i < 2000; i++) {
        if (grant_header("grant", &g1) == 0 && g1.generation > g0.generation)
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    check(grant_header("grant", &g1) == 0 && g1.generation == g0.generation + 1 &&
              minted_refresh_tokens() == m0 + 1,
          "abandoned_call_s_renewal_is_sealed");
    rc = do_fetch("Patient", &err, 0);
    check(rc == VAP_OK && refreshes() == r0 + 1, "next_call_uses_it_without_a_token_request");
    check(do_refresh(&err, 0) == VAP_OK &&
              flowkit_counter(&K, "revoked_refresh_reuse") == u0,
          "sealed_refresh_token_is_the_live_one");
    check(grant_state() == VAP_GRANT_VALID, "grant_still_valid_after_slow_refresh");
}

static void test_logout(void)
{
    vap_error err;
    static char secrets[1 << 16], idt[8192], url[9000];
    long status = 0;
    /* The id_token the server minted last (from the simulator's secrets log). */
    FILE *f = fopen(getenv("FLOW_SECRETS_LOG"), "r");
    while (f && fgets(secrets, sizeof secrets, f) != NULL)
        if (strncmp(secrets, "id_token ", 9) == 0)
            snprintf(idt, sizeof idt, "%.*s", (int)strcspn(secrets + 9, "\n"), secrets + 9);
    if (f)
        fclose(f);
    check(idt[0] != '\0', "have_an_id_token_for_logout");
    snprintf(url, sizeof url, "%s/oauth2/default/logout?id_token_hint=%s", K.base, idt);
    flowkit_get_location(&K, url, &status, NULL, 0);
    check(status >= 200 && status < 400, "sim_logout");
    long r0 = refreshes();
    int rc = do_fetch("Patient", &err, 0);
    check(rc == VAP_E_REAUTH_REQUIRED, "logout_400_is_e_reauth_required");
    check(err.http_status == 400, "logout_keeps_http_status_400");
    check(refreshes() == r0, "logout_makes_no_refresh");
    check(grant_state() == VAP_GRANT_REAUTH_REQUIRED, "logout_marks_the_grant");
    check(do_refresh(&err, 0) == VAP_E_REAUTH_REQUIRED && refreshes() == r0,
          "marked_grant_refuses_refresh_without_a_request");
    reauthorize();
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_works_after_authorizing_again");
}

/* ---- reload ----------------------------------------------------------------------- */

static void test_reload_secret(void)
{
    vap_error err;
    char cmd[1024];
    /* The admin regenerates the secret in OpenEMR... */
    check(flowkit_control(&K, "clients",
                          "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"client_secret\":\"" NEW_SECRET
                          "\",\"redirect_uris\":[\"" FLOW_REDIRECT "\"],\"scope\":\"" FLOW_SCOPE
                          "\",\"enabled\":true}",
                          NULL, 0) == 200,
          "sim_new_client_secret");
    check(do_refresh(&err, 0) == VAP_E_CLIENT, "old_secret_is_e_client");
    /* ...seals it with vap-seal put, and the host calls reload. */
    snprintf(cmd, sizeof cmd,
             "'%s' put --keyring '%s' --store '%s' --issuer '%s' --client-id '%s' "
             "client_secret >/dev/null 2>&1",
             vap_seal, K.keyring, K.store, K.issuer, FLOW_CLIENT_ID);
    check(run_with_stdin(cmd, NEW_SECRET "\n") == 0, "vap_seal_put_client_secret");
    VAP_INIT(vap_error, err);
    check(K.api->reload(I, NULL, &err) == VAP_OK, "reload_after_put");
    check(do_refresh(&err, 0) == VAP_OK, "reload_makes_the_new_secret_used_without_restart");
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_after_secret_reload");
}

static void test_reload_rotate_key(void)
{
    vap_error err;
    char cmd[1024];
    seal_header h0, h1, hs;
    check(grant_header("grant", &h0) == 0, "grant_header_before_rotation");
    snprintf(cmd, sizeof cmd, "'%s' rotate-key --keyring '%s' --store '%s' >/dev/null 2>&1",
             vap_seal, K.keyring, K.store);
    check(run_with_stdin(cmd, "") == 0, "vap_seal_rotate_key");
    VAP_INIT(vap_error, err);
    check(K.api->reload(I, NULL, &err) == VAP_OK, "reload_after_rotate_key");
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_after_rotate_key");
    check(do_refresh(&err, 0) == VAP_OK, "refresh_after_rotate_key");
    check(grant_header("grant", &h1) == 0 && grant_header("client_secret", &hs) == 0 &&
              memcmp(h1.key_id, h0.key_id, sizeof h0.key_id) != 0 &&
              memcmp(h1.key_id, hs.key_id, sizeof hs.key_id) == 0,
          "renewed_grant_is_sealed_with_the_new_key");
}

/* Rule 11: a long-running host that never calls reload.  rotate-key
 * re-seals the grant (same tokens, new key, generation + 1); that is not a
 * renewal by another process, so an expired token is still renewed, once. */
static void test_rotate_key_without_reload(void)
{
    vap_error err;
    char cmd[1024];
    check(do_fetch("Patient", &err, 0) == VAP_OK, "fetch_before_unannounced_rotation");
    long r0 = refreshes();
    long u0 = flowkit_counter(&K, "revoked_refresh_reuse");
    snprintf(cmd, sizeof cmd, "'%s' rotate-key --keyring '%s' --store '%s' >/dev/null 2>&1",
             vap_seal, K.keyring, K.store);
    check(run_with_stdin(cmd, "") == 0, "vap_seal_rotate_key_under_a_running_instance");
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0,
          "fetch_after_rotate_key_without_reload_needs_no_token_request");
    /* The server expires the token (the plugin learns it from the 401). */
    flowkit_control(&K, "expire-access-tokens", "{}", NULL, 0);
    int rc = do_fetch("Patient", &err, 0);
    check(rc == VAP_OK, "fetch_after_rotation_and_expiry_succeeds");
    if (rc != VAP_OK)
        printf("  rc=%d %s\n", rc, err.message);
    check(refreshes() == r0 + 1, "rotation_then_expiry_costs_exactly_one_token_request");
    check(!fakehost_log_contains(K.fh, "renewed by another process"),
          "a_re_seal_is_not_taken_for_a_renewal");
    check(flowkit_counter(&K, "revoked_refresh_reuse") == u0, "rotation_reuses_no_revoked_token");
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0 + 1,
          "renewed_token_serves_the_next_fetch");
}

/* ---- proactive renewal (rule 1) ---------------------------------------------------- */

static int64_t obtained_at(void)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int64_t t = K.api->status(I, NULL, &gi, &err) == VAP_OK && gi ? gi->obtained_at_ms : 0;
    K.api->release(gi);
    return t;
}

/* Move both clocks: the plugin's (the fake host's) to base + off_ms, and the
 * simulator's by the same offset from the real clock, so the id_tokens it
 * mints are as fresh as the plugin expects. */
static void set_clocks(int64_t base_ms, int64_t off_ms)
{
    char body[64];
    int64_t skew_s = (base_ms + off_ms - real_ms()) / 1000;
    snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)(base_ms ? skew_s : 0));
    flowkit_control(&K, "skew", body, NULL, 0);
    fakehost_set_now_ms(K.fh, base_ms ? base_ms + off_ms : 0);
}

static uint64_t stored_generation(void)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    uint64_t g = K.api->status(I, NULL, &gi, &err) == VAP_OK && gi ? gi->generation : 0;
    K.api->release(gi);
    return g;
}

/* A token still valid for more than half the margin is handed out while the
 * renewal runs in the background (rule 10): wait for it to be sealed
 * (polled, bounded; no clock is waited for). */
static int wait_generation(uint64_t want)
{
    for (int i = 0; i < 4000; i++) {
        if (stored_generation() >= want)
            return 1;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_proactive(void)
{
    vap_error err;
    fakehost_set_now_ms(K.fh, 0);
    /* A short-lived token (60 s): the margin is a quarter of it (15 s), not
     * the 300 s option, or every call would renew. */
    check(flowkit_control(&K, "access-ttl", "{\"seconds\":60}", NULL, 0) == 200, "sim_ttl_60");
    check(do_refresh(&err, 0) == VAP_OK, "renew_to_a_60s_token");
    int64_t t = obtained_at();
    long r0 = refreshes();
    fakehost_set_now_ms(K.fh, t);
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0,
          "token_just_received_is_not_renewed_on_the_next_call");
    fakehost_set_now_ms(K.fh, t + 44000);
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0,
          "no_renewal_before_a_quarter_of_the_lifetime_is_left");
    fakehost_log_clear(K.fh);
    fakehost_set_now_ms(K.fh, t + 46000);
    uint64_t g0 = stored_generation();
    check(do_fetch("Patient", &err, 0) == VAP_OK && wait_generation(g0 + 1) &&
              refreshes() == r0 + 1,
          "renewed_once_inside_the_quarter_margin");

    /* A one-hour token: the 300 s option is the margin. */
    fakehost_set_now_ms(K.fh, 0);
    check(flowkit_control(&K, "access-ttl", "{\"seconds\":3600}", NULL, 0) == 200,
          "sim_ttl_3600");
    check(do_refresh(&err, 0) == VAP_OK, "renew_to_a_3600s_token");
    t = obtained_at();
    r0 = refreshes();
    set_clocks(t, (3600 - 300 - 5) * 1000LL);
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0,
          "no_renewal_before_the_option_margin");
    fakehost_log_clear(K.fh);
    set_clocks(t, (3600 - 300 + 5) * 1000LL);
    g0 = stored_generation();
    int rc = do_fetch("Patient", &err, 0);
    check(rc == VAP_OK && wait_generation(g0 + 1) && refreshes() == r0 + 1,
          "renewed_once_inside_the_option_margin");
    if (rc != VAP_OK)
        printf("  rc=%d %s\n", rc, err.message);
    check(do_fetch("Patient", &err, 0) == VAP_OK && refreshes() == r0 + 1,
          "renewed_token_is_not_renewed_again");
    set_clocks(0, 0);
}

static void test_logs(void)
{
    /* One line per event that matters. */
    check(fakehost_log_contains(K.fh, "refresh started"), "log_refresh_started");
    check(fakehost_log_contains(K.fh, "refresh finished"), "log_refresh_finished");
    check(fakehost_log_contains(K.fh, "refresh failed"), "log_refresh_failed");
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "errors") != 0 && strcmp(argv[3], "transient") != 0 &&
                      strcmp(argv[3], "reload") != 0 && strcmp(argv[3], "scopes") != 0)) {
        fprintf(stderr,
                "usage: test-flow-refresh MODULE VAP_SEAL errors|transient|reload|scopes\n");
        return 2;
    }
    vap_seal = argv[2];
    const char *group = argv[3];
    char log_path[] = "/tmp/vap-flow-secrets-XXXXXX";
    int lfd = mkstemp(log_path);
    if (lfd < 0)
        return 1;
    close(lfd);
    setenv("FLOW_SECRETS_LOG", log_path, 1);
    sim_config cfg;
    flowkit_sim_defaults(&cfg);
    cfg.secrets_log = log_path;
    cfg.preclients[0].client_secret = FLOW_SECRET;
    if (flowkit_start(&K, argv[1], &cfg) != 0)
        return 1;
    vap_error err;
    check(flowkit_instance(&K, &I, &err, NULL) == VAP_OK, "instance_created");
    reauthorize();

    /* Three groups, each its own test, so each stays short under valgrind. */
    if (strcmp(group, "errors") == 0) {
        test_disabled_client();
        test_missing_scope();
        test_logout();
    } else if (strcmp(group, "scopes") == 0) {
        test_ten_refreshes_in_a_row();
        test_refused_refresh_scope();
    } else if (strcmp(group, "transient") == 0) {
        test_transient();
        test_latency();
    } else {
        test_reload_secret();
        test_reload_rotate_key();
        test_rotate_key_without_reload();
    }
    test_logs();
    if (strcmp(group, "reload") == 0)
        test_proactive();

    K.api->instance_free(I);
    flowkit_stop(&K);
    unlink(log_path);
    return check_summary();
}
