/* http_int.h - the pool's structures, shared by http.c (the client and its
 * pool) and http_xfer.c (one transfer on a slot).  Private to http/. */
#ifndef VAP_HTTP_INT_H
#define VAP_HTTP_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

#include "core/cancel.h"
#include "http/http.h"

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
    struct curl_slist *hl;     /* the slot's kept header list (wiped when replaced) */
    struct curl_slist *hl_set; /* CURLOPT_HTTPHEADER last set (maybe freed since) */
    int64_t last_used; /* monotonic ms; 0 = never connected */
    int64_t clock;     /* last monotonic reading of http_run (ms) */
    int conn_kept;     /* http_run ended with the connection still open */
    const char *proxy_set; /* CURLOPT_PROXY last set ("" none); NULL: never */
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
    char *ua_line;            /* "User-Agent: ..." */
    struct curl_slist *ua_hl; /* just ua_line: requests with no headers, proxies */
    int log_debug;
    char *proxy;            /* the proxy URL in use; NULL: none            */
    char *no_proxy;         /* proxy=env: the hosts that bypass it, or NULL */
    int proxy_env;          /* the proxy came from the environment        */
    char proxy_shown[160];  /* for messages: no user or password          */
    int warm_refused;       /* the server does not take "OPTIONS *": never
                               warm again (atomic; set once)               */
    int warm_ok;            /* a warm-up kept its connection (atomic; set once) */
    unsigned warming;       /* slots being warmed now (under mu)           */
    struct http_slot *mru;  /* the slot last put back connected, or NULL (under mu) */
};

/* HTTP_M_OPTIONS is "OPTIONS *": the server itself answers, not an application. */
enum { HTTP_M_GET = 1, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_PUT, HTTP_M_DELETE, HTTP_M_OPTIONS };

int64_t http_mono_ms(void);
/* Resolves the proxy option (NULL: the environment; "": none; else a URL)
 * into c->proxy, c->no_proxy and c->proxy_shown (http_proxy.c). */
int http_proxy_init(struct http_client *c, const char *opt, vap_error *err);
/* The CURLOPT_PROXY value for url: c->proxy, or "" for a direct connection. */
const char *http_proxy_for(const struct http_client *c, const char *url);
/* 1 when HOST (HOST_LEN bytes, no port, no brackets) is exempted by the
 * no_proxy list NO_PROXY, with libcurl 7.88's rules (http_proxy.c). */
int http_noproxy_exempt(const char *no_proxy, const char *host, size_t host_len);
/* c->proxy_shown when the slot's last transfer went through a proxy, else NULL. */
const char *http_proxy_via(const struct http_client *c, const struct http_slot *s);
/* strdup with malloc: the slot frees it. */
char *http_dup(const char *s);
/* Sets what this request changes on the slot's handle (and, the first time,
 * what never changes for the client).  VAP_OK, VAP_E_NOMEM or VAP_E_INVAL. */
int http_setup(struct http_client *c, struct http_slot *s, const struct http_request *rq,
               struct curl_slist *hl, size_t max, struct http_hdrs *hdrs);
/* Drop what a failed or finished transfer left in the slot's buffer. */
void http_xfer_release(struct http_xfer *x);
/* Runs the slot's transfer to its end, the deadline or the cancel token. */
int http_run(struct http_slot *s, vap_cancel *cancel, int64_t deadline, CURLcode *res);

#endif
