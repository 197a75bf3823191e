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
 * With $SEAL_SHIM_SNAPDIR (a directory outside the prefix), every call that
 * changes what a power cut would leave is also recorded, after it succeeded,
 * in SNAPDIR/events for the power-cut model (test_seal_powercut.c):
 *       C <path>        a file created (open/openat with O_CREAT)
 *       M <path>        a directory created
 *       U <path>        a file unlinked (X <path>: a directory removed)
 *       R <old> <new>   a rename
 *       F <path> <snap> fsync/fdatasync of a regular file; SNAPDIR/<snap>
 *                       holds the file's bytes at that moment
 *       D <dir>         fsync/fdatasync of a directory
 * These records never count towards $SEAL_SHIM_AT.
 * Paths come from /proc/self/fd, so the log shows what really happened.
 * Built with -U_FILE_OFFSET_BITS so pwrite and pwrite64 are distinct symbols.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*unlink_fn)(const char *);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*mkdir_fn)(const char *, mode_t);
typedef int (*mkdirat_fn)(int, const char *, mode_t);

static long shim_count;
static unsigned long shim_snap_seq;

/* The shim's own files are opened with the raw syscall: the open wrappers
 * below must not see (or record) them. */
static int shim_raw_open(const char *path, int flags)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0600);
}

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
        int fd = shim_raw_open(log, O_WRONLY | O_APPEND | O_CREAT);
        if (fd >= 0 && n > 0) {
            /* The raw syscall: this shim's own write must not recurse. */
            (void)syscall(SYS_write, fd, line, (size_t)n);
        }
        if (fd >= 0)
            (void)syscall(SYS_close, fd);
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

/* Appends one record-mode line to SNAPDIR/events (no-op outside record mode). */
static void shim_record(const char *kind, const char *a, const char *b)
{
    const char *dir = getenv("SEAL_SHIM_SNAPDIR");
    char path[4200], line[8400];
    if (dir == NULL || *dir == '\0')
        return;
    snprintf(path, sizeof path, "%s/events", dir);
    int n = snprintf(line, sizeof line, "%s %s%s%s\n", kind, a, b ? " " : "", b ? b : "");
    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    int fd = shim_raw_open(path, O_WRONLY | O_APPEND | O_CREAT);
    if (fd < 0)
        return;
    (void)syscall(SYS_write, fd, line, (size_t)n);
    (void)syscall(SYS_close, fd);
}

static int shim_recording(void)
{
    const char *dir = getenv("SEAL_SHIM_SNAPDIR");
    return dir != NULL && *dir != '\0';
}

/* Copies FROM (a path) into the new file TO; 0 or -1. */
static int shim_copy(const char *from, const char *to)
{
    char buf[65536];
    int in = shim_raw_open(from, O_RDONLY), out = shim_raw_open(to, O_WRONLY | O_CREAT | O_EXCL), rc = -1;
    for (;;) {
        if (in < 0 || out < 0)
            break;
        long n = syscall(SYS_read, in, buf, sizeof buf);
        if (n == 0) {
            rc = 0;
            break;
        }
        if (n < 0 || syscall(SYS_write, out, buf, (size_t)n) != n)
            break;
    }
    if (in >= 0)
        (void)syscall(SYS_close, in);
    if (out >= 0)
        (void)syscall(SYS_close, out);
    return rc;
}

/* After a successful fsync of FD: the bytes it made durable (a regular
 * file) or the directory whose entries it made durable. */
