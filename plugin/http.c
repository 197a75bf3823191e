/* http.c - the pooled, cancellable HTTPS client (DESIGN.md "HTTP").
 *
 * Each pool slot is one easy handle inside its own multi handle.  With the
 * multi interface the connection cache belongs to the multi handle, so a
 * slot keeps its connection warm between requests; the share handle carries
 * DNS and TLS sessions between slots (this libcurl cannot share connections
 * between threads).  A request runs curl_multi_poll on its slot, so a cancel
 * token can interrupt it from another thread with curl_multi_wakeup. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "errors.h"
#include "http_req.h"
#include "log.h"

/* One transfer's state, seen by the libcurl callbacks. */
struct http_xfer {
    CURL *easy;
    char *buf;
    size_t len, cap, max;
    int too_large;
    int hdr_rc;
    struct http_hdrs *hdrs;
};

struct http_slot {
    CURL *easy;
    CURLM *multi;
    int busy;
    int configured;    /* the per-client options are set on easy */
    int method;        /* HTTP_M_* last set on easy, 0 = none */
    char *url;         /* URL last set on easy */
    size_t max;        /* CURLOPT_MAXFILESIZE_LARGE last set */
    int had_headers;   /* a header list is set on easy */
    int64_t last_used; /* monotonic ms; 0 = never connected */
    int64_t clock;     /* last monotonic reading of http_run (ms) */
    struct http_xfer x;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
    pthread_mutex_t mu; /* guards slots[].busy/last_used */
    pthread_cond_t cv;  /* a slot was released */
    struct http_slot *slots;
    unsigned n_slots;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    char *ca_file;
    char *pin;
    char *user_agent;
    int log_debug;
};

enum { HTTP_M_GET = 1, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_PUT, HTTP_M_DELETE };

static int64_t http_mono_ms(void);
static void http_share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u);
static void http_share_unlock(CURL *h, curl_lock_data d, void *u);
static int http_slot_get(struct http_client *c, int64_t deadline, vap_cancel *cancel,
                         struct http_slot **out);
static void http_slot_put(struct http_client *c, struct http_slot *s, int reused);
static size_t http_on_body(char *p, size_t sz, size_t n, void *ud);
static size_t http_on_header(char *p, size_t sz, size_t n, void *ud);
static int http_setup(struct http_client *c, struct http_slot *s,
                      const struct http_request *rq, struct curl_slist *hl, size_t max,
                      struct http_hdrs *hdrs);
static void http_xfer_release(struct http_xfer *x);
static int http_run(struct http_slot *s, vap_cancel *cancel, int64_t deadline,
                    CURLcode *res);
static char *http_dup(const char *s);

int http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? VAP_OK : VAP_E_NOMEM;
}

