/* fetch_bench.c - the plugin's warm fetch against its peers, in one run:
 * the same 4 KB FHIR Patient, behind a bearer check on nginx
 * (bench/fetch_nginx.sh starts it), requested
 *   - through vap_openemr.so's fetch (loaded with the real loader, a sealed
 *     grant in a real store), 1, 16 and 64 threads on one instance;
 *   - by raw libcurl reusing its connection (the floor), same thread counts;
 *   - by the curl CLI once per request (the naive integration).
 * Reports throughput, p50/p99 latency and the ratios; RSS after 10,000 and
 * 100,000 fetches.  Cold start is timed by cold-curl, cold-dlopen and
 * cold-plugin (bench/perf_nginx.sh), which load nothing this program links.
 * Never a test: numbers only. */
#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "oauth/grant.h"
#include "loader.h"
#include "oauth/secrets.h"
#include "vapseal.h"

#define TOKEN "bench-access-token-0123456789abcdef"
#define CLIENT "bench-client"

static const char *g_base, *g_ca, *g_dir;
/* VAP_BENCH_TOKEN overrides the access token (e.g. 800 characters, as
 * OpenEMR's JWTs are); nginx must be told the same one. */
static const char *g_token = TOKEN;
static char g_auth[4096];
static char g_url[512], g_issuer[256], g_fhir[256], g_store[256], g_keyring[256];
static const vap_plugin_api *g_api;
static vap_instance *g_inst;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void host_log(void *ctx, int level, const char *msg)
{
    if (level <= VAP_LOG_WARN)
        fprintf(stderr, "plugin: %s\n", msg);
}

/* A keyring, a store and a sealed grant holding the token nginx expects. */
static int setup_store(void)
{
    snprintf(g_store, sizeof g_store, "%s/store", g_dir);
    snprintf(g_keyring, sizeof g_keyring, "%s/keyring", g_dir);
    snprintf(g_issuer, sizeof g_issuer, "%s/oauth2/default", g_base);
    snprintf(g_fhir, sizeof g_fhir, "%s/apis/default/fhir", g_base);
    snprintf(g_url, sizeof g_url, "%s/Patient/1", g_fhir);
    mkdir(g_store, 0700);
    seal_err se = {0};
    seal_keyring *ring = NULL;
    if (seal_init(&se) != 0 || seal_keyring_new(&ring, &se) != 0 ||
        seal_keyring_add_active(ring, 1700000000, NULL, &se) != 0 ||
        seal_keyring_save(ring, g_keyring, (uid_t)-1, (gid_t)-1, &se) != 0) {
        fprintf(stderr, "keyring: %s\n", se.message);
        return -1;
    }
    seal_keyring_free(ring);
    struct config cfg = {0};
    cfg.issuer = g_issuer;
    cfg.client_id = CLIENT;
    cfg.store = g_store;
    cfg.keyring = g_keyring;
    struct secrets s;
    vap_error err;
    VAP_INIT(vap_error, err);
    struct grant *g = grant_new();
    snprintf(g->access_token, sizeof g->access_token, "%s", g_token);
    snprintf(g->refresh_token, sizeof g->refresh_token, "unused");
    snprintf(g->scope, sizeof g->scope, "openid offline_access api:fhir user/Patient.read");
    g->obtained_at_ms = (int64_t)time(NULL) * 1000;
    g->lifetime_s = 86400 * 365;
    g->access_expires_at_ms = g->obtained_at_ms + g->lifetime_s * 1000;
    int rc = secrets_init(&s, &err) == VAP_OK ? secrets_grant_write(&s, &cfg, g, &err) : -1;
    secrets_destroy(&s);
    grant_free(g);
    if (rc != VAP_OK)
        fprintf(stderr, "grant: %s\n", err.message);
    return rc;
}

static int load_module(const char *module)
{
    static vap_host_api host;
    char why[512];
    VAP_INIT(vap_host_api, host);
    host.log = host_log;
    if (vaploader_load(module, &host, &g_api, why, sizeof why) != VAP_OK) {
        fprintf(stderr, "load: %s\n", why);
        return -1;
    }
    return 0;
}

