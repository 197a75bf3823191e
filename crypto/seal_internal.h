/*
 * seal_internal.h - definitions shared by the files of libvapseal only
 * (structures behind the public handles, the error helper, the durable
 * atomic writer and the file-permission checks).  Not installed.
 */
#ifndef SEAL_INTERNAL_H
#define SEAL_INTERNAL_H

#include "vapseal.h"

#include <sodium.h>

/* Sealed-file layout (SECURITY.md 7.7; all integers little-endian):
 *   0 magic "VSEAL" | 5 u8 version=1 | 6 u8 aead=1 | 7 u8 kdf=0 | 8 u8 flags=0
 *   9 key_id[16] | 25 u64 created | 33 u64 generation | 41 u16 purpose_len
 *   43 purpose | nonce[24] | ciphertext || tag[16]
 * The associated data is every byte before the ciphertext. */
#define SEAL_MAGIC "VSEAL"
#define SEAL_MAGIC_LEN 5u
#define SEAL_VERSION 1u
#define SEAL_AEAD_XCHACHA 1u
#define SEAL_KDF_KEYRING 0u
#define SEAL_FIXED_HEADER 43u
#define SEAL_NONCE_BYTES 24u
#define SEAL_TAG_BYTES 16u
#define SEAL_HEADER_MAX (SEAL_FIXED_HEADER + SEAL_NAME_MAX + SEAL_NONCE_BYTES)
#define SEAL_PAYLOAD_VERSION 1u

struct seal_key {
    uint8_t id[SEAL_KEY_ID_BYTES];
    uint8_t state;
    uint64_t created;
    uint8_t master[SEAL_KEY_BYTES];
    uint8_t enc[SEAL_KEY_BYTES]; /* derived once at load: opens stay cheap */
};

struct seal_keyring {
    size_t count;
    struct seal_key keys[SEAL_KEYRING_MAX_KEYS];
};

/* Room after the payload for NUL-terminated copies of issuer and client_id. */
#define SEAL_SECRET_TAIL (2u * (SEAL_BINDING_MAX + 1u))
struct seal_secret {
    uint8_t *buf;    /* sodium_malloc(SEAL_FILE_MAX + SEAL_SECRET_TAIL) */
    uint8_t *sealed; /* malloc(SEAL_FILE_MAX): the file as read (ciphertext) */
    size_t value_off, value_len;
    size_t issuer_off, issuer_len;
    size_t client_off, client_len;
    size_t used, tail_used; /* bytes written by the last open, to wipe */
    uint64_t generation, created;
    int loaded;
};

struct seal_store {
    int dirfd;
    uid_t dir_uid;
    gid_t dir_gid;
    uid_t new_uid; /* (uid_t)-1: leave new files to the euid */
    gid_t new_gid;
    char path[4096];
};

/* seal_name_valid on N bytes (not NUL-terminated): purposes use it too. */
int seal_name_valid_len(const char *name, size_t n);

/* Sets ERR and returns CODE. */
int seal_fail(seal_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses a decrypted payload of LEN bytes in s->buf (seal_format.c); pure,
 * so fuzz/fuzz_vseal_payload.c reaches it without a key. */
int seal_format_parse_payload(seal_secret *s, size_t len, seal_err *err);

/* Finds the entry with ID, or NULL. */
const struct seal_key *seal_keyring_find(const seal_keyring *ring, const uint8_t id[SEAL_KEY_ID_BYTES]);
const struct seal_key *seal_keyring_active(const seal_keyring *ring);
/* Derives id and enc from master. */
int seal_key_derive(struct seal_key *k);

/* Durable atomic replace of DIRFD/NAME (seal_atomic.c). */
enum { SEAL_ATOMIC_IDLE, SEAL_ATOMIC_PREPARED, SEAL_ATOMIC_STAGED, SEAL_ATOMIC_RENAMED, SEAL_ATOMIC_DONE };
typedef struct seal_atomic {
    int dirfd; /* borrowed */
    int fd;
    int state;
    char name[256];
    char tmp[300];
    const char *dir_display; /* borrowed, for messages */
} seal_atomic;
int seal_atomic_prepare(seal_atomic *a, int dirfd, const char *dir_display, const char *name, size_t reserve,
                        uid_t uid, gid_t gid, seal_err *err);
/* Writes and fsyncs the temp file without putting it in place (commit
 * then only renames): for replacing two files with both written first. */
int seal_atomic_stage(seal_atomic *a, const uint8_t *buf, size_t len, seal_err *err);
int seal_atomic_commit(seal_atomic *a, const uint8_t *buf, size_t len, seal_err *err);
void seal_atomic_abort(seal_atomic *a);
/* Removes temp files of NAME left behind by a killed writer.  Only safe
 * while holding NAME's exclusive lock (no live writer owns one then). */
/* Removes leftover temp files of NAME, except any that may hold a newer
 * item than the stored one (its header names NAME with a generation above
 * FLOOR; any generation when !HAVE_FLOOR): see seal_recover.c. */
void seal_atomic_sweep(int dirfd, const char *name, int have_floor, uint64_t floor);
/* 1 when temp file TMP's header names NAME with a generation above FLOOR. */
int seal_atomic_maybe_newer(int dirfd, const char *tmp, const char *name, int have_floor, uint64_t floor);

/* seal_txn_commit without the rename: seals VALUE into the temp file and
 * fsyncs it.  A later seal_txn_commit only puts it in place. */
int seal_txn_stage(seal_txn *t, const seal_keyring *ring, const seal_binding *bind, uint64_t generation,
                   const uint8_t *value, size_t value_len, seal_err *err);
/* The temp file's name (in the store directory) while it is not in place. */
const char *seal_txn_temp_name(const seal_txn *t);
/* 1 once the temp file has been renamed into place (even if the directory
 * flush after it failed). */
int seal_txn_renamed(const seal_txn *t);

/* Opens DIRFD/NAME with O_NOFOLLOW and checks it is a regular file owned by
 * the euid (or by OWNER_OK when euid is 0) without group/other bits, then
 * reads it whole into BUF (cap CAP; larger is SEAL_E_TOO_BIG unless
 * PREFIX_ONLY, which reads just the first CAP bytes).  WHAT names the file
 * for messages. */
int seal_file_read(int dirfd, const char *dir_display, const char *name, const char *what, uid_t owner_ok,
                   int prefix_only, uint8_t *buf, size_t cap, size_t *len, seal_err *err);
/* Splits PATH into an opened parent directory fd and a base name. */
int seal_path_split(const char *path, int *dirfd, char *dir_out, size_t dir_cap, const char **base,
                    seal_err *err);

/* Little-endian helpers. */
static inline void seal_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void seal_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void seal_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t seal_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t seal_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t seal_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
