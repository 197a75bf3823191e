/* authurl.c - building the authorization request URL. */
#include "oauth/authurl.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

static int authurl_append(char *buf, size_t cap, size_t *pos, const char *s,
                          size_t n);

int authurl_build(const authurl_params *p, char **out, vap_error *err)
{
    char *buf = NULL;
    size_t pos = 0;
    int rc;

    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "authurl_build: no output");
    *out = NULL;
    if (p == NULL || p->authorization_endpoint == NULL || p->client_id == NULL ||
        p->redirect_uri == NULL || p->scope == NULL || p->state == NULL ||
        p->nonce == NULL || p->code_challenge == NULL || p->aud == NULL)
        return err_set(err, VAP_E_INVAL,
                       "authurl_build: a required parameter is missing");
    if (p->client_id[0] == '\0' || p->scope[0] == '\0')
        return err_set(err, VAP_E_CONFIG,
                       "client_id and scope must be set before authorizing");
    const char *ep = p->authorization_endpoint;
    if (strchr(ep, '#') != NULL)
        return err_set(err, VAP_E_INVAL,
                       "The authorization endpoint has a fragment ('#'): it "
                       "cannot take parameters");
    const struct {
        const char *name;
        const char *value;
    } params[] = {
        {"response_type", "code"},
        {"client_id", p->client_id},
        {"redirect_uri", p->redirect_uri},
        {"scope", p->scope},
        {"state", p->state},
        {"nonce", p->nonce},
        {"code_challenge", p->code_challenge},
        {"code_challenge_method", "S256"},
        {"aud", p->aud},
        {"launch", p->launch},
    };
    buf = malloc(AUTHURL_MAX_LEN + 1);
    if (buf == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory building the URL");
    size_t eplen = strlen(ep);
    char sep = strchr(ep, '?') == NULL ? '?' : '&';
    if (sep == '&' && (ep[eplen - 1] == '?' || ep[eplen - 1] == '&'))
        sep = 0; /* the endpoint's query already ends with a separator */
    if ((rc = authurl_append(buf, AUTHURL_MAX_LEN, &pos, ep, eplen)))
        goto too_long;
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (params[i].value == NULL)
            continue;
        size_t vlen = strlen(params[i].value), enc_len;
        if ((sep && (rc = authurl_append(buf, AUTHURL_MAX_LEN, &pos, &sep, 1))) ||
            (rc = authurl_append(buf, AUTHURL_MAX_LEN, &pos, params[i].name,
                                 strlen(params[i].name))) ||
            (rc = authurl_append(buf, AUTHURL_MAX_LEN, &pos, "=", 1)) ||
            (rc = authurl_encode(params[i].value, vlen, buf + pos,
                                 AUTHURL_MAX_LEN + 1 - pos, &enc_len)))
            goto too_long;
        pos += enc_len;
        sep = '&';
    }
    buf[pos] = '\0';
    *out = buf;
    return VAP_OK;
too_long:
    free(buf);
    return err_set(err, VAP_E_INVAL,
                   "The authorization URL would be longer than %u bytes: "
                   "shorten the scope list", AUTHURL_MAX_LEN);
}

int authurl_encode(const char *s, size_t len, char *out, size_t out_size,
                   size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (out == NULL || out_size == 0 || (s == NULL && len > 0))
        return VAP_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == '_' || c == '~';
        size_t need = keep ? 1 : 3;
        if (o + need >= out_size) {
            out[0] = '\0';
            return VAP_E_INVAL;
        }
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return VAP_OK;
}

/* Append n bytes if they fit in cap (the NUL has its own byte). */
static int authurl_append(char *buf, size_t cap, size_t *pos, const char *s,
                          size_t n)
{
    if (n > cap - *pos)
        return VAP_E_INVAL;
    memcpy(buf + *pos, s, n);
    *pos += n;
    return VAP_OK;
}
