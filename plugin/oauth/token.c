/* token.c - the token endpoint request shared by the code exchange, the
 * refresh and check's credential probe (see token.h). */
#include "oauth/token.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "oauth/discovery.h"
#include "core/errors.h"
#include "core/log.h"
#include "http/http.h"
#include "instance.h"
#include "jose/jws_sign.h"
#include "oauth/client_key.h"
#include "oauth/secrets.h"
#include "oauth/tokenresp.h"

static void token_metric(int rc, const struct http_response *rs, const struct http_form *form,
                         int64_t start);

#define CLIENT_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static int assertion_refused(const struct http_response *rs, const char *kid, vap_error *err);

int token_post(struct http_client *http, const char *token_url, unsigned auth_method,
               const char *client_id, const char *secret, struct http_form *form,
               int64_t deadline_ms, vap_cancel *cancel, struct http_response *rs, vap_error *err)
{
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {
        .method = "POST",
        .url = token_url,
        .headers = accept,
        .n_headers = 1,
        .content_type = "application/x-www-form-urlencoded",
        .max_response = TOKRESP_BODY_CAP,
        .deadline_ms = deadline_ms,
        .cancel = cancel,
    };
    if (auth_method == DISC_AUTH_PRIVATE_KEY_JWT) {
        /* the caller's form already carries the assertion */
    } else if (auth_method == DISC_AUTH_BASIC) {
        /* RFC 6749 §2.3.1: the http layer form-encodes both, then base64. */
        rq.basic_user = client_id;
        rq.basic_pass = secret;
    } else if (http_form_add(form, "client_id", client_id) != 0 ||
               http_form_add(form, "client_secret", secret) != 0) {
        return err_set(err, VAP_E_NOMEM, "out of memory building the token request");
    }
    if (form->failed)
        return err_set(err, VAP_E_NOMEM, "out of memory building the token request");
    rq.body = form->buf;
    rq.body_len = form->len;
    http_response_init(rs);
    int64_t start = pmetric_start();
    int rc = http_request_do(http, &rq, rs, err);
    token_metric(rc, rs, form, start);
    return rc;
}

/* One counter by outcome, and the duration, per token request.  The
 * outcome of an error answer is tokresp_classify's, as the caller will see
 * it; the grant type is the form's first field. */
static void token_metric(int rc, const struct http_response *rs, const struct http_form *form,
                         int64_t start)
{
    if (start == 0)
        return;
    pmetric_ms(VAP_METRIC_TOKEN_MS, start);
    int cls = rc;
    if (rc == VAP_OK && (rs->status < 200 || rs->status > 299)) {
        static const char refresh[] = "grant_type=refresh_token";
        tokresp_ctx ctx = {.grant = form->len >= sizeof refresh - 1 &&
                                            memcmp(form->buf, refresh, sizeof refresh - 1) == 0
                                        ? TOKRESP_GRANT_REFRESH
                                        : TOKRESP_GRANT_CODE};
        vap_error scratch;
        VAP_INIT(vap_error, scratch);
        cls = tokresp_classify(rs->status, rs->body, rs->body_len, &ctx, &scratch);
    }
    const char *name = cls == VAP_OK                   ? VAP_METRIC_TOKEN_OK
                       : cls == VAP_E_REAUTH_REQUIRED  ? VAP_METRIC_TOKEN_REAUTH
                       : cls == VAP_E_CLIENT           ? VAP_METRIC_TOKEN_CLIENT
                       : cls == VAP_E_UNAVAILABLE || cls == VAP_E_TIMEOUT
                           ? VAP_METRIC_TOKEN_UNAVAILABLE
                           : VAP_METRIC_TOKEN_OTHER;
    pmetric(name, 1);
}

int token_post_client(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                      struct http_form *form, int64_t deadline_ms, vap_cancel *cancel,
                      struct http_response *rs, vap_error *err)
{
    int rc;
    if (auth_method != DISC_AUTH_PRIVATE_KEY_JWT) {
        char secret[SECRETS_CLIENT_SECRET_MAX + 1];
        size_t secret_len = 0;
        rc = secrets_client_secret(&inst->secrets, secret, sizeof secret, &secret_len, err);
        if (rc != VAP_OK)
            rc = token_no_secret(inst, rc, err);
        else
            rc = token_post(inst->http, token_url, auth_method, inst->cfg.client_id, secret, form,
                            deadline_ms, cancel, rs, err);
        sodium_memzero(secret, sizeof secret);
        return rc;
    }
    struct client_signer k;
    char assertion[JOSE_ASSERTION_MAX];
    if ((rc = client_key_load(&inst->secrets, &inst->cfg, &k, err)) != VAP_OK)
        return rc;
    int sr = jose_client_assertion(k.key, k.alg, k.kid, inst->cfg.client_id, token_url,
                                   (int64_t)time(NULL), assertion, sizeof assertion);
    char kid[sizeof k.kid];
    memcpy(kid, k.kid, sizeof kid);
    client_signer_free(&k);
    if (sr != 0) {
        sodium_memzero(assertion, sizeof assertion);
        return err_set(err, VAP_E_SEAL,
                       "the sealed signing key could not sign the client assertion: run vap-seal "
                       "keygen again");
    }
    if (http_form_add(form, "client_assertion_type", CLIENT_ASSERTION_TYPE) != 0 ||
        http_form_add(form, "client_assertion", assertion) != 0)
        rc = err_set(err, VAP_E_NOMEM, "out of memory building the token request");
    sodium_memzero(assertion, sizeof assertion);
    if (rc == VAP_OK)
        rc = token_post(inst->http, token_url, auth_method, inst->cfg.client_id, NULL, form,
                        deadline_ms, cancel, rs, err);
    if (rc == VAP_OK && (rs->status == 400 || rs->status == 401))
        rc = assertion_refused(rs, kid, err);
    return rc;
}

int token_no_secret(struct vap_instance *inst, int rc, vap_error *err)
{
    if (rc == VAP_E_CONFIG && inst->cfg.client_auth == CLIENT_AUTH_AUTO &&
        client_key_present(&inst->secrets, &inst->cfg))
        return err_set(err, VAP_E_CONFIG,
                       "no client secret is sealed, but a signing key is: add "
                       "client_auth=private_key_jwt to the config (the server's OpenID "
                       "configuration does not list private_key_jwt, so auto does not pick it)");
    return rc;
}

/* invalid_client to a signed assertion is about the key, not a secret. */
static int assertion_refused(const struct http_response *rs, const char *kid, vap_error *err)
{
    tokresp_error e;
    char desc[sizeof e.description];
    if (tokresp_error_parse(rs->body, rs->body_len, &e) != 0 ||
        strcmp(e.error, "invalid_client") != 0)
        return VAP_OK; /* any other answer is the caller's to read */
    tokresp_clean_text(e.description[0] ? e.description : "no reason given", desc, sizeof desc);
    return err_set(err, VAP_E_CLIENT,
                   "The server refused the client's signed assertion (invalid_client, HTTP %d: "
                   "%s): check that the JWKS registered for this client (vap-seal jwks) holds key %s, "
                   "that an admin enabled the client (Administration > System > API Clients) and "
                   "that this machine's clock is right",
                   rs->status, desc, kid);
}
