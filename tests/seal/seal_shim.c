/*
 * seal_shim.c - LD_PRELOAD shim for the durability and crash tests.
 * Intercepts write/pwrite/fsync/fdatasync/rename* on files whose path starts
 * with $SEAL_SHIM_PREFIX and
 *   - appends one line per call to $SEAL_SHIM_LOG:
 *       W <path>        a write to the file at <path>
 *       F <path>        fsync/fdatasync of <path> (file or directory)
 *       R <old> <new>   a rename
 *   - at the $SEAL_SHIM_AT-th such call (1-based), before doing it, either
 *     SIGKILLs the process ($SEAL_SHIM_MODE=kill) or makes the call fail
 *     with EIO ($SEAL_SHIM_MODE=fail; $SEAL_SHIM_ERRNO picks another errno).
 * With $SEAL_SHIM_FSTYPE (hex), fstatfs reports that filesystem type for
 * watched paths, so the NFS/CIFS refusal can be tested on a local disk.
 * Paths come from /proc/self/fd, so the log shows what really happened.
 * Built with -U_FILE_OFFSET_BITS so pwrite and pwrite64 are distinct symbols.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*fsync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*fstatfs_fn)(int, struct statfs *);
typedef int (*fstatfs64_fn)(int, struct statfs64 *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned);

static long shim_count;

static int shim_fd_path(int fd, char *out, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return 0;
}

static int shim_at_path(int dirfd, const char *name, char *out, size_t cap)
{
    char dir[2048];
    if (name[0] == '/') {
        int n = snprintf(out, cap, "%s", name);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
    }
    if (dirfd == AT_FDCWD) {
        if (getcwd(dir, sizeof dir) == NULL)
            return -1;
    } else if (shim_fd_path(dirfd, dir, sizeof dir) != 0) {
        return -1;
    }
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int shim_watched(const char *path)
{
    const char *prefix = getenv("SEAL_SHIM_PREFIX");
    return prefix != NULL && *prefix && strncmp(path, prefix, strlen(prefix)) == 0;
}

/* Logs the event and applies the fault; returns -1 when the call must fail. */
static int shim_event(const char *kind, const char *a, const char *b)
{
    const char *log = getenv("SEAL_SHIM_LOG");
    if (log != NULL) {
        char line[8400];
        int n = snprintf(line, sizeof line, "%s %s%s%s\n", kind, a, b ? " " : "", b ? b : "");
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0 && n > 0) {
            /* The raw syscall: this shim's own write must not recurse. */
            (void)syscall(SYS_write, fd, line, (size_t)n);
        }
        if (fd >= 0)
            close(fd);
    }
    const char *at = getenv("SEAL_SHIM_AT");
    if (at != NULL && ++shim_count == atol(at)) {
        const char *mode = getenv("SEAL_SHIM_MODE");
        if (mode != NULL && strcmp(mode, "fail") == 0) {
            const char *en = getenv("SEAL_SHIM_ERRNO");
            errno = en != NULL && atoi(en) > 0 ? atoi(en) : EIO;
            return -1;
        }
        kill(getpid(), SIGKILL);
    }
    return 0;
}

static int shim_fd_event(const char *kind, int fd)
{
    char path[4096];
    if (fd <= 2 || shim_fd_path(fd, path, sizeof path) != 0 || !shim_watched(path))
        return 0;
    return shim_event(kind, path, NULL);
}

static int shim_rename_event(int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    char a[4096], b[4096];
    if (shim_at_path(olddirfd, oldp, a, sizeof a) != 0 || shim_at_path(newdirfd, newp, b, sizeof b) != 0 ||
        !shim_watched(a))
        return 0;
    return shim_event("R", a, b);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    static write_fn real;
    if (real == NULL)
        real = (write_fn)dlsym(RTLD_NEXT, "write");
    if (shim_fd_event("W", fd) != 0)
        return -1;
    return real(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    static pwrite_fn real;
    if (real == NULL)
        real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    if (shim_fd_event("W", fd) != 0)
        return -1;
    return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    static pwrite64_fn real;
    if (real == NULL)
        real = (pwrite64_fn)dlsym(RTLD_NEXT, "pwrite64");
    if (shim_fd_event("W", fd) != 0)
        return -1;
    return real(fd, buf, len, off);
}

int fsync(int fd)
{
    static fsync_fn real;
    if (real == NULL)
        real = (fsync_fn)dlsym(RTLD_NEXT, "fsync");
    if (shim_fd_event("F", fd) != 0)
        return -1;
    return real(fd);
}

int fdatasync(int fd)
{
    static fsync_fn real;
    if (real == NULL)
        real = (fsync_fn)dlsym(RTLD_NEXT, "fdatasync");
    if (shim_fd_event("F", fd) != 0)
        return -1;
    return real(fd);
}

int rename(const char *oldp, const char *newp)
{
    static rename_fn real;
    if (real == NULL)
        real = (rename_fn)dlsym(RTLD_NEXT, "rename");
    if (shim_rename_event(AT_FDCWD, oldp, AT_FDCWD, newp) != 0)
        return -1;
    return real(oldp, newp);
}

int renameat(int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    static renameat_fn real;
    if (real == NULL)
        real = (renameat_fn)dlsym(RTLD_NEXT, "renameat");
    if (shim_rename_event(olddirfd, oldp, newdirfd, newp) != 0)
        return -1;
    return real(olddirfd, oldp, newdirfd, newp);
}

int renameat2(int olddirfd, const char *oldp, int newdirfd, const char *newp, unsigned flags)
{
    static renameat2_fn real;
    if (real == NULL)
        real = (renameat2_fn)dlsym(RTLD_NEXT, "renameat2");
    if (shim_rename_event(olddirfd, oldp, newdirfd, newp) != 0)
        return -1;
    return real(olddirfd, oldp, newdirfd, newp, flags);
}

/* Reports $SEAL_SHIM_FSTYPE as the filesystem type of watched paths. */
static int shim_fake_fstype(int fd, unsigned long *type)
{
    char path[4096];
    const char *t = getenv("SEAL_SHIM_FSTYPE");
    if (t == NULL || shim_fd_path(fd, path, sizeof path) != 0 || !shim_watched(path))
        return 0;
    *type = strtoul(t, NULL, 16);
    return 1;
}

int fstatfs(int fd, struct statfs *buf)
{
    static fstatfs_fn real;
    unsigned long type;
    if (real == NULL)
        real = (fstatfs_fn)dlsym(RTLD_NEXT, "fstatfs");
    int rc = real(fd, buf);
    if (rc == 0 && shim_fake_fstype(fd, &type))
        buf->f_type = (__typeof__(buf->f_type))type;
    return rc;
}

int fstatfs64(int fd, struct statfs64 *buf)
{
    static fstatfs64_fn real;
    unsigned long type;
    if (real == NULL)
        real = (fstatfs64_fn)dlsym(RTLD_NEXT, "fstatfs64");
    int rc = real(fd, buf);
    if (rc == 0 && shim_fake_fstype(fd, &type))
        buf->f_type = (__typeof__(buf->f_type))type;
    return rc;
}
