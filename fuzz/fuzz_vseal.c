/*
 * fuzz_vseal.c - fuzz target for the VSEAL parser (crypto/seal_format.c):
 * header parsing and the full open path (header checks, key lookup, AEAD,
 * payload parsing) against a fixed test keyring, so inputs that carry the right key id reach the
 * decryption and payload code.  The key is the one in tests/seal/golden/.
 */
#include "vapseal.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keyring image with the golden test key (all bytes 0x42), built once. */
static seal_keyring *fuzz_ring(void);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seal_secret *s;
    seal_header h;
    seal_err err;
    seal_keyring *ring = fuzz_ring();
    if (ring == NULL)
        return 0;
    if (s == NULL && seal_secret_new(&s, &err) != SEAL_OK)
        return 0;
    (void)seal_header_parse(data, size, &h, &err);
    seal_binding b = {"https://emr.example.org/oauth2/default", "test-client"};
    if (seal_format_open(ring, NULL, &b, data, size, s, &err) == SEAL_OK) {
        /* Touch every byte the open handed out. */
        volatile uint8_t sink = 0;
        const uint8_t *v = seal_secret_data(s);
        for (size_t i = 0; i < seal_secret_size(s); i++)
            sink ^= v[i];
        (void)sink;
    }
    seal_secret_clear(s);
    return 0;
}

static seal_keyring *fuzz_ring(void)
{
    static seal_keyring *ring;
    if (ring != NULL)
        return ring;
    uint8_t img[16 + 64];
    seal_err err;
    if (sodium_init() < 0 || seal_keyring_new(&ring, &err) != SEAL_OK)
        return NULL;
    memset(img, 0, sizeof img);
    memcpy(img, "VSEALKR", 7);
    img[7] = 1;
    img[8] = 1;
    img[16 + 16] = SEAL_KEY_ACTIVE;
    memset(img + 16 + 32, 0x42, 32);
    crypto_kdf_derive_from_key(img + 16, 16, 1, "VSEALkid", img + 16 + 32);
    if (seal_keyring_parse(img, sizeof img, ring, &err) != SEAL_OK) {
        seal_keyring_free(ring);
        ring = NULL;
    }
    return ring;
}
