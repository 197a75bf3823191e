/* pkce.h - PKCE (RFC 7636, S256 only) and the random handles of an
 * authorization request (state, nonce).  Pure apart from the random source.
 * Thread-safe: no shared state.  libsodium must be initialised (the entry
 * point calls sodium_init()). */
#ifndef VAP_PKCE_H
#define VAP_PKCE_H

#include <stddef.h>

/* 32 random bytes, base64url without padding: 43 characters. */
#define PKCE_TOKEN_RANDOM_BYTES 32
#define PKCE_TOKEN_LEN 43
/* Buffers that receive a token or a challenge, NUL included. */
#define PKCE_TOKEN_SIZE (PKCE_TOKEN_LEN + 1)
#define PKCE_CHALLENGE_LEN 43
#define PKCE_CHALLENGE_SIZE (PKCE_CHALLENGE_LEN + 1)

/* RFC 7636 §4.1: a verifier is 43..128 characters of [A-Za-z0-9-._~]. */
#define PKCE_VERIFIER_MIN 43
#define PKCE_VERIFIER_MAX 128

/* Write a fresh random token (a PKCE verifier, a state or a nonce: 256 bits
 * of entropy each) and its NUL into out.  out_size must be at least
 * PKCE_TOKEN_SIZE.  Returns 0, or VAP_E_INVAL when out is too small.  The
 * random bytes are wiped before returning; the caller owns out and wipes it
 * when it held a verifier. */
int pkce_random_token(char *out, size_t out_size);

/* code_challenge = BASE64URL(SHA256(verifier)) into out (PKCE_CHALLENGE_SIZE
 * bytes at least), NUL-terminated.  verifier is len bytes and must satisfy
 * RFC 7636 §4.1; returns VAP_E_INVAL otherwise.  The digest is wiped. */
int pkce_challenge_s256(const char *verifier, size_t len, char *out,
                        size_t out_size);

/* 1 if verifier (len bytes) is a valid RFC 7636 verifier, else 0. */
int pkce_verifier_valid(const char *verifier, size_t len);

#endif
