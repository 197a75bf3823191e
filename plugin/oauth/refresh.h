/* refresh.h - keeping the grant alive (DESIGN.md, "Keeping the grant
 * alive", rules 1-11): the in-memory grant, single-flight refresh across
 * threads and processes, and the bearer token for fetch.
 *
 * Threads: every function may be called concurrently on one instance.  The
 * renewal itself runs on the process's renewer thread (renewer.h) under the
 * instance's renew_timeout_ms, never under a caller's deadline or cancel
 * token; callers wait for its result only as long as their own deadline
 * allows.  Nobody holding a still-valid token waits on a network call.  No
 * lock is held across a host callback. */
#ifndef VAP_REFRESH_H
#define VAP_REFRESH_H

#include <pthread.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "oauth/grant.h"
#include "oauth/renewer.h"
#include "vapseal.h"

struct vap_instance;

/* A renewed grant whose seal failed after the server rotated: the lock stays
 * held and the tokens stay in memory until a retry succeeds (rule 4). */
struct refresh_pending {
    int active;
    int pg;              /* grant_store=postgresql: no lock or txn here */
    uint64_t expect;     /* pg: the row's generation the renewal started from */
    seal_lock lock;
    seal_txn *txn;
    struct grant *grant; /* sodium_malloc'd, the renewed grant */
    struct grant *from;  /* pg: the grant it was renewed from (may be NULL):
                            a row still holding its refresh token (a
                            re-seal by rotate-key) is not another renewal */
    uint64_t generation; /* the generation it is to be sealed with */
};

struct refresher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct grant *cur;   /* the grant in memory (sodium_malloc'd)           */
    int loaded;          /* cur reflects the store                          */
    int refreshing;      /* a thread is renewing now                        */
    uint64_t round;      /* bumped when a renewal ends                      */
    int last_rc;         /* its result, shared with the threads that waited */
    vap_error last_err;
    struct refresh_pending pending;
    /* The renewal job on the renewer thread and what it was asked for. */
    struct renewer_job job;
    int job_force;
    uint64_t job_seen;
    int closing;               /* instance_free has begun                  */
    struct renewer_job ahead;  /* renewal ahead of need (the timer)        */
    int64_t ahead_for_expiry;  /* the expiry it is scheduled for; 0: none  */
    vap_cancel *presend;       /* fired by instance_free: ends a renewal
                                  that has not sent its token request yet  */
    /* Rule 11: which tokens are in memory, told apart from a re-seal. */
    unsigned char fp_key[32];  /* per-process key of the fingerprint       */
    unsigned char fp[32];      /* keyed BLAKE2b of cur's refresh token     */
    uint64_t tokens_gen;       /* generation at which cur's tokens arrived */
};

int refresher_init(struct refresher *r, vap_error *err);
/* Before instance_free: one last try at a parked seal (host callbacks may be
 * made: no lock held). */
void refresh_flush_pending(struct vap_instance *inst);
void refresher_destroy(struct refresher *r);
/* instance_free, before the HTTP client goes: a renewal not yet sent is
 * dropped or cancelled; one in flight is waited for (bounded by
 * renew_timeout_ms) and sealed. */
void refresh_shutdown(struct vap_instance *inst);

/* The margin rule 1: min(option, a quarter of the token's lifetime), in ms. */
int64_t refresh_margin_ms(int64_t option_s, int64_t lifetime_s);

/* A bearer token valid for more than the margin, renewing it (single-flight)
 * when needed.  Copies it into token (cap bytes; the caller wipes it) and
 * sets *generation and *obtained_at_ms of the grant it belongs to.
 * force: renew even if the token looks valid (rule 7, after a 401), unless
 * another thread or process already renewed past seen_generation. */
int refresh_bearer(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                   int force, uint64_t seen_generation, char *token, size_t cap,
                   uint64_t *generation, int64_t *obtained_at_ms, vap_error *err);

/* When g is due for renewal ahead of need (host clock ms): its expiry less
 * the margin; 0 when it cannot be renewed (no refresh token, marked). */
struct config;
int64_t refresh_due_ms(const struct config *cfg, const struct grant *g);
/* Schedule the renewal ahead of need for the grant in memory on the
 * renewer thread (no lock held; a no-op when already scheduled). */
void refresh_schedule_ahead(struct vap_instance *inst);

/* The ABI's refresh: renew now and describe the grant. */
int refresh_now(struct vap_instance *inst, const vap_call *call, vap_grant_info **out,
                vap_error *err);

/* Rule 6 for OpenEMR's 400 "Refresh Token revoked or logged out" on an API
 * call (the user logged out, or the grant was revoked): under the grant's
 * lock, mark the sealed grant for re-authorization if its generation is
 * still seen_generation.  Returns VAP_OK when marked (or already marked),
 * 1 when another process has stored a newer grant meanwhile (now in memory:
 * the caller may retry once with it), or an error (the lock, the seal). */
