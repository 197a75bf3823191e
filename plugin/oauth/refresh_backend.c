/* refresh_backend.c - SMART Backend Services (grant=client_credentials):
 * no staff member, no refresh token, nothing sealed but the signing key.
 *
 * The access token lives in the refresher's memory only and is obtained
 * the same way a refresh is run: single-flight on the renewer thread, ahead
 * of expiry, under renew_timeout_ms.  Each process holds its own token:
 * nothing is rotated, so processes need not agree on one. */
#include "oauth/refresh.h"

#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "core/retry.h"
#include "http/http.h"
#include "instance.h"
#include "oauth/authorize.h"
#include "oauth/status.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

int refresh_backend(const struct config *cfg)
{
    return cfg->grant == CONFIG_GRANT_CLIENT_CREDENTIALS;
}

/* A refusal of a client_credentials request, in the words of what fixes it. */
static int classify(const struct http_response *rs, int ra, vap_error *err)
{
    tokresp_error e;
    char desc[sizeof e.description], hint[sizeof e.hint];
    if (tokresp_error_parse(rs->body, rs->body_len, &e) != 0) {
        tokresp_ctx ctx = {TOKRESP_GRANT_CODE, NULL, ra, NULL, NULL};
        return tokresp_classify(rs->status, rs->body, rs->body_len, &ctx, err);
    }
    tokresp_clean_text(e.description[0] ? e.description : "no reason given", desc, sizeof desc);
    tokresp_clean_text(e.hint, hint, sizeof hint);
    if (strcmp(e.error, "invalid_scope") == 0) {
        int rc = err_set(err, VAP_E_CONFIG,
                         "the server refused the system/ scopes (invalid_scope%s%s): an OpenEMR "
                         "administrator must switch on \"Enable OpenEMR FHIR System Scopes\" "
                         "(rest_system_scopes_api, Administration > Config > Connectors), and "
                         "the client must be registered with these system/ scopes",
                         hint[0] ? ": " : "", hint);
        err_set_http(err, rs->status, 0, e.error);
        return rc;
    }
    if (strcmp(e.error, "unauthorized_client") == 0 ||
        strcmp(e.error, "unsupported_grant_type") == 0) {
        int rc = err_set(err, VAP_E_CONFIG,
                         "the server does not let this client use client_credentials (%s): "
                         "register a backend client (vap-host register --backend) and put its "
                         "client_id in the config", e.error);
        err_set_http(err, rs->status, 0, e.error);
        return rc;
    }
    tokresp_ctx ctx = {TOKRESP_GRANT_CODE, NULL, ra, NULL, NULL};
    int rc = tokresp_classify(rs->status, rs->body, rs->body_len, &ctx, err);
    if (rc == VAP_E_REAUTH_REQUIRED) /* there is no grant a staff member could renew */
        rc = err_set(err, VAP_E_PROTOCOL, "the token endpoint refused client_credentials (%s: "
                                          "%s)", e.error, desc);
    return rc;
}

/* invalid_client to a backend client: disabled (as every new one starts),
 * or its registered keys do not hold the sealed one. */
static int client_refused(const struct http_response *rs, vap_error *err)
{
    tokresp_error e;
    char desc[64];
    if (tokresp_error_parse(rs->body, rs->body_len, &e) != 0)
        e.description[0] = '\0';
    tokresp_clean_text(e.description[0] ? e.description : "no reason given", desc, sizeof desc);
    int rc = err_set(err, VAP_E_CLIENT,
                     "OpenEMR refused the backend client (invalid_client: %s): an admin must "
                     "enable it in Administration > System > API Clients, and its JWKS there "
                     "must hold the sealed key (publish vap-seal jwks)", desc);
    err_set_http(err, rs->status, 0, "invalid_client");
    return rc;
}

