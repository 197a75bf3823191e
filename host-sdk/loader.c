/*
 * loader.c - permission checks, dlopen and ABI checks for vap plugins.
 *
 * The trust rule is sshd's StrictModes: a file is only as safe as every
 * directory above it.  Ancestors are resolved with realpath() (a merged-/usr
 * /lib symlink is normal), the file itself is opened with O_NOFOLLOW and
 * checked with fstat on the descriptor that is then loaded, so a check and
 * the load cannot see different files.
 */
#include "loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOADER_MAX_MODULES 16

/* A module whose entry point has run: never called twice per process. */
struct loader_module {
    dev_t dev;
    ino_t ino;
    int rc;
    const vap_plugin_api *api;
    char message[1024]; /* the module path (capped) and a reason */
};

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loader_module loader_modules[LOADER_MAX_MODULES];
static size_t loader_n_modules;

static int loader_fail(char *errbuf, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int loader_open_checked(const char *path, int *fd_out, struct stat *st_out,
                               char *errbuf, size_t errlen);
static int loader_binds_itself_now(int fd, uint64_t size);
static int loader_check_dirs(const char *label, const char *dir, char *errbuf, size_t errlen);
static int loader_check_owner_mode(const char *label, const char *what, const char *name,
                                   const struct stat *st, char *errbuf, size_t errlen);
static int loader_dlopen_fd(const char *module, int fd, off_t size, const vap_host_api *host,
                            struct loader_module *m, int *keep_fd);

int vaploader_check_path(const char *path, char *errbuf, size_t errlen)
{
    int fd = -1;
    struct stat st;
    int rc = loader_open_checked(path, &fd, &st, errbuf, errlen);
    if (fd >= 0)
        close(fd);
    return rc;
}

int vaploader_read_config(const char *path, vapconf **out, char *errbuf, size_t errlen)
{
    int fd = -1;
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int rc;

    *out = NULL;
    rc = loader_open_checked(path, &fd, &st, errbuf, errlen);
    if (rc != VAP_OK)
        goto out;
    text = malloc(VAPCONF_MAX_FILE + 1);
    if (text == NULL) {
        rc = VAP_E_NOMEM;
        goto out;
    }
    /* Read one byte past the cap so the parser can say the file is too big. */
    while (got < VAPCONF_MAX_FILE + 1) {
        ssize_t n = read(fd, text + got, VAPCONF_MAX_FILE + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = loader_fail(errbuf, errlen, VAP_E_IO, "%s: cannot read: %s", path,
                             strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rc = vapconf_parse(text, got, path, out, errbuf, errlen);
out:
    free(text);
    if (fd >= 0)
        close(fd);
    return rc;
}

int vaploader_load(const char *module, const vap_host_api *host,
                   const vap_plugin_api **out, char *errbuf, size_t errlen)
{
    int fd = -1;
    struct stat st;
    struct loader_module *m = NULL;
    unsigned char magic[4];
    int rc;

    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (module == NULL || module[0] != '/')
        return loader_fail(errbuf, errlen, VAP_E_CONFIG,
                           "%s: the module path is relative; give the absolute path, e.g. "
                           "/usr/lib/x86_64-linux-gnu/vap/vap_openemr.so",
                           module ? module : "(none)");
    if (host == NULL || host->log == NULL)
        return loader_fail(errbuf, errlen, VAP_E_INVAL,
                           "%s: the host gave no log function (a host bug)", module);
    rc = loader_open_checked(module, &fd, &st, errbuf, errlen);
    if (rc != VAP_OK)
        goto out;
    if (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
        memcmp(magic, "\177ELF", 4) != 0) {
        rc = loader_fail(errbuf, errlen, VAP_E_ABI,
                         "%s: not a shared library (no ELF header); check the module path",
                         module);
        goto out;
    }

    pthread_mutex_lock(&loader_lock);
    for (size_t i = 0; i < loader_n_modules; i++)
        if (loader_modules[i].dev == st.st_dev && loader_modules[i].ino == st.st_ino)
            m = &loader_modules[i];
    if (m == NULL) {
        if (loader_n_modules == LOADER_MAX_MODULES) {
            pthread_mutex_unlock(&loader_lock);
            rc = loader_fail(errbuf, errlen, VAP_E_CONFIG,
                             "%s: too many different plugin modules (at most %d per process)",
                             module, LOADER_MAX_MODULES);
            goto out;
        }
        struct loader_module fresh = {.dev = st.st_dev, .ino = st.st_ino};
        int keep_fd = 0;
        int cache = loader_dlopen_fd(module, fd, st.st_size, host, &fresh, &keep_fd);
        if (keep_fd)
            fd = -1; /* stays open for good: see loader_dlopen_fd */
        if (cache)
            loader_modules[loader_n_modules++] = fresh;
        m = &fresh;
        rc = m->rc;
        if (rc != VAP_OK)
            loader_fail(errbuf, errlen, rc, "%s", m->message);
        else
            *out = m->api;
        pthread_mutex_unlock(&loader_lock);
        goto out;
    }
    rc = m->rc;
    if (rc != VAP_OK)
        loader_fail(errbuf, errlen, rc, "%s", m->message);
    else
        *out = m->api;
    pthread_mutex_unlock(&loader_lock);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------- */

static int loader_fail(char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    if (errbuf != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/*
 * Open path for reading after checking every directory above it; refuse a
 * symbolic link and check owner and mode on the open descriptor.
 */
static int loader_open_checked(const char *path, int *fd_out, struct stat *st_out,
                               char *errbuf, size_t errlen)
{
    char absolute[PATH_MAX], dir[PATH_MAX], resolved[PATH_MAX], final[PATH_MAX];
    const char *base;
    int fd = -1, n, rc;

    *fd_out = -1;
    if (path == NULL || path[0] == '\0')
        return loader_fail(errbuf, errlen, VAP_E_CONFIG, "no file name given");
    if (path[0] == '/') {
        n = snprintf(absolute, sizeof absolute, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL)
            return loader_fail(errbuf, errlen, VAP_E_IO,
                               "%s: cannot find the current directory: %s", path,
                               strerror(errno));
        n = snprintf(absolute, sizeof absolute, "%s/%s", cwd, path);
    }
    if (n < 0 || (size_t)n >= sizeof absolute)
        return loader_fail(errbuf, errlen, VAP_E_CONFIG, "%s: path too long", path);

    char *slash = strrchr(absolute, '/');
    base = slash + 1;
    if (*base == '\0')
        return loader_fail(errbuf, errlen, VAP_E_CONFIG, "%s: names a directory, not a file",
                           path);
    if (slash == absolute)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - absolute), absolute);
    if (realpath(dir, resolved) == NULL)
        return loader_fail(errbuf, errlen, VAP_E_IO, "%s: directory %s: %s; check the path",
                           path, dir, strerror(errno));
    rc = loader_check_dirs(path, resolved, errbuf, errlen);
    if (rc != VAP_OK)
        return rc;

    n = snprintf(final, sizeof final, "%s/%s", strcmp(resolved, "/") ? resolved : "", base);
    if (n < 0 || (size_t)n >= sizeof final)
        return loader_fail(errbuf, errlen, VAP_E_CONFIG, "%s: path too long", path);
    fd = open(final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    /* O_NONBLOCK: a FIFO in place of the file must not hang the host. */
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return loader_fail(errbuf, errlen, VAP_E_CONFIG,
                               "%s: is a symbolic link; name the real file (links are refused "
                               "so nothing can be swapped in)", path);
        if (e == ENOENT)
            return loader_fail(errbuf, errlen, VAP_E_IO, "%s: no such file; check the path",
                               path);
        return loader_fail(errbuf, errlen, VAP_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, st_out) != 0) {
        rc = loader_fail(errbuf, errlen, VAP_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st_out->st_mode)) {
        close(fd);
        return loader_fail(errbuf, errlen, VAP_E_CONFIG, "%s: not a regular file", path);
    }
    rc = loader_check_owner_mode(path, NULL, path, st_out, errbuf, errlen);
    if (rc != VAP_OK) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return VAP_OK;
}

/* Check "/", then each longer prefix of the resolved directory. */
static int loader_check_dirs(const char *label, const char *dir, char *errbuf, size_t errlen)
{
    char prefix[PATH_MAX];
    size_t len = strlen(dir);

    for (size_t i = 1; i <= len; i++) {
        if (i != 1 && i != len && dir[i] != '/')
            continue;
        if (i == 1) {
            snprintf(prefix, sizeof prefix, "/");
        } else {
            size_t cut = (i == len) ? len : i;
            if (cut >= sizeof prefix)
                return loader_fail(errbuf, errlen, VAP_E_CONFIG, "%s: path too long", label);
            memcpy(prefix, dir, cut);
            prefix[cut] = '\0';
        }
        struct stat st;
        if (stat(prefix, &st) != 0)
            return loader_fail(errbuf, errlen, VAP_E_IO, "%s: directory %s: %s", label, prefix,
                               strerror(errno));
        int rc = loader_check_owner_mode(label, "directory ", prefix, &st, errbuf, errlen);
        if (rc != VAP_OK)
            return rc;
        if (i == 1 && len == 1)
            break;
    }
    return VAP_OK;
}

/*
 * Owner must be root or the effective user; no write bit for group or
 * others, except on a root-owned sticky directory (/tmp), where others
 * cannot replace what they do not own.
 */
static int loader_check_owner_mode(const char *label, const char *what, const char *name,
                                   const struct stat *st, char *errbuf, size_t errlen)
{
    uid_t euid = geteuid();
    int is_dir = what != NULL;
    const char *prefix = is_dir ? what : "";
    char subject[PATH_MAX + 32];

    if (is_dir)
        snprintf(subject, sizeof subject, "%s: %s%s", label, prefix, name);
    else
        snprintf(subject, sizeof subject, "%s", label);

    if (st->st_uid != 0 && st->st_uid != euid)
        return loader_fail(errbuf, errlen, VAP_E_CONFIG,
                           "%s is owned by uid %u, neither root nor this user (uid %u); run: "
                           "chown root %s", subject, (unsigned)st->st_uid, (unsigned)euid, name);
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        if (is_dir && st->st_uid == 0 && (st->st_mode & S_ISVTX) != 0)
            return VAP_OK;
        return loader_fail(errbuf, errlen, VAP_E_CONFIG,
                           "%s is writable by group or others; run: chmod go-w %s", subject,
                           name);
    }
    return VAP_OK;
}

/*
 * 1 when the ELF file on fd (size bytes) asks the dynamic linker to bind
 * all its symbols at load (DT_BIND_NOW, or DF_BIND_NOW / DF_1_NOW in the
 * last DT_FLAGS / DT_FLAGS_1, as ld.so reads them), 0 otherwise or when the
 * file cannot be read as an ELF object of this machine's class.
 */
static int loader_binds_itself_now(int fd, uint64_t size)
{
    ElfW(Ehdr) eh;
    ElfW(Phdr) ph;
    ElfW(Dyn) dyn[64];

    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh.e_phentsize != sizeof ph || eh.e_phnum > 512 || eh.e_phoff > size ||
        (uint64_t)eh.e_phnum * sizeof ph > size - eh.e_phoff)
        return 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) !=
            (ssize_t)sizeof ph)
            return 0;
        if (ph.p_type != PT_DYNAMIC)
            continue;
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            return 0;
        /* a real dynamic section has a few dozen entries; 64 KiB bounds it */
        uint64_t end = ph.p_filesz < 64 * sizeof dyn ? ph.p_filesz : 64 * sizeof dyn;
        uint64_t flags = 0, flags_1 = 0;
        int bind_now = 0;
        for (uint64_t done = 0; done + sizeof dyn[0] <= end;) {
            size_t want = end - done < sizeof dyn ? (size_t)(end - done) : sizeof dyn;
            ssize_t got = pread(fd, dyn, want, (off_t)(ph.p_offset + done));
            if (got < (ssize_t)sizeof dyn[0])
                return 0;
            for (size_t k = 0; k < (size_t)got / sizeof dyn[0]; k++) {
                if (dyn[k].d_tag == DT_NULL)
                    return bind_now || (flags & DF_BIND_NOW) || (flags_1 & DF_1_NOW);
                if (dyn[k].d_tag == DT_BIND_NOW)
                    bind_now = 1;
                else if (dyn[k].d_tag == DT_FLAGS)
                    flags = dyn[k].d_un.d_val;
                else if (dyn[k].d_tag == DT_FLAGS_1)
                    flags_1 = dyn[k].d_un.d_val;
            }
            done += (uint64_t)got - (uint64_t)got % sizeof dyn[0];
        }
        return 0; /* no DT_NULL: not what ld.so would load */
    }
    return 0;
}

