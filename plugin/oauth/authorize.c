/* authorize.c - the authorization code flow, end to end.
 *
 * begin:    discovery → a pending transaction (state, nonce, PKCE) → URL.
 * complete: callback parsed and matched to its transaction (single use) →
 *           RFC 9207 iss → code exchanged once → token response parsed →
 *           id_token verified and validated → only then the grant is sealed.
 * Nothing here touches the stored grant until every check has passed, so a
 * failed authorization leaves the previous grant exactly as it was. */
#include "oauth/authorize.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oauth/authprobe.h"
#include "oauth/authtx.h"
#include "oauth/client_key.h"
#include "core/cancel.h"
#include "oauth/renewer.h"
#include "oauth/authurl.h"
#include "core/errors.h"
#include "oauth/grant.h"
#include "http/http.h"
#include "jose/idtoken.h"
#include "instance.h"
#include "jose/jose.h"
#include "jose/jose_claims.h"
#include "core/log.h"
#include "core/object.h"
#include "oauth/redirect.h"
#include "oauth/refresh.h"
#include "core/retry.h"
#include "core/scope.h"
#include "oauth/status.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

static int stateless_error(const redirect_result *r, vap_error *err);
static int exchange_code(struct vap_instance *inst, const struct authz_endpoints *ep,
                         const authtx *tx, const char *code, int64_t deadline_ms,
                         vap_cancel *cancel, tokresp *tr, vap_error *err);
static int build_grant(struct vap_instance *inst, const tokresp *tr, const authtx *tx,
                       const struct jose_claims *claims, struct grant *g, vap_error *err);
static void begin_result_dtor(void *obj);
static int exchange_and_wait(struct vap_instance *inst, const struct authz_endpoints *ep,
                             authtx **tx, const char *code, int64_t deadline, vap_cancel *cancel,
                             vap_grant_info **out, vap_error *err);

/* OpenEMR answers an unknown client or a redirect URI it does not know with
 * a 401 page in the browser and never comes back: ask first, fail now.  Any
 * answer that does not say so (or no answer) lets the authorization go on. */
static int ask_authorization_endpoint(struct vap_instance *inst, const struct authz_endpoints *ep,
                                      const char *scope, int64_t deadline, vap_cancel *cancel,
                                      vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    char detail[160], advice[128];
    int verdict = PROBE_AUTHZ_UNCLEAR;
    vap_error perr;
    VAP_INIT(vap_error, perr);
    if (probe_authorize(inst, ep->authorization, cfg->client_id, cfg->redirect_uri, scope,
                        deadline, cancel, &verdict, detail, sizeof detail, &perr) != VAP_OK) {
        plog(VAP_LOG_INFO, "the authorization endpoint could not be asked first (%s); going on",
             perr.message);
        return VAP_OK;
    }
    if (verdict == PROBE_AUTHZ_CLIENT)
        return err_set(err, VAP_E_CLIENT,
                       "OpenEMR answered 401 invalid_client for redirect URI %.100s, client_id="
                       "%.24s: it must equal the registered one byte for byte (no trailing "
                       "slash, same port) and the client must exist: see API Clients",
                       cfg->redirect_uri, cfg->client_id);
    if (verdict == PROBE_AUTHZ_SCOPE) {
        tokresp_scope_advice(detail, advice, sizeof advice);
        return err_set(err, VAP_E_CONFIG,
                       "OpenEMR refuses the scope %.80s (invalid_scope): remove it from scope=%s%s",
                       detail[0] ? detail : "(unnamed)", advice[0] ? "; " : "", advice);
    }
    return VAP_OK;
}

