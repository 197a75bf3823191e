/* pkce.c - PKCE S256 challenges and the 256-bit random handles (verifier,
 * state, nonce) of an authorization request. */
#include "oauth/pkce.h"

#include <sodium.h>
#include <vap/plugin.h>

static int pkce_unreserved(unsigned char c);

int pkce_random_token(char *out, size_t out_size)
{
    unsigned char raw[PKCE_TOKEN_RANDOM_BYTES];

    if (out == NULL || out_size < PKCE_TOKEN_SIZE)
        return VAP_E_INVAL;
    randombytes_buf(raw, sizeof raw);
    /* sodium_base64_ENCODED_LEN counts the NUL: exactly 44 here. */
    sodium_bin2base64(out, PKCE_TOKEN_SIZE, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return VAP_OK;
}

int pkce_challenge_s256(const char *verifier, size_t len, char *out,
                        size_t out_size)
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    if (out == NULL || out_size < PKCE_CHALLENGE_SIZE ||
        !pkce_verifier_valid(verifier, len))
        return VAP_E_INVAL;
    crypto_hash_sha256(digest, (const unsigned char *)verifier, len);
    sodium_bin2base64(out, PKCE_CHALLENGE_SIZE, digest, sizeof digest,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(digest, sizeof digest);
    return VAP_OK;
}

int pkce_verifier_valid(const char *verifier, size_t len)
{
    if (verifier == NULL || len < PKCE_VERIFIER_MIN || len > PKCE_VERIFIER_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!pkce_unreserved((unsigned char)verifier[i]))
            return 0;
    return 1;
}

/* RFC 3986 unreserved characters, the only ones RFC 7636 allows. */
static int pkce_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}
