/*
 * seal_backup.c - the passphrase-protected backup format used by
 * vap-seal export/import (layout in vapseal.h).  Argon2id parameters are
 * stored in the file (SECURITY.md 7.2: the presets may change between
 * libsodium versions).  Pure functions over buffers.
 */
#include "seal_internal.h"

#include <stdlib.h>
#include <string.h>

#define BAK_MAGIC "VSEALBAK"
#define BAK_MAGIC_LEN 8u
#define BAK_HEADER 68u
#define BAK_SALT_OFF 12u
#define BAK_OPS_OFF 28u
#define BAK_MEM_OFF 36u
#define BAK_NONCE_OFF 44u

int seal_backup_seal(const char *pass, size_t pass_len, unsigned long long opslimit, size_t memlimit,
                     const uint8_t *plain, size_t plain_len, uint8_t **out, size_t *out_len, seal_err *err)
{
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    if (plain_len > SEAL_BACKUP_MAX - BAK_HEADER - SEAL_TAG_BYTES)
        return seal_fail(err, SEAL_E_TOO_BIG, "backup would exceed %u bytes", SEAL_BACKUP_MAX);
    if (opslimit < crypto_pwhash_OPSLIMIT_MIN || memlimit < crypto_pwhash_MEMLIMIT_MIN ||
        opslimit > SEAL_BACKUP_OPSLIMIT_MAX || memlimit > SEAL_BACKUP_MEMLIMIT_MAX)
        return seal_fail(err, SEAL_E_INVAL, "Argon2id parameters out of range");
    size_t total = BAK_HEADER + plain_len + SEAL_TAG_BYTES;
    uint8_t *b = malloc(total);
    if (b == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of memory");
    memcpy(b, BAK_MAGIC, BAK_MAGIC_LEN);
    b[8] = 1;
    b[9] = SEAL_AEAD_XCHACHA;
    b[10] = 1;
    b[11] = 0;
    randombytes_buf(b + BAK_SALT_OFF, crypto_pwhash_SALTBYTES);
    seal_put_u64(b + BAK_OPS_OFF, opslimit);
    seal_put_u64(b + BAK_MEM_OFF, memlimit);
    randombytes_buf(b + BAK_NONCE_OFF, SEAL_NONCE_BYTES);
    if (crypto_pwhash(key, sizeof key, pass, pass_len, b + BAK_SALT_OFF, opslimit, memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        free(b);
        return seal_fail(err, SEAL_E_NOMEM, "Argon2id needs %zu MiB of memory, which is not available",
                         memlimit >> 20);
    }
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(b + BAK_HEADER, &clen, plain, plain_len, b, BAK_HEADER, NULL,
                                               b + BAK_NONCE_OFF, key);
    sodium_memzero(key, sizeof key);
    *out = b;
    *out_len = BAK_HEADER + (size_t)clen;
    return SEAL_OK;
}

int seal_backup_open(const char *pass, size_t pass_len, const uint8_t *buf, size_t len, uint8_t **plain,
                     size_t *plain_len, seal_err *err)
{
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    if (len > SEAL_BACKUP_MAX)
        return seal_fail(err, SEAL_E_TOO_BIG, "backup is over %u bytes", SEAL_BACKUP_MAX);
    if (len < BAK_HEADER + SEAL_TAG_BYTES || memcmp(buf, BAK_MAGIC, BAK_MAGIC_LEN) != 0)
        return seal_fail(err, SEAL_E_FORMAT, "not a vap-seal backup, or truncated");
    if (buf[8] != 1 || buf[9] != SEAL_AEAD_XCHACHA || buf[10] != 1 || buf[11] != 0)
        return seal_fail(err, SEAL_E_VERSION, "backup format version is not supported by this vap-seal");
    uint64_t ops = seal_get_u64(buf + BAK_OPS_OFF), mem = seal_get_u64(buf + BAK_MEM_OFF);
    /* The parameters come from the file: bound them before spending them. */
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > SEAL_BACKUP_OPSLIMIT_MAX || mem < crypto_pwhash_MEMLIMIT_MIN ||
        mem > SEAL_BACKUP_MEMLIMIT_MAX)
        return seal_fail(err, SEAL_E_FORMAT, "backup asks for Argon2id parameters out of range");
    size_t mlen = len - BAK_HEADER - SEAL_TAG_BYTES;
    uint8_t *m = sodium_malloc(mlen ? mlen : 1);
    if (m == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of secure memory");
    if (crypto_pwhash(key, sizeof key, pass, pass_len, buf + BAK_SALT_OFF, ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(m);
        return seal_fail(err, SEAL_E_NOMEM, "Argon2id needs %llu MiB of memory, which is not available",
                         (unsigned long long)(mem >> 20));
    }
    unsigned long long got = 0;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(m, &got, NULL, buf + BAK_HEADER, len - BAK_HEADER, buf,
                                                         BAK_HEADER, buf + BAK_NONCE_OFF, key);
    sodium_memzero(key, sizeof key);
    if (bad != 0) {
        sodium_free(m);
        return seal_fail(err, SEAL_E_PASSPHRASE, "wrong passphrase, or the backup file is damaged");
    }
    *plain = m;
    *plain_len = (size_t)got;
    return SEAL_OK;
}

int seal_backup_chunk_put(uint8_t *dst, size_t cap, size_t *used, const uint8_t *data, size_t len)
{
    if (len > UINT32_MAX || cap - *used < 4 || cap - *used - 4 < len)
        return SEAL_E_TOO_BIG;
    seal_put_u32(dst + *used, (uint32_t)len);
    memcpy(dst + *used + 4, data, len);
    *used += 4 + len;
    return SEAL_OK;
}

int seal_backup_chunk_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **data, size_t *data_len)
{
    if (*off == len)
        return SEAL_E_NOENT;
    if (*off > len || len - *off < 4)
        return SEAL_E_FORMAT;
    size_t n = seal_get_u32(buf + *off);
    if (n > len - *off - 4)
        return SEAL_E_FORMAT;
    *data = buf + *off + 4;
    *data_len = n;
    *off += 4 + n;
    return SEAL_OK;
}

int seal_backup_check(const uint8_t *plain, size_t len, seal_keyring *ring, size_t *items, seal_err *err)
{
    size_t off = 0, n = 0, dlen = 0, nlen = 0;
    const uint8_t *data = NULL, *name = NULL;
    *items = 0;
    if (seal_backup_chunk_next(plain, len, &off, &data, &dlen) != SEAL_OK)
        return seal_fail(err, SEAL_E_FORMAT, "backup holds no keyring: it is not a vap-seal export");
    int rc = seal_keyring_parse(data, dlen, ring, err);
    if (rc != SEAL_OK)
        return rc;
    for (;;) {
        char nm[SEAL_NAME_MAX + 1];
        seal_header h;
        rc = seal_backup_chunk_next(plain, len, &off, &name, &nlen);
        if (rc == SEAL_E_NOENT)
            break;
        if (rc != SEAL_OK || nlen == 0 || nlen > SEAL_NAME_MAX ||
            seal_backup_chunk_next(plain, len, &off, &data, &dlen) != SEAL_OK)
            return seal_fail(err, SEAL_E_FORMAT, "backup is malformed after item %zu", n);
        memcpy(nm, name, nlen);
        nm[nlen] = '\0';
        if (!seal_name_valid(nm))
            return seal_fail(err, SEAL_E_FORMAT, "backup item %zu has an invalid name", n + 1);
        if (dlen > SEAL_FILE_MAX || seal_header_parse(data, dlen, &h, err) != SEAL_OK ||
            strcmp(h.purpose, nm) != 0)
            return seal_fail(err, SEAL_E_FORMAT, "backup item %s is not a sealed %s item", nm, nm);
        if (seal_keyring_find(ring, h.key_id) == NULL)
            return seal_fail(err, SEAL_E_KEY_UNKNOWN, "backup item %s is sealed with a key its keyring "
                                                      "does not hold", nm);
        n++;
    }
    *items = n;
    return SEAL_OK;
}
