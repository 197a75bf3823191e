/*
 * seal_file.c - opening secret files safely: O_NOFOLLOW, then fstat checks
 * (regular file, owner, no group/other bits) with a message that gives the
 * exact chmod/chown fix.  Shared by the keyring and the store.
 */
#include "seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void file_user_name(uid_t uid, char *out, size_t cap);

int seal_file_read(int dirfd, const char *dir_display, const char *name, const char *what, uid_t owner_ok,
                   int prefix_only, uint8_t *buf, size_t cap, size_t *len, seal_err *err)
{
    int rc = SEAL_OK;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return seal_fail(err, SEAL_E_NOENT, "%s %s/%s does not exist", what, dir_display, name);
        if (errno == ELOOP)
            return seal_fail(err, SEAL_E_PERM, "%s %s/%s is a symbolic link, which is refused: replace it "
                                               "with the file itself", what, dir_display, name);
        return seal_fail(err, SEAL_E_IO, "cannot open %s %s/%s: %s", what, dir_display, name,
                         strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = seal_fail(err, SEAL_E_IO, "cannot stat %s %s/%s: %s", what, dir_display, name, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = seal_fail(err, SEAL_E_PERM, "%s %s/%s is not a regular file: replace it with the file itself",
                       what, dir_display, name);
        goto out;
    }
    uid_t euid = geteuid();
    if (st.st_uid != euid && !(euid == 0 && owner_ok != (uid_t)-1 && st.st_uid == owner_ok)) {
        char user[64];
        file_user_name(euid == 0 && owner_ok != (uid_t)-1 ? owner_ok : euid, user, sizeof user);
        rc = seal_fail(err, SEAL_E_PERM, "%s %s/%s is owned by uid %u, not by the service user: run "
                                         "chown %s %s/%s", what, dir_display, name, (unsigned)st.st_uid,
                       user, dir_display, name);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = seal_fail(err, SEAL_E_PERM, "%s %s/%s can be read or written by group or others (mode %04o): "
                                         "run chmod 600 %s/%s", what, dir_display, name,
                       (unsigned)(st.st_mode & 07777), dir_display, name);
        goto out;
    }
    if (!prefix_only && (uint64_t)st.st_size > cap) {
        rc = seal_fail(err, SEAL_E_TOO_BIG, "%s %s/%s is %lld bytes, over the %zu-byte limit: it is not a "
                                            "file vap-seal wrote", what, dir_display, name,
                       (long long)st.st_size, cap);
        goto out;
    }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = seal_fail(err, SEAL_E_IO, "cannot read %s %s/%s: %s", what, dir_display, name,
                           strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == cap) {
            uint8_t extra;
            if (prefix_only)
                break;
            if (read(fd, &extra, 1) > 0) {
                rc = seal_fail(err, SEAL_E_TOO_BIG, "%s %s/%s is over the %zu-byte limit", what,
                               dir_display, name, cap);
                goto out;
            }
            break;
        }
    }
    *len = got;
out:
    close(fd);
    return rc;
}

int seal_path_split(const char *path, int *dirfd, char *dir_out, size_t dir_cap, const char **base,
                    seal_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t dlen;
    if (slash == NULL) {
        if (dir_cap < 2)
            return seal_fail(err, SEAL_E_INVAL, "path too long");
        memcpy(dir_out, ".", 2);
        *base = path;
    } else {
        dlen = (size_t)(slash - path);
        if (dlen == 0)
            dlen = 1; /* "/name" */
        if (dlen >= dir_cap)
            return seal_fail(err, SEAL_E_INVAL, "path %s is too long", path);
        memcpy(dir_out, path, dlen);
        dir_out[dlen] = '\0';
        *base = slash + 1;
    }
    if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
        return seal_fail(err, SEAL_E_INVAL, "%s names a directory, not a file", path);
    int fd = open(dir_out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return seal_fail(err, SEAL_E_NOENT, "directory %s does not exist", dir_out);
        return seal_fail(err, SEAL_E_IO, "cannot open directory %s: %s", dir_out, strerror(errno));
    }
    *dirfd = fd;
    return SEAL_OK;
}

static void file_user_name(uid_t uid, char *out, size_t cap)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL && strlen(res->pw_name) < cap) {
        memcpy(out, res->pw_name, strlen(res->pw_name) + 1);
        return;
    }
    snprintf(out, cap, "%u", (unsigned)uid);
}
