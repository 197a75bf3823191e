/*
 * fuzz_keyring.c - fuzz target for the keyring file parser
 * (crypto/seal_keyring.c, seal_keyring_parse), and for the serializer on whatever it accepts:
 * an accepted image must serialize back to the same bytes.
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
        return 0;
    if (seal_keyring_parse(data, size, ring, &err) != SEAL_OK)
        return 0;
    uint8_t *img = NULL;
    size_t len = 0;
    if (seal_keyring_serialize(ring, &img, &len, &err) == SEAL_OK) {
        if (len != size || memcmp(img, data, size) != 0)
            abort(); /* parse and serialize disagree: a format bug */
        sodium_free(img);
    }
    return 0;
}
