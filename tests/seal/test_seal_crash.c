/*
 * test_seal_crash.c - crash safety of put and rotate-key (suite stress).
 * vap-seal (argv[1]) runs under the LD_PRELOAD shim (argv[2]), which kills
 * it with SIGKILL, or makes the call fail with EIO, at its k-th
 * write/fsync/rename, for every k until the command completes.  After
 * each injected crash the store must open to the old value or the new one
 * (never neither), and a re-run of rotate-key must finish the rotation.
 * Prints the number of injected crashes.  A SIGKILL keeps the page cache,
 * so this is the claim about a dying process and its re-run; the claim
 * about a power cut (what was fsynced) is test_seal_powercut.c's.
 */
#include "seal_test_util.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#define PUT_ROUNDS 100
#define ROTATE_MAX_ITEMS 8

static const char *vap_seal, *shim;
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};
static const char *const modes[] = {"kill", "fail"};
static size_t crashes_put, crashes_rotate;

struct env {
    char dir[4096];
    char keyring[4200];
    char store[4200];
    char out[4096], err[4096];
};

static void env_init(struct env *e)
{
    seal_keyring *ring;
    seal_err err;
    test_tmpdir(e->dir, "crash");
    snprintf(e->keyring, sizeof e->keyring, "%s/ring", e->dir);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    assert_int_equal(mkdir(e->store, 0700), 0);
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_add_active(ring, 1, NULL, &err), SEAL_OK);
    assert_int_equal(seal_keyring_save(ring, e->keyring, (uid_t)-1, (gid_t)-1, &err), SEAL_OK);
    seal_keyring_free(ring);
}

/* A value whose length varies with N, so a torn mix would not open. */
static void value_for(const char *name, unsigned n, char *out, size_t cap)
{
    int len = snprintf(out, cap, "%s-%u-", name, n);
    for (unsigned i = 0; i < n % 300 && (size_t)len + 1 < cap; i++)
        out[len++] = (char)('a' + (n + i) % 26);
    out[len] = '\0';
}

static void lib_put(struct env *e, const char *name, const char *value)
{
    seal_store *st;
    seal_err err;
    assert_int_equal(seal_store_open(e->store, &st, &err), SEAL_OK);
    if (seal_store_put(st, e->keyring, name, &bind_ok, (const uint8_t *)value, strlen(value), NULL, &err) != SEAL_OK)
        fail_msg("put: %s", err.message);
    seal_store_close(st);
}

/* Opens NAME with a freshly loaded keyring; value into OUT. */
static int lib_get(struct env *e, const char *name, char *out, size_t cap, seal_err *err)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    int rc = seal_store_open(e->store, &st, err);
    if (rc == SEAL_OK)
        rc = seal_keyring_load(e->keyring, (uid_t)-1, &ring, err);
    if (rc == SEAL_OK)
        rc = seal_secret_new(&s, err);
    if (rc == SEAL_OK)
        rc = seal_store_read(st, ring, name, &bind_ok, s, err);
    if (rc == SEAL_OK) {
        size_t n = seal_secret_size(s) < cap - 1 ? seal_secret_size(s) : cap - 1;
        memcpy(out, seal_secret_data(s), n);
        out[n] = '\0';
    }
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

/* Runs vap-seal with the fault at call K in MODE (K = 0: no fault). */
static int run_faulted(struct env *e, long k, const char *mode, const char *input, char *const argv[])
{
    char pre[4200], pfx[4200], at[64], md[64], asan[1024];
    char *envv[] = {pre, pfx, at, md, asan, NULL};
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s", e->dir);
    snprintf(at, sizeof at, "SEAL_SHIM_AT=%ld", k);
    snprintf(md, sizeof md, "SEAL_SHIM_MODE=%s", mode);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    return test_run(argv, input, input ? strlen(input) : 0, e->out, sizeof e->out, e->err, sizeof e->err,
                    k > 0 ? envv : NULL);
}

static size_t temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    while (d != NULL && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp.") != NULL;
    if (d != NULL)
        closedir(d);
    return n;
}

