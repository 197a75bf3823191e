/* authtx.h - pending authorization transactions (authorize_begin →
 * authorize_complete): an in-memory table keyed by `state`, with an expiry,
 * several pending at once, found in constant time and usable once.  Each
 * holds the PKCE verifier in sodium_malloc'd memory (no access while it
 * waits, wiped on free), the nonce, and the issuer and redirect URI the
 * request went to (RFC 9700 §4.4.2).  The clock is passed in, so tests
 * inject it.  Thread-safe: a table has its own lock. */
#ifndef VAP_AUTHTX_H
#define VAP_AUTHTX_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "oauth/pkce.h"

#define AUTHTX_TTL_MS (10 * 60 * 1000)  /* a person logs in within 10 min */
#define AUTHTX_MAX_PENDING_DEFAULT 16

/* A transaction taken out of the table by authtx_take.  Owned by the caller,
 * who frees it with authtx_free (which wipes the verifier). */
typedef struct authtx {
    char state[PKCE_TOKEN_SIZE];
    char nonce[PKCE_TOKEN_SIZE];
    const char *verifier;   /* sodium_malloc'd, read-only, PKCE_TOKEN_LEN  */
    char *issuer;           /* the issuer the request went to              */
    char *redirect_uri;     /* as sent; the token request repeats it       */
    char *scope;            /* as requested                                */
    int64_t created_ms;
    int64_t expires_ms;
    void *verifier_mem_;    /* private: the sodium_malloc'd block          */
} authtx;

/* What authorize_begin needs to build the URL. */
typedef struct authtx_begin_info {
    char state[PKCE_TOKEN_SIZE];
    char nonce[PKCE_TOKEN_SIZE];
    char code_challenge[PKCE_CHALLENGE_SIZE];
    int64_t expires_ms;
} authtx_begin_info;

typedef struct authtx_table authtx_table;

/* A table for at most max_pending transactions (0: the default), each
 * living ttl_ms (0: AUTHTX_TTL_MS).  Returns 0 or VAP_E_NOMEM. */
int authtx_table_new(size_t max_pending, int64_t ttl_ms, authtx_table **out);

/* Free the table and every pending transaction (verifiers wiped).  Call
 * once no other call on it runs.  NULL is fine. */
void authtx_table_free(authtx_table *t);

/* Start a transaction at now_ms: fresh 256-bit state, nonce and PKCE
 * verifier; S256 challenge.  Copies issuer, redirect_uri and scope (all
 * required).  When the table is full, expired entries go first, then the
 * oldest pending one (a person who started again no longer needs it).
 * Fills *info and returns 0, or VAP_E_INVAL / VAP_E_NOMEM. */
int authtx_begin(authtx_table *t, int64_t now_ms, const char *issuer,
                 const char *redirect_uri, const char *scope,
                 authtx_begin_info *info, vap_error *err);

/* Find the transaction whose state equals state (len bytes), remove it from
 * the table (single use, whatever happens next) and hand it to the caller
 * in *out.  Every pending state is compared with sodium_memcmp, with no
 * early exit, so timing does not reveal how much of a state matched.
 * Returns 0; VAP_E_PROTOCOL when no pending transaction has that state
 * (unknown, used, or forged); VAP_E_REAUTH_REQUIRED when it had expired
 * (it is removed too). */
int authtx_take(authtx_table *t, int64_t now_ms, const char *state,
                size_t len, authtx **out, vap_error *err);

/* Wipe and free a taken transaction.  NULL is fine. */
void authtx_free(authtx *tx);

/* Transactions still pending at now_ms (expired ones are dropped). */
size_t authtx_pending(authtx_table *t, int64_t now_ms);

#endif
