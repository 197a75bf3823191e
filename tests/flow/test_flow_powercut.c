/* test_flow_powercut.c - a power cut at any moment of the plugin's refresh
 * seal leaves the old grant or the renewed one on disk, never neither, and
 * the renewed one once the refresh has returned (DESIGN.md, Keeping the
 * grant alive, rule 4).
 *
 * The real plugin renews in a worker process (refresh-worker) against the
 * simulator, under the seal shim in record mode; tests/seal/powercut_model.c
 * rebuilds every state a power cut may leave after each recorded call, and
 * each is opened with libvapseal as the next process would: plainly, and
 * after the temp-file recovery every writer runs first.  The same model runs
 * put and rotate-key in tests/seal (seal_powercut).
 *
 * Usage: test-flow-powercut MODULE WORKER SHIM */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpkit.h"
#include "powercut_model.h"
#include "testcheck.h"
#include "vapseal.h"

#define PAYLOAD_MAX 65536

struct grant_bytes {
    uint8_t data[PAYLOAD_MAX];
    size_t len;
};

struct refresh_case {
    struct mp *m;
    const struct grant_bytes *old, *renewed;
};

/* The grant's payload in STORE, read as the plugin would (with KEYRING and
 * its binding), after the recovery when RECOVER. */
static int read_grant(struct mp *m, const char *store, const char *keyring, int recover, struct grant_bytes *out,
                      seal_err *err)
{
    seal_binding bind = {m->k.issuer, FLOW_CLIENT_ID};
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    uint64_t recovered = 0;
    int rc = seal_store_open(store, &st, err);
    if (rc == SEAL_OK)
        rc = seal_keyring_load(keyring, (uid_t)-1, &ring, err);
    if (rc == SEAL_OK && recover)
        rc = seal_store_recover(st, ring, "grant", &recovered, err);
    if (rc == SEAL_OK)
        rc = seal_secret_new(&s, err);
    if (rc == SEAL_OK)
        rc = seal_store_read(st, ring, "grant", &bind, s, err);
    if (rc == SEAL_OK && seal_secret_size(s) > sizeof out->data)
        rc = SEAL_E_TOO_BIG;
    if (rc == SEAL_OK) {
        out->len = seal_secret_size(s);
        memcpy(out->data, seal_secret_data(s), out->len);
    }
    /* The client secret is never touched by a refresh: it opens in every state. */
    if (rc == SEAL_OK && !recover) {
        seal_binding cb = {m->k.issuer, FLOW_CLIENT_ID};
        rc = seal_store_read(st, ring, "client_secret", &cb, s, err);
    }
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

static int same(const struct grant_bytes *a, const struct grant_bytes *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static int check_state(void *ctx, const pc_state *st, char *why, size_t cap)
{
    const struct refresh_case *c = ctx;
    static struct grant_bytes got;
    char keyring[4200];
    seal_err err = {0};
    int was_new = 0;
    snprintf(keyring, sizeof keyring, "%s/keyring", st->dirs[1]);
    for (int recover = 0; recover < 2; recover++) {
        const char *how = recover ? "after the recovery" : "on open";
        if (read_grant(c->m, st->dirs[0], keyring, recover, &got, &err) != SEAL_OK) {
            snprintf(why, cap, "the store does not open %s: %s", how, err.message);
            return -1;
        }
        int is_new = same(&got, c->renewed);
        if (!is_new && !same(&got, c->old)) {
            snprintf(why, cap, "the grant is neither the old one nor the renewed one %s", how);
            return -1;
        }
        if (was_new && !is_new) {
            snprintf(why, cap, "the recovery brought back the revoked grant");
            return -1;
        }
        if (st->calls == st->total && !is_new) {
            snprintf(why, cap, "the refresh returned, but the grant on disk is the old one %s", how);
            return -1;
        }
        was_new = is_new;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct mp m;
    static struct grant_bytes old, renewed;
    char snap[64] = "/tmp/vap-powercut-XXXXXX", states[128], env_pre[600], env_pfx[200], env_snap[200],
         env_asan[600], reply[256], why[4096];
    seal_err se = {0};
    if (argc != 4) {
        fprintf(stderr, "usage: test-flow-powercut MODULE WORKER SHIM\n");
        return 2;
    }
    memset(&m, 0, sizeof m);
    m.worker = argv[2];
    m.shim = argv[3];
    signal(SIGPIPE, SIG_IGN);
    if (flowkit_start(&m.k, argv[1], NULL) != 0)
        return 1;
    vap_error err;
    vap_grant_info *gi = NULL;
    check(flowkit_instance(&m.k, &m.inst, &err, NULL) == VAP_OK, "parent_instance");
    check(flowkit_authorize(&m.k, m.inst, &gi, &err, NULL, 0) == VAP_OK, "authorize");
    m.k.api->release(gi);
    /* The record lives outside the watched directory (the flowkit's). */
    check(mkdtemp(snap) != NULL, "record_directory");
    snprintf(states, sizeof states, "%s/states", snap);
    char keyring_dir[sizeof m.k.keyring];
    snprintf(keyring_dir, sizeof keyring_dir, "%s", m.k.keyring);
    *strrchr(keyring_dir, '/') = '\0';
    const pc_watch w[] = {{m.k.store, NULL}, {keyring_dir, "keyring"}};
    pc_model *model = NULL;
    check(read_grant(&m, m.k.store, m.k.keyring, 0, &old, &se) == SEAL_OK, "authorized_grant_is_sealed");
    if (pc_model_new(w, 2, snap, &model, why, sizeof why) != 0) {
        printf("model: %s\n", why);
        check(0, "model_takes_the_store");
    }

    snprintf(env_pre, sizeof env_pre, "LD_PRELOAD=%s", m.shim);
    snprintf(env_pfx, sizeof env_pfx, "SEAL_SHIM_PREFIX=%s/", m.k.dir);
    snprintf(env_snap, sizeof env_snap, "SEAL_SHIM_SNAPDIR=%s", snap);
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(env_asan, sizeof env_asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "",
             asan ? ":" : "");
    const char *env[] = {env_pre, env_pfx, env_snap, env_asan, NULL};
    long r0 = flowkit_counter(&m.k, "token_requests.refresh_token");
    long g0 = disk_generation(&m);
    struct proc p;
    int started = proc_start(&m, &p, env, NULL) == 0;
    check(started, "recorded_worker_starts");
    if (started) {
        int ok = proc_cmd(&p, "refresh", reply, sizeof reply) == 0 && reply_int(reply, "rc=") == 0;
        check(ok, "recorded_worker_refreshes");
        check(proc_stop(&p) == 0, "recorded_worker_exits_cleanly");
    }
    /* Exactly one renewal in the record, so "renewed" is one grant. */
    check(flowkit_counter(&m.k, "token_requests.refresh_token") == r0 + 1, "one_token_request_recorded");
    check(disk_generation(&m) == g0 + 1, "renewed_grant_sealed");
    check(read_grant(&m, m.k.store, m.k.keyring, 0, &renewed, &se) == SEAL_OK && !same(&old, &renewed),
          "renewed_grant_differs_from_the_old_one");

    size_t nstates = 0;
    struct refresh_case c = {&m, &old, &renewed};
    int rc = model ? pc_model_walk(model, states, check_state, &c, &nstates, why, sizeof why) : -1;
    if (rc != 0)
        printf("refresh seal: %s\n", model ? why : "no model");
    check(rc == 0, "every_power_cut_leaves_the_old_grant_or_the_renewed_one");
    /* The temp file made, fsynced, renamed, and the directory fsynced. */
    check(model != NULL && pc_model_calls(model) >= 4, "the_seal_calls_were_recorded");
    printf("# power-cut: refresh seal (plugin) %zu states, %zu calls\n", nstates,
           model ? pc_model_calls(model) : 0);
    pc_model_free(model);

    /* The renewed grant on disk is the live one. */
    check(check_refresh(&m, &err) == VAP_OK, "renewed_grant_renews_again");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", snap);
    check(system(cmd) == 0, "record_directory_removed");
    m.k.api->instance_free(m.inst);
    flowkit_stop(&m.k);
    return check_summary();
}
