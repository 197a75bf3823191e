/* http_hdr.h - the response headers the plugin cares about, parsed from the
 * raw header lines libcurl hands over (untrusted bytes, bounded). */
#ifndef VAP_HTTP_HDR_H
#define VAP_HTTP_HDR_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HDR_TOTAL_MAX (64u * 1024) /* all header bytes of one response */
#define HTTP_HDR_CT_MAX 256
#define HTTP_HDR_RA_MAX 64
#define HTTP_HDR_LOC_MAX 2048
#define HTTP_HDR_WWWA_MAX 1024
#define HTTP_HDR_LINK_MAX 8192

struct http_hdrs {
    int status;                            /* from the last status line */
    char content_type[HTTP_HDR_CT_MAX];    /* "" if none */
    char retry_after[HTTP_HDR_RA_MAX];     /* raw value, "" if none */
    char location[HTTP_HDR_LOC_MAX];
    char www_authenticate[HTTP_HDR_WWWA_MAX];
    char link[HTTP_HDR_LINK_MAX];          /* several Link headers joined ", " */
    size_t total;                          /* header bytes seen so far */
};

enum http_hdr_rc {
    HTTP_HDR_OK = 0,
    HTTP_HDR_TOO_BIG = -1,  /* headers over the cap: abort the transfer   */
    HTTP_HDR_MALFORMED = -2 /* a line that is not a header or status line */
};

/* Reset h (before a response). */
void http_hdr_init(struct http_hdrs *h);

/* Feed one raw header line (as libcurl delivers it, CRLF included or not).
 * A status line ("HTTP/1.1 200 OK") starts a new response and resets the
 * fields, so interim 1xx responses leave nothing behind.  The blank line
 * ending the block is accepted.  Every line needs a colon; the names and
 * values of the headers kept here are validated (token name, no control
 * characters), other headers are not interpreted.  Values longer than a field are refused as
 * HTTP_HDR_TOO_BIG rather than truncated (a cut Link could point elsewhere). */
int http_hdr_feed(struct http_hdrs *h, const char *line, size_t len);

/* Retry-After as seconds from now: delta-seconds, or an IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT") compared with now_s (Unix seconds).
 * Returns -1 when absent or unparseable; values are clamped to [0, 86400]. */
int http_retry_after_s(const char *v, size_t len, int64_t now_s);

/* Find the URI of rel="next" (RFC 8288) in a Link value; copies it, NUL
 * terminated, into out.  Returns 1 found, 0 not found, -1 malformed or too
 * long for out. */
int http_link_next(const char *v, size_t len, char *out, size_t out_cap);

#endif
