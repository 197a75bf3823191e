/* test_flow_authorize_kit.c - the helpers of the authorization tests (see
 * test_flow_authorize_kit.h). */
#include "test_flow_authorize_kit.h"

#include <curl/curl.h>
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vapseal.h"

struct afk_buf {
    char *p;
    size_t n, cap;
};

static int afk_http(CURL *c, struct flowkit *k, const char *url, const char *post, long *status,
                    char *loc, size_t loc_cap, struct afk_buf *body);
static int afk_attr_after(const char *html, const char *marker, char *out, size_t cap);
static int afk_selected(const char *only, const char *name);

/* only is NULL (all), or a comma-separated list of case names. */
static int afk_selected(const char *only, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = only; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return only == NULL;
}

int afk_run(struct flowkit *k, const struct afk_case *cases, size_t n, const char *only)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!afk_selected(only, cases[i].name))
            continue;
        if (cases[i].fn(k) == 0) {
            passed++;
            printf("ok %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    int wanted = only ? 1 : passed + failed;
    for (const char *p = only; p && (p = strchr(p, ',')) != NULL; p++)
        wanted++;
    if (passed + failed == 0 || passed + failed != wanted) {
        printf("%d of the %d cases named exist: %s\n", passed + failed, wanted,
               only ? only : "(none)");
        failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int afk_browser_login(struct flowkit *k, const char *url, const char *untick, char *loc,
                      size_t cap)
{
    CURL *c = curl_easy_init();
    struct afk_buf page = {malloc(1 << 17), 0, 1 << 17};
    char next[1024], csrf[256], post[8192], abs[1200];
    long status = 0;
    int rc = -1;
    if (c == NULL || page.p == NULL)
        goto out;
    curl_easy_setopt(c, CURLOPT_COOKIEFILE, ""); /* the session cookie, as a browser keeps it */
    /* /authorize sends the browser to the login page (307) */
    if (afk_http(c, k, url, NULL, &status, next, sizeof next, NULL) != 0 || status != 307) {
        printf("  browser: /authorize answered %ld, not 307\n", status);
        goto out;
    }
    snprintf(abs, sizeof abs, "%s%s", k->base, next);
    if (afk_http(c, k, abs, NULL, &status, NULL, 0, &page) != 0 || status != 200 ||
        afk_attr_after(page.p, "name=\"csrf_token_form\" value=\"", csrf, sizeof csrf) != 0) {
        printf("  browser: no login form (HTTP %ld)\n", status);
        goto out;
    }
    snprintf(post, sizeof post, "username=admin&password=pass&email=&user_role=api&"
                                "csrf_token_form=%s", csrf);
    snprintf(abs, sizeof abs, "%s/oauth2/default/login", k->base);
    if (afk_http(c, k, abs, post, &status, next, sizeof next, NULL) != 0 || status != 302) {
        printf("  browser: sign-in answered %ld\n", status);
        goto out;
    }
    snprintf(abs, sizeof abs, "%s%s", k->base, next);
    page.n = 0;
    if (afk_http(c, k, abs, NULL, &status, NULL, 0, &page) != 0 || status != 200 ||
        afk_attr_after(page.p, "name=\"csrf_token_form\" value=\"", csrf, sizeof csrf) != 0) {
        printf("  browser: no consent page (HTTP %ld)\n", status);
        goto out;
    }
    /* tick every offered scope but `untick`, as a staff member would */
    size_t used = (size_t)snprintf(post, sizeof post, "proceed=1&csrf_token_form=%s", csrf);
    for (const char *p = page.p; (p = strstr(p, "name=\"scope[")) != NULL;) {
        p += strlen("name=\"scope[");
        const char *e = strstr(p, "]\"");
        if (e == NULL || used >= sizeof post)
            break;
        char name[200];
        snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
        p = e;
        if (untick != NULL && strcmp(name, untick) == 0)
            continue;
        char *enc = curl_easy_escape(c, name, 0);
        if (enc == NULL)
            goto out;
        used += (size_t)snprintf(post + used, sizeof post - used, "&scope%%5B%s%%5D=%s", enc,
                                 enc);
        curl_free(enc);
    }
    snprintf(abs, sizeof abs, "%s/oauth2/default/device/code", k->base);
    if (used >= sizeof post ||
        afk_http(c, k, abs, post, &status, loc, cap, NULL) != 0 || status != 302) {
        printf("  browser: consent answered %ld\n", status);
        goto out;
    }
    rc = 0;
out:
    free(page.p);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

int afk_begin_and_redirect(struct flowkit *k, vap_instance *inst,
                           void (*edit)(char *url, size_t cap, const void *arg),
                           const void *arg, long *status, char *loc, size_t cap,
                           vap_error *err)
{
    vap_authorize_begin_result *b = NULL;
    static char url[AFK_LOC_MAX];
    VAP_INIT(vap_error, *err);
    if (k->api->authorize_begin(inst, NULL, NULL, &b, err) != VAP_OK) {
        k->api->release(b);
        return -1;
    }
    snprintf(url, sizeof url, "%s", b->url);
    k->api->release(b);
    if (edit != NULL)
        edit(url, sizeof url, arg);
    *status = 0;
    if (flowkit_get_location(k, url, status, loc, cap) != 0)
        return -1;
    return 0;
}

int afk_complete(struct flowkit *k, vap_instance *inst, const char *loc, vap_error *err)
{
    vap_grant_info *gi = NULL;
    VAP_INIT(vap_error, *err);
    int rc = k->api->authorize_complete(inst, NULL, loc, strlen(loc), &gi, err);
    k->api->release(gi);
    return rc;
}

int afk_set_param(char *url, size_t cap, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *q = strchr(url, '?');
    for (char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, nl) != 0 || p[1 + nl] != '=')
            continue;
        char *v = p + 2 + nl;
        size_t old = strcspn(v, "&#");
        size_t vl = strlen(value), tail = strlen(v + old);
        if ((size_t)(v - url) + vl + tail + 1 > cap)
            return -1;
        memmove(v + vl, v + old, tail + 1);
        memcpy(v, value, vl);
        return 0;
    }
    return -1;
}

int afk_store_digest(const char *dir, unsigned char out[32])
{
    struct dirent **names = NULL;
    crypto_generichash_state st;
    int n = scandir(dir, &names, NULL, alphasort), rc = 0;
    if (n < 0)
        return -1;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            FILE *f = fopen(path, "rb");
            unsigned char buf[4096];
            size_t got;
            crypto_generichash_update(&st, (const unsigned char *)names[i]->d_name,
                                      strlen(names[i]->d_name) + 1);
            if (f == NULL) {
                rc = -1;
            } else {
                while ((got = fread(buf, 1, sizeof buf, f)) > 0)
                    crypto_generichash_update(&st, buf, got);
                fclose(f);
            }
        }
        free(names[i]);
    }
    free(names);
    crypto_generichash_final(&st, out, 32);
    return rc;
}

