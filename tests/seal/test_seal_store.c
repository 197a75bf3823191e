/*
 * test_seal_store.c - the store directory, item files, locks and the
 * two-step replace.  Permission checks run as the unprivileged user nobody
 * (a forked child), since root would pass them for the wrong reason.
 */
#include "seal_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct env {
    char dir[4096];     /* owned by nobody */
    char store[4200];   /* dir/store, 0700, created by nobody */
    char keyring[4200]; /* dir/keyring */
};

/* Child-side check: prints what failed and exits 1. */
#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                  \
            _exit(1);                                                                                                 \
        }                                                                                                             \
    } while (0)

/* Runs FN(E) in a child as nobody (or as root when AS_ROOT); asserts it
 * exited 0. */
static void run_child(void (*fn)(struct env *), struct env *e, int as_root)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!as_root)
            test_become_nobody();
        fn(e);
        exit(0); /* not _exit: a coverage build writes its counters at exit */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void make_store(struct env *e)
{
    seal_keyring *ring;
    seal_err err;
    CHECK(mkdir(e->store, 0700) == 0);
    CHECK(seal_keyring_new(&ring, &err) == SEAL_OK);
    CHECK(seal_keyring_add_active(ring, 1, NULL, &err) == SEAL_OK);
    CHECK(seal_keyring_save(ring, e->keyring, (uid_t)-1, (gid_t)-1, &err) == SEAL_OK);
    seal_keyring_free(ring);
}

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    test_tmpdir(e->dir, "store");
    if (chown(e->dir, TEST_NOBODY, TEST_NOBODY) != 0)
        return -1;
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->keyring, sizeof e->keyring, "%s/keyring", e->dir);
    *state = e;
    run_child(make_store, e, 0);
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    test_rmrf(e->dir);
    free(e);
    return 0;
}

/* Puts VALUE as NAME; returns the library code. */
static int put(struct env *e, const char *name, const char *value, seal_err *err)
{
    seal_store *st;
    int rc = seal_store_open(e->store, &st, err);
    if (rc != SEAL_OK)
        return rc;
    rc = seal_store_put(st, e->keyring, name, &bind_ok, (const uint8_t *)value, strlen(value), NULL, err);
    seal_store_close(st);
    return rc;
}

/* Opens NAME; returns the code, and the message in ERR. */
static int get(struct env *e, const char *name, seal_secret *s, seal_err *err)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    int rc = seal_store_open(e->store, &st, err);
    if (rc == SEAL_OK)
        rc = seal_keyring_load(e->keyring, seal_store_owner(st), &ring, err);
    if (rc == SEAL_OK)
        rc = seal_store_read(st, ring, name, &bind_ok, s, err);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

static void child_round_trip(struct env *e)
{
    seal_err err;
    seal_secret *s;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(put(e, "grant", "first", &err) == SEAL_OK);
    CHECK(put(e, "grant", "second", &err) == SEAL_OK);
    CHECK(get(e, "grant", s, &err) == SEAL_OK);
    CHECK(seal_secret_size(s) == 6 && memcmp(seal_secret_data(s), "second", 6) == 0);
    CHECK(seal_secret_generation(s) == 2);
    seal_secret_free(s);
}

static void put_then_read_round_trips_and_bumps_generation(void **state)
{
    run_child(child_round_trip, *state, 0);
}

static void child_store_mode(struct env *e)
{
    seal_err err;
    seal_store *st;
    CHECK(chmod(e->store, 0750) == 0);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "chmod 700") != NULL);
}

static void store_directory_open_to_group_is_refused_with_chmod_700(void **state)
{
    run_child(child_store_mode, *state, 0);
}

static void root_make_foreign_store(struct env *e)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/foreign", e->dir);
    CHECK(mkdir(p, 0755) == 0);
}

static void child_store_owner(struct env *e)
{
    seal_err err;
    seal_store *st;
    char p[4300];
    snprintf(p, sizeof p, "%s/foreign", e->dir);
    CHECK(seal_store_open(p, &st, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "chown") != NULL);
}

static void store_directory_owned_by_another_user_is_refused_with_chown(void **state)
{
    run_child(root_make_foreign_store, *state, 1);
    run_child(child_store_owner, *state, 0);
}

static void child_store_symlink(struct env *e)
{
    seal_err err;
    seal_store *st;
    char p[4300];
    snprintf(p, sizeof p, "%s/link", e->dir);
    CHECK(symlink(e->store, p) == 0);
    CHECK(seal_store_open(p, &st, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "symbolic link") != NULL);
}

