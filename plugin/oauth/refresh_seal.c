/* refresh_seal.c - saving a renewed grant (DESIGN.md, Keeping the grant
 * alive, rules 4 and 6): the commit retried under the held lock, parking the
 * renewed grant when the seal keeps failing after the server rotated (the
 * lock and the tokens are kept, every later call retries), and marking a
 * dead grant for re-authorization under the lock. */
#include "oauth/refresh.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "instance.h"
#include "core/log.h"

#define REFRESH_SEAL_RETRY_MS 500

int refresh_mark_reauth(struct vap_instance *inst, uint64_t seen_generation, int64_t deadline_ms,
                        vap_cancel *cancel, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    seal_lock lk = {-1};
    seal_txn *txn = NULL;
    seal_err se = {0};
    struct grant *disk = grant_new();
    int rc;
    if (refresh_backend(cfg)) { /* backend services: no grant to mark */
        grant_free(disk);
        return VAP_OK;
    }
    if (disk == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    if ((rc = secrets_ensure_open(&inst->secrets, cfg, err)) != VAP_OK) {
        grant_free(disk);
        return rc;
    }
    if (secrets_pg(&inst->secrets)) {
        grant_free(disk);
        return refresh_mark_reauth_pg(inst, seen_generation, deadline_ms, err);
    }
    uint64_t recovered = 0;
    if ((rc = refresh_lock_until(inst, deadline_ms, cancel, &lk, err)) != VAP_OK)
        goto out;
    /* A renewal a killed writer left in its temp file comes first: it may
     * be the live grant, and marking must never sweep it away. */
    if ((rc = secrets_grant_recover(&inst->secrets, cfg, &recovered, err)) != VAP_OK)
        goto out;
    rc = secrets_grant_read_locked(&inst->secrets, cfg, disk, err);
    if (rc == 1) {
        rc = VAP_OK; /* nothing stored: nothing to mark */
        goto out;
    }
    if (rc != VAP_OK)
        goto out;
    /* Someone stored other tokens (a renewal, or a new authorization) since
     * ours was handed out: they may work; let the caller try.  A re-seal
     * (rotate-key: same tokens, new generation) is not that (rule 11). */
    struct refresher *r = &inst->refresher;
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
        if (seal_txn_prepare(inst->secrets.store, GRANT_ITEM, SEAL_FILE_MAX, &txn, &se) != 0) {
            rc = secrets_map_error(&se, err);
            goto out;
        }
        if ((rc = refresh_seal_retry(inst, &lk, &txn, disk, disk->generation + 1, deadline_ms,
                                  err)) != VAP_OK)
            goto out;
        plog(VAP_LOG_WARN, "the server says the grant was revoked or its user logged out: "
                           "marked for re-authorization (generation %llu)",
             (unsigned long long)disk->generation);
    }
    refresh_install(inst, disk);
    rc = VAP_OK;
out:
    seal_txn_free(txn);
    seal_lock_release(&lk);
    grant_free(disk);
    return rc;
}

/* ---- helpers --------------------------------------------------------------- */

/* Commit, retrying with backoff until the deadline (the lock stays held). */
int refresh_seal_retry(struct vap_instance *inst, seal_lock *lk, seal_txn **txn,
                       struct grant *g, uint64_t generation, int64_t deadline_ms, vap_error *err)
{
    (void)lk; /* held by the caller throughout: that is the point */
    int rc;
    /* Briefly: a seal that keeps failing is parked and retried on every
     * call, where the callers already use the renewed token (rule 4). */
    int64_t until = plugin_now_ms() + REFRESH_SEAL_RETRY_MS;
    if (until > deadline_ms)
        until = deadline_ms;
    for (int attempt = 0;; attempt++) {
        rc = secrets_grant_commit(&inst->secrets, &inst->cfg, *txn, g, generation, err);
        if (rc == VAP_OK) {
            g->generation = generation;
            return VAP_OK;
        }
        plog(VAP_LOG_WARN, "saving the renewed grant failed (%s); retrying",
             err ? err->message : "");
        int64_t wait = 50L << (attempt < 5 ? attempt : 5);
        if (plugin_now_ms() + wait >= until)
            return rc;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Rule 4: the seal failed after the server rotated.  Keep the lock, the
 * prepared temp file and the renewed tokens (in memory, where the callers
 * use them); every later call retries the seal (refresh_retry_pending).  Takes
 * ownership of *lk, *txn and *g. */
void refresh_park(struct vap_instance *inst, seal_lock *lk, seal_txn **txn, struct grant **g,
                  uint64_t generation, const vap_error *why)
{
    struct refresher *r = &inst->refresher;
    (*g)->generation = generation; /* in memory, even while unsealed */
    pthread_mutex_lock(&r->mu);
    refresh_set_cur_locked(r, *g);
    r->pending.active = 1;
    r->pending.generation = generation;
    r->pending.lock = *lk;
    r->pending.txn = *txn;
    r->pending.grant = *g;
    pthread_mutex_unlock(&r->mu);
    lk->fd = -1;
    *txn = NULL;
    *g = NULL;
    plog(VAP_LOG_ERROR, "the renewed grant could not be saved (%s); holding the lock and "
                        "retrying on every call", why ? why->message : "");
}

/* Called with r->mu held: one more try at the parked seal.  Logs nothing
 * (no host callback under a plugin lock): the caller does, once unlocked. */
int refresh_retry_pending(struct vap_instance *inst, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    struct refresh_pending *p = &r->pending;
    if (p->pg)
        return refresh_retry_pending_pg(inst, err);
    int rc = secrets_grant_commit(&inst->secrets, &inst->cfg, p->txn, p->grant, p->generation,
                                  err);
    if (rc != VAP_OK)
        return rc;
    seal_txn_free(p->txn);
    seal_lock_release(&p->lock);
    grant_free(p->grant);
    memset(p, 0, sizeof *p);
    p->lock.fd = -1;
    return VAP_OK;
}
