/* http_proxy.c - which proxy a request goes through, decided here rather
 * than inside libcurl, so a connection error can name the proxy it went
 * through.  proxy=env reads https_proxy (then HTTPS_PROXY, all_proxy,
 * ALL_PROXY) and no_proxy (NO_PROXY) once, when the client is made; every
 * handle is then told the answer explicitly (CURLOPT_PROXY, with libcurl's
 * own environment lookup switched off by an empty CURLOPT_NOPROXY).
 * Nothing here allocates per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "core/errors.h"
#include "http/http_int.h"

static const char *proxy_env(const char **name);
static int proxy_show(const char *url, const char *from, char *out, size_t cap);

int http_proxy_init(struct http_client *c, const char *opt, vap_error *err)
{
    const char *url = NULL, *from = NULL;
    c->proxy_env = opt == NULL;
    if (opt == NULL) {
        url = proxy_env(&from);
        const char *np = getenv("no_proxy");
        if (np == NULL || np[0] == '\0')
            np = getenv("NO_PROXY");
        if (url != NULL && np != NULL && np[0] != '\0' && (c->no_proxy = http_dup(np)) == NULL)
            return err_set(err, VAP_E_NOMEM, "out of memory reading no_proxy");
    } else if (opt[0] != '\0') {
        url = opt;
        from = "proxy=";
    }
    if (url == NULL)
        return VAP_OK;
    if (proxy_show(url, from, c->proxy_shown, sizeof c->proxy_shown) != 0)
        return err_set(err, VAP_E_CONFIG,
                       "the proxy in %s is not a URL that can be read (it is not shown here, as it may hold "
                       "a password): give it as http://HOST:PORT, with any user or password %%-encoded",
                       from);
    c->proxy = http_dup(url);
    if (c->proxy == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory reading the proxy");
    return VAP_OK;
}

const char *http_proxy_for(const struct http_client *c, const char *url)
{
    if (c->proxy == NULL)
        return "";
    if (c->no_proxy == NULL)
        return c->proxy;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    /* The host without its port ([v6] without the brackets). */
    size_t h = n;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        p++;
        h = close ? (size_t)(close - p) : n - 1;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon != NULL)
            h = (size_t)(colon - p);
    }
    return http_noproxy_exempt(c->no_proxy, p, h) ? "" : c->proxy;
}

const char *http_proxy_via(const struct http_client *c, const struct http_slot *s)
{
    return s->proxy_set != NULL && s->proxy_set[0] != '\0' ? c->proxy_shown : NULL;
}

/* ---- helpers --------------------------------------------------------------- */

static const char *proxy_env(const char **name)
{
    static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && v[0] != '\0') {
            *name = names[i];
            return v;
        }
    }
    return NULL;
}

/* ---- no_proxy, as libcurl 7.88 reads it --------------------------------------
 * Entries are separated by commas and blanks.  Only a no_proxy that is
 * exactly "*" exempts every host.  A trailing dot is ignored on the host and
 * on the entry, a leading dot on the entry; a name entry matches the host
 * itself and every name under it, case-insensitively.  A host that is an
 * IPv4 or IPv6 address is matched only against address entries, each
 * optionally with /BITS (CIDR); without /BITS the whole address. */

enum { NP_NAME, NP_V4, NP_V6 };

/* 1 when the first BITS bits of A and B (LEN bytes each) are equal. */
static int np_prefix_eq(const unsigned char *a, const unsigned char *b, size_t len, unsigned bits)
{
    size_t whole = bits / 8;
    if (whole > len)
        return 0;
    if (memcmp(a, b, whole) != 0)
        return 0;
    unsigned rest = bits % 8;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return whole < len && (a[whole] & mask) == (b[whole] & mask);
}

/* The address entry E (EN bytes, maybe with /BITS) against the host's
 * address ADDR of family TYPE. */
static int np_addr_match(int type, const unsigned char *addr, const char *e, size_t en)
{
    char buf[64];
    if (en == 0 || en >= sizeof buf)
        return 0;
    memcpy(buf, e, en);
    buf[en] = '\0';
    size_t max = type == NP_V4 ? 32 : 128;
    unsigned bits = (unsigned)max;
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
        char *end = NULL;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || b > max)
            return 0;
        if (b > 0)
            bits = (unsigned)b;
        *slash = '\0';
    }
    unsigned char want[16];
    if (inet_pton(type == NP_V4 ? AF_INET : AF_INET6, buf, want) != 1)
        return 0;
    return np_prefix_eq(addr, want, type == NP_V4 ? 4 : 16, bits);
}

static int np_blank(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int http_noproxy_exempt(const char *no_proxy, const char *host, size_t host_len)
{
    if (no_proxy == NULL || host_len == 0)
        return 0;
    if (strcmp(no_proxy, "*") == 0)
        return 1;
    if (host_len > 0 && host[host_len - 1] == '.')
        host_len--;
    char hb[64];
    unsigned char addr[16];
    int type = NP_NAME;
    if (host_len > 0 && host_len < sizeof hb) {
        memcpy(hb, host, host_len);
        hb[host_len] = '\0';
        if (inet_pton(AF_INET, hb, addr) == 1)
            type = NP_V4;
        else if (inet_pton(AF_INET6, hb, addr) == 1)
            type = NP_V6;
    }
    for (const char *p = no_proxy; *p;) {
        while (*p && np_blank(*p))
            p++;
        const char *e = p;
        while (*p && !np_blank(*p))
            p++;
        size_t en = (size_t)(p - e);
        if (en == 0)
            continue;
        if (type != NP_NAME) {
            if (np_addr_match(type, addr, e, en))
                return 1;
            continue;
        }
        if (e[0] == '.')
            e++, en--;
        if (en > 0 && e[en - 1] == '.')
            en--;
        if (en == 0 || en > host_len || strncasecmp(host + host_len - en, e, en) != 0)
            continue;
        if (en == host_len || host[host_len - en - 1] == '.')
            return 1;
    }
    return 0;
}

/* The proxy for messages: scheme://host[:port] as libcurl's URL parser reads
 * it, never a user or password, and where it came from.  -1 when the URL
 * cannot be read (then it is not shown at all: it may hold a password). */
static int proxy_show(const char *url, const char *from, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
            port = NULL;
        snprintf(out, cap, "%.16s://%.96s%s%.8s (from %s)", scheme, host, port ? ":" : "", port ? port : "", from);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}
