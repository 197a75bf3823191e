/* token.c - the token endpoint request shared by the code exchange, the
 * refresh and check's credential probe (see token.h). */
#include "oauth/token.h"

#include <string.h>

#include "oauth/discovery.h"
#include "core/errors.h"
#include "core/log.h"
#include "http/http.h"
#include "oauth/tokenresp.h"

static void token_metric(int rc, const struct http_response *rs, const struct http_form *form,
                         int64_t start);

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
    if (auth_method == DISC_AUTH_BASIC) {
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