int http_client_new(const struct http_client_opts *o, struct http_client **out,
                    vap_error *err)
{
    int rc = VAP_E_NOMEM;
    struct http_client *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory creating the HTTP client");
    const char *ca = o->ca_file ? o->ca_file : HTTP_SYSTEM_CA_FILE;
    int fd = open(ca, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = err_set(err, VAP_E_CONFIG,
                     "cannot read the CA file %s (%s): set ca_file to a readable "
                     "PEM file with the CA that signed the server's certificate",
                     ca, strerror(errno));
        free(c);
        return rc;
    }
    close(fd);
    if (o->pin_sha256 != NULL && strncmp(o->pin_sha256, "sha256//", 8) != 0) {
        free(c);
        return err_set(err, VAP_E_CONFIG,
                       "pin_sha256 must look like sha256//BASE64 (the server key's "
                       "pin-sha256 from `certtool --certificate-info`)");
    }
    c->n_slots = o->pool_size ? o->pool_size : HTTP_POOL_DEFAULT;
    if (c->n_slots > HTTP_POOL_MAX)
        c->n_slots = HTTP_POOL_MAX;
    c->log_debug = o->log_debug;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca_attr;
    pthread_condattr_init(&ca_attr);
    pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca_attr);
    pthread_condattr_destroy(&ca_attr);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    c->ca_file = http_dup(ca);
    c->pin = o->pin_sha256 ? http_dup(o->pin_sha256) : NULL;
    c->user_agent = http_dup(o->user_agent ? o->user_agent : "vap-openemr");
    c->slots = calloc(c->n_slots, sizeof *c->slots);
    c->share = curl_share_init();
    if (c->ca_file == NULL || c->user_agent == NULL || c->slots == NULL ||
        c->share == NULL || (o->pin_sha256 && c->pin == NULL))
        goto fail;
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, http_share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, http_share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    if (curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        goto fail;
    for (unsigned i = 0; i < c->n_slots; i++) {
        c->slots[i].easy = curl_easy_init();
        c->slots[i].multi = curl_multi_init();
        if (c->slots[i].easy == NULL || c->slots[i].multi == NULL)
            goto fail;
    }
    *out = c;
    return VAP_OK;
fail:
    http_client_free(c);
    return err_set(err, rc, "out of memory creating the HTTP client");
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; c->slots != NULL && i < c->n_slots; i++) {
        if (c->slots[i].easy)
            curl_easy_cleanup(c->slots[i].easy);
        if (c->slots[i].multi)
            curl_multi_cleanup(c->slots[i].multi);
        free(c->slots[i].url);
    }
    if (c->share)
        curl_share_cleanup(c->share);
    free(c->slots);
    free(c->ca_file);
    free(c->pin);
    free(c->user_agent);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int http_request_do(struct http_client *c, const struct http_request *rq,
                    struct http_response *rs, vap_error *err)
{
    int rc;
    struct http_slot *slot = NULL;
    struct curl_slist *hl = NULL;
    char host[256];
    const char *method = rq->method ? rq->method : "GET";
    int64_t t0 = http_mono_ms();

    rs->status = 0;
    rs->body = NULL;
    rs->body_len = 0;
    http_hdr_init(&rs->hdrs);
    http_req_host(rq->url ? rq->url : "", host, sizeof host);
    if (rq->url == NULL || !http_req_is_https(rq->url)) {
        rc = err_set(err, VAP_E_INVAL,
                     "refusing a request that is not https:// (to %s): every "
                     "server address must start with https://", host);
        goto out;
    }
    if (strnlen(rq->url, HTTP_URL_MAX + 1) > HTTP_URL_MAX) {
        rc = err_set(err, VAP_E_INVAL, "the address for %s is longer than %d "
                     "characters", host, HTTP_URL_MAX);
        goto out;
    }
    int64_t left = rq->deadline_ms ? rq->deadline_ms - plugin_now_ms()
                                   : HTTP_DEADLINE_DEFAULT_MS;
    if (left <= 0) {
        rc = err_set(err, VAP_E_TIMEOUT, "the deadline passed before the request "
                     "to %s could start: raise timeout_ms", host);
        goto out;
    }
    int64_t deadline = t0 + left;
    if (cancel_fired(rq->cancel)) {
        rc = err_set(err, VAP_E_CANCELLED, "the request to %s was cancelled", host);
        goto out;
    }
    rc = http_req_headers(rq, &hl);
    if (rc != VAP_OK) {
        rc = err_set(err, rc, rc == VAP_E_INVAL
                     ? "a request header for %s contains a line break or no colon"
                     : "out of memory building the request to %s", host);
        goto out;
    }
    rc = http_slot_get(c, deadline, rq->cancel, &slot);
    if (rc != VAP_OK) {
        rc = err_set(err, rc, rc == VAP_E_CANCELLED
                     ? "the request to %s was cancelled"
                     : "no free connection for %s before the deadline: raise "
                       "timeout_ms or reduce concurrent calls", host);
        goto out;
    }
    rc = http_setup(c, slot, rq, hl,
                    rq->max_response ? rq->max_response : HTTP_RESPONSE_MAX_DEFAULT,
                    &rs->hdrs);
    if (rc != VAP_OK) {
        rc = err_set(err, rc, "cannot set up the request to %s (%s)", host,
                     rc == VAP_E_NOMEM ? "out of memory" : "unsupported method");
        goto out;
    }
    CURLcode res = CURLE_OK;
    rc = http_run(slot, rq->cancel, deadline, &res);
    if (rc == VAP_E_CANCELLED) {
        rc = err_set(err, rc, "the request to %s was cancelled", host);
        goto out;
    }
    if (rc == VAP_E_TIMEOUT || res == CURLE_OPERATION_TIMEDOUT) {
        rc = err_set(err, VAP_E_TIMEOUT, "no complete answer from %s before the "
                     "deadline: check the server is up, or raise timeout_ms", host);
        goto out;
    }
    if (rc == VAP_OK && res != CURLE_OK)
        rc = http_req_map_error(res, slot->x.too_large, slot->x.max, slot->x.hdr_rc, host,
                                slot->errbuf, err);
    else if (rc != VAP_OK)
        rc = err_set(err, rc, "the HTTP library failed on the request to %s", host);
    if (rc != VAP_OK)
        goto out;
    long code = 0;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &code);
    rs->status = (int)code;
    struct http_xfer *x = &slot->x;
    if (x->buf == NULL && (x->buf = malloc(1)) != NULL)
        x->cap = 1;
    if (x->buf == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory reading %s", host);
        goto out;
    }
    x->buf[x->len] = '\0';
    rs->body = x->buf;
    rs->body_len = x->len;
    x->buf = NULL;