static void store_symlink_is_refused(void **state)
{
    run_child(child_store_symlink, *state, 0);
}

static void child_item_mode(struct env *e)
{
    seal_err err;
    seal_secret *s;
    char p[4300];
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(put(e, "grant", "v", &err) == SEAL_OK);
    snprintf(p, sizeof p, "%s/grant", e->store);
    CHECK(chmod(p, 0640) == 0);
    CHECK(get(e, "grant", s, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "chmod 600") != NULL);
    seal_secret_free(s);
}

static void item_readable_by_group_is_refused_with_chmod_600(void **state)
{
    run_child(child_item_mode, *state, 0);
}

static void root_make_foreign_item(struct env *e)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/client_secret", e->store);
    uint8_t buf[64] = "VSEAL";
    test_write_file(p, buf, sizeof buf, 0644); /* owned by root */
}

static void child_item_owner(struct env *e)
{
    seal_err err;
    seal_secret *s;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(get(e, "client_secret", s, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "chown") != NULL);
    seal_secret_free(s);
}

static void item_owned_by_another_user_is_refused_with_chown(void **state)
{
    run_child(root_make_foreign_item, *state, 1);
    run_child(child_item_owner, *state, 0);
}

static void child_item_symlink(struct env *e)
{
    seal_err err;
    seal_secret *s;
    char p[4300], q[4300];
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(put(e, "grant", "v", &err) == SEAL_OK);
    snprintf(p, sizeof p, "%s/grant", e->store);
    snprintf(q, sizeof q, "%s/client_secret", e->store);
    CHECK(symlink(p, q) == 0);
    CHECK(get(e, "client_secret", s, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "symbolic link") != NULL);
    seal_secret_free(s);
}

static void item_symlink_is_refused(void **state)
{
    run_child(child_item_symlink, *state, 0);
}

static void child_item_dir(struct env *e)
{
    seal_err err;
    seal_secret *s;
    char p[4300];
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    snprintf(p, sizeof p, "%s/grant", e->store);
    CHECK(mkdir(p, 0700) == 0);
    CHECK(get(e, "grant", s, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "not a regular file") != NULL);
    seal_secret_free(s);
}

static void item_that_is_a_directory_is_refused(void **state)
{
    run_child(child_item_dir, *state, 0);
}

static void child_keyring_mode(struct env *e)
{
    seal_err err;
    seal_keyring *ring;
    CHECK(chmod(e->keyring, 0604) == 0);
    CHECK(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err) == SEAL_E_PERM);
    CHECK(strstr(err.message, "chmod 600") != NULL);
}

static void keyring_readable_by_others_is_refused_with_chmod_600(void **state)
{
    run_child(child_keyring_mode, *state, 0);
}

static void child_keyring_symlink(struct env *e)
{
    seal_err err;
    seal_keyring *ring;
    char p[4300];
    snprintf(p, sizeof p, "%s/ring-link", e->dir);
    CHECK(symlink(e->keyring, p) == 0);
    CHECK(seal_keyring_load(p, (uid_t)-1, &ring, &err) == SEAL_E_PERM);
}

static void keyring_symlink_is_refused(void **state)
{
    run_child(child_keyring_symlink, *state, 0);
}

static void child_missing(struct env *e)
{
    seal_err err;
    seal_secret *s;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(get(e, "grant", s, &err) == SEAL_E_NOENT);
    seal_secret_free(s);
}

static void missing_item_is_a_noent_error(void **state)
{
    run_child(child_missing, *state, 0);
}

static void child_header(struct env *e)
{
    seal_err err;
    seal_store *st;
    seal_header h;
    CHECK(put(e, "grant", "a", &err) == SEAL_OK);
    CHECK(put(e, "grant", "b", &err) == SEAL_OK);
    CHECK(put(e, "grant", "c", &err) == SEAL_OK);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(seal_store_header(st, "grant", &h, &err) == SEAL_OK);
    CHECK(h.generation == 3);
    seal_store_close(st);
}

static void header_read_returns_the_current_generation(void **state)
{
    run_child(child_header, *state, 0);
}

