/* redirect.c - the browser's callback to the redirect URI: a strict,
 * bounded parser of the URL or query, the check that it came to our
 * redirect URI, and `error=` callbacks turned into clear messages. */
#include "oauth/redirect.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "oauth/tokenresp.h"

/* The parameters we extract; each may appear at most once. */
static const struct {
    const char *name;
    size_t name_len;
    size_t offset;
    int token; /* code, state, iss: no control characters at all */
} redirect_fields[] = {
#define REDIRECT_FIELD(n, tok) {#n, sizeof #n - 1, offsetof(redirect_result, n), tok}
    REDIRECT_FIELD(code, 1),
    REDIRECT_FIELD(state, 1),
    REDIRECT_FIELD(iss, 1),
    REDIRECT_FIELD(error, 1),
    REDIRECT_FIELD(error_description, 0),
    REDIRECT_FIELD(error_uri, 0),
    REDIRECT_FIELD(hint, 0),
#undef REDIRECT_FIELD
};
#define REDIRECT_NFIELDS (sizeof redirect_fields / sizeof redirect_fields[0])

static size_t redirect_scheme_len(const char *s, size_t n);
static int redirect_decode(const char *s, size_t n, int plus_is_space,
                           char *dst, size_t *dst_len);
static int redirect_hex(unsigned char c);
static char *redirect_copy_raw(char **w, const char *s, size_t n);
static int redirect_params(const char *q, size_t n, redirect_result *r,
                           char **w, vap_error *err);
static void redirect_uri_path(const char *uri, const char **p, size_t *n);

int redirect_parse(const char *buf, size_t len, redirect_result *out,
                   vap_error *err)
{
    redirect_result r = {0};
    int rc;

    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "redirect_parse: no output");
    memset(out, 0, sizeof *out);
    if (buf == NULL)
        len = 0;
    if (len > REDIRECT_MAX_LEN)
        return err_set(err, VAP_E_INVAL,
                       "The callback address is longer than %u bytes: paste "
                       "only the address the browser was sent back to",
                       REDIRECT_MAX_LEN);
    /* A pasted line may carry surrounding blanks or a newline. */
    while (len > 0 && (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\r' ||
                       buf[0] == '\n'))
        buf++, len--;
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
                       buf[len - 1] == '\r' || buf[len - 1] == '\n'))
        len--;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e)
            return err_set(err, VAP_E_INVAL,
                           "The callback address contains a space or a "
                           "character a browser would have encoded: paste "
                           "the address exactly as the browser shows it");
    if (len == 0)
        return err_set(err, VAP_E_INVAL,
                       "The callback address is empty: paste the address the "
                       "browser was sent back to after approving access");

    /* Decoding never lengthens, so two copies of the input always fit. */
    r.storage_len_ = 2 * len + 8;
    r.storage_ = malloc(r.storage_len_);
    if (r.storage_ == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading the callback");
    char *w = r.storage_;

    size_t end = 0; /* end of the part before the query */
    while (end < len && buf[end] != '?' && buf[end] != '#')
        end++;
    size_t scheme = redirect_scheme_len(buf, end);
    size_t qstart;
    if (scheme > 0) {
        if (end < scheme + 3 || buf[scheme + 1] != '/' || buf[scheme + 2] != '/') {
            rc = err_set(err, VAP_E_INVAL,
                         "The callback address is not a web address (no "
                         "\"//\" after its scheme): paste the whole address");
            goto out;
        }
        size_t path = scheme + 3;
        while (path < end && buf[path] != '/')
            path++;
        r.base = redirect_copy_raw(&w, buf, end);
        r.path = redirect_copy_raw(&w, buf + path, end - path);
        qstart = end;
    } else if (buf[0] == '/') {
        r.path = redirect_copy_raw(&w, buf, end);
        qstart = end;
    } else {
        qstart = 0;
    }
    if (qstart < len && buf[qstart] == '?')
        qstart++;
    size_t qend = qstart;
    while (qend < len && buf[qend] != '#')
        qend++;
    rc = redirect_params(buf + qstart, qend - qstart, &r, &w, err);
    if (rc != VAP_OK)
        goto out;
    if (r.code == NULL && r.error == NULL) {
        rc = err_set(err, VAP_E_INVAL,
                     "The callback carries neither an authorization code nor "
                     "an error: paste the whole address the browser was sent "
                     "back to, including everything after '?'");
        goto out;
    }
    *out = r;
    memset(&r, 0, sizeof r);
    rc = VAP_OK;
out:
    redirect_free(&r);
    return rc;
}

