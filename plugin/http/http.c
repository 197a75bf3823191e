/* http.c - the pooled, cancellable HTTPS client (DESIGN.md "HTTP").
 *
 * Each pool slot is one easy handle inside its own multi handle, both made
 * when the slot is first used (a multi handle holds two descriptors, and a
 * process may hold many instances that never fetch).  With the
 * multi interface the connection cache belongs to the multi handle, so a
 * slot keeps its connection warm between requests; the share handle carries
 * DNS and TLS sessions between slots (this libcurl cannot share connections
 * between threads).  A request runs curl_multi_poll on its slot, so a cancel
 * token can interrupt it from another thread with curl_multi_wakeup. */
#include "http/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cancel.h"
#include "core/errors.h"
#include "http/http_req.h"
#include "core/log.h"

#include "http/http_int.h"

static void http_share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u);
static void http_share_unlock(CURL *h, curl_lock_data d, void *u);
static int http_slot_get(struct http_client *c, int64_t deadline, vap_cancel *cancel,
                         struct http_slot **out);
static void http_slot_put(struct http_client *c, struct http_slot *s, int reused);
static int http_slot_handles(struct http_slot *s);
static void http_slot_drop_handles(struct http_slot *s);

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
    /* The User-Agent goes out as a line of the kept header list: set as
     * CURLOPT_USERAGENT, libcurl would format it anew on every request. */
    const char *ua = o->user_agent ? o->user_agent : "vap-openemr";
    if (strpbrk(ua, "\r\n") != NULL)
        ua = "vap-openemr";
    size_t ual = strlen(ua) + sizeof "User-Agent: ";
    if ((c->ua_line = malloc(ual)) != NULL) {
        snprintf(c->ua_line, ual, "User-Agent: %s", ua);
        c->ua_hl = curl_slist_append(NULL, c->ua_line);
    }
    c->slots = calloc(c->n_slots, sizeof *c->slots);
    c->share = curl_share_init();
    if ((rc = http_proxy_init(c, o->proxy, err)) != VAP_OK) {
        http_client_free(c);
        return rc;
    }
    rc = VAP_E_NOMEM;
    if (c->ca_file == NULL || c->ua_hl == NULL || c->slots == NULL ||
        c->share == NULL || (o->pin_sha256 && c->pin == NULL))
        goto fail;
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, http_share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, http_share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    if (curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        goto fail;
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
        http_req_headers_free(c->slots[i].hl);
    }
    if (c->share)
        curl_share_cleanup(c->share);
    free(c->slots);
    free(c->ca_file);
    free(c->pin);
    free(c->ua_line);
    curl_slist_free_all(c->ua_hl);
    free(c->proxy);
    free(c->no_proxy);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The request's host for a message, worked out on first use. */
#define HOST (host[0] ? host : (http_req_host(rq->url ? rq->url : "", host, sizeof host), host))

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
    host[0] = '\0'; /* HOST: filled when a message needs it, never per request */
    if (rq->url == NULL || !http_req_is_https(rq->url)) {
        rc = err_set(err, VAP_E_INVAL,
                     "refusing a request that is not https:// (to %s): every "
                     "server address must start with https://", HOST);
        goto out;
    }
    if (strnlen(rq->url, HTTP_URL_MAX + 1) > HTTP_URL_MAX) {
        rc = err_set(err, VAP_E_INVAL, "the address for %s is longer than %d "
                     "characters", HOST, HTTP_URL_MAX);
        goto out;
    }
    int64_t left = rq->deadline_ms ? rq->deadline_ms - plugin_now_ms()
                                   : HTTP_DEADLINE_DEFAULT_MS;
    if (left <= 0) {
        rc = err_set(err, VAP_E_TIMEOUT, "the deadline passed before the request "
                     "to %s could start: raise timeout_ms", HOST);
        goto out;
    }
    int64_t deadline = t0 + left;
    if (cancel_fired(rq->cancel)) {
        rc = err_set(err, VAP_E_CANCELLED, "the request to %s was cancelled", HOST);
        goto out;
    }
    rc = http_slot_get(c, deadline, rq->cancel, &slot);
    if (rc != VAP_OK) {
        rc = err_set(err, rc, rc == VAP_E_CANCELLED ? "the request to %s was cancelled"
                              : rc == VAP_E_NOMEM   ? "out of memory opening a connection to %s"
                                                    : "no free connection for %s before the "
                                                      "deadline: raise timeout_ms or reduce "
                                                      "concurrent calls", HOST);
        goto out;
    }
    /* The slot keeps its list while the request's headers (the bearer
     * token) stay the same: a warm request formats none. */
    if (slot->hl != NULL && http_req_headers_match(rq, slot->hl)) {
        hl = slot->hl;
    } else {
        rc = http_req_headers(rq, c->ua_line, &hl);
        if (rc != VAP_OK) {
            rc = err_set(err, rc, rc == VAP_E_INVAL
                         ? "a request header for %s contains a line break or no colon"
                         : "out of memory building the request to %s", HOST);
            goto out;
        }
        if (http_req_headers_cacheable(rq)) {
            http_req_headers_free(slot->hl);
            slot->hl = hl;
        }
    }
    rc = http_setup(c, slot, rq, hl,
                    rq->max_response ? rq->max_response : HTTP_RESPONSE_MAX_DEFAULT,
                    &rs->hdrs);
    if (rc != VAP_OK) {
        rc = err_set(err, rc, "cannot set up the request to %s (%s)", HOST,
                     rc == VAP_E_NOMEM ? "out of memory" : "unsupported method");
        goto out;
    }
    CURLcode res = CURLE_OK;
    rc = http_run(slot, rq->cancel, deadline, &res);
    if (rc == VAP_E_CANCELLED) {
        rc = err_set(err, rc, "the request to %s was cancelled", HOST);
        goto out;
    }
    const char *via = http_proxy_via(c, slot);
    if (rc == VAP_E_TIMEOUT)
        res = CURLE_OPERATION_TIMEDOUT;
    if (res == CURLE_OPERATION_TIMEDOUT) {
        rc = http_req_map_error(res, 0, 0, 0, HOST, via, slot->errbuf, err);
        goto out;
    }
    if (rc == VAP_OK && res != CURLE_OK)
        rc = http_req_map_error(res, slot->x.too_large, slot->x.max, slot->x.hdr_rc, HOST,
                                via, slot->errbuf, err);
    else if (rc != VAP_OK)
        rc = err_set(err, rc, "the HTTP library failed on the request to %s", HOST);
    if (rc != VAP_OK)
        goto out;
    long code = 0;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &code);
    rs->status = (int)code;
    struct http_xfer *x = &slot->x;
    if (x->buf == NULL) { /* an empty body still gets a buffer to terminate */
        if ((x->buf = http_body_alloc(1, &x->cap)) == NULL) {
            rc = err_set(err, VAP_E_NOMEM, "out of memory reading %s", HOST);
            goto out;
        }
    }
    x->buf[x->len] = '\0';
    rs->body = x->buf;
    rs->body_len = x->len;
    x->buf = NULL;
