/* jwk.h - JSON Web Keys (RFC 7517/7518) to GnuTLS public keys: RSA of at
 * least 2048 bits and EC on P-256/P-384 with the point checked on the curve. */
#ifndef VAP_JWK_H
#define VAP_JWK_H

#include <gnutls/abstract.h>
#include <jansson.h>
#include <stddef.h>
#include <vap/plugin.h>

#define JWKS_MAX_BYTES (64u * 1024)
#define JWKS_MAX_KEYS 16
#define JWK_KID_MAX 128
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BYTES 1024 /* 8192-bit modulus */

enum jwk_type { JWK_RSA = 1, JWK_EC = 2 };

struct jwk_key {
    gnutls_pubkey_t pub;
    int type;                 /* enum jwk_type */
    gnutls_ecc_curve_t curve; /* JWK_EC only */
    unsigned bits;            /* modulus or curve size */
    char kid[JWK_KID_MAX];    /* "" when absent */
    int has_kid;
    char alg[8];              /* "" when absent, else one of jose's four */
};

struct jwks {
    struct jwk_key keys[JWKS_MAX_KEYS];
    size_t n;
    size_t skipped; /* keys present but unusable (other kty, enc, short...) */
};

/* One JWK object to a key.  Returns 0, or VAP_E_UNSUPPORTED (a key type,
 * curve, use or alg this plugin does not verify with) or VAP_E_PROTOCOL (a
 * malformed or weak key); why says which. */
int jwk_from_json(const json_t *obj, struct jwk_key *out, char *why, size_t why_len);
void jwk_key_clear(struct jwk_key *k);

/* A JWKS document (the jwks_uri body).  Keys that cannot be used are skipped
 * and counted (so one exotic key does not break verification with the
 * others); a document with no usable key is VAP_E_PROTOCOL. */
int jwks_parse(const char *buf, size_t len, struct jwks *out, vap_error *err);
void jwks_free(struct jwks *s);

#endif
