/* assertion_bench.c - what private_key_jwt costs per token request: signing
 * one client assertion (RS384 with RSA 3072, ES384 with P-384) with a loaded
 * key, and the whole per-request path the plugin runs (unseal client_key
 * from a store, import the key, compute its kid, sign, free).
 * Usage: assertion-bench [SECONDS_PER_CASE] [SCRATCH_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clientkey.h"
#include "jose/jose.h"
#include "jose/jws_sign.h"
#include "vapseal.h"

#define ISSUER "https://emr.example.org/oauth2/default"
#define CLIENT "bench-client"
#define TOKEN ISSUER "/token"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, long n, double t)
{
    printf("%-34s %8.0f /s  %9.1f us each  (%ld in %.2f s)\n", what, n / t, t / n * 1e6, n, t);
}

/* The plugin's per-request path, through the same library calls. */
static int per_request(seal_store *st, const seal_keyring *ring, seal_secret *s, char *out,
                       size_t cap)
{
    seal_binding b = {ISSUER, CLIENT};
    seal_err err;
    struct ckey_set set;
    gnutls_privkey_t key = NULL;
    char jwk[CKEY_JWK_MAX], kid[CKEY_KID_MAX];
    if (seal_store_read(st, ring, CKEY_ITEM, &b, s, &err) != SEAL_OK ||
        ckey_set_parse(seal_secret_data(s), seal_secret_size(s), &set) != CKEY_OK)
        return -1;
    seal_secret_clear(s);
    const struct ckey_entry *e = ckey_set_find(&set, CKEY_CURRENT);
    int rc = ckey_import(e->der, e->der_len, &key) == CKEY_OK &&
                     ckey_public_jwk(key, e->alg, jwk, sizeof jwk, kid) == CKEY_OK &&
                     jose_client_assertion(key, e->alg == CKEY_RS384 ? JOSE_RS384 : JOSE_ES384, kid,
                                           CLIENT, TOKEN, (int64_t)time(NULL), out, cap) == 0
                 ? 0
                 : -1;
    if (key)
        gnutls_privkey_deinit(key);
    ckey_set_clear(&set);
    return rc;
}

static int bench(int alg, double secs, const char *dir)
{
    struct ckey_set set = {0};
    gnutls_privkey_t key = NULL;
    seal_keyring *ring = NULL;
    seal_store *st = NULL;
    seal_secret *s = NULL;
    seal_err err;
    char ring_path[512], store_path[512], tok[JOSE_ASSERTION_MAX], kid[CKEY_KID_MAX],
        jwk[CKEY_JWK_MAX];
    uint8_t *img = sodium_malloc(16384);
    size_t len = 0;
    snprintf(ring_path, sizeof ring_path, "%s/ring-%d", dir, alg);
    snprintf(store_path, sizeof store_path, "%s/store-%d", dir, alg);
    mkdir(store_path, 0700);
    if (img == NULL || ckey_set_generate(&set, alg, CKEY_CURRENT) != CKEY_OK ||
        ckey_set_serialize(&set, img, 16384, &len) != CKEY_OK ||
        seal_keyring_new(&ring, &err) != SEAL_OK ||
        seal_keyring_add_active(ring, 1, NULL, &err) != SEAL_OK ||
        seal_keyring_save(ring, ring_path, (uid_t)-1, (gid_t)-1, &err) != SEAL_OK ||
        seal_store_open(store_path, &st, &err) != SEAL_OK || seal_secret_new(&s, &err) != SEAL_OK) {
        fprintf(stderr, "assertion-bench: setup failed\n");
        return -1;
    }
    seal_binding b = {ISSUER, CLIENT};
    if (seal_store_put(st, ring_path, CKEY_ITEM, &b, img, len, NULL, &err) != SEAL_OK ||
        ckey_import(set.k[0].der, set.k[0].der_len, &key) != CKEY_OK ||
        ckey_public_jwk(key, alg, jwk, sizeof jwk, kid) != CKEY_OK) {
        fprintf(stderr, "assertion-bench: %s\n", err.message);
        return -1;
    }
    int jalg = alg == CKEY_RS384 ? JOSE_RS384 : JOSE_ES384;
    char label[64];
    long n = 0;
    double t0 = now_s(), t;
    do {
        if (jose_client_assertion(key, jalg, kid, CLIENT, TOKEN, (int64_t)time(NULL), tok,
                                  sizeof tok) != 0)
            return -1;
        n++;
        t = now_s() - t0;
    } while (t < secs);
    snprintf(label, sizeof label, "%s sign (key loaded)", ckey_alg_name(alg));
    report(label, n, t);
    n = 0;
    t0 = now_s();
    do {
        if (per_request(st, ring, s, tok, sizeof tok) != 0)
            return -1;
        n++;
        t = now_s() - t0;
    } while (t < secs);
    snprintf(label, sizeof label, "%s per token request (unseal+sign)", ckey_alg_name(alg));
    report(label, n, t);
    gnutls_privkey_deinit(key);
    ckey_set_clear(&set);
    sodium_free(img);
    seal_secret_free(s);
    seal_store_close(st);
    seal_keyring_free(ring);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", store_path, CKEY_ITEM);
    unlink(path);
    snprintf(path, sizeof path, "%s/.%s.lock", store_path, CKEY_ITEM);
    unlink(path);
    rmdir(store_path);
    unlink(ring_path);
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/assertion-bench-XXXXXX", argc > 2 ? argv[2] : "/tmp");
    seal_err err;
    if (seal_init(&err) != SEAL_OK || mkdtemp(dir) == NULL)
        return 1;
    int rc = bench(CKEY_RS384, secs, dir) || bench(CKEY_ES384, secs, dir);
    rmdir(dir);
    return rc ? 1 : 0;
}
