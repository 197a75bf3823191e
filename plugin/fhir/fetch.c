/* fetch.c - one authenticated request on behalf of the host.
 *
 * The hot path: the bearer token is copied from the in-memory grant (no disk,
 * no allocation of secure memory), the body goes back to the host as bytes
 * (never parsed on success), and only error bodies are looked at. */
#include "fhir/fetch.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oauth/authorize.h"
#include "core/errors.h"
#include "oauth/grant.h"
#include "http/http.h"
#include "instance.h"
#include "core/json.h"
#include "core/log.h"
#include "core/object.h"
#include "oauth/refresh.h"
#include "core/retry.h"
#include "oauth/tokenresp.h"

#define FETCH_FRESH_TOKEN_MS 60000 /* a 401 "Unauthorized" on a token this new is a scope */
#define FETCH_MAX_HEADERS 5

/* The response object; the header values live in its own allocation, after
 * it, so a response costs one allocation besides the body. */
struct fetch_obj {
    vap_fetch_response r;
    char *body;
    vap_header headers[FETCH_MAX_HEADERS];
    char strings[]; /* content_type, then each header value, NUL-terminated */
};

static void fetch_obj_dtor(void *obj);
static int make_response(struct http_response *rs, vap_fetch_response **out);
static int classify_auth_401(const char *body, size_t len);
static int bearer(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel, int force,
                  uint64_t seen, char token[GRANT_TOKEN_MAX], size_t *hw, uint64_t *gen,
                  int64_t *obtained, vap_error *err);

int fetch_check_path(const char *path, size_t len, vap_error *err)
{
    if (path == NULL || len == 0)
        return err_set(err, VAP_E_INVAL, "fetch: the path is empty (e.g. Patient/123)");
    if (len > FETCH_PATH_MAX)
        return err_set(err, VAP_E_INVAL, "fetch: the path is longer than %d bytes",
                       FETCH_PATH_MAX);
    size_t i = path[0] == '/' ? 1 : 0;
    if (i == len)
        return err_set(err, VAP_E_INVAL, "fetch: the path is empty (e.g. Patient/123)");
    /* 1: refused outright; 2: refused in some company (':', '%') */
    static const unsigned char cls[256] = {
        [0 ... 0x20] = 1, [0x7f ... 0xff] = 1, ['?'] = 1, ['#'] = 1, ['\\'] = 1,
        [':'] = 2, ['%'] = 2,
    };
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)path[k];
        if (cls[c] == 0)
            continue; /* most characters of every path */
        if (cls[c] == 1)
            return err_set(err, VAP_E_INVAL,
                           "fetch: the path has a space, control character, '?', '#' or '\\' "
                           "at byte %zu (put the query in the query, not the path)", k + 1);
        if (c == ':' && k + 2 < len && path[k + 1] == '/' && path[k + 2] == '/')
            return err_set(err, VAP_E_INVAL,
                           "fetch: absolute URLs are refused; give a path relative to fhir_base "
                           "(e.g. Patient/123)");
        /* Encoded '.', '/' and '\\' would let a server or proxy that decodes
         * them see segments this check never saw. */
        if (c == '%' && k + 2 < len &&
            ((path[k + 1] == '2' && ((path[k + 2] | 0x20) == 'e' || (path[k + 2] | 0x20) == 'f')) ||
             (path[k + 1] == '5' && (path[k + 2] | 0x20) == 'c')))
            return err_set(
                err, VAP_E_INVAL,
                "fetch: encoded dots and slashes (%%2e, %%2f, %%5c) are refused in paths "
                "(byte %zu)",
                k + 1);
    }
    /* Segments: none empty, none "." or "..". */
    while (i <= len) {
        size_t s = i;
        while (i < len && path[i] != '/')
            i++;
        size_t n = i - s;
        if (n == 0)
            return err_set(err, VAP_E_INVAL, "fetch: the path has an empty segment ('//')");
        if ((n == 1 && path[s] == '.') || (n == 2 && path[s] == '.' && path[s + 1] == '.'))
            return err_set(err, VAP_E_INVAL,
                           "fetch: '.' and '..' segments are refused: the path must stay under "
                           "the base");
        i++;
    }
    return VAP_OK;
}

