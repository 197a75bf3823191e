/* authurl.h - the authorization request URL (RFC 6749 §4.1.1, RFC 7636
 * §4.3, OIDC Core §3.1.2.1, SMART App Launch): every parameter value
 * percent-encoded, so no value can add or split a parameter.  Pure; any
 * thread. */
#ifndef VAP_AUTHURL_H
#define VAP_AUTHURL_H

#include <stddef.h>
#include <vap/plugin.h>

/* Browsers and servers handle URLs far longer, but ours never need more. */
#define AUTHURL_MAX_LEN (16u * 1024u)

/* All borrowed; all required except launch. */
typedef struct authurl_params {
    const char *authorization_endpoint; /* validated https URL (discovery) */
    const char *client_id;
    const char *redirect_uri;
    const char *scope;                  /* space-separated                 */
    const char *state;
    const char *nonce;
    const char *code_challenge;         /* S256                            */
    const char *aud;                    /* the FHIR base (SMART)           */
    const char *launch;                 /* EHR launch id, or NULL          */
} authurl_params;

/* Build endpoint?response_type=code&client_id=..&redirect_uri=..&scope=..
 * &state=..&nonce=..&code_challenge=..&code_challenge_method=S256&aud=..
 * [&launch=..] into a malloc'd string the caller frees.  An endpoint that
 * already has a query gets '&' instead of '?'; one with a fragment is
 * refused.  Returns 0, VAP_E_INVAL (missing value, fragment, or over
 * AUTHURL_MAX_LEN) or VAP_E_NOMEM. */
int authurl_build(const authurl_params *p, char **out, vap_error *err);

/* Percent-encode len bytes of s for a query value or form body: RFC 3986
 * unreserved bytes stay, every other byte becomes %XX (upper-case hex;
 * space is %20, never '+').  Writes at most out_size bytes including a NUL
 * and stores the encoded length in *out_len.  Returns 0, or VAP_E_INVAL
 * when out is too small (3 * len + 1 always suffices). */
int authurl_encode(const char *s, size_t len, char *out, size_t out_size,
                   size_t *out_len);

#endif