void redirect_free(redirect_result *r)
{
    if (r == NULL)
        return;
    if (r->storage_ != NULL) {
        sodium_memzero(r->storage_, r->storage_len_);
        free(r->storage_);
    }
    memset(r, 0, sizeof *r);
}

int redirect_check_target(const redirect_result *r, const char *redirect_uri,
                          vap_error *err)
{
    const char *want;
    size_t want_len;

    if (r == NULL || redirect_uri == NULL)
        return err_set(err, VAP_E_INVAL, "redirect_check_target: no input");
    if (r->base != NULL) {
        /* A registered URI may carry its own query; the base is what
         * precedes it. */
        size_t n = strcspn(redirect_uri, "?#");
        if (strlen(r->base) == n && memcmp(r->base, redirect_uri, n) == 0)
            return VAP_OK;
    } else if (r->path != NULL) {
        redirect_uri_path(redirect_uri, &want, &want_len);
        const char *got = r->path[0] ? r->path : "/";
        if (strlen(got) == want_len && memcmp(got, want, want_len) == 0)
            return VAP_OK;
    } else {
        return VAP_OK;
    }
    return err_set(err, VAP_E_INVAL,
                   "The callback did not come to the redirect URI %.150s: "
                   "paste the address from the browser tab of this "
                   "authorization", redirect_uri);
}

int redirect_error_status(const redirect_result *r, vap_error *err)
{
    char code[64], desc[128], detail[200], name[96], advice[128];

    if (r == NULL || r->error == NULL)
        return VAP_OK;
    tokresp_clean_text(r->error, code, sizeof code);
    tokresp_clean_text(r->error_description, desc, sizeof desc);
    tokresp_detail(code, desc, detail, sizeof detail);
    err_set_http(err, 0, 0, code);

    if (strcmp(code, "access_denied") == 0)
        return err_set(err, VAP_E_DENIED,
                       "Access was not granted (%s): the user declined, or "
                       "this OpenEMR user may not reach patients; authorize "
                       "again as a user who may", detail);
    if (strcmp(code, "invalid_scope") == 0) {
        /* OpenEMR names the scope in its hint: "Check the `X` scope". */
        if (!tokresp_hint_name(r->hint, name, sizeof name) &&
            !tokresp_hint_name(r->error_description, name, sizeof name))
            return err_set(err, VAP_E_CONFIG,
                           "A requested scope was rejected (%s): correct the "
                           "scope option (no wildcards; patient/ or user/ "
                           "before each resource) and authorize again",
                           detail);
        tokresp_scope_advice(name, advice, sizeof advice);
        return err_set(err, VAP_E_CONFIG,
                       "The scope %s was rejected (invalid_scope): %s%s"
                       "correct the scope option and authorize again", name,
                       advice, advice[0] ? "; " : "");
    }
    if (strcmp(code, "unauthorized_client") == 0)
        return err_set(err, VAP_E_CLIENT,
                       "The client may not use the code flow (%s): check the "
                       "client's registration and that it is enabled",
                       detail);
    if (strcmp(code, "server_error") == 0 ||
        strcmp(code, "temporarily_unavailable") == 0)
        return err_set(err, VAP_E_UNAVAILABLE,
                       "The authorization server had a problem (%s): try "
                       "again later", detail);
    if (strcmp(code, "unsupported_response_type") == 0)
        return err_set(err, VAP_E_UNSUPPORTED,
                       "The server does not offer the code flow "
                       "(unsupported_response_type): it cannot be used");
    return err_set(err, VAP_E_PROTOCOL,
                   "Authorization failed (%s): check the settings the "
                   "message names, then authorize again", detail);
}

