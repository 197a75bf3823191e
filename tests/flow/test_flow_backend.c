/* test_flow_backend.c - SMART Backend Services (grant=client_credentials)
 * against the simulator: no staff sign-in, no refresh token, nothing in the
 * store but the signing key the real vap-seal (argv[2]) made.  The access
 * token is obtained on first need, renewed once per expiry however many
 * threads need it, and never written down.  Refusals: a disabled client
 * (VAP_E_CLIENT saying how to enable it), system scopes switched off
 * (VAP_E_CONFIG naming the global), a SOAP note write (VAP_E_DENIED), an
 * authorization (VAP_E_CONFIG: nothing to authorize). */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowkit.h"
#include "mpkit.h"
#include "testcheck.h"

#define BK_SCOPE "api:fhir system/Patient.read system/Appointment.read"
#define BK_THREADS 64

static const char *vap_seal;
static const char *worker; /* refresh-worker: one "machine" of the fleet */
static struct flowkit k;
static char secrets_log[256];

/* vap-seal CMD with the flow store and client ID; stdout into out. */
static int seal_cmd(const char *client_id, const char *cmd, char *out, size_t cap)
{
    const char *argv[] = {vap_seal, cmd, "--keyring", k.keyring, "--store", k.store,
                          "--issuer", k.issuer, "--client-id", client_id, NULL};
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(vap_seal, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    for (ssize_t r; len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0;)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = sz * n;
    if (have + add >= 16384)
        add = 16383 - have;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return sz * n;
}

/* Dynamic registration, as vap-host register --backend sends it. */
static long register_backend(const char *scope, char *out)
{
    char url[256], body[2048];
    long status = -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(url, sizeof url, "%s/oauth2/default/registration", k.base);
    snprintf(body, sizeof body,
             "{\"application_type\":\"private\",\"client_name\":\"backend\",\"redirect_uris\":"
             "[\"%s\"],\"token_endpoint_auth_method\":\"private_key_jwt\",\"grant_types\":"
             "[\"client_credentials\"],\"scope\":\"%s\",\"jwks\":{\"keys\":[]}}",
             FLOW_REDIRECT, scope);
    out[0] = '\0';
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(k.sim));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static void enable(const char *id, int on)
{
    char body[256];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"enabled\":%s}", id, on ? "true" : "false");
    flowkit_control(&k, "clients/enable", body, NULL, 0);
}

static void system_scopes(int on)
{
    flowkit_control(&k, "system-scopes", on ? "{\"enabled\":true}" : "{\"enabled\":false}", NULL,
                    0);
}

static long cc_requests(void)
{
    return flowkit_counter(&k, "token_requests.client_credentials");
}

static int fetch_patient(vap_instance *inst, vap_error *err)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_get_req(&req, "Patient", NULL);
    VAP_INIT(vap_error, *err);
    int rc = k.api->fetch(inst, NULL, &req, &resp, err);
    if (rc == VAP_OK && resp->status != 200) {
        printf("  fetch: HTTP %d\n", resp->status);
        rc = -1;
    }
    k.api->release(resp);
    return rc;
}

/* 1 when the store holds no grant item (nor its temp file). */
static int store_has_no_grant(void)
{
    DIR *d = opendir(k.store);
    int none = d != NULL;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, "grant") != NULL) {
            printf("  store holds %s\n", e->d_name);
            none = 0;
        }
    if (d)
        closedir(d);
    return none;
}

/* 1 when any 24-byte piece of tok past its JWT header (the same in every
 * token) is in text: a log line may be cut. */
static int token_in(const char *text, const char *tok)
{
    size_t n = strlen(tok);
    const char *dot = strchr(tok, '.');
    char piece[25];
    for (size_t i = dot ? (size_t)(dot - tok) + 1 : 0; i + 24 <= n; i += 12) {
        memcpy(piece, tok + i, 24);
        piece[24] = '\0';
        if (strstr(text, piece) != NULL)
            return 1;
    }
    return 0;
}

struct worker {
    pthread_t t;
    vap_instance *inst;
    pthread_barrier_t *go;
    int rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    vap_error err;
    pthread_barrier_wait(w->go);
    w->rc = fetch_patient(w->inst, &err);
    return NULL;
}

