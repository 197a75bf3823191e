/*
 * seal_lock.c - cross-process coordination of readers (shared) and writers
 * (exclusive) with flock on STORE/.NAME.lock.  Lock files are never
 * unlinked: unlinking one would let two processes lock two different
 * inodes of the same name.
 */
#include "seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_take(seal_store *st, const char *name, int exclusive, int nonblock, seal_lock *lk,
                     seal_err *err);

int seal_lock_acquire(seal_store *st, const char *name, int exclusive, seal_lock *lk, seal_err *err)
{
    return lock_take(st, name, exclusive, 0, lk, err);
}

int seal_lock_try(seal_store *st, const char *name, int exclusive, seal_lock *lk, seal_err *err)
{
    return lock_take(st, name, exclusive, 1, lk, err);
}

static int lock_take(seal_store *st, const char *name, int exclusive, int nonblock, seal_lock *lk,
                     seal_err *err)
{
    char lname[SEAL_NAME_MAX + 8];
    lk->fd = -1;
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    /* NAME.previous is written only under NAME's lock. */
    size_t n = strlen(name), sl = sizeof SEAL_PREVIOUS_SUFFIX - 1;
    if (n > sl && strcmp(name + n - sl, SEAL_PREVIOUS_SUFFIX) == 0)
        n -= sl;
    snprintf(lname, sizeof lname, ".%.*s.lock", (int)n, name);
    int fd = openat(st->dirfd, lname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd < 0)
        return seal_fail(err, SEAL_E_IO, "cannot open lock file %s/%s: %s (is the store writable by this "
                                         "user?)", st->path, lname, strerror(errno));
    /* A hard link or a special file in the lock's place would have root
     * chown, and anyone lock, a file that is not ours. */
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        close(fd);
        return seal_fail(err, SEAL_E_PERM, "lock file %s/%s is not a regular file with one link (a link to "
                                           "another file?): remove it; it is recreated", st->path, lname);
    }
    if (geteuid() == 0 && st->new_uid != (uid_t)-1 && sb.st_uid != st->new_uid &&
        fchown(fd, st->new_uid, st->new_gid) != 0) {
        int e = errno;
        close(fd);
        return seal_fail(err, SEAL_E_IO, "cannot give lock file %s/%s to uid %u: %s", st->path, lname,
                         (unsigned)st->new_uid, strerror(e));
    }
    int rc;
    do
        rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (nonblock ? LOCK_NB : 0));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        if (nonblock && e == EWOULDBLOCK)
            return seal_fail(err, SEAL_E_BUSY, "%s/%s is locked by another process", st->path,
                             lname);
        return seal_fail(err, SEAL_E_IO, "cannot lock %s/%s: %s", st->path, lname, strerror(e));
    }
    lk->fd = fd;
    return SEAL_OK;
}

void seal_lock_release(seal_lock *lk)
{
    if (lk->fd < 0)
        return;
    flock(lk->fd, LOCK_UN);
    close(lk->fd);
    lk->fd = -1;
}
