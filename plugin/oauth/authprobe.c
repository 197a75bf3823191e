/* authprobe.c - the authorization endpoint's probe (authprobe.h). */
#include "oauth/authprobe.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/url.h"
#include "http/http.h"
#include "instance.h"
#include "jose/b64url.h"
#include "oauth/redirect.h"
#include "oauth/tokenresp.h"

#define PROBE_URL_MAX 8192

static int add_query(char *url, size_t cap, size_t *used, const char *name, const char *value);
static void random_challenge(char *out, size_t cap);
static int same_origin(const char *base, const char *loc);

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
    random_challenge(challenge, sizeof challenge);
    if (used >= sizeof url || add_query(url, sizeof url, &used, "response_type", "code") != 0 ||
        add_query(url, sizeof url, &used, "client_id", client_id) != 0 ||
        add_query(url, sizeof url, &used, "redirect_uri", redirect_uri) != 0 ||
        add_query(url, sizeof url, &used, "scope", scope) != 0 ||
        add_query(url, sizeof url, &used, "state", "vap-check") != 0 ||
        add_query(url, sizeof url, &used, "code_challenge", challenge) != 0 ||
        add_query(url, sizeof url, &used, "code_challenge_method", "S256") != 0)
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
    /* Only OpenEMR's own answer counts: a 401 from a reverse proxy (Basic
     * auth, an empty page) says nothing about the client. */
    if (parsed && strcmp(e.error, "invalid_client") == 0 && rs.status >= 400 &&
        rs.status <= 499) {
        *verdict = PROBE_AUTHZ_CLIENT;
        snprintf(detail, detail_cap, "HTTP %d invalid_client", rs.status);
    } else if (rs.status >= 300 && rs.status <= 399 && rs.hdrs.location[0] != '\0') {
        size_t rl = strlen(redirect_uri);
        const char *loc = rs.hdrs.location;
        int to_client = strncmp(loc, redirect_uri, rl) == 0 &&
                        (loc[rl] == '\0' || loc[rl] == '?' || loc[rl] == '#');
        redirect_result rr;
        vap_error perr;
        VAP_INIT(vap_error, perr);
        memset(&rr, 0, sizeof rr);
        int cb = to_client && redirect_parse(loc, strlen(loc), &rr, &perr) == VAP_OK;
        if (!to_client && same_origin(authorization_url, loc)) {
            /* Sent on to the login page: client, redirect URI and scope passed. */
            *verdict = PROBE_AUTHZ_ACCEPTED;
            snprintf(detail, detail_cap, "HTTP %d to the login page", rs.status);
        } else if (!to_client) {
            /* Another host (SSO), another scheme or port: not OpenEMR's login
             * page, so not OpenEMR's verdict on the client. */
            struct url_parts u;
            if (url_split(loc, strlen(loc), &u) == 0)
                snprintf(detail, detail_cap, "HTTP %d to %.*s://%.*s, not this server's login "
                         "page", rs.status, (int)u.scheme_len, u.scheme,
                         (int)(u.host_len > 80 ? 80 : u.host_len), u.host);
            else
                snprintf(detail, detail_cap, "HTTP %d to another origin, not this server's "
                         "login page", rs.status);
        } else if (cb && rr.error != NULL && strcmp(rr.error, "invalid_scope") == 0) {
            char name[96];
            *verdict = PROBE_AUTHZ_SCOPE;
            if (tokresp_hint_name(rr.hint, name, sizeof name))
                snprintf(detail, detail_cap, "%s", name);
        } else if (cb && rr.error == NULL) {
            /* Approved at once (no login): the code is never used. */
            *verdict = PROBE_AUTHZ_ACCEPTED;
            snprintf(detail, detail_cap, "HTTP %d to the redirect URI", rs.status);
        } else {
            snprintf(detail, detail_cap, "HTTP %d redirect with error %.60s", rs.status,
                     cb && rr.error ? rr.error : "(unreadable)");
        }
        if (cb)
            redirect_free(&rr);
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

/* A random S256-shaped challenge (43 base64url characters): no verifier
 * exists for it, so the code a server might mint for it cannot be used. */
static void random_challenge(char *out, size_t cap)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    if (b64url_encode(raw, sizeof raw, out, cap) != 0)
        out[0] = '\0';
    sodium_memzero(raw, sizeof raw);
}

/* 1 when a Location (absolute, scheme-relative or relative) names the
 * origin of base, the authorization endpoint it came from. */
static int same_origin(const char *base, const char *loc)
{
    struct url_parts b, l;
    char abs[URL_MAX_LEN + 16];
    if (url_split(base, strlen(base), &b) != 0)
        return 0;
    if (strncmp(loc, "//", 2) == 0) {
        int n = snprintf(abs, sizeof abs, "%.*s:%s", (int)b.scheme_len, b.scheme, loc);
        if (n < 0 || (size_t)n >= sizeof abs)
            return 0;
        loc = abs;
    } else if (strstr(loc, "://") == NULL || strcspn(loc, "/?#") < (size_t)(strstr(loc, "://") - loc)) {
        /* No scheme: a path on base's own origin. */
        return 1;
    }
    return url_split(loc, strlen(loc), &l) == 0 && url_same_origin(&b, &l);
}
