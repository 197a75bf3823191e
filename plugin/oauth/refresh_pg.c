/* refresh_pg.c - one renewal of a grant shared in PostgreSQL (DESIGN.md,
 * Keeping the grant alive, rules 2, 4, 6, 8, 9 and 11, across machines):
 *   - the row is claimed (row lock; another machine's live lease waited
 *     out) and re-read; if another machine renewed, its tokens are used
 *     without a request;
 *   - before the token request the lease is committed, so the others wait
 *     for this renewal instead of sending the refresh token it is spending;
 *   - the new row is a compare-and-set on the generation, committed with
 *     synchronous_commit=on, retried across lost connections and restarts
 *     until renew_timeout_ms, then kept in memory and retried on each call;
 *   - anything that fails before a 2xx leaves the row's grant as it was
 *     (only the lease is cleared). */
#include "oauth/refresh.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "instance.h"
#include "oauth/authorize.h"
#include "oauth/tokenresp.h"
#include "store/pgstore.h"

#define PG_PENDING_RETRY_MS 1000
/* The lease outlives the renewal's own budget by this much: a holder whose
 * commit failed keeps the only live refresh token in memory and retries on
 * its callers' calls; after a database restart the others wait for it this
 * long (a holder that dies without a restart is seen at once: its session's
 * advisory lock goes with it). */
#define PG_LEASE_GRACE_MS 300000

static int64_t left_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - plugin_now_ms();
    return left > 0 ? left : 0;
}

static int same_refresh(const struct grant *a, const struct grant *b)
{
    size_t n = strlen(a->refresh_token);
    return n == strlen(b->refresh_token) &&
           sodium_memcmp(a->refresh_token, b->refresh_token, n) == 0;
}

/* Store g as the row's next generation after expect, in the open session.
 * VAP_OK (g->generation set), 2 when the row moved on to a grant with other
 * live tokens (in *other), or an error.  A row that moved on only by a mark
 * (rule 6) or still holds the refresh token we renewed with (old) is
 * overwritten: ours carries the only live refresh token.  No host callback
 * (a parked retry runs under r->mu). */
