/*
 * test_seal_durability.c - every replace vap-seal does is durable in the
 * right order: write -> fsync(file) -> rename -> fsync(dir).  A SIGKILL
 * leaves the page cache intact, so the crash test alone cannot see a missing
 * fsync; this test records the real calls with the LD_PRELOAD shim
 * (argv[1] = vap-seal, argv[2] = libseal_shim.so) and checks their order.
 */
#include "seal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

static const char *vap_seal, *shim;

#define MAX_EVENTS 4096

struct event {
    char kind;
    char a[1024];
    char b[1024];
};

struct env {
    char dir[4096];
    char keyring[4200];
    char store[4200];
    char log[4200];
    char out[8192], err[8192];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    test_tmpdir(e->dir, "dur");
    snprintf(e->keyring, sizeof e->keyring, "%s/keys/ring", e->dir);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->log, sizeof e->log, "%s/syscalls.log", e->dir);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    test_rmrf(e->dir);
    free(e);
    return 0;
}

/* Runs vap-seal ARGS... under the recording shim (or plainly if !traced). */
static int run(struct env *e, int traced, const char *input, ...)
{
    char *argv[20], pre[4200], pfx[4200], logv[4300], asan[1024];
    char *envv[] = {pre, pfx, logv, asan, NULL};
    va_list ap;
    int n = 0;
    argv[n++] = (char *)vap_seal;
    va_start(ap, input);
    for (const char *a; n < 19 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s", e->dir);
    snprintf(logv, sizeof logv, "SEAL_SHIM_LOG=%s", e->log);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    return test_run(argv, input, input ? strlen(input) : 0, e->out, sizeof e->out, e->err, sizeof e->err,
                    traced ? envv : NULL);
}

static size_t read_log(const char *path, struct event *ev)
{
    FILE *f = fopen(path, "r");
    char line[2200];
    size_t n = 0;
    while (f != NULL && n < MAX_EVENTS && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        ev[n].kind = line[0];
        ev[n].a[0] = ev[n].b[0] = '\0';
        char *a = line + 2, *sp = strchr(a, ' ');
        if (sp != NULL) {
            *sp = '\0';
            snprintf(ev[n].b, sizeof ev[n].b, "%.1000s", sp + 1);
        }
        snprintf(ev[n].a, sizeof ev[n].a, "%.1000s", a);
        n++;
    }
    if (f != NULL)
        fclose(f);
    return n;
}

/* Checks every rename in EV; returns NULL or what is wrong (static). */
static const char *check_order(const struct event *ev, size_t n, size_t *renames)
{
    static char why[3000];
    *renames = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind != 'R')
            continue;
        (*renames)++;
        size_t w = SIZE_MAX, f = SIZE_MAX;
        for (size_t j = 0; j < i; j++) {
            if (ev[j].kind == 'W' && strcmp(ev[j].a, ev[i].a) == 0)
                w = j, f = SIZE_MAX;
            if (ev[j].kind == 'F' && strcmp(ev[j].a, ev[i].a) == 0 && w != SIZE_MAX)
                f = j;
        }
        if (w == SIZE_MAX) {
            snprintf(why, sizeof why, "rename of %s with no write to it first", ev[i].a);
            return why;
        }
        if (f == SIZE_MAX) {
            snprintf(why, sizeof why, "rename of %s before fsync of its last write", ev[i].a);
            return why;
        }
        char dir[1024];
        snprintf(dir, sizeof dir, "%.1000s", ev[i].b);
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        int synced = 0;
        for (size_t j = i + 1; j < n && ev[j].kind != 'R'; j++)
            if (ev[j].kind == 'F' && strcmp(ev[j].a, dir) == 0)
                synced = 1;
        if (!synced) {
            snprintf(why, sizeof why, "rename to %s not followed by fsync of %s", ev[i].b, dir);
            return why;
        }
    }
    return NULL;
}

static void expect_durable(struct env *e, size_t min_renames)
{
    struct event *ev = calloc(MAX_EVENTS, sizeof *ev);
    size_t n = read_log(e->log, ev), renames = 0;
    const char *why = check_order(ev, n, &renames);
    if (why != NULL)
        fail_msg("%s", why);
    if (renames < min_renames)
        fail_msg("only %zu renames recorded, expected at least %zu (is the shim loaded?)", renames, min_renames);
    free(ev);
    unlink(e->log);
}

