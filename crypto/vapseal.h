/*
 * vapseal.h - libvapseal: the sealed secret store (keyring, VSEAL files,
 * durable atomic replace, flock coordination).  Linked by the plugin and by
 * vap-seal.  See DESIGN.md "Sealed secrets" and SECURITY.md section 7.
 *
 * Ownership: every handle is created by a *_new/_load/_open function and
 * released by the matching *_free/_close; the library never frees what the
 * caller passed.  Strings passed in are borrowed for the call.
 *
 * Threads: handles are not internally locked.  A seal_keyring and a
 * seal_store may be read concurrently by several threads (no call mutates
 * them except seal_keyring_* editing functions and seal_store_set_owner);
 * a seal_secret and a seal_txn belong to one thread at a time.  flock locks
 * belong to the open file description: two threads of one process that
 * each call seal_lock_acquire get independent locks (each opens its own fd).
 *
 * Secrets: keys and plaintext live only in sodium_malloc memory owned by a
 * seal_keyring or a seal_secret; error messages never contain them.
 * sodium_init() must have been called (seal_init does it).
 */
#ifndef VAPSEAL_H
#define VAPSEAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEAL_FILE_MAX (64u * 1024u)   /* a sealed file never exceeds this  */
#define SEAL_VALUE_MAX (48u * 1024u)  /* largest secret value              */
#define SEAL_PAD_BLOCK 256u           /* plaintext padded to this multiple */
#define SEAL_KEY_BYTES 32u
#define SEAL_KEY_ID_BYTES 16u
#define SEAL_KEYRING_MAX_KEYS 32u
#define SEAL_NAME_MAX 64u             /* purpose / item name               */
#define SEAL_BINDING_MAX 2048u        /* issuer or client_id length        */

/* Stable error codes.  0 is success; each failure class has its own code so
 * tests and callers can tell them apart. */
enum seal_code {
    SEAL_OK = 0,
    SEAL_E_INVAL = -1,       /* bad argument (name, empty value, ...)       */
    SEAL_E_NOMEM = -2,
    SEAL_E_IO = -3,          /* a system call failed                        */
    SEAL_E_NOENT = -4,       /* the item or keyring does not exist          */
    SEAL_E_PERM = -5,        /* mode, owner, symlink or file type refused   */
    SEAL_E_FSTYPE = -6,      /* network filesystem refused                  */
    SEAL_E_FORMAT = -7,      /* not a VSEAL/keyring file, or truncated      */
    SEAL_E_VERSION = -8,     /* unknown version, algorithm or flags         */
    SEAL_E_TOO_BIG = -9,     /* over SEAL_FILE_MAX / SEAL_VALUE_MAX         */
    SEAL_E_PURPOSE = -10,    /* file belongs to another item                */
    SEAL_E_KEY_UNKNOWN = -11,/* sealed with a key that is not in the ring   */
    SEAL_E_KEY_RETIRED = -12,/* sealed with a retired key                   */
    SEAL_E_AUTH = -13,       /* authentication failed: tampered or corrupt  */
    SEAL_E_BINDING = -14,    /* belongs to another issuer or client_id      */
    SEAL_E_EXISTS = -15,     /* refusing to overwrite                       */
    SEAL_E_PASSPHRASE = -16, /* backup passphrase wrong (or backup corrupt) */
    SEAL_E_BUSY = -17        /* seal_lock_try: another holder has the lock  */
};

/* Caller-allocated error: a code and a message for a practice admin that
 * names the file and the fix, never a secret. */
typedef struct seal_err {
    int code;
    char message[320];
} seal_err;

/* Which issuer and client the secret belongs to (from the config). */
typedef struct seal_binding {
    const char *issuer;
    const char *client_id;
} seal_binding;

enum seal_key_state { SEAL_KEY_ACTIVE = 1, SEAL_KEY_DECRYPT_ONLY = 2, SEAL_KEY_RETIRED = 3 };

typedef struct seal_keyring seal_keyring;
typedef struct seal_store seal_store;
typedef struct seal_secret seal_secret;
typedef struct seal_txn seal_txn;
typedef struct seal_lock {
    int fd; /* -1 when not held */
} seal_lock;

/* Header fields of a sealed file, readable without the key (unauthenticated
 * until the file is opened). */
typedef struct seal_header {
    uint8_t key_id[SEAL_KEY_ID_BYTES];
    uint64_t created;
    uint64_t generation;
    char purpose[SEAL_NAME_MAX + 1];
} seal_header;

