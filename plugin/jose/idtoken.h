/* idtoken.h - the id_token validation rules (OIDC Core §3.1.3.7, §12.2) over
 * already-verified claims.  Pure: the clock is passed in. */
#ifndef VAP_IDTOKEN_H
#define VAP_IDTOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "jose/jose_claims.h"

/* How far back iat may lie for a token just received from the token
 * endpoint (beyond the leeway): it was minted for this request. */
#define IDTOKEN_MAX_AGE_S 600

struct idtoken_expect {
    const char *issuer;    /* iss must equal this exactly                   */
    const char *client_id; /* aud must be exactly [client_id]; azp likewise */
    const char *nonce;     /* the request's nonce; NULL on refresh          */
    const char *orig_sub;  /* refresh: sub must stay the same; NULL first   */
    int64_t now_s;
    int64_t leeway_s;
};

/* VAP_OK, or VAP_E_PROTOCOL with a message naming the claim that failed
 * (never its value, except iss which is not secret). */
int idtoken_check(const struct jose_claims *c, const struct idtoken_expect *e, vap_error *err);

/* A refreshed id_token (rule 9): who issued it, for whom (iss, aud, azp)
 * and about whom (sub = e->orig_sub) are checked as above; a failed time
 * check (exp, iat) is not an error but its message goes to warn (warn_cap
 * bytes; "" when none): the server has already rotated the refresh token. */
int idtoken_check_refreshed(const struct jose_claims *c, const struct idtoken_expect *e,
                            char *warn, size_t warn_cap, vap_error *err);

#endif