/* BK_THREADS fetches at once; 1 when all got 200. */
static int stampede(vap_instance *inst)
{
    struct worker w[BK_THREADS];
    pthread_barrier_t go;
    int ok = 1;
    pthread_barrier_init(&go, NULL, BK_THREADS);
    for (int i = 0; i < BK_THREADS; i++) {
        w[i].inst = inst;
        w[i].go = &go;
        w[i].rc = -1;
        pthread_create(&w[i].t, NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < BK_THREADS; i++) {
        pthread_join(w[i].t, NULL);
        ok &= w[i].rc == VAP_OK;
    }
    pthread_barrier_destroy(&go);
    return ok;
}

/* The token's expiry and renewal time, from status. */
static int token_times(vap_instance *inst, int64_t *exp, int64_t *due, int *state)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = k.api->status(inst, NULL, &gi, &err);
    if (rc == VAP_OK) {
        *exp = gi->access_expires_at_ms;
        *due = gi->renew_due_at_ms;
        *state = gi->state;
        rc = gi->has_refresh_token ? -1 : VAP_OK;
    }
    k.api->release(gi);
    return rc;
}

/* Waits (bounded only by the test's timeout) until n token requests were made. */
static long wait_requests(long n)
{
    long have;
    while ((have = cc_requests()) < n)
        usleep(10000);
    return have;
}

/* The same command to every worker at once, then every reply: their 64
 * threads run in all four processes together. 1 when all answered. */
static int all_cmd(struct proc *p, int n, const char *cmd, char replies[][128])
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        replies[i][0] = '\0';
        ok &= fprintf(p[i].in, "%s\n", cmd) > 0 && fflush(p[i].in) == 0;
    }
    for (int i = 0; i < n; i++)
        ok &= fgets(replies[i], 128, p[i].out) != NULL;
    return ok;
}

/* 1 when every worker's 64 fetches got 200; the others' replies printed. */
static int all_fetched(char replies[][128])
{
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        int good = reply_int(replies[i], "ok=") == BK_THREADS && reply_int(replies[i], "fail=") == 0;
        if (!good)
            printf("  worker %d: %s", i, replies[i]);
        ok &= good;
    }
    return ok;
}

/* 4 worker processes (exec'd, each its own plugin) x 64 threads: the token
 * lives in each process's memory (nothing is sealed), so each makes exactly
 * one token request per expiry of its token, however many of its threads
 * need it at once. */
static void four_processes(const char *id)
{
    struct mp m = {.k = k, .worker = worker, .client_id = id, .scope = BK_SCOPE};
    /* a deadline valgrind on a busy machine meets, 256 threads at once */
    static const char *const opts[] = {"client_auth=private_key_jwt", "grant=client_credentials",
                                       "timeout_ms=120000", NULL};
    struct proc p[4];
    char r[4][128] = {{0}};
    int started = 0, fetched, clocks, clean = 0;
    long before, first = -1;
    int64_t latest = 0;
    /* Tokens of an hour, renewed ahead at 45 minutes: however slow the
     * stampede (valgrind), no renewal falls inside it; the expiry is the
     * workers' clock set past it. */
    check(flowkit_control(&k, "access-ttl", "{\"seconds\":3600}", NULL, 0) == 200,
          "hour_long_backend_tokens_from_now_on");
    before = cc_requests();
    for (int i = 0; i < 4; i++)
        started += proc_start(&m, &p[i], NULL, opts) == 0;
    fetched = clocks = started == 4;
    if (started == 4) {
        fetched &= all_cmd(p, 4, "fetch 64", r) && all_fetched(r);
        first = cc_requests() - before;
        clocks &= all_cmd(p, 4, "status", r);
        for (int i = 0; clocks && i < 4; i++)
            if (reply_int(r[i], "exp=") > latest)
                latest = reply_int(r[i], "exp=");
        /* every worker's token has expired */
        char cmd[64];
        snprintf(cmd, sizeof cmd, "clock %lld", (long long)latest + 1000);
        clocks &= latest > 0 && all_cmd(p, 4, cmd, r);
        fetched &= all_cmd(p, 4, "fetch 64", r) && all_fetched(r);
        for (int i = 0; i < 4; i++)
            clean += proc_stop(&p[i]) == 0;
    } else {
        for (int i = 0; i < started; i++)
            proc_stop(&p[i]);
    }
    long made = cc_requests() - before;
    printf("COUNT backend_4procs_x64 expiries=2 token_requests=%ld (first %ld)\n", made, first);
    check(started == 4, "four_worker_processes_started");
    check(clocks, "workers_told_their_token_expiry_and_took_the_clock");
    check(fetched, "four_processes_of_64_threads_all_fetch");
    check(first == 4 && made == 8, "one_token_request_per_process_per_expiry");
    check(clean == 4, "four_processes_exit_clean");
}

