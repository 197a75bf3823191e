/* http_hdr.c - parsing response header lines, Retry-After and Link. */
#include "http/http_hdr.h"

#include <string.h>

static int hdr_name_is(const char *name, size_t nlen, const char *want);
static int hdr_store(char *dst, size_t cap, const char *v, size_t len);
static int hdr_append(char *dst, size_t cap, const char *v, size_t len);
static int hdr_status_line(const char *line, size_t len, int *status);
static int hdr_digits(const char *s, size_t n, int64_t *out);
static int hdr_month(const char *s);
static int64_t hdr_days_from_civil(int64_t y, int m, int d);
static size_t hdr_skip_ws(const char *s, size_t i, size_t len);
static int hdr_tolower(int c);
static int hdr_is_tchar(unsigned char c);

void http_hdr_init(struct http_hdrs *h)
{
    /* Emptying the strings is enough: clearing all 12 KB on every response
     * was a third of the layer's own cost per warm request. */
    h->status = 0;
    h->total = 0;
    h->content_type[0] = '\0';
    h->retry_after[0] = '\0';
    h->location[0] = '\0';
    h->www_authenticate[0] = '\0';
    h->link[0] = '\0';
}

int http_hdr_feed(struct http_hdrs *h, const char *line, size_t len)
{
    h->total += len;
    if (h->total > HTTP_HDR_TOTAL_MAX)
        return HTTP_HDR_TOO_BIG;
    /* "\r\n" at once (every line has it), then any stray CR or LF */
    if (len >= 2 && line[len - 1] == '\n' && line[len - 2] == '\r')
        len -= 2;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0)
        return HTTP_HDR_OK;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        size_t total = h->total;
        int status;
        if (hdr_status_line(line, len, &status) != 0)
            return HTTP_HDR_MALFORMED;
        http_hdr_init(h);
        h->total = total;
        h->status = status;
        return HTTP_HDR_OK;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return HTTP_HDR_MALFORMED;
    /* Only the five headers we keep are validated and read; libcurl has
     * already framed the others, and nothing here interprets them.  The
     * name is matched first (by its length, then in full):
     * most lines of a response are none of the five and cost no more. */
    size_t nlen = (size_t)(colon - line);
    char *dst;
    size_t cap;
    int append = 0;
    switch (nlen) {
    case 12:
        if (!hdr_name_is(line, nlen, "content-type"))
            goto other;
        dst = h->content_type, cap = sizeof h->content_type;
        break;
    case 11:
        if (!hdr_name_is(line, nlen, "retry-after"))
            goto other;
        dst = h->retry_after, cap = sizeof h->retry_after;
        break;
    case 8:
        if (!hdr_name_is(line, nlen, "location"))
            goto other;
        dst = h->location, cap = sizeof h->location;
        break;
    case 16:
        if (!hdr_name_is(line, nlen, "www-authenticate"))
            goto other;
        dst = h->www_authenticate, cap = sizeof h->www_authenticate, append = 1;
        break;
    case 4:
        if (!hdr_name_is(line, nlen, "link"))
            goto other;
        dst = h->link, cap = sizeof h->link, append = 1;
        break;
    default:
    other:
        /* names that start like the five are still checked as names (token
         * characters only, no space before the colon: RFC 9112 §5.1), so
         * "Link Bad:" or "Content-Type :" is refused, never skipped */
        switch (hdr_tolower((unsigned char)line[0])) {
        case 'c': case 'r': case 'l': case 'w':
            for (size_t i = 0; i < nlen; i++)
                if (!hdr_is_tchar((unsigned char)line[i]))
                    return HTTP_HDR_MALFORMED;
            break;
        default:
            break;
        }
        return HTTP_HDR_OK;
    }
    size_t vs = hdr_skip_ws(line, nlen + 1, len);
    size_t ve = len;
    while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
        ve--;
    const char *v = line + vs;
    size_t vlen = ve - vs;
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            return HTTP_HDR_MALFORMED;
    return append ? hdr_append(dst, cap, v, vlen) : hdr_store(dst, cap, v, vlen);
}

int http_retry_after_s(const char *v, size_t len, int64_t now_s)
{
    int64_t secs;
    if (len == 0)
        return -1;
    if (v[0] >= '0' && v[0] <= '9') {
        if (hdr_digits(v, len, &secs) != 0)
            return -1;
    } else {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters). */
        int64_t d, y, hh, mm, ss;
        if (len != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' ||
            v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':' ||
            v[25] != ' ' || memcmp(v + 26, "GMT", 3) != 0)
            return -1;
        int mon = hdr_month(v + 8);
        if (mon < 0 || hdr_digits(v + 5, 2, &d) || hdr_digits(v + 12, 4, &y) ||
            hdr_digits(v + 17, 2, &hh) || hdr_digits(v + 20, 2, &mm) ||
            hdr_digits(v + 23, 2, &ss) || d < 1 || d > 31 || hh > 23 ||
            mm > 59 || ss > 60)
            return -1;
        int64_t t = hdr_days_from_civil(y, mon + 1, (int)d) * 86400 +
                    hh * 3600 + mm * 60 + ss;
        secs = t - now_s;
        if (secs < 0)
            secs = 0;
    }
    return secs > 86400 ? 86400 : (int)secs;
}

