/* fuzz_authurl.c - the authorization request URL (plugin/oauth/authurl.c).  The
 * endpoint comes from the server's discovery document and the launch id
 * from an EHR: neither may add, drop or split a parameter.  The input is
 * up to nine NUL-separated fields (endpoint, client_id, redirect_uri,
 * scope, state, nonce, code_challenge, aud, launch); whatever URL is built
 * is split again here, independently, and every value must decode to
 * exactly the field given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/authurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NFIELDS 9

static int fuzz_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case hex is not what authurl_encode promises */
}

/* Does the encoded value enc (n bytes) decode to exactly want? */
static int fuzz_decodes_to(const char *enc, size_t n, const char *want)
{
    size_t w = 0, wl = strlen(want);
    for (size_t i = 0; i < n; i++, w++) {
        unsigned char c = (unsigned char)enc[i];
        if (c == '%') {
            if (i + 2 >= n)
                return 0;
            int hi = fuzz_hexval(enc[i + 1]), lo = fuzz_hexval(enc[i + 2]);
            if (hi < 0 || lo < 0)
                return 0;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')) {
            return 0; /* a raw reserved byte in a value */
        }
        if (w >= wl || (unsigned char)want[w] != c)
            return 0;
    }
    return w == wl;
}

static void fuzz_check_url(const char *url, const authurl_params *p)
{
    const char *names[] = {"response_type", "client_id", "redirect_uri", "scope", "state",
                           "nonce", "code_challenge", "code_challenge_method", "aud", "launch"};
    const char *values[] = {"code", p->client_id, p->redirect_uri, p->scope, p->state,
                            p->nonce, p->code_challenge, "S256", p->aud, p->launch};
    size_t el = strlen(p->authorization_endpoint);
    if (strncmp(url, p->authorization_endpoint, el) != 0)
        abort();
    const char *q = url + el;
    /* The parameters must land in the query: after a '?', which the
     * endpoint has or the builder adds. */
    char last = el ? p->authorization_endpoint[el - 1] : 0;
    int has_query = strchr(p->authorization_endpoint, '?') != NULL;
    if (!has_query || (last != '?' && last != '&')) {
        if (*q != (has_query ? '&' : '?'))
            abort();
        q++;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (values[i] == NULL)
            continue;
        size_t nl = strlen(names[i]);
        if (strncmp(q, names[i], nl) != 0 || q[nl] != '=')
            abort();
        q += nl + 1;
        size_t vl = strcspn(q, "&");
        if (!fuzz_decodes_to(q, vl, values[i]))
            abort();
        q += vl;
        if (*q == '&')
            q++;
        else if (*q != '\0')
            abort();
    }
    if (*q != '\0')
        abort(); /* something after the last parameter */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * AUTHURL_MAX_LEN)
        return 0;
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[FUZZ_NFIELDS] = {NULL};
    size_t nf = 0;
    for (const char *p = copy; nf < FUZZ_NFIELDS && p <= copy + size; p += strlen(p) + 1)
        f[nf++] = p;
    authurl_params ap = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]};
    char *url = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = authurl_build(&ap, &url, &err);
    if (rc == VAP_OK) {
        if (url == NULL || strlen(url) > AUTHURL_MAX_LEN)
            abort();
        fuzz_check_url(url, &ap);
        free(url);
    } else if (url != NULL || err.code != rc) {
        abort();
    }
    free(copy);
    return 0;
}