static void backend_services(void)
{
    char out[16384], id[128], jwks[8192];
    vap_instance *inst = NULL;
    vap_error err;
    int rc;

    /* off by default, as in a fresh OpenEMR: system/ scopes are unknown */
    check(register_backend(BK_SCOPE, out) == 400 && strstr(out, "invalid_scope"),
          "registration_with_system_scopes_off_is_invalid_scope");
    system_scopes(1);
    json_t *r = NULL;
    check(register_backend(BK_SCOPE, out) == 200 && (r = json_loads(out, 0, NULL)) != NULL &&
              json_string_value(json_object_get(r, "client_id")) != NULL,
          "backend_client_registers");
    snprintf(id, sizeof id, "%s", r ? json_string_value(json_object_get(r, "client_id")) : "");
    json_decref(r);
    check(seal_cmd(id, "keygen", out, sizeof out) == 0, "keygen_seals_the_key");
    check(seal_cmd(id, "jwks", jwks, sizeof jwks) == 0, "jwks_prints_the_public_key");
    char body[16384];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"jwks\":%s}", id, jwks);
    check(flowkit_control(&k, "client-jwks", body, NULL, 0) == 200, "admin_sets_the_jwks");

    check(flowkit_instance(&k, &inst, &err, "client_id", id, "client_auth", "private_key_jwt",
                           "grant", "client_credentials", "scope", BK_SCOPE,
                           /* 64 threads at once under valgrind run one at a time */
                           "timeout_ms", "120000", NULL) == VAP_OK,
          "backend_instance");
    if (inst == NULL)
        return;

    /* a confidential client with system/ scopes starts disabled */
    rc = fetch_patient(inst, &err);
    check(rc == VAP_E_CLIENT && strstr(err.message, "Administration > System > API Clients") &&
              strstr(err.message, "vap-seal jwks"),
          "disabled_client_is_client_error_saying_how_to_enable_it");
    if (rc != VAP_E_CLIENT)
        printf("  %d: %s\n", rc, err.message);
    enable(id, 1);

    long before = cc_requests();
    rc = fetch_patient(inst, &err);
    check(rc == VAP_OK, "fhir_fetch_with_a_backend_token");
    if (rc != VAP_OK)
        printf("  %d: %s\n", rc, err.message);
    check(cc_requests() == before + 1, "first_need_obtains_one_token");
    check(fetch_patient(inst, &err) == VAP_OK && cc_requests() == before + 1,
          "the_token_is_reused_while_valid");

    int64_t exp = 0, due = 0;
    int state = 0;
    check(token_times(inst, &exp, &due, &state) == VAP_OK && state == VAP_GRANT_VALID &&
              exp > due && due > 0,
          "status_reports_the_backend_token_with_no_refresh_token");

    vap_grant_info *life = NULL;
    VAP_INIT(vap_error, err);
    check(k.api->status(inst, NULL, &life, &err) == VAP_OK &&
              life->access_expires_at_ms - life->obtained_at_ms == 60000,
          "backend_tokens_live_60_s");
    k.api->release(life);

    /* ahead of expiry: the token is handed out while one renewal runs */
    long n = cc_requests();
    fakehost_set_now_ms(k.fh, due + (exp - due) / 4);
    check(stampede(inst), "64_threads_inside_the_margin_all_fetch");
    check(wait_requests(n + 1) == n + 1, "one_renewal_ahead_of_expiry_for_64_threads");
    /* at expiry, twice: every thread waits for the same single request */
    for (int round = 0; round < 2; round++) {
        check(token_times(inst, &exp, &due, &state) == VAP_OK, "status_after_renewal");
        n = cc_requests();
        fakehost_set_now_ms(k.fh, exp + 1000);
        check(stampede(inst), "64_threads_at_expiry_all_fetch");
        check(cc_requests() == n + 1, "one_token_request_per_expiry_for_64_threads");
    }
    fakehost_set_now_ms(k.fh, 0);

    /* nothing to authorize */
    vap_authorize_begin_result *begin = NULL;
    VAP_INIT(vap_error, err);
    rc = k.api->authorize_begin(inst, NULL, NULL, &begin, &err);
    check(rc == VAP_E_CONFIG && strstr(err.message, "needs no staff sign-in"),
          "authorize_says_backend_services_need_no_sign_in");
    k.api->release(begin);

    /* a SOAP note needs user/ scopes a system/ token never has */
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    static const char note[] = "{\"subjective\":\"test\"}";
    flowkit_get_req(&req, "patient/1/encounter/1/soap_note", NULL);
    req.method = "POST";
    req.flags = VAP_FETCH_STANDARD_API;
    req.body = note;
    req.body_len = sizeof note - 1;
    VAP_INIT(vap_error, err);
    rc = k.api->fetch(inst, NULL, &req, &resp, &err);
    check(rc == VAP_E_DENIED && strstr(err.message, "cannot write SOAP notes"),
          "note_write_is_denied_saying_why");
    k.api->release(resp);

    /* the global switched off: the next token request is invalid_scope */
    system_scopes(0);
    flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0);
    VAP_INIT(vap_error, err);
    rc = k.api->refresh(inst, NULL, &(vap_grant_info *){NULL}, &err);
    check(rc == VAP_E_CONFIG && strstr(err.message, "Enable OpenEMR FHIR System Scopes") &&
              strstr(err.message, "rest_system_scopes_api"),
          "system_scopes_off_is_config_error_naming_the_global");
    if (rc != VAP_E_CONFIG)
        printf("  %d: %s\n", rc, err.message);
    system_scopes(1);

    /* disabled again later: the renewal says how to fix it */
    enable(id, 0);
    rc = k.api->refresh(inst, NULL, &(vap_grant_info *){NULL}, &err);
    check(rc == VAP_E_CLIENT, "disabled_later_is_client_error");
    enable(id, 1);
    vap_grant_info *gi = NULL;
    check(k.api->refresh(inst, NULL, &gi, &err) == VAP_OK && gi->has_refresh_token == 0,
          "re_enabled_client_gets_a_token_again");
    k.api->release(gi);

    k.api->instance_free(inst);
    four_processes(id);
    check(store_has_no_grant(), "no_grant_is_ever_written");
    /* the access tokens never reach the log */
    char line[8192];
    FILE *f = fopen(secrets_log, "r");
    int tokens = 0, leaked = 0;
    char *log = fakehost_log_text(k.fh);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "access_token ", 13) == 0) {
            line[strcspn(line, "\n")] = '\0';
            tokens++;
            leaked |= log != NULL && token_in(log, line + 13);
        }
    if (f)
        fclose(f);
    free(log);
    check(tokens > 0 && !leaked, "no_access_token_in_the_log");
}

int main(int argc, char **argv)
{
    sim_config cfg;
    if (argc != 4)
        return 2;
    vap_seal = argv[2];
    worker = argv[3];
    signal(SIGPIPE, SIG_IGN); /* a dead worker is a failed check, not a dead test */
    flowkit_sim_defaults(&cfg);
    snprintf(secrets_log, sizeof secrets_log, "/tmp/vap-backend-log-%d", (int)getpid());
    cfg.secrets_log = secrets_log;
    if (flowkit_start(&k, argv[1], &cfg) != 0)
        return 1;
    backend_services();
    flowkit_stop(&k);
    unlink(secrets_log);
    return check_summary();
}