int authorize_begin(struct vap_instance *inst, const vap_call *call,
                    const vap_authorize_request *req, vap_authorize_begin_result **out,
                    vap_error *err)
{
    int rc;
    char *url = NULL;
    char secret[SECRETS_CLIENT_SECRET_MAX + 1];
    size_t secret_len = 0;
    struct authz_endpoints ep;
    authtx_begin_info info;
    const struct config *cfg = &inst->cfg;
    int64_t deadline = authz_deadline(inst, call);

    if (refresh_backend(cfg))
        return err_set(err, VAP_E_CONFIG,
                       "this instance uses backend services (grant=client_credentials) and "
                       "needs no staff sign-in: there is nothing to authorize; the token is "
                       "obtained with the sealed key on first need");
    if (cfg->client_id == NULL)
        return err_set(err, VAP_E_CONFIG,
                       "no client_id in the config: register the client first (vap-host "
                       "register), or add client_id=... from Administration > System > API "
                       "Clients");
    /* Fail now, not after a staff member has logged in and consented. */
    if ((rc = secrets_ensure_open(&inst->secrets, cfg, err)) != VAP_OK ||
        (rc = authz_endpoints(inst, deadline, authz_cancel(call), 0, &ep, err)) != VAP_OK)
        goto out;
    if (ep.auth_method == DISC_AUTH_PRIVATE_KEY_JWT) {
        struct client_signer k;
        rc = client_key_load(&inst->secrets, cfg, &k, err);
        client_signer_free(&k);
    } else {
        rc = secrets_client_secret(&inst->secrets, secret, sizeof secret, &secret_len, err);
        if (rc != VAP_OK)
            rc = token_no_secret(inst, rc, err);
    }
    if (rc != VAP_OK)
        goto out;

    const char *scope = cfg->scope;
    const char *launch = NULL;
    if (req != NULL && VAP_HAS(req, scope) && req->scope != NULL) {
        struct scope_report rep;
        if (scope_check(req->scope, strlen(req->scope), &rep) != 0) {
            rc = err_set(err, VAP_E_CONFIG, "scope: %s", rep.reason);
            goto out;
        }
        scope = req->scope;
    }
    if (req != NULL && VAP_HAS(req, launch))
        launch = req->launch;
    if ((rc = ask_authorization_endpoint(inst, &ep, scope, deadline, authz_cancel(call), err)) !=
        VAP_OK)
        goto out;

    if ((rc = authtx_begin(inst->authz.tx, plugin_now_ms(), cfg->issuer, cfg->redirect_uri,
                           scope, &info, err)) != VAP_OK)
        goto out;
    authurl_params p = {
        .authorization_endpoint = ep.authorization,
        .client_id = cfg->client_id,
        .redirect_uri = cfg->redirect_uri,
        .scope = scope,
        .state = info.state,
        .nonce = info.nonce,
        .code_challenge = info.code_challenge,
        .aud = cfg->fhir_base,
        .launch = launch,
    };
    if ((rc = authurl_build(&p, &url, err)) != VAP_OK)
        goto out;
    /* OIDC Core §11: offline_access is honoured only with prompt=consent; a
     * conforming provider (oidc-provider, for one) drops it otherwise and no
     * refresh token comes back.  OpenEMR shows its consent page anyway. */
    if (scope_has(scope, strlen(scope), "offline_access")) {
        static const char prompt[] = "&prompt=consent";
        size_t n = strlen(url);
        char *longer = realloc(url, n + sizeof prompt);
        if (longer == NULL) {
            rc = err_set(err, VAP_E_NOMEM, "out of memory");
            goto out;
        }
        memcpy(longer + n, prompt, sizeof prompt);
        url = longer;
    }
    vap_authorize_begin_result *res = obj_new(sizeof *res, begin_result_dtor);
    if (res == NULL || (res->url = obj_strdup(url)) == NULL ||
        (res->redirect_uri = obj_strdup(cfg->redirect_uri)) == NULL) {
        obj_release(res);
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    res->expires_at_ms = info.expires_ms;
    *out = res;
    plog(VAP_LOG_INFO, "authorization started; it must be completed within %d minutes",
         AUTHTX_TTL_MS / 60000);
    rc = VAP_OK;
out:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(&info, sizeof info);
    free(url);
    return rc;
}

int authorize_complete(struct vap_instance *inst, const vap_call *call, const char *callback,
                       size_t len, vap_grant_info **out, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    int64_t deadline = authz_deadline(inst, call);
    vap_cancel *cancel = authz_cancel(call);
    redirect_result r;
    authtx *tx = NULL;
    struct authz_endpoints ep;
    int rc, logged = 0;
    memset(&r, 0, sizeof r);

    if (refresh_backend(cfg))
        return err_set(err, VAP_E_CONFIG,
                       "this instance uses backend services (grant=client_credentials) and "
                       "needs no staff sign-in: there is nothing to authorize; the token is "
                       "obtained with the sealed key on first need");
    if (cfg->client_id == NULL)
        return err_set(err, VAP_E_CONFIG, "no client_id in the config: register the client first");
    if ((rc = redirect_parse(callback, len, &r, err)) != VAP_OK ||
        (rc = redirect_check_target(&r, cfg->redirect_uri, err)) != VAP_OK)
        goto out;
    /* A state, when present, is consumed whatever happens next: single use. */
    vap_error take_err;
    VAP_INIT(vap_error, take_err);
    int take_rc = VAP_OK;
    if (r.state != NULL)
        take_rc = authtx_take(inst->authz.tx, plugin_now_ms(), r.state, strlen(r.state), &tx,
                              &take_err);
    /* Nothing in a callback is believed, an error= included, before its
     * state is found among the pending authorizations. */
    if (r.state == NULL) {
        rc = stateless_error(&r, err);
        goto out;
    }
    if (take_rc != VAP_OK || tx == NULL) { /* unknown, already used, or expired */
        rc = err_set(err, take_rc != VAP_OK ? take_rc : VAP_E_PROTOCOL, "%s", take_err.message);
        goto out;
    }
    if ((rc = authz_endpoints(inst, deadline, cancel, 0, &ep, err)) != VAP_OK)
        goto out;
    /* RFC 9207: an iss in the response must be ours; required if advertised. */
    if (r.iss != NULL && strcmp(r.iss, cfg->issuer) != 0) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the authorization response came from issuer '%.100s', not %.100s: refused "
                     "(possible mix-up attack); nothing was exchanged",
                     r.iss, cfg->issuer);
        goto out;
    }
    if (r.iss == NULL && ep.iss_parameter_supported) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the authorization response lacks the iss parameter this server promises "
                     "(RFC 9207): refused; nothing was exchanged");
        goto out;
    }
    if (r.error != NULL) {
        rc = redirect_error_status(&r, err);
        goto out;
    }
    if (r.code == NULL || r.code[0] == '\0') {
        rc = err_set(err, VAP_E_PROTOCOL, "the callback carries neither a code nor an error");
        goto out;
    }
    if (strcmp(tx->issuer, cfg->issuer) != 0 || strcmp(tx->redirect_uri, cfg->redirect_uri) != 0) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "this authorization was started for another issuer or redirect URI: start "
                     "again");
        goto out;
    }
    /* The keys first, while nothing is spent: checking the id_token after
     * the exchange then needs no request (a cached JWKS is kept). */
    if ((rc = authz_jwks_prefetch(inst, &ep, deadline, cancel, err)) != VAP_OK)
        goto out;
    rc = exchange_and_wait(inst, &ep, &tx, r.code, deadline, cancel, out, err);
    logged = rc != VAP_E_TIMEOUT && rc != VAP_E_CANCELLED; /* the job logged it */
