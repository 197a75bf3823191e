/* errors.c - vap_error handling and the strerror table. */
#include "core/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Replace control characters: a message is one printable line. */
static void sanitize_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
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
        sanitize_line(err->message);
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
    if (VAP_HAS(err, oauth_error)) {
        snprintf(err->oauth_error, sizeof err->oauth_error, "%s",
                 oauth_error ? oauth_error : "");
        sanitize_line(err->oauth_error);
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
