/* http_req.c - the request/response edges of the HTTP layer: header lists
 * (credentials built in wiped buffers), libcurl results mapped to
 * vap_status with messages a practice admin can act on, and the redacted
 * debug line. */
#include "http/http_req.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "http/http_hdr.h"
#include "http/http_redact.h"
#include "core/log.h"

int http_req_headers(const struct http_request *rq, const char *ua_line,
                     struct curl_slist **out)
{
    int rc = VAP_E_NOMEM;
    struct curl_slist *l = NULL, *t;
    char *line = NULL;
    size_t cap = 0;
    *out = NULL;
    if ((l = curl_slist_append(NULL, ua_line)) == NULL)
        goto fail;
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *h = rq->headers[i];
        if (strpbrk(h, "\r\n") != NULL || strchr(h, ':') == NULL) {
            rc = VAP_E_INVAL;
            goto fail;
        }
        if ((t = curl_slist_append(l, h)) == NULL)
            goto fail;
        l = t;
    }
    if (rq->body != NULL || rq->content_type != NULL) {
        /* no 100-continue round trip on POST bodies over 1 KB */
        if ((t = curl_slist_append(l, "Expect:")) == NULL)
            goto fail;
        l = t;
    }
    if (rq->content_type != NULL) {
        if (strpbrk(rq->content_type, "\r\n") != NULL) {
            rc = VAP_E_INVAL;
            goto fail;
        }
        cap = strlen(rq->content_type) + 16;
        if ((line = malloc(cap)) == NULL)
            goto fail;
        snprintf(line, cap, "Content-Type: %s", rq->content_type);
        if ((t = curl_slist_append(l, line)) == NULL)
            goto fail;
        l = t;
        free(line);
        line = NULL;
    }
    if (rq->bearer != NULL) {
        if (strpbrk(rq->bearer, "\r\n") != NULL) {
            rc = VAP_E_INVAL;
            goto fail;
        }
        cap = strlen(rq->bearer) + 32;
        if ((line = malloc(cap)) == NULL)
            goto fail;
        snprintf(line, cap, "Authorization: Bearer %s", rq->bearer);
    } else if (rq->basic_user != NULL && rq->basic_pass != NULL) {
        size_t ul = strlen(rq->basic_user), pl = strlen(rq->basic_pass);
        size_t rawcap = 3 * (ul + pl) + 2;
        char *raw = malloc(rawcap);
        if (raw == NULL)
            goto fail;
        size_t a = http_form_encode(rq->basic_user, ul, raw, rawcap);
        raw[a] = ':';
        size_t b = http_form_encode(rq->basic_pass, pl, raw + a + 1, rawcap - a - 1);
        size_t enc = sodium_base64_ENCODED_LEN(a + 1 + b, sodium_base64_VARIANT_ORIGINAL);
        cap = enc + 32;
        if ((line = malloc(cap)) != NULL) {
            memcpy(line, "Authorization: Basic ", 21);
            sodium_bin2base64(line + 21, cap - 21, (unsigned char *)raw, a + 1 + b,
                              sodium_base64_VARIANT_ORIGINAL);
        }
        sodium_memzero(raw, rawcap);
        free(raw);
        if (line == NULL)
            goto fail;
    }
    if (line != NULL) {
        t = curl_slist_append(l, line);
        sodium_memzero(line, cap);
        free(line);
        line = NULL;
        if (t == NULL)
            goto fail;
        l = t;
    }
    *out = l;
    return VAP_OK;
fail:
    free(line);
    http_req_headers_free(l);
    return rc;
}

/* "PREFIX" followed by want, exactly. */
static int line_is(const char *line, const char *prefix, size_t plen, const char *want)
{
    return strncmp(line, prefix, plen) == 0 && strcmp(line + plen, want) == 0;
}

int http_req_headers_match(const struct http_request *rq, const struct curl_slist *l)
{
    if (rq->basic_user != NULL && rq->basic_pass != NULL)
        return 0; /* never kept: see http_req_headers_cacheable */
    if (l == NULL) /* the User-Agent line: the same in every list of a client */
        return 0;
    l = l->next;
    for (size_t i = 0; i < rq->n_headers; i++, l = l->next)
        if (l == NULL || strcmp(l->data, rq->headers[i]) != 0)
            return 0;
    if (rq->body != NULL || rq->content_type != NULL) {
        if (l == NULL || strcmp(l->data, "Expect:") != 0)
            return 0;
        l = l->next;
    }
    if (rq->content_type != NULL) {
        if (l == NULL || !line_is(l->data, "Content-Type: ", 14, rq->content_type))
            return 0;
        l = l->next;
    }
    if (rq->bearer != NULL) {
        if (l == NULL || !line_is(l->data, "Authorization: Bearer ", 22, rq->bearer))
            return 0;
        l = l->next;
    }
    return l == NULL;
}

