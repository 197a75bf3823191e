/* fuzz_b64url.c - strict base64url decoding (plugin/jose/b64url.c): whatever
 * decodes must re-encode to exactly the input (one spelling per value). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/b64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1u << 16)
        return 0;
    size_t cap = B64URL_DECODED_MAX(size);
    unsigned char *out = malloc(cap ? cap : 1);
    char *back = malloc(size + 1);
    size_t n;
    if (out != NULL && back != NULL &&
        b64url_decode((const char *)data, size, out, cap, &n) == 0) {
        if (b64url_encode(out, n, back, size + 1) != 0 || memcmp(back, data, size) != 0)
            abort(); /* accepted a non-canonical spelling */
    }
    free(out);
    free(back);
    return 0;
}