/* Initialises libsodium; safe to call more than once.  Call before threads. */
int seal_init(seal_err *err);
const char *seal_strerror(int code);

/* ---- keyring (seal_keyring.c) ---- */

/* A new empty keyring in sodium_malloc memory. */
int seal_keyring_new(seal_keyring **out, seal_err *err);
/* Loads PATH: opened O_NOFOLLOW, must be a regular file owned by the euid
 * (or, with euid 0, by OWNER_OK if it is not (uid_t)-1) with no group/other
 * bits; refused otherwise with the chmod/chown that fixes it. */
int seal_keyring_load(const char *path, uid_t owner_ok, seal_keyring **out, seal_err *err);
/* Parses a keyring image into RING (pure: no I/O). */
int seal_keyring_parse(const uint8_t *buf, size_t len, seal_keyring *ring, seal_err *err);
/* Serialises RING into a sodium_malloc buffer (*out, *out_len); the caller
 * releases it with sodium_free. */
int seal_keyring_serialize(const seal_keyring *ring, uint8_t **out, size_t *out_len, seal_err *err);
/* Writes RING to PATH atomically and durably (0600; chowned to UID/GID when
 * they are not -1). */
int seal_keyring_save(const seal_keyring *ring, const char *path, uid_t uid, gid_t gid, seal_err *err);
void seal_keyring_free(seal_keyring *ring);
/* Adds a fresh random key as active; the previous active key becomes
 * decrypt-only.  Writes the new key id to NEW_ID when not NULL. */
int seal_keyring_add_active(seal_keyring *ring, uint64_t now, uint8_t new_id[SEAL_KEY_ID_BYTES], seal_err *err);
/* Marks every decrypt-only key retired (the last step of rotate-key). */
void seal_keyring_retire_decrypt_only(seal_keyring *ring);
size_t seal_keyring_count(const seal_keyring *ring);
/* Fills the id, state and creation time of entry I; 0 or SEAL_E_INVAL. */
int seal_keyring_entry(const seal_keyring *ring, size_t i, uint8_t id[SEAL_KEY_ID_BYTES], int *state,
                       uint64_t *created);
/* Lowercase hex of a key id, NUL-terminated (33 bytes). */
void seal_key_id_hex(const uint8_t id[SEAL_KEY_ID_BYTES], char hex[2 * SEAL_KEY_ID_BYTES + 1]);

/* ---- sealed-file format (seal_format.c), pure functions ---- */

/* Parses the header only (no key needed). */
int seal_header_parse(const uint8_t *buf, size_t len, seal_header *out, seal_err *err);
/* Seals VALUE for PURPOSE/BINDING under the ring's active key into OUT
 * (capacity OUT_CAP, at most SEAL_FILE_MAX); *out_len gets the size. */
int seal_format_seal(const seal_keyring *ring, const char *purpose, const seal_binding *bind,
                     uint64_t created, uint64_t generation, const uint8_t *value, size_t value_len,
                     uint8_t *out, size_t out_cap, size_t *out_len, seal_err *err);

/* ---- plaintext buffer (seal_secret.c) ---- */

/* One sodium_malloc buffer big enough for any item, allocated once and
 * reused by every open; wiped and freed by seal_secret_free. */
int seal_secret_new(seal_secret **out, seal_err *err);
void seal_secret_free(seal_secret *s);
/* Wipes the held value (the buffer stays allocated). */
void seal_secret_clear(seal_secret *s);
const uint8_t *seal_secret_data(const seal_secret *s);
size_t seal_secret_size(const seal_secret *s);
uint64_t seal_secret_generation(const seal_secret *s);
uint64_t seal_secret_created(const seal_secret *s);
/* Opens sealed bytes BUF: header checks, PURPOSE, key id, tag, then the
 * binding (BIND may have NULL fields to skip a check: vap-seal verify).
 * Pure apart from writing into S. */
int seal_format_open(const seal_keyring *ring, const char *purpose, const seal_binding *bind,
                     const uint8_t *buf, size_t len, seal_secret *s, seal_err *err);
/* The issuer and client_id the opened value in S is bound to (pointers into
 * S, valid until S is reused; NUL-terminated). */
int seal_secret_binding(const seal_secret *s, seal_binding *out);

/* ---- store directory (seal_store.c) ---- */

/* Opens the store directory DIR (O_DIRECTORY|O_NOFOLLOW): mode 0700, owned
 * by the euid (with euid 0: any owner; new files then go to that owner),
 * not NFS/CIFS/SMB. */
