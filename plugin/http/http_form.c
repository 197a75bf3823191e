/* http_form.c - form-encoded bodies and values (RFC 6749 appendix B), in
 * buffers that are wiped because they carry client secrets and codes. */
#include "http/http.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_FORM_MAX (256u * 1024)

static int form_reserve(struct http_form *f, size_t more);

static const char form_hex[] = "0123456789ABCDEF";

void http_form_init(struct http_form *f)
{
    memset(f, 0, sizeof *f);
}

int http_form_add(struct http_form *f, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (f->failed)
        return -1;
    /* worst case every byte becomes %XX, plus '&', '=' and the NUL */
    if (nl > HTTP_FORM_MAX || vl > HTTP_FORM_MAX ||
        form_reserve(f, 3 * (nl + vl) + 3) != 0) {
        f->failed = 1;
        return -1;
    }
    if (f->len > 0)
        f->buf[f->len++] = '&';
    f->len += http_form_encode(name, nl, f->buf + f->len, f->cap - f->len);
    f->buf[f->len++] = '=';
    f->len += http_form_encode(value, vl, f->buf + f->len, f->cap - f->len);
    return 0;
}

void http_form_free(struct http_form *f)
{
    if (f->buf != NULL) {
        sodium_memzero(f->buf, f->cap);
        free(f->buf);
    }
    memset(f, 0, sizeof *f);
}

size_t http_form_encode(const char *src, size_t len, char *out, size_t out_cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == '_' || c == '~';
        size_t need = keep || c == ' ' ? 1 : 3;
        if (o + need + 1 > out_cap)
            return (size_t)-1;
        if (keep) {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = form_hex[c >> 4];
            out[o++] = form_hex[c & 15];
        }
    }
    if (o + 1 > out_cap)
        return (size_t)-1;
    out[o] = '\0';
    return o;
}

/* Grow without realloc: realloc would leave a copy of the secret behind. */
static int form_reserve(struct http_form *f, size_t more)
{
    if (f->len + more <= f->cap)
        return 0;
    size_t ncap = f->cap ? f->cap * 2 : 256;
    while (ncap < f->len + more)
        ncap *= 2;
    if (ncap > 4 * HTTP_FORM_MAX)
        return -1;
    char *nb = malloc(ncap);
    if (nb == NULL)
        return -1;
    if (f->buf != NULL) {
        memcpy(nb, f->buf, f->len);
        sodium_memzero(f->buf, f->cap);
        free(f->buf);
    }
    f->buf = nb;
    f->cap = ncap;
    return 0;
}
