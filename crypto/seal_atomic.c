/*
 * seal_atomic.c - durable atomic replace of one file in a directory:
 * temp file created O_CREAT|O_EXCL 0600 in the same directory with its space
 * reserved, then write all -> fsync(file) -> rename -> fsync(dir).  A crash
 * at any point leaves the old file or the new one, never a torn or empty
 * file.  Split into prepare and commit so the refresh path can create the
 * temp file before it knows the content (DESIGN.md, Keeping the grant
 * alive, rule 2); a failed commit can be retried and resumes.
 */
#include "seal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int atomic_write_all(int fd, const uint8_t *buf, size_t len);

int seal_atomic_prepare(seal_atomic *a, int dirfd, const char *dir_display, const char *name, size_t reserve,
                        uid_t uid, gid_t gid, seal_err *err)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    a->dirfd = dirfd;
    a->dir_display = dir_display;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= sizeof a->name)
        return seal_fail(err, SEAL_E_INVAL, "file name too long");
    memcpy(a->name, name, nlen + 1);
    uint8_t rnd[6];
    char hex[13];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(a->tmp, sizeof a->tmp, ".%s.tmp.%s", name, hex);
    a->fd = openat(dirfd, a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (a->fd < 0)
        return seal_fail(err, SEAL_E_IO, "cannot create a temporary file in %s: %s (check the directory is "
                                         "writable by this user and the disk is not full)",
                         dir_display, strerror(errno));
    a->state = SEAL_ATOMIC_PREPARED;
    int rc = SEAL_OK;
    if (uid != (uid_t)-1 && fchown(a->fd, uid, gid) != 0) {
        rc = seal_fail(err, SEAL_E_IO, "cannot give the new file in %s to uid %u: %s", dir_display,
                       (unsigned)uid, strerror(errno));
        goto out;
    }
    /* Reserve the space now: a full disk must strike before, not after,
     * the server has rotated the refresh token. */
    if (reserve > 0 && fallocate(a->fd, 0, 0, (off_t)reserve) != 0 && errno != EOPNOTSUPP) {
        rc = seal_fail(err, SEAL_E_IO, "cannot reserve %zu bytes in %s: %s (free some disk space)", reserve,
                       dir_display, strerror(errno));
        goto out;
    }
out:
    if (rc != SEAL_OK)
        seal_atomic_abort(a);
    return rc;
}

int seal_atomic_stage(seal_atomic *a, const uint8_t *buf, size_t len, seal_err *err)
{
    if (a->state == SEAL_ATOMIC_PREPARED) {
        /* Rewritten from offset 0 on every attempt: after a failed fsync the
         * kernel may have dropped the dirty pages, so the data is sent again. */
        if (atomic_write_all(a->fd, buf, len) != 0 || ftruncate(a->fd, (off_t)len) != 0)
            return seal_fail(err, SEAL_E_IO, "cannot write the new %s in %s: %s (free some disk space; "
                                             "the old file is untouched)", a->name, a->dir_display,
                             strerror(errno));
        if (fsync(a->fd) != 0)
            return seal_fail(err, SEAL_E_IO, "cannot flush the new %s in %s to disk: %s (the old file is "
                                             "untouched)", a->name, a->dir_display, strerror(errno));
        a->state = SEAL_ATOMIC_STAGED;
    }
    return a->state == SEAL_ATOMIC_STAGED ? SEAL_OK : seal_fail(err, SEAL_E_INVAL, "nothing prepared");
}

int seal_atomic_commit(seal_atomic *a, const uint8_t *buf, size_t len, seal_err *err)
{
    if (a->state == SEAL_ATOMIC_PREPARED) {
        int rc = seal_atomic_stage(a, buf, len, err);
        if (rc != SEAL_OK)
            return rc;
    }
    if (a->state == SEAL_ATOMIC_STAGED) {
        if (renameat(a->dirfd, a->tmp, a->dirfd, a->name) != 0)
            return seal_fail(err, SEAL_E_IO, "cannot put the new %s in place in %s: %s (the old file is "
                                             "untouched)", a->name, a->dir_display, strerror(errno));
        a->state = SEAL_ATOMIC_RENAMED;
        close(a->fd);
        a->fd = -1;
    }
    if (a->state == SEAL_ATOMIC_RENAMED) {
        if (fsync(a->dirfd) != 0)
            return seal_fail(err, SEAL_E_IO, "cannot flush directory %s to disk: %s", a->dir_display,
                             strerror(errno));
        a->state = SEAL_ATOMIC_DONE;
    }
    return a->state == SEAL_ATOMIC_DONE ? SEAL_OK : seal_fail(err, SEAL_E_INVAL, "nothing prepared");
}

void seal_atomic_abort(seal_atomic *a)
{
    if (a->state == SEAL_ATOMIC_PREPARED || a->state == SEAL_ATOMIC_STAGED)
        unlinkat(a->dirfd, a->tmp, 0);
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    a->state = SEAL_ATOMIC_IDLE;
}

void seal_atomic_sweep(int dirfd, const char *name, int have_floor, uint64_t floor)
{
    char prefix[300];
    int n = snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (n > 0 && strncmp(e->d_name, prefix, (size_t)n) == 0 &&
            !seal_atomic_maybe_newer(dirfd, e->d_name, name, have_floor, floor))
            unlinkat(dirfd, e->d_name, 0);
    closedir(d);
}

static int atomic_write_all(int fd, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = pwrite(fd, buf + off, len - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}