static size_t count_temp_files(const char *dir, blkcnt_t *blocks)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".tmp.") != NULL) {
            char p[8400];
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            if (blocks != NULL && stat(p, &sb) == 0)
                *blocks = sb.st_blocks;
            n++;
        }
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static void child_txn(struct env *e)
{
    seal_err err;
    seal_store *st;
    seal_txn *t;
    seal_keyring *ring;
    seal_secret *s;
    blkcnt_t blocks = 0;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err) == SEAL_OK);
    /* Prepared but abandoned: the temp file existed with space reserved,
     * and is gone afterwards; the item was never created. */
    CHECK(seal_txn_prepare(st, "grant", 8192, &t, &err) == SEAL_OK);
    CHECK(count_temp_files(e->store, &blocks) == 1);
    CHECK(blocks * 512 >= 8192);
    seal_txn_free(t);
    CHECK(count_temp_files(e->store, NULL) == 0);
    CHECK(get(e, "grant", s, &err) == SEAL_E_NOENT);
    /* Prepared, then committed with content known only afterwards. */
    CHECK(seal_txn_prepare(st, "grant", 8192, &t, &err) == SEAL_OK);
    CHECK(seal_txn_commit(t, ring, &bind_ok, 41, (const uint8_t *)"late", 4, &err) == SEAL_OK);
    seal_txn_free(t);
    CHECK(count_temp_files(e->store, NULL) == 0);
    CHECK(get(e, "grant", s, &err) == SEAL_OK);
    CHECK(seal_secret_generation(s) == 41 && seal_secret_size(s) == 4);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
}

static void txn_prepares_a_reserved_temp_file_and_commits_or_removes_it(void **state)
{
    run_child(child_txn, *state, 0);
}

static void child_lock(struct env *e)
{
    seal_err err;
    seal_store *st;
    seal_lock a = {-1}, b = {-1};
    char p[4300];
    snprintf(p, sizeof p, "%s/.grant.lock", e->store);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(seal_lock_acquire(st, "grant", 1, &a, &err) == SEAL_OK);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(p, O_RDWR | O_CLOEXEC);
        _exit(fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1);
    }
    int stt;
    CHECK(waitpid(pid, &stt, 0) == pid && WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    seal_lock_release(&a);
    CHECK(a.fd == -1);
    /* Two shared locks coexist. */
    CHECK(seal_lock_acquire(st, "grant", 0, &a, &err) == SEAL_OK);
    pid = fork();
    if (pid == 0) {
        int fd = open(p, O_RDWR | O_CLOEXEC);
        _exit(fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) == 0 ? 0 : 1);
    }
    CHECK(waitpid(pid, &stt, 0) == pid && WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    seal_lock_release(&a);
    seal_lock_release(&b);
    CHECK(access(p, F_OK) == 0); /* never unlinked */
    seal_store_close(st);
}

static void exclusive_lock_excludes_other_processes_and_shared_locks_coexist(void **state)
{
    run_child(child_lock, *state, 0);
}

static void child_lock_try(struct env *e)
{
    seal_err err;
    seal_store *st;
    seal_lock a = {-1}, b = {-1};
    int to_child[2], from_child[2];
    char c;
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* Holds the exclusive lock until told to let go. */
        seal_lock h = {-1};
        if (seal_lock_acquire(st, "grant", 1, &h, &err) != SEAL_OK || write(from_child[1], "L", 1) != 1 ||
            read(to_child[0], &c, 1) != 1)
            _exit(1);
        seal_lock_release(&h);
        _exit(write(from_child[1], "U", 1) == 1 ? 0 : 1);
    }
    CHECK(read(from_child[0], &c, 1) == 1 && c == 'L');
    CHECK(seal_lock_try(st, "grant", 0, &a, &err) == SEAL_E_BUSY && a.fd == -1);
    CHECK(seal_lock_try(st, "grant", 1, &a, &err) == SEAL_E_BUSY && a.fd == -1);
    CHECK(write(to_child[1], "x", 1) == 1);
    CHECK(read(from_child[0], &c, 1) == 1 && c == 'U');
    int stt;
    CHECK(waitpid(pid, &stt, 0) == pid && WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    /* Free now: a shared try succeeds, and a second shared one too. */
    CHECK(seal_lock_try(st, "grant", 0, &a, &err) == SEAL_OK);
    CHECK(seal_lock_try(st, "grant", 0, &b, &err) == SEAL_OK);
    seal_lock_release(&a);
    seal_lock_release(&b);
    CHECK(seal_lock_try(st, "grant", 1, &a, &err) == SEAL_OK);
    seal_lock_release(&a);
    seal_store_close(st);
}

static void lock_try_is_busy_while_another_process_holds_the_lock(void **state)
{
    run_child(child_lock_try, *state, 0);
}