int http_link_next(const char *v, size_t len, char *out, size_t out_cap)
{
    size_t i = 0;
    while (i < len) {
        i = hdr_skip_ws(v, i, len);
        if (i < len && v[i] == ',') {
            i++;
            continue;
        }
        if (i >= len)
            break;
        if (v[i] != '<')
            return -1;
        const char *gt = memchr(v + i + 1, '>', len - i - 1);
        if (gt == NULL)
            return -1;
        size_t us = i + 1, ue = (size_t)(gt - v);
        i = ue + 1;
        int is_next = 0;
        /* parameters: ;name=value or ;name="value" */
        for (;;) {
            i = hdr_skip_ws(v, i, len);
            if (i >= len || v[i] != ';')
                break;
            i = hdr_skip_ws(v, i + 1, len);
            size_t ns = i;
            while (i < len && v[i] != '=' && v[i] != ';' && v[i] != ',' &&
                   v[i] != ' ' && v[i] != '\t')
                i++;
            size_t ne = i;
            i = hdr_skip_ws(v, i, len);
            size_t vs = i, ve = i;
            if (i < len && v[i] == '=') {
                i = hdr_skip_ws(v, i + 1, len);
                if (i < len && v[i] == '"') {
                    const char *q = memchr(v + i + 1, '"', len - i - 1);
                    if (q == NULL)
                        return -1;
                    vs = i + 1;
                    ve = (size_t)(q - v);
                    i = ve + 1;
                } else {
                    vs = i;
                    while (i < len && v[i] != ';' && v[i] != ',' && v[i] != ' ')
                        i++;
                    ve = i;
                }
            }
            if (hdr_name_is(v + ns, ne - ns, "rel")) {
                /* rel may hold several space-separated relation types */
                size_t k = vs;
                while (k < ve) {
                    while (k < ve && v[k] == ' ')
                        k++;
                    size_t ts = k;
                    while (k < ve && v[k] != ' ')
                        k++;
                    if (hdr_name_is(v + ts, k - ts, "next"))
                        is_next = 1;
                }
            }
        }
        i = hdr_skip_ws(v, i, len);
        if (i < len && v[i] != ',')
            return -1;
        if (is_next) {
            if (ue - us + 1 > out_cap)
                return -1;
            memcpy(out, v + us, ue - us);
            out[ue - us] = '\0';
            return 1;
        }
    }
    return 0;
}

static int hdr_name_is(const char *name, size_t nlen, const char *want)
{
    size_t wlen = strlen(want);
    if (nlen != wlen)
        return 0;
    for (size_t i = 0; i < nlen; i++)
        if (hdr_tolower((unsigned char)name[i]) != want[i])
            return 0;
    return 1;
}

static int hdr_store(char *dst, size_t cap, const char *v, size_t len)
{
    if (dst[0] != '\0')
        return HTTP_HDR_OK; /* first one wins; later copies are ignored */
    if (len + 1 > cap)
        return HTTP_HDR_TOO_BIG;
    memcpy(dst, v, len);
    dst[len] = '\0';
    return HTTP_HDR_OK;
}

static int hdr_append(char *dst, size_t cap, const char *v, size_t len)
{
    size_t cur = strlen(dst);
    size_t sep = cur ? 2 : 0;
    if (cur + sep + len + 1 > cap)
        return HTTP_HDR_TOO_BIG;
    if (sep)
        memcpy(dst + cur, ", ", 2);
    memcpy(dst + cur + sep, v, len);
    dst[cur + sep + len] = '\0';
    return HTTP_HDR_OK;
}

static int hdr_status_line(const char *line, size_t len, int *status)
{
    /* "HTTP/1.1 200 ..." or "HTTP/2 200" */
    const char *sp = memchr(line, ' ', len);
    if (sp == NULL)
        return -1;
    size_t i = (size_t)(sp - line) + 1;
    if (len - i < 3)
        return -1;
    int64_t code;
    if (hdr_digits(line + i, 3, &code) != 0 || code < 100 || code > 599)
        return -1;
    if (len - i > 3 && line[i + 3] != ' ')
        return -1;
    *status = (int)code;
    return 0;
}

static int hdr_digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int hdr_month(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int m = 0; m < 12; m++)
        if (memcmp(names + 3 * m, s, 3) == 0)
            return m;
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's method). */
static int64_t hdr_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static size_t hdr_skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* RFC 9110 §5.6.2 tchar as a bitmap (letters, digits and
 * !#$%&'*+-.^_`|~): this runs for header bytes of every response. */
/* RFC 9110 tchar: a byte table, one load per character of a name. */
static int hdr_is_tchar(unsigned char c)
{
    static const unsigned char tchar[256] = {
        ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
        ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
        ['~'] = 1,
    };
    return tchar[c];
}

static int hdr_tolower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}
