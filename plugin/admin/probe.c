/* probe.c - the side-effect-free question to the token endpoint (probe.h):
 * the refresh token is random, so it names no grant and spends nothing.
 * The authorization endpoint's probe is oauth/authprobe.c (authorize asks
 * it too). */
#include "admin/probe.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "admin/admparse.h"
#include "core/json.h"
#include "jose/b64url.h"
#include "core/errors.h"
#include "http/http.h"
#include "instance.h"
#include "core/log.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

static void random_token(char *out, size_t cap);

int probe_client(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                 const char *client_id, const char *secret, int64_t deadline_ms,
                 vap_cancel *cancel, int *verdict, char *detail, size_t detail_cap,
                 vap_error *err)
{
    PMETRIC_PAUSED;
    char token[64];
    struct http_form form;
    struct http_response rs;
    int rc;

    *verdict = PROBE_CLIENT_UNCLEAR;
    detail[0] = '\0';
    http_form_init(&form);
    http_response_init(&rs);
    random_token(token, sizeof token);
    if (http_form_add(&form, "grant_type", "refresh_token") != 0 ||
        http_form_add(&form, "refresh_token", token) != 0) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory building the token request");
        goto out;
    }
    if (auth_method == DISC_AUTH_PRIVATE_KEY_JWT) {
        /* signed with the instance's sealed key for its own client_id */
        rc = token_post_client(inst, token_url, auth_method, &form, deadline_ms, cancel, &rs, err);
        if (rc == VAP_E_CLIENT && rs.status != 0) {
            *verdict = PROBE_CLIENT_REJECTED;
            snprintf(detail, detail_cap, "HTTP %d invalid_client", rs.status);
            rc = VAP_OK;
            goto out;
        }
    } else {
        rc = token_post(inst->http, token_url, auth_method, client_id, secret, &form, deadline_ms,
                        cancel, &rs, err);
    }
    if (rc != VAP_OK)
        goto out;
    tokresp_error e;
    int parsed = tokresp_error_parse(rs.body, rs.body_len, &e) == VAP_OK;
    if (parsed && strcmp(e.error, "invalid_client") == 0) {
        *verdict = PROBE_CLIENT_REJECTED;
        snprintf(detail, detail_cap, "HTTP %d invalid_client", rs.status);
    } else if (parsed && (rs.status == 400 || rs.status == 401) &&
               (strcmp(e.error, "invalid_grant") == 0 ||
                (strcmp(e.error, "invalid_request") == 0 &&
                 strstr(e.description, "refresh token is invalid") != NULL))) {
        *verdict = PROBE_CLIENT_ENABLED;
        snprintf(detail, detail_cap, "HTTP %d %s for a made-up refresh token", rs.status,
                 e.error);
    } else {
        snprintf(detail, detail_cap, "HTTP %d%s%s", rs.status, parsed ? " " : "",
                 parsed ? e.error : "");
    }
    rc = VAP_OK;
out:
    sodium_memzero(token, sizeof token);
    http_form_free(&form);
    http_response_free(&rs);
    return rc;
}

int probe_jwks_uri(struct vap_instance *inst, const char *url, const char *kid,
                   int64_t deadline_ms, vap_cancel *cancel, int *found, vap_error *err)
{
    PMETRIC_PAUSED;
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {.method = "GET", .url = url, .headers = accept, .n_headers = 1,
                              .max_response = ADM_BODY_CAP, .deadline_ms = deadline_ms,
                              .cancel = cancel};
    struct http_response rs;
    char why[96];
    *found = 0;
    http_response_init(&rs);
    int rc = http_request_do(inst->http, &rq, &rs, err);
    if (rc != VAP_OK)
        return rc;
    if (rs.status != 200) {
        int st = rs.status;
        http_response_free(&rs);
        return err_set(err, VAP_E_CONFIG, "%.120s answered HTTP %d, not the key set", url, st);
    }
    json_t *root = pjson_parse(rs.body, rs.body_len, ADM_BODY_CAP, why, sizeof why);
    http_response_free(&rs);
    const json_t *keys = json_is_object(root) ? json_object_get(root, "keys") : NULL;
    if (!json_is_array(keys)) {
        json_decref(root);
        return err_set(err, VAP_E_CONFIG,
                       "%.120s does not serve a JSON Web Key Set (an object with a keys list)",
                       url);
    }
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k) {
        const char *v = json_is_object(k) ? pjson_str(k, "kid") : NULL;
        if (v != NULL && strcmp(v, kid) == 0)
            *found = 1;
    }
    json_decref(root);
    return VAP_OK;
}

/* ---- helpers ---------------------------------------------------------------- */

/* 32 random bytes as base64url: 43 characters, the PKCE alphabet. */
static void random_token(char *out, size_t cap)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    if (b64url_encode(raw, sizeof raw, out, cap) != 0)
        out[0] = '\0';
    sodium_memzero(raw, sizeof raw);
}
