/* refresh.c - single-flight renewal of the access token.
 *
 * OpenEMR revokes the old refresh token (and the old access token) the
 * moment it issues new ones, with no grace period.  So:
 *   - one thread per process renews; the others wait for its result (rule 1);
 *   - across processes the grant's exclusive flock is taken, the sealed grant
 *     re-read, and if another process already renewed, its tokens are used
 *     without a request (rule 2);
 *   - the temp file is created and its space reserved before the request, so
 *     a full disk cannot strike after the server rotated (rule 2);
 *   - the new grant is sealed durably before the lock is released; if that
 *     fails, the lock and the tokens are kept and the seal retried (rule 4);
 *   - only a dead refresh token marks the grant, under the lock (rule 6);
 *   - anything else leaves the sealed file byte for byte as it was (rule 8). */
#include "oauth/refresh.h"

#include <sodium.h>
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
static int renew(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel, int force,
                 uint64_t seen_generation, vap_error *err);

int refresher_init(struct refresher *r, vap_error *err)
{
    memset(r, 0, sizeof *r);
    r->pending.lock.fd = -1;
    r->cur = grant_new();
    if (r->cur == NULL || pthread_mutex_init(&r->mu, NULL) != 0 ||
        pthread_cond_init(&r->cv, NULL) != 0) {
        grant_free(r->cur);
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
    }
    grant_free(r->cur);
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

void refresh_install(struct vap_instance *inst, const struct grant *g)
{
    struct refresher *r = &inst->refresher;
    pthread_mutex_lock(&r->mu);
    grant_copy(r->cur, g);
    r->loaded = 1;
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
    }
    pthread_mutex_unlock(&r->mu);
}

int refresh_bearer(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                   int force, uint64_t seen_generation, char *token, size_t cap,
                   uint64_t *generation, int64_t *obtained_at_ms, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    int rc = VAP_OK, pending_saved = 0, pending_failed = 0;
    /* The host's clock is read with no lock held (plugin.h: no callback
     * under a plugin lock); it is re-read after every wait. */
    int64_t now = plugin_now_ms();
    int first = 1;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (!first) { /* state may have moved while we waited: fresh clock */
            pthread_mutex_unlock(&r->mu);
            now = plugin_now_ms();
            pthread_mutex_lock(&r->mu);
        }
        first = 0;
        if (r->pending.active) {
            /* Rule 4: a parked seal is retried on every call; until it
             * succeeds the renewed access token in memory is used. */
            vap_error perr;
            VAP_INIT(vap_error, perr);
            if (refresh_retry_pending(inst, &perr) == VAP_OK)
                pending_saved = 1;
            else
                pending_failed = 1;
        }
        if (!r->loaded && !r->refreshing && (rc = load_locked(inst, err)) != VAP_OK)
            break;
        const struct grant *g = r->cur;
        if (r->loaded && g->reauth_required) {
            rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                         "the stored grant can no longer be renewed: a staff member must "
                         "authorize again (vap-host authorize)");
            break;
        }
        int64_t margin = refresh_margin_ms(inst->cfg.refresh_margin_s, g->lifetime_s);
        int fresh_enough = r->loaded && now + margin < g->access_expires_at_ms &&
                           !(force && g->generation <= seen_generation);
        if (fresh_enough) {
            size_t n = strlen(g->access_token);
            if (n + 1 > cap) {
                rc = err_set(err, VAP_E_NOMEM, "access token buffer too small");
                break;
            }
            memcpy(token, g->access_token, n + 1);
            *generation = g->generation;
            *obtained_at_ms = g->obtained_at_ms;
            rc = VAP_OK;
            break;
        }
        if (r->refreshing) {
            /* Someone renews now: wait for that round and share its result. */
            uint64_t round = r->round;
            while (r->refreshing && r->round == round)
                pthread_cond_wait(&r->cv, &r->mu);
            /* That renewer's own deadline or cancel is not ours: try again
             * (with our deadline) rather than share its timeout. */
            if (r->last_rc != VAP_OK && r->last_rc != VAP_E_TIMEOUT &&
                r->last_rc != VAP_E_CANCELLED) {
                rc = r->last_rc;
                err_copy(err, &r->last_err);
                break;
            }
            continue;
        }
        if (r->loaded && g->refresh_token[0] == '\0') {
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
            rc = err_set(err, VAP_E_IO,
                         "the last renewed grant could not be saved in %s (disk full or "
                         "failing?); no further renewal until it is: free disk space or fix "
                         "the disk, the next call saves it", inst->cfg.store);
            break;
        }
        r->refreshing = 1;
        pthread_mutex_unlock(&r->mu);
        vap_error mine;
        VAP_INIT(vap_error, mine);
        int rrc = renew(inst, deadline_ms, cancel, force, seen_generation, &mine);
        pthread_mutex_lock(&r->mu);
        r->refreshing = 0;
        r->round++;
        r->last_rc = rrc;
        r->last_err = mine;
        pthread_cond_broadcast(&r->cv);
        if (rrc != VAP_OK) {
            rc = rrc;
            err_copy(err, &mine);
            break;
        }
        force = 0; /* renewed: the next pass hands out the new token */
    }
    pthread_mutex_unlock(&r->mu);
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
    int rc = secrets_grant_read(&inst->secrets, &inst->cfg, r->cur, err);
    if (rc == 1)
        return err_set(err, VAP_E_REAUTH_REQUIRED,
                       "there is no grant yet: a staff member must authorize first (vap-host "
                       "authorize)");
    if (rc != VAP_OK)
        return rc;
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

