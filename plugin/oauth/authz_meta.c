/* authz_meta.c - what the plugin knows about the authorization server,
 * cached per instance: its OpenID configuration (discovery, refetched hourly
 * and after a failure) and its signing keys (the JWKS, refetched on an
 * unknown key or a bad signature, at most AUTHZ_JWKS_REFETCH_PER_MIN times a
 * minute), and the id_token verification that uses them.  Shared by
 * authorize, refresh and check; no lock is held across a request. */
#include "oauth/authorize.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/authtx.h"
#include "oauth/client_key.h"
#include "core/errors.h"
#include "http/http.h"
#include "instance.h"
#include "jose/jose.h"
#include "jose/jose_claims.h"
#include "core/log.h"
#include "core/retry.h"

static int fetch_get(struct vap_instance *inst, const char *url, size_t cap, int64_t deadline_ms,
                     vap_cancel *cancel, struct http_response *rs, vap_error *err);
static int fetch_discovery(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                           vap_error *err);
static int fetch_jwks(struct vap_instance *inst, const char *url, int64_t deadline_ms,
                      vap_cancel *cancel, vap_error *err);
static unsigned alg_bit(int alg);

int authz_init(struct authz *a, vap_error *err)
{
    memset(a, 0, sizeof *a);
    if (pthread_mutex_init(&a->mu, NULL) != 0 || pthread_cond_init(&a->idle_cv, NULL) != 0 ||
        authtx_table_new(0, 0, &a->tx) != 0)
        return err_set(err, VAP_E_NOMEM, "out of memory for the authorization state");
    return VAP_OK;
}

void authz_destroy(struct authz *a)
{
    if (a->have_disc)
        disc_oidc_free(&a->disc);
    if (a->jwks) {
        jwks_free(a->jwks);
        free(a->jwks);
    }
    authtx_table_free(a->tx);
    pthread_cond_destroy(&a->idle_cv);
    pthread_mutex_destroy(&a->mu);
    memset(a, 0, sizeof *a);
}

int64_t authz_deadline(const struct vap_instance *inst, const vap_call *call)
{
    if (call != NULL && VAP_HAS(call, deadline_ms) && call->deadline_ms > 0)
        return call->deadline_ms;
    return plugin_now_ms() + inst->cfg.timeout_ms;
}

vap_cancel *authz_cancel(const vap_call *call)
{
    return (call != NULL && VAP_HAS(call, cancel)) ? call->cancel : NULL;
}

