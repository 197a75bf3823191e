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
#include "http_redact.h"
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
    int64_t last_used; /* monotonic ms; 0 = never connected */
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

static int64_t http_mono_ms(void);
static void http_share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u);
static void http_share_unlock(CURL *h, curl_lock_data d, void *u);
static int http_slot_get(struct http_client *c, int64_t deadline, vap_cancel *cancel,
                         struct http_slot **out);
static void http_slot_put(struct http_client *c, struct http_slot *s, int reused);
static size_t http_on_body(char *p, size_t sz, size_t n, void *ud);
static size_t http_on_header(char *p, size_t sz, size_t n, void *ud);
static int http_build_headers(const struct http_request *rq, struct curl_slist **out);
static void http_free_headers(struct curl_slist *l);
static int http_setup(struct http_client *c, struct http_slot *s,
                      const struct http_request *rq, struct curl_slist *hl, size_t max,
                      struct http_hdrs *hdrs);
static void http_xfer_release(struct http_xfer *x);
static int http_run(struct http_slot *s, vap_cancel *cancel, int64_t deadline,
                    CURLcode *res);
static int http_map_error(CURLcode res, const struct http_xfer *x, const char *host,
                          const char *errbuf, vap_error *err);
static void http_host(const char *url, char *out, size_t cap);
static int http_is_https(const char *url);
static char *http_dup(const char *s);
static void http_log(const struct http_client *c, const struct http_request *rq,
                     const char *method, int status, size_t n, int64_t ms, int rc);

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
    http_host(rq->url ? rq->url : "", host, sizeof host);
    if (rq->url == NULL || !http_is_https(rq->url)) {
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
    rc = http_build_headers(rq, &hl);
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
        rc = http_map_error(res, &slot->x, host, slot->errbuf, err);
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
    http_free_headers(hl);
    if (rc != VAP_OK)
        http_hdr_init(&rs->hdrs);
    http_log(c, rq, method, rs->status, rs->body_len, http_mono_ms() - t0, rc);
    return rc;
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
                     int64_t idle_ms, int64_t deadline_ms, vap_error *err)
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
        http_host(url, host, sizeof host);
        int64_t left = deadline_ms - plugin_now_ms();
        if (!http_is_https(url))
            rc = err_set(err, VAP_E_INVAL, "refusing to warm up %s: not https://", host);
        else if (left <= 0)
            rc = err_set(err, VAP_E_TIMEOUT, "deadline passed warming up %s", host);
        /* HEAD: the cap only matters for a Content-Length curl checks */
        else if ((rc = http_setup(c, s, &rq, NULL, HTTP_RESPONSE_MAX_DEFAULT, &h)) ==
                     VAP_OK &&
                 (rc = http_run(s, NULL, http_mono_ms() + left, &res)) == VAP_OK &&
                 res != CURLE_OK)
            rc = http_map_error(res, &s->x, host, s->errbuf, err);
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
    s->last_used = reused ? http_mono_ms() : 0;
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
    HTTP_SET(CURLOPT_URL, rq->url);
    /* No CURLOPT_TIMEOUT_MS: http_run enforces the deadline itself (and
     * curl's timer bookkeeping cost ~5% of a warm request). */
    HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    HTTP_SET(CURLOPT_HTTPHEADER, hl);
    HTTP_SET(CURLOPT_CUSTOMREQUEST, NULL);
    /* POSTFIELDS switches the method to POST, so it is cleared first and
     * the method chosen after it */
    HTTP_SET(CURLOPT_POSTFIELDS, NULL);
    HTTP_SET(CURLOPT_NOBODY, 0L);
    if (strcmp(m, "GET") == 0) {
        HTTP_SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        HTTP_SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
        HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        HTTP_SET(CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        if (m[1] == 'U')
            HTTP_SET(CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(m, "DELETE") == 0) {
        HTTP_SET(CURLOPT_HTTPGET, 1L);
        HTTP_SET(CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        return VAP_E_INVAL;
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
    int rc = VAP_OK, running = 1;
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
        int64_t left = deadline - http_mono_ms();
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

static int http_build_headers(const struct http_request *rq, struct curl_slist **out)
{
    int rc = VAP_E_NOMEM;
    struct curl_slist *l = NULL, *t;
    char *line = NULL;
    size_t cap = 0;
    *out = NULL;
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
    http_free_headers(l);
    return rc;
}

/* The list may hold the bearer token or the Basic credentials: wipe it. */
static void http_free_headers(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        sodium_memzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static int http_map_error(CURLcode res, const struct http_xfer *x, const char *host,
                          const char *errbuf, vap_error *err)
{
    if (x->too_large || res == CURLE_FILESIZE_EXCEEDED)
        return err_set(err, VAP_E_PROTOCOL, "the answer from %s is larger than the "
                       "limit of %zu bytes and was cut off", host, x->max);
    if (x->hdr_rc == HTTP_HDR_TOO_BIG)
        return err_set(err, VAP_E_PROTOCOL, "the response headers from %s are "
                       "larger than the limit of %u bytes", host, HTTP_HDR_TOTAL_MAX);
    if (x->hdr_rc == HTTP_HDR_MALFORMED)
        return err_set(err, VAP_E_PROTOCOL, "%s sent a malformed response header",
                       host);
    switch (res) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return err_set(err, VAP_E_TLS, "the public key of %s does not match "
                       "pin_sha256: if the server's key was changed on purpose, "
                       "update pin_sha256", host);
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
        return err_set(err, VAP_E_TLS, "the TLS certificate of %s was refused (%s): "
                       "check the server's certificate and host name, or set "
                       "ca_file to the CA that signed it",
                       host, errbuf[0] ? errbuf : curl_easy_strerror(res));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return err_set(err, VAP_E_UNAVAILABLE, "cannot reach %s (%s): check that the "
                       "server is up and reachable from this machine", host,
                       curl_easy_strerror(res));
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, VAP_E_TIMEOUT, "no answer from %s before the deadline: "
                       "check the server is up, or raise timeout_ms", host);
    case CURLE_OUT_OF_MEMORY:
        return err_set(err, VAP_E_NOMEM, "out of memory talking to %s", host);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, VAP_E_INVAL, "the address for %s is not a valid https "
                       "URL", host);
    default:
        return err_set(err, VAP_E_PROTOCOL, "the exchange with %s failed (%s)", host,
                       curl_easy_strerror(res));
    }
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

static int http_is_https(const char *url)
{
    return strncasecmp(url, "https://", 8) == 0;
}

/* "scheme://[user@]host[:port]/..." -> "host[:port]", for messages only. */
static void http_host(const char *url, char *out, size_t cap)
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

static char *http_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void http_log(const struct http_client *c, const struct http_request *rq,
                     const char *method, int status, size_t n, int64_t ms, int rc)
{
    if (!c->log_debug)
        return;
    char url[512], body[256] = "";
    http_redact_url(rq->url ? rq->url : "", rq->url ? strlen(rq->url) : 0, url,
                    sizeof url);
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