static int request_tokens(struct vap_instance *inst, const struct authz_endpoints *ep,
                          const struct grant *old, int64_t deadline_ms, vap_cancel *cancel,
                          tokresp *tr, vap_error *err);
static int validate_refreshed(struct vap_instance *inst, const struct authz_endpoints *ep,
                              const struct grant *old, const tokresp *tr, int64_t deadline_ms,
                              vap_cancel *cancel, vap_error *err);
/* One renewal, outside r->mu; r->cur is updated here, under r->mu. */
static int renew(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel, int force,
                 uint64_t seen_generation, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    const struct config *cfg = &inst->cfg;
    seal_lock lk = {-1};
    seal_txn *txn = NULL;
    struct grant *disk = NULL, *next = NULL;
    tokresp tr;
    struct authz_endpoints ep;
    seal_err se = {0};
    int rc;
    memset(&tr, 0, sizeof tr);

    if ((rc = secrets_ensure_open(&inst->secrets, cfg, err)) != VAP_OK)
        return rc;
    /* Discovery and the JWKS first: no lock is held across a request we
     * could make before, and nothing but local work may sit between the
     * server's rotation and the seal (a kill or a failure there loses the
     * grant). */
    if ((rc = authz_endpoints(inst, deadline_ms, cancel, 0, &ep, err)) != VAP_OK ||
        (rc = authz_jwks_prefetch(inst, &ep, deadline_ms, cancel, err)) != VAP_OK)
        return rc;
    if ((disk = grant_new()) == NULL || (next = grant_new()) == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = refresh_lock_until(inst, deadline_ms, cancel, &lk, err)) != VAP_OK)
        goto out;
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
    /* A writer killed after writing its renewal and before renaming it left
     * the only live refresh token in its temp file (the server revoked the
     * stored one): save it for real before anything else. */
    rc = secrets_grant_orphan(&inst->secrets, cfg, disk->generation + 1, next, err);
    if (rc < 0)
        goto out;
    if (rc == VAP_OK) {
        if (seal_txn_prepare(inst->secrets.store, GRANT_ITEM, SEAL_FILE_MAX, &txn, &se) != 0) {
            rc = secrets_map_error(&se, err);
            goto out;
        }
        rc = refresh_seal_retry(inst, &lk, &txn, next, disk->generation + 1, deadline_ms, err);
        if (rc != VAP_OK) {
            refresh_park(inst, &lk, &txn, &next, disk->generation + 1, err);
            rc = VAP_OK;
            goto out;
        }
        plog(VAP_LOG_WARN, "recovered a renewed grant (generation %llu) that a process had "
                           "written but not saved before it died",
             (unsigned long long)next->generation);
        grant_copy(disk, next);
        disk->generation = next->generation;
        seal_txn_free(txn);
        txn = NULL;
    }
    pthread_mutex_lock(&r->mu);
    uint64_t mem_gen = r->loaded ? r->cur->generation : 0;
    pthread_mutex_unlock(&r->mu);
    int64_t now = plugin_now_ms();
    int64_t margin = refresh_margin_ms(cfg->refresh_margin_s, disk->lifetime_s);
    int moved_on = disk->generation != mem_gen || (force && disk->generation > seen_generation);
    if (disk->reauth_required || (moved_on && now + margin < disk->access_expires_at_ms)) {
        if (moved_on && !disk->reauth_required)
            plog(VAP_LOG_INFO, "the grant was renewed by another process (generation %llu): "
                               "using it, no request made",
                 (unsigned long long)disk->generation);
        refresh_install(inst, disk);
        rc = disk->reauth_required
                 ? err_set(err, VAP_E_REAUTH_REQUIRED,
                           "the stored grant can no longer be renewed: a staff member must "
                           "authorize again (vap-host authorize)")
                 : VAP_OK;
        goto out;
    }
    if (disk->refresh_token[0] == '\0') {
        rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                     "the access token has expired and there is no refresh token: authorize "
                     "again (vap-host authorize)");
        goto out;
    }
    /* Rule 2: the temp file and its space exist before the server rotates. */
    if (seal_txn_prepare(inst->secrets.store, GRANT_ITEM, SEAL_FILE_MAX, &txn, &se) != 0) {
        rc = secrets_map_error(&se, err);
        goto out;
    }
    plog(VAP_LOG_INFO, "refresh started (grant generation %llu)",
         (unsigned long long)disk->generation);
    rc = request_tokens(inst, &ep, disk, deadline_ms, cancel, &tr, err);
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
    if ((rc = validate_refreshed(inst, &ep, disk, &tr, deadline_ms, cancel, err)) != VAP_OK) {
        if (rc == VAP_E_TIMEOUT || rc == VAP_E_UNAVAILABLE || rc == VAP_E_CANCELLED ||
            rc == VAP_E_IO || rc == VAP_E_NOMEM || rc == VAP_E_TLS) {
            /* The id_token could not be checked now (its keys could not be
             * fetched) but the server has already rotated: losing the new
             * refresh token would cost a re-authorization (rule 4 outranks
             * rule 8 here).  The tokens came straight from the token
             * endpoint over TLS; the next refresh checks again. */
            plog(VAP_LOG_WARN, "the refreshed id_token could not be verified now (%s); the "
                               "renewed grant is saved anyway, the server having rotated",
                 err ? err->message : err_name(rc));
            err_clear(err);
            rc = VAP_OK;
        } else {
            plog(VAP_LOG_WARN, "refresh response refused: %s", err ? err->message : "");
            goto out; /* rule 8: a response that fails validation is not kept */
        }
    }
    grant_copy(next, disk);
    int64_t life = tr.expires_in > 0 ? tr.expires_in : 3600;
    snprintf(next->access_token, sizeof next->access_token, "%s", tr.access_token);
    /* No new refresh token means the old one is revoked anyway (OpenEMR
     * revokes on every refresh): keep none rather than a dead one. */
    snprintf(next->refresh_token, sizeof next->refresh_token, "%s",
             tr.refresh_token ? tr.refresh_token : "");
    /* Rule 3: the api:* scopes the server granted but does not echo stay. */
    char sent[GRANT_SCOPE_MAX + 32];
    if (refresh_scope(disk->scope, sent, sizeof sent) != 0 ||
        scope_granted_merge(tr.scope, sent, next->scope, sizeof next->scope) != 0)
        snprintf(next->scope, sizeof next->scope, "%s", disk->scope);
    if (tr.patient != NULL)
        snprintf(next->patient, sizeof next->patient, "%s", tr.patient);
    if (tr.encounter != NULL)
        snprintf(next->encounter, sizeof next->encounter, "%s", tr.encounter);
    next->obtained_at_ms = plugin_now_ms();
    next->lifetime_s = life;
    next->access_expires_at_ms = next->obtained_at_ms + life * 1000;
    next->reauth_required = 0;
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