static int load_plugin(const char *module)
{
    if (load_module(module) != 0)
        return -1;
    vap_option o[] = {{"issuer", g_issuer}, {"fhir_base", g_fhir}, {"client_id", CLIENT},
                      {"ca_file", g_ca},    {"store", g_store},   {"keyring", g_keyring},
                      {"scope", "openid offline_access api:fhir user/Patient.read"},
                      /* as many pooled connections as the most threads the
                       * bench runs, so each side has one connection per thread */
                      {"connections", "64"}};
    vap_error err;
    VAP_INIT(vap_error, err);
    if (g_api->instance_new(o, sizeof o / sizeof o[0], &g_inst, &err) != VAP_OK) {
        fprintf(stderr, "instance: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int inst_fetch_once(vap_instance *inst)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    VAP_INIT(vap_fetch_request, req);
    VAP_INIT(vap_error, err);
    req.path = "Patient/1";
    int rc = g_api->fetch(inst, NULL, &req, &resp, &err);
    int ok = rc == VAP_OK && resp && resp->body_len == 4096;
    if (!ok)
        fprintf(stderr, "fetch failed: %s\n", err.message);
    g_api->release(resp);
    return ok ? 0 : -1;
}

static int plugin_fetch_once(void)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    VAP_INIT(vap_fetch_request, req);
    VAP_INIT(vap_error, err);
    req.path = "Patient/1";
    int rc = g_api->fetch(g_inst, NULL, &req, &resp, &err);
    int ok = rc == VAP_OK && resp && resp->body_len == 4096;
    if (!ok)
        fprintf(stderr, "fetch failed: %s\n", err.message);
    g_api->release(resp);
    return ok ? 0 : -1;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += s * n;
    return s * n;
}

struct rawc {
    CURL *c;
    struct curl_slist *h;
    size_t got;
};

static void raw_init(struct rawc *r)
{
    r->c = curl_easy_init();
    /* the plugin's request headers, in its order */
    r->h = curl_slist_append(NULL, "User-Agent: vap-openemr");
    r->h = curl_slist_append(r->h, "Accept: application/json");
    r->h = curl_slist_append(r->h, g_auth);
    curl_easy_setopt(r->c, CURLOPT_URL, g_url);
    curl_easy_setopt(r->c, CURLOPT_CAINFO, g_ca);
    curl_easy_setopt(r->c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(r->c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, r->h);
    curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(r->c, CURLOPT_WRITEDATA, &r->got);
}

static int raw_once(struct rawc *r)
{
    long code = 0;
    r->got = 0;
    if (curl_easy_perform(r->c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &code);
    return code == 200 && r->got == 4096 ? 0 : -1;
}

/* The same request through a multi handle of its own, added and removed
 * per request and polled, as a client that can be cancelled from another
 * thread (curl_multi_wakeup) must run it: the floor for the plugin's way. */
static int raw_multi_once(struct rawc *r, CURLM *m)
{
    long code = 0;
    int running = 1, q;
    CURLcode res = CURLE_GOT_NOTHING;
    CURLMsg *msg;
    r->got = 0;
    if (curl_multi_add_handle(m, r->c) != CURLM_OK)
        return -1;
    while (running && curl_multi_perform(m, &running) == CURLM_OK && running)
        curl_multi_poll(m, NULL, 0, 1000, NULL);
    while ((msg = curl_multi_info_read(m, &q)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(m, r->c);
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &code);
    return res == CURLE_OK && code == 200 && r->got == 4096 ? 0 : -1;
}

struct job {
    pthread_barrier_t *start;
    int plugin;
    int n;
    double *lat;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct rawc r = {0};
    if (!j->plugin)
        raw_init(&r);
    /* warm: the connection (and, for the plugin, the pool handle), outside
     * the timed window: raw opens its connections anew every run, the
     * plugin's pool keeps them from the run before */
    if (j->plugin)
        plugin_fetch_once();
    else
        raw_once(&r);
    pthread_barrier_wait(j->start);
    for (int i = 0; i < j->n; i++) {
        double t0 = now_us();
        int rc = j->plugin ? plugin_fetch_once() : raw_once(&r);
        j->lat[i] = now_us() - t0;
        if (rc != 0)
            j->failures++;
    }
    if (!j->plugin) {
        curl_slist_free_all(r.h);
        curl_easy_cleanup(r.c);
    }
    return NULL;
}

struct result {
    double rps, p50, p99;
    int failures;
};

static struct result run(int plugin, int threads, int per_thread)
{
    pthread_t t[64];
    struct job jobs[64];
    pthread_barrier_t start;
    double *all = calloc((size_t)threads * per_thread, sizeof *all);
    for (int i = 0; i < threads; i++)
        jobs[i] = (struct job){&start, plugin, per_thread, all + (size_t)i * per_thread, 0};
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    pthread_barrier_wait(&start);
    double t0 = now_us();
    struct result r = {0};
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        r.failures += jobs[i].failures;
    }
    double secs = (now_us() - t0) / 1e6;
    pthread_barrier_destroy(&start);
    size_t n = (size_t)threads * per_thread;
    qsort(all, n, sizeof *all, cmp_double);
    r.rps = n / secs;
    r.p50 = all[n / 2];
    r.p99 = all[n * 99 / 100];
    free(all);
    return r;
}

/* A "Vm...:" figure of /proc/self/status, in KiB. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t klen = strlen(key);
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0)
            kib = strtol(line + klen, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static long rss_kib(void)
{
    return status_kib("VmRSS:");
}

static double curl_cli(int n)
{
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execlp("curl", "curl", "-s", "-o", "/dev/null", "-A", "vap-openemr", "--cacert", g_ca, "-H",
                   g_auth, g_url, (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    return n / ((now_us() - t0) / 1e6);
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own */
}

/* Many instances of one process, as a host serving many practices runs
 * them: what an idle one costs (RSS, threads, fds), instance_new and
 * instance_free times, and round-robin fetches from 16 threads beside one
 * instance fetched from 16 threads. */
struct rr {
    vap_instance **insts;
    int n_inst, n, start, step, failures;
};

static void *rr_worker(void *arg)
{
    struct rr *r = arg;
    for (int i = 0, k = r->start; i < r->n; i++, k = (k + r->step) % r->n_inst)
        if (inst_fetch_once(r->insts[k]) != 0)
            r->failures++;
    return NULL;
}

static double rr_run(vap_instance **insts, int n_inst, int threads, int per)
{
    pthread_t t[64];
    struct rr j[64];
    double t0 = now_us();
    for (int i = 0; i < threads; i++) {
        /* thread i walks i, i+threads, ...: all threads spread over all instances */
        j[i] = (struct rr){insts, n_inst, per, i % n_inst, threads % n_inst ? threads : 1, 0};
        pthread_create(&t[i], NULL, rr_worker, &j[i]);
    }
    int bad = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        bad += j[i].failures;
    }
    double rps = (double)threads * per / ((now_us() - t0) / 1e6);
    if (bad)
        printf("  FAILURES: %d\n", bad);
    return rps;
}

static int many(const char *module, int n_inst, const char *warm, int per_thread)
{
    if (load_module(module) != 0)
        return 1;
    vap_option o[] = {{"issuer", g_issuer}, {"fhir_base", g_fhir}, {"client_id", CLIENT},
                      {"ca_file", g_ca},    {"store", g_store},   {"keyring", g_keyring},
                      {"scope", "openid offline_access api:fhir user/Patient.read"},
                      {"warm_connections", warm}};
    size_t n_o = sizeof o / sizeof o[0] - (warm == NULL);
    vap_instance **insts = calloc((size_t)n_inst, sizeof *insts);
    vap_error err;
    VAP_INIT(vap_error, err);
    /* one instance first: what the process pays once (libraries, the
     * renewer thread) is not counted per instance */
    vap_instance *first = NULL;
    if (g_api->instance_new(o, n_o, &first, &err) != VAP_OK) {
        fprintf(stderr, "instance: %s\n", err.message);
        return 1;
    }
    usleep(300000);
    long rss0 = rss_kib(), lck0 = status_kib("VmLck:");
    int th0 = count_dir("/proc/self/task"), fd0 = count_dir("/proc/self/fd");
    double worst = 0, t0 = now_us();
    for (int i = 0; i < n_inst; i++) {
        double a = now_us();
        if (g_api->instance_new(o, n_o, &insts[i], &err) != VAP_OK) {
            fprintf(stderr, "instance %d: %s\n", i, err.message);
            return 1;
        }
        if (now_us() - a > worst)
            worst = now_us() - a;
    }
    double new_us = (now_us() - t0) / n_inst;
    usleep(1000000); /* let any warm-up settle */
    long rss1 = rss_kib(), lck1 = status_kib("VmLck:");
    int th1 = count_dir("/proc/self/task"), fd1 = count_dir("/proc/self/fd");
    printf("%d idle instances (warm_connections=%s): per instance %.1f KiB RSS (%.1f KiB locked), "
           "%.3f threads, %.2f fds; instance_new %.1f us mean, %.1f us worst\n",
           n_inst, warm ? warm : "default", (double)(rss1 - rss0) / n_inst,
           (double)(lck1 - lck0) / n_inst, (double)(th1 - th0) / n_inst,
           (double)(fd1 - fd0) / n_inst, new_us, worst);
    if (per_thread > 0) {
        vap_instance *one[1] = {first};
        for (int i = 0; i < n_inst; i++) /* unseal and connect each once */
            inst_fetch_once(insts[i]);
        rr_run(one, 1, 16, per_thread / 4);
        double single = rr_run(one, 1, 16, per_thread);
        double spread = rr_run(insts, n_inst, 16, per_thread);
        double single2 = rr_run(one, 1, 16, per_thread);
        double spread2 = rr_run(insts, n_inst, 16, per_thread);
        single = single2 > single ? single2 : single;
        spread = spread2 > spread ? spread2 : spread;
        printf("16 threads: one instance %.0f req/s; %d instances round-robin %.0f req/s "
               "(ratio %.2f)\n", single, n_inst, spread, spread / single);
        long rss2 = rss_kib();
        /* secrets sit in mlock'ed pages: RLIMIT_MEMLOCK (8 MiB for a
         * service user by default) bounds how many instances keep theirs
         * locked; sodium_malloc carries on unlocked past it */
        printf("  after fetching: %.1f KiB RSS, %.1f KiB locked, %.2f fds per instance\n",
               (double)(rss2 - rss0) / n_inst, (double)(status_kib("VmLck:") - lck0) / n_inst,
               (double)(count_dir("/proc/self/fd") - fd0) / n_inst);
    }
    t0 = now_us();
    for (int i = 0; i < n_inst; i++)
        g_api->instance_free(insts[i]);
    printf("instance_free of all %d: %.1f ms\n", n_inst, (now_us() - t0) / 1e3);
    g_api->instance_free(first);
    free(insts);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: fetch-bench BASE CA_FILE PLUGIN WORKDIR"
                        " [full|setup|many|loop-plugin|loop-raw|loop-multi|side-raw|side-plugin] [REQUESTS]"
                        " [THREADS (side-*)]\n");
        return 2;
    }
    g_base = argv[1];
    g_ca = argv[2];
    if (getenv("VAP_BENCH_TOKEN") != NULL)
        g_token = getenv("VAP_BENCH_TOKEN");
    snprintf(g_auth, sizeof g_auth, "Authorization: Bearer %s", g_token);
    g_dir = argv[4];
    const char *mode = argc > 5 ? argv[5] : "full";
    int n = argc > 6 ? atoi(argv[6]) : 20000;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    snprintf(g_store, sizeof g_store, "%s/store", g_dir);
    snprintf(g_keyring, sizeof g_keyring, "%s/keyring", g_dir);
    snprintf(g_issuer, sizeof g_issuer, "%s/oauth2/default", g_base);
    snprintf(g_fhir, sizeof g_fhir, "%s/apis/default/fhir", g_base);
    snprintf(g_url, sizeof g_url, "%s/Patient/1", g_fhir);
    if (strcmp(mode, "setup") == 0)
        return setup_store() == 0 ? 0 : 1;
    /* many N [WARM [REQUESTS_PER_THREAD]]: the many-practices figures */
    if (strcmp(mode, "many") == 0)
        return many(argv[3], n, argc > 7 && strcmp(argv[7], "default") != 0 ? argv[7] : NULL, argc > 8 ? atoi(argv[8]) : 0);
    if (load_plugin(argv[3]) != 0)
        return 1;
    /* loop-plugin / loop-raw / loop-multi N: N warm requests on one thread,
     * for valgrind --tool=callgrind (instructions per request,
     * load-independent). */
    if (strcmp(mode, "loop-plugin") == 0 || strcmp(mode, "loop-raw") == 0 ||
        strcmp(mode, "loop-multi") == 0) {
        struct rawc r = {0};
        CURLM *m = mode[5] == 'm' ? curl_multi_init() : NULL;
        int bad = 0;
        if (mode[5] != 'p')
            raw_init(&r);
        for (int i = 0; i <= n; i++) /* one more: the first one connects */
            bad |= mode[5] == 'r' ? raw_once(&r) : m ? raw_multi_once(&r, m) : plugin_fetch_once();
        if (m)
            curl_multi_cleanup(m);
        g_api->instance_free(g_inst);
        return bad ? 1 : 0;
    }

    /* side-raw / side-plugin N THREADS: one side alone, for perf stat (the
     * plugin is loaded either way, so both processes hold the same) */
    if (strncmp(mode, "side-", 5) == 0) {
        int th = argc > 7 ? atoi(argv[7]) : 1;
        th = th < 1 ? 1 : th > 64 ? 64 : th;
        struct result r = run(strcmp(mode, "side-plugin") == 0, th, n / th > 0 ? n / th : 1);
        printf("%s, %d threads: %.0f req/s, p50 %.1f us\n", mode + 5, th, r.rps, r.p50);
        g_api->instance_free(g_inst);
        return r.failures ? 1 : 0;
    }
    /* Rounds of each side in turn, the order swapped every round, and the
     * median of each: on this shared 2-core VM one run can be 10% off the
     * next, which a best of two does not outvote.  VAP_BENCH_ROUNDS sets how many (odd). */
    int rounds = getenv("VAP_BENCH_ROUNDS") ? atoi(getenv("VAP_BENCH_ROUNDS")) : 7;
    if (rounds < 1 || rounds > 99)
        rounds = 7;
    rounds |= 1; /* a median of its own */
    printf("%-34s %12s %10s %10s %8s   (medians of %d interleaved rounds; ratio: of the "
           "rounds' ratios)\n", "warm GET of a 4 KB Patient", "req/s", "p50 us", "p99 us", "ratio",
           rounds);
    int counts[] = {1, 16, 64};
    for (size_t k = 0; k < 3; k++) {
        int th = counts[k], per = n / th, failures = 0;
        double rps[2][99], p50[2][99], p99[2][99], ratio[99];
        for (int i = 0; i < rounds; i++) {
            struct result a = run(i & 1, th, per), b = run(!(i & 1), th, per);
            struct result *raw = i & 1 ? &b : &a, *plug = i & 1 ? &a : &b;
            rps[0][i] = raw->rps, p50[0][i] = raw->p50, p99[0][i] = raw->p99;
            rps[1][i] = plug->rps, p50[1][i] = plug->p50, p99[1][i] = plug->p99;
            ratio[i] = plug->rps / raw->rps;
            failures += raw->failures + plug->failures;
        }
        double lo = ratio[0], hi = ratio[0];
        for (int i = 1; i < rounds; i++) {
            lo = ratio[i] < lo ? ratio[i] : lo;
            hi = ratio[i] > hi ? ratio[i] : hi;
        }
        for (int side = 0; side < 2; side++) {
            qsort(rps[side], (size_t)rounds, sizeof(double), cmp_double);
            qsort(p50[side], (size_t)rounds, sizeof(double), cmp_double);
            qsort(p99[side], (size_t)rounds, sizeof(double), cmp_double);
        }
        qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
        int m = rounds / 2;
        printf("raw libcurl, %2d thread%s            %12.0f %10.1f %10.1f %8s\n", th,
               th > 1 ? "s" : " ", rps[0][m], p50[0][m], p99[0][m], "1.00");
        printf("vap_openemr fetch, %2d thread%s      %12.0f %10.1f %10.1f %8.2f   (rounds %.2f-%.2f)\n",
               th, th > 1 ? "s" : " ", rps[1][m], p50[1][m], p99[1][m], ratio[m], lo, hi);
        if (k == 0)
            printf("  added median latency (plugin - raw): %.1f us\n", p50[1][m] - p50[0][m]);
        if (failures)
            printf("  FAILURES: %d\n", failures);
    }
    int cli_n = 300;
    double cli = curl_cli(cli_n);
    printf("curl CLI, one process per request   %12.0f\n", cli);

    for (int i = 0; i < 10000; i++)
        plugin_fetch_once();
    long rss10k = rss_kib();
    for (int i = 0; i < 90000; i++)
        plugin_fetch_once();
    long rss100k = rss_kib();
    printf("RSS after 10,000 fetches: %ld KiB; after 100,000: %ld KiB (delta %ld KiB)\n",
           rss10k, rss100k, rss100k - rss10k);
    g_api->instance_free(g_inst);
    return 0;
}
