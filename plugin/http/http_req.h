/* http_req.h - internal to the HTTP layer (http.c): request header lists,
 * libcurl results to vap_status, URL helpers for messages, the debug line. */
#ifndef VAP_HTTP_REQ_H
#define VAP_HTTP_REQ_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* The curl header list for rq: ua_line ("User-Agent: ..."), its extra
 * headers (refused with VAP_E_INVAL if one holds CR/LF or no colon),
 * Content-Type, "Expect:" for bodies, and Authorization (Bearer, or Basic
 * with both parts form-encoded first). */
int http_req_headers(const struct http_request *rq, const char *ua_line,
                     struct curl_slist **out);
/* 1 when l is exactly the list http_req_headers would build for rq with
 * the same ua_line (a client's lists all share it), so a
 * slot can keep its list (and the bearer line in it) while the token stays
 * the same, instead of formatting it per request. */
int http_req_headers_match(const struct http_request *rq, const struct curl_slist *l);
/* Whether a slot may keep rq's list: not with Basic credentials (the token
 * endpoint, rare), which are wiped after their one request. */
int http_req_headers_cacheable(const struct http_request *rq);
/* Wipes every line (credentials) before freeing.  NULL is a no-op. */
void http_req_headers_free(struct curl_slist *l);

/* A failed transfer's vap_status and message (err may be NULL).  via: the
 * proxy it went through (as shown in messages), or NULL. */
int http_req_map_error(CURLcode res, int too_large, size_t max, int hdr_rc,
                       const char *host, const char *via, const char *errbuf, vap_error *err);

/* True for an https:// URL (scheme case-insensitive). */
int http_req_is_https(const char *url);
/* "scheme://[user@]host[:port]/..." -> "host[:port]", for messages only. */
void http_req_host(const char *url, char *out, size_t cap);

/* One redacted debug line for a finished request. */
void http_req_log(const struct http_request *rq, const char *method, int status,
                  size_t n, int64_t ms, int rc);

#endif
