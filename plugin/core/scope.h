/* scope.h - OpenEMR's scope rules (OPENEMR.md §4), checked before anything is
 * sent, so an admin learns of a rejected scope from the config check and not
 * from a failed browser login. */
#ifndef VAP_SCOPE_H
#define VAP_SCOPE_H

#include <stddef.h>

#define SCOPE_MAX_LEN 4096   /* longer scope strings are refused */
#define SCOPE_MAX_TOKENS 128

/* Warnings: the scope is usable but the admin should know. */
#define SCOPE_WARN_NO_OFFLINE (1u << 0)       /* no refresh token will be issued   */
#define SCOPE_WARN_PATIENT_BOUND (1u << 1)    /* patient/ scopes: one patient only */
#define SCOPE_WARN_NO_OPENID (1u << 2)        /* no id_token to validate           */
#define SCOPE_WARN_API_NEEDS_OEMR (1u << 3)   /* standard API scope without api:oemr */
#define SCOPE_WARN_UNKNOWN (1u << 4)          /* not in OpenEMR's scope list       */
#define SCOPE_WARN_PATIENT_NO_LAUNCH (1u << 5) /* patient/ without launch/patient  */
#define SCOPE_WARN_SYSTEM (1u << 6)           /* system/ scopes: every patient     */
#define SCOPE_WARN_LAST SCOPE_WARN_SYSTEM

struct scope_report {
    int refused;          /* 1: OpenEMR would reject this scope string */
    char reason[320];     /* why, naming the offending scopes          */
    char first_bad[96];   /* the first offending scope                 */
    unsigned n_bad;       /* how many scopes were refused              */
    char corrected[1024]; /* with refused: the scope string to use (the
                           * practice-wide user/ line when patient/ scopes
                           * were given)                                  */
    char alternative[1024]; /* with refused patient/ scopes: the line bound
                             * to one patient; "" otherwise               */
    unsigned warnings;    /* SCOPE_WARN_* bits                          */
    char unknown[256];    /* with SCOPE_WARN_UNKNOWN: the unknown names */
};

/* Check a space-separated scope string of len bytes.  Pure.  Returns 0 when
 * the string is usable (warnings possible), -1 when refused (rep->reason and
 * rep->corrected filled).  A string that cannot even be tokenised (too long,
 * control characters, too many scopes) is refused with corrected == "". */
int scope_check(const char *scope, size_t len, struct scope_report *rep);

/* 1 if the space-separated list (len bytes) contains name exactly. */
int scope_has(const char *scope, size_t len, const char *name);

/* 1 if a scope of the space-separated, NUL-terminated list starts with
 * prefix ("user/", "system/"). */
int scope_has_prefix(const char *scope, const char *prefix);

/* 1 if the list (len bytes) names a standard-API scope (user/patient.read,
 * user/soap_note.write, ...): OpenEMR refuses those without api:oemr. */
int scope_has_std_api(const char *scope, size_t len);

/* The scope string with every resource scope moved to context to ("user"
 * or "system"), the other scopes kept as OpenEMR takes them with that
 * grant: to "system" keeps api:* and the FHIR resource scopes (standard-API
 * ones such as soap_note have no system/ form; openid, offline_access and
 * launch scopes mean nothing without a user), to "user" keeps everything.
 * Pure.  Returns how many resource scopes were moved, or -1 when out (cap
 * bytes) is too small. */
int scope_to_context(const char *scope, const char *to, char *out, size_t cap);

/* The first resource scope of scope with the context prefix ("user/"),
 * into out (cap bytes); 0 when found, -1 when there is none. */
int scope_first_with_prefix(const char *scope, const char *prefix, char *out, size_t cap);

/* scope without the scopes that start with prefix, into out (cap bytes;
 * cut at a scope boundary). Pure. */
void scope_without_prefix(const char *scope, const char *prefix, char *out, size_t cap);

/* The granted scopes after a token response: the response's scopes
 * (returned; NULL = the server did not say, keep previous as it is) without
 * the pseudo-scope nonce, plus every api:* scope of previous that the
 * response leaves out (OpenEMR grants api:* without echoing them, so a
 * later refresh must still ask for them).  Single-spaced, no duplicates.
 * Pure.  Returns 0, or -1 when out (cap bytes) is too small. */
int scope_granted_merge(const char *returned, const char *previous, char *out, size_t cap);

#endif