out:
    if (slot != NULL) {
        http_xfer_release(&slot->x);
        http_slot_put(c, slot, rc == VAP_OK);
    }
    http_req_headers_free(hl);
    if (rc != VAP_OK)
        http_hdr_init(&rs->hdrs);
    if (c->log_debug)
        http_req_log(rq, method, rs->status, rs->body_len, http_mono_ms() - t0, rc);
    return rc;
}

void http_response_init(struct http_response *rs)
{
    rs->status = 0;
    rs->body = NULL;
    rs->body_len = 0;
    http_hdr_init(&rs->hdrs);
}

void http_response_free(struct http_response *rs)
{
    if (rs == NULL)
        return;
    if (rs->body != NULL) {
        /* token responses carry secrets */
        sodium_memzero(rs->body, rs->body_len);
        free(rs->body);
    }
    rs->body = NULL;
    rs->body_len = 0;
    rs->status = 0;
    http_hdr_init(&rs->hdrs);
}

int http_status_vap(int status)
{
    if (status >= 200 && status <= 299)
        return VAP_OK;
    if (status == 429 || (status >= 500 && status <= 599))
        return VAP_E_UNAVAILABLE;
    return VAP_E_HTTP;
}

int http_client_warm(struct http_client *c, const char *url, unsigned n,
                     int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel, vap_error *err)
{
    int rc = VAP_OK;
    unsigned done = 0;
    for (unsigned i = 0; i < c->n_slots && done < n; i++) {
        struct http_slot *s = &c->slots[i];
        pthread_mutex_lock(&c->mu);
        int take = !s->busy && (s->last_used == 0 ||
                                http_mono_ms() - s->last_used >= idle_ms);
        if (take)
            s->busy = 1;
        pthread_mutex_unlock(&c->mu);
        if (!take)
            continue;
        /* The slot is ours: run a HEAD on exactly this handle. */
        struct http_request rq = {.method = "HEAD", .url = url,
                                  .deadline_ms = deadline_ms};
        struct http_hdrs h;
        char host[256];
        CURLcode res = CURLE_OK;
        http_req_host(url, host, sizeof host);
        int64_t left = deadline_ms - plugin_now_ms();
        if (!http_req_is_https(url))
            rc = err_set(err, VAP_E_INVAL, "refusing to warm up %s: not https://", host);
        else if (left <= 0)
            rc = err_set(err, VAP_E_TIMEOUT, "deadline passed warming up %s", host);
        /* HEAD: the cap only matters for a Content-Length curl checks */
        else if ((rc = http_setup(c, s, &rq, NULL, HTTP_RESPONSE_MAX_DEFAULT, &h)) ==
                     VAP_OK &&
                 (rc = http_run(s, cancel, http_mono_ms() + left, &res)) == VAP_OK &&
                 res != CURLE_OK)
            rc = http_req_map_error(res, s->x.too_large, s->x.max, s->x.hdr_rc, host,
                                    s->errbuf, err);
        else if (rc != VAP_OK)
            rc = err_set(err, rc, "warming up %s failed", host);
        http_xfer_release(&s->x);
        http_slot_put(c, s, rc == VAP_OK);
        if (rc != VAP_OK)
            break;
        done++;
    }
    return rc;
}