int authz_endpoints(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                    int force, struct authz_endpoints *ep, vap_error *err)
{
    struct authz *a = &inst->authz;
    int64_t now = plugin_now_ms();
    pthread_mutex_lock(&a->mu);
    int fresh = a->have_disc && !force && now - a->disc_fetched_ms < AUTHZ_DISCOVERY_TTL_MS;
    pthread_mutex_unlock(&a->mu);
    if (!fresh) {
        int rc = fetch_discovery(inst, deadline_ms, cancel, err);
        if (rc != VAP_OK)
            return rc;
    }
    memset(ep, 0, sizeof *ep);
    int key_sealed = inst->cfg.client_auth == CLIENT_AUTH_AUTO &&
                     client_key_present(&inst->secrets, &inst->cfg);
    pthread_mutex_lock(&a->mu);
    const disc_oidc *d = &a->disc;
    snprintf(ep->authorization, sizeof ep->authorization, "%s", d->authorization_endpoint);
    snprintf(ep->token, sizeof ep->token, "%s", d->token_endpoint);
    snprintf(ep->jwks, sizeof ep->jwks, "%s", d->jwks_uri);
    snprintf(ep->registration, sizeof ep->registration, "%s",
             d->registration_endpoint ? d->registration_endpoint : "");
    ep->algs = d->algs;
    ep->iss_parameter_supported = d->iss_parameter_supported;
    static const char *const auth_names[] = {"auto", "basic", "post", "private_key_jwt"};
    int rc = disc_client_auth(d, auth_names[inst->cfg.client_auth], key_sealed, &ep->auth_method,
                              err);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int authz_jwks_prefetch(struct vap_instance *inst, const struct authz_endpoints *ep,
                        int64_t deadline_ms, vap_cancel *cancel, vap_error *err)
{
    pthread_mutex_lock(&inst->authz.mu);
    int need_fetch = inst->authz.jwks == NULL;
    pthread_mutex_unlock(&inst->authz.mu);
    return need_fetch ? fetch_jwks(inst, ep->jwks, deadline_ms, cancel, err) : VAP_OK;
}

int authz_verify_id_token(struct vap_instance *inst, const struct authz_endpoints *ep,
                          const char *id_token, int64_t deadline_ms, vap_cancel *cancel,
                          struct jose_claims *claims, vap_error *err)
{
    int unused = 0;
    return authz_verify_id_token_ex(inst, ep, id_token, deadline_ms, cancel, claims, &unused,
                                    err);
}

int authz_verify_id_token_ex(struct vap_instance *inst, const struct authz_endpoints *ep,
                             const char *id_token, int64_t deadline_ms, vap_cancel *cancel,
                             struct jose_claims *claims, int *keys_unavailable, vap_error *err)
{
    *keys_unavailable = 0;
    struct authz *a = &inst->authz;
    unsigned char *payload = NULL;
    size_t payload_len = 0;
    int rc, jrc = 0;
    size_t tlen = strlen(id_token);

    /* The signature algorithm must be one discovery advertises (and one we
     * verify): no downgrade to something the server never uses. */
    struct jose_jws jws;
    char why0[128];
    if (jose_jws_parse(id_token, tlen, &jws, why0, sizeof why0) != JOSE_OK)
        return err_set(err, VAP_E_PROTOCOL, "the id_token is malformed (%s): refused", why0);
    int alg = jws.alg;
    jose_jws_free(&jws);
    if (!(ep->algs & alg_bit(alg)))
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token is signed with %s, which the server's discovery document "
                       "does not list: refused", jose_alg_name(alg));

    for (int attempt = 0; attempt < 2; attempt++) {
        int need_fetch;
        pthread_mutex_lock(&a->mu);
        need_fetch = a->jwks == NULL;
        pthread_mutex_unlock(&a->mu);
        if (need_fetch && (rc = fetch_jwks(inst, ep->jwks, deadline_ms, cancel, err)) != VAP_OK) {
            *keys_unavailable = 1;
            return rc;
        }
        pthread_mutex_lock(&a->mu);
        rc = jose_verify_compact(id_token, tlen, a->jwks, &payload, &payload_len, &jrc, err);
        pthread_mutex_unlock(&a->mu);
        if (rc == VAP_OK)
            break;
        if (attempt > 0 || (jrc != JOSE_E_NOKEY && jrc != JOSE_E_BADSIG))
            return rc;
        /* The server may have rotated its key: fetch the JWKS again, at most
         * AUTHZ_JWKS_REFETCH_PER_MIN times a minute (an attacker's tokens
         * must not turn us into a JWKS hammer). */
        int64_t now = plugin_now_ms();
        pthread_mutex_lock(&a->mu);
        int slot = -1;
        for (int i = 0; i < AUTHZ_JWKS_REFETCH_PER_MIN; i++)
            if (now - a->jwks_refetch_ms[i] >= 60000) {
                slot = i;
                break;
            }
        if (slot >= 0)
            a->jwks_refetch_ms[slot] = now;
        pthread_mutex_unlock(&a->mu);
        if (slot < 0) { /* not checked with fresh keys: that is not a failed signature */
            *keys_unavailable = 1;
            return rc;
        }
        plog(VAP_LOG_INFO, "id_token key not verified with the cached keys: fetching the JWKS again");
        if ((rc = fetch_jwks(inst, ep->jwks, deadline_ms, cancel, err)) != VAP_OK) {
            *keys_unavailable = 1;
            return rc;
        }
    }
    char why[128];
    rc = jose_claims_parse((const char *)payload, payload_len, claims, why, sizeof why);
    sodium_memzero(payload, payload_len);
    free(payload);
    if (rc != 0)
        return err_set(err, VAP_E_PROTOCOL, "the id_token's claims are malformed (%s): refused",
                       why);
    return VAP_OK;
}

/* ---- helpers --------------------------------------------------------------- */

static unsigned alg_bit(int alg)
{
    switch (alg) {
    case JOSE_RS256: return DISC_ALG_RS256;
    case JOSE_RS384: return DISC_ALG_RS384;
    case JOSE_ES256: return DISC_ALG_ES256;
    case JOSE_ES384: return DISC_ALG_ES384;
    default: return 0;
    }
}

