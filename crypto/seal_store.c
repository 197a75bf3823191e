/*
 * seal_store.c - the store directory: opening it with its safety checks
 * (0700, owner, no network filesystem), reading, listing and replacing the
 * sealed items in it, and re-sealing them for rotate-key.
 */
#include "seal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* statfs f_type values of filesystems whose flock cannot be trusted. */
#define STORE_NFS_MAGIC 0x6969
#define STORE_SMB_MAGIC 0x517B
#define STORE_CIFS_MAGIC 0xFF534D42u
#define STORE_SMB2_MAGIC 0xFE534D42u

static int store_name_cmp(const void *a, const void *b);

int seal_store_open(const char *dir, seal_store **out, seal_err *err)
{
    int rc = SEAL_OK;
    seal_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of memory");
    st->dirfd = -1;
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof st->path) {
        rc = seal_fail(err, SEAL_E_INVAL, "store path is empty or too long");
        goto out;
    }
    memcpy(st->path, dir, len + 1);
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (st->dirfd < 0) {
        if (errno == ENOENT)
            rc = seal_fail(err, SEAL_E_NOENT, "store directory %s does not exist: create it with vap-seal put, "
                                              "or mkdir -m 700 %s", dir, dir);
        else if (errno == ELOOP || errno == ENOTDIR)
            rc = seal_fail(err, SEAL_E_PERM, "store %s is a symbolic link or not a directory, which is "
                                             "refused: name the real directory", dir);
        else
            rc = seal_fail(err, SEAL_E_IO, "cannot open store directory %s: %s", dir, strerror(errno));
        goto out;
    }
    struct stat sb;
    struct statfs fs;
    if (fstat(st->dirfd, &sb) != 0 || fstatfs(st->dirfd, &fs) != 0) {
        rc = seal_fail(err, SEAL_E_IO, "cannot stat store directory %s: %s", dir, strerror(errno));
        goto out;
    }
    uid_t euid = geteuid();
    if (euid != 0 && sb.st_uid != euid) {
        rc = seal_fail(err, SEAL_E_PERM, "store directory %s is owned by uid %u, not by this user (uid %u): "
                                         "run chown %u %s", dir, (unsigned)sb.st_uid, (unsigned)euid,
                       (unsigned)euid, dir);
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        rc = seal_fail(err, SEAL_E_PERM, "store directory %s is open to group or others (mode %04o): run "
                                         "chmod 700 %s", dir, (unsigned)(sb.st_mode & 07777), dir);
        goto out;
    }
    unsigned long ftype = (unsigned long)fs.f_type & 0xFFFFFFFFul;
    if (ftype == STORE_NFS_MAGIC || ftype == STORE_SMB_MAGIC || ftype == STORE_CIFS_MAGIC ||
        ftype == STORE_SMB2_MAGIC) {
        rc = seal_fail(err, SEAL_E_FSTYPE, "store directory %s is on a network filesystem (NFS/CIFS), whose "
                                           "locks cannot be trusted: use a local directory", dir);
        goto out;
    }
    st->dir_uid = sb.st_uid;
    st->dir_gid = sb.st_gid;
    /* Root gives new files to the directory's owner so the service can
     * read them; anyone else creates files as themselves. */
    st->new_uid = euid == 0 ? sb.st_uid : (uid_t)-1;
    st->new_gid = euid == 0 ? sb.st_gid : (gid_t)-1;
    *out = st;
    st = NULL;
out:
    seal_store_close(st);
    return rc;
}

void seal_store_close(seal_store *st)
{
    if (st == NULL)
        return;
    if (st->dirfd >= 0)
        close(st->dirfd);
    free(st);
}

void seal_store_set_owner(seal_store *st, uid_t uid, gid_t gid)
{
    if (geteuid() == 0) {
        st->new_uid = uid;
        st->new_gid = gid;
    }
}

uid_t seal_store_owner(const seal_store *st)
{
    return st->dir_uid;
}

int seal_name_valid(const char *name)
{
    return seal_name_valid_len(name, strnlen(name, SEAL_NAME_MAX + 1));
}

int seal_name_valid_len(const char *name, size_t n)
{
    if (n == 0 || n > SEAL_NAME_MAX || name[0] == '-')
        return 0;
    size_t base = n, sl = sizeof SEAL_PREVIOUS_SUFFIX - 1;
    if (n > sl && memcmp(name + n - sl, SEAL_PREVIOUS_SUFFIX, sl) == 0)
        base = n - sl; /* the kept copy of an item: BASE.previous */
    for (size_t i = 0; i < base; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int seal_store_read(seal_store *st, const seal_keyring *ring, const char *name, const seal_binding *bind,
                    seal_secret *s, seal_err *err)
{
    size_t len = 0;
    seal_secret_clear(s);
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    int rc = seal_file_read(st->dirfd, st->path, name, "sealed item", st->dir_uid, 0, s->sealed, SEAL_FILE_MAX,
                            &len, err);
    if (rc != SEAL_OK)
        return rc;
    rc = seal_format_open(ring, name, bind, s->sealed, len, s, err);
    if (rc != SEAL_OK && err != NULL) {
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        seal_fail(err, rc, "%s/%s: %s", st->path, name, msg);
    }
    return rc;
}

int seal_store_header(seal_store *st, const char *name, seal_header *out, seal_err *err)
{
    uint8_t buf[SEAL_HEADER_MAX];
    size_t len = 0;
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    int rc = seal_file_read(st->dirfd, st->path, name, "sealed item", st->dir_uid, 1, buf, sizeof buf, &len, err);
    if (rc != SEAL_OK)
        return rc;
    return seal_header_parse(buf, len, out, err);
}

int seal_store_list(seal_store *st, char (*names)[SEAL_NAME_MAX + 1], size_t cap, size_t *count, seal_err *err)
{
    int fd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return seal_fail(err, SEAL_E_IO, "cannot list store %s: %s", st->path, strerror(errno));
    }
    size_t n = 0;
    int rc = SEAL_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (!seal_name_valid(e->d_name) || fstatat(st->dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            S_ISDIR(sb.st_mode))
            continue; /* lock and temp files start with '.' */
        if (n == cap) {
            rc = seal_fail(err, SEAL_E_TOO_BIG, "store %s holds more than %zu items", st->path, cap);
            break;
        }
        memcpy(names[n], e->d_name, strlen(e->d_name) + 1);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], store_name_cmp);
    *count = n;
    return rc;
}

