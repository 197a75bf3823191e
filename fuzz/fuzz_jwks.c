/* fuzz_jwks.c - JWKS documents (plugin/jose/jwk.c): JSON, key types, base64url
 * members, RSA and EC imports with the on-curve check. */
#include <stdint.h>
#include <stdlib.h>

#include "jose/jwk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jwks s;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (jwks_parse((const char *)data, size, &s, &err) == VAP_OK) {
        if (s.n == 0 || s.n > JWKS_MAX_KEYS)
            abort();
        for (size_t i = 0; i < s.n; i++)
            if (s.keys[i].pub == NULL || (s.keys[i].type == JWK_RSA && s.keys[i].bits < 2048))
                abort();
        jwks_free(&s);
    }
    return 0;
}
