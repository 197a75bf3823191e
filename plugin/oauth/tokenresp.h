/* tokenresp.h - the token endpoint's answers: the success body (RFC 6749
 * §5.1 + SMART context) parsed strictly, and the error body (RFC 6749 §5.2,
 * OpenEMR's league/oauth2-server layout) turned into a vap_status and a
 * message a practice admin can act on.  Pure: no I/O, no globals; any
 * thread. */
#ifndef VAP_TOKENRESP_H
#define VAP_TOKENRESP_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

/* Caps.  OpenEMR's tokens are several KB each (JWT access token, def502...
 * refresh token, id_token), so the body may be long, but not unbounded. */
#define TOKRESP_BODY_CAP (64u * 1024u)
/* One less than the grant's buffers (grant.h), which hold the NUL too. */
#define TOKRESP_TOKEN_MAX (16u * 1024u - 1u)
#define TOKRESP_SCOPE_MAX (8u * 1024u - 1u)
#define TOKRESP_FHIR_ID_MAX 64u

/* A parsed success response.  Every string is malloc'd and owned by the
 * struct; tokresp_free() wipes (sodium_memzero) and frees them all.  The
 * token strings are secrets: copy them only into memory that is wiped too.
 * Absent optional members are NULL. */
typedef struct tokresp {
    char *access_token;  /* required; printable ASCII, no spaces            */
    char *refresh_token; /* optional (OpenEMR: only with offline_access)    */
    char *id_token;      /* optional (with openid); verified elsewhere      */
    char *scope;         /* granted scopes, single-spaced; NULL: the server
                            did not say (RFC 6749: same as requested)       */
    char *patient;       /* SMART launch context: a FHIR id, or NULL        */
    char *encounter;     /* idem                                            */
    int64_t expires_in;  /* seconds, > 0; 0 when the server did not say     */
    int need_patient_banner; /* -1 absent, else 0/1                         */
} tokresp;

/* Parse a 2xx token response body of len bytes.
 * Rules: at most TOKRESP_BODY_CAP bytes; one JSON object without duplicate
 * keys; token_type "Bearer" in any case; access_token a non-empty string of
 * printable ASCII without spaces (it goes into an Authorization header);
 * expires_in a positive integer, or a string of 1-10 digits (some servers
 * quote it; the value must still be a positive integer < 2^31), or absent;
 * scope a string of RFC 6749 scope tokens; refresh_token/id_token like
 * access_token when present; patient/encounter FHIR ids ([A-Za-z0-9.-],
 * 1-64) since they become URL path segments; need_patient_banner boolean.
 * A JSON null counts as absent for optional members.  Unknown members are
 * ignored.  On success fills *out (caller calls tokresp_free) and returns 0;
 * on failure *out is left empty and a VAP_E_PROTOCOL message names the
 * member, never its value.  The token values inside Jansson's tree are
 * wiped before it is freed; the caller still owns and wipes body. */
int tokresp_parse(const char *body, size_t len, tokresp *out, vap_error *err);

/* A refresh's 2xx answer (rule 9): the server has already rotated, so
 * members that are not the tokens are read leniently - a fractional
 * expires_in rounded down, need_patient_banner as text, an unusable scope,
 * context or id_token dropped, unknown members named - and each leniency
 * is described in warn (warn_cap bytes, "" when none; no values, only
 * member names).  The tokens are held to tokresp_parse's rules. */
int tokresp_parse_refreshed(const char *body, size_t len, tokresp *out, char *warn,
                            size_t warn_cap, vap_error *err);

/* Wipe and free everything in t and zero it.  NULL and empty are fine. */
void tokresp_free(tokresp *t);

/* Which grant produced the error: the rules differ (DESIGN.md, rule 6). */
typedef enum tokresp_grant {
    TOKRESP_GRANT_CODE = 0,    /* authorization_code exchange */
    TOKRESP_GRANT_REFRESH = 1  /* refresh_token               */
} tokresp_grant;

typedef struct tokresp_ctx {
    tokresp_grant grant;
    const char *redirect_uri; /* sent with the code exchange (for the
                                 mismatch message); may be NULL          */
    int retry_after_s;        /* the response's Retry-After, 0 if none   */
    const char *sent_scope;   /* refresh: the scope sent (for the
                                 invalid_scope message); may be NULL     */
    const char *granted_scope; /* refresh: the stored grant's scope, before
                                  the plugin added to it; may be NULL    */
} tokresp_ctx;

/* The fields of an OAuth error body, cleaned for display: control
 * characters replaced, UTF-8 kept whole, long text cut with "...". */
typedef struct tokresp_error {
    char error[64];        /* the OAuth error code, "" when none         */
    char description[128]; /* error_description, else message, else ""  */
    char hint[128];        /* OpenEMR's hint, "" when none                */
} tokresp_error;

/* Parse an error body.  Returns 0 when it is a JSON object (within
 * TOKRESP_BODY_CAP) whose "error" is a string of RFC 6749 error characters;
 * otherwise VAP_E_PROTOCOL with *out all empty.  description falls back to
 * "message" (OpenEMR copies it there; its API errors carry only that). */
int tokresp_error_parse(const char *body, size_t len, tokresp_error *out);

/* Classify a non-2xx token endpoint answer (status, body) into the
 * vap_status a host builds policy on, fill err (message, http_status,
 * retry_after_s, oauth_error) and return that status:
 *   5xx, 429, empty or non-JSON bodies     VAP_E_UNAVAILABLE (404 without an
 *                                          OAuth error: VAP_E_CONFIG)
 *   invalid_client                         VAP_E_CLIENT (never re-auth)
 *   refresh: invalid_grant, invalid refresh token, revoked/logged out
 *                                          VAP_E_REAUTH_REQUIRED
 *   code: expired/unknown code, PKCE failure, invalid_grant
 *                                          VAP_E_REAUTH_REQUIRED
 *   code: redirect URI mismatch, code for another client, invalid_scope
 *                                          VAP_E_CONFIG
 *   refresh: invalid_scope (the config did not change: the server refused
 *   scopes it granted)                     VAP_E_DENIED
 *   unsupported_grant_type                 VAP_E_UNSUPPORTED
 *   anything else                          VAP_E_PROTOCOL
 * The message quotes at most a cleaned, truncated server description. */
int tokresp_classify(int http_status, const char *body, size_t len,
                     const tokresp_ctx *ctx, vap_error *err);

/* The refresh rows of tokresp_classify (tokenresp_refresh.c); e is parsed. */
int tokresp_classify_refresh(int status, const tokresp_error *e, const tokresp_ctx *ctx,
                             vap_error *err);

/* Copy server-provided text for display: at most out_size-1 bytes, control
 * characters replaced by spaces, invalid UTF-8 replaced by '?', a cut
 * marked with "..." and never inside a UTF-8 sequence.  in may be NULL. */
void tokresp_clean_text(const char *in, char *out, size_t out_size);

/* The name between the first pair of backquotes of an OpenEMR hint such as
 * "Check the `Patient.read` scope", cleaned as above.  Returns 1 when
 * found, else 0 with out "". */
int tokresp_hint_name(const char *hint, char *out, size_t out_size);

/* "code" or, when desc is not empty, "code: \"desc\"" into out: how
 * messages quote what the server said. */
void tokresp_detail(const char *code, const char *desc, char *out,
                    size_t out_size);

/* A short advice for a scope the server rejected (e.g. "OpenEMR has no
 * wildcard scopes: list resources, e.g. patient/Patient.read"), or "". */
void tokresp_scope_advice(const char *scope, char *out, size_t out_size);

#endif
