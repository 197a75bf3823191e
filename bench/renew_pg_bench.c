/* renew_pg_bench.c - what the shared grant costs: a renewal through
 * PostgreSQL (grant_store=postgresql://) beside one through the file store,
 * both against the simulator on loopback (so the token request itself is in
 * both), and the warm fetch with the database up and with it stopped (a
 * warm fetch must not touch the database: it must neither slow down nor
 * fail).  PostgreSQL 15 is started for the run with its default fsync and
 * synchronous_commit (tests/flow/pgkit.c).  Never a test: numbers only.
 *
 * Usage: renew-pg-bench MODULE [RENEWALS] [FETCHES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowkit.h"
#include "pgkit.h"
#include "store/pgstore.h"

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

static void report(const char *what, double *t, int n, int fails)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += t[i];
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("%-34s n=%-5d mean=%8.1f us  p50=%8.1f us  p99=%8.1f us  failed=%d\n", what, n,
           n ? sum / n : 0, n ? t[n / 2] : 0, n ? t[(n * 99) / 100] : 0, fails);
}

static void renewals(struct flowkit *k, vap_instance *inst, const char *what, int n)
{
    double *t = calloc((size_t)n, sizeof *t);
    int fails = 0;
    for (int i = 0; i < n; i++) {
        vap_grant_info *gi = NULL;
        vap_error err;
        VAP_INIT(vap_error, err);
        double t0 = now_us();
        if (k->api->refresh(inst, NULL, &gi, &err) != VAP_OK)
            fails++;
        t[i] = now_us() - t0;
        k->api->release(gi);
    }
    report(what, t, n, fails);
    free(t);
}

static void fetches(struct flowkit *k, vap_instance *inst, const char *what, int n)
{
    double *t = calloc((size_t)n, sizeof *t);
    int fails = 0;
    vap_fetch_request req;
    flowkit_get_req(&req, "Patient", "_count=1");
    for (int i = 0; i < n; i++) {
        vap_fetch_response *resp = NULL;
        vap_error err;
        VAP_INIT(vap_error, err);
        double t0 = now_us();
        if (k->api->fetch(inst, NULL, &req, &resp, &err) != VAP_OK)
            fails++;
        t[i] = now_us() - t0;
        k->api->release(resp);
    }
    report(what, t, n, fails);
    free(t);
}

/* The database's share of a renewal alone: claim (row lock), lease
 * (committed), compare-and-set commit of a 2 KB image, on one row. */
static void sessions(const char *ci, int n)
{
    struct pgstore *s = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    static uint8_t img[2048], row[65536];
    double *t = calloc((size_t)n, sizeof *t);
    int fails = 0;
    memset(img, 0xa5, sizeof img);
    if (pgstore_new(ci, "bench practice", &s, &err) != VAP_OK)
        return;
    for (int i = 0; i < n; i++) {
        size_t len = 0, cl = 0;
        uint64_t gen = 0, cg = 0;
        int took = 0;
        double t0 = now_us();
        int rc = pgstore_claim(s, 10000, row, sizeof row, &len, &gen, &took, &err);
        if (rc >= 0) {
            if (rc == 1)
                gen = 0;
            if ((rc = pgstore_lease(s, 60000, &err)) == VAP_OK)
                rc = pgstore_commit(s, 10000, gen, gen + 1, img, sizeof img, row, sizeof row,
                                    &cl, &cg, &err);
            pgstore_end(s);
        }
        t[i] = now_us() - t0;
        fails += rc != VAP_OK;
    }
    report("pgstore session alone", t, n, fails);
    free(t);
    pgstore_free(s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: renew-pg-bench MODULE [RENEWALS] [FETCHES]\n");
        return 2;
    }
    int nr = argc > 2 ? atoi(argv[2]) : 200, nf = argc > 3 ? atoi(argv[3]) : 2000;
    struct pgkit pg;
    struct flowkit k;
    int rc = pgkit_start(&pg, 1);
    if (rc != 0) {
        pgkit_destroy(&pg);
        return rc;
    }
    if (flowkit_start(&k, argv[1], NULL) != 0) {
        pgkit_destroy(&pg);
        return 1;
    }
    char ci[256];
    snprintf(ci, sizeof ci, "%s dbname=postgres", pg.admin);
    vap_instance *fi = NULL, *pi = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    if (flowkit_instance(&k, &fi, &err, NULL) != VAP_OK ||
        flowkit_authorize(&k, fi, &gi, &err, NULL, 0) != VAP_OK) {
        fprintf(stderr, "file instance: %s\n", err.message);
        return 1;
    }
    k.api->release(gi);
    gi = NULL;
    if (flowkit_instance(&k, &pi, &err, "grant_store", ci, NULL) != VAP_OK ||
        flowkit_authorize(&k, pi, &gi, &err, NULL, 0) != VAP_OK) {
        fprintf(stderr, "postgresql instance: %s\n", err.message);
        return 1;
    }
    k.api->release(gi);
    printf("renewals (api->refresh: one token request each, id_token checked, grant stored)\n");
    renewals(&k, fi, "renewal, file store", nr);
    renewals(&k, pi, "renewal, postgresql", nr);
    renewals(&k, fi, "renewal, file store (again)", nr);
    renewals(&k, pi, "renewal, postgresql (again)", nr);
    sessions(ci, nr);
    printf("warm fetches (GET Patient, token in memory)\n");
    fetches(&k, fi, "warm fetch, file store", nf);
    fetches(&k, pi, "warm fetch, postgresql up", nf);
    pgkit_stop(&pg, "fast");
    fetches(&k, pi, "warm fetch, postgresql stopped", nf);
    k.api->instance_free(fi);
    k.api->instance_free(pi);
    flowkit_stop(&k);
    pgkit_destroy(&pg);
    return 0;
}
