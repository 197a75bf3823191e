/*
 * seal_keyring.c - the keyring: 32-byte master keys with derived ids,
 * states and creation times; its file format, parser, loader and writer.
 *
 * File layout (little-endian), exactly 16 + 64 * count bytes:
 *   0 magic "VSEALKR" | 7 u8 version=1 | 8 u8 count (1..32) | 9 u8[7] zero
 *   then per key: id[16] | u8 state | u8[7] zero | u64 created | key[32]
 * The stored id must equal crypto_kdf(key, "VSEALkid"): a mangled key or id
 * is caught at load, and exactly one key is active.
 */
#include "seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KR_MAGIC "VSEALKR"
#define KR_MAGIC_LEN 7u
#define KR_VERSION 1u
#define KR_HEADER 16u
#define KR_ENTRY 64u
#define KR_FILE_MAX (KR_HEADER + KR_ENTRY * SEAL_KEYRING_MAX_KEYS)

static int kr_check_zero(const uint8_t *p, size_t n);
static int kr_check_dir(int dirfd, const char *dir, seal_err *err);

int seal_keyring_new(seal_keyring **out, seal_err *err)
{
    seal_keyring *ring = sodium_malloc(sizeof *ring);
    if (ring == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of secure memory for the keyring");
    sodium_memzero(ring, sizeof *ring);
    *out = ring;
    return SEAL_OK;
}

void seal_keyring_free(seal_keyring *ring)
{
    sodium_free(ring); /* zeroes before unmapping; NULL is fine */
}

int seal_keyring_load(const char *path, uid_t owner_ok, seal_keyring **out, seal_err *err)
{
    char dir[4096];
    const char *base = NULL;
    int dirfd = -1;
    uint8_t *buf = NULL;
    seal_keyring *ring = NULL;
    size_t len = 0;
    int rc = seal_path_split(path, &dirfd, dir, sizeof dir, &base, err);
    if (rc == SEAL_OK)
        rc = kr_check_dir(dirfd, dir, err);
    if (rc != SEAL_OK)
        goto out;
    buf = sodium_malloc(KR_FILE_MAX);
    if (buf == NULL) {
        rc = seal_fail(err, SEAL_E_NOMEM, "out of secure memory reading keyring %s", path);
        goto out;
    }
    rc = seal_file_read(dirfd, dir, base, "keyring", owner_ok, 0, buf, KR_FILE_MAX, &len, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_keyring_new(&ring, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_keyring_parse(buf, len, ring, err);
    if (rc != SEAL_OK) {
        char msg[sizeof err->message];
        if (err != NULL) {
            memcpy(msg, err->message, sizeof msg);
            seal_fail(err, rc, "keyring %s: %s", path, msg);
        }
        goto out;
    }
    *out = ring;
    ring = NULL;
out:
    seal_keyring_free(ring);
    sodium_free(buf);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

int seal_keyring_parse(const uint8_t *buf, size_t len, seal_keyring *ring, seal_err *err)
{
    sodium_memzero(ring, sizeof *ring);
    if (len < KR_HEADER || memcmp(buf, KR_MAGIC, KR_MAGIC_LEN) != 0)
        return seal_fail(err, SEAL_E_FORMAT, "not a vap-seal keyring (bad magic or too short); "
                                             "restore it from a backup with vap-seal import");
    if (buf[7] != KR_VERSION)
        return seal_fail(err, SEAL_E_VERSION, "keyring version %u is not supported by this vap-seal",
                         (unsigned)buf[7]);
    size_t count = buf[8];
    if (!kr_check_zero(buf + 9, 7))
        return seal_fail(err, SEAL_E_VERSION, "keyring has unknown header flags");
    if (count == 0 || count > SEAL_KEYRING_MAX_KEYS)
        return seal_fail(err, SEAL_E_FORMAT, "keyring holds %zu keys (must be 1..%u)", count,
                         SEAL_KEYRING_MAX_KEYS);
    if (len != KR_HEADER + KR_ENTRY * count)
        return seal_fail(err, len > KR_HEADER + KR_ENTRY * count ? SEAL_E_TOO_BIG : SEAL_E_FORMAT,
                         "keyring size %zu does not match its %zu keys (truncated or padded)", len, count);
    size_t active = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = buf + KR_HEADER + KR_ENTRY * i;
        struct seal_key *k = &ring->keys[i];
        if (e[16] < SEAL_KEY_ACTIVE || e[16] > SEAL_KEY_RETIRED || !kr_check_zero(e + 17, 7)) {
            sodium_memzero(ring, sizeof *ring);
            return seal_fail(err, SEAL_E_FORMAT, "keyring entry %zu has an unknown state", i + 1);
        }
        k->state = e[16];
        k->created = seal_get_u64(e + 24);
        memcpy(k->master, e + 32, SEAL_KEY_BYTES);
        if (seal_key_derive(k) != 0 || sodium_memcmp(k->id, e, SEAL_KEY_ID_BYTES) != 0) {
            sodium_memzero(ring, sizeof *ring);
            return seal_fail(err, SEAL_E_AUTH, "keyring entry %zu: key id does not match the key "
                                               "(corrupt keyring); restore it from a backup", i + 1);
        }
        for (size_t j = 0; j < i; j++) {
            if (memcmp(ring->keys[j].id, k->id, SEAL_KEY_ID_BYTES) == 0) {
                sodium_memzero(ring, sizeof *ring);
                return seal_fail(err, SEAL_E_FORMAT, "keyring lists the same key twice");
            }
        }
        if (k->state == SEAL_KEY_ACTIVE)
            active++;
    }
    if (active != 1) {
        sodium_memzero(ring, sizeof *ring);
        return seal_fail(err, SEAL_E_FORMAT, "keyring has %zu active keys (must be exactly 1)", active);
    }
    ring->count = count;
    return SEAL_OK;
}

int seal_keyring_serialize(const seal_keyring *ring, uint8_t **out, size_t *out_len, seal_err *err)
{
    if (ring->count == 0 || ring->count > SEAL_KEYRING_MAX_KEYS)
        return seal_fail(err, SEAL_E_INVAL, "keyring is empty");
    size_t len = KR_HEADER + KR_ENTRY * ring->count;
    uint8_t *buf = sodium_malloc(len);
    if (buf == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of secure memory writing the keyring");
    memset(buf, 0, len);
    memcpy(buf, KR_MAGIC, KR_MAGIC_LEN);
    buf[7] = KR_VERSION;
    buf[8] = (uint8_t)ring->count;
    for (size_t i = 0; i < ring->count; i++) {
        uint8_t *e = buf + KR_HEADER + KR_ENTRY * i;
        const struct seal_key *k = &ring->keys[i];
        memcpy(e, k->id, SEAL_KEY_ID_BYTES);
        e[16] = k->state;
        seal_put_u64(e + 24, k->created);
        memcpy(e + 32, k->master, SEAL_KEY_BYTES);
    }
    *out = buf;
    *out_len = len;
    return SEAL_OK;
}

int seal_keyring_save(const seal_keyring *ring, const char *path, uid_t uid, gid_t gid, seal_err *err)
{
    char dir[4096];
    const char *base = NULL;
    int dirfd = -1;
    uint8_t *buf = NULL;
    size_t len = 0;
    seal_atomic a = {.fd = -1};
    int rc = seal_keyring_serialize(ring, &buf, &len, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_path_split(path, &dirfd, dir, sizeof dir, &base, err);
    if (rc == SEAL_OK)
        rc = kr_check_dir(dirfd, dir, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_atomic_prepare(&a, dirfd, dir, base, len, uid, gid, err);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_atomic_commit(&a, buf, len, err);
out:
    seal_atomic_abort(&a);
    sodium_free(buf);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

int seal_keyring_add_active(seal_keyring *ring, uint64_t now, uint8_t new_id[SEAL_KEY_ID_BYTES], seal_err *err)
{
    if (ring->count == SEAL_KEYRING_MAX_KEYS) {
        /* Make room by dropping the oldest retired key: no file uses it. */
        size_t victim = ring->count;
        for (size_t i = 0; i < ring->count; i++)
            if (ring->keys[i].state == SEAL_KEY_RETIRED) {
                victim = i;
                break;
            }
        if (victim == ring->count)
            return seal_fail(err, SEAL_E_INVAL, "keyring is full (%u keys, none retired): finish the "
                                                "pending rotate-key first", SEAL_KEYRING_MAX_KEYS);
        memmove(&ring->keys[victim], &ring->keys[victim + 1],
                (ring->count - victim - 1) * sizeof ring->keys[0]);
        ring->count--;
        sodium_memzero(&ring->keys[ring->count], sizeof ring->keys[0]);
    }
    struct seal_key *k = &ring->keys[ring->count];
    randombytes_buf(k->master, SEAL_KEY_BYTES);
    if (seal_key_derive(k) != 0)
        return seal_fail(err, SEAL_E_INVAL, "key derivation failed");
    k->created = now;
    k->state = SEAL_KEY_ACTIVE;
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].state == SEAL_KEY_ACTIVE)
            ring->keys[i].state = SEAL_KEY_DECRYPT_ONLY;
    ring->count++;
    if (new_id != NULL)
        memcpy(new_id, k->id, SEAL_KEY_ID_BYTES);
    return SEAL_OK;
}

void seal_keyring_retire_decrypt_only(seal_keyring *ring)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].state == SEAL_KEY_DECRYPT_ONLY)
            ring->keys[i].state = SEAL_KEY_RETIRED;
}

size_t seal_keyring_count(const seal_keyring *ring)
{
    return ring->count;
}

int seal_keyring_entry(const seal_keyring *ring, size_t i, uint8_t id[SEAL_KEY_ID_BYTES], int *state,
                       uint64_t *created)
{
    if (i >= ring->count)
        return SEAL_E_INVAL;
    memcpy(id, ring->keys[i].id, SEAL_KEY_ID_BYTES);
    *state = ring->keys[i].state;
    *created = ring->keys[i].created;
    return SEAL_OK;
}

void seal_key_id_hex(const uint8_t id[SEAL_KEY_ID_BYTES], char hex[2 * SEAL_KEY_ID_BYTES + 1])
{
    sodium_bin2hex(hex, 2 * SEAL_KEY_ID_BYTES + 1, id, SEAL_KEY_ID_BYTES);
}

const struct seal_key *seal_keyring_find(const seal_keyring *ring, const uint8_t id[SEAL_KEY_ID_BYTES])
{
    for (size_t i = 0; i < ring->count; i++)
        if (sodium_memcmp(ring->keys[i].id, id, SEAL_KEY_ID_BYTES) == 0)
            return &ring->keys[i];
    return NULL;
}

const struct seal_key *seal_keyring_active(const seal_keyring *ring)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].state == SEAL_KEY_ACTIVE)
            return &ring->keys[i];
    return NULL;
}

