/* flowkit.c - the shared set-up of the end-to-end tests (see flowkit.h). */
#include "flowkit.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vapseal.h"

void flowkit_sim_defaults(sim_config *cfg)
{
    sim_config_init(cfg);
    cfg->quiet = 1;
    cfg->auto_approve_user = "admin";
    cfg->n_preclients = 1;
    cfg->preclients[0].client_id = FLOW_CLIENT_ID;
    cfg->preclients[0].client_secret = FLOW_SECRET;
    cfg->preclients[0].redirect_uri = FLOW_REDIRECT;
    cfg->preclients[0].scope = FLOW_SCOPE;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = NULL;
    int rc = -1;
    char buf[65536];
    size_t n;
    if (in == NULL)
        return -1;
    if ((out = fopen(to, "wb")) == NULL)
        goto out;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            goto out;
    rc = ferror(in) ? -1 : 0;
out:
    fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    if (rc == 0)
        chmod(to, 0755);
    return rc;
}

int flowkit_start(struct flowkit *k, const char *module_path, const sim_config *cfg)
{
    sim_config def;
    char errbuf[512];
    memset(k, 0, sizeof *k);
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    if (cfg == NULL) {
        flowkit_sim_defaults(&def);
        cfg = &def;
    }
    snprintf(k->dir, sizeof k->dir, "/tmp/vap-flow-XXXXXX");
    if (mkdtemp(k->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(k->store, sizeof k->store, "%s/store", k->dir);
    snprintf(k->keyring, sizeof k->keyring, "%s/keyring", k->dir);
    snprintf(k->module, sizeof k->module, "%s/vap_openemr.so", k->dir);
    if (mkdir(k->store, 0700) != 0 || copy_file(module_path, k->module) != 0) {
        fprintf(stderr, "flowkit: cannot prepare %s\n", k->dir);
        return -1;
    }
    if (sim_start(cfg, &k->sim, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "flowkit: simulator: %s\n", errbuf);
        return -1;
    }
    snprintf(k->base, sizeof k->base, "%s", sim_base_url(k->sim));
    snprintf(k->issuer, sizeof k->issuer, "%s/oauth2/default", k->base);
    snprintf(k->fhir_base, sizeof k->fhir_base, "%s/apis/default/fhir", k->base);

    seal_err se = {0};
    seal_keyring *ring = NULL;
    seal_store *st = NULL;
    seal_binding bind = {k->issuer, FLOW_CLIENT_ID};
    if (seal_init(&se) != 0 || seal_keyring_new(&ring, &se) != 0 ||
        seal_keyring_add_active(ring, 1700000000, NULL, &se) != 0 ||
        seal_keyring_save(ring, k->keyring, (uid_t)-1, (gid_t)-1, &se) != 0 ||
        seal_store_open(k->store, &st, &se) != 0 ||
        seal_store_put(st, k->keyring, "client_secret", &bind, (const uint8_t *)FLOW_SECRET,
                       strlen(FLOW_SECRET), NULL, &se) != 0) {
        fprintf(stderr, "flowkit: store: %s\n", se.message);
        seal_keyring_free(ring);
        seal_store_close(st);
        return -1;
    }
    seal_keyring_free(ring);
    seal_store_close(st);
    if (fakehost_new(k->module, &k->fh, errbuf, sizeof errbuf) != VAP_OK) {
        fprintf(stderr, "flowkit: load: %s\n", errbuf);
        return -1;
    }
    k->api = fakehost_api(k->fh);
    return 0;
}

void flowkit_stop(struct flowkit *k)
{
    if (k->fh)
        fakehost_free(k->fh);
    sim_stop(k->sim);
    if (k->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", k->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "flowkit: could not remove %s\n", k->dir);
    }
    memset(k, 0, sizeof *k);
}

int flowkit_instance(struct flowkit *k, vap_instance **inst, vap_error *err, ...)
{
    vap_option opts[32];
    size_t n = 0;
    const char *keys[] = {"issuer", "fhir_base", "client_id", "ca_file", "store", "keyring",
                          "scope", "redirect_uri"};
    const char *vals[] = {k->issuer, k->fhir_base, FLOW_CLIENT_ID, sim_ca_path(k->sim),
                          k->store, k->keyring, FLOW_SCOPE, FLOW_REDIRECT};
    va_list ap;
    const char *extra_k[16], *extra_v[16];
    size_t ne = 0;
    va_start(ap, err);
    for (const char *key; (key = va_arg(ap, const char *)) != NULL && ne < 16;) {
        extra_k[ne] = key;
        extra_v[ne++] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int overridden = 0;
        for (size_t j = 0; j < ne; j++)
            if (strcmp(extra_k[j], keys[i]) == 0)
                overridden = 1;
        if (!overridden)
            opts[n++] = (vap_option){keys[i], vals[i]};
    }
    for (size_t j = 0; j < ne; j++)
        if (extra_v[j] != NULL) /* a NULL value removes the option */
            opts[n++] = (vap_option){extra_k[j], extra_v[j]};
    VAP_INIT(vap_error, *err);
    return k->api->instance_new(opts, n, inst, err);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    char **loc = ud;
    size_t n = size * nitems;
    if (n > 9 && strncasecmp(buf, "Location:", 9) == 0 && *loc == NULL) {
        size_t s = 9;
        while (s < n && buf[s] == ' ')
            s++;
        size_t e = n;
        while (e > s && (buf[e - 1] == '\r' || buf[e - 1] == '\n'))
            e--;
        *loc = strndup(buf + s, e - s);
    }
    return n;
}

static size_t discard_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    (void)buf;
    (void)ud;
    return size * nitems;
}

int flowkit_get_location(struct flowkit *k, const char *url, long *status, char *location,
                         size_t cap)
{
    CURL *c = curl_easy_init();
    char *loc = NULL;
    if (c == NULL)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(k->sim));
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &loc);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (location != NULL && cap > 0)
        snprintf(location, cap, "%s", loc ? loc : "");
    free(loc);
    return cc == CURLE_OK ? 0 : -1;
}