out:
    if (slot == NULL || hl != slot->hl) /* read while the slot is still ours */
        http_req_headers_free(hl);
    if (slot != NULL) {
        http_xfer_release(&slot->x);
        http_slot_put(c, slot, rc == VAP_OK);
    }
    if (rc != VAP_OK)
        http_hdr_init(&rs->hdrs);
    if (c->log_debug)
        http_req_log(rq, method, rs->status, rs->body_len, http_mono_ms() - t0, rc);
    return rc;
}
#undef HOST

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
    http_body_free(rs->body, rs->body_len); /* token responses carry secrets: wiped */
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

/* After a warm-up answer: a non-2xx status, or a connection the server
 * closed, means this server does not take "OPTIONS *" (nginx: 400 and
 * close).  Asking again would only add refusals to its logs, where fail2ban
 * may count them: stop for good, say so once, and leave the slot cold.
 * Returns 1 when the slot holds a live connection the server accepted. */
static int http_warm_accepted(struct http_client *c, struct http_slot *s, const char *host)
{
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code <= 299 && s->conn_kept)
        return 1;
    if (__atomic_exchange_n(&c->warm_refused, 1, __ATOMIC_RELAXED) == 0) {
        if (code >= 200 && code <= 299)
            plog(VAP_LOG_INFO, "connection warm-up off: %s closed the connection after "
                               "\"OPTIONS *\"; connections open at the first request instead",
                 host);
        else
            plog(VAP_LOG_INFO, "connection warm-up off: %s answers \"OPTIONS *\" with %ld; "
                               "connections open at the first request instead", host, code);
    }
    return 0;
}

/* One slot from *next on (then past it); none when want (0: no limit)
 * connections are open or opening already. */