static int fetch_get(struct vap_instance *inst, const char *url, size_t cap, int64_t deadline_ms,
                     vap_cancel *cancel, struct http_response *rs, vap_error *err)
{
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {
        .method = "GET",
        .url = url,
        .headers = accept,
        .n_headers = 1,
        .max_response = cap,
        .deadline_ms = deadline_ms,
        .cancel = cancel,
    };
    for (int attempt = 0;; attempt++) {
        http_response_init(rs);
        int rc = http_request_do(inst->http, &rq, rs, err);
        int status = rc == VAP_OK ? rs->status : 0;
        if (!retry_is_transient(rc, status))
            return rc;
        int ra = rc == VAP_OK ? http_retry_after_s(rs->hdrs.retry_after,
                                                   strlen(rs->hdrs.retry_after),
                                                   plugin_now_ms() / 1000)
                              : 0;
        int wrc = retry_wait(attempt + 1, ra > 0 ? ra : 0, deadline_ms, cancel);
        if (wrc != VAP_OK) {
            if (rc == VAP_OK) { /* the last answer was a 5xx/429: report it */
                err_set_http(err, status, ra > 0 ? ra : 0, NULL);
                http_response_free(rs);
                return err_set(err, VAP_E_UNAVAILABLE,
                               "%s answered HTTP %d repeatedly: the server is unavailable; try "
                               "again later", url, status);
            }
            return rc;
        }
        http_response_free(rs);
    }
}

static int fetch_discovery(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                           vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    char url[AUTHZ_URL_MAX];
    size_t n = strlen(cfg->issuer);
    int slash = n > 0 && cfg->issuer[n - 1] == '/';
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
             (int)(slash ? n - 1 : n), cfg->issuer);
    struct http_response rs;
    int rc = fetch_get(inst, url, DISC_BODY_CAP, deadline_ms, cancel, &rs, err);
    if (rc != VAP_OK)
        return rc;
    if (rs.status == 404) {
        http_response_free(&rs);
        err_set_http(err, 404, 0, NULL);
        return err_set(err, VAP_E_CONFIG,
                       "no OpenID configuration at %s (HTTP 404): check issuer=; on OpenEMR, "
                       "also check that the FHIR API is enabled (Administration > Config > "
                       "Connectors), since with every API off /oauth2/ answers 404",
                       url);
    }
    if (rs.status < 200 || rs.status > 299) {
        int st = rs.status;
        http_response_free(&rs);
        err_set_http(err, st, 0, NULL);
        return err_set(err, VAP_E_HTTP, "discovery at %s answered HTTP %d", url, st);
    }
    disc_oidc d;
    memset(&d, 0, sizeof d);
    rc = disc_oidc_parse(rs.body, rs.body_len, cfg->issuer, &d, err);
    http_response_free(&rs);
    if (rc != VAP_OK)
        return rc;
    struct authz *a = &inst->authz;
    int64_t now = plugin_now_ms(); /* never call the host under a->mu */
    pthread_mutex_lock(&a->mu);
    if (a->have_disc)
        disc_oidc_free(&a->disc);
    a->disc = d;
    a->have_disc = 1;
    a->disc_fetched_ms = now;
    pthread_mutex_unlock(&a->mu);
    plog(VAP_LOG_DEBUG, "discovery fetched from %s", url);
    return VAP_OK;
}

static int fetch_jwks(struct vap_instance *inst, const char *url, int64_t deadline_ms,
                      vap_cancel *cancel, vap_error *err)
{
    struct http_response rs;
    int rc = fetch_get(inst, url, JWKS_MAX_BYTES, deadline_ms, cancel, &rs, err);
    if (rc != VAP_OK)
        return rc;
    if (rs.status != 200) {
        int st = rs.status;
        http_response_free(&rs);
        err_set_http(err, st, 0, NULL);
        return err_set(err, VAP_E_PROTOCOL,
                       "the server's signing keys (%s) answered HTTP %d: id_tokens cannot be "
                       "verified", url, st);
    }
    struct jwks *k = calloc(1, sizeof *k);
    if (k == NULL) {
        http_response_free(&rs);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    rc = jwks_parse(rs.body, rs.body_len, k, err);
    http_response_free(&rs);
    if (rc != VAP_OK) {
        free(k);
        return rc;
    }
    struct authz *a = &inst->authz;
    pthread_mutex_lock(&a->mu);
    struct jwks *old = a->jwks;
    a->jwks = k;
    pthread_mutex_unlock(&a->mu);
    if (old) {
        jwks_free(old);
        free(old);
    }
    return VAP_OK;
}