int refresh_mark_reauth(struct vap_instance *inst, uint64_t seen_generation, int64_t deadline_ms,
                        vap_cancel *cancel, vap_error *err);

/* ---- shared by refresh.c and refresh_seal.c (plugin-internal) ---- */

/* Wait for the grant's exclusive flock until the deadline (polled). */
int refresh_lock_until(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                       seal_lock *lk, vap_error *err);
/* Commit g with generation into *txn, retrying with backoff until the
 * deadline; the caller holds lk throughout. */
int refresh_seal_retry(struct vap_instance *inst, seal_lock *lk, seal_txn **txn,
                       struct grant *g, uint64_t generation, int64_t deadline_ms, vap_error *err);
/* Rule 4: keep the lock, the temp file and the renewed grant after the seal
 * failed; takes ownership of *lk, *txn and *g. */
void refresh_park(struct vap_instance *inst, seal_lock *lk, seal_txn **txn, struct grant **g,
                  uint64_t generation, const vap_error *why);
/* With r->mu held: one more try at a parked seal; VAP_OK once saved. */
int refresh_retry_pending(struct vap_instance *inst, vap_error *err);

/* One renewal under the grant's flock (refresh_renew.c), on the
 * renewal's own deadline; cancel is heeded only before the request. */
int refresh_renew(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel, int force,
                  uint64_t seen_generation, vap_error *err);

/* The renewal's token request (rule 3, transient failures retried within
 * deadline_ms) and the check of a refreshed answer (rules 5 and 9). */
struct authz_endpoints;
struct tokresp;
int refresh_request_tokens(struct vap_instance *inst, const struct authz_endpoints *ep,
                           const struct grant *old, int64_t deadline_ms, vap_cancel *cancel,
                           struct tokresp *tr, vap_error *err);
int refresh_check_refreshed(struct vap_instance *inst, const struct authz_endpoints *ep,
                            const struct grant *old, const struct tokresp *tr,
                            int64_t deadline_ms, vap_cancel *cancel, vap_error *err);

/* The renewed grant: disk with the tokens, scope and context of tr; the
 * access token's lifetime in seconds is returned. */
int64_t refresh_build_next(struct vap_instance *inst, const struct grant *disk,
                           const struct tokresp *tr, struct grant *next);

/* grant_store=postgresql:// (refresh_pg.c): the renewal, the marking of
 * rule 6 and a parked commit's retry, against the grant's row. */
int refresh_renew_pg(struct vap_instance *inst, const struct authz_endpoints *ep,
                     int64_t deadline_ms, vap_cancel *cancel, vap_error *err);
int refresh_mark_reauth_pg(struct vap_instance *inst, uint64_t seen_generation,
                           int64_t deadline_ms, vap_error *err);
int refresh_retry_pending_pg(struct vap_instance *inst, vap_error *err);

/* With r->mu held: make g the grant in memory, noting whether its tokens
 * are new (a renewal) or the same (a re-seal: new key or generation). */
void refresh_set_cur_locked(struct refresher *r, const struct grant *g);
/* With r->mu held: 1 when g carries other tokens than the grant in memory. */
int refresh_tokens_differ_locked(const struct refresher *r, const struct grant *g);

/* Make g the grant in memory (takes and releases the refresher's lock). */
void refresh_install(struct vap_instance *inst, const struct grant *g);

/* Rules 2 and 11, after re-reading the stored grant disk under the
 * single-flight lock: 1 when no token request is to be made (another
 * process or machine — `who` — renewed it, or it is dead or has no refresh
 * token), with *rc the call's result and the grant installed where usable;
 * 0 when the caller must renew. */
int refresh_reread_settles(struct vap_instance *inst, const struct grant *disk, const char *who,
                           int *rc, vap_error *err);

/* Forget the in-memory grant (reload, or after an authorization). */
void refresh_invalidate(struct vap_instance *inst);

/* ---- SMART Backend Services (grant=client_credentials, refresh_backend.c) ----
 * The access token is kept in memory only, obtained on first need and
 * renewed ahead of expiry by the same single-flight renewal; no grant is
 * ever read or sealed. */
int refresh_backend(const struct config *cfg);
/* The renewal's body in that mode: one client_credentials request. */
int refresh_renew_backend(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                          vap_error *err);
/* status: the token in memory, described (never the token itself). */
int refresh_backend_status(struct vap_instance *inst, vap_grant_info **out, vap_error *err);

/* The scope to send on refresh (rule 3): the granted scopes with
 * offline_access always and pseudo-scopes (nonce) never.  Pure. */
int refresh_scope(const char *granted, char *out, size_t cap);

#endif