int afk_second_store(struct flowkit *k, const char *name, const char *issuer,
                     const char *client_id, const char *secret, char *store, size_t cap)
{
    seal_err se = {0};
    seal_store *st = NULL;
    seal_binding bind = {issuer ? issuer : k->issuer, client_id};
    snprintf(store, cap, "%s/%s", k->dir, name);
    if (mkdir(store, 0700) != 0 || seal_store_open(store, &st, &se) != 0 ||
        seal_store_put(st, k->keyring, "client_secret", &bind, (const uint8_t *)secret,
                       strlen(secret), NULL, &se) != 0) {
        printf("  second store: %s\n", se.message);
        seal_store_close(st);
        return -1;
    }
    seal_store_close(st);
    return 0;
}

int afk_fault(struct flowkit *k, const char *route, const char *kind)
{
    char body[256];
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"%s\",\"count\":1}", route, kind);
    return flowkit_control(k, "faults", body, NULL, 0) == 200 ? 0 : -1;
}

/* ---- helpers ---------------------------------------------------------------- */

static size_t afk_hdr_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct afk_buf *loc = ud;
    size_t n = size * nitems;
    if (loc->p != NULL && n > 9 && strncasecmp(buf, "Location:", 9) == 0) {
        size_t s = 9, e = n;
        while (s < n && buf[s] == ' ')
            s++;
        while (e > s && (buf[e - 1] == '\r' || buf[e - 1] == '\n'))
            e--;
        snprintf(loc->p, loc->cap, "%.*s", (int)(e - s), buf + s);
    }
    return n;
}

static size_t afk_body_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct afk_buf *b = ud;
    size_t n = size * nitems;
    if (b != NULL && b->p != NULL && b->n + n < b->cap) {
        memcpy(b->p + b->n, buf, n);
        b->n += n;
        b->p[b->n] = '\0';
    }
    return n;
}

static int afk_http(CURL *c, struct flowkit *k, const char *url, const char *post, long *status,
                    char *loc, size_t loc_cap, struct afk_buf *body)
{
    struct afk_buf lb = {loc, 0, loc_cap};
    if (loc && loc_cap)
        loc[0] = '\0';
    if (body && body->p)
        body->p[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(k->sim));
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, afk_hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &lb);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, afk_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (post != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    else
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    *status = 0;
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static int afk_attr_after(const char *html, const char *marker, char *out, size_t cap)
{
    const char *p = strstr(html, marker);
    if (p == NULL)
        return -1;
    p += strlen(marker);
    size_t n = strcspn(p, "\"");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}
