/*
 * seal_bench.c - libvapseal costs (a benchmark, not a test): keyring load,
 * unsealing a 4 KB secret (from memory, i.e. beyond reading the file; and
 * through the store, file read included), reading the file alone, and a
 * durable put (seal + fsync + rename + fsync dir).  Prints medians.
 * usage: seal-bench [DIR]   (scratch directory; default a new one in /tmp)
 */
#include "vapseal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUNS 5000
#define PUT_RUNS 300

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void die(const char *what, const seal_err *err)
{
    fprintf(stderr, "seal-bench: %s: %s\n", what, err->message);
    exit(1);
}

int main(int argc, char **argv)
{
    char dir[4096], store[4200], keyring[4200];
    static double t[RUNS];
    static uint8_t value[4096], raw[SEAL_FILE_MAX];
    seal_err err = {0};
    seal_keyring *ring;
    seal_store *st;
    seal_secret *s;
    seal_binding b = {"https://emr.example.org/oauth2/default", "bench-client"};
    if (seal_init(&err) != SEAL_OK)
        die("init", &err);
    if (argc > 1) {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    } else {
        snprintf(dir, sizeof dir, "/tmp/seal-bench-XXXXXX");
        if (mkdtemp(dir) == NULL)
            return 1;
    }
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(keyring, sizeof keyring, "%s/keyring", dir);
    mkdir(store, 0700);
    unlink(keyring);
    randombytes_buf(value, sizeof value);
    if (seal_keyring_new(&ring, &err) || seal_keyring_add_active(ring, 1, NULL, &err) ||
        seal_keyring_save(ring, keyring, (uid_t)-1, (gid_t)-1, &err))
        die("keyring", &err);
    seal_keyring_free(ring);
    if (seal_store_open(store, &st, &err) || seal_secret_new(&s, &err))
        die("store", &err);

    /* Durable put of a 4 KB secret. */
    for (int i = 0; i < PUT_RUNS; i++) {
        double t0 = now_us();
        if (seal_store_put(st, keyring, "grant", &b, value, sizeof value, NULL, &err) != SEAL_OK)
            die("put", &err);
        t[i] = now_us() - t0;
    }
    double put_us = median(t, PUT_RUNS);

    /* Keyring load: open, fstat checks, read, parse, derive keys. */
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        if (seal_keyring_load(keyring, (uid_t)-1, &ring, &err) != SEAL_OK)
            die("keyring load", &err);
        t[i] = now_us() - t0;
        if (i < RUNS - 1)
            seal_keyring_free(ring);
    }
    double load_us = median(t, RUNS);

    /* Reading the file alone (open, fstat checks, read). */
    size_t len = 0;
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        if (seal_store_read_raw(st, "grant", raw, sizeof raw, &len, &err) != SEAL_OK)
            die("read", &err);
        t[i] = now_us() - t0;
    }
    double read_us = median(t, RUNS);

    /* Unseal from memory: what opening costs beyond reading the file. */
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        if (seal_format_open(ring, "grant", &b, raw, len, s, &err) != SEAL_OK)
            die("open", &err);
        t[i] = now_us() - t0;
    }
    double open_us = median(t, RUNS);
    if (seal_secret_size(s) != sizeof value || memcmp(seal_secret_data(s), value, sizeof value) != 0) {
        fprintf(stderr, "seal-bench: wrong value\n");
        return 1;
    }

    /* The whole read path: file read + unseal into the reused buffer. */
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        if (seal_store_read(st, ring, "grant", &b, s, &err) != SEAL_OK)
            die("store read", &err);
        t[i] = now_us() - t0;
    }
    double store_us = median(t, RUNS);

    printf("sealed file size            %zu bytes (4096-byte secret)\n", len);
    printf("keyring load                median %8.2f us\n", load_us);
    printf("read file only              median %8.2f us\n", read_us);
    printf("unseal 4 KB from memory     median %8.2f us   (cost beyond reading the file)\n", open_us);
    printf("store read (file + unseal)  median %8.2f us\n", store_us);
    printf("put 4 KB (seal+fsync+rename+fsync dir) median %8.2f us\n", put_us);
    seal_keyring_free(ring);
    seal_secret_free(s);
    seal_store_close(st);
    if (argc <= 1) {
        unlink(keyring);
        char p[4300];
        snprintf(p, sizeof p, "%s/grant", store);
        unlink(p);
        snprintf(p, sizeof p, "%s/.grant.lock", store);
        unlink(p);
        rmdir(store);
        rmdir(dir);
    }
    return 0;
}
