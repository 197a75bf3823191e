/* http.h - the plugin's one HTTP client: libcurl 7.88 + GnuTLS, https only,
 * a warm pool of handles per instance, bounded time and size, cancellable.
 * Every network request of the plugin (discovery, token endpoint, JWKS,
 * FHIR) goes through http_request_do. */
#ifndef VAP_HTTP_H
#define VAP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "http/http_hdr.h"

/* Debian's system bundle file.  Never libcurl's default CA directory: with
 * GnuTLS every new connection re-reads it (~27 ms here). */
#define HTTP_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define HTTP_POOL_DEFAULT 8u
#define HTTP_POOL_MAX 64u
#define HTTP_RESPONSE_MAX_DEFAULT (1u << 20)
#define HTTP_DEADLINE_DEFAULT_MS 30000
#define HTTP_URL_MAX 8192

struct http_client_opts {
    const char *ca_file;    /* PEM file replacing the system bundle (curl's
                               --cacert); NULL: HTTP_SYSTEM_CA_FILE        */
    const char *pin_sha256; /* NULL, or "sha256//BASE64[;sha256//BASE64]" */
    unsigned pool_size;     /* handles kept warm; 0: HTTP_POOL_DEFAULT      */
    const char *user_agent; /* NULL: "vap-openemr"                          */
    int log_debug;          /* log each request (redacted) at debug level   */
    const char *proxy;      /* NULL: from https_proxy/all_proxy and no_proxy
                               in the environment; "": none; else the proxy
                               URL for every request (curl's syntax)       */
};

/* curl_global_init; called once by the entry point before any thread. */
int http_global_init(void);

struct http_client;

/* Checks the options (the CA file must be readable: E_CONFIG otherwise). */
int http_client_new(const struct http_client_opts *o, struct http_client **out,
                    vap_error *err);
/* Once no request is running.  NULL is a no-op. */
void http_client_free(struct http_client *c);

struct http_request {
    const char *method;         /* NULL/"GET", "POST", "PUT", "HEAD", "DELETE",
                                   "OPTIONS *" (the server-wide OPTIONS)     */
    const char *url;            /* https:// only                              */
    const char *const *headers; /* extra "Name: value" lines (no CR/LF)       */
    size_t n_headers;
    const char *bearer;         /* access token: "Authorization: Bearer ..."  */
    const char *basic_user;     /* client_secret_basic: both form-encoded     */
    const char *basic_pass;     /* then base64'd (RFC 6749 §2.3.1)            */
    const void *body;           /* request body or NULL (caller wipes it; see */
    size_t body_len;            /* http_form for secret-bearing forms)        */
    const char *content_type;   /* of body                                    */
    size_t max_response;        /* body cap; 0: HTTP_RESPONSE_MAX_DEFAULT      */
    int64_t deadline_ms;        /* absolute, plugin_now_ms() clock; 0: +30 s  */
    vap_cancel *cancel;         /* NULL, or a token another thread may fire   */
};

struct http_response {
    int status;       /* HTTP status of the final response                   */
    char *body;       /* NUL-terminated; wiped and freed by http_response_free */
    size_t body_len;
    struct http_hdrs hdrs;
};

/* Perform one request.  VAP_OK means an HTTP answer arrived (any status:
 * see http_status_vap); rs is then filled and must be freed.  Errors:
 * VAP_E_INVAL (not https, bad header), VAP_E_TIMEOUT, VAP_E_TLS (certificate,
 * host name, pin), VAP_E_UNAVAILABLE (refused, reset, DNS), VAP_E_CANCELLED,
 * (a connection error through a proxy names the proxy and where it came
 * from, never its user or password),
 * VAP_E_PROTOCOL (response or headers over their cap, malformed answer),
 * VAP_E_NOMEM.  On error rs is left empty (safe to free). */
int http_request_do(struct http_client *c, const struct http_request *rq,
                    struct http_response *rs, vap_error *err);
void http_response_free(struct http_response *rs);

/* Response body buffers (http_body.c): at least want bytes (*cap: how many),
 * NULL when out of memory.  http_body_free wipes the first used bytes and
 * frees or keeps the buffer; NULL is a no-op.  A
 * body taken out of an http_response is freed with http_body_free. */
#define HTTP_BODY_POOLED 16384u
char *http_body_alloc(size_t want, size_t *cap);
void http_body_free(char *b, size_t used);
/* How many released buffers are kept now (at most HTTP_BODY_KEEP). */
#define HTTP_BODY_KEEP 16u
unsigned http_body_kept(void);
/* An empty response, safe to free: cheaper than a memset of the 12 KB of
 * header fields (this runs on every fetch). */
void http_response_init(struct http_response *rs);

/* The class of an HTTP status: 2xx VAP_OK; 429 and 5xx VAP_E_UNAVAILABLE
 * (retry with backoff, then report); anything else VAP_E_HTTP. */
int http_status_vap(int status);

/* Open connections ahead of need: "OPTIONS *" to url's host on up to n pool
 * handles that have been idle for at least idle_ms (0: every idle handle),
 * so the next caller does not pay a handshake.  The web server answers that
 * itself (Apache: 200 with Allow, no application code runs), where a HEAD
 * to a FHIR route runs OpenEMR's PHP for a 404.  Only a 2xx on a connection
 * left open counts as warm; any other answer (nginx: 400 and close) turns
 * warming off for the client for good, logged once at info level.  Call at
 * instance start, and when the instance has been idle.
 * cancel (may be NULL) ends it promptly, e.g. when the instance is freed. */
int http_client_warm(struct http_client *c, const char *url, unsigned n,
                     int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel, vap_error *err);
/* One handle of http_client_warm, unless want connections are open (used
 * within idle_ms) or in use already, so requests that opened their own
 * are not doubled: 1 when one was tried (and warmed, or left cold when the
 * server refused), 0 when none needs it or warming is off, else a negative
 * vap_status with err set.  A request that would
 * otherwise open a new connection while one is being warmed waits for that
 * one instead, once the server is known to keep warm-up connections. */
int http_client_warm_step(struct http_client *c, const char *url, unsigned want,
                          int64_t idle_ms, int64_t deadline_ms, vap_cancel *cancel,
                          vap_error *err);

/* An application/x-www-form-urlencoded body built in one buffer that is
 * wiped when freed (token-endpoint forms carry secrets). */
struct http_form {
    char *buf;
    size_t len, cap;
    int failed; /* out of memory or over the cap: http_form_add failed */
};
void http_form_init(struct http_form *f);
int http_form_add(struct http_form *f, const char *name, const char *value);
void http_form_free(struct http_form *f);

/* Form-encode src (unreserved kept, space as '+') into out (NUL-terminated).
 * Returns the length, or (size_t)-1 if out_cap is too small. */
size_t http_form_encode(const char *src, size_t len, char *out, size_t out_cap);

#endif
