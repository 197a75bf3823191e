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

#include "core/errors.h"
#include "http/http_int.h"

static const char *proxy_env(const char **name);
static int proxy_exempt(const char *no_proxy, const char *host, size_t host_len);
static void proxy_show(const char *url, const char *from, char *out, size_t cap);

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
    c->proxy = http_dup(url);
    if (c->proxy == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory reading the proxy");
    proxy_show(url, from, c->proxy_shown, sizeof c->proxy_shown);
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
    return proxy_exempt(c->no_proxy, p, h) ? "" : c->proxy;
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

/* no_proxy: comma- or space-separated host names; "*" is every host; an
 * entry matches the host itself and every name under it (".example.org"
 * and "example.org" alike), case-insensitively. */
static int proxy_exempt(const char *no_proxy, const char *host, size_t host_len)
{
    const char *p = no_proxy;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t n = strcspn(p, ", ");
        const char *e = p;
        size_t en = n;
        if (en > 0 && e[0] == '.') {
            e++;
            en--;
        }
        if (n == 1 && p[0] == '*')
            return 1;
        if (en > 0 && en <= host_len && strncasecmp(host + host_len - en, e, en) == 0 &&
            (en == host_len || host[host_len - en - 1] == '.'))
            return 1;
        p += n;
    }
    return 0;
}

/* The proxy for messages: scheme, host and port, never a user or password,
 * and where it came from. */
static void proxy_show(const char *url, const char *from, char *out, size_t cap)
{
    const char *sep = strstr(url, "://");
    size_t scheme = sep ? (size_t)(sep - url) + 3 : 0;
    const char *p = url + scheme;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, cap, "%.*s%.*s (from %s)", (int)(scheme > 16 ? 16 : scheme), url,
             (int)(n > 96 ? 96 : n), p, from);
}