int seal_store_put(seal_store *st, const char *keyring_path, const char *name, const seal_binding *bind,
                   const uint8_t *value, size_t value_len, uint64_t *generation_out, seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_txn *t = NULL;
    seal_header h;
    uint64_t gen = 0;
    int rc = seal_lock_acquire(st, name, 1, &lk, err);
    if (rc != SEAL_OK)
        goto out;
    /* Reloaded under the lock: a rotate-key that finished before we got it
     * has made a new key active, and we must seal with that one. */
    rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err);
    if (rc != SEAL_OK)
        goto out;
    uint64_t recovered = 0;
    if ((rc = seal_store_recover(st, ring, name, &recovered, err)) != SEAL_OK)
        goto out;
    rc = seal_store_header(st, name, &h, err);
    if (rc == SEAL_OK)
        gen = h.generation;
    else if (rc != SEAL_E_NOENT && rc != SEAL_E_FORMAT && rc != SEAL_E_VERSION)
        goto out; /* permissions etc.: do not paper over them */
    rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + value_len + 4 * SEAL_BINDING_MAX, &t, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_txn_commit(t, ring, bind, gen + 1, value, value_len, err);
    if (rc == SEAL_OK && generation_out != NULL)
        *generation_out = gen + 1;
out:
    seal_txn_free(t);
    seal_keyring_free(ring);
    seal_lock_release(&lk);
    return rc;
}

int seal_store_reseal(seal_store *st, const char *keyring_path, const char *name, int *changed, seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_txn *t = NULL;
    seal_header h;
    seal_binding b;
    *changed = 0;
    int rc = seal_lock_acquire(st, name, 1, &lk, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err);
    if (rc != SEAL_OK)
        goto out;
    /* A renewal a killed writer left in its temp file is the live value:
     * install it first, then re-seal that (never the revoked one). */
    uint64_t recovered = 0;
    if ((rc = seal_store_recover(st, ring, name, &recovered, err)) != SEAL_OK)
        goto out;
    rc = seal_store_header(st, name, &h, err);
    if (rc != SEAL_OK)
        goto out;
    const struct seal_key *active = seal_keyring_active(ring);
    if (active != NULL && sodium_memcmp(active->id, h.key_id, SEAL_KEY_ID_BYTES) == 0)
        goto out; /* already on the active key: a re-run after an interruption */
    rc = seal_secret_new(&s, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_store_read(st, ring, name, NULL, s, err);
    if (rc != SEAL_OK)
        goto out;
    seal_secret_binding(s, &b);
    rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + seal_secret_size(s) + 4 * SEAL_BINDING_MAX, &t, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_txn_commit(t, ring, &b, seal_secret_generation(s) + 1, seal_secret_data(s), seal_secret_size(s),
                         err);
    if (rc == SEAL_OK)
        *changed = 1;
out:
    seal_txn_free(t);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_lock_release(&lk);
    return rc;
}

int seal_store_read_raw(seal_store *st, const char *name, uint8_t *buf, size_t cap, size_t *len, seal_err *err)
{
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    return seal_file_read(st->dirfd, st->path, name, "sealed item", st->dir_uid, 0, buf, cap, len, err);
}

int seal_store_write_raw(seal_store *st, const char *name, const uint8_t *buf, size_t len, seal_err *err)
{
    seal_header h;
    seal_lock lk = {.fd = -1};
    seal_atomic a = {.fd = -1};
    int rc = seal_header_parse(buf, len, &h, err);
    if (rc != SEAL_OK)
        return rc;
    if (strcmp(h.purpose, name) != 0 || len > SEAL_FILE_MAX)
        return seal_fail(err, SEAL_E_PURPOSE, "backup item %s is sealed for \"%s\"", name, h.purpose);
    rc = seal_lock_acquire(st, name, 1, &lk, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_atomic_prepare(&a, st->dirfd, st->path, name, len, st->new_uid, st->new_gid, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_atomic_commit(&a, buf, len, err);
out:
    seal_atomic_abort(&a);
    seal_lock_release(&lk);
    return rc;
}

static int store_name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}
