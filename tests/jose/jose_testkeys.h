/* jose_testkeys.h - keys and signed tokens made with GnuTLS for the JOSE
 * tests and benchmarks (test support, not product code). */
#ifndef TESTS_CORE_JOSE_TESTKEYS_H
#define TESTS_CORE_JOSE_TESTKEYS_H

#include <gnutls/abstract.h>
#include <stddef.h>

struct tk_key {
    gnutls_privkey_t priv;
    int is_ec;
    gnutls_ecc_curve_t curve;
    char jwk[2400]; /* the public JWK as JSON */
};

/* RSA with rsa_bits, or EC on curve (when curve != 0).  kid may be NULL
 * (no "kid" member); extra is appended inside the JWK object, e.g.
 * ",\"use\":\"sig\"" or "". */
int tk_generate(struct tk_key *k, unsigned rsa_bits, gnutls_ecc_curve_t curve,
                const char *kid, const char *extra);
void tk_free(struct tk_key *k);

/* A compact JWS over payload with header_json as the protected header,
 * signed with sign_alg ("RS256", "RS384", "ES256", "ES384").  The signature
 * uses the key as it is, whatever the header claims (for alg-confusion
 * tests).  Returns 0 or -1. */
int tk_sign(const struct tk_key *k, const char *sign_alg, const char *header_json,
            const char *payload, char *out, size_t cap);

/* A JWKS document {"keys":[jwk1,jwk2,...]} of n keys. */
int tk_jwks(const struct tk_key *const *keys, size_t n, char *out, size_t cap);

#endif
