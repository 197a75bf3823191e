/* probe.c - side-effect-free questions to the token and authorization
 * endpoints (probe.h).  Neither request can create or spend anything: the
 * code is random (it names no grant), and the authorization request asks
 * for a PKCE method OpenEMR always refuses. */
#include "admin/probe.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "jose/b64url.h"
#include "oauth/discovery.h"
#include "core/errors.h"
#include "http/http.h"
#include "instance.h"
#include "oauth/redirect.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

#define PROBE_URL_MAX 8192

static int add_query(char *url, size_t cap, size_t *used, const char *name, const char *value);
static void random_token(char *out, size_t cap);

int probe_token(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                const char *client_id, const char *secret, const char *redirect_uri,
                int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                size_t detail_cap, vap_error *err)
{
    char code[64], verifier[64];
    struct http_form form;
    struct http_response rs;
    int rc;

    *verdict = PROBE_TOKEN_UNCLEAR;
    detail[0] = '\0';
    http_form_init(&form);
    http_response_init(&rs);
    random_token(code, sizeof code);
    random_token(verifier, sizeof verifier);
    if (http_form_add(&form, "grant_type", "authorization_code") != 0 ||
        http_form_add(&form, "code", code) != 0 ||
        http_form_add(&form, "redirect_uri", redirect_uri) != 0 ||
        http_form_add(&form, "code_verifier", verifier) != 0) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory building the token request");
        goto out;
    }
    if (auth_method == DISC_AUTH_PRIVATE_KEY_JWT) {
        /* signed with the instance's sealed key for its own client_id */
        rc = token_post_client(inst, token_url, auth_method, &form, deadline_ms, cancel, &rs, err);
        if (rc == VAP_E_CLIENT && rs.status != 0) {
            *verdict = PROBE_TOKEN_REJECTED;
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
        *verdict = PROBE_TOKEN_REJECTED;
        snprintf(detail, detail_cap, "HTTP %d invalid_client", rs.status);
    } else if (parsed && rs.status == 400 &&
               (strcmp(e.error, "invalid_request") == 0 || strcmp(e.error, "invalid_grant") == 0)) {
        *verdict = PROBE_TOKEN_ACCEPTED;
        snprintf(detail, detail_cap, "HTTP 400 %s for a made-up code", e.error);
    } else {
        snprintf(detail, detail_cap, "HTTP %d%s%s", rs.status, parsed ? " " : "",
                 parsed ? e.error : "");
    }
    rc = VAP_OK;
out:
    sodium_memzero(code, sizeof code);
    sodium_memzero(verifier, sizeof verifier);
    http_form_free(&form);
    http_response_free(&rs);
    return rc;
}

int probe_authorize(struct vap_instance *inst, const char *authorization_url,
                    const char *client_id, const char *redirect_uri, const char *scope,
                    int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                    size_t detail_cap, vap_error *err)
{
    char url[PROBE_URL_MAX], challenge[64];
    size_t used;
    struct http_response rs;
    int rc;

    *verdict = PROBE_AUTHZ_UNCLEAR;
    detail[0] = '\0';
    http_response_init(&rs);
    used = (size_t)snprintf(url, sizeof url, "%s", authorization_url);
    random_token(challenge, sizeof challenge);
    if (used >= sizeof url || add_query(url, sizeof url, &used, "response_type", "code") != 0 ||
        add_query(url, sizeof url, &used, "client_id", client_id) != 0 ||
        add_query(url, sizeof url, &used, "redirect_uri", redirect_uri) != 0 ||
        add_query(url, sizeof url, &used, "scope", scope) != 0 ||
        add_query(url, sizeof url, &used, "state", "vap-check") != 0 ||
        add_query(url, sizeof url, &used, "code_challenge", challenge) != 0 ||
        add_query(url, sizeof url, &used, "code_challenge_method", "plain") != 0)
        return err_set(err, VAP_E_CONFIG, "the authorization URL would be longer than %d "
                                          "bytes: shorten scope=", PROBE_URL_MAX);
    struct http_request rq = {
        .method = "GET",
        .url = url,
        .max_response = 64u * 1024u,
        .deadline_ms = deadline_ms,
        .cancel = cancel,
    };
    if ((rc = http_request_do(inst->http, &rq, &rs, err)) != VAP_OK)
        goto out;
    tokresp_error e;
    int parsed = tokresp_error_parse(rs.body, rs.body_len, &e) == VAP_OK;
    if (rs.status == 401 || (parsed && strcmp(e.error, "invalid_client") == 0)) {
        *verdict = PROBE_AUTHZ_CLIENT;
        snprintf(detail, detail_cap, "HTTP %d invalid_client", rs.status);
    } else if (rs.status >= 300 && rs.status <= 399 && rs.hdrs.location[0] != '\0') {
        redirect_result rr;
        vap_error perr;
        VAP_INIT(vap_error, perr);
        if (redirect_parse(rs.hdrs.location, strlen(rs.hdrs.location), &rr, &perr) == VAP_OK &&
            rr.error != NULL && strcmp(rr.error, "invalid_scope") == 0) {
            char name[96];
            *verdict = PROBE_AUTHZ_SCOPE;
            if (tokresp_hint_name(rr.hint, name, sizeof name))
                snprintf(detail, detail_cap, "%s", name);
        } else {
            snprintf(detail, detail_cap, "HTTP %d redirect", rs.status);
        }
        redirect_free(&rr);
    } else if (rs.status == 400 && parsed && strcmp(e.error, "invalid_request") == 0 &&
               strstr(e.hint, "hallenge") != NULL) {
        /* Refused for the PKCE method we chose: everything before it passed. */
        *verdict = PROBE_AUTHZ_ACCEPTED;
        snprintf(detail, detail_cap, "accepted");
    } else {
        snprintf(detail, detail_cap, "HTTP %d%s%s", rs.status, parsed ? " " : "",
                 parsed ? e.error : "");
    }
    rc = VAP_OK;
out:
    http_response_free(&rs);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------- */

static int add_query(char *url, size_t cap, size_t *used, const char *name, const char *value)
{
    int n = snprintf(url + *used, cap - *used, "%c%s=", strchr(url, '?') ? '&' : '?', name);
    if (n < 0 || (size_t)n >= cap - *used)
        return -1;
    *used += (size_t)n;
    size_t w = http_form_encode(value, strlen(value), url + *used, cap - *used);
    if (w == (size_t)-1)
        return -1;
    *used += w;
    return 0;
}

/* 32 random bytes as base64url: 43 characters, the PKCE alphabet. */
static void random_token(char *out, size_t cap)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    if (b64url_encode(raw, sizeof raw, out, cap) != 0)
        out[0] = '\0';
    sodium_memzero(raw, sizeof raw);
}