int seal_key_derive(struct seal_key *k)
{
    /* Distinct contexts: the id commits to the key, and the AEAD key is
     * never the raw master (SECURITY.md 7.1). */
    if (crypto_kdf_derive_from_key(k->id, SEAL_KEY_ID_BYTES, 1, "VSEALkid", k->master) != 0)
        return -1;
    return crypto_kdf_derive_from_key(k->enc, SEAL_KEY_BYTES, 1, "VSEALenc", k->master);
}

static int kr_check_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* The keyring's directory, checked as the store's is: whoever may write it
 * may swap the keyring for one of their own. */
static int kr_check_dir(int dirfd, const char *dir, seal_err *err)
{
    struct stat sb;
    if (fstat(dirfd, &sb) != 0)
        return seal_fail(err, SEAL_E_IO, "cannot stat keyring directory %s: %s", dir, strerror(errno));
    uid_t euid = geteuid();
    if (euid != 0 && sb.st_uid != euid)
        return seal_fail(err, SEAL_E_PERM, "keyring directory %s is owned by uid %u, not by this user (uid %u), "
                                           "and its owner could replace the keyring: run chown %u %s",
                         dir, (unsigned)sb.st_uid, (unsigned)euid, (unsigned)euid, dir);
    if ((sb.st_mode & 077) != 0)
        return seal_fail(err, SEAL_E_PERM, "keyring directory %s is open to group or others (mode %04o), who "
                                           "could replace the keyring: run chmod 700 %s",
                         dir, (unsigned)(sb.st_mode & 07777), dir);
    return SEAL_OK;
}
