/* http_xfer.c - one transfer on a pool slot: the handle's options, the run
 * loop that a deadline or a cancel token can end, and the callbacks that
 * read the body and the headers under their caps. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "http/http_int.h"
#include "http/http_req.h"

static size_t http_on_body(char *p, size_t sz, size_t n, void *ud);
static size_t http_on_header(char *p, size_t sz, size_t n, void *ud);

/* Options that never change for a client are set once per handle; only
 * what a request changes is set per request (curl_easy_reset and a full
 * re-configuration cost ~8% of a warm loopback request). */
int http_setup(struct http_client *c, struct http_slot *s,
                      const struct http_request *rq, struct curl_slist *hl, size_t max,
                      struct http_hdrs *hdrs)
{
    const char *m = rq->method ? rq->method : "GET";
    CURL *e = s->easy;
    CURLcode r = CURLE_OK;
    memset(&s->x, 0, sizeof s->x);
    s->x.easy = e;
    s->x.max = max;
    s->x.hdrs = hdrs;
    http_hdr_init(hdrs);
    s->errbuf[0] = '\0';
#define HTTP_SET(opt, val) do { if (r == CURLE_OK) r = curl_easy_setopt(e, opt, val); } while (0)
    if (!s->configured) {
        HTTP_SET(CURLOPT_NOSIGNAL, 1L);
        HTTP_SET(CURLOPT_PROTOCOLS_STR, "https");
        HTTP_SET(CURLOPT_FOLLOWLOCATION, 0L);
        HTTP_SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        HTTP_SET(CURLOPT_CAINFO, c->ca_file);
        HTTP_SET(CURLOPT_CAPATH, NULL);
        HTTP_SET(CURLOPT_SSL_VERIFYPEER, 1L);
        HTTP_SET(CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->pin != NULL)
            HTTP_SET(CURLOPT_PINNEDPUBLICKEY, c->pin);
        HTTP_SET(CURLOPT_SHARE, c->share);
        /* a CONNECT to a proxy carries none of the request's headers: its
         * User-Agent is given separately */
        HTTP_SET(CURLOPT_PROXYHEADER, c->ua_hl);
        HTTP_SET(CURLOPT_TCP_KEEPALIVE, 1L);
        HTTP_SET(CURLOPT_ERRORBUFFER, s->errbuf);
        HTTP_SET(CURLOPT_WRITEFUNCTION, http_on_body);
        HTTP_SET(CURLOPT_WRITEDATA, &s->x);
        HTTP_SET(CURLOPT_HEADERFUNCTION, http_on_header);
        HTTP_SET(CURLOPT_HEADERDATA, &s->x);
        /* The proxy is chosen per request (http_proxy.c): libcurl must not
         * consult no_proxy on its own. */
        HTTP_SET(CURLOPT_NOPROXY, "");
        if (r != CURLE_OK)
            goto out;
        s->configured = 1;
    }
    /* A warm GET of the same URL changes nothing but the buffers: options
     * equal to what the handle already holds are not set again. */
    if (s->url == NULL || strcmp(s->url, rq->url) != 0) {
        free(s->url);
        s->url = http_dup(rq->url);
        if (s->url == NULL)
            return VAP_E_NOMEM;
        HTTP_SET(CURLOPT_URL, rq->url);
    }
    const char *px = http_proxy_for(c, rq->url);
    if (s->proxy_set != px) {
        s->proxy_set = NULL; /* unknown until set */
        HTTP_SET(CURLOPT_PROXY, px);
        if (r == CURLE_OK)
            s->proxy_set = px;
    }
    if (s->max != max) {
        HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
        s->max = max;
    }
    /* libcurl keeps the pointer and reads the list at each transfer: a
     * list freed since and another at the same address is still right */
    if (hl == NULL)
        hl = c->ua_hl;
    if (hl != s->hl_set) {
        HTTP_SET(CURLOPT_HTTPHEADER, hl);
        s->hl_set = hl;
    }
    int kind = strcmp(m, "GET") == 0      ? HTTP_M_GET
               : strcmp(m, "HEAD") == 0   ? HTTP_M_HEAD
               : strcmp(m, "POST") == 0   ? HTTP_M_POST
               : strcmp(m, "PUT") == 0    ? HTTP_M_PUT
               : strcmp(m, "DELETE") == 0 ? HTTP_M_DELETE
               : strcmp(m, "OPTIONS *") == 0 ? HTTP_M_OPTIONS : 0;
    if (kind == 0)
        return VAP_E_INVAL;
    if (kind != s->method || kind == HTTP_M_POST || kind == HTTP_M_PUT) {
        s->method = 0; /* unknown until every option below is set */
        HTTP_SET(CURLOPT_CUSTOMREQUEST, NULL);
        HTTP_SET(CURLOPT_REQUEST_TARGET, NULL);
        /* POSTFIELDS switches the method to POST, so it is cleared first
         * and the method chosen after it */
        HTTP_SET(CURLOPT_POSTFIELDS, NULL);
        HTTP_SET(CURLOPT_NOBODY, 0L);
        switch (kind) {
        case HTTP_M_HEAD:
            HTTP_SET(CURLOPT_NOBODY, 1L);
            break;
        case HTTP_M_POST:
        case HTTP_M_PUT:
            HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            HTTP_SET(CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
            if (kind == HTTP_M_PUT)
                HTTP_SET(CURLOPT_CUSTOMREQUEST, "PUT");
            break;
        case HTTP_M_DELETE:
            HTTP_SET(CURLOPT_HTTPGET, 1L);
            HTTP_SET(CURLOPT_CUSTOMREQUEST, "DELETE");
            break;
        case HTTP_M_OPTIONS:
            HTTP_SET(CURLOPT_HTTPGET, 1L);
            HTTP_SET(CURLOPT_CUSTOMREQUEST, "OPTIONS");
            HTTP_SET(CURLOPT_REQUEST_TARGET, "*");
            break;
        default:
            HTTP_SET(CURLOPT_HTTPGET, 1L);
            break;
        }
        if (r == CURLE_OK)
            s->method = kind;
    }
#undef HTTP_SET
out:
    return r == CURLE_OK ? VAP_OK : r == CURLE_OUT_OF_MEMORY ? VAP_E_NOMEM : VAP_E_INVAL;
}

/* Drop what a failed or finished transfer left in the slot's buffer. */
void http_xfer_release(struct http_xfer *x)
{
    http_body_free(x->buf, x->len);
    x->buf = NULL;
    x->len = x->cap = 0;
    x->hdrs = NULL;
}

int http_run(struct http_slot *s, vap_cancel *cancel, int64_t deadline,
                    CURLcode *res)
{
    int rc = VAP_OK, running = 1, clock_read = 0;
    struct cancel_waiter w;
    if (cancel_attach(cancel, &w, s->multi)) {
        cancel_detach(cancel, &w);
        return VAP_E_CANCELLED;
    }
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
        cancel_detach(cancel, &w);
        return VAP_E_NOMEM;
    }
    while (running) {
        if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
            rc = VAP_E_NOMEM;
            break;
        }
        if (!running)
            break;
        if (cancel_fired(cancel)) {
            rc = VAP_E_CANCELLED;
            break;
        }
        s->clock = http_mono_ms();
        clock_read = 1;
        int64_t left = deadline - s->clock;
        if (left <= 0) {
            rc = VAP_E_TIMEOUT;
            break;
        }
        if (curl_multi_poll(s->multi, NULL, 0, left > 1000 ? 1000 : (int)left,
                            NULL) != CURLM_OK) {
            rc = VAP_E_NOMEM;
            break;
        }
    }
    if (rc == VAP_OK) {
        int q;
        CURLMsg *msg;
        *res = CURLE_GOT_NOTHING;
        while ((msg = curl_multi_info_read(s->multi, &q)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->easy)
                *res = msg->data.result;
    }
    if (!clock_read)
        s->clock = http_mono_ms();
    /* Asked while the handle is still in its multi, whose cache holds the
     * connection: once removed, libcurl no longer finds it. */
    curl_socket_t sock = CURL_SOCKET_BAD;
    /* Only a warm-up asks (the lookup walks the connection cache, ~900
     * instructions): a request's own connection is kept or not by libcurl. */
    s->conn_kept = s->method == HTTP_M_OPTIONS &&
                   curl_easy_getinfo(s->easy, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
                   sock != CURL_SOCKET_BAD;
    curl_multi_remove_handle(s->multi, s->easy);
    cancel_detach(cancel, &w);
    return rc;
}

static size_t http_on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct http_xfer *x = ud;
    size_t add = sz * n;
    if (add > x->max - x->len) {
        x->too_large = 1;
        return 0; /* cut off now: never buffer past the cap */
    }
    if (x->len + add + 1 > x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 16384;
        curl_off_t cl = -1;
        if (x->cap == 0 &&
            curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (uint64_t)cl <= x->max)
            ncap = (size_t)cl + 1;
        while (ncap < x->len + add + 1)
            ncap *= 2;
        if (ncap > x->max + 1)
            ncap = x->max + 1;
        char *nb = http_body_alloc(ncap, &ncap);
        if (nb == NULL)
            return 0;
        if (x->buf != NULL) {
            memcpy(nb, x->buf, x->len);
            http_body_free(x->buf, x->len);
        }
        x->buf = nb;
        x->cap = ncap;
    }
    memcpy(x->buf + x->len, p, add);
    x->len += add;
    return add;
}

static size_t http_on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct http_xfer *x = ud;
    int rc = http_hdr_feed(x->hdrs, p, sz * n);
    if (rc != HTTP_HDR_OK) {
        x->hdr_rc = rc;
        return 0;
    }
    return sz * n;
}

int64_t http_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