int flowkit_authorize(struct flowkit *k, vap_instance *inst, vap_grant_info **info,
                      vap_error *err, char *location_out, size_t location_cap)
{
    vap_authorize_begin_result *b = NULL;
    static char loc[20000];
    long status = 0;
    VAP_INIT(vap_error, *err);
    int rc = k->api->authorize_begin(inst, NULL, NULL, &b, err);
    if (rc != VAP_OK)
        return rc;
    if (flowkit_get_location(k, b->url, &status, loc, sizeof loc) != 0 || status != 302) {
        fprintf(stderr, "flowkit: /authorize answered %ld\n", status);
        k->api->release(b);
        return VAP_E_PROTOCOL;
    }
    k->api->release(b);
    if (location_out != NULL)
        snprintf(location_out, location_cap, "%s", loc);
    VAP_INIT(vap_error, *err);
    return k->api->authorize_complete(inst, NULL, loc, strlen(loc), info, err);
}

struct membuf {
    char *p;
    size_t n, cap;
};

static size_t mem_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct membuf *m = ud;
    size_t n = size * nitems;
    if (m->p != NULL && m->n + n < m->cap) {
        memcpy(m->p + m->n, buf, n);
        m->n += n;
        m->p[m->n] = '\0';
    }
    return n;
}

static int control(struct flowkit *k, const char *method, const char *name, const char *body,
                   char *out, size_t cap)
{
    char url[256];
    long status = -1;
    struct membuf m = {out, 0, cap};
    if (out && cap)
        out[0] = '\0';
    snprintf(url, sizeof url, "%s/_sim/%s", k->base, name);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(k->sim));
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return (int)status;
}

int flowkit_control(struct flowkit *k, const char *name, const char *body, char *out,
                    size_t cap)
{
    return control(k, "POST", name, body, out, cap);
}

long flowkit_counter(struct flowkit *k, const char *path)
{
    static char buf[65536];
    if (control(k, "GET", "counters", NULL, buf, sizeof buf) != 200)
        return -1;
    json_t *root = json_loads(buf, 0, NULL), *v = root;
    char key[128];
    const char *p = path;
    while (v != NULL && *p) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    long out = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(root);
    return out;
}

int flowkit_rotations(struct flowkit *k, long *total, long long *latest_ns)
{
    static char buf[16384];
    *total = -1;
    *latest_ns = 0;
    if (control(k, "GET", "rotations", NULL, buf, sizeof buf) != 200)
        return -1;
    json_t *root = json_loads(buf, 0, NULL);
    json_t *t = json_object_get(root, "total"), *times = json_object_get(root, "monotonic_ns");
    int ok = json_is_integer(t) && json_is_array(times);
    if (ok) {
        *total = (long)json_integer_value(t);
        size_t n = json_array_size(times);
        if (n > 0)
            *latest_ns = (long long)json_integer_value(json_array_get(times, n - 1));
    }
    json_decref(root);
    return ok ? 0 : -1;
}

void flowkit_get_req(vap_fetch_request *req, const char *path, const char *query)
{
    VAP_INIT(vap_fetch_request, *req);
    req->method = "GET";
    req->path = path;
    req->query = query;
}