int fetch_check_query(const char *query, size_t len, vap_error *err)
{
    if (len > FETCH_QUERY_MAX)
        return err_set(err, VAP_E_INVAL, "fetch: the query is longer than %d bytes",
                       FETCH_QUERY_MAX);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)query[k];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return err_set(err, VAP_E_INVAL,
                           "fetch: the query has a space, control character or '#' at byte %zu "
                           "(percent-encode it)", k + 1);
    }
    return VAP_OK;
}

void fetch_error_summary(const char *body, size_t len, char *out, size_t cap)
{
    char why[64];
    if (cap == 0)
        return;
    out[0] = '\0';
    if (body == NULL || len == 0) {
        snprintf(out, cap, "(empty body)");
        return;
    }
    json_t *root = pjson_parse(body, len, 1u << 20, why, sizeof why);
    if (root == NULL) {
        char raw[160];
        size_t n = len < sizeof raw - 1 ? len : sizeof raw - 1;
        memcpy(raw, body, n);
        raw[n] = '\0';
        tokresp_clean_text(raw, out, cap);
        return;
    }
    const char *msg = NULL;
    if (json_is_array(root) && json_array_size(root) == 0) {
        msg = "not found (empty result)";
    } else if (json_is_object(root)) {
        const char *rt = pjson_str(root, "resourceType");
        if (rt != NULL && strcmp(rt, "OperationOutcome") == 0) {
            json_t *issue = json_array_get(json_object_get(root, "issue"), 0);
            msg = pjson_str(issue, "diagnostics");
            if (msg == NULL)
                msg = pjson_str(json_object_get(issue, "details"), "text");
        } else if (json_object_get(root, "validationErrors") != NULL) {
            msg = "the server refused the data (validationErrors)";
        } else if (json_object_get(root, "internalErrors") != NULL) {
            msg = "the server failed internally (internalErrors)";
        } else {
            msg = pjson_str(root, "message");
            if (msg == NULL)
                msg = pjson_str(root, "error_description");
            if (msg == NULL)
                msg = pjson_str(root, "error");
        }
    }
    tokresp_clean_text(msg ? msg : "(no message)", out, cap);
    json_decref(root);
}

void fetch_needed_scope(const char *path, int standard_api, int write, const char *ctx,
                        char *out, size_t cap)
{
    char seg[64] = "";
    if (path[0] == '/')
        path++;
    if (!standard_api) {
        size_t n = strcspn(path, "/");
        snprintf(seg, sizeof seg, "%.*s", (int)(n < 63 ? n : 63), path);
        snprintf(out, cap, "%s/%s.%s", ctx, seg, write ? "write" : "read");
        return;
    }
    /* Standard API: the last segment that is not an id names the resource. */
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, "/");
        int id = n > 0 && strspn(p, "0123456789abcdef-") == n;
        if (!id && n < sizeof seg)
            snprintf(seg, sizeof seg, "%.*s", (int)n, p);
        p += n;
        if (*p == '/')
            p++;
    }
    snprintf(out, cap, "api:oemr user/%s.%s", seg, write ? "write" : "read");
}