int seal_store_open(const char *dir, seal_store **out, seal_err *err);
void seal_store_close(seal_store *st);
/* Gives new files to UID/GID (root only; default: the directory's owner). */
void seal_store_set_owner(seal_store *st, uid_t uid, gid_t gid);
uid_t seal_store_owner(const seal_store *st);
/* Item names: 1..SEAL_NAME_MAX of [a-z0-9_-], not starting with '.' or '-',
 * optionally followed by ".previous" (the copy seal_store_put_keep keeps). */
#define SEAL_PREVIOUS_SUFFIX ".previous"
int seal_name_valid(const char *name);
/* Reads and opens item NAME into S (permission checks as for the keyring).
 * Caller should hold the item's lock (shared) for a consistent read. */
int seal_store_read(seal_store *st, const seal_keyring *ring, const char *name, const seal_binding *bind,
                    seal_secret *s, seal_err *err);
/* Reads only the header of NAME (one pread): the cheap "did someone else
 * refresh?" check.  SEAL_E_NOENT if there is no such item. */
int seal_store_header(seal_store *st, const char *name, seal_header *out, seal_err *err);
/* Lists item names (sorted) into NAMES (each SEAL_NAME_MAX+1 bytes). */
int seal_store_list(seal_store *st, char (*names)[SEAL_NAME_MAX + 1], size_t cap, size_t *count,
                    seal_err *err);
/* One-shot put: takes the exclusive lock, reloads the keyring from
 * KEYRING_PATH (so a concurrent rotate-key is seen), seals VALUE with the
 * next generation and replaces the file durably.  *generation_out may be
 * NULL. */
int seal_store_put(seal_store *st, const char *keyring_path, const char *name, const seal_binding *bind,
                   const uint8_t *value, size_t value_len, uint64_t *generation_out, seal_err *err);

/* seal_store_put that first keeps the item being replaced: its value and
 * binding are sealed again as NAME.previous (same generation), durably,
 * before NAME is replaced.  *kept is 1 when a previous item was kept, 0
 * when there was none.  An item that is there but cannot be opened (other
 * keyring, retired key, corrupt) is refused with SEAL_E_EXISTS unless
 * FORCE, which replaces it without a copy.  NAME.previous shares NAME's
 * lock. */
int seal_store_put_keep(seal_store *st, const char *keyring_path, const char *name, const seal_binding *bind,
                        const uint8_t *value, size_t value_len, int force, uint64_t *generation_out, int *kept,
                        seal_err *err);
/* Brings NAME.previous back as NAME (value and binding, next generation)
 * and keeps the replaced NAME as NAME.previous (*kept = 1; 0 when there was
 * no NAME), so a restore can itself be undone.  Both files are written and
 * flushed before either is put in place; a failure says what state the
 * store is in.  SEAL_E_NOENT when there is no NAME.previous; a NAME that
 * will not open is refused unless FORCE, as for seal_store_put_keep. */
int seal_store_restore_previous(seal_store *st, const char *keyring_path, const char *name, int force,
                                uint64_t *generation_out, int *kept, seal_err *err);

/* Deletes NAME.previous (under NAME's lock), durably.  SEAL_E_NOENT when
 * there is none. */
int seal_store_drop_previous(seal_store *st, const char *name, seal_err *err);

/* The raw sealed bytes of NAME (permission-checked, not decrypted), for
 * backups: into BUF (cap SEAL_FILE_MAX). */
int seal_store_read_raw(seal_store *st, const char *name, uint8_t *buf, size_t cap, size_t *len, seal_err *err);
/* Installs raw sealed bytes as NAME (its header must parse and name NAME),
 * under the exclusive lock, durably.  For restoring backups. */
int seal_store_write_raw(seal_store *st, const char *name, const uint8_t *buf, size_t len, seal_err *err);
/* Re-seals item NAME under the active key of the ring at KEYRING_PATH
 * (reloaded under the item's exclusive lock), keeping value and binding and
 * bumping the generation.  *changed is 0 when it already was on that key. */
int seal_store_reseal(seal_store *st, const char *keyring_path, const char *name, int *changed,
                      seal_err *err);

/* Under NAME's exclusive lock: if a temp file left by a killed writer holds
 * NAME with a higher generation than the stored one and opens with RING (for
 * NAME's purpose and binding), make it NAME durably (fsync, rename, fsync
 * of the directory).  *recovered gets its generation, 0 when there was
 * none.  Every writer that re-seals or replaces NAME calls this first, so a
 * newer renewal is never overwritten or swept (seal_recover.c). */