out:
    if (rc != VAP_OK && !logged)
        plog(VAP_LOG_WARN, "authorization failed: %s", err ? err->message : err_name(rc));
    authtx_free(tx);
    redirect_free(&r);
    return rc;
}

/* ---- the exchange, on the renewer thread ------------------------------------ */

/* A code, once sent, is redeemed whatever the caller does next: the
 * exchange and the seal run to their end on the renewer thread under
 * renew_timeout_ms (rule 10); the caller waits as long as its deadline and
 * cancel token allow.  Whoever finishes last (the caller, or the job after
 * the caller gave up) frees the job. */
struct exchange_job {
    struct renewer_job job;
    struct vap_instance *inst;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int done, abandoned;
    authtx *tx;
    char *code;
    struct authz_endpoints ep;
    int rc;
    vap_error err;
    vap_grant_info *info;
};

static int finish_exchange(struct vap_instance *inst, const struct authz_endpoints *ep,
                           const authtx *tx, const char *code, int64_t deadline,
                           vap_grant_info **out, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    tokresp tr;
    struct jose_claims claims;
    struct grant *g = NULL;
    int have_claims = 0, rc;
    memset(&tr, 0, sizeof tr);
    memset(&claims, 0, sizeof claims);
    if ((rc = exchange_code(inst, ep, tx, code, deadline, NULL, &tr, err)) != VAP_OK)
        goto out;
    if (tr.id_token == NULL) {
        if (scope_has(tx->scope, strlen(tx->scope), "openid")) {
            rc = err_set(err, VAP_E_PROTOCOL,
                         "the server returned no id_token although openid was requested: "
                         "refused (the user who authorized cannot be verified)");
            goto out;
        }
    } else {
        if ((rc = authz_verify_id_token(inst, ep, tr.id_token, deadline, NULL, &claims, err)) !=
            VAP_OK)
            goto out;
        have_claims = 1;
        struct idtoken_expect e = {cfg->issuer, cfg->client_id, tx->nonce, NULL,
                                   plugin_now_ms() / 1000, cfg->leeway_s};
        if ((rc = idtoken_check(&claims, &e, err)) != VAP_OK)
            goto out;
    }
    if ((g = grant_new()) == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&inst->refresher.mu);
    int parked = inst->refresher.pending.active;
    pthread_mutex_unlock(&inst->refresher.mu);
    if (parked) {
        rc = err_set(err, VAP_E_IO,
                     "this process still holds a renewed grant it could not save to %s (full "
                     "or failing disk?): free the disk, let it save, then authorize again",
                     cfg->store);
        goto out;
    }
    if ((rc = build_grant(inst, &tr, tx, have_claims ? &claims : NULL, g, err)) != VAP_OK ||
        (rc = secrets_grant_write(&inst->secrets, cfg, g, err)) != VAP_OK)
        goto out;
    refresh_invalidate(inst); /* the next fetch reads the new grant */
    plog(VAP_LOG_INFO, "authorized: grant sealed (generation %llu), access token valid %lld s%s",
         (unsigned long long)g->generation, (long long)g->lifetime_s,
         g->refresh_token[0] ? "" : "; no refresh token (offline_access not granted)");
    *out = status_info_new(g, plugin_now_ms());
    rc = *out ? VAP_OK : err_set(err, VAP_E_NOMEM, "out of memory");
out:
    if (rc != VAP_OK)
        plog(VAP_LOG_WARN, "authorization failed: %s", err ? err->message : err_name(rc));
    grant_free(g);
    if (have_claims)
        jose_claims_free(&claims);
    tokresp_free(&tr);
    return rc;
}