int http_req_headers_cacheable(const struct http_request *rq)
{
    return rq->basic_user == NULL || rq->basic_pass == NULL;
}

/* The list may hold the bearer token or the Basic credentials: wipe it. */
void http_req_headers_free(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        sodium_memzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}


int http_req_map_error(CURLcode res, int too_large, size_t max, int hdr_rc,
                       const char *host, const char *via, const char *errbuf, vap_error *err)
{
    if (too_large || res == CURLE_FILESIZE_EXCEEDED)
        return err_set(err, VAP_E_PROTOCOL, "the answer from %s is larger than the "
                       "limit of %zu bytes and was cut off", host, max);
    if (hdr_rc == HTTP_HDR_TOO_BIG)
        return err_set(err, VAP_E_PROTOCOL, "the response headers from %s are "
                       "larger than the limit of %u bytes", host, HTTP_HDR_TOTAL_MAX);
    if (hdr_rc == HTTP_HDR_MALFORMED)
        return err_set(err, VAP_E_PROTOCOL, "%s sent a malformed response header",
                       host);
    /* Through a proxy, the proxy is named: it may be what failed. */
    char through[200] = "";
    const char *check = "the server is up and reachable from this machine";
    if (via != NULL) {
        snprintf(through, sizeof through, " through the proxy %s", via);
        check = "the proxy is up and lets this machine through, or set proxy=none";
    }
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(res);
    /* What the proxy itself answered (CONNECT refused) says more than the
     * generic text; libcurl's other error lines are too long to quote. */
    const char *proxy_why = strncmp(errbuf, "CONNECT", 7) == 0 || strncmp(errbuf, "Received HTTP", 13) == 0
                                ? errbuf
                                : curl_easy_strerror(res);
    switch (res) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return err_set(err, VAP_E_TLS, "the public key of %s%s does not match "
                       "pin_sha256: if the server's key was changed on purpose, "
                       "update pin_sha256", host, through);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return err_set(err, VAP_E_TLS, "the TLS certificate of %s%s was refused (%.80s): "
                       "check the server's certificate and host name, or set "
                       "ca_file to the CA that signed it", host, through, why);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return err_set(err, VAP_E_UNAVAILABLE, "cannot reach %s%s (%.80s): check that %s", host,
                       through, via != NULL ? proxy_why : curl_easy_strerror(res), check);
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, VAP_E_TIMEOUT, "no complete answer from %s%s before the deadline: "
                       "check %s, or raise timeout_ms", host, through,
                       via != NULL ? "the proxy" : "the server is up");
    case CURLE_OUT_OF_MEMORY:
        return err_set(err, VAP_E_NOMEM, "out of memory talking to %s", host);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, VAP_E_INVAL, "the address for %s is not a valid https "
                       "URL", host);
    default:
        return err_set(err, VAP_E_PROTOCOL, "the exchange with %s%s failed (%s)", host,
                       through, curl_easy_strerror(res));
    }
}

int http_req_is_https(const char *url)
{
    return strncasecmp(url, "https://", 8) == 0;
}

void http_req_host(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "(no host)");
}

void http_req_log(const struct http_request *rq, const char *method, int status,
                  size_t n, int64_t ms, int rc)
{
    char url[512], body[256] = "";
    /* The query is left out whole: FHIR searches carry patient names and
     * birth dates, which no log line may hold. */
    const char *u = rq->url ? rq->url : "";
    const char *q = strchr(u, '?');
    size_t ulen = q ? (size_t)(q - u) : strlen(u);
    size_t w = http_redact_url(u, ulen, url, sizeof url - 16);
    if (q != NULL && w < sizeof url - 16)
        memcpy(url + w, "?[query]", 9);
    /* Only form bodies are logged: JSON bodies may be patient data. */
    if (rq->body != NULL && rq->content_type != NULL &&
        strncmp(rq->content_type, "application/x-www-form-urlencoded", 33) == 0)
        http_redact_form(rq->body, rq->body_len, body, sizeof body);
    plog(VAP_LOG_DEBUG, "http %s %s%s%s -> %d (%s, %zu bytes, %lld ms)%s%s",
         method, url, rq->bearer ? " [bearer " HTTP_REDACTED "]" : "",
         rq->basic_user ? " [basic " HTTP_REDACTED "]" : "", status,
         rc == VAP_OK ? "ok" : "failed", n, (long long)ms, body[0] ? " body: " : "",
         body);
}
