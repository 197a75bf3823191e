/* jose_claims.h - the registered claims of a verified JWT payload, as a pure
 * function over its bytes (validation rules live with the id_token code). */
#ifndef VAP_JOSE_CLAIMS_H
#define VAP_JOSE_CLAIMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JOSE_CLAIMS_MAX (64u * 1024)
#define JOSE_CLAIMS_MAX_AUD 8

#define JOSE_HAS_EXP 1u
#define JOSE_HAS_IAT 2u
#define JOSE_HAS_NBF 4u

struct jose_claims {
    json_t *root;      /* owns the strings below; other claims readable here */
    const char *iss, *sub, *azp, *nonce, *fhir_user; /* NULL when absent */
    const char *aud[JOSE_CLAIMS_MAX_AUD];
    size_t n_aud;
    int64_t exp, iat, nbf; /* seconds since the epoch, when has says so */
    unsigned has;
};

/* Parse a payload: a JSON object (duplicates refused, size capped) whose
 * registered claims have the right types (RFC 7519 §4.1; aud a string or a
 * non-empty array of strings; dates non-negative numbers).  Returns 0 or -1
 * with a short reason in why. */
int jose_claims_parse(const char *buf, size_t len, struct jose_claims *out,
                      char *why, size_t why_len);
void jose_claims_free(struct jose_claims *c);

/* 1 if aud contains client_id. */
int jose_claims_has_aud(const struct jose_claims *c, const char *client_id);

#endif
