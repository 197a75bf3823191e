/* redirect.h - the authorization response as the browser brings it back
 * (RFC 6749 §4.1.2, RFC 9207 iss): a pure, strict parser of the callback
 * URL or its query, and the mapping of `error=` callbacks to statuses and
 * messages.  No I/O, no globals; any thread. */
#ifndef VAP_REDIRECT_H
#define VAP_REDIRECT_H

#include <stddef.h>
#include <vap/plugin.h>

/* Authorization codes and OpenEMR's long parameters fit in 16 KB
 * (DESIGN.md); anything longer is refused, not truncated. */
#define REDIRECT_MAX_LEN (16u * 1024u)

/* The parsed callback.  Every string is NUL-terminated, percent-decoded
 * ('+' as space), free of NUL bytes, and lives in one buffer owned by the
 * struct: redirect_free() wipes (the code is a secret) and frees it.
 * Parameters that were absent are NULL. */
typedef struct redirect_result {
    char *code;
    char *state;
    char *iss;               /* RFC 9207 issuer, compared by the caller    */
    char *error;
    char *error_description;
    char *error_uri;
    char *hint;              /* OpenEMR's extra explanation of an error     */
    /* Where the callback was sent, raw (not decoded), when the input had it:
     * base = "scheme://authority/path" for a full URL, NULL otherwise;
     * path = "/path" for a full URL or an origin-form "/path?query" input,
     * NULL for a bare query. */
    char *base;
    char *path;
    char *storage_;          /* private: the buffer the pointers live in    */
    size_t storage_len_;
} redirect_result;

/* Parse len bytes of input, which is one of
 *   - a full URL:        "http://localhost:8000/oauth/callback?code=..."
 *   - an origin form:    "/oauth/callback?code=..."
 *   - a query:           "code=...&state=..." (a leading '?' is allowed)
 * Blanks and line ends around the input (a pasted line) are trimmed.  A
 * fragment ("#...") ends the query and is ignored.  Refused with
 * VAP_E_INVAL: input over REDIRECT_MAX_LEN, raw bytes outside visible ASCII
 * (a browser percent-encodes them), '%' not followed by two hex digits, %00,
 * a control character in code/state/iss, or any of code, state, iss, error,
 * error_description, error_uri, hint given twice.  Other parameters are
 * ignored.  On success *out is filled (call redirect_free); on failure it is
 * empty and err says what was wrong, never quoting the input. */
int redirect_parse(const char *buf, size_t len, redirect_result *out,
                   vap_error *err);

/* Wipe and free; zero the struct.  NULL and empty results are fine. */
void redirect_free(redirect_result *r);

/* Check that the callback came to redirect_uri: a full URL's base must equal
 * redirect_uri (without its own query, if it has one) byte for byte, an
 * origin form's path must equal redirect_uri's path; a bare query cannot be
 * checked and passes.
 * Returns 0 or VAP_E_INVAL with a message showing the expected URI. */
int redirect_check_target(const redirect_result *r, const char *redirect_uri,
                          vap_error *err);

/* For a callback carrying `error=`: fill err with a message a practice can
 * act on and return the status (access_denied → VAP_E_DENIED, invalid_scope
 * → VAP_E_CONFIG naming the rejected scope from error_description or hint,
 * unauthorized_client → VAP_E_CLIENT, server_error and
 * temporarily_unavailable → VAP_E_UNAVAILABLE, anything else →
 * VAP_E_PROTOCOL naming the code).  err->oauth_error gets the code.
 * Returns 0 (err untouched) when r has no error.  Server text is cleaned
 * and truncated (tokresp_clean_text). */
int redirect_error_status(const redirect_result *r, vap_error *err);

#endif
