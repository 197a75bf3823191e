/* refresh.c - the grant in memory and the callers that need its token.
 *
 * OpenEMR revokes the old refresh token (and the old access token) the
 * moment it issues new ones, with no grace period.  So one renewal runs at
 * a time per instance (rule 1), on the process's renewer thread under the
 * instance's own renew_timeout_ms (rule 10): callers share it and wait for
 * its result only as long as their own deadline and cancel token allow,
 * then return with the renewal still going on.  What the renewal does under
 * the grant's lock is refresh_renew.c. */
#include "oauth/refresh.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "oauth/authorize.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "http/http.h"
#include "jose/idtoken.h"
#include "instance.h"
#include "jose/jose_claims.h"
#include "core/log.h"
#include "core/retry.h"
#include "core/scope.h"
#include "oauth/status.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

/* What the token endpoint may return always fits the grant: nothing is cut. */
_Static_assert(TOKRESP_TOKEN_MAX < GRANT_TOKEN_MAX, "token caps");
_Static_assert(TOKRESP_SCOPE_MAX < GRANT_SCOPE_MAX, "scope caps");

#define REFRESH_LOCK_POLL_MS 5

static int load_locked(struct vap_instance *inst, vap_error *err);

static void renew_job_run(struct renewer_job *job);
static void ahead_job_run(struct renewer_job *job);
static int submit_locked(struct refresher *r, int force, uint64_t seen);

#define REFRESH_AHEAD_RETRY_MS 30000

int refresher_init(struct refresher *r, vap_error *err)
{
    pthread_condattr_t ca;
    memset(r, 0, sizeof *r);
    r->pending.lock.fd = -1;
    if ((r->cur = grant_new()) != NULL)
        grant_warn_if_unlocked(r->cur);
    r->presend = cancel_new();
    r->job.run = renew_job_run;
    r->ahead.run = ahead_job_run;
    randombytes_buf(r->fp_key, sizeof r->fp_key);
    /* Waiters time out on the monotonic clock (the host's may be frozen). */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = r->cur != NULL && r->presend != NULL && pthread_mutex_init(&r->mu, NULL) == 0 &&
             pthread_cond_init(&r->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        grant_free(r->cur);
        cancel_free(r->presend);
        r->cur = NULL;
        return err_set(err, VAP_E_NOMEM, "out of memory for the grant");
    }
    return VAP_OK;
}

void refresh_flush_pending(struct vap_instance *inst)
{
    struct refresher *r = &inst->refresher;
    vap_error e;
    VAP_INIT(vap_error, e);
    pthread_mutex_lock(&r->mu);
    int still = r->pending.active && refresh_retry_pending(inst, &e) != VAP_OK;
    pthread_mutex_unlock(&r->mu);
    if (still)
        plog(VAP_LOG_ERROR, "instance freed while a renewed grant was still unsealed (%s): its "
                            "temp file is left for the next process to recover; if none can, "
                            "authorize again", e.message);
}

void refresher_destroy(struct refresher *r)
{
    if (r->pending.active) {
        /* refresh_flush_pending made the last try; keep the temp file. */
        seal_txn_abandon(r->pending.txn);
        seal_lock_release(&r->pending.lock);
        grant_free(r->pending.grant);
        grant_free(r->pending.from);
    }
    grant_free(r->cur);
    cancel_free(r->presend);
    sodium_memzero(r->fp_key, sizeof r->fp_key);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}

int64_t refresh_margin_ms(int64_t option_s, int64_t lifetime_s)
{
    int64_t quarter = lifetime_s > 0 ? lifetime_s * 1000 / 4 : 0;
    int64_t opt = option_s * 1000;
    return opt < quarter ? opt : quarter;
}

static void token_fp(const struct refresher *r, const struct grant *g, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)g->refresh_token,
                       strlen(g->refresh_token), r->fp_key, sizeof r->fp_key);
}

int refresh_tokens_differ_locked(const struct refresher *r, const struct grant *g)
{
    unsigned char fp[32];
    if (!r->loaded)
        return 1;
    token_fp(r, g, fp);
    int differ = sodium_memcmp(fp, r->fp, sizeof fp) != 0 ||
                 strcmp(g->access_token, r->cur->access_token) != 0;
    sodium_memzero(fp, sizeof fp);
    return differ;
}