static void shim_record_sync(int fd)
{
    char path[4096], link[64], name[64], snap[4200];
    struct stat sb;
    if (!shim_recording() || fd <= 2 || shim_fd_path(fd, path, sizeof path) != 0 || !shim_watched(path) ||
        fstat(fd, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        shim_record("D", path, NULL);
        return;
    }
    if (!S_ISREG(sb.st_mode))
        return;
    /* pid and a counter: unique across the processes and threads of a run. */
    snprintf(name, sizeof name, "snap.%ld.%lu", (long)getpid(),
             __atomic_add_fetch(&shim_snap_seq, 1, __ATOMIC_RELAXED));
    snprintf(snap, sizeof snap, "%s/%s", getenv("SEAL_SHIM_SNAPDIR"), name);
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    /* A copy that failed is recorded as such: the model must not guess. */
    shim_record(shim_copy(link, snap) == 0 ? "F" : "E", path, name);
}

/* Before an open with O_CREAT: 1 (and ABS filled) when it would create a
 * watched file that does not exist yet. */
static int shim_create_pre(int dirfd, const char *p, int flags, char *abs, size_t cap)
{
    struct stat sb;
    if (!shim_recording() || (flags & O_CREAT) == 0 || shim_at_path(dirfd, p, abs, cap) != 0 || !shim_watched(abs))
        return 0;
    return fstatat(dirfd, p, &sb, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

enum { SHIM_OPEN, SHIM_OPEN64, SHIM_OPENAT, SHIM_OPENAT64 };

static int shim_open_common(int which, int dirfd, const char *p, int flags, mode_t mode)
{
    static const char *const names[] = {"open", "open64", "openat", "openat64"};
    static void *real[4];
    char abs[4096];
    int saved = errno, fresh = shim_create_pre(dirfd, p, flags, abs, sizeof abs), fd;
    errno = saved;
    if (real[which] == NULL)
        real[which] = dlsym(RTLD_NEXT, names[which]);
    if (which == SHIM_OPEN || which == SHIM_OPEN64)
        fd = ((open_fn)real[which])(p, flags, mode);
    else
        fd = ((openat_fn)real[which])(dirfd, p, flags, mode);
    if (fd >= 0 && fresh) {
        saved = errno;
        shim_record("C", abs, NULL);
        errno = saved;
    }
    return fd;
}

/* The mode argument exists only with O_CREAT or O_TMPFILE (open(2)). */
#define SHIM_MODE_ARG(flags, mode)                                                                                   \
    do {                                                                                                             \
        if (((flags) & O_CREAT) != 0 || ((flags) & O_TMPFILE) == O_TMPFILE) {                                        \
            va_list ap;                                                                                              \
            va_start(ap, flags);                                                                                     \
            mode = (mode_t)va_arg(ap, int);                                                                          \
            va_end(ap);                                                                                              \
        }                                                                                                            \
    } while (0)

int open(const char *p, int flags, ...)
{
    mode_t mode = 0;
    SHIM_MODE_ARG(flags, mode);
    return shim_open_common(SHIM_OPEN, AT_FDCWD, p, flags, mode);
}

int open64(const char *p, int flags, ...)
{
    mode_t mode = 0;
    SHIM_MODE_ARG(flags, mode);
    return shim_open_common(SHIM_OPEN64, AT_FDCWD, p, flags, mode);
}

int openat(int dirfd, const char *p, int flags, ...)
{
    mode_t mode = 0;
    SHIM_MODE_ARG(flags, mode);
    return shim_open_common(SHIM_OPENAT, dirfd, p, flags, mode);
}

int openat64(int dirfd, const char *p, int flags, ...)
{
    mode_t mode = 0;
    SHIM_MODE_ARG(flags, mode);
    return shim_open_common(SHIM_OPENAT64, dirfd, p, flags, mode);
}

/* Records KIND for DIRFD/P after a call that succeeded (RC == 0). */
static int shim_record_at(int rc, const char *kind, int dirfd, const char *p)
{
    char abs[4096];
    int saved = errno;
    if (rc == 0 && shim_recording() && shim_at_path(dirfd, p, abs, sizeof abs) == 0 && shim_watched(abs))
        shim_record(kind, abs, NULL);
    errno = saved;
    return rc;
}

int unlink(const char *p)
{
    static unlink_fn real;
    if (real == NULL)
        real = (unlink_fn)dlsym(RTLD_NEXT, "unlink");
    return shim_record_at(real(p), "U", AT_FDCWD, p);
}

int unlinkat(int dirfd, const char *p, int flags)
{
    static unlinkat_fn real;
    if (real == NULL)
        real = (unlinkat_fn)dlsym(RTLD_NEXT, "unlinkat");
    return shim_record_at(real(dirfd, p, flags), (flags & AT_REMOVEDIR) ? "X" : "U", dirfd, p);
}

/* After a rename that succeeded: the names only (the directory fds stay valid). */
static int shim_record_rename(int rc, int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    char a[4096], b[4096];
    int saved = errno;
    if (rc == 0 && shim_recording() && shim_at_path(olddirfd, oldp, a, sizeof a) == 0 &&
        shim_at_path(newdirfd, newp, b, sizeof b) == 0 && (shim_watched(a) || shim_watched(b)))
        shim_record("R", a, b);
    errno = saved;
    return rc;
}

int mkdir(const char *p, mode_t mode)
{
    static mkdir_fn real;
    if (real == NULL)
        real = (mkdir_fn)dlsym(RTLD_NEXT, "mkdir");
    return shim_record_at(real(p, mode), "M", AT_FDCWD, p);
}

int mkdirat(int dirfd, const char *p, mode_t mode)
{
    static mkdirat_fn real;
    if (real == NULL)
        real = (mkdirat_fn)dlsym(RTLD_NEXT, "mkdirat");
    return shim_record_at(real(dirfd, p, mode), "M", dirfd, p);
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
    int rc = real(fd), saved = errno;
    if (rc == 0)
        shim_record_sync(fd);
    errno = saved;
    return rc;
}

int fdatasync(int fd)
{
    static fsync_fn real;
    if (real == NULL)
        real = (fsync_fn)dlsym(RTLD_NEXT, "fdatasync");
    if (shim_fd_event("F", fd) != 0)
        return -1;
    int rc = real(fd), saved = errno;
    if (rc == 0)
        shim_record_sync(fd);
    errno = saved;
    return rc;
}

int rename(const char *oldp, const char *newp)
{
    static rename_fn real;
    if (real == NULL)
        real = (rename_fn)dlsym(RTLD_NEXT, "rename");
    if (shim_rename_event(AT_FDCWD, oldp, AT_FDCWD, newp) != 0)
        return -1;
    return shim_record_rename(real(oldp, newp), AT_FDCWD, oldp, AT_FDCWD, newp);
}

int renameat(int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    static renameat_fn real;
    if (real == NULL)
        real = (renameat_fn)dlsym(RTLD_NEXT, "renameat");
    if (shim_rename_event(olddirfd, oldp, newdirfd, newp) != 0)
        return -1;
    return shim_record_rename(real(olddirfd, oldp, newdirfd, newp), olddirfd, oldp, newdirfd, newp);
}

int renameat2(int olddirfd, const char *oldp, int newdirfd, const char *newp, unsigned flags)
{
    static renameat2_fn real;
    if (real == NULL)
        real = (renameat2_fn)dlsym(RTLD_NEXT, "renameat2");
    if (shim_rename_event(olddirfd, oldp, newdirfd, newp) != 0)
        return -1;
    return shim_record_rename(real(olddirfd, oldp, newdirfd, newp, flags), olddirfd, oldp, newdirfd, newp);
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