static void exchange_job_free(struct exchange_job *j)
{
    authtx_free(j->tx);
    if (j->code != NULL) {
        sodium_memzero(j->code, strlen(j->code));
        free(j->code);
    }
    obj_release(j->info);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void exchange_job_run(struct renewer_job *job)
{
    struct exchange_job *j = (struct exchange_job *)job;
    struct vap_instance *inst = j->inst;
    PLOG_AS(inst->cfg.log_level);
    struct authz *a = &inst->authz;
    vap_error err;
    VAP_INIT(vap_error, err);
    vap_grant_info *info = NULL;
    int rc = finish_exchange(inst, &j->ep, j->tx, j->code,
                             plugin_now_ms() + inst->cfg.renew_timeout_ms, &info, &err);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->err = err;
    j->info = info;
    j->done = 1;
    int abandoned = j->abandoned;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        exchange_job_free(j);
    /* Last: instance_free may go on once this is counted down. */
    pthread_mutex_lock(&a->mu);
    a->exchanges--;
    pthread_cond_broadcast(&a->idle_cv);
    pthread_mutex_unlock(&a->mu);
}

static int exchange_and_wait(struct vap_instance *inst, const struct authz_endpoints *ep,
                             authtx **tx, const char *code, int64_t deadline, vap_cancel *cancel,
                             vap_grant_info **out, vap_error *err)
{
    struct exchange_job *j = calloc(1, sizeof *j);
    pthread_condattr_t ca;
    if (j == NULL || (j->code = strdup(code)) == NULL) {
        free(j);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->job.run = exchange_job_run;
    j->job.self_freeing = 1;
    j->inst = inst;
    j->ep = *ep;
    j->tx = *tx;
    *tx = NULL;
    pthread_mutex_lock(&inst->authz.mu);
    inst->authz.exchanges++;
    pthread_mutex_unlock(&inst->authz.mu);
    int64_t now = plugin_now_ms();
    int64_t until = renewer_mono_ms() + (deadline > now ? deadline - now : 0);
    if (renewer_submit(&j->job, 0) != 0)
        exchange_job_run(&j->job); /* no thread: here, still on our own clock */
    int rc = VAP_OK;
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        if (cancel_fired(cancel)) {
            rc = VAP_E_CANCELLED;
            break;
        }
        int64_t m = renewer_mono_ms();
        if (m >= until) {
            rc = VAP_E_TIMEOUT;
            break;
        }
        int64_t slice = until - m > 10 ? m + 10 : until;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000L};
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    if (!j->done) {
        j->abandoned = 1;
        pthread_mutex_unlock(&j->mu);
        return err_set(err, rc,
                       "%s while the code is being exchanged; the exchange goes on and its "
                       "grant is sealed when the server answers (vap-host status shows it)",
                       rc == VAP_E_CANCELLED ? "cancelled" : "the deadline passed");
    }
    pthread_mutex_unlock(&j->mu);
    rc = j->rc;
    err_copy(err, &j->err);
    *out = j->info;
    j->info = NULL;
    exchange_job_free(j);
    return rc;
}

void authz_settle(struct vap_instance *inst)
{
    struct authz *a = &inst->authz;
    pthread_mutex_lock(&a->mu);
    while (a->exchanges > 0)
        pthread_cond_wait(&a->idle_cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* ---- helpers --------------------------------------------------------------- */

/* A callback without state answers nothing started here, so an error= in
 * it is not the server's verdict (anyone can send the browser there).  But
 * OpenEMR itself drops the state when it rejects a scope (OPENEMR.md §7):
 * say what that would mean, without taking it as the answer. */
static int stateless_error(const redirect_result *r, vap_error *err)
{
    if (r->error != NULL && strcmp(r->error, "invalid_scope") == 0) {
        vap_error said;
        VAP_INIT(vap_error, said);
        redirect_error_status(r, &said);
        return err_set(err, VAP_E_PROTOCOL, "unverified (no state; OpenEMR omits it here): %s",
                       said.message);
    }
    if (r->error != NULL) {
        char code[64];
        tokresp_clean_text(r->error, code, sizeof code);
        return err_set(err, VAP_E_PROTOCOL,
                       "the callback says error=%s but carries no state: it does not answer an "
                       "authorization started here and is not believed; start again with "
                       "vap-host authorize",
                       code);
    }
    return err_set(err, VAP_E_PROTOCOL,
                   "the callback has no state: it does not answer an authorization started "
                   "here; start again with vap-host authorize");
}

static int exchange_code(struct vap_instance *inst, const struct authz_endpoints *ep,
                         const authtx *tx, const char *code, int64_t deadline_ms,
                         vap_cancel *cancel, tokresp *tr, vap_error *err)
{
    struct http_form form;
    struct http_response rs;
    int rc;
    http_form_init(&form);
    http_response_init(&rs);
    if (http_form_add(&form, "grant_type", "authorization_code") != 0 ||
        http_form_add(&form, "code", code) != 0 ||
        http_form_add(&form, "redirect_uri", tx->redirect_uri) != 0 ||
        http_form_add(&form, "code_verifier", tx->verifier) != 0) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory building the token request");
        goto out;
    }
    /* Never retried: a code is redeemed at most once by this client. */
    if ((rc = token_post_client(inst, ep->token, ep->auth_method, &form, deadline_ms, cancel, &rs,
                                err)) != VAP_OK)
        goto out;
    if (rs.status >= 200 && rs.status <= 299) {
        rc = tokresp_parse(rs.body, rs.body_len, tr, err);
    } else {
        int ra = http_retry_after_s(rs.hdrs.retry_after, strlen(rs.hdrs.retry_after),
                                    plugin_now_ms() / 1000);
        tokresp_ctx ctx = {TOKRESP_GRANT_CODE, tx->redirect_uri, ra > 0 ? ra : 0, NULL, NULL};
        rc = tokresp_classify(rs.status, rs.body, rs.body_len, &ctx, err);
    }
out:
    http_form_free(&form);
    http_response_free(&rs);
    return rc;
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what, vap_error *err)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return err_set(err, VAP_E_PROTOCOL, "the server's %s is too long to store", what);
    /* Claims are shown by status and sealed as JSON: no control characters
     * (nothing legitimate has them, and they would bloat the escaped form). */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
            return err_set(err, VAP_E_PROTOCOL,
                           "the server's %s contains a control character: refused", what);
    memcpy(dst, src ? src : "", n + 1);
    return VAP_OK;
}

static int build_grant(struct vap_instance *inst, const tokresp *tr, const authtx *tx,
                       const struct jose_claims *claims, struct grant *g, vap_error *err)
{
    int64_t now = plugin_now_ms();
    int64_t life = tr->expires_in > 0 ? tr->expires_in : 3600; /* OpenEMR's default */
    int rc;
    grant_clear(g);
    /* nonce is no scope (OpenEMR may echo it): never stored as granted. */
    char granted[GRANT_SCOPE_MAX];
    if (scope_granted_merge(tr->scope ? tr->scope : tx->scope, NULL, granted, sizeof granted) != 0)
        return err_set(err, VAP_E_PROTOCOL, "the server's scope is too long to store");
    if ((rc = copy_field(g->access_token, sizeof g->access_token, tr->access_token,
                         "access token", err)) ||
        (rc = copy_field(g->refresh_token, sizeof g->refresh_token, tr->refresh_token,
                         "refresh token", err)) ||
        (rc = copy_field(g->scope, sizeof g->scope, granted, "scope", err)) ||
        (rc = copy_field(g->patient, sizeof g->patient, tr->patient, "patient", err)) ||
        (rc = copy_field(g->encounter, sizeof g->encounter, tr->encounter, "encounter", err)) ||
        (rc = copy_field(g->iss, sizeof g->iss, inst->cfg.issuer, "issuer", err)) ||
        (rc = copy_field(g->aud, sizeof g->aud, inst->cfg.client_id, "client_id", err)) ||
        (rc = copy_field(g->sub, sizeof g->sub, claims ? claims->sub : "", "subject", err)) ||
        (rc = copy_field(g->fhir_user, sizeof g->fhir_user, claims ? claims->fhir_user : "",
                         "fhirUser", err)))
        return rc;
    /* OpenEMR leaves api:* out of the returned scope but grants them (the
     * id_token says which, with "api:fhir": true).  The refresh request
     * must ask for them again, so keep them with the granted scopes. */
    const char *req = tx->scope;
    for (size_t i = 0, n = strlen(req); i < n;) {
        while (i < n && req[i] == ' ')
            i++;
        size_t st = i;
        while (i < n && req[i] != ' ')
            i++;
        char name[64];
        if (i - st < 5 || i - st >= sizeof name || memcmp(req + st, "api:", 4) != 0)
            continue;
        memcpy(name, req + st, i - st);
        name[i - st] = '\0';
        if (scope_has(g->scope, strlen(g->scope), name))
            continue;
        if (claims != NULL && !json_is_true(json_object_get(claims->root, name)))
            continue;
        size_t used = strlen(g->scope);
        if (used + 1 + strlen(name) + 1 > sizeof g->scope)
            return err_set(err, VAP_E_PROTOCOL, "the granted scope is too long to store");
        snprintf(g->scope + used, sizeof g->scope - used, "%s%s", used ? " " : "", name);
    }
    g->obtained_at_ms = now;
    g->lifetime_s = life;
    g->access_expires_at_ms = now + life * 1000;
    if (tr->refresh_token == NULL)
        plog(VAP_LOG_WARN, "the server issued no refresh token (offline_access was not granted): "
                           "a staff member must authorize again when the access token expires");
    return VAP_OK;
}

static void begin_result_dtor(void *obj)
{
    vap_authorize_begin_result *r = obj;
    obj_strfree(r->url);
    obj_strfree(r->redirect_uri);
}