void refresh_set_cur_locked(struct refresher *r, const struct grant *g)
{
    /* Rule 11: a new generation with the same tokens is a re-seal (a key
     * rotation), not a renewal; only new tokens move tokens_gen on. */
    if (refresh_tokens_differ_locked(r, g)) {
        token_fp(r, g, r->fp);
        r->tokens_gen = g->generation;
    }
    grant_copy(r->cur, g);
    r->loaded = 1;
}

void refresh_install(struct vap_instance *inst, const struct grant *g)
{
    struct refresher *r = &inst->refresher;
    pthread_mutex_lock(&r->mu);
    refresh_set_cur_locked(r, g);
    pthread_mutex_unlock(&r->mu);
}

void refresh_invalidate(struct vap_instance *inst)
{
    struct refresher *r = &inst->refresher;
    pthread_mutex_lock(&r->mu);
    /* A parked grant is newer than the file: keep it (rule 4). */
    if (!r->refreshing && !r->pending.active) {
        r->loaded = 0;
        grant_clear(r->cur);
        sodium_memzero(r->fp, sizeof r->fp);
        r->tokens_gen = 0;
    }
    pthread_mutex_unlock(&r->mu);
}

/* With r->mu held: queue the renewal on the renewer thread; -1 (nothing
 * queued) when it cannot run there. */
static int submit_locked(struct refresher *r, int force, uint64_t seen)
{
    r->refreshing = 1;
    r->job_force = force;
    r->job_seen = seen;
    if (renewer_submit(&r->job, 0) == 0)
        return 0;
    r->refreshing = 0;
    return -1;
}

/* With r->mu held; now is the host's clock, read before the lock. */
static void schedule_ahead_locked(struct vap_instance *inst, int64_t now)
{
    struct refresher *r = &inst->refresher;
    const struct grant *g = r->cur;
    int64_t exp = g->access_expires_at_ms;
    /* once per token: every later call finds the timer set for it */
    if (r->ahead_for_expiry == exp || r->closing)
        return;
    int64_t due = refresh_due_ms(&inst->cfg, r->loaded ? g : NULL);
    /* Queued under r->mu, so that once refresh_shutdown has set closing
     * nothing queues a timer it would not settle. */
    if (due > 0) {
        r->ahead_for_expiry = exp;
        renewer_submit(&r->ahead, renewer_mono_ms() + (due > now ? due - now : 0));
    }
}

void refresh_schedule_ahead(struct vap_instance *inst)
{
    struct refresher *r = &inst->refresher;
    int64_t now = plugin_now_ms(); /* before the lock: a host callback */
    pthread_mutex_lock(&r->mu);
    schedule_ahead_locked(inst, now);
    pthread_mutex_unlock(&r->mu);
}

int64_t refresh_due_ms(const struct config *cfg, const struct grant *g)
{
    if (g != NULL && refresh_backend(cfg) && g->access_expires_at_ms > 0)
        return g->access_expires_at_ms - refresh_margin_ms(cfg->refresh_margin_s, g->lifetime_s);
    if (g == NULL || g->reauth_required || g->refresh_token[0] == '\0')
        return 0;
    return g->access_expires_at_ms - refresh_margin_ms(cfg->refresh_margin_s, g->lifetime_s);
}

/* The renewer's timer: when the access token enters its margin, renew it
 * in the background (rule 10), so that in the steady state no caller waits
 * for a token request. */
static void ahead_job_run(struct renewer_job *job)
{
    struct vap_instance *inst =
        (struct vap_instance *)((char *)job - offsetof(struct vap_instance, refresher.ahead));
    /* The renewer thread logs for this instance, at its level. */
    PLOG_AS(inst->cfg.log_level);
    struct refresher *r = &inst->refresher;
    int64_t now = plugin_now_ms();
    pthread_mutex_lock(&r->mu);
    int64_t due = refresh_due_ms(&inst->cfg, r->loaded ? r->cur : NULL);
    int idle = !r->closing && !r->refreshing && !r->pending.active && due > 0;
    int renew_now = idle && now >= due && submit_locked(r, 0, 0) == 0;
    if (idle && !renew_now)
        r->ahead_for_expiry = 0; /* woken early (or no thread): look again */
    pthread_mutex_unlock(&r->mu);
    if (renew_now)
        plog(VAP_LOG_DEBUG, "renewing the access token ahead of need");
    else if (idle)
        refresh_schedule_ahead(inst);
}

