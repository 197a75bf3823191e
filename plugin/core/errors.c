/* errors.c - vap_error handling and the strerror table. */
#include "core/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t err_utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned int cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

int err_utf8_hidden(const unsigned char *s, size_t n)
{
    /* C1 controls U+0080-U+009F (a terminal takes U+009B as CSI) and the
     * bidirectional embeddings, overrides and isolates, which reorder what
     * a reader sees. */
    if (n == 2)
        return s[0] == 0xc2 && s[1] <= 0x9f;
    if (n == 3 && s[0] == 0xe2)
        return (s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae) ||
               (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
    return 0;
}

void err_clean_line(char *line)
{
    unsigned char *r = (unsigned char *)line, *w = r;
    while (*r) {
        size_t n = err_utf8_len(r);
        if (n == 0) {
            *w++ = '?';
            r++;
        } else if (n == 1) {
            *w++ = (*r < 0x20 || *r == 0x7f) ? ' ' : *r;
            r++;
        } else if (err_utf8_hidden(r, n)) {
            *w++ = ' ';
            r += n;
        } else {
            memmove(w, r, n);
            w += n;
            r += n;
        }
    }
    *w = '\0';
}

int err_set(vap_error *err, int code, const char *fmt, ...)
{
    if (err == NULL || !VAP_HAS(err, code))
        return code;
    err->code = code;
    if (VAP_HAS(err, message)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err_clean_line(err->message);
    }
    return code;
}

void err_set_http(vap_error *err, int http_status, int retry_after_s,
                  const char *oauth_error)
{
    if (VAP_HAS(err, http_status))
        err->http_status = http_status;
    if (VAP_HAS(err, retry_after_s))
        err->retry_after_s = retry_after_s;
    if (VAP_HAS(err, oauth_error) && oauth_error == NULL) {
        err->oauth_error[0] = '\0'; /* every fetch: no formatting */
    } else if (VAP_HAS(err, oauth_error)) {
        snprintf(err->oauth_error, sizeof err->oauth_error, "%s",
                 oauth_error ? oauth_error : "");
        err_clean_line(err->oauth_error);
    }
}

void err_clear(vap_error *err)
{
    if (err == NULL)
        return;
    uint32_t size = err->struct_size, minor = err->abi_minor;
    if (size > sizeof *err)
        size = sizeof *err;
    memset(err, 0, size);
    err->struct_size = size;
    err->abi_minor = minor;
}

void err_copy(vap_error *dst, const vap_error *src)
{
    if (dst == NULL || src == NULL || dst == src)
        return;
    if (VAP_HAS(dst, code) && VAP_HAS(src, code))
        dst->code = src->code;
    if (VAP_HAS(dst, http_status) && VAP_HAS(src, http_status))
        dst->http_status = src->http_status;
    if (VAP_HAS(dst, retry_after_s) && VAP_HAS(src, retry_after_s))
        dst->retry_after_s = src->retry_after_s;
    if (VAP_HAS(dst, oauth_error) && VAP_HAS(src, oauth_error))
        memcpy(dst->oauth_error, src->oauth_error, sizeof dst->oauth_error);
    if (VAP_HAS(dst, message) && VAP_HAS(src, message))
        memcpy(dst->message, src->message, sizeof dst->message);
}

const char *err_name(int code)
{
    switch (code) {
    case VAP_OK: return "success";
    case VAP_E_INVAL: return "invalid argument";
    case VAP_E_CONFIG: return "configuration error";
    case VAP_E_ABI: return "ABI mismatch";
    case VAP_E_UNSUPPORTED: return "not supported";
    case VAP_E_NOMEM: return "out of memory";
    case VAP_E_IO: return "local I/O error";
    case VAP_E_SEAL: return "sealed store error";
    case VAP_E_UNAVAILABLE: return "server unavailable";
    case VAP_E_TIMEOUT: return "deadline passed";
    case VAP_E_TLS: return "TLS verification failed";
    case VAP_E_CANCELLED: return "cancelled";
    case VAP_E_REAUTH_REQUIRED: return "re-authorization required";
    case VAP_E_CLIENT: return "client rejected by the server";
    case VAP_E_DENIED: return "access denied";
    case VAP_E_PROTOCOL: return "protocol error";
    case VAP_E_HTTP: return "HTTP error";
    default: return "unknown error";
    }
}