static void init_and_put(struct env *e)
{
    assert_int_equal(run(e, 0, NULL, "init", "--keyring", e->keyring, NULL), 0);
    assert_int_equal(run(e, 0, "v0\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "grant", NULL),
                     0);
}

static void init_writes_the_keyring_durably(void **state)
{
    struct env *e = *state;
    assert_int_equal(run(e, 1, NULL, "init", "--keyring", e->keyring, NULL), 0);
    expect_durable(e, 1);
}

static void put_replaces_durably(void **state)
{
    struct env *e = *state;
    init_and_put(e);
    assert_int_equal(run(e, 1, "v1\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "grant", NULL),
                     0);
    expect_durable(e, 2); /* grant.previous, then grant */
}

static void restore_replaces_durably(void **state)
{
    struct env *e = *state;
    init_and_put(e);
    assert_int_equal(run(e, 0, "v1\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "grant", NULL),
                     0);
    assert_int_equal(run(e, 1, NULL, "restore", "--keyring", e->keyring, "--store", e->store, "grant", NULL), 0);
    expect_durable(e, 2); /* grant, then grant.previous */
}

static void rotate_key_replaces_keyring_and_every_item_durably(void **state)
{
    struct env *e = *state;
    init_and_put(e);
    assert_int_equal(run(e, 0, "cs\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "client_secret", NULL),
                     0);
    assert_int_equal(run(e, 1, NULL, "rotate-key", "--keyring", e->keyring, "--store", e->store, NULL), 0);
    expect_durable(e, 4); /* keyring, two items, keyring */
}

static void import_replaces_durably(void **state)
{
    struct env *e = *state;
    char bak[4300], k2[4300], s2[4300];
    init_and_put(e);
    snprintf(bak, sizeof bak, "%s/b.vsb", e->dir);
    snprintf(k2, sizeof k2, "%s/k2/ring", e->dir);
    snprintf(s2, sizeof s2, "%s/s2", e->dir);
    assert_int_equal(run(e, 0, "pw\n", "export", "--keyring", e->keyring, "--store", e->store, "--output", bak,
                         "--kdf-ops", "1", "--kdf-mem", "8", NULL),
                     0);
    assert_int_equal(run(e, 1, "pw\n", "import", "--keyring", k2, "--store", s2, "--input", bak, NULL), 0);
    expect_durable(e, 2);
}

static void store_on_a_network_filesystem_is_refused(void **state)
{
    struct env *e = *state;
    static const char *types[] = {"6969", "ff534d42", "fe534d42", "517b"}; /* NFS, CIFS, SMB2, SMB */
    char fst[64], pre[4200], pfx[4200], asan[1024];
    char *envv[] = {fst, pre, pfx, asan, NULL};
    assert_int_equal(run(e, 0, NULL, "init", "--keyring", e->keyring, NULL), 0);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s", e->dir);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(fst, sizeof fst, "SEAL_SHIM_FSTYPE=%s", types[i]);
        char *argv[] = {(char *)vap_seal, "put", "--keyring", e->keyring, "--store", e->store, "--issuer",
                        TEST_ISSUER, "--client-id", TEST_CLIENT, "grant", NULL};
        assert_int_equal(test_run(argv, "v\n", 2, e->out, sizeof e->out, e->err, sizeof e->err, envv), 1);
        assert_non_null(strstr(e->err, "network filesystem"));
    }
    /* The same store on the real (local) filesystem is accepted. */
    assert_int_equal(run(e, 0, "v\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "grant", NULL),
                     0);
}

/* Child mode (argv[1] = "txn-helper"): prepare, commit (the shim fails
 * one call), commit again; exit 0 only if the first commit failed and the
 * retry succeeded. */
static int txn_helper(const char *store, const char *keyring)
{
    seal_store *st;
    seal_keyring *ring;
    seal_txn *t;
    seal_err err;
    static const seal_binding b = {TEST_ISSUER, TEST_CLIENT};
    if (seal_store_open(store, &st, &err) || seal_keyring_load(keyring, (uid_t)-1, &ring, &err) ||
        seal_txn_prepare(st, "grant", 4096, &t, &err))
        return 3;
    if (seal_txn_commit(t, ring, &b, 2, (const uint8_t *)"new", 3, &err) == SEAL_OK)
        return 4;
    if (seal_txn_commit(t, ring, &b, 2, (const uint8_t *)"new", 3, &err) != SEAL_OK)
        return 5;
    seal_txn_free(t);
    seal_keyring_free(ring);
    seal_store_close(st);
    return 0;
}

static void txn_commit_retried_after_a_failure_resumes_and_succeeds(void **state)
{
    struct env *e = *state;
    char self[4096], pre[4200], pfx[4200], at[64], md[] = "SEAL_SHIM_MODE=fail", asan[1024];
    char *envv[] = {pre, pfx, at, md, asan, NULL};
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    init_and_put(e);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s", e->dir);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    /* Calls 1..4 are write, fsync, rename, fsync(dir) of the first commit. */
    for (int k = 1; k <= 4; k++) {
        snprintf(at, sizeof at, "SEAL_SHIM_AT=%d", k);
        char *argv[] = {self, "txn-helper", e->store, e->keyring, NULL};
        int rc = test_run(argv, NULL, 0, e->out, sizeof e->out, e->err, sizeof e->err, envv);
        if (rc != 0)
            fail_msg("failure at call %d: helper exit %d: %s", k, rc, e->err);
        seal_store *st;
        seal_keyring *ring;
        seal_secret *s;
        seal_err err;
        static const seal_binding b = {TEST_ISSUER, TEST_CLIENT};
        assert_int_equal(seal_store_open(e->store, &st, &err), SEAL_OK);
        assert_int_equal(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err), SEAL_OK);
        assert_int_equal(seal_secret_new(&s, &err), SEAL_OK);
        assert_int_equal(seal_store_read(st, ring, "grant", &b, s, &err), SEAL_OK);
        assert_int_equal(seal_secret_size(s), 3);
        assert_memory_equal(seal_secret_data(s), "new", 3);
        seal_secret_free(s);
        seal_keyring_free(ring);
        seal_store_close(st);
    }
}

/* The checker itself must be able to fail, or the tests above prove nothing. */
static void order_checker_rejects_each_missing_step(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        struct event ev[4];
        size_t n;
    } cases[] = {
        {"no fsync of the file", {{'W', "/d/.t", ""}, {'R', "/d/.t", "/d/x"}, {'F', "/d", ""}}, 3},
        {"fsync before the last write", {{'W', "/d/.t", ""}, {'F', "/d/.t", ""}, {'W', "/d/.t", ""}, {'R', "/d/.t", "/d/x"}}, 4},
        {"no fsync of the directory", {{'W', "/d/.t", ""}, {'F', "/d/.t", ""}, {'R', "/d/.t", "/d/x"}}, 3},
        {"directory fsync before the rename", {{'W', "/d/.t", ""}, {'F', "/d/.t", ""}, {'F', "/d", ""}, {'R', "/d/.t", "/d/x"}}, 4},
    };
    static const struct event good[] = {{'W', "/d/.t", ""}, {'F', "/d/.t", ""}, {'R', "/d/.t", "/d/x"}, {'F', "/d", ""}};
    size_t renames;
    assert_null(check_order(good, 4, &renames));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (check_order(cases[i].ev, cases[i].n, &renames) == NULL)
            fail_msg("checker accepted: %s", cases[i].name);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "txn-helper") == 0)
        return sodium_init() < 0 ? 2 : txn_helper(argv[2], argv[3]);
    if (argc < 3)
        return 2;
    vap_seal = argv[1];
    shim = argv[2];
    if (sodium_init() < 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_checker_rejects_each_missing_step),
        T(init_writes_the_keyring_durably),
        T(put_replaces_durably),
        T(restore_replaces_durably),
        T(rotate_key_replaces_keyring_and_every_item_durably),
        T(import_replaces_durably),
        T(store_on_a_network_filesystem_is_refused),
        T(txn_commit_retried_after_a_failure_resumes_and_succeeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