/* With r->mu held: wait until renewal round `round` has ended, the
 * caller's deadline (monotonic) has passed, or its cancel token fired. */
static int wait_round(struct refresher *r, uint64_t round, int64_t until_mono, vap_cancel *cancel)
{
    while (r->refreshing && r->round == round) {
        if (cancel_fired(cancel))
            return VAP_E_CANCELLED;
        int64_t now = renewer_mono_ms();
        if (now >= until_mono)
            return VAP_E_TIMEOUT;
        /* Short slices: a cancel token fired meanwhile is seen soon. */
        int64_t slice = cancel != NULL && until_mono - now > 10 ? now + 10 : until_mono;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000L};
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    return VAP_OK;
}

/* The renewal, on the renewer thread (or, if it cannot start, the caller's):
 * the instance's own deadline, and a cancel token only instance_free fires
 * and only the steps before the token request heed. */
static void renew_job_run(struct renewer_job *job)
{
    struct vap_instance *inst =
        (struct vap_instance *)((char *)job - offsetof(struct vap_instance, refresher.job));
    /* The renewer thread logs for this instance, at its level. */
    PLOG_AS(inst->cfg.log_level);
    struct refresher *r = &inst->refresher;
    vap_error mine;
    VAP_INIT(vap_error, mine);
    pthread_mutex_lock(&r->mu);
    int force = r->job_force;
    uint64_t seen = r->job_seen;
    pthread_mutex_unlock(&r->mu);
    int64_t deadline = plugin_now_ms() + inst->cfg.renew_timeout_ms;
    int rrc = refresh_renew(inst, deadline, r->presend, force, seen, &mine);
    pthread_mutex_lock(&r->mu);
    r->refreshing = 0;
    r->round++;
    r->last_rc = rrc;
    r->last_err = mine;
    pthread_cond_broadcast(&r->cv);
    if (rrc != VAP_OK && !r->closing) {
        /* The background renewal failed (server down?): look again in a
         * while; callers that need a token meanwhile renew themselves. */
        r->ahead_for_expiry = 0;
        renewer_submit(&r->ahead, renewer_mono_ms() + REFRESH_AHEAD_RETRY_MS);
    }
    pthread_mutex_unlock(&r->mu);
    if (rrc == VAP_OK)
        refresh_schedule_ahead(inst); /* it checks closing itself */
}