int fetch_do(struct vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
             vap_fetch_response **out, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    int64_t deadline = authz_deadline(inst, call);
    vap_cancel *cancel = authz_cancel(call);
    char token[GRANT_TOKEN_MAX];
    size_t token_hw = 0; /* bytes of token ever written: what to wipe */
    char *url = NULL;
    int rc;

    if (req == NULL || !VAP_HAS(req, path) || req->path == NULL)
        return err_set(err, VAP_E_INVAL, "fetch: no request or no path");
    const char *method = VAP_HAS(req, method) && req->method ? req->method : "GET";
    uint32_t flags = VAP_HAS(req, flags) ? req->flags : 0;
    const char *query = VAP_HAS(req, query) ? req->query : NULL;
    const void *body = VAP_HAS(req, body) ? req->body : NULL;
    size_t body_len = VAP_HAS(req, body_len) ? req->body_len : 0;
    const char *ctype = VAP_HAS(req, content_type) && req->content_type ? req->content_type
                                                                         : "application/json";
    if (flags & VAP_FETCH_ALL_PAGES)
        return err_set(err, VAP_E_UNSUPPORTED,
                       "fetch: paging (VAP_FETCH_ALL_PAGES) is not implemented in this version");
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
        return err_set(err, VAP_E_INVAL, "fetch: method must be GET, POST or PUT");
    int write = method[0] != 'G';
    if (!write && body != NULL && body_len > 0)
        return err_set(err, VAP_E_INVAL, "fetch: a GET has no body");
    size_t plen = strlen(req->path);
    if ((rc = fetch_check_path(req->path, plen, err)) != VAP_OK ||
        (query && (rc = fetch_check_query(query, strlen(query), err)) != VAP_OK))
        return rc;

    if (write && (flags & VAP_FETCH_STANDARD_API) && refresh_backend(cfg))
        return err_set(err, VAP_E_DENIED,
                       "fetch: this instance uses backend services (grant=client_credentials) "
                       "and a system/ token cannot write SOAP notes or other standard-API "
                       "records (OpenEMR grants those scopes only as user/ and patient/): use "
                       "grant=authorization_code, authorized by a staff member, for writes");
    const char *base = (flags & VAP_FETCH_STANDARD_API) ? cfg->api_base : cfg->fhir_base;
    const char *path = req->path[0] == '/' ? req->path + 1 : req->path;
    /* base/path?query, copied rather than formatted (this runs per request),
     * on the stack when it fits */
    char ubuf[1024];
    size_t bl = strlen(base), pl = strlen(path), ql = query ? strlen(query) : 0;
    size_t ulen = bl + 1 + pl + (query ? 1 + ql : 0) + 1;
    url = ulen <= sizeof ubuf ? ubuf : malloc(ulen);
    if (url == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    memcpy(url, base, bl);
    url[bl] = '/';
    memcpy(url + bl + 1, path, pl);
    if (query != NULL) {
        url[bl + 1 + pl] = '?';
        memcpy(url + bl + 2 + pl, query, ql);
    }
    url[ulen - 1] = '\0';

    uint64_t gen = 0;
    int64_t obtained = 0;
    int renewed_after_401 = 0;
    int64_t metric_start = pmetric_start(); /* 0: the host takes no metrics */
    static const char *const accept[] = {"Accept: application/json"};
    struct http_response rs;
    http_response_init(&rs);
    if ((rc = bearer(inst, deadline, cancel, 0, 0, token, &token_hw, &gen, &obtained,
                     err)) != VAP_OK)
        goto out;
    for (int attempt = 0;; attempt++) {
        struct http_request rq = {
            .method = method,
            .url = url,
            .headers = accept,
            .n_headers = 1,
            .bearer = token,
            .body = body,
            .body_len = body_len,
            .content_type = write ? ctype : NULL,
            .max_response = (size_t)cfg->max_response_bytes,
            .deadline_ms = deadline,
            .cancel = cancel,
        };
        http_response_free(&rs);
        rc = http_request_do(inst->http, &rq, &rs, err);
        int status = rc == VAP_OK ? rs.status : 0;
        if (rc == VAP_OK && status == 401 && !renewed_after_401) {
            int64_t age = plugin_now_ms() - obtained;
            int invalid_token = classify_auth_401(rs.body, rs.body_len);
            if (!invalid_token && age < FETCH_FRESH_TOKEN_MS)
                goto denied; /* a scope problem a renewal cannot fix */
            /* Rule 7: re-read the sealed grant and renew once, then retry once. */
            renewed_after_401 = 1;
            plog(VAP_LOG_INFO, "the server refused the access token (401): renewing once");
            if ((rc = bearer(inst, deadline, cancel, 1, gen, token, &token_hw, &gen, &obtained,
                             err)) != VAP_OK)
                goto out;
            continue;
        }
        if (rc == VAP_OK && status == 401)
            goto denied;
        if (rc == VAP_OK && status == 400 && fetch_is_logged_out(rs.body, rs.body_len)) {
            /* Rule 6: OpenEMR's answer after a logout or a revocation.  A
             * refresh cannot help (the refresh token went with it). */
            int mrc = renewed_after_401 ? VAP_OK
                                        : refresh_mark_reauth(inst, gen, deadline, cancel, err);
            if (mrc == 1) {
                /* Another process stored a newer grant meanwhile: try it once. */
                renewed_after_401 = 1;
                if ((rc = bearer(inst, deadline, cancel, 0, 0, token, &token_hw, &gen, &obtained,
                     err)) != VAP_OK)
                    goto out;
                continue;
            }
            if (mrc != VAP_OK)
                plog(VAP_LOG_WARN, "could not mark the grant for re-authorization: %s",
                     err ? err->message : err_name(mrc));
            err_set_http(err, 400, 0, NULL);
            rc = err_set(err, VAP_E_REAUTH_REQUIRED,
                         "OpenEMR says the grant was revoked or its user logged out (HTTP 400): "
                         "a staff member must authorize again (vap-host authorize)");
            goto out;
        }
        if (!write && retry_is_transient(rc, status)) {
            int ra = rc == VAP_OK ? http_retry_after_s(rs.hdrs.retry_after,
                                                       strlen(rs.hdrs.retry_after),
                                                       plugin_now_ms() / 1000)
                                  : 0;
            if (retry_wait(attempt + 1, ra > 0 ? ra : 0, deadline, cancel) == VAP_OK)
                continue;
            if (rc == VAP_OK) {
                err_set_http(err, status, ra > 0 ? ra : 0, NULL);
                rc = err_set(err, VAP_E_UNAVAILABLE,
                             "the server answered HTTP %d repeatedly: it is unavailable; try "
                             "again later", status);
                make_response(&rs, out);
            }
            goto out;
        }
        if (rc != VAP_OK)
            goto out;
        break;
    }
    {
        int status = rs.status;
        char summary[160];
        err_set_http(err, status, 0, NULL);
        if (status >= 200 && status <= 299) {
            rc = make_response(&rs, out) == 0 ? VAP_OK : err_set(err, VAP_E_NOMEM, "out of memory");
            goto out;
        }
        fetch_error_summary(rs.body, rs.body_len, summary, sizeof summary);
        if (status == 403)
            rc = err_set(err, VAP_E_DENIED,
                         "the server refused access (HTTP 403: %s): the authorizing user's "
                         "OpenEMR permissions (ACL) or role do not allow this%s",
                         summary, (flags & VAP_FETCH_STANDARD_API) ? ", or api:oemr is missing"
                                                                   : "");
        else if (status == 429 || status >= 500)
            rc = err_set(err, VAP_E_UNAVAILABLE, "the server answered HTTP %d (%s)", status,
                         summary);
        else
            rc = err_set(err, VAP_E_HTTP, "the server answered HTTP %d: %s", status, summary);
        make_response(&rs, out);
        goto out;
    }
denied : {
    char need[160];
    struct refresher *r = &inst->refresher;
    pthread_mutex_lock(&r->mu);
    const char *ctx = strstr(r->cur->scope, "patient/") != NULL &&
                              strstr(r->cur->scope, "user/") == NULL
                          ? "patient"
                          : "user";
    pthread_mutex_unlock(&r->mu);
    fetch_needed_scope(path, (flags & VAP_FETCH_STANDARD_API) != 0, write, ctx, need,
                       sizeof need);
    err_set_http(err, 401, 0, NULL);
    rc = err_set(err, VAP_E_DENIED,
                 "the server refused this request with 401 although the token is fresh: the "
                 "grant lacks the scope it needs (%s); add it to scope= and authorize again",
                 need);
    make_response(&rs, out);
}
out:
    pmetric_fetch(rs.status, metric_start);
    sodium_memzero(token, token_hw);
    http_response_free(&rs);
    if (url != ubuf)
        free(url);
    return rc;
}

/* ---- helpers --------------------------------------------------------------- */

/* refresh_bearer into the caller's stack buffer, remembering how much of it
 * was ever written so the wipe at the end covers every token it held
 * without clearing 16 KB on every request. */
static int bearer(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel, int force,
                  uint64_t seen, char token[GRANT_TOKEN_MAX], size_t *hw, uint64_t *gen,
                  int64_t *obtained, vap_error *err)
{
    token[0] = '\0';
    int rc = refresh_bearer(inst, deadline, cancel, force, seen, token, GRANT_TOKEN_MAX, gen,
                            obtained, err);
    size_t n = strnlen(token, GRANT_TOKEN_MAX - 1) + 1;
    if (n > *hw)
        *hw = n;
    return rc;
}

/* 1 when a 401 says the token itself is bad (renewing may help), 0 when it
 * is OpenEMR's "Unauthorized" or empty (a missing scope). */
static int classify_auth_401(const char *body, size_t len)
{
    static const char denied[] = "The resource owner or authorization server denied the request";
    if (body == NULL || len == 0)
        return 0;
    if (len >= sizeof denied - 1 && memmem(body, len, denied, sizeof denied - 1) != NULL)
        return 1;
    if (memmem(body, len, "access_denied", 13) != NULL ||
        memmem(body, len, "invalid_token", 13) != NULL ||
        memmem(body, len, "expired", 7) != NULL)
        return 1;
    return 0;
}

/* OpenEMR's 400 after /logout or a revoked grant (OPENEMR.md section 9). */
int fetch_is_logged_out(const char *body, size_t len)
{
    static const char msg[] = "Refresh Token revoked or logged out";
    static const char *const fields[] = {"error", "error_description", "message"};
    char why[64];
    if (body == NULL || len < sizeof msg - 1)
        return 0;
    /* Only OpenEMR's own error fields: a resource or a proxy page that
     * quotes the phrase must not cost the practice its grant. */
    json_t *root = pjson_parse(body, len, 1u << 20, why, sizeof why);
    int hit = 0;
    for (size_t i = 0; root != NULL && json_is_object(root) && i < sizeof fields / sizeof fields[0];
         i++) {
        const char *v = pjson_str(root, fields[i]);
        hit |= v != NULL && strstr(v, msg) != NULL;
    }
    json_decref(root);
    return hit;
}

static void fetch_obj_dtor(void *obj)
{
    struct fetch_obj *o = obj;
    http_body_free(o->body, o->r.body_len); /* patient data: wiped */
}

/* Copies value into o's strings at *at and lists it as header name. */
static void add_header(struct fetch_obj *o, size_t *at, const char *name, const char *value,
                       size_t len)
{
    if (len == 0 || o->r.n_headers >= FETCH_MAX_HEADERS)
        return;
    char *v = o->strings + *at;
    memcpy(v, value, len + 1);
    *at += len + 1;
    o->headers[o->r.n_headers].name = name;
    o->headers[o->r.n_headers].value = v;
    o->r.n_headers++;
}

/* Moves the body out of rs into a new response object. */
static int make_response(struct http_response *rs, vap_fetch_response **out)
{
    if (out == NULL || *out != NULL)
        return 0;
    const struct http_hdrs *h = &rs->hdrs;
    size_t ct = strlen(h->content_type), loc = strlen(h->location), link = strlen(h->link),
           ra = strlen(h->retry_after), wa = strlen(h->www_authenticate);
    /* content_type twice: the field and the Content-Type header */
    size_t extra = 2 * (ct + 1) + loc + link + ra + wa + 4;
    struct fetch_obj *o = obj_new(sizeof *o + extra, fetch_obj_dtor);
    if (o == NULL)
        return -1;
    o->r.struct_size = sizeof o->r; /* the host sees a vap_fetch_response */
    o->r.status = rs->status;
    o->body = rs->body ? rs->body : http_body_alloc(1, NULL);
    o->r.body_len = rs->body ? rs->body_len : 0;
    rs->body = NULL;
    rs->body_len = 0;
    if (o->body == NULL) {
        obj_release(o);
        return -1;
    }
    o->body[o->r.body_len] = '\0';
    size_t at = ct + 1;
    memcpy(o->strings, h->content_type, ct + 1);
    add_header(o, &at, "Content-Type", h->content_type, ct);
    add_header(o, &at, "Location", h->location, loc);
    add_header(o, &at, "Link", h->link, link);
    add_header(o, &at, "Retry-After", h->retry_after, ra);
    add_header(o, &at, "WWW-Authenticate", h->www_authenticate, wa);
    o->r.body = o->body;
    o->r.content_type = o->strings;
    o->r.headers = o->headers;
    o->r.pages = 1;
    *out = &o->r;
    return 0;
}
