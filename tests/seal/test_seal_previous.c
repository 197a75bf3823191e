/*
 * test_seal_previous.c - NAME.previous: put never overwrites an item it
 * cannot open without --force, and restore keeps both values whatever
 * write fails (argv[1] = vap-seal, argv[2] = libseal_shim.so).
 */
#include "seal_test_util.h"

#include <errno.h>
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
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct env {
    char dir[4096];
    char keyring[4200], other[4200];
    char store[4200];
    char out[8192], err[8192];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    test_tmpdir(e->dir, "prev");
    snprintf(e->keyring, sizeof e->keyring, "%s/keys/ring", e->dir);
    snprintf(e->other, sizeof e->other, "%s/keys/other", e->dir);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
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

/* Runs vap-seal ARGS...; with FAIL_AT > 0 under the shim, failing that
 * write/fsync/rename in the store with ENOSPC. */
static int run(struct env *e, int fail_at, const char *input, ...)
{
    char *argv[20], pre[4200], pfx[4300], at[64], md[] = "SEAL_SHIM_MODE=fail", en[32], asan[1024];
    char *envv[] = {pre, pfx, at, md, en, asan, NULL};
    va_list ap;
    int n = 0;
    argv[n++] = (char *)vap_seal;
    va_start(ap, input);
    for (const char *a; n < 19 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s", e->store);
    snprintf(at, sizeof at, "SEAL_SHIM_AT=%d", fail_at);
    snprintf(en, sizeof en, "SEAL_SHIM_ERRNO=%d", ENOSPC);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    return test_run(argv, input, input ? strlen(input) : 0, e->out, sizeof e->out, e->err, sizeof e->err,
                    fail_at > 0 ? envv : NULL);
}

static int put(struct env *e, const char *ring, const char *value, int force)
{
    return force ? run(e, 0, value, "put", "--keyring", ring, "--store", e->store, "--issuer", TEST_ISSUER,
                       "--client-id", TEST_CLIENT, "--force", "client_secret", NULL)
                 : run(e, 0, value, "put", "--keyring", ring, "--store", e->store, "--issuer", TEST_ISSUER,
                       "--client-id", TEST_CLIENT, "client_secret", NULL);
}

/* Opens the file PATH (an item or a temp file) as item NAME with RING. */
static int open_file(struct env *e, const char *ring_path, const char *file, const char *name, char *out,
                     size_t cap)
{
    seal_keyring *ring = NULL;
    seal_err err;
    size_t len = 0;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", e->store, file);
    uint8_t *buf = test_read_file(path, &len);
    int rc = buf == NULL ? SEAL_E_NOENT : seal_keyring_load(ring_path, (uid_t)-1, &ring, &err);
    if (rc == SEAL_OK) {
        seal_secret *s = NULL;
        rc = seal_secret_new(&s, &err);
        if (rc == SEAL_OK)
            rc = seal_format_open(ring, name, &bind_ok, buf, len, s, &err);
        if (rc == SEAL_OK) {
            size_t n = seal_secret_size(s) < cap - 1 ? seal_secret_size(s) : cap - 1;
            memcpy(out, seal_secret_data(s), n);
            out[n] = '\0';
        }
        seal_secret_free(s);
    }
    seal_keyring_free(ring);
    free(buf);
    return rc;
}

static void init(struct env *e)
{
    assert_int_equal(run(e, 0, NULL, "init", "--keyring", e->keyring, NULL), 0);
    assert_int_equal(run(e, 0, NULL, "init", "--keyring", e->other, NULL), 0);
}

/* The only copy of a secret, sealed with another keyring, is not replaced
 * (nothing can keep it) unless --force. */
static void put_refuses_to_overwrite_an_item_it_cannot_open(void **state)
{
    struct env *e = *state;
    char v[64], want[9000];
    init(e);
    assert_int_equal(put(e, e->other, "only-copy\n", 0), 0);
    assert_int_equal(put(e, e->keyring, "new\n", 0), 1);
    snprintf(want, sizeof want, "vap-seal: client_secret cannot be opened (");
    assert_memory_equal(e->err, want, strlen(want));
    assert_non_null(strstr(e->err, "and may be the only copy of that secret; nothing was changed.  To replace "
                                   "it without a copy, run put again with --force\n"));
    assert_int_equal(open_file(e, e->other, "client_secret", "client_secret", v, sizeof v), SEAL_OK);
    assert_string_equal(v, "only-copy");

    assert_int_equal(put(e, e->keyring, "new\n", 1), 0);
    assert_string_equal(e->out, "sealed client_secret (generation 2)\n");
    assert_int_equal(open_file(e, e->keyring, "client_secret", "client_secret", v, sizeof v), SEAL_OK);
    assert_string_equal(v, "new");
}

/* A corrupt item is refused the same way. */
static void put_refuses_to_overwrite_a_corrupt_item(void **state)
{
    struct env *e = *state;
    char path[8400];
    init(e);
    assert_int_equal(put(e, e->keyring, "x\n", 0), 0);
    snprintf(path, sizeof path, "%s/client_secret", e->store);
    test_write_file(path, "VSEAL garbage", 13, 0600);
    assert_int_equal(put(e, e->keyring, "new\n", 0), 1);
    assert_non_null(strstr(e->err, "nothing was changed.  To replace it without a copy, run put again with "
                                   "--force\n"));
    size_t len = 0;
    uint8_t *b = test_read_file(path, &len);
    assert_int_equal(len, 13);
    free(b);
}

/* With no current item, restore does not claim to have kept one. */
static void restore_without_a_current_item_does_not_claim_to_keep_it(void **state)
{
    struct env *e = *state;
    char from[8400], to[8400];
    init(e);
    assert_int_equal(put(e, e->keyring, "a\n", 0), 0);
    assert_int_equal(put(e, e->keyring, "b\n", 0), 0);
    snprintf(from, sizeof from, "%s/client_secret", e->store);
    snprintf(to, sizeof to, "%s/gone", e->dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(run(e, 0, NULL, "restore", "--keyring", e->keyring, "--store", e->store, "client_secret",
                         NULL),
                     0);
    assert_string_equal(e->out, "restored client_secret from client_secret.previous (generation 2)\n");
}

/* Finds VALUE in client_secret, client_secret.previous or a temp file the
 * message names; returns where, or NULL. */
static const char *find_value(struct env *e, const char *value)
{
    static char where[300];
    char v[64];
    static const char *const items[] = {"client_secret", "client_secret.previous"};
    for (size_t i = 0; i < 2; i++)
        if (open_file(e, e->keyring, items[i], items[i], v, sizeof v) == SEAL_OK && strcmp(v, value) == 0)
            return items[i];
    const char *tmp = strstr(e->err, "/.client_secret.previous.tmp.");
    if (tmp != NULL) {
        snprintf(where, sizeof where, "%.*s", (int)strcspn(tmp + 1, ": "), tmp + 1);
        if (open_file(e, e->keyring, where, "client_secret.previous", v, sizeof v) == SEAL_OK &&
            strcmp(v, value) == 0)
            return where;
    }
    return NULL;
}

/* A full disk at any write, flush or rename of a restore loses neither
 * value: each stays in an item, or in the temp file the message names. */
static void restore_with_a_full_disk_at_any_step_keeps_both_values(void **state)
{
    struct env *e = *state;
    int failed = 0;
    for (int k = 1; k <= 12; k++) {
        test_rmrf(e->store);
        test_rmrf(e->keyring);
        assert_int_equal(run(e, 0, NULL, "init", "--keyring", e->keyring, NULL), 0);
        assert_int_equal(put(e, e->keyring, "old\n", 0), 0);
        assert_int_equal(put(e, e->keyring, "cur\n", 0), 0);
        int rc = run(e, k, NULL, "restore", "--keyring", e->keyring, "--store", e->store, "client_secret", NULL);
        if (rc != 0) {
            failed++;
            assert_true(strstr(e->err, "No space left on device") != NULL || strstr(e->err, "mv that file") != NULL);
        }
        if (find_value(e, "old") == NULL || find_value(e, "cur") == NULL)
            fail_msg("fault at step %d (exit %d) lost a value: %s", k, rc, e->err);
        if (rc == 0 || strstr(e->err, "nothing was changed") != NULL) {
            char v[64];
            assert_int_equal(open_file(e, e->keyring, "client_secret", "client_secret", v, sizeof v), SEAL_OK);
            assert_string_equal(v, rc == 0 ? "old" : "cur");
        }
    }
    assert_true(failed >= 6); /* the shim reached every write, flush and rename */
}

/* A put with a new client_id leaves NAME.previous bound to the old one:
 * verify lists it apart, checks only that it is authentic, and passes;
 * drop deletes it, and only a kept copy. */
static void verify_lists_kept_copies_apart_and_drop_deletes_one(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(run(e, 0, "old\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", "old-client", "client_secret", NULL),
                     0);
    assert_int_equal(put(e, e->keyring, "new\n", 0), 0);
    assert_int_equal(run(e, 0, NULL, "verify", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, NULL),
                     0);
    assert_string_equal(e->out, "client_secret    ok (generation 2)\n"
                                "kept copies (vap-seal restore NAME brings one back, vap-seal drop NAME.previous "
                                "deletes it):\n"
                                "client_secret.previous ok (generation 1)\n");
    assert_string_equal(e->err, "");
    assert_int_equal(run(e, 0, NULL, "verify", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                         "--client-id", TEST_CLIENT, "--json", NULL),
                     0);
    assert_string_equal(e->out, "{\"items\":[{\"name\":\"client_secret\",\"ok\":true,\"generation\":2}],\"kept\":"
                                "[{\"name\":\"client_secret.previous\",\"ok\":true,\"generation\":1}],\"ok\":true}\n");

    assert_int_equal(run(e, 0, NULL, "drop", "--store", e->store, "client_secret", NULL), 1);
    assert_string_equal(e->err, "vap-seal: drop deletes only a kept copy (NAME.previous), such as "
                                "client_secret.previous; put replaces a live item\n");
    assert_int_equal(run(e, 0, NULL, "drop", "--store", e->store, "client_secret.previous", NULL), 0);
    assert_string_equal(e->out, "deleted client_secret.previous\n");
    assert_int_equal(run(e, 0, NULL, "verify", "--keyring", e->keyring, "--store", e->store, NULL), 0);
    assert_string_equal(e->out, "client_secret    ok (generation 2)\n");
    assert_int_equal(run(e, 0, NULL, "drop", "--store", e->store, "client_secret.previous", NULL), 1);
    char want[9000];
    snprintf(want, sizeof want, "vap-seal: there is no client_secret.previous in %s\n", e->store);
    assert_string_equal(e->err, want);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    vap_seal = argv[1];
    shim = argv[2];
    if (sodium_init() < 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        T(put_refuses_to_overwrite_an_item_it_cannot_open),
        T(put_refuses_to_overwrite_a_corrupt_item),
        T(restore_without_a_current_item_does_not_claim_to_keep_it),
        T(restore_with_a_full_disk_at_any_step_keeps_both_values),
        T(verify_lists_kept_copies_apart_and_drop_deletes_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