void refresh_shutdown(struct vap_instance *inst)
{
    struct refresher *r = &inst->refresher;
    if (r->cur == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    pthread_mutex_unlock(&r->mu);
    cancel_fire(r->presend);
    renewer_settle(&r->ahead); /* it may queue a renewal: settled first */
    if (renewer_settle(&r->job)) {
        /* Dropped before it started: nothing was sent. */
        pthread_mutex_lock(&r->mu);
        r->refreshing = 0;
        r->round++;
        r->last_rc = err_set(&r->last_err, VAP_E_CANCELLED, "the instance is being freed");
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

int refresh_bearer(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                   int force, uint64_t seen_generation, char *token, size_t cap,
                   uint64_t *generation, int64_t *obtained_at_ms, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    int rc = VAP_OK, pending_saved = 0, pending_failed = 0, slow_pass = 0;
    /* The host's clock is read with no lock held (plugin.h: no callback
     * under a plugin lock); it is re-read after every wait. */
    int64_t now = plugin_now_ms();
    int64_t wait_until = renewer_mono_ms() + (deadline_ms > now ? deadline_ms - now : 0);
    int first = 1;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (!first) { /* state may have moved while we waited: fresh clock */
            pthread_mutex_unlock(&r->mu);
            now = plugin_now_ms();
            pthread_mutex_lock(&r->mu);
        }
        first = 0;
        slow_pass = 0;
        if (r->pending.active) {
            /* Rule 4: a parked seal is retried on every call; until it
             * succeeds the renewed access token in memory is used. */
            vap_error perr;
            VAP_INIT(vap_error, perr);
            slow_pass = 1;
            if (refresh_retry_pending(inst, &perr) == VAP_OK)
                pending_saved = 1;
            else
                pending_failed = 1;
        }
        /* A shared grant may have been authorized again on another
         * machine: while the one in memory is dead, read the row anew. */
        if (r->loaded && r->cur->reauth_required && inst->cfg.grant_store != NULL &&
            !r->refreshing && !r->pending.active)
            r->loaded = 0;
        if (!r->loaded && !r->refreshing) {
            slow_pass = 1;
            if ((rc = load_locked(inst, err)) != VAP_OK)
                break;
        }
        const struct grant *g = r->cur;
        if (r->loaded && g->reauth_required) {
            rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                         "the stored grant can no longer be renewed: a staff member must "
                         "authorize again (vap-host authorize)");
            break;
        }
        int64_t margin = refresh_margin_ms(inst->cfg.refresh_margin_s, g->lifetime_s);
        /* After a 401 (force), a token handed out at seen_generation is
         * renewed unless newer tokens arrived since (a re-seal is not). */
        int fresh_enough = r->loaded && now + margin < g->access_expires_at_ms &&
                           !(force && r->tokens_gen <= seen_generation);
        /* Rule 10: a token still valid for more than half the margin is
         * handed out (unless after a 401) while the renewal runs in the
         * background: the caller never waits for a token request. */
        int renewable = g->refresh_token[0] != '\0' || refresh_backend(&inst->cfg);
        int still_good = r->loaded && !force && renewable &&
                         !r->pending.active && now + margin / 2 < g->access_expires_at_ms;
        if (!fresh_enough && still_good && !r->refreshing && !r->closing &&
            submit_locked(r, 0, 0) != 0)
            still_good = 0; /* no renewer thread: renew in this call */
        if (fresh_enough || still_good) {
            size_t n = strlen(g->access_token);
            if (n + 1 > cap) {
                rc = err_set(err, VAP_E_NOMEM, "access token buffer too small");
                break;
            }
            memcpy(token, g->access_token, n + 1);
            *generation = g->generation;
            *obtained_at_ms = g->obtained_at_ms;
            /* Under the lock already held: no second one per request.  A
             * pass that read the store or retried a seal (a disk or
             * database round trip) schedules after it with a fresh clock. */
            if (!slow_pass)
                schedule_ahead_locked(inst, now);
            rc = VAP_OK;
            break;
        }
        if (r->loaded && !renewable) {
            rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                         "the access token has expired and the server issued no refresh token "
                         "(offline_access was not granted): authorize again and keep "
                         "offline_access ticked");
            break;
        }
        if (r->pending.active) {
            /* This process holds the lock with a renewal it could not save:
             * renewing again would only stack a second unsaved generation
             * (and wait on our own lock).  Say what is wrong instead. */
            rc = r->pending.pg
                     ? err_set(err, VAP_E_UNAVAILABLE,
                               "the last renewed grant could not be stored in PostgreSQL yet "
                               "(database down?); no further renewal until it is: the next "
                               "call stores it")
                     : err_set(err, VAP_E_IO,
                               "the last renewed grant could not be saved in %s (disk full or "
                               "failing?); no further renewal until it is: free disk space or "
                               "fix the disk, the next call saves it", inst->cfg.store);
            break;
        }
        if (!r->refreshing) {
            if (r->closing) {
                rc = err_set(err, VAP_E_CANCELLED, "the instance is being freed");
                break;
            }
            /* Start the renewal on the renewer thread, on the instance's
             * own clock (rule 10); a renewal in flight is shared. */
            if (submit_locked(r, force, seen_generation) != 0) {
                /* No thread: renew here, still on the instance's clock. */
                r->refreshing = 1;
                r->job_force = force;
                r->job_seen = seen_generation;
                pthread_mutex_unlock(&r->mu);
                renew_job_run(&r->job);
                pthread_mutex_lock(&r->mu);
            }
        }
        uint64_t round = r->round;
        int wrc = wait_round(r, round, wait_until, cancel);
        if (wrc != VAP_OK) {
            rc = err_set(err, wrc,
                         wrc == VAP_E_CANCELLED
                             ? "cancelled while the grant is being renewed; the renewal goes on "
                               "and the next call uses its result"
                             : "the grant is being renewed and the token endpoint has not "
                               "answered within this call's deadline; the renewal goes on and "
                               "the next call uses its result");
            break;
        }
        if (r->last_rc != VAP_OK) {
            rc = r->last_rc;
            err_copy(err, &r->last_err);
            break;
        }
        force = 0; /* renewed: the next pass hands out the new token */
    }
    pthread_mutex_unlock(&r->mu);
    if (rc == VAP_OK && slow_pass)
        refresh_schedule_ahead(inst);
    /* Logged here: no host callback is made under a plugin lock. */
    if (pending_saved)
        plog(VAP_LOG_INFO, "the renewed grant is saved at last; the lock is released");
    else if (pending_failed)
        plog(VAP_LOG_WARN, "the renewed grant is still not saved; retrying on each call");
    return rc;
}

