/*
 * test_seal_perms.c - what root must not be tricked into, and where the
 * keyring may live: a lock file replaced by a hard link to another file is
 * refused before root chowns it; a keyring whose directory others may write
 * (or another user owns) is refused, as a store directory is.
 */
#include "seal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

static const uint8_t fill_a[] = {0x42};
static const int st_active[] = {SEAL_KEY_ACTIVE};

static void lock_file_hard_linked_to_another_file_is_not_chowned(void **state)
{
    char dir[4096], store[4200], victim[4200], lock[4300];
    seal_err err;
    seal_store *st = NULL;
    seal_lock lk = {.fd = -1};
    if (geteuid() != 0)
        skip(); /* only root chowns lock files */
    test_tmpdir(dir, "perms-lock");
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(lock, sizeof lock, "%s/.grant.lock", store);
    assert_int_equal(mkdir(store, 0700), 0);
    test_write_file(victim, "root's file\n", 12, 0600);
    assert_int_equal(link(victim, lock), 0);
    assert_int_equal(seal_store_open(store, &st, &err), SEAL_OK);
    seal_store_set_owner(st, TEST_NOBODY, TEST_NOBODY);
    assert_int_equal(seal_lock_acquire(st, "grant", 1, &lk, &err), SEAL_E_PERM);
    assert_non_null(strstr(err.message, "one link"));
    struct stat sb;
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_uid, 0); /* still root's */
    /* A FIFO in the lock's place is refused too. */
    snprintf(lock, sizeof lock, "%s/.client_secret.lock", store);
    assert_int_equal(mkfifo(lock, 0600), 0);
    assert_int_equal(seal_lock_acquire(st, "client_secret", 0, &lk, &err), SEAL_E_PERM);
    /* An ordinary lock file is still created, given to the owner and locked. */
    assert_int_equal(seal_lock_acquire(st, "other", 1, &lk, &err), SEAL_OK);
    snprintf(lock, sizeof lock, "%s/.other.lock", store);
    assert_int_equal(stat(lock, &sb), 0);
    assert_int_equal(sb.st_uid, TEST_NOBODY);
    seal_lock_release(&lk);
    seal_store_close(st);
    test_rmrf(dir);
}

/* Writes a keyring into DIR/keyring (mode 0600) and chmods DIR to MODE. */
static void keyring_in(const char *dir, mode_t mode, char *path, size_t cap)
{
    uint8_t img[16 + 64];
    size_t len = test_ring_image(fill_a, st_active, 1, img);
    snprintf(path, cap, "%s/keyring", dir);
    test_write_file(path, img, len, 0600);
    assert_int_equal(chmod(dir, mode), 0);
}

static void keyring_in_a_directory_others_may_write_is_refused(void **state)
{
    static const mode_t bad[] = {0777, 0770, 0707, 01777, 0755};
    char dir[4096], path[4200];
    seal_err err;
    seal_keyring *ring = NULL;
    test_tmpdir(dir, "perms-kr");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keyring_in(dir, bad[i], path, sizeof path);
        assert_int_equal(seal_keyring_load(path, (uid_t)-1, &ring, &err), SEAL_E_PERM);
        assert_non_null(strstr(err.message, "chmod 700"));
        uint8_t id[SEAL_KEY_ID_BYTES];
        seal_keyring *fresh = NULL;
        assert_int_equal(seal_keyring_new(&fresh, &err), SEAL_OK);
        assert_int_equal(seal_keyring_add_active(fresh, 1, id, &err), SEAL_OK);
        assert_int_equal(seal_keyring_save(fresh, path, (uid_t)-1, (gid_t)-1, &err), SEAL_E_PERM);
        seal_keyring_free(fresh);
    }
    keyring_in(dir, 0700, path, sizeof path);
    assert_int_equal(seal_keyring_load(path, (uid_t)-1, &ring, &err), SEAL_OK);
    seal_keyring_free(ring);
    test_rmrf(dir);
}

static void keyring_in_a_directory_of_another_user_is_refused(void **state)
{
    char dir[4096], path[4200];
    if (geteuid() != 0)
        skip(); /* needs a directory of another user */
    test_tmpdir(dir, "perms-kr-owner");
    keyring_in(dir, 0700, path, sizeof path);
    assert_int_equal(chown(path, TEST_NOBODY, TEST_NOBODY), 0);
    assert_int_equal(chmod(dir, 0755), 0); /* nobody may read it, not write it */
    pid_t pid = fork();
    if (pid == 0) {
        seal_err err;
        seal_keyring *ring = NULL;
        test_become_nobody();
        int rc = seal_keyring_load(path, (uid_t)-1, &ring, &err);
        _exit(rc == SEAL_E_PERM && strstr(err.message, "owned by uid 0") != NULL ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    test_rmrf(dir);
}

/* Root reads a keyring for the service too: the same refusals hold for it. */
static void unsafe_keyring_files_are_refused_even_for_root(void **state)
{
    char dir[4096], path[4200], other[4200];
    seal_err err;
    seal_keyring *ring = NULL;
    test_tmpdir(dir, "perms-kr-file");
    keyring_in(dir, 0700, path, sizeof path);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(seal_keyring_load(path, (uid_t)-1, &ring, &err), SEAL_E_PERM);
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(other, sizeof other, "%s/link", dir);
    assert_int_equal(symlink(path, other), 0);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_PERM);
    assert_non_null(strstr(err.message, "symbolic link"));
    snprintf(other, sizeof other, "%s/fifo", dir);
    assert_int_equal(mkfifo(other, 0600), 0);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_PERM);
    assert_non_null(strstr(err.message, "not a regular file"));
    snprintf(other, sizeof other, "%s/big", dir);
    static uint8_t big[16 + 64 * 40];
    test_write_file(other, big, sizeof big, 0600);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_TOO_BIG);
    snprintf(other, sizeof other, "%s/garbage", dir);
    test_write_file(other, big, 80, 0600);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_FORMAT);
    assert_non_null(strstr(err.message, other)); /* names the file, then what is wrong */
    assert_non_null(strstr(err.message, "vap-seal import"));
    snprintf(other, sizeof other, "%s/missing", dir);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_NOENT);
    snprintf(other, sizeof other, "%s/nodir/keyring", dir);
    assert_int_equal(seal_keyring_load(other, (uid_t)-1, &ring, &err), SEAL_E_NOENT);
    assert_int_equal(seal_keyring_load(path, (uid_t)-1, &ring, &err), SEAL_OK);
    seal_keyring_free(ring);
    test_rmrf(dir);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_file_hard_linked_to_another_file_is_not_chowned),
        cmocka_unit_test(keyring_in_a_directory_others_may_write_is_refused),
        cmocka_unit_test(keyring_in_a_directory_of_another_user_is_refused),
        cmocka_unit_test(unsafe_keyring_files_are_refused_even_for_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
