/* refresh_worker.c - one "worker process" of the platform for the
 * multi-process refresh tests (test_flow_refresh_mp.c): it loads the real
 * plugin through the fake host, makes its own instance on the shared store,
 * and obeys one command per line on stdin, answering one line on stdout:
 *
 *   fetch N    N threads each GET Patient?_count=1 at once
 *              -> "fetch ok=K fail=F rc=R"  (R: the first failure's code, or 0)
 *   refresh    the ABI's refresh            -> "refresh rc=R gen=G"
 *   status     the ABI's status             -> "status rc=R state=S gen=G exp=E"
 *              (E: the access token's expiry, ms since the epoch)
 *   clock MS   the fake host's clock set to MS (0: real time) -> "clock ok"
 *   quit       exit 0
 *
 * It prints "ready" once the instance exists.  Being a separate program
 * (not a fork of the test) it has its own plugin state, like a real worker,
 * and the parent may SIGKILL it at any point.
 *
 * Usage: refresh-worker MODULE ISSUER FHIR_BASE CA STORE KEYRING CLIENT_ID SCOPE
 *        [KEY=VALUE ...]   (extra instance options, e.g. timeout_ms=1500) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakehost.h"

#define WORKER_MAX_THREADS 64
#define WORKER_MAX_OPTS 24

struct worker {
    const vap_plugin_api *api;
    vap_instance *inst;
    pthread_barrier_t start;
    pthread_mutex_t mu;
    int ok, fail, first_rc;
};

static void *fetch_thread(void *arg);
static void cmd_fetch(struct worker *w, int n);

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: refresh-worker MODULE ISSUER FHIR_BASE CA STORE KEYRING "
                        "CLIENT_ID SCOPE [KEY=VALUE ...]\n");
        return 2;
    }
    static const char *const keys[] = {"issuer", "fhir_base", "ca_file", "store",
                                       "keyring", "client_id", "scope"};
    vap_option opts[WORKER_MAX_OPTS];
    char *extra[WORKER_MAX_OPTS];
    size_t n = 0, ne = 0;
    for (size_t i = 0; i < 7; i++)
        opts[n++] = (vap_option){keys[i], argv[2 + i]};
    for (int i = 9; i < argc && n < WORKER_MAX_OPTS; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            return 2;
        extra[ne] = strndup(argv[i], (size_t)(eq - argv[i]));
        opts[n++] = (vap_option){extra[ne++], eq + 1};
    }
    char errbuf[512];
    fakehost *fh = NULL;
    if (fakehost_new(argv[1], &fh, errbuf, sizeof errbuf) != VAP_OK) {
        fprintf(stderr, "refresh-worker: load: %s\n", errbuf);
        return 1;
    }
    struct worker w;
    memset(&w, 0, sizeof w);
    w.api = fakehost_api(fh);
    pthread_mutex_init(&w.mu, NULL);
    vap_error err;
    VAP_INIT(vap_error, err);
    if (w.api->instance_new(opts, n, &w.inst, &err) != VAP_OK) {
        fprintf(stderr, "refresh-worker: instance: %s\n", err.message);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "fetch ", 6) == 0) {
            cmd_fetch(&w, (int)strtol(line + 6, NULL, 10));
        } else if (strncmp(line, "refresh", 7) == 0) {
            vap_grant_info *gi = NULL;
            VAP_INIT(vap_error, err);
            int rc = w.api->refresh(w.inst, NULL, &gi, &err);
            printf("refresh rc=%d gen=%llu\n", rc,
                   gi ? (unsigned long long)gi->generation : 0ULL);
            w.api->release(gi);
        } else if (strncmp(line, "status", 6) == 0) {
            vap_grant_info *gi = NULL;
            VAP_INIT(vap_error, err);
            int rc = w.api->status(w.inst, NULL, &gi, &err);
            printf("status rc=%d state=%d gen=%llu exp=%lld\n", rc, gi ? gi->state : -1,
                   gi ? (unsigned long long)gi->generation : 0ULL,
                   gi ? (long long)gi->access_expires_at_ms : 0LL);
            w.api->release(gi);
        } else if (strncmp(line, "clock ", 6) == 0) {
            fakehost_set_now_ms(fh, (int64_t)strtoll(line + 6, NULL, 10));
            printf("clock ok\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("error unknown command\n");
        }
    }
    w.api->instance_free(w.inst);
    fakehost_free(fh);
    for (size_t i = 0; i < ne; i++)
        free(extra[i]);
    pthread_mutex_destroy(&w.mu);
    return 0;
}

/* All threads start together (a barrier), so they hit the expired token at
 * the same moment. */
static void cmd_fetch(struct worker *w, int n)
{
    pthread_t th[WORKER_MAX_THREADS];
    if (n < 1 || n > WORKER_MAX_THREADS) {
        printf("error thread count\n");
        return;
    }
    w->ok = w->fail = w->first_rc = 0;
    pthread_barrier_init(&w->start, NULL, (unsigned)n);
    int started = 0;
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, fetch_thread, w) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&w->start);
    if (started != n) {
        printf("error could not start threads\n");
        return;
    }
    printf("fetch ok=%d fail=%d rc=%d\n", w->ok, w->fail, w->first_rc);
}

static void *fetch_thread(void *arg)
{
    struct worker *w = arg;
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    VAP_INIT(vap_fetch_request, req);
    req.method = "GET";
    req.path = "Patient";
    req.query = "_count=1";
    VAP_INIT(vap_error, err);
    pthread_barrier_wait(&w->start);
    int rc = w->api->fetch(w->inst, NULL, &req, &resp, &err);
    int good = rc == VAP_OK && resp != NULL && resp->status == 200;
    w->api->release(resp);
    pthread_mutex_lock(&w->mu);
    if (good) {
        w->ok++;
    } else {
        w->fail++;
        if (w->first_rc == 0) {
            w->first_rc = rc;
            fprintf(stderr, "refresh-worker: fetch failed: %s\n", err.message);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
