/* jws_sign.h - signing compact JWS (RFC 7515) with the client's own key:
 * the private_key_jwt client assertion (RFC 7523 §3, SMART App Launch
 * "client-confidential-asymmetric").  RS384 and ES384 only.  The key is a
 * GnuTLS private key the caller imported and owns. */
#ifndef VAP_JWS_SIGN_H
#define VAP_JWS_SIGN_H

#include <gnutls/abstract.h>
#include <stddef.h>
#include <stdint.h>

#define JOSE_ASSERTION_MAX 4096u /* a compact assertion, with its NUL    */
#define JOSE_ASSERTION_LIFE_S 60 /* exp = iat + this (OpenEMR allows ~1 min) */
#define JOSE_JTI_BYTES 16u       /* 128 random bits                     */

/* Signs header.payload: header {"alg":ALG,"typ":"JWT","kid":KID}; PAYLOAD
 * is the claims' JSON.  ALG is JOSE_RS384 or JOSE_ES384 (jose.h) and must
 * fit the key.  Writes the NUL-terminated token into OUT (CAP bytes).
 * Returns 0, or -1 (bad input, too long, GnuTLS refused). */
int jose_sign_compact(gnutls_privkey_t key, int alg, const char *kid, const char *payload,
                      size_t payload_len, char *out, size_t cap);

/* A fresh client assertion: iss = sub = CLIENT_ID, aud = TOKEN_URL, a jti
 * of 128 random bits, iat = NOW, exp = NOW + 60 s.  Each call makes a new
 * one: a server refuses a jti it has seen. */
int jose_client_assertion(gnutls_privkey_t key, int alg, const char *kid, const char *client_id,
                          const char *token_url, int64_t now, char *out, size_t cap);

#endif