/* ---- pool ------------------------------------------------------------------ */

static int http_slot_get(struct http_client *c, int64_t deadline, vap_cancel *cancel,
                         struct http_slot **out)
{
    int rc = VAP_OK;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        /* Most recently used first: its connection is the likeliest alive. */
        struct http_slot *best = NULL;
        for (unsigned i = 0; i < c->n_slots; i++)
            if (!c->slots[i].busy &&
                (best == NULL || c->slots[i].last_used > best->last_used))
                best = &c->slots[i];
        if (best != NULL) {
            best->busy = 1;
            *out = best;
            break;
        }
        if (cancel_fired(cancel)) {
            rc = VAP_E_CANCELLED;
            break;
        }
        int64_t now = http_mono_ms();
        if (now >= deadline) {
            rc = VAP_E_TIMEOUT;
            break;
        }
        /* Wake at least every 20 ms to notice a cancel. */
        int64_t until = now + 20 < deadline ? now + 20 : deadline;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (until - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void http_slot_put(struct http_client *c, struct http_slot *s, int reused)
{
    pthread_mutex_lock(&c->mu);
    s->busy = 0;
    /* the clock http_run last read is recent enough for idle tracking and
     * spares a clock read per request (a syscall on this VM) */
    s->last_used = reused ? s->clock : 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- one transfer -------------------------------------------------------------- */

/* Options that never change for a client are set once per handle; only
 * what a request changes is set per request (curl_easy_reset and a full
 * re-configuration cost ~8% of a warm loopback request). */
static int http_setup(struct http_client *c, struct http_slot *s,
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
        HTTP_SET(CURLOPT_USERAGENT, c->user_agent);
        HTTP_SET(CURLOPT_TCP_KEEPALIVE, 1L);
        HTTP_SET(CURLOPT_ERRORBUFFER, s->errbuf);
        HTTP_SET(CURLOPT_WRITEFUNCTION, http_on_body);
        HTTP_SET(CURLOPT_WRITEDATA, &s->x);
        HTTP_SET(CURLOPT_HEADERFUNCTION, http_on_header);
        HTTP_SET(CURLOPT_HEADERDATA, &s->x);
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
    if (s->max != max) {
        HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
        s->max = max;
    }
    if (hl != NULL || s->had_headers) {
        HTTP_SET(CURLOPT_HTTPHEADER, hl);
        s->had_headers = hl != NULL;
    }
    int kind = strcmp(m, "GET") == 0      ? HTTP_M_GET
               : strcmp(m, "HEAD") == 0   ? HTTP_M_HEAD
               : strcmp(m, "POST") == 0   ? HTTP_M_POST
               : strcmp(m, "PUT") == 0    ? HTTP_M_PUT
               : strcmp(m, "DELETE") == 0 ? HTTP_M_DELETE : 0;
    if (kind == 0)
        return VAP_E_INVAL;
    if (kind != s->method || kind == HTTP_M_POST || kind == HTTP_M_PUT) {
        s->method = 0; /* unknown until every option below is set */
        HTTP_SET(CURLOPT_CUSTOMREQUEST, NULL);
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
static void http_xfer_release(struct http_xfer *x)
{
    if (x->buf != NULL) {
        sodium_memzero(x->buf, x->cap);
        free(x->buf);
    }
    x->buf = NULL;
    x->len = x->cap = 0;
    x->hdrs = NULL;
}

static int http_run(struct http_slot *s, vap_cancel *cancel, int64_t deadline,
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
        char *nb = malloc(ncap);
        if (nb == NULL)
            return 0;
        if (x->buf != NULL) {
            memcpy(nb, x->buf, x->len);
            sodium_memzero(x->buf, x->cap);
            free(x->buf);
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

/* ---- small helpers ------------------------------------------------------------- */

static int64_t http_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    struct http_client *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_mu[d]);
}

static void http_share_unlock(CURL *h, curl_lock_data d, void *u)
{
    struct http_client *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_mu[d]);
}

static char *http_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}
