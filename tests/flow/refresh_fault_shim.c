/* refresh_fault_shim.c - LD_PRELOAD shim for the seal-failure refresh test:
 * makes writes and/or fsyncs of the grant's temp file fail, as a full disk
 * (ENOSPC) or a failing disk (EIO) would, while a flag file exists.
 *
 * The temp file is created and its space reserved (fallocate) before the
 * token request; only its write and fsync come after the server rotated the
 * refresh token, so failing those is exactly "the seal fails after the
 * rotation" (DESIGN.md, Keeping the grant alive, rule 4).  The parent test
 * removes the flag to "free the disk" and checks the parked grant is saved.
 *
 *   REFRESH_SHIM_FLAG   path of the flag file: fail while it exists
 *   REFRESH_SHIM_ERRNO  "ENOSPC" or "EIO" (default EIO)
 *   REFRESH_SHIM_OPS    "W" (writes), "F" (fsync/fdatasync) or "WF"
 *   REFRESH_SHIM_KILL_AFTER_FSYNC=1  instead: once the temp file's fsync has
 *                       succeeded, the process SIGKILLs itself - dying
 *                       between the fsync and the rename, the one moment when
 *                       the only live refresh token is in the temp file
 *   REFRESH_SHIM_FSYNC_TIMES=PATH  appends to PATH one line per successful
 *                       fsync/fdatasync of the temp file: its CLOCK_MONOTONIC
 *                       time in ns, taken as the call returned (the moment
 *                       the renewed grant became durable)
 * Watched: descriptors whose path contains "/.grant.tmp.".
 * Built with -U_FILE_OFFSET_BITS so pwrite and pwrite64 are distinct. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*shim_write_fn)(int, const void *, size_t);
typedef ssize_t (*shim_pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*shim_pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*shim_fsync_fn)(int);

static int shim_is_temp(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    return strstr(path, "/.grant.tmp.") != NULL;
}

/* Through the real write: the shim's own would look the descriptor up again. */
static void shim_note_fsync(int fd, int rc, const struct timespec *done)
{
    static shim_write_fn real_write;
    const char *path = getenv("REFRESH_SHIM_FSYNC_TIMES");
    if (rc != 0 || path == NULL || path[0] == '\0' || fd <= 2 || !shim_is_temp(fd))
        return;
    if (real_write == NULL)
        real_write = (shim_write_fn)dlsym(RTLD_NEXT, "write");
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n",
                     (long long)done->tv_sec * 1000000000LL + done->tv_nsec);
    int out = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (out < 0)
        return;
    /* One write of a short line: O_APPEND keeps lines of several writers whole. */
    if (real_write(out, line, (size_t)n) != n)
        fprintf(stderr, "refresh_fault_shim: could not append to %s\n", path);
    close(out);
}

static void shim_kill_after(int fd, int rc)
{
    const char *k = getenv("REFRESH_SHIM_KILL_AFTER_FSYNC");
    if (rc == 0 && k != NULL && k[0] == '1' && fd > 2 && shim_is_temp(fd))
        raise(SIGKILL);
}

/* Returns -1 with errno set when the call on fd must fail. */
static int shim_fault(int fd, char op)
{
    const char *flag = getenv("REFRESH_SHIM_FLAG");
    const char *ops = getenv("REFRESH_SHIM_OPS");
    if (flag == NULL || ops == NULL || strchr(ops, op) == NULL || fd <= 2)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    if (strstr(path, "/.grant.tmp.") == NULL || access(flag, F_OK) != 0)
        return 0;
    const char *e = getenv("REFRESH_SHIM_ERRNO");
    errno = e != NULL && strcmp(e, "ENOSPC") == 0 ? ENOSPC : EIO;
    return -1;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    static shim_write_fn real;
    if (real == NULL)
        real = (shim_write_fn)dlsym(RTLD_NEXT, "write");
    if (shim_fault(fd, 'W') != 0)
        return -1;
    return real(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    static shim_pwrite_fn real;
    if (real == NULL)
        real = (shim_pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    if (shim_fault(fd, 'W') != 0)
        return -1;
    return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    static shim_pwrite64_fn real;
    if (real == NULL)
        real = (shim_pwrite64_fn)dlsym(RTLD_NEXT, "pwrite64");
    if (shim_fault(fd, 'W') != 0)
        return -1;
    return real(fd, buf, len, off);
}

int fsync(int fd)
{
    static shim_fsync_fn real;
    if (real == NULL)
        real = (shim_fsync_fn)dlsym(RTLD_NEXT, "fsync");
    if (shim_fault(fd, 'F') != 0)
        return -1;
    int rc = real(fd);
    struct timespec done;
    clock_gettime(CLOCK_MONOTONIC, &done);
    shim_note_fsync(fd, rc, &done);
    shim_kill_after(fd, rc);
    return rc;
}

int fdatasync(int fd)
{
    static shim_fsync_fn real;
    if (real == NULL)
        real = (shim_fsync_fn)dlsym(RTLD_NEXT, "fdatasync");
    if (shim_fault(fd, 'F') != 0)
        return -1;
    int rc = real(fd);
    struct timespec done;
    clock_gettime(CLOCK_MONOTONIC, &done);
    shim_note_fsync(fd, rc, &done);
    shim_kill_after(fd, rc);
    return rc;
}
