/*
 * test_seal_txn.c - the two-step replace the refresh path uses, and the
 * item locks: a refused commit leaves the old item and can be retried; an
 * abandoned transaction leaves its temp file for the next lock holder; a
 * held lock makes a try busy, naming the lock file.
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

static const uint8_t fill_a[] = {0x42};
static const int st_active[] = {SEAL_KEY_ACTIVE};
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct fx {
    char dir[4096];
    seal_store *st;
    seal_keyring *ring;
    seal_secret *s;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    seal_err err;
    test_tmpdir(f->dir, "txn");
    assert_int_equal(seal_store_open(f->dir, &f->st, &err), SEAL_OK);
    f->ring = test_ring(fill_a, st_active, 1);
    assert_int_equal(seal_secret_new(&f->s, &err), SEAL_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    seal_secret_free(f->s);
    seal_keyring_free(f->ring);
    seal_store_close(f->st);
    test_rmrf(f->dir);
    free(f);
    return 0;
}

/* Files in the store whose name starts with PREFIX. */
static size_t count_files(const char *dir, const char *prefix)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void value_of(struct fx *f, const char *name, const char *want)
{
    seal_err err;
    assert_int_equal(seal_store_read(f->st, f->ring, name, &bind_ok, f->s, &err), SEAL_OK);
    assert_int_equal(seal_secret_size(f->s), strlen(want));
    assert_memory_equal(seal_secret_data(f->s), want, strlen(want));
}

static void txn_commit_replaces_the_item(void **state)
{
    struct fx *f = *state;
    seal_txn *t = NULL;
    seal_err err;
    assert_int_equal(seal_txn_prepare(f->st, "grant", 4096, &t, &err), SEAL_OK);
    assert_int_equal(seal_txn_commit(t, f->ring, &bind_ok, 1, (const uint8_t *)"one", 3, &err), SEAL_OK);
    seal_txn_free(t);
    value_of(f, "grant", "one");
}

static void txn_refused_commit_keeps_the_old_item_and_can_be_retried(void **state)
{
    struct fx *f = *state;
    seal_txn *t = NULL;
    seal_err err;
    assert_int_equal(seal_txn_prepare(f->st, "grant", 4096, &t, &err), SEAL_OK);
    assert_int_equal(seal_txn_commit(t, f->ring, &bind_ok, 1, (const uint8_t *)"one", 3, &err), SEAL_OK);
    seal_txn_free(t);
    assert_int_equal(seal_txn_prepare(f->st, "grant", 4096, &t, &err), SEAL_OK);
    /* An empty value is refused before anything is written... */
    assert_int_equal(seal_txn_commit(t, f->ring, &bind_ok, 2, (const uint8_t *)"", 0, &err), SEAL_E_INVAL);
    value_of(f, "grant", "one");
    /* ...and the same transaction still commits. */
    assert_int_equal(seal_txn_commit(t, f->ring, &bind_ok, 2, (const uint8_t *)"two", 3, &err), SEAL_OK);
    seal_txn_free(t);
    value_of(f, "grant", "two");
    assert_int_equal(count_files(f->dir, ".grant.tmp"), 0);
}

static void txn_abandoned_leaves_its_temp_file_and_the_next_prepare_sweeps_it(void **state)
{
    struct fx *f = *state;
    seal_txn *t = NULL;
    seal_err err;
    size_t before = count_files(f->dir, ".");
    assert_int_equal(seal_txn_prepare(f->st, "grant", 4096, &t, &err), SEAL_OK);
    seal_txn_abandon(t);
    assert_int_equal(count_files(f->dir, "."), before + 1); /* the temp file stays */
    seal_txn_abandon(NULL);
    assert_int_equal(seal_txn_prepare(f->st, "grant", 4096, &t, &err), SEAL_OK);
    seal_txn_free(t);
    assert_int_equal(count_files(f->dir, "."), before); /* swept, and freed */
}

static void txn_and_lock_refuse_invalid_names(void **state)
{
    struct fx *f = *state;
    seal_txn *t = NULL;
    seal_lock lk = {.fd = -1};
    seal_err err;
    assert_int_equal(seal_txn_prepare(f->st, "../grant", 4096, &t, &err), SEAL_E_INVAL);
    assert_null(t);
    assert_int_equal(seal_lock_acquire(f->st, ".grant", 1, &lk, &err), SEAL_E_INVAL);
    assert_int_equal(lk.fd, -1);
}

static void held_lock_makes_a_try_busy_naming_the_lock(void **state)
{
    struct fx *f = *state;
    seal_lock a = {.fd = -1}, b = {.fd = -1}, c = {.fd = -1};
    seal_err err;
    assert_int_equal(seal_lock_acquire(f->st, "grant", 1, &a, &err), SEAL_OK);
    assert_int_equal(seal_lock_try(f->st, "grant", 1, &b, &err), SEAL_E_BUSY);
    assert_non_null(strstr(err.message, ".grant.lock"));
    assert_int_equal(seal_lock_try(f->st, "grant", 0, &b, &err), SEAL_E_BUSY);
    seal_lock_release(&a);
    seal_lock_release(&a); /* safe when not held */
    /* Shared locks coexist; an exclusive one waits for them. */
    assert_int_equal(seal_lock_try(f->st, "grant", 0, &b, &err), SEAL_OK);
    assert_int_equal(seal_lock_try(f->st, "grant", 0, &c, &err), SEAL_OK);
    assert_int_equal(seal_lock_try(f->st, "grant", 1, &a, &err), SEAL_E_BUSY);
    seal_lock_release(&b);
    seal_lock_release(&c);
    assert_int_equal(seal_lock_try(f->st, "grant", 1, &a, &err), SEAL_OK);
    seal_lock_release(&a);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(txn_commit_replaces_the_item, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(txn_refused_commit_keeps_the_old_item_and_can_be_retried, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(txn_abandoned_leaves_its_temp_file_and_the_next_prepare_sweeps_it, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(txn_and_lock_refuse_invalid_names, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(held_lock_makes_a_try_busy_naming_the_lock, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
