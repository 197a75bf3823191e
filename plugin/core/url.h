/* url.h - splitting an absolute http(s) URL into its parts (pure, bounded). */
#ifndef VAP_URL_H
#define VAP_URL_H

#include <stddef.h>

#define URL_MAX_LEN 2048

/* Views into the caller's buffer (not NUL-terminated).  host excludes the
 * brackets of an IPv6 literal; port is 0 when absent.  path starts with '/'
 * or is empty. */
struct url_parts {
    const char *scheme; size_t scheme_len;
    const char *host;   size_t host_len;
    unsigned port;
    const char *path;   size_t path_len;
    const char *query;  size_t query_len; /* without '?'; NULL when absent  */
    const char *frag;   size_t frag_len;  /* without '#'; NULL when absent  */
    int has_userinfo;                     /* user@host: always refused      */
    int ipv6;                             /* host was [..]                  */
};

/* 0 on success, -1 when buf is not an absolute URL of the form
 * scheme://host[:port][/path][?query][#frag] with printable ASCII only. */
int url_split(const char *buf, size_t len, struct url_parts *out);

/* 1 if the parts name a loopback host: localhost, 127.0.0.1, ::1. */
int url_is_loopback(const struct url_parts *u);

/* 1 if scheme equals s (case-insensitive). */
int url_scheme_is(const struct url_parts *u, const char *s);

/* 1 if a and b have the same scheme, host (case-insensitive) and effective
 * port: the "same origin" rule for endpoints learned from discovery. */
int url_same_origin(const struct url_parts *a, const struct url_parts *b);

#endif
