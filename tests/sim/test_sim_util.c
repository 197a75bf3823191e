/* test_sim_util.c: the HTTPS client and OAuth helpers the simulator's tests
 * share.  One curl handle is reused so requests ride a keep-alive TLS
 * connection (fast under valgrind). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "test_sim.h"

static CURL *g_curl;
int g_fresh_connect;

static size_t on_body(char *p, size_t sz, size_t n, void *ud);
static size_t on_header(char *p, size_t sz, size_t n, void *ud);
static void copy_header(const char *line, size_t len, const char *name, char *dst, size_t dstlen);

int t_req(const char *method, const char *path, const char *const *headers, const char *body,
          tresp *out)
{
    char url[16384];
    struct curl_slist *hl = NULL;
    memset(out, 0, sizeof(*out));
    if (!g_curl)
        g_curl = curl_easy_init();
    curl_easy_reset(g_curl);
    snprintf(url, sizeof(url), "%s%s", path[0] == '/' ? g_base : "", path);
    curl_easy_setopt(g_curl, CURLOPT_URL, url);
    curl_easy_setopt(g_curl, CURLOPT_CAINFO, sim_ca_path(g_srv));
    curl_easy_setopt(g_curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(g_curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(g_curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(g_curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(g_curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(g_curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(g_curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g_curl, CURLOPT_FRESH_CONNECT, (long)g_fresh_connect);
    if (body) {
        curl_easy_setopt(g_curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(g_curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (hl)
        curl_easy_setopt(g_curl, CURLOPT_HTTPHEADER, hl);
    out->cc = curl_easy_perform(g_curl);
    curl_easy_getinfo(g_curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    if (!out->body) {
        out->body = calloc(1, 1);
    }
    return out->cc == CURLE_OK ? 0 : -1;
}

void t_req_cleanup(void)
{
    if (g_curl)
        curl_easy_cleanup(g_curl);
    g_curl = NULL;
}

void t_resp_free(tresp *r)
{
    free(r->body);
    r->body = NULL;
}

int t_get(const char *path, const char *bearer, tresp *out)
{
    char h[8192];
    const char *hs[] = {h, NULL};
    snprintf(h, sizeof(h), "Authorization: Bearer %s", bearer ? bearer : "");
    return t_req("GET", path, bearer ? hs : NULL, NULL, out);
}

long t_status_of_get(const char *path, const char *bearer)
{
    tresp r;
    t_get(path, bearer, &r);
    t_resp_free(&r);
    return r.status;
}

int t_form(const char *path, const char *body, const char *basic_id, const char *basic_secret,
           tresp *out)
{
    char h[1024], cred[512], b64[800];
    const char *hs[] = {"Content-Type: application/x-www-form-urlencoded", NULL, NULL};
    if (basic_id) {
        snprintf(cred, sizeof(cred), "%s:%s", basic_id, basic_secret ? basic_secret : "");
        sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred, strlen(cred),
                          sodium_base64_VARIANT_ORIGINAL);
        snprintf(h, sizeof(h), "Authorization: Basic %s", b64);
        hs[1] = h;
    }
    return t_req("POST", path, hs, body, out);
}

json_t *t_json(const tresp *r)
{
    return r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
}

json_t *t_control(const char *action, const char *json)
{
    char path[256];
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    snprintf(path, sizeof(path), "/_sim/%s", action);
    t_req(json ? "POST" : "GET", path, hs, json, &r);
    json_t *j = r.status == 200 ? t_json(&r) : NULL;
    if (r.status != 200)
        fprintf(stderr, "    control %s -> %ld %s\n", action, r.status, r.body ? r.body : "");
    t_resp_free(&r);
    return j;
}

const char *t_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

char *t_urlenc(const char *s)
{
    CURL *c = curl_easy_init();
    char *e = curl_easy_escape(c, s, 0);
    char *out = strdup(e);
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

char *t_query_param(const char *url, const char *k)
{
    const char *q = strchr(url, '?');
    size_t kl = strlen(k);
    while (q) {
        q++;
        if (strncmp(q, k, kl) == 0 && q[kl] == '=') {
            const char *v = q + kl + 1, *e = strchr(v, '&');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            CURL *c = curl_easy_init();
            int outlen = 0;
            char *d = curl_easy_unescape(c, v, (int)n, &outlen);
            char *out = strndup(d, (size_t)outlen);
            curl_free(d);
            curl_easy_cleanup(c);
            return out;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

void t_pkce(char verifier[65], char challenge[44])
{
    unsigned char raw[48], dig[crypto_hash_sha256_BYTES];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(verifier, 65, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(dig, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(challenge, 44, dig, sizeof(dig), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

char *t_code(const char *client_id, const char *scope, const char *challenge, const char *state)
{
    char path[4096];
    tresp r;
    char *sc = t_urlenc(scope), *ru = t_urlenc(REDIRECT);
    snprintf(path, sizeof(path),
             "/oauth2/default/authorize?response_type=code&client_id=%s&redirect_uri=%s"
             "&scope=%s%s%s%s%s%s", client_id, ru, sc, state ? "&state=" : "", state ? state : "",
             challenge ? "&code_challenge_method=S256&code_challenge=" : "",
             challenge ? challenge : "", "&nonce=n-0S6_WzA2Mj");
    free(sc);
    free(ru);
    t_req("GET", path, NULL, NULL, &r);
    char *code = r.status == 302 ? t_query_param(r.location, "code") : NULL;
    if (!code)
        fprintf(stderr, "    authorize -> %ld %s %s\n", r.status, r.location, r.body);
    t_resp_free(&r);
    return code;
}

json_t *t_tokens(const char *scope)
{
    char v[65], ch[44], body[8192];
    tresp r;
    char *code;
    t_pkce(v, ch);
    code = t_code(CONF_ID, scope, ch, "st1");
    if (!code)
        return NULL;
    char *ru = t_urlenc(REDIRECT);
    snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s"
             "&code_verifier=%s&client_id=" CONF_ID "&client_secret=" CONF_SECRET, code, ru, v);
    free(ru);
    free(code);
    t_form(TOKEN, body, NULL, NULL, &r);
    json_t *j = r.status == 200 ? t_json(&r) : NULL;
    if (!j)
        fprintf(stderr, "    token -> %ld %s\n", r.status, r.body);
    t_resp_free(&r);
    return j;
}

json_t *t_jwt_claims(const char *jwt)
{
    const char *a = jwt ? strchr(jwt, '.') : NULL;
    const char *b = a ? strchr(a + 1, '.') : NULL;
    unsigned char buf[8192];
    size_t n = 0;
    if (!b || sodium_base642bin(buf, sizeof(buf), a + 1, (size_t)(b - a - 1), NULL, &n, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NULL;
    return json_loadb((const char *)buf, n, 0, NULL);
}

int sim_streq_t(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int sim_scope_has_t(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, word, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    tresp *r = ud;
    size_t len = sz * n;
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, len);
    r->body = nb;
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    tresp *r = ud;
    size_t len = sz * n;
    copy_header(p, len, "Location:", r->location, sizeof(r->location));
    copy_header(p, len, "Content-Type:", r->ctype, sizeof(r->ctype));
    copy_header(p, len, "Set-Cookie:", r->cookie, sizeof(r->cookie));
    copy_header(p, len, "WWW-Authenticate:", r->www_auth, sizeof(r->www_auth));
    copy_header(p, len, "Cache-Control:", r->cache_control, sizeof(r->cache_control));
    return len;
}

static void copy_header(const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
    size_t nl = strlen(name);
    if (len < nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    if (vl >= dstlen)
        vl = dstlen - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}
