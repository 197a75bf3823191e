/* sim_util.c: small helpers for the simulator: bounded buffers, base64url,
 * random tokens, form parsing and the JSON/HTML/redirect response shapes. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim_internal.h"

const char SIM_DESC_INVALID_REQUEST[] =
    "The request is missing a required parameter, includes an invalid parameter value, "
    "includes a parameter more than once, or is otherwise malformed.";
const char SIM_DESC_INVALID_GRANT[] =
    "The provided authorization grant (e.g., authorization code, resource owner credentials) "
    "or refresh token is invalid, expired, revoked, does not match the redirection URI used "
    "in the authorization request, or was issued to another client.";
const char SIM_DESC_INVALID_SCOPE[] = "The requested scope is invalid, unknown, or malformed";
const char SIM_DESC_ACCESS_DENIED[] = "The resource owner or authorization server denied the request.";

static int hexval(int c);

void sim_buf_init(sim_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int sim_buf_add(sim_buf *b, const void *data, size_t len)
{
    if (b->oom)
        return -1;
    if (len > b->max || b->len + len + 1 > b->max) {
        b->oom = 1;
        return -1;
    }
    if (b->len + len + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + len + 1)
            ncap *= 2;
        if (ncap > b->max)
            ncap = b->max;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return -1;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int sim_buf_addf(sim_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(tmp))
        return sim_buf_add(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = sim_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

char *sim_buf_steal(sim_buf *b)
{
    if (b->oom) {
        sim_buf_free(b);
        return NULL;
    }
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sim_buf_free(sim_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *sim_b64url(const unsigned char *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    if (!out)
        return NULL;
    sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static int b64_decode_variant(const char *in, size_t len, unsigned char **out, size_t *outlen,
                              int variant)
{
    unsigned char *buf = malloc(len + 1);
    if (!buf)
        return -1;
    size_t n = 0;
    if (sodium_base642bin(buf, len + 1, in, len, NULL, &n, NULL, variant) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int sim_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    return b64_decode_variant(in, len, out, outlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int sim_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    return b64_decode_variant(in, len, out, outlen, sodium_base64_VARIANT_ORIGINAL);
}

char *sim_random_b64url(size_t nbytes)
{
    unsigned char raw[128];
    if (nbytes > sizeof(raw))
        return NULL;
    randombytes_buf(raw, nbytes);
    return sim_b64url(raw, nbytes);
}

char *sim_random_hex(const char *prefix, size_t nbytes)
{
    unsigned char raw[512];
    if (nbytes > sizeof(raw))
        return NULL;
    randombytes_buf(raw, nbytes);
    size_t plen = strlen(prefix);
    char *out = malloc(plen + nbytes * 2 + 1);
    if (!out)
        return NULL;
    memcpy(out, prefix, plen);
    sodium_bin2hex(out + plen, nbytes * 2 + 1, raw, nbytes);
    return out;
}

char *sim_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

int sim_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

char *sim_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Decodes %XX and '+' into a new string; NULL on a bad escape or an encoded NUL. */
static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= len) {
                free(out);
                return NULL;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

int sim_form_parse(const char *buf, size_t len, sim_form *f)
{
    memset(f, 0, sizeof(*f));
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && buf[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && buf[eq] != '=')
                eq++;
            if (f->n >= SIM_FORM_MAX)
                goto fail;
            char *k = form_decode(buf + i, eq - i);
            char *v = form_decode(buf + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0);
            if (!k || !v) {
                free(k);
                free(v);
                goto fail;
            }
            f->key[f->n] = k;
            f->val[f->n] = v;
            f->n++;
        }
        i = end + 1;
    }
    return 0;
fail:
    sim_form_free(f);
    return -1;
}

int sim_form_add(sim_form *f, const char *key, const char *val)
{
    if (f->n >= SIM_FORM_MAX)
        return -1;
    f->key[f->n] = strdup(key);
    f->val[f->n] = strdup(val ? val : "");
    if (!f->key[f->n] || !f->val[f->n]) {
        free(f->key[f->n]);
        free(f->val[f->n]);
        return -1;
    }
    f->n++;
    return 0;
}

const char *sim_form_get(const sim_form *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0)
            return f->val[i];
    return NULL;
}

void sim_form_free(sim_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->val[i]);
    }
    f->n = 0;
}

void sim_resp_json(sim_resp *r, int status, json_t *body)
{
    free(r->body);
    r->status = status;
    r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    r->len = r->body ? strlen(r->body) : 0;
    r->ctype = "application/json";
    json_decref(body);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"internalErrors\":\"out of memory\"}");
        r->len = r->body ? strlen(r->body) : 0;
    }
}

void sim_resp_html(sim_resp *r, int status, char *html)
{
    free(r->body);
    r->status = status;
    r->body = html;
    r->len = html ? strlen(html) : 0;
    r->ctype = "text/html; charset=utf-8";
}

void sim_resp_redirect(sim_resp *r, int status, char *url)
{
    free(r->location);
    r->status = status;
    r->location = url;
    if (!r->body) {
        r->body = strdup("");
        r->len = 0;
        r->ctype = "text/html; charset=utf-8";
    }
}

void sim_resp_free(sim_resp *r)
{
    free(r->body);
    free(r->location);
    free(r->set_cookie);
    memset(r, 0, sizeof(*r));
}

/* league/oauth2-server's shape: message is a copy of error_description. */
void sim_oauth_error(sim_resp *r, int status, const char *error, const char *desc,
                     const char *hint)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "error_description", json_string(desc));
    if (hint)
        json_object_set_new(o, "hint", json_string(hint));
    json_object_set_new(o, "message", json_string(desc));
    sim_resp_json(r, status, o);
    r->ctype = "application/json; charset=UTF-8";
}

/* OpenEMR's ExceptionHandlerListener shape for API auth failures. */
void sim_api_error(sim_resp *r, int status, const char *message)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string("An error occurred"));
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "code", json_integer(status));
    sim_resp_json(r, status, o);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sim_note_secret(const struct sim_server *s, const char *kind, const char *value)
{
    if (s == NULL || s->cfg.secrets_log == NULL || value == NULL || value[0] == '\0')
        return;
    /* One write per line with O_APPEND: lines from pool threads never mix. */
    sim_buf b;
    sim_buf_init(&b, 65536);
    if (sim_buf_addf(&b, "%s %s\n", kind, value) == 0) {
        int fd = open(s->cfg.secrets_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t n = write(fd, b.p, b.len);
            (void)n;
            close(fd);
        }
    }
    sim_buf_free(&b);
}
