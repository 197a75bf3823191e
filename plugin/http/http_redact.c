/* http_redact.c - redaction of form bodies, JSON, headers and URLs. */
#include "http/http_redact.h"

#include <string.h>

struct redact_out {
    char *buf;
    size_t cap; /* usable bytes, the NUL excluded */
    size_t len;
    int cut;
};

static void ro_init(struct redact_out *o, char *buf, size_t cap);
static void ro_put(struct redact_out *o, const char *s, size_t n);
static size_t ro_finish(struct redact_out *o);
static int redact_hex(int c);
static void redact_path(const char *in, size_t len, struct redact_out *o);
static int redact_ieq(const char *a, size_t alen, const char *b);
static size_t redact_pairs(const char *in, size_t len, struct redact_out *o);
static size_t redact_json_string_end(const char *in, size_t i, size_t len,
                                     int *closed);

static const char *const redact_names[] = {
    "client_secret", "code", "code_verifier", "refresh_token", "password",
    "access_token", "id_token", "assertion", "client_assertion", "token",
    "registration_access_token", "secret", "subject_token", "device_code",
};

int http_redact_is_secret_name(const char *name, size_t len)
{
    char dec[64];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)name[i];
        if (c == '%' && i + 2 < len &&
            redact_hex(name[i + 1]) >= 0 && redact_hex(name[i + 2]) >= 0) {
            c = redact_hex(name[i + 1]) * 16 + redact_hex(name[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (n == sizeof dec)
            return 0; /* longer than any secret name */
        dec[n++] = (char)c;
    }
    for (size_t k = 0; k < sizeof redact_names / sizeof redact_names[0]; k++)
        if (redact_ieq(dec, n, redact_names[k]))
            return 1;
    return 0;
}

int http_redact_looks_like_token(const char *v, size_t len)
{
    if (len >= 3 && memcmp(v, "eyJ", 3) == 0)
        return 1;
    if (len >= 8 && memcmp(v, "def50200", 8) == 0)
        return 1;
    if (len < 24)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || strchr("-_.~+/=", c) != NULL) ||
            c == '\0')
            return 0;
    }
    return 1;
}

size_t http_redact_form(const char *in, size_t len, char *out, size_t out_cap)
{
    struct redact_out o;
    ro_init(&o, out, out_cap);
    redact_pairs(in, len, &o);
    return ro_finish(&o);
}

/* The path of a URL without patient ids: after the segment "fhir" or "api"
 * (OpenEMR's FHIR and standard API bases) every second segment is an id
 * (Patient/ID, /api/patient/ID/encounter/ID), and so is the segment after
 * any FHIR resource type (a capitalised name) elsewhere; operations and
 * keywords ($everything, _history, _search) are kept. */
static void redact_path(const char *in, size_t len, struct redact_out *o)
{
    const char *sep = len >= 3 ? memmem(in, len, "://", 3) : NULL;
    size_t i = sep ? (size_t)(sep - in) + 3 : 0;
    while (i < len && in[i] != '/')
        i++;
    ro_put(o, in, i);
    int base = 0;  /* 1 once past "fhir" or "api" */
    size_t pos = 0; /* segments since the base */
    int after_type = 0;
    while (i < len) {
        size_t s = ++i;
        while (i < len && in[i] != '/')
            i++;
        size_t n = i - s;
        const char *seg = in + s;
        int keep = n == 0 || seg[0] == '$' || seg[0] == '_';
        int id = base ? (pos % 2 == 1) : after_type;
        ro_put(o, "/", 1);
        if (id && !keep)
            ro_put(o, HTTP_REDACTED, strlen(HTTP_REDACTED));
        else
            ro_put(o, seg, n);
        if (base)
            pos++;
        if (!base && ((n == 4 && memcmp(seg, "fhir", 4) == 0) || (n == 3 && memcmp(seg, "api", 3) == 0)))
            base = 1, pos = 0;
        after_type = n > 0 && seg[0] >= 'A' && seg[0] <= 'Z' && !id;
    }
}

size_t http_redact_url(const char *in, size_t len, char *out, size_t out_cap)
{
    struct redact_out o;
    ro_init(&o, out, out_cap);
    const char *q = memchr(in, '?', len);
    size_t head = q ? (size_t)(q - in) : len;
    redact_path(in, head, &o);
    if (q != NULL) {
        ro_put(&o, "?", 1);
        head++;
        const char *hash = memchr(q + 1, '#', len - head);
        size_t qlen = hash ? (size_t)(hash - q - 1) : len - head;
        redact_pairs(q + 1, qlen, &o);
        if (hash != NULL)
            ro_put(&o, "#" HTTP_REDACTED, 1 + strlen(HTTP_REDACTED));
    }
    return ro_finish(&o);
}