/*
 * dlopen the checked descriptor, find the entry, call it once and check
 * the descriptor.  Fills m; returns 1 when m must be remembered (the entry
 * point ran, or the module is loaded), 0 when nothing of it stays.
 */
static int loader_dlopen_fd(const char *module, int fd, off_t size, const vap_host_api *host,
                            struct loader_module *m, int *keep_fd)
{
    char proc[64];
    vap_error err;
    const vap_plugin_api *api = NULL;

    /* glibc knows a loaded object by the name it was opened with: were fd N
     * closed and reused, a later dlopen("/proc/self/fd/N") of another module
     * would return this one, even after dlclose (a -z nodelete module stays).
     * Keeping the descriptor open for good keeps N unique. */
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    dlerror();
    /* A module linked -z now has every symbol of its own bound by dlopen
     * even under RTLD_LAZY, so a missing one still fails here; its
     * libraries then bind as in any program that links them, rather than
     * all at once (RTLD_NOW binds krb5, gmp, ... eagerly: a tenth of a
     * libcurl plugin's cold start).  A module not linked so gets RTLD_NOW,
     * as does any under LD_AUDIT or LD_PROFILE, which ld.so lets bind
     * lazily despite -z now. */
    int lazy = getenv("LD_AUDIT") == NULL && getenv("LD_PROFILE") == NULL &&
               loader_binds_itself_now(fd, (uint64_t)size);
    void *handle = dlopen(proc, (lazy ? RTLD_LAZY : RTLD_NOW) | RTLD_LOCAL);
    if (handle != NULL)
        *keep_fd = 1;
    if (handle == NULL) {
        const char *why = dlerror();
        size_t plen = strlen(proc);
        /* dlerror names /proc/self/fd/N: say the admin's path instead. */
        if (why != NULL && strncmp(why, proc, plen) == 0 && why[plen] == ':')
            why += plen + 1 + (why[plen + 1] == ' ');
        m->rc = VAP_E_ABI;
        snprintf(m->message, sizeof m->message, "%s: cannot be loaded: %s", module,
                 why ? why : "unknown dlopen error");
        return 0;
    }
    vap_plugin_entry_fn entry;
    void *sym = dlsym(handle, VAP_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL) {
        dlclose(handle);
        m->rc = VAP_E_ABI;
        snprintf(m->message, sizeof m->message,
                 "%s: no symbol " VAP_PLUGIN_ENTRY_SYMBOL
                 " (not a vap plugin, or built for another ABI major)", module);
        return 0;
    }
    /* POSIX dlsym returns an object pointer; converting it is how every
     * plugin host gets its function. */
    memcpy(&entry, &sym, sizeof entry);