/* The token request, transient failures retried inside the deadline. */
static int request(struct vap_instance *inst, const struct authz_endpoints *ep,
                   int64_t deadline_ms, tokresp *tr, vap_error *err)
{
    for (int attempt = 0;; attempt++) {
        struct http_form form;
        struct http_response rs;
        int rc;
        http_response_init(&rs);
        http_form_init(&form);
        if (http_form_add(&form, "grant_type", "client_credentials") != 0 ||
            http_form_add(&form, "scope", inst->cfg.scope) != 0) {
            http_form_free(&form);
            return err_set(err, VAP_E_NOMEM, "out of memory building the token request");
        }
        /* Always a signed assertion: OpenEMR takes nothing else here. */
        rc = token_post_client(inst, ep->token, DISC_AUTH_PRIVATE_KEY_JWT, &form, deadline_ms,
                               NULL, &rs, err);
        http_form_free(&form);
        if (rc == VAP_E_CLIENT && (rs.status == 400 || rs.status == 401)) {
            rc = client_refused(&rs, err);
            http_response_free(&rs);
            return rc;
        }
        int status = rc == VAP_OK ? rs.status : 0;
        int ra = rc == VAP_OK ? http_retry_after_s(rs.hdrs.retry_after,
                                                   strlen(rs.hdrs.retry_after),
                                                   plugin_now_ms() / 1000)
                              : 0;
        if (ra < 0)
            ra = 0;
        if (rc == VAP_OK && status >= 200 && status <= 299) {
            rc = tokresp_parse(rs.body, rs.body_len, tr, err);
            http_response_free(&rs);
            return rc;
        }
        if (!retry_is_transient(rc, status)) {
            if (rc == VAP_OK)
                rc = classify(&rs, ra, err);
            http_response_free(&rs);
            return rc;
        }
        http_response_free(&rs);
        int wrc = retry_wait(attempt + 1, ra, deadline_ms, NULL);
        if (wrc != VAP_OK) {
            if (status != 0) {
                err_set_http(err, status, ra, NULL);
                rc = err_set(err, VAP_E_UNAVAILABLE,
                             "the token endpoint answered HTTP %d repeatedly: the server is "
                             "unavailable; try again later", status);
            }
            return rc;
        }
        plog(VAP_LOG_INFO, "client_credentials attempt %d failed transiently; retrying",
             attempt + 1);
    }
}

int refresh_renew_backend(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                          vap_error *err)
{
    struct refresher *r = &inst->refresher;
    struct authz_endpoints ep;
    struct grant *next = NULL;
    tokresp tr;
    int rc;
    memset(&tr, 0, sizeof tr);
    if ((rc = secrets_ensure_open(&inst->secrets, &inst->cfg, err)) != VAP_OK)
        return rc;
    if ((rc = authz_endpoints(inst, deadline_ms, cancel, 0, &ep, err)) != VAP_OK)
        return rc;
    if ((next = grant_new()) == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    rc = request(inst, &ep, deadline_ms, &tr, err);
    if (rc != VAP_OK) {
        plog(VAP_LOG_WARN, "backend services token request failed: %s",
             err ? err->message : err_name(rc));
        goto out;
    }
    int64_t life = tr.expires_in > 0 ? tr.expires_in : 60;
    pthread_mutex_lock(&r->mu);
    uint64_t gen = r->cur->generation + 1;
    pthread_mutex_unlock(&r->mu);
    snprintf(next->access_token, sizeof next->access_token, "%s", tr.access_token);
    snprintf(next->scope, sizeof next->scope, "%s", tr.scope ? tr.scope : inst->cfg.scope);
    next->generation = gen; /* in memory only: counts the tokens obtained */
    next->obtained_at_ms = plugin_now_ms();
    next->lifetime_s = life;
    next->access_expires_at_ms = next->obtained_at_ms + life * 1000;
    refresh_install(inst, next);
    pmetric(VAP_METRIC_RENEWALS, 1);
    plog(VAP_LOG_INFO, "backend services token obtained (valid %lld s, kept in memory)",
         (long long)life);
out:
    tokresp_free(&tr);
    grant_free(next);
    return rc;
}

int refresh_backend_status(struct vap_instance *inst, vap_grant_info **out, vap_error *err)
{
    struct refresher *r = &inst->refresher;
    int64_t now = plugin_now_ms(); /* no lock held: a host callback */
    pthread_mutex_lock(&r->mu);
    int have = r->loaded && r->cur->access_token[0] != '\0';
    *out = status_info_new(have ? r->cur : NULL, now);
    if (*out != NULL && have) {
        (*out)->renew_due_at_ms = refresh_due_ms(&inst->cfg, r->cur);
        /* Expired is not the end: the next call obtains another. */
        if ((*out)->state == VAP_GRANT_REAUTH_REQUIRED)
            (*out)->state = VAP_GRANT_EXPIRED;
    }
    pthread_mutex_unlock(&r->mu);
    return *out ? VAP_OK : err_set(err, VAP_E_NOMEM, "out of memory");
}