int seal_store_recover(seal_store *st, const seal_keyring *ring, const char *name, uint64_t *recovered,
                       seal_err *err);

/* ---- locks (seal_lock.c) ---- */

/* Takes flock on STORE/.NAME.lock (created 0600, never unlinked, opened
 * O_CLOEXEC), shared or exclusive; blocks. */
int seal_lock_acquire(seal_store *st, const char *name, int exclusive, seal_lock *lk, seal_err *err);
/* As seal_lock_acquire, but never blocks: SEAL_E_BUSY when another open
 * file description holds a conflicting lock (the refresh path polls this
 * until its deadline instead of waiting forever). */
int seal_lock_try(seal_store *st, const char *name, int exclusive, seal_lock *lk, seal_err *err);
/* LOCK_UN and close; safe on a lock not held. */
void seal_lock_release(seal_lock *lk);

/* ---- durable replace for the refresh path (seal_txn.c) ---- */

/* Creates the temp file for NAME now (O_CREAT|O_EXCL, 0600, space for
 * RESERVE bytes reserved with fallocate), before the content is known.
 * Call with the item's exclusive lock held. */
int seal_txn_prepare(seal_store *st, const char *name, size_t reserve, seal_txn **out, seal_err *err);
/* Seals VALUE (generation GENERATION, created now) into the temp file,
 * fsyncs it, renames it over NAME and fsyncs the directory.  On failure the
 * transaction stays usable: call commit again (still holding the lock) to
 * retry; it resumes where it failed. */
int seal_txn_commit(seal_txn *t, const seal_keyring *ring, const seal_binding *bind, uint64_t generation,
                    const uint8_t *value, size_t value_len, seal_err *err);
/* Removes the temp file if still there, closes and frees.  NULL is fine. */
void seal_txn_free(seal_txn *t);
/* Closes and frees but leaves the temp file: for a process that gives up on
 * a commit that may already have written a complete file (the next holder
 * of the lock can recover it).  NULL is fine. */
void seal_txn_abandon(seal_txn *t);

/* ---- passphrase-protected backups (seal_backup.c) ----
 * Layout: "VSEALBAK" | u8 version=1 | u8 aead=1 | u8 kdf=1 (Argon2id13) |
 * u8 flags=0 | salt[16] | u64 opslimit | u64 memlimit | nonce[24] |
 * XChaCha20-Poly1305(plaintext) with the 68-byte header as associated data.
 * The plaintext is a sequence of chunks, each u32 length | bytes. */
#define SEAL_BACKUP_MAX (8u * 1024u * 1024u)
#define SEAL_BACKUP_MEMLIMIT_MAX (1024u * 1024u * 1024u) /* refuse larger on import */
#define SEAL_BACKUP_OPSLIMIT_MAX 16u

/* Encrypts PLAIN with a key from PASS via Argon2id (OPSLIMIT, MEMLIMIT);
 * *out is malloc'd (ciphertext only), the caller frees it. */
int seal_backup_seal(const char *pass, size_t pass_len, unsigned long long opslimit, size_t memlimit,
                     const uint8_t *plain, size_t plain_len, uint8_t **out, size_t *out_len, seal_err *err);
/* Decrypts a backup image; *plain is sodium_malloc'd (sodium_free it).
 * A wrong passphrase is SEAL_E_PASSPHRASE. */
int seal_backup_open(const char *pass, size_t pass_len, const uint8_t *buf, size_t len, uint8_t **plain,
                     size_t *plain_len, seal_err *err);
/* Appends a chunk to DST (capacity CAP, fill *used); SEAL_E_TOO_BIG if full. */
int seal_backup_chunk_put(uint8_t *dst, size_t cap, size_t *used, const uint8_t *data, size_t len);
/* Reads the chunk at *off in BUF[0..len); advances *off.  SEAL_E_NOENT at
 * the end, SEAL_E_FORMAT if malformed. */
int seal_backup_chunk_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **data, size_t *data_len);
/* Checks a decrypted backup whole before anything is written: the keyring
 * chunk (parsed into RING), then (name, sealed item) pairs, each name valid
 * and matching its item's purpose, each item's key in RING.  *items gets
 * their count.  Pure. */
int seal_backup_check(const uint8_t *plain, size_t len, seal_keyring *ring, size_t *items, seal_err *err);

#endif