/* ---- helpers ------------------------------------------------------------ */

/* Split q on '&' and pick out our fields; decoding is strict everywhere so
 * a malformed unknown parameter cannot hide a malformed known one. */
static int redirect_params(const char *q, size_t n, redirect_result *r,
                           char **w, vap_error *err)
{
    size_t i = 0;

    while (i < n) {
        size_t e = i;
        while (e < n && q[e] != '&')
            e++;
        size_t eq = i;
        while (eq < e && q[eq] != '=')
            eq++;
        size_t name_len, value_len;
        /* Decode the name in place at *w; it is only kept if ours. */
        if (redirect_decode(q + i, eq - i, 1, *w, &name_len) != 0)
            goto bad_escape;
        size_t f = 0;
        while (f < REDIRECT_NFIELDS &&
               !(redirect_fields[f].name_len == name_len &&
                 memcmp(redirect_fields[f].name, *w, name_len) == 0))
            f++;
        const char *value = eq < e ? q + eq + 1 : q + e;
        size_t raw_len = eq < e ? e - eq - 1 : 0;
        if (f == REDIRECT_NFIELDS) {
            if (redirect_decode(value, raw_len, 1, *w, &value_len) != 0)
                goto bad_escape;
        } else {
            char **slot = (char **)((char *)r + redirect_fields[f].offset);
            if (*slot != NULL)
                return err_set(err, VAP_E_INVAL,
                               "The callback gives the %s parameter twice: it "
                               "was tampered with; authorize again",
                               redirect_fields[f].name);
            if (redirect_decode(value, raw_len, 1, *w, &value_len) != 0)
                goto bad_escape;
            for (size_t k = 0; redirect_fields[f].token && k < value_len; k++)
                if ((unsigned char)(*w)[k] < 0x20 || (*w)[k] == 0x7f)
                    return err_set(err, VAP_E_INVAL,
                                   "The callback's %s contains control "
                                   "characters: it was tampered with; "
                                   "authorize again", redirect_fields[f].name);
            (*w)[value_len] = '\0';
            *slot = *w;
            *w += value_len + 1;
        }
        i = e + 1;
    }
    return VAP_OK;
bad_escape:
    return err_set(err, VAP_E_INVAL,
                   "The callback contains a broken %%-escape or an encoded NUL "
                   "byte: paste the address exactly as the browser shows it");
}

/* RFC 3986 scheme ("http", "https", ...) followed by ':'; 0 if none. */
static size_t redirect_scheme_len(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    for (i = 1; i < n; i++) {
        char c = s[i];
        if (c == ':')
            return i;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            return 0;
    }
    return 0;
}

/* Percent-decode n bytes into dst (at least n bytes).  Returns -1 on a
 * '%' without two hex digits or on %00. */
static int redirect_decode(const char *s, size_t n, int plus_is_space,
                           char *dst, size_t *dst_len)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = redirect_hex((unsigned char)s[i + 1]);
            int lo = redirect_hex((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = (plus_is_space && c == '+') ? ' ' : (char)c;
        }
    }
    *dst_len = o;
    return 0;
}

static int redirect_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy n raw bytes to *w as a NUL-terminated string and advance *w. */
static char *redirect_copy_raw(char **w, const char *s, size_t n)
{
    char *p = *w;
    memcpy(p, s, n);
    p[n] = '\0';
    *w += n + 1;
    return p;
}

/* The path of a configured redirect URI ("/" when it has none). */
static void redirect_uri_path(const char *uri, const char **p, size_t *n)
{
    const char *s = strstr(uri, "://");
    s = s ? strchr(s + 3, '/') : NULL;
    if (s == NULL) {
        *p = "/";
        *n = 1;
        return;
    }
    *p = s;
    *n = strcspn(s, "?#");
}