static void root_put_gives_file_to_store_owner(struct env *e)
{
    seal_err err;
    seal_secret *s;
    struct stat sb;
    char p[4300];
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(put(e, "grant", "from-root", &err) == SEAL_OK);
    snprintf(p, sizeof p, "%s/grant", e->store);
    CHECK(stat(p, &sb) == 0 && sb.st_uid == TEST_NOBODY && (sb.st_mode & 0777) == 0600);
    CHECK(get(e, "grant", s, &err) == SEAL_OK); /* root accepts the owner's file */
    seal_secret_free(s);
}

static void child_reads_root_put(struct env *e)
{
    seal_err err;
    seal_secret *s;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(get(e, "grant", s, &err) == SEAL_OK);
    CHECK(memcmp(seal_secret_data(s), "from-root", 9) == 0);
    seal_secret_free(s);
}

static void root_gives_new_files_to_the_store_owner_who_can_read_them(void **state)
{
    run_child(root_put_gives_file_to_store_owner, *state, 1);
    run_child(child_reads_root_put, *state, 0);
}

static void child_list(struct env *e)
{
    seal_err err;
    seal_store *st;
    char names[8][SEAL_NAME_MAX + 1];
    size_t n = 0;
    seal_txn *t;
    CHECK(put(e, "grant", "a", &err) == SEAL_OK);
    CHECK(put(e, "client_secret", "b", &err) == SEAL_OK);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(seal_txn_prepare(st, "grant", 100, &t, &err) == SEAL_OK); /* a temp file is not an item */
    CHECK(seal_store_list(st, names, 8, &n, &err) == SEAL_OK);
    CHECK(n == 2 && strcmp(names[0], "client_secret") == 0 && strcmp(names[1], "grant") == 0);
    seal_txn_free(t);
    seal_store_close(st);
}

static void list_returns_items_sorted_without_lock_or_temp_files(void **state)
{
    run_child(child_list, *state, 0);
}

static void child_reseal(struct env *e)
{
    seal_err err;
    seal_store *st;
    seal_keyring *ring;
    seal_secret *s;
    seal_header h;
    uint8_t id[SEAL_KEY_ID_BYTES];
    int changed = 0;
    CHECK(seal_secret_new(&s, &err) == SEAL_OK);
    CHECK(put(e, "grant", "keep-me", &err) == SEAL_OK);
    CHECK(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err) == SEAL_OK);
    CHECK(seal_keyring_add_active(ring, 2, id, &err) == SEAL_OK);
    CHECK(seal_keyring_save(ring, e->keyring, (uid_t)-1, (gid_t)-1, &err) == SEAL_OK);
    CHECK(seal_store_open(e->store, &st, &err) == SEAL_OK);
    CHECK(seal_store_reseal(st, e->keyring, "grant", &changed, &err) == SEAL_OK && changed == 1);
    CHECK(seal_store_reseal(st, e->keyring, "grant", &changed, &err) == SEAL_OK && changed == 0);
    CHECK(seal_store_header(st, "grant", &h, &err) == SEAL_OK);
    CHECK(memcmp(h.key_id, id, SEAL_KEY_ID_BYTES) == 0 && h.generation == 2);
    CHECK(get(e, "grant", s, &err) == SEAL_OK && memcmp(seal_secret_data(s), "keep-me", 7) == 0);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
}

static void reseal_moves_an_item_to_the_active_key_keeping_its_value(void **state)
{
    run_child(child_reseal, *state, 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    if (geteuid() != 0) {
        fprintf(stderr, "these tests drop privileges and must run as root\n");
        return 77;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        T(put_then_read_round_trips_and_bumps_generation),
        T(store_directory_open_to_group_is_refused_with_chmod_700),
        T(store_directory_owned_by_another_user_is_refused_with_chown),
        T(store_symlink_is_refused),
        T(item_readable_by_group_is_refused_with_chmod_600),
        T(item_owned_by_another_user_is_refused_with_chown),
        T(item_symlink_is_refused),
        T(item_that_is_a_directory_is_refused),
        T(keyring_readable_by_others_is_refused_with_chmod_600),
        T(keyring_symlink_is_refused),
        T(missing_item_is_a_noent_error),
        T(header_read_returns_the_current_generation),
        T(txn_prepares_a_reserved_temp_file_and_commits_or_removes_it),
        T(exclusive_lock_excludes_other_processes_and_shared_locks_coexist),
        T(lock_try_is_busy_while_another_process_holds_the_lock),
        T(root_gives_new_files_to_the_store_owner_who_can_read_them),
        T(list_returns_items_sorted_without_lock_or_temp_files),
        T(reseal_moves_an_item_to_the_active_key_keeping_its_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