static int request_tokens(struct vap_instance *inst, const struct authz_endpoints *ep,
                          const struct grant *old, int64_t deadline_ms, vap_cancel *cancel,
                          tokresp *tr, vap_error *err)
{
    char secret[SECRETS_CLIENT_SECRET_MAX + 1];
    char scope[GRANT_SCOPE_MAX + 32];
    size_t secret_len = 0;
    int rc;
    if ((rc = secrets_client_secret(&inst->secrets, secret, sizeof secret, &secret_len, err)) !=
        VAP_OK)
        goto out;
    if (refresh_scope(old->scope, scope, sizeof scope) != 0) {
        rc = err_set(err, VAP_E_PROTOCOL, "the granted scope is too long to send back");
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        struct http_form form;
        struct http_response rs;
        http_response_init(&rs);
        http_form_init(&form);
        if (http_form_add(&form, "grant_type", "refresh_token") != 0 ||
            http_form_add(&form, "refresh_token", old->refresh_token) != 0 ||
            http_form_add(&form, "scope", scope) != 0) {
            http_form_free(&form);
            rc = err_set(err, VAP_E_NOMEM, "out of memory building the refresh request");
            goto out;
        }
        rc = token_post(inst->http, ep->token, ep->auth_method, inst->cfg.client_id, secret,
                        &form, deadline_ms, cancel, &rs, err);
        http_form_free(&form);
        int status = rc == VAP_OK ? rs.status : 0;
        int ra = rc == VAP_OK ? http_retry_after_s(rs.hdrs.retry_after,
                                                   strlen(rs.hdrs.retry_after),
                                                   plugin_now_ms() / 1000)
                              : 0;
        if (rc == VAP_OK && status >= 200 && status <= 299) {
            rc = tokresp_parse(rs.body, rs.body_len, tr, err);
            http_response_free(&rs);
            goto out;
        }
        if (!retry_is_transient(rc, status)) {
            if (rc == VAP_OK) {
                tokresp_ctx ctx = {TOKRESP_GRANT_REFRESH, NULL, ra > 0 ? ra : 0, scope,
                                   old->scope};
                rc = tokresp_classify(status, rs.body, rs.body_len, &ctx, err);
                if (err != NULL && strcmp(err->oauth_error, "invalid_scope") == 0)
                    plog(VAP_LOG_WARN, "the refresh sent scope \"%s\"; the server refused it",
                         scope);
            }
            http_response_free(&rs);
            goto out;
        }
        http_response_free(&rs);
        int wrc = retry_wait(attempt + 1, ra > 0 ? ra : 0, deadline_ms, cancel);
        if (wrc != VAP_OK) {
            if (status != 0) {
                err_set_http(err, status, ra > 0 ? ra : 0, NULL);
                rc = err_set(err, VAP_E_UNAVAILABLE,
                             "the token endpoint answered HTTP %d repeatedly: the server is "
                             "unavailable; the grant is unchanged, try again later", status);
            } else if (wrc == VAP_E_CANCELLED) {
                rc = err_set(err, VAP_E_CANCELLED, "refresh cancelled");
            }
            goto out;
        }
        plog(VAP_LOG_INFO, "refresh attempt %d failed transiently; retrying", attempt + 1);
    }
out:
    sodium_memzero(secret, sizeof secret);
    return rc;
}

static int validate_refreshed(struct vap_instance *inst, const struct authz_endpoints *ep,
                              const struct grant *old, const tokresp *tr, int64_t deadline_ms,
                              vap_cancel *cancel, vap_error *err)
{
    if (tr->id_token == NULL)
        return VAP_OK;
    struct jose_claims claims;
    memset(&claims, 0, sizeof claims);
    int rc = authz_verify_id_token(inst, ep, tr->id_token, deadline_ms, cancel, &claims, err);
    if (rc != VAP_OK)
        return rc;
    /* Rule 5: same iss, sub and aud as the original; no nonce required. */
    struct idtoken_expect e = {inst->cfg.issuer, inst->cfg.client_id, NULL,
                               old->sub[0] ? old->sub : NULL, plugin_now_ms() / 1000,
                               inst->cfg.leeway_s};
    rc = idtoken_check(&claims, &e, err);
    jose_claims_free(&claims);
    return rc;
}
