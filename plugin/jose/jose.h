/* jose.h - JWS compact verification (RFC 7515) for id_tokens: RS256, RS384,
 * ES256, ES384 only; "none", HS* and everything else refused, as is any
 * header "crit".  Parsing is a pure function; keys come from jwk.h. */
#ifndef VAP_JOSE_H
#define VAP_JOSE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "jose/jwk.h"

#define JOSE_JWS_MAX (64u * 1024)   /* whole compact token */
#define JOSE_HEADER_MAX 4096        /* decoded protected header */

enum jose_alg { JOSE_RS256 = 1, JOSE_RS384, JOSE_ES256, JOSE_ES384 };

/* Results of parse/verify (not vap_status: callers decide, e.g. re-fetch
 * the JWKS once on JOSE_E_NOKEY). */
enum jose_rc {
    JOSE_OK = 0,
    JOSE_E_MALFORMED = -1, /* not a compact JWS, bad base64url or JSON     */
    JOSE_E_ALG = -2,       /* alg refused (none, HS*, other) or crit set    */
    JOSE_E_NOKEY = -3,     /* no key fits the kid / alg / curve             */
    JOSE_E_BADSIG = -4,    /* signature does not verify                     */
    JOSE_E_NOMEM = -5
};

struct jose_jws {
    int alg;                   /* enum jose_alg */
    char kid[JWK_KID_MAX];
    int has_kid;
    const char *signing_input; /* borrowed: the token's "header.payload" */
    size_t signing_len;
    unsigned char *payload;    /* decoded, NUL-terminated; owned */
    size_t payload_len;
    unsigned char *sig;        /* decoded; owned */
    size_t sig_len;
};

/* Split and decode a compact JWS (len bytes, no NUL needed).  The token must
 * outlive *out (signing_input points into it).  why gets a short reason. */
int jose_jws_parse(const char *tok, size_t len, struct jose_jws *out, char *why,
                   size_t why_len);
/* Verify with the key named by kid, or, without a kid, with each key of the
 * right type and curve (OpenEMR publishes one key and no kid). */
int jose_jws_verify(const struct jose_jws *j, const struct jwks *keys, char *why,
                    size_t why_len);
void jose_jws_free(struct jose_jws *j);

/* "RS256" -> JOSE_RS256 ...; 0 for anything refused. */
int jose_alg_from_name(const char *name);
const char *jose_alg_name(int alg);

/* Parse + verify in one call, for callers that want a vap_status: returns
 * VAP_OK with the decoded payload in *payload (free()), or VAP_E_PROTOCOL
 * with a message for the practice admin.  *rc_out (may be NULL) gets the
 * jose_rc, so a caller can re-fetch the JWKS on JOSE_E_NOKEY. */
int jose_verify_compact(const char *tok, size_t len, const struct jwks *keys,
                        unsigned char **payload, size_t *payload_len, int *rc_out,
                        vap_error *err);

/* JOSE's raw r||s (2*n bytes) to a DER ECDSA-Sig-Value.  Returns the DER
 * length, or 0 if it does not fit out_cap (n <= 66). */
size_t jose_rs_to_der(const unsigned char *rs, size_t n, unsigned char *out,
                      size_t out_cap);

#endif
