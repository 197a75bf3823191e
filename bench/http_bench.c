/* http_bench.c - a warm HTTPS GET through the plugin's HTTP layer, side by
 * side with the same request on a bare libcurl easy handle, in one run.
 * Usage: http-bench URL CA_FILE [REQUESTS_PER_ROUND] [ROUNDS]
 * Rounds alternate layer / bare so drift on a shared machine hits both. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "core/log.h"

static size_t bench_sink(char *p, size_t sz, size_t n, void *ud)
{
    size_t *total = ud;
    *total += sz * n;
    return sz * n;
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a shared machine, less noisy than wall time
 * (nginx's share of the work is the same for both sides). */
static double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_layer(struct http_client *c, const char *url, int n)
{
    for (int i = 0; i < n; i++) {
        struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 10000};
        struct http_response rs;
        vap_error err;
        VAP_INIT(vap_error, err);
        if (http_request_do(c, &rq, &rs, &err) != VAP_OK || rs.status != 200) {
            fprintf(stderr, "layer request failed: status %d %s\n", rs.status, err.message);
            return -1;
        }
        http_response_free(&rs);
    }
    return 0;
}

static int bench_bare(CURL *e, int n)
{
    for (int i = 0; i < n; i++) {
        long code = 0;
        if (curl_easy_perform(e) != CURLE_OK ||
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
            fprintf(stderr, "bare request failed\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL CA_FILE [REQUESTS_PER_ROUND] [ROUNDS]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *ca = argv[2];
    int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2000;
    int rounds = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 6;
    if (http_global_init() != VAP_OK)
        return 1;
    struct http_client_opts o = {.ca_file = ca, .pool_size = 1};
    struct http_client *c;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (http_client_new(&o, &c, &err) != VAP_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    /* the bare handle gets the same transport settings as the layer */
    size_t total = 0;
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vap-openemr"); /* the same request */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bench_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &total);
    /* warm both: connection open, TLS done */
    if (http_client_warm(c, url, 1, 0, plugin_now_ms() + 10000, NULL, &err) != VAP_OK ||
        bench_layer(c, url, 50) || bench_bare(e, 50)) {
        fprintf(stderr, "warm-up failed: %s\n", err.message);
        return 1;
    }
    /* Alternate which side goes first, so neither always runs on the
     * warmer (or more contended) half of a round. */
    double t_layer = 0, t_bare = 0, c_layer = 0, c_bare = 0;
    double *ratios = calloc((size_t)rounds, sizeof *ratios);
    if (ratios == NULL)
        return 1;
    for (int r = 0; r < rounds; r++) {
        double tl, tb, cl, cb, t0 = bench_now(), u0 = bench_cpu();
        if (r % 2 == 0) {
            if (bench_layer(c, url, n))
                return 1;
            double t1 = bench_now(), u1 = bench_cpu();
            if (bench_bare(e, n))
                return 1;
            tl = t1 - t0;
            tb = bench_now() - t1;
            cl = u1 - u0;
            cb = bench_cpu() - u1;
        } else {
            if (bench_bare(e, n))
                return 1;
            double t1 = bench_now(), u1 = bench_cpu();
            if (bench_layer(c, url, n))
                return 1;
            tb = t1 - t0;
            tl = bench_now() - t1;
            cb = u1 - u0;
            cl = bench_cpu() - u1;
        }
        c_layer += cl;
        c_bare += cb;
        t_layer += tl;
        t_bare += tb;
        ratios[r] = tb / tl;
    }
    qsort(ratios, (size_t)rounds, sizeof *ratios, bench_cmp);
    double median = rounds % 2 ? ratios[rounds / 2]
                               : (ratios[rounds / 2 - 1] + ratios[rounds / 2]) / 2;
    double total_n = (double)n * rounds;
    printf("requests: %d x %d rounds, sequential, one warm keep-alive connection each\n", n, rounds);
    printf("layer: %.0f req/s (%.1f us/req)\n", total_n / t_layer, t_layer / total_n * 1e6);
    printf("bare libcurl: %.0f req/s (%.1f us/req)\n", total_n / t_bare, t_bare / total_n * 1e6);
    printf("ratio layer/bare (totals): %.3f\n", t_bare / t_layer);
    printf("ratio layer/bare (median of %d rounds): %.3f\n", rounds, median);
    printf("client CPU per request: layer %.1f us, bare %.1f us (ratio %.3f)\n",
           c_layer / total_n * 1e6, c_bare / total_n * 1e6, c_bare / c_layer);
    free(ratios);
    curl_easy_cleanup(e);
    http_client_free(c);
    curl_global_cleanup();
    return 0;
}