int refresh_now(struct vap_instance *inst, const vap_call *call, vap_grant_info **out,
                vap_error *err)
{
    char token[GRANT_TOKEN_MAX];
    uint64_t gen = 0;
    int64_t obtained = 0;
    int64_t deadline = authz_deadline(inst, call);
    /* force with seen = current generation: renew unless someone just did. */
    struct refresher *r = &inst->refresher;
    pthread_mutex_lock(&r->mu);
    int rc = r->loaded ? VAP_OK : load_locked(inst, err);
    uint64_t seen = r->cur->generation;
    pthread_mutex_unlock(&r->mu);
    if (rc == VAP_OK)
        rc = refresh_bearer(inst, deadline, authz_cancel(call), 1, seen, token, sizeof token,
                            &gen, &obtained, err);
    sodium_memzero(token, sizeof token);
    if (rc != VAP_OK)
        return rc;
    int64_t now = plugin_now_ms();
    pthread_mutex_lock(&r->mu);
    *out = status_info_new(r->cur, now);
    if (*out != NULL)
        (*out)->renew_due_at_ms = refresh_due_ms(&inst->cfg, r->cur);
    pthread_mutex_unlock(&r->mu);
    return *out ? VAP_OK : err_set(err, VAP_E_NOMEM, "out of memory");
}

/* ---- helpers --------------------------------------------------------------- */

/* Called with r->mu held. */
static int load_locked(struct vap_instance *inst, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    if (inst->cfg.client_id == NULL)
        return err_set(err, VAP_E_CONFIG, "no client_id in the config: register the client first");
    if (refresh_backend(&inst->cfg)) {
        /* Nothing stored: the first need obtains the token. */
        r->loaded = 1;
        return VAP_OK;
    }
    int rc = secrets_grant_read(&inst->secrets, &inst->cfg, r->cur, err);
    if (rc == 1)
        return err_set(err, VAP_E_REAUTH_REQUIRED,
                       "there is no grant yet: a staff member must authorize first (vap-host "
                       "authorize)");
    if (rc != VAP_OK)
        return rc;
    token_fp(r, r->cur, r->fp);
    r->tokens_gen = r->cur->generation;
    r->loaded = 1;
    return VAP_OK;
}

/* Wait for the grant's exclusive flock until the deadline. */
int refresh_lock_until(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                       seal_lock *lk, vap_error *err)
{
    seal_err se = {0};
    for (;;) {
        int src = seal_lock_try(inst->secrets.store, GRANT_ITEM, 1, lk, &se);
        if (src == SEAL_OK)
            return VAP_OK;
        if (src != SEAL_E_BUSY)
            return secrets_map_error(&se, err);
        if (plugin_now_ms() >= deadline_ms)
            return err_set(err, VAP_E_TIMEOUT,
                           "another process has been renewing the grant for the whole deadline; "
                           "try again (if this persists, check its log: it may be unable to "
                           "save the renewed grant)");
        if (cancel != NULL && cancel_fired(cancel))
            return err_set(err, VAP_E_CANCELLED, "cancelled while waiting for another renewal");
        struct timespec ts = {0, REFRESH_LOCK_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}