    VAP_INIT(vap_error, err);
    int rc = entry(host, &api, &err);
    if (rc != VAP_OK) {
        m->rc = rc;
        err.message[sizeof err.message - 1] = '\0';
        snprintf(m->message, sizeof m->message, "%.512s: the plugin refused to start: %.255s", module,
                 err.message[0] ? err.message : "no reason given");
        return 1;
    }
    if (api == NULL) {
        m->rc = VAP_E_ABI;
        snprintf(m->message, sizeof m->message, "%s: the plugin returned no descriptor",
                 module);
    } else if (api->struct_size < VAPLOADER_MIN_API_SIZE) {
        m->rc = VAP_E_ABI;
        snprintf(m->message, sizeof m->message,
                 "%s: plugin descriptor too small (%u bytes, this host needs at least %zu); "
                 "install a plugin built for this vap/plugin.h", module,
                 (unsigned)api->struct_size, (size_t)VAPLOADER_MIN_API_SIZE);
    } else if (api->instance_new == NULL || api->instance_free == NULL ||
               api->release == NULL) {
        m->rc = VAP_E_ABI;
        snprintf(m->message, sizeof m->message,
                 "%s: plugin descriptor lacks instance_new, instance_free or release", module);
    } else {
        m->rc = VAP_OK;
        m->api = api;
    }
    return 1;
}
