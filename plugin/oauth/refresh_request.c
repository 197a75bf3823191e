/* refresh_request.c - the refresh's token request and the check of its
 * answer (DESIGN.md, Keeping the grant alive, rules 3, 5, 8 and 9): the
 * explicit scope sent back, transient failures retried inside the
 * renewal's own deadline, and the refreshed id_token held to the grant's
 * identity. */
#include "oauth/refresh.h"

#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "core/retry.h"
#include "http/http.h"
#include "instance.h"
#include "jose/idtoken.h"
#include "jose/jose_claims.h"
#include "oauth/authorize.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

int refresh_request_tokens(struct vap_instance *inst, const struct authz_endpoints *ep,
                          const struct grant *old, int64_t deadline_ms, vap_cancel *cancel,
                          tokresp *tr, vap_error *err)
{
    char scope[GRANT_SCOPE_MAX + 32];
    int rc;
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
        rc = token_post_client(inst, ep->token, ep->auth_method, &form, deadline_ms, cancel, &rs,
                               err);
        http_form_free(&form);
        int status = rc == VAP_OK ? rs.status : 0;
        int ra = rc == VAP_OK ? http_retry_after_s(rs.hdrs.retry_after,
                                                   strlen(rs.hdrs.retry_after),
                                                   plugin_now_ms() / 1000)
                              : 0;
        if (rc == VAP_OK && status >= 200 && status <= 299) {
            /* Rule 9: the server has rotated; what is odd but not about
             * the tokens is a warning, not a reason to drop them. */
            char warn[512];
            rc = tokresp_parse_refreshed(rs.body, rs.body_len, tr, warn, sizeof warn, err);
            http_response_free(&rs);
            if (rc == VAP_OK && warn[0] != '\0')
                plog(VAP_LOG_WARN, "the refresh answer is odd, kept anyway: %s", warn);
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
    return rc;
}

int refresh_check_refreshed(struct vap_instance *inst, const struct authz_endpoints *ep,
                            const struct grant *old, const tokresp *tr, int64_t deadline_ms,
                            vap_cancel *cancel, vap_error *err)
{
    if (tr->id_token == NULL)
        return VAP_OK;
    struct jose_claims claims;
    char warn[256];
    int keys_unavailable = 0;
    memset(&claims, 0, sizeof claims);
    vap_error verr;
    VAP_INIT(vap_error, verr);
    int rc = authz_verify_id_token_ex(inst, ep, tr->id_token, deadline_ms, cancel, &claims,
                                      &keys_unavailable, &verr);
    if (rc != VAP_OK) {
        if (keys_unavailable || rc == VAP_E_NOMEM) {
            /* Rule 9: keys that cannot be fetched now prove nothing; the
             * server has rotated, so the grant is kept and the next
             * renewal's id_token is checked again. */
            plog(VAP_LOG_WARN, "the refreshed id_token could not be checked now (%s); the "
                               "renewed grant is kept, the server having rotated",
                 verr.message);
            return VAP_OK;
        }
        return err_set(err, rc, "%s (its signature fails with freshly fetched keys); the "
                                "stored grant is unchanged",
                       verr.message);
    }
    /* Rules 5 and 9: same iss, sub and aud as the original, no nonce; the
     * times are only warned about. */
    struct idtoken_expect e = {inst->cfg.issuer, inst->cfg.client_id, NULL,
                               old->sub[0] ? old->sub : NULL, plugin_now_ms() / 1000,
                               inst->cfg.leeway_s};
    rc = idtoken_check_refreshed(&claims, &e, warn, sizeof warn, err);
    jose_claims_free(&claims);
    if (rc == VAP_OK && warn[0] != '\0')
        plog(VAP_LOG_WARN, "the refreshed id_token's times are off, kept anyway (%s)", warn);
    return rc;
}
