/* url.c - a strict, allocation-free URL splitter for configuration and
 * discovery checks.  It accepts only what an https endpoint legitimately
 * looks like; anything odd is refused rather than interpreted. */
#include "core/url.h"

#include <string.h>
#include <strings.h>

static int is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static unsigned default_port(const struct url_parts *u)
{
    if (url_scheme_is(u, "https"))
        return 443;
    if (url_scheme_is(u, "http"))
        return 80;
    return 0;
}

int url_split(const char *buf, size_t len, struct url_parts *out)
{
    memset(out, 0, sizeof *out);
    if (buf == NULL || len == 0 || len > URL_MAX_LEN)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
            return -1; /* spaces, controls, non-ASCII: never in a config URL */

    size_t i = 0;
    while (i < len && is_scheme_char(buf[i]))
        i++;
    if (i == 0 || len - i < 3 || memcmp(buf + i, "://", 3) != 0)
        return -1;
    out->scheme = buf;
    out->scheme_len = i;
    i += 3;

    size_t auth_start = i;
    while (i < len && buf[i] != '/' && buf[i] != '?' && buf[i] != '#')
        i++;
    const char *auth = buf + auth_start;
    size_t auth_len = i - auth_start;
    if (memchr(auth, '@', auth_len) != NULL) {
        out->has_userinfo = 1;
        return -1;
    }
    size_t host_end;
    if (auth_len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (close == NULL || close == auth + 1)
            return -1;
        out->ipv6 = 1;
        out->host = auth + 1;
        out->host_len = (size_t)(close - auth) - 1;
        host_end = (size_t)(close - auth) + 1;
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        host_end = colon ? (size_t)(colon - auth) : auth_len;
        out->host = auth;
        out->host_len = host_end;
    }
    if (out->host_len == 0)
        return -1;
    if (host_end < auth_len) {
        if (auth[host_end] != ':' || host_end + 1 == auth_len)
            return -1;
        unsigned long port = 0;
        for (size_t k = host_end + 1; k < auth_len; k++) {
            if (auth[k] < '0' || auth[k] > '9')
                return -1;
            port = port * 10 + (unsigned long)(auth[k] - '0');
            if (port > 65535)
                return -1;
        }
        if (port == 0)
            return -1;
        out->port = (unsigned)port;
    }

    size_t path_start = i;
    while (i < len && buf[i] != '?' && buf[i] != '#')
        i++;
    out->path = buf + path_start;
    out->path_len = i - path_start;
    if (i < len && buf[i] == '?') {
        size_t q = ++i;
        while (i < len && buf[i] != '#')
            i++;
        out->query = buf + q;
        out->query_len = i - q;
    }
    if (i < len && buf[i] == '#') {
        out->frag = buf + i + 1;
        out->frag_len = len - i - 1;
    }
    return 0;
}

int url_is_loopback(const struct url_parts *u)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (u->host_len == strlen(names[k]) &&
            strncasecmp(u->host, names[k], u->host_len) == 0)
            return 1;
    return 0;
}

int url_scheme_is(const struct url_parts *u, const char *s)
{
    return u->scheme_len == strlen(s) && strncasecmp(u->scheme, s, u->scheme_len) == 0;
}

int url_same_origin(const struct url_parts *a, const struct url_parts *b)
{
    unsigned pa = a->port ? a->port : default_port(a);
    unsigned pb = b->port ? b->port : default_port(b);
    return a->scheme_len == b->scheme_len &&
           strncasecmp(a->scheme, b->scheme, a->scheme_len) == 0 &&
           a->host_len == b->host_len &&
           strncasecmp(a->host, b->host, a->host_len) == 0 && pa == pb;
}
