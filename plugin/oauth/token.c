/* token.c - the token endpoint request shared by the code exchange, the
 * refresh and check's credential probe (see token.h). */
#include "oauth/token.h"

#include <string.h>

#include "oauth/discovery.h"
#include "core/errors.h"
#include "http/http.h"
#include "oauth/tokenresp.h"

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
    return http_request_do(http, &rq, rs, err);
}
