/*
 * fuzz_keyring_entries.c - the keyring parser (crypto/seal_keyring.c,
 * seal_keyring_parse) past its authentication check.  Each entry's stored
 * id must equal crypto_kdf(key): a mutated keyring fails that check, so the
 * keyring target never gets to states, duplicates and the active count.
 * Here the target rewrites every entry's id from its key before parsing
 * (the plaintext a valid keyring would carry); whatever parses must
 * serialize back to the same bytes and have exactly one active key.
 */
#include "vapseal.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENTRY 64u
#define HEADER 16u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seal_keyring *ring;
    static uint8_t img[HEADER + ENTRY * SEAL_KEYRING_MAX_KEYS];
    seal_err err;
    if (ring == NULL && (sodium_init() < 0 || seal_keyring_new(&ring, &err) != SEAL_OK))
        abort();
    /* Byte 0: the declared key count; the rest: the entries (truncated or
     * padded by the input, as the file would be). */
    if (size < 1 || size - 1 > sizeof img - HEADER)
        return 0;
    memset(img, 0, HEADER);
    memcpy(img, "VSEALKR", 7);
    img[7] = 1;
    img[8] = data[0];
    memcpy(img + HEADER, data + 1, size - 1);
    size_t len = HEADER + size - 1;
    for (size_t off = HEADER; off + ENTRY <= len; off += ENTRY)
        crypto_kdf_derive_from_key(img + off, SEAL_KEY_ID_BYTES, 1, "VSEALkid", img + off + 32);
    if (seal_keyring_parse(img, len, ring, &err) != SEAL_OK)
        return 0;
    size_t active = 0, n = seal_keyring_count(ring);
    for (size_t i = 0; i < n; i++) {
        uint8_t id[SEAL_KEY_ID_BYTES];
        int state = 0;
        uint64_t created = 0;
        if (seal_keyring_entry(ring, i, id, &state, &created) != SEAL_OK)
            abort();
        active += state == SEAL_KEY_ACTIVE;
    }
    if (active != 1)
        abort();
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (seal_keyring_serialize(ring, &out, &out_len, &err) != SEAL_OK)
        abort();
    if (out_len != len || memcmp(out, img, len) != 0)
        abort();
    sodium_free(out);
    return 0;
}