size_t http_redact_header(const char *in, size_t len, char *out, size_t out_cap)
{
    static const char *const creds[] = {"authorization", "proxy-authorization",
                                        "cookie", "set-cookie"};
    struct redact_out o;
    ro_init(&o, out, out_cap);
    const char *colon = memchr(in, ':', len);
    if (colon != NULL) {
        size_t nlen = (size_t)(colon - in);
        for (size_t k = 0; k < sizeof creds / sizeof creds[0]; k++)
            if (redact_ieq(in, nlen, creds[k])) {
                ro_put(&o, in, nlen + 1);
                ro_put(&o, " " HTTP_REDACTED, 1 + strlen(HTTP_REDACTED));
                return ro_finish(&o);
            }
    }
    ro_put(&o, in, len);
    return ro_finish(&o);
}

size_t http_redact_json(const char *in, size_t len, char *out, size_t out_cap)
{
    struct redact_out o;
    ro_init(&o, out, out_cap);
    int secret_key = 0; /* the last key named a secret */
    size_t i = 0;
    while (i < len) {
        if (in[i] != '"') {
            if (in[i] == ',' || in[i] == '{' || in[i] == '[')
                secret_key = 0;
            ro_put(&o, in + i, 1);
            i++;
            continue;
        }
        int closed;
        size_t end = redact_json_string_end(in, i, len, &closed);
        size_t k = end;
        while (k < len && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' ||
                           in[k] == '\r'))
            k++;
        const char *s = in + i + 1;
        /* an unterminated string (a cut body) is judged on what is left */
        size_t slen = closed ? end - i - 2 : len - i - 1;
        if (k < len && in[k] == ':') {
            secret_key = http_redact_is_secret_name(s, slen);
            ro_put(&o, in + i, end - i);
        } else if (secret_key || http_redact_looks_like_token(s, slen)) {
            ro_put(&o, "\"" HTTP_REDACTED "\"", strlen(HTTP_REDACTED) + 2);
        } else {
            ro_put(&o, in + i, end - i);
        }
        i = end;
    }
    return ro_finish(&o);
}

/* name=value&name=value: secret-named values replaced. */
static size_t redact_pairs(const char *in, size_t len, struct redact_out *o)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(in + i, '&', len - i);
        size_t pe = amp ? (size_t)(amp - in) : len;
        const char *eq = memchr(in + i, '=', pe - i);
        if (eq != NULL && http_redact_is_secret_name(in + i, (size_t)(eq - in) - i)) {
            ro_put(o, in + i, (size_t)(eq - in) - i + 1);
            ro_put(o, HTTP_REDACTED, strlen(HTTP_REDACTED));
        } else {
            ro_put(o, in + i, pe - i);
        }
        if (amp != NULL)
            ro_put(o, "&", 1);
        i = pe + 1;
    }
    return o->len;
}

/* Index just past the closing quote of the string starting at in[i], or
 * len with *closed = 0 when the string never ends. */
static size_t redact_json_string_end(const char *in, size_t i, size_t len,
                                     int *closed)
{
    size_t k = i + 1;
    *closed = 0;
    while (k < len) {
        if (in[k] == '\\') {
            k += 2;
            continue;
        }
        if (in[k] == '"') {
            *closed = 1;
            return k + 1;
        }
        k++;
    }
    return len;
}

static void ro_init(struct redact_out *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = cap ? cap - 1 : 0;
    o->len = 0;
    o->cut = 0;
}

static void ro_put(struct redact_out *o, const char *s, size_t n)
{
    if (o->cut)
        return;
    if (n > o->cap - o->len) {
        n = o->cap - o->len;
        o->cut = 1;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static size_t ro_finish(struct redact_out *o)
{
    if (o->cut && o->cap >= 3) {
        /* Never leave half of a value that was about to be redacted: the
         * tail is replaced, not just marked. */
        memcpy(o->buf + o->cap - 3, "...", 3);
        o->len = o->cap;
    }
    if (o->buf != NULL)
        o->buf[o->len] = '\0';
    return o->len;
}

static int redact_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int redact_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        int c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (c != (unsigned char)b[i])
            return 0;
    }
    return 1;
}