static int store_cas(struct vap_instance *inst, const struct grant *old, struct grant *g,
                     uint64_t expect, int64_t budget_ms, struct grant *other, vap_error *err)
{
    struct secrets *sec = &inst->secrets;
    const struct config *cfg = &inst->cfg;
    uint8_t *sealed = malloc(SEAL_FILE_MAX), *row = malloc(SEAL_FILE_MAX);
    int64_t until = renewer_mono_ms() + budget_ms;
    int rc = VAP_E_NOMEM;
    if (sealed == NULL || row == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    for (int round = 0; round < 4; round++) {
        size_t len = 0, row_len = 0;
        uint64_t cur_gen = 0;
        int64_t left = until - renewer_mono_ms();
        if ((rc = secrets_pg_seal(sec, cfg, g, expect + 1, sealed, SEAL_FILE_MAX, &len, err)) !=
            VAP_OK)
            goto out;
        rc = pgstore_commit(sec->pg, left > 0 ? left : 0, expect, expect + 1, sealed, len, row,
                            SEAL_FILE_MAX, &row_len, &cur_gen, err);
        if (rc == VAP_OK) {
            g->generation = expect + 1;
            goto out;
        }
        if (rc != 2)
            goto out;
        if (row_len == 0) { /* the row was deleted meanwhile: ours is the grant */
            expect = 0;
            continue;
        }
        if ((rc = secrets_pg_unseal(sec, cfg, row, row_len, other, err)) != VAP_OK)
            goto out;
        if (!other->reauth_required && !same_refresh(other, old)) {
            rc = 2;
            goto out;
        }
        expect = cur_gen;
    }
    rc = err_set(err, VAP_E_UNAVAILABLE, "the shared grant's row keeps changing under us");
out:
    free(sealed);
    free(row);
    return rc;
}

/* Rule 4 across machines: the commit kept failing after the server rotated.
 * The renewed grant stays in memory, where the callers use it, and every
 * later call retries the commit; the lease stays until it runs out. */
static void park_pg(struct vap_instance *inst, struct grant **g, const struct grant *from,
                    uint64_t expect, const vap_error *why)
{
    struct refresher *r = &inst->refresher;
    struct grant *copy = grant_new(); /* without it, any change of the row wins */
    if (copy != NULL)
        grant_copy(copy, from);
    (*g)->generation = expect + 1;
    pthread_mutex_lock(&r->mu);
    refresh_set_cur_locked(r, *g);
    r->pending.active = 1;
    r->pending.pg = 1;
    r->pending.expect = expect;
    r->pending.generation = expect + 1;
    r->pending.lock.fd = -1;
    r->pending.txn = NULL;
    r->pending.grant = *g;
    r->pending.from = copy;
    pthread_mutex_unlock(&r->mu);
    *g = NULL;
    plog(VAP_LOG_ERROR, "the renewed grant could not be stored in PostgreSQL (%s); keeping it "
                        "in memory and retrying on every call", why->message);
}

int refresh_retry_pending_pg(struct vap_instance *inst, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    struct refresh_pending *p = &r->pending;
    struct grant *other = grant_new();
    if (other == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    /* The mark and same-token checks compare against the grant the parked
     * renewal started from: a row that still holds its refresh token (a
     * re-seal, or a mark) is overwritten, as is any row when it was not
     * kept. */
    struct grant *old = grant_new();
    if (old == NULL) {
        grant_free(other);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    if (p->from != NULL)
        grant_copy(old, p->from);
    if (pgstore_resume(inst->secrets.pg) != 0) {
        grant_free(old);
        grant_free(other);
        return err_set(err, VAP_E_UNAVAILABLE, "the grant store is busy; retrying later");
    }
    int rc = store_cas(inst, old, p->grant, p->expect, PG_PENDING_RETRY_MS, other, err);
    pgstore_end(inst->secrets.pg);
    if (rc == 2)
        refresh_set_cur_locked(r, other);
    else if (rc == VAP_OK)
        refresh_set_cur_locked(r, p->grant);
    grant_free(old);
    grant_free(other);
    if (rc != VAP_OK && rc != 2)
        return rc;
    grant_free(p->grant);
    grant_free(p->from);
    memset(p, 0, sizeof *p);
    p->lock.fd = -1;
    return VAP_OK;
}

int refresh_renew_pg(struct vap_instance *inst, const struct authz_endpoints *ep,
                     int64_t deadline_ms, vap_cancel *cancel, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    struct secrets *sec = &inst->secrets;
    uint8_t *row = malloc(SEAL_FILE_MAX);
    struct grant *disk = grant_new(), *next = grant_new(), *other = grant_new();
    size_t row_len = 0;
    uint64_t gen = 0;
    int took_over = 0, session = 0, rc;
    tokresp tr;
    vap_error e;
    VAP_INIT(vap_error, e);
    memset(&tr, 0, sizeof tr);
    if (row == NULL || disk == NULL || next == NULL || other == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    rc = pgstore_claim(sec->pg, left_ms(deadline_ms), row, SEAL_FILE_MAX, &row_len, &gen,
                       &took_over, &e);
    if (rc < 0) {
        err_copy(err, &e);
        goto out;
    }
    session = 1;
    if (rc == 1) {
        rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                     "there is no shared grant in PostgreSQL yet: a staff member must authorize "
                     "(vap-host authorize)");
        goto out;
    }
    if ((rc = secrets_pg_unseal(sec, cfg, row, row_len, disk, err)) != VAP_OK)
        goto out;
    if (took_over)
        plog(VAP_LOG_WARN, "took over the renewal of the shared grant from a machine whose "
                           "database session ended while renewing (killed?)");
    /* Rules 2 and 11, as for the file store: the row is the stored grant. */
    if (refresh_reread_settles(inst, disk, "machine", &rc, err))
        goto out;
    if (cancel_fired(cancel)) {
        rc = err_set(err, VAP_E_CANCELLED, "the instance is being freed");
        goto out;
    }
    /* The lease is durable before the refresh token is spent. */
    if ((rc = pgstore_lease(sec->pg, left_ms(deadline_ms) + PG_LEASE_GRACE_MS, &e)) != VAP_OK) {
        err_copy(err, &e);
        goto out;
    }
    plog(VAP_LOG_INFO, "refresh started (shared grant generation %llu)",
         (unsigned long long)disk->generation);
    rc = refresh_request_tokens(inst, ep, disk, deadline_ms, NULL, &tr, err);
    if (rc == VAP_E_REAUTH_REQUIRED) {
        /* Rule 6: marked under the row lock, if the generation is ours. */
        grant_copy(next, disk);
        next->reauth_required = 1;
        int src = store_cas(inst, disk, next, gen, left_ms(deadline_ms), other, &e);
        if (src == VAP_OK)
            refresh_install(inst, next);
        else if (src == 2)
            refresh_install(inst, other);
        plog(VAP_LOG_WARN, "refresh failed: the refresh token is no longer valid; the shared "
                           "grant is marked for re-authorization");
        goto out;
    }
    if (rc != VAP_OK) {
        plog(VAP_LOG_WARN, "refresh failed: %s", err ? err->message : err_name(rc));
        goto out; /* rule 8: the row's grant stays as it was */
    }
    if ((rc = refresh_check_refreshed(inst, ep, disk, &tr, deadline_ms, NULL, err)) != VAP_OK) {
        plog(VAP_LOG_WARN, "refresh response refused: %s", err ? err->message : "");
        goto out;
    }
    int64_t life = refresh_build_next(inst, disk, &tr, next);
    /* Rule 4: stored durably before the token is used; the renewal's own
     * deadline covers a database that restarts meanwhile. */
    rc = store_cas(inst, disk, next, gen, left_ms(deadline_ms), other, &e);
    if (rc == 2) {
        plog(VAP_LOG_WARN, "another machine stored a grant with other tokens meanwhile: "
                           "using it");
        refresh_install(inst, other);
        rc = VAP_OK;
        goto out;
    }
    if (rc != VAP_OK) {
        park_pg(inst, &next, disk, gen, &e);
        rc = VAP_OK; /* the renewed access token is valid: the caller may use it */
        goto out;
    }
    refresh_install(inst, next);
    pmetric(VAP_METRIC_RENEWALS, 1);
    plog(VAP_LOG_INFO, "refresh finished (shared grant generation %llu, valid %lld s)",
         (unsigned long long)next->generation, (long long)life);
out:
    if (session)
        pgstore_end(sec->pg);
    tokresp_free(&tr);
    free(row);
    grant_free(disk);
    grant_free(next);
    grant_free(other);
    return rc;
}

int refresh_mark_reauth_pg(struct vap_instance *inst, uint64_t seen_generation,
                           int64_t deadline_ms, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    struct secrets *sec = &inst->secrets;
    uint8_t *row = malloc(SEAL_FILE_MAX);
    struct grant *disk = grant_new(), *other = grant_new();
    size_t row_len = 0;
    uint64_t gen = 0;
    int took_over = 0, rc;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (row == NULL || disk == NULL || other == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto done;
    }
    rc = pgstore_claim(sec->pg, left_ms(deadline_ms), row, SEAL_FILE_MAX, &row_len, &gen,
                       &took_over, &e);
    if (rc < 0) {
        err_copy(err, &e);
        goto done;
    }
    if (rc == 1) {
        rc = VAP_OK; /* nothing stored: nothing to mark */
        goto out;
    }
    if ((rc = secrets_pg_unseal(sec, &inst->cfg, row, row_len, disk, err)) != VAP_OK)
        goto out;
    pthread_mutex_lock(&r->mu);
    int newer = !disk->reauth_required &&
                (refresh_tokens_differ_locked(r, disk) || r->tokens_gen > seen_generation);
    pthread_mutex_unlock(&r->mu);
    if (newer) {
        refresh_install(inst, disk);
        rc = 1;
        goto out;
    }
    if (!disk->reauth_required) {
        disk->reauth_required = 1;
        rc = store_cas(inst, disk, disk, gen, left_ms(deadline_ms), other, &e);
        if (rc == 2) {
            refresh_install(inst, other);
            rc = 1;
            goto out;
        }
        if (rc != VAP_OK) {
            err_copy(err, &e);
            goto out;
        }
        plog(VAP_LOG_WARN, "the server says the grant was revoked or its user logged out: "
                           "the shared grant is marked for re-authorization (generation %llu)",
             (unsigned long long)disk->generation);
    }
    refresh_install(inst, disk);
    rc = VAP_OK;
out:
    pgstore_end(sec->pg);
done:
    free(row);
    grant_free(disk);
    grant_free(other);
    return rc;
}
