/* grant.h - the grant (tokens + what was granted) and its sealed-file payload.
 *
 * A struct grant holds tokens, so it lives in sodium_malloc memory allocated
 * once per instance (grant_new) and is reused; grant_clear wipes it.  The
 * payload is the JSON object sealed as item "grant" by libvapseal; it is read
 * back from disk, so grant_parse treats it as untrusted bytes. */
#ifndef VAP_GRANT_H
#define VAP_GRANT_H

#include <stddef.h>
#include <stdint.h>

#define GRANT_TOKEN_MAX 16384 /* OpenEMR's tokens are several KB; room to spare */
#define GRANT_SCOPE_MAX 8192 /* = TOKRESP_SCOPE_MAX + 1 */
#define GRANT_FIELD_MAX 512
#define GRANT_PAYLOAD_MAX (48 * 1024) /* = SEAL_VALUE_MAX */
#define GRANT_ITEM "grant"            /* the sealed item's name/purpose */

struct grant {
    char access_token[GRANT_TOKEN_MAX];
    char refresh_token[GRANT_TOKEN_MAX]; /* "" when none was issued */
    char scope[GRANT_SCOPE_MAX];         /* as granted (the token response) */
    char patient[GRANT_FIELD_MAX];       /* launch context, "" if none */
    char encounter[GRANT_FIELD_MAX];
    char iss[GRANT_FIELD_MAX];           /* id_token iss/sub/aud: a refreshed */
    char sub[GRANT_FIELD_MAX];           /* id_token must keep them (rule 5) */
    char aud[GRANT_FIELD_MAX];
    char fhir_user[GRANT_FIELD_MAX];
    int64_t access_expires_at_ms;
    int64_t obtained_at_ms;   /* when the access token was issued (our clock) */
    int64_t lifetime_s;       /* expires_in as issued: bounds the refresh margin */
    int reauth_required;      /* the refresh token is dead (rule 6) */
    uint64_t generation;      /* of the sealed file it came from (not in payload) */
};

/* A wiped grant in sodium_malloc memory; NULL on out of memory. */
struct grant *grant_new(void);
void grant_free(struct grant *g);
/* Logs once per process, with the fix, when g's pages could not be locked
 * in memory (sodium_malloc carries on without). */
void grant_warn_if_unlocked(const struct grant *g);
void grant_clear(struct grant *g);
void grant_copy(struct grant *dst, const struct grant *src);

/* Writes the payload JSON into out (cap bytes; out should be secure memory).
 * 0, or -1 when it does not fit. */
int grant_serialize(const struct grant *g, char *out, size_t cap, size_t *len);

/* Parses a payload (len bytes, at most GRANT_PAYLOAD_MAX) into g.  Pure.
 * 0, or -1 with a short reason (never a token) in why. */
int grant_parse(const char *buf, size_t len, struct grant *g, char *why, size_t why_len);

#endif