static int http_warm_from(struct http_client *c, unsigned *next, unsigned want, const char *url,
                          int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel,
                          vap_error *err)
{
    struct http_slot *s = NULL;
    if (__atomic_load_n(&c->warm_refused, __ATOMIC_RELAXED))
        return 0;
    pthread_mutex_lock(&c->mu);
    unsigned live = 0;
    int64_t now = http_mono_ms();
    /* a request's own connection counts: warming adds to it, never beside it */
    for (unsigned i = 0; want > 0 && i < c->n_slots; i++)
        live += c->slots[i].busy || (c->slots[i].last_used != 0 &&
                                     now - c->slots[i].last_used < idle_ms);
    for (unsigned i = *next; (want == 0 || live < want) && i < c->n_slots && s == NULL; i++)
        if (!c->slots[i].busy && (c->slots[i].last_used == 0 ||
                                  http_mono_ms() - c->slots[i].last_used >= idle_ms)) {
            s = &c->slots[i];
            *next = i + 1;
        }
    if (s != NULL) {
        s->busy = 1;
        c->warming++;
    }
    pthread_mutex_unlock(&c->mu);
    if (s == NULL)
        return 0;
    /* The slot is ours: ask the server itself, on exactly this handle. */
    struct http_request rq = {.method = "OPTIONS *", .url = url, .deadline_ms = deadline_ms};
    struct http_hdrs h;
    char host[256];
    CURLcode res = CURLE_OK;
    int rc;
    http_req_host(url, host, sizeof host);
    int64_t left = deadline_ms - plugin_now_ms();
    if (!http_req_is_https(url))
        rc = err_set(err, VAP_E_INVAL, "refusing to warm up %s: not https://", host);
    else if (left <= 0)
        rc = err_set(err, VAP_E_TIMEOUT, "deadline passed warming up %s", host);
    else if ((rc = http_slot_handles(s)) != VAP_OK)
        rc = err_set(err, rc, "out of memory warming up %s", host);
    /* the answer is a few headers: the default cap is plenty */
    else if ((rc = http_setup(c, s, &rq, NULL, HTTP_RESPONSE_MAX_DEFAULT, &h)) == VAP_OK &&
             (rc = http_run(s, cancel, http_mono_ms() + left, &res)) == VAP_OK &&
             res != CURLE_OK)
        rc = http_req_map_error(res, s->x.too_large, s->x.max, s->x.hdr_rc, host,
                                http_proxy_via(c, s), s->errbuf, err);
    else if (rc != VAP_OK)
        rc = err_set(err, rc, "warming up %s failed", host);
    int warm = rc == VAP_OK && http_warm_accepted(c, s, host);
    if (warm)
        __atomic_store_n(&c->warm_ok, 1, __ATOMIC_RELAXED);
    http_xfer_release(&s->x);
    /* A handle left with no connection would hold its multi handle's two
     * descriptors for nothing while the instance stays idle. */
    if (!warm)
        http_slot_drop_handles(s);
    pthread_mutex_lock(&c->mu);
    c->warming--;
    pthread_mutex_unlock(&c->mu);
    /* a caller may be waiting for exactly this connection: wake them all */
    http_slot_put(c, s, warm);
    pthread_cond_broadcast(&c->cv);
    return rc != VAP_OK ? rc : 1;
}

int http_client_warm_step(struct http_client *c, const char *url, unsigned want,
                          int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel,
                          vap_error *err)
{
    unsigned next = 0;
    return http_warm_from(c, &next, want, url, idle_ms, deadline_ms, cancel, err);
}

int http_client_warm(struct http_client *c, const char *url, unsigned n,
                     int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel, vap_error *err)
{
    unsigned next = 0;
    for (unsigned done = 0; done < n; done++) {
        int rc = http_warm_from(c, &next, 0, url, idle_ms, deadline_ms, cancel, err);
        if (rc <= 0)
            return rc;
    }
    return VAP_OK;
}

/* ---- pool ------------------------------------------------------------------ */

static int http_slot_get(struct http_client *c, int64_t deadline, vap_cancel *cancel,
                         struct http_slot **out)
{
    int rc = VAP_OK;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        /* Most recently used first: its connection is the likeliest alive.
         * That is the slot last put back with its connection, unless
         * another caller holds it: only then are all slots looked at. */
        struct http_slot *best = c->mru != NULL && !c->mru->busy ? c->mru : NULL;
        if (best == NULL)
            for (unsigned i = 0; i < c->n_slots; i++) {
                struct http_slot *s = &c->slots[i];
                if (!s->busy && (best == NULL || s->last_used > best->last_used ||
                                 (s->last_used == best->last_used && s->easy && !best->easy)))
                    best = s;
            }
        /* A connection being warmed for a server known to keep it comes
         * sooner than a handshake of our own, and opens no second one. */
        if (best != NULL && best->last_used == 0 && c->warming > 0 &&
            __atomic_load_n(&c->warm_ok, __ATOMIC_RELAXED))
            best = NULL;
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
    if (rc == VAP_OK && http_slot_handles(*out) != VAP_OK) {
        http_slot_put(c, *out, 0);
        *out = NULL;
        rc = VAP_E_NOMEM;
    }
    return rc;
}

/* Back to a slot never used (the caller owns it); the kept header list stays. */
static void http_slot_drop_handles(struct http_slot *s)
{
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    free(s->url);
    s->easy = NULL;
    s->multi = NULL;
    s->url = NULL;
    s->configured = 0;
    s->method = 0;
    s->max = 0;
    s->hl_set = NULL;
    s->proxy_set = NULL;
    s->conn_kept = 0;
}

/* The slot's handles, made on its first use (the caller owns the slot). */
static int http_slot_handles(struct http_slot *s)
{
    if (s->easy == NULL)
        s->easy = curl_easy_init();
    if (s->multi == NULL)
        s->multi = curl_multi_init();
    return s->easy != NULL && s->multi != NULL ? VAP_OK : VAP_E_NOMEM;
}

static void http_slot_put(struct http_client *c, struct http_slot *s, int reused)
{
    pthread_mutex_lock(&c->mu);
    s->busy = 0;
    /* the clock http_run last read is recent enough for idle tracking and
     * spares a clock read per request (a syscall on this VM) */
    s->last_used = reused ? s->clock : 0;
    if (reused)
        c->mru = s;
    else if (c->mru == s)
        c->mru = NULL;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- small helpers ------------------------------------------------------------- */

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

char *http_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}
