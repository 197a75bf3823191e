/* refresh_renew.c - one renewal across processes (DESIGN.md, Keeping the
 * grant alive, rules 2, 4, 6, 8, 9 and 11), run on the renewer thread:
 *   - the grant's exclusive flock is taken and the sealed grant re-read; if
 *     another process renewed (other tokens, not merely a new generation:
 *     a re-seal by rotate-key keeps the tokens), its tokens are used
 *     without a request;
 *   - a renewal a killed writer left in its temp file is recovered first;
 *   - the temp file is created and its space reserved before the request,
 *     so a full disk cannot strike after the server rotated;
 *   - the new grant is sealed durably before the lock is released; if that
 *     fails, the lock and the tokens are kept and the seal retried;
 *   - only a dead refresh token marks the grant, under the lock;
 *   - anything that fails before a 2xx leaves the sealed file byte for byte
 *     as it was. */
#include "oauth/refresh.h"

#include <stdio.h>
#include <string.h>

#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/scope.h"
#include "instance.h"
#include "oauth/authorize.h"
#include "oauth/tokenresp.h"

/* The renewed grant: the old one with what the server returned. */
int64_t refresh_build_next(struct vap_instance *inst, const struct grant *disk,
                           const struct tokresp *trp, struct grant *next)
{
    (void)inst;
    grant_copy(next, disk);
    int64_t life = trp->expires_in > 0 ? trp->expires_in : 3600;
    snprintf(next->access_token, sizeof next->access_token, "%s", trp->access_token);
    /* No new refresh token means the old one is revoked anyway (OpenEMR
     * revokes on every refresh): keep none rather than a dead one. */
    snprintf(next->refresh_token, sizeof next->refresh_token, "%s",
             trp->refresh_token ? trp->refresh_token : "");
    /* Rule 3: the api:* scopes the server granted but does not echo stay. */
    char sent[GRANT_SCOPE_MAX + 32];
    if (refresh_scope(disk->scope, sent, sizeof sent) != 0 ||
        scope_granted_merge(trp->scope, sent, next->scope, sizeof next->scope) != 0)
        snprintf(next->scope, sizeof next->scope, "%s", disk->scope);
    if (trp->patient != NULL)
        snprintf(next->patient, sizeof next->patient, "%s", trp->patient);
    if (trp->encounter != NULL)
        snprintf(next->encounter, sizeof next->encounter, "%s", trp->encounter);
    next->obtained_at_ms = plugin_now_ms();
    next->lifetime_s = life;
    next->access_expires_at_ms = next->obtained_at_ms + life * 1000;
    next->reauth_required = 0;
    return life;
}

