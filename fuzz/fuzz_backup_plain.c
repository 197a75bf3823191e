/*
 * fuzz_backup_plain.c - a decrypted backup (crypto/seal_backup.c,
 * seal_backup_check), called on plaintext: a mutated backup never gets
 * past Argon2id and the AEAD tag, so no other target reaches the chunk
 * walk vap-seal import trusts.  The first chunk is a keyring; the target
 * rewrites its entries' ids from their keys (as a real export carries them)
 * so the walk goes on to the items.  What passes must walk again to the
 * same number of well-formed (name, item) pairs.
 */
#include "vapseal.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seal_keyring *ring;
    seal_err err;
    if (ring == NULL && (sodium_init() < 0 || seal_keyring_new(&ring, &err) != SEAL_OK))
        abort();
    uint8_t *plain = malloc(size ? size : 1);
    if (plain == NULL)
        abort();
    memcpy(plain, data, size);
    size_t off = 0, len = 0;
    const uint8_t *chunk = NULL;
    if (seal_backup_chunk_next(plain, size, &off, &chunk, &len) == SEAL_OK)
        for (size_t e = 16; e + 64 <= len; e += 64)
            crypto_kdf_derive_from_key(plain + 4 + e, SEAL_KEY_ID_BYTES, 1, "VSEALkid", plain + 4 + e + 32);
    size_t items = 0;
    if (seal_backup_check(plain, size, ring, &items, &err) == SEAL_OK) {
        size_t n = 0, nlen = 0;
        const uint8_t *name = NULL;
        off = 0;
        if (seal_backup_chunk_next(plain, size, &off, &chunk, &len) != SEAL_OK)
            abort();
        while (seal_backup_chunk_next(plain, size, &off, &name, &nlen) == SEAL_OK) {
            if (nlen == 0 || nlen > SEAL_NAME_MAX || seal_backup_chunk_next(plain, size, &off, &chunk, &len) != SEAL_OK)
                abort();
            n++;
        }
        if (n != items || off != size)
            abort();
    }
    free(plain);
    return 0;
}