static void put_survives_a_crash_at_every_write_fsync_and_rename(void **state)
{
    (void)state;
    struct env e;
    char oldv[1024], newv[1024], got[1024], input[1100];
    seal_err err;
    env_init(&e);
    value_for("grant", 0, oldv, sizeof oldv);
    lib_put(&e, "grant", oldv);
    unsigned n = 0, lo = 0;
    for (unsigned round = 0; round < PUT_ROUNDS; round++) {
        for (size_t m = 0; m < 2; m++) {
            for (long k = 1;; k++) {
                value_for("grant", ++n, newv, sizeof newv);
                snprintf(input, sizeof input, "%s\n", newv);
                char *argv[] = {(char *)vap_seal, "put", "--keyring", e.keyring, "--store", e.store, "--issuer",
                                TEST_ISSUER, "--client-id", TEST_CLIENT, "grant", NULL};
                int rc = run_faulted(&e, k, modes[m], input, argv);
                if (lib_get(&e, "grant", got, sizeof got, &err) != SEAL_OK)
                    fail_msg("put %s at call %ld: the store does not open: %s", modes[m], k, err.message);
                /* The old value, the new one, or that of a put killed after
                 * its temp file was complete: the next writer installs such
                 * a newer value instead of sweeping it (seal_recover.c). */
                unsigned at = n + 1;
                for (unsigned j = lo; j <= n && at > n; j++) {
                    char cand[1024];
                    if (j == lo)
                        memcpy(cand, oldv, sizeof cand);
                    else
                        value_for("grant", j, cand, sizeof cand);
                    if (strcmp(got, cand) == 0)
                        at = j;
                }
                if (at > n)
                    fail_msg("put %s at call %ld: value is neither old nor new", modes[m], k);
                if (rc == 0 && strcmp(got, newv) != 0)
                    fail_msg("put %s at call %ld: reported success but the old value is in place", modes[m], k);
                memcpy(oldv, got, sizeof oldv);
                lo = at;
                if (rc == 0) {
                    assert_int_equal(temp_files(e.store), 0);
                    break; /* k is past the last call: the put completed */
                }
                crashes_put++;
            }
        }
    }
    test_rmrf(e.dir);
}

static void rotate_key_survives_a_crash_at_every_step_and_a_rerun_finishes(void **state)
{
    (void)state;
    for (unsigned items = 1; items <= ROTATE_MAX_ITEMS; items++) {
        for (size_t m = 0; m < 2; m++) {
            for (long k = 1;; k++) {
                struct env e;
                char name[32], want[1024], got[1024];
                seal_err err;
                env_init(&e);
                for (unsigned i = 0; i < items; i++) {
                    snprintf(name, sizeof name, "item%u", i);
                    value_for(name, i * 31 + items, want, sizeof want);
                    lib_put(&e, name, want);
                }
                char *argv[] = {(char *)vap_seal, "rotate-key", "--keyring", e.keyring, "--store", e.store, NULL};
                int rc = run_faulted(&e, k, modes[m], NULL, argv);
                for (int pass = 0; pass < 2; pass++) {
                    for (unsigned i = 0; i < items; i++) {
                        snprintf(name, sizeof name, "item%u", i);
                        value_for(name, i * 31 + items, want, sizeof want);
                        if (lib_get(&e, name, got, sizeof got, &err) != SEAL_OK)
                            fail_msg("rotate-key %s at call %ld (%u items, pass %d): %s does not open: %s", modes[m],
                                     k, items, pass, name, err.message);
                        if (strcmp(got, want) != 0)
                            fail_msg("rotate-key %s at call %ld: %s lost its value", modes[m], k, name);
                    }
                    if (pass == 0) {
                        /* The admin runs it again; it must finish the job. */
                        int rerun = run_faulted(&e, 0, "", NULL, argv);
                        if (rerun != 0)
                            fail_msg("rotate-key re-run after %s at call %ld failed: %s", modes[m], k, e.err);
                    }
                }
                /* After the re-run: exactly one active key, none decrypt-only. */
                seal_keyring *ring;
                assert_int_equal(seal_keyring_load(e.keyring, (uid_t)-1, &ring, &err), SEAL_OK);
                for (size_t i = 0; i < seal_keyring_count(ring); i++) {
                    uint8_t id[SEAL_KEY_ID_BYTES];
                    int st;
                    uint64_t created;
                    seal_keyring_entry(ring, i, id, &st, &created);
                    assert_int_not_equal(st, SEAL_KEY_DECRYPT_ONLY);
                }
                seal_keyring_free(ring);
                test_rmrf(e.dir);
                if (rc == 0)
                    break;
                crashes_rotate++;
            }
        }
    }
}

static void crashes_were_injected_into_both_commands(void **state)
{
    (void)state;
    printf("injected crashes: put %zu, rotate-key %zu, total %zu\n", crashes_put, crashes_rotate,
           crashes_put + crashes_rotate);
    assert_true(crashes_put > 0 && crashes_rotate > 0);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    vap_seal = argv[1];
    shim = argv[2];
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_survives_a_crash_at_every_write_fsync_and_rename),
        cmocka_unit_test(rotate_key_survives_a_crash_at_every_step_and_a_rerun_finishes),
        cmocka_unit_test(crashes_were_injected_into_both_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