/* One renewal, outside r->mu; r->cur is updated here, under r->mu. */
int refresh_renew(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel, int force,
                  uint64_t seen_generation, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    seal_lock lk = {-1};
    seal_txn *txn = NULL;
    struct grant *disk = NULL, *next = NULL;
    tokresp tr;
    struct authz_endpoints ep;
    seal_err se = {0};
    int rc;
    memset(&tr, 0, sizeof tr);

    if (refresh_backend(cfg))
        return refresh_renew_backend(inst, deadline_ms, cancel, err);
    if ((rc = secrets_ensure_open(&inst->secrets, cfg, err)) != VAP_OK)
        return rc;
    /* Discovery and the JWKS first: no lock is held across a request we
     * could make before, and nothing but local work may sit between the
     * server's rotation and the seal (a kill or a failure there loses the
     * grant). */
    if ((rc = authz_endpoints(inst, deadline_ms, cancel, 0, &ep, err)) != VAP_OK)
        return rc;
    vap_error kerr;
    VAP_INIT(vap_error, kerr);
    if (authz_jwks_prefetch(inst, &ep, deadline_ms, cancel, &kerr) != VAP_OK) {
        if (cancel_fired(cancel))
            return err_set(err, VAP_E_CANCELLED, "the instance is being freed");
        /* Rule 9: keys out of reach do not stop a renewal; the id_token
         * it brings is then kept unchecked, with a warning. */
        plog(VAP_LOG_WARN, "the server's signing keys cannot be fetched now (%s); renewing "
                           "anyway", kerr.message);
    }
    if (secrets_pg(&inst->secrets))
        return refresh_renew_pg(inst, &ep, deadline_ms, cancel, err);
    if ((disk = grant_new()) == NULL || (next = grant_new()) == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = refresh_lock_until(inst, deadline_ms, cancel, &lk, err)) != VAP_OK)
        goto out;
    /* A writer killed after writing its renewal and before renaming it left
     * the only live refresh token in its temp file (the server revoked the
     * stored one): make it the stored grant before anything else. */
    uint64_t recovered = 0;
    if ((rc = secrets_grant_recover(&inst->secrets, cfg, &recovered, err)) != VAP_OK)
        goto out;
    if (recovered != 0)
        plog(VAP_LOG_WARN, "recovered a renewed grant (generation %llu) that a process had "
                           "written but not saved before it died",
             (unsigned long long)recovered);
    /* Rule 2: re-read under the lock; another process may have renewed. */
    rc = secrets_grant_read_locked(&inst->secrets, cfg, disk, err);
    if (rc == 1) {
        rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                     "the stored grant is gone: a staff member must authorize (vap-host "
                     "authorize)");
        goto out;
    }
    if (rc != VAP_OK)
        goto out;
    (void)force;
    (void)seen_generation;
    if (refresh_reread_settles(inst, disk, "process", &rc, err))
        goto out;
    /* Rule 2: the temp file and its space exist before the server rotates. */
    if (seal_txn_prepare(inst->secrets.store, GRANT_ITEM, SEAL_FILE_MAX, &txn, &se) != 0) {
        rc = secrets_map_error(&se, err);
        goto out;
    }
    plog(VAP_LOG_INFO, "refresh started (grant generation %llu)",
         (unsigned long long)disk->generation);
    /* From here the request runs to its end: no cancel token, only the
     * renewal's own deadline (rule 10). */
    rc = refresh_request_tokens(inst, &ep, disk, deadline_ms, NULL, &tr, err);
    if (rc == VAP_E_REAUTH_REQUIRED) {
        /* Rule 6: mark under the lock; the generation is ours (re-read above). */
        grant_copy(next, disk);
        next->reauth_required = 1;
        vap_error mark_err;
        VAP_INIT(vap_error, mark_err);
        if (refresh_seal_retry(inst, &lk, &txn, next, disk->generation + 1, deadline_ms,
                            &mark_err) == VAP_OK) {
            refresh_install(inst, next);
        }
        plog(VAP_LOG_WARN, "refresh failed: the refresh token is no longer valid; the grant is "
                           "marked for re-authorization");
        goto out;
    }
    if (rc != VAP_OK) {
        plog(VAP_LOG_WARN, "refresh failed: %s", err ? err->message : err_name(rc));
        goto out; /* rule 8: the sealed file stays as it was */
    }
    /* Rule 9: only an identity check refuses a 2xx answer; everything
     * else was logged as a warning and the grant is kept. */
    if ((rc = refresh_check_refreshed(inst, &ep, disk, &tr, deadline_ms, NULL, err)) != VAP_OK) {
        plog(VAP_LOG_WARN, "refresh response refused: %s", err ? err->message : "");
        goto out; /* the sealed files stay as they were */
    }
    int64_t life = refresh_build_next(inst, disk, &tr, next);
    /* Rule 4: sealed durably before the lock is released and the token used. */
    rc = refresh_seal_retry(inst, &lk, &txn, next, disk->generation + 1, deadline_ms, err);
    if (rc != VAP_OK) {
        refresh_park(inst, &lk, &txn, &next, disk->generation + 1, err);
        rc = VAP_OK; /* the renewed access token is valid: the caller may use it */
        goto out;
    }
    refresh_install(inst, next);
    pmetric(VAP_METRIC_RENEWALS, 1);
    plog(VAP_LOG_INFO, "refresh finished (grant generation %llu, valid %lld s)",
         (unsigned long long)(disk->generation + 1), (long long)life);
out:
    tokresp_free(&tr);
    seal_txn_free(txn);
    seal_lock_release(&lk);
    grant_free(disk);
    grant_free(next);
    return rc;
}


int refresh_reread_settles(struct vap_instance *inst, const struct grant *disk, const char *who,
                           int *rc, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    /* Rule 11: another renewed only if the stored tokens are not ours; a
     * higher generation with our tokens is a re-seal (rotate-key), and our
     * expired token is renewed as usual. */
    pthread_mutex_lock(&r->mu);
    int moved_on = refresh_tokens_differ_locked(r, disk);
    pthread_mutex_unlock(&r->mu);
    int64_t now = plugin_now_ms();
    int64_t margin = refresh_margin_ms(inst->cfg.refresh_margin_s, disk->lifetime_s);
    if (disk->reauth_required || (moved_on && now + margin < disk->access_expires_at_ms)) {
        if (moved_on && !disk->reauth_required)
            plog(VAP_LOG_INFO, "the grant was renewed by another %s (generation %llu): "
                               "using it, no request made",
                 who, (unsigned long long)disk->generation);
        refresh_install(inst, disk);
        *rc = disk->reauth_required
                  ? err_set(err, VAP_E_REAUTH_REQUIRED,
                            "the stored grant can no longer be renewed: a staff member must "
                            "authorize again (vap-host authorize)")
                  : VAP_OK;
        return 1;
    }
    if (disk->refresh_token[0] == '\0') {
        *rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                      "the access token has expired and there is no refresh token: authorize "
                      "again (vap-host authorize)");
        return 1;
    }
    return 0;
}
