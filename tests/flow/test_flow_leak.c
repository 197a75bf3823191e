/* test_flow_leak.c - no secret ever leaves the plugin.
 *
 * Runs the flows of the integration suite against the simulator (authorize,
 * fetch, renewal on expiry, forced refresh, every failure class: missing
 * scope, 5xx, reset, disabled client, a bad id_token signature, a revoked
 * refresh token, a logout, reload; and vap-host status/refresh/fetch with -vv)
 * and then searches everything the product wrote for every secret of the
 * run:
 *   where:  every fakehost log line, every vap_error message and oauth_error,
 *           the stdout+stderr of every vap-host command, every file in the
 *           store (sealed: no secret may appear in clear);
 *   what:   the client secret, the private halves of the client's signing
 *           keys (private_key_jwt: DER, PEM lines, base64, base64url, hex),
 *           and every authorization code, code_verifier, access token,
 *           refresh token, id_token and client assertion of the run, which
 *           the simulator appends to its secrets log (sim_config.secrets_log)
 *           as it mints or receives them;
 *   how:    raw, URL-encoded, base64 and base64url at each of the three byte
 *           alignments (so an encoding inside a larger blob is found too),
 *           the HTTP Basic credentials, and for JWTs each of the payload and
 *           signature segments and the decoded payload.
 * Zero hits, and a positive control: the scanner finds a planted secret.
 * The instance logs at debug level (one line per request), and no log line
 * carries the id of a patient read by id.
 * (The browser callback page belongs to vap-host authorize's listener and is
 * scanned by its own tests; see the report.)
 *
 * Usage: test-flow-leak MODULE VAP_HOST */
#include <dirent.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <jansson.h>

#include "clientkey.h"
#include "testcheck.h"
#include "flowkit.h"
#include "vapseal.h"

#define PK_CLIENT "leak-pkjwt-client"

static struct flowkit K;
static vap_instance *I;

/* ---- haystack: everything the product said --------------------------------------- */

static char *hay;
static size_t hay_len, hay_cap;

static void hay_add(const char *p, size_t n)
{
    if (hay_len + n + 2 > hay_cap) {
        hay_cap = (hay_len + n + 2) * 2;
        hay = realloc(hay, hay_cap);
        if (hay == NULL)
            abort();
    }
    memcpy(hay + hay_len, p, n);
    hay_len += n;
    hay[hay_len++] = '\n';
    hay[hay_len] = '\0';
}

static void hay_err(const vap_error *e)
{
    hay_add(e->message, strnlen(e->message, sizeof e->message));
    hay_add(e->oauth_error, strnlen(e->oauth_error, sizeof e->oauth_error));
}

static void hay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        hay_add(buf, n);
    if (f)
        fclose(f);
}

/* ---- needles: every secret, in every encoding -------------------------------------- */

struct needle {
    char *s;
    char what[48];
    size_t skip; /* windows starting before this offset are public (a JWT header) */
    int whole;   /* 1: matched whole only (decoded claims hold public text too) */
};
static struct needle *needles;
static size_t n_needles, cap_needles;

static void needle_add_ex(const char *what, const char *s, size_t n, size_t skip, int whole)
{
    if (n < 12)
        return; /* too short to be a meaningful (or unique) match */
    if (n_needles == cap_needles) {
        cap_needles = cap_needles ? cap_needles * 2 : 256;
        needles = realloc(needles, cap_needles * sizeof *needles);
        if (needles == NULL)
            abort();
    }
    needles[n_needles].s = strndup(s, n);
    snprintf(needles[n_needles].what, sizeof needles[n_needles].what, "%s", what);
    needles[n_needles].skip = skip;
    needles[n_needles].whole = whole;
    n_needles++;
}

static void needle_add(const char *what, const char *s, size_t n)
{
    needle_add_ex(what, s, n, 0, 0);
}

/* base64 / base64url of v shifted by 0, 1 and 2 bytes; the groups that
 * contain shift bytes or padding are cut off, so what is left appears in the
 * encoding of any blob that contains v at that alignment. */
static void needles_b64(const char *what, const unsigned char *v, size_t n)
{
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    unsigned char *tmp = malloc(n + 2);
    if (tmp == NULL)
        abort();
    for (size_t shift = 0; shift < 3; shift++) {
        memset(tmp, 'x', shift);
        memcpy(tmp + shift, v, n);
        for (size_t k = 0; k < 2; k++) {
            size_t cap = sodium_base64_ENCODED_LEN(n + shift, variants[k]);
            char *enc = malloc(cap);
            if (enc == NULL)
                abort();
            sodium_bin2base64(enc, cap, tmp, n + shift, variants[k]);
            size_t len = strlen(enc);
            size_t from = shift ? 4 : 0;
            size_t to = len >= 4 ? len - 4 : 0;
            if (to > from)
                needle_add(what, enc + from, to - from);
            free(enc);
        }
    }
    free(tmp);
}

static void needles_urlenc(const char *what, const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(n * 3 + 1), *o = out;
    int changed = 0;
    if (out == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            o += snprintf(o, 4, "%%%02X", c);
            changed = 1;
        }
    }
    if (changed)
        needle_add(what, out, (size_t)(o - out));
    free(out);
}

static void secret_add(const char *what, const char *v)
{
    size_t n = strlen(v);
    const char *d1 = strchr(v, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    /* A JWT's header segment is the same public text in every token. */
    needle_add_ex(what, v, n, d1 && d2 ? (size_t)(d1 - v) + 1 : 0, 0);
    needles_urlenc(what, v);
    needles_b64(what, (const unsigned char *)v, n);
    if (d1 && d2) {
        /* A JWT: the payload and signature segments on their own, and the
         * payload decoded (the claims). */
        needle_add(what, d1 + 1, (size_t)(d2 - d1 - 1));
        needle_add(what, d2 + 1, strlen(d2 + 1));
        unsigned char *dec = malloc((size_t)(d2 - d1));
        size_t dlen = 0;
        if (dec && sodium_base642bin(dec, (size_t)(d2 - d1), d1 + 1, (size_t)(d2 - d1 - 1), NULL,
                                     &dlen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
            needle_add_ex(what, (const char *)dec, dlen, 0, 1);
        free(dec);
    }
}

static void needles_from_sim_log(const char *path)
{
    static char line[1 << 16];
    FILE *f = fopen(path, "r");
    size_t counts[8] = {0};
    static const char *const kinds[] = {"code",          "code_verifier", "access_token",
                                        "refresh_token", "id_token",      NULL};
    while (f && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            continue;
        *sp = '\0';
        for (size_t k = 0; kinds[k]; k++)
            if (strcmp(line, kinds[k]) == 0)
                counts[k]++;
        secret_add(line, sp + 1);
    }
    if (f)
        fclose(f);
    printf("COUNT leak_secrets codes=%zu verifiers=%zu access_tokens=%zu refresh_tokens=%zu "
           "id_tokens=%zu\n", counts[0], counts[1], counts[2], counts[3], counts[4]);
    check(counts[0] >= 3 && counts[1] >= 3 && counts[2] >= 5 && counts[3] >= 5 && counts[4] >= 5,
          "the_run_covered_every_kind_of_secret");
}

/* Every 16-character window of every secret form is looked for, not just
 * whole secrets: a log line is cut at 511 bytes and a token is longer, so
 * a token that reached a log shows only as a piece of itself.  The windows
 * of the haystack go into a hash set once; each needle window is looked up
 * there, and a hit is confirmed with memmem. */
#define LEAK_WINDOW 16

static uint64_t window_hash(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < LEAK_WINDOW; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h | 1; /* 0 marks an empty slot */
}

static uint64_t *set;
static size_t set_mask;

static void set_build(void)
{
    size_t slots = 1024;
    while (slots < 2 * hay_len)
        slots <<= 1;
    free(set);
    set = calloc(slots, sizeof *set);
    if (set == NULL)
        abort();
    set_mask = slots - 1;
    for (size_t i = 0; i + LEAK_WINDOW <= hay_len; i++) {
        uint64_t h = window_hash(hay + i);
        size_t j = (size_t)h & set_mask;
        while (set[j] != 0 && set[j] != h)
            j = (j + 1) & set_mask;
        set[j] = h;
    }
}

static int set_has(uint64_t h)
{
    for (size_t j = (size_t)h & set_mask; set[j] != 0; j = (j + 1) & set_mask)
        if (set[j] == h)
            return 1;
    return 0;
}

static size_t scan(const char *label)
{
    size_t hits = 0;
    set_build();
    for (size_t i = 0; i < n_needles; i++) {
        const struct needle *nd = &needles[i];
        size_t n = strlen(nd->s);
        int hit = 0;
        if (nd->whole || n < LEAK_WINDOW) {
            hit = hay_len && memmem(hay, hay_len, nd->s, n) != NULL;
        } else {
            for (size_t o = nd->skip; !hit && o + LEAK_WINDOW <= n; o++)
                hit = set_has(window_hash(nd->s + o)) &&
                      memmem(hay, hay_len, nd->s + o, LEAK_WINDOW) != NULL;
        }
        if (hit) {
            if (hits < 5)
                printf("  LEAK in %s: a %s (a piece of it, %.6s...)\n", label, nd->what, nd->s);
            hits++;
        }
    }
    return hits;
}

/* The signing keys' private halves: base64 and base64url at every
 * alignment (a PEM body or a JWK "d" would contain them), each line of the
 * PEM as GnuTLS writes it, and hex; the raw DER is searched with memmem. */
static struct ckey_set pk_keys;
static char pk_store[160];

static void needles_private_keys(void)
{
    for (size_t i = 0; i < pk_keys.n; i++) {
        const struct ckey_entry *e = &pk_keys.k[i];
        gnutls_datum_t der = {e->der, (unsigned)e->der_len}, pem = {NULL, 0};
        needles_b64("private_key", e->der, e->der_len);
        if (gnutls_pem_base64_encode2("PRIVATE KEY", &der, &pem) == 0) {
            char *body = strndup((char *)pem.data, pem.size), *save = NULL;
            for (char *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (l[0] != '-')
                    needle_add("private_key_pem_line", l, strlen(l));
            free(body);
            gnutls_free(pem.data);
        }
        char hex[2 * 64 + 1];
        sodium_bin2hex(hex, sizeof hex, e->der + e->der_len / 2, 64);
        needle_add("private_key_hex", hex, strlen(hex));
    }
}

static size_t scan_raw_keys(void)
{
    size_t hits = 0;
    for (size_t i = 0; i < pk_keys.n; i++)
        for (size_t off = 0; off + 24 <= pk_keys.k[i].der_len; off += 24)
            hits += memmem(hay, hay_len, pk_keys.k[i].der + off, 24) != NULL;
    return hits;
}

/* ---- the flows ---------------------------------------------------------------------- */

/* No shared secret: a sealed RS384 key (and an ES384 next key, as after a
 * keygen --next), the code flow, renewals and a refused assertion. */
static void pkjwt_flows(void)
{
    seal_store *st = NULL;
    seal_err se;
    seal_binding b = {K.issuer, PK_CLIENT};
    uint8_t *img = sodium_malloc(16384);
    size_t len = 0;
    gnutls_privkey_t key = NULL;
    char jwk[CKEY_JWK_MAX], kid[CKEY_KID_MAX], body[4096];
    snprintf(pk_store, sizeof pk_store, "%s/store-pkjwt", K.dir);
    mkdir(pk_store, 0700);
    int ok = img && ckey_set_generate(&pk_keys, CKEY_RS384, CKEY_CURRENT) == 0 &&
             ckey_set_generate(&pk_keys, CKEY_ES384, CKEY_NEXT) == 0 &&
             ckey_set_serialize(&pk_keys, img, 16384, &len) == 0 && seal_store_open(pk_store, &st, &se) == 0 &&
             seal_store_put(st, K.keyring, CKEY_ITEM, &b, img, len, NULL, &se) == 0 &&
             ckey_import(pk_keys.k[0].der, pk_keys.k[0].der_len, &key) == 0 &&
             ckey_public_jwk(key, CKEY_RS384, jwk, sizeof jwk, kid) == 0;
    check(ok, "pkjwt_key_sealed");
    if (key)
        gnutls_privkey_deinit(key);
    seal_store_close(st);
    sodium_free(img);
    /* also a backend services client (client_credentials, system/ scopes) */
    flowkit_control(&K, "system-scopes", "{\"enabled\":true}", NULL, 0);
    snprintf(body, sizeof body,
             "{\"client_id\":\"" PK_CLIENT "\",\"redirect_uris\":[\"" FLOW_REDIRECT "\"],\"scope\":\""
             FLOW_SCOPE " system/Patient.read\",\"client_secret\":\"never-sent-by-the-plugin\","
             "\"grant_types\":[\"client_credentials\"],\"jwks\":{\"keys\":[%s]}}", jwk);
    check(flowkit_control(&K, "clients", body, NULL, 0) == 200, "pkjwt_client_registered");
    vap_instance *pi = NULL;
    vap_error err;
    vap_grant_info *gi = NULL;
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    check(flowkit_instance(&K, &pi, &err, "client_id", PK_CLIENT, "client_auth", "private_key_jwt",
                          "store", pk_store, NULL) ==
              VAP_OK, "pkjwt_instance");
    char loc[20000];
    VAP_INIT(vap_error, err);
    int arc = flowkit_authorize(&K, pi, &gi, &err, loc, sizeof loc);
    check(arc == VAP_OK, "pkjwt_authorized");
    if (arc != VAP_OK)
        printf("  authorize: %s\n", err.message);
    hay_err(&err);
    K.api->release(gi);
    gi = NULL;
    flowkit_get_req(&req, "Patient", "_count=1");
    for (int i = 0; i < 2; i++) {
        flowkit_control(&K, "expire-access-tokens", "{}", NULL, 0);
        VAP_INIT(vap_error, err);
        check(K.api->fetch(pi, NULL, &req, &resp, &err) == VAP_OK, "pkjwt_renewed");
        hay_err(&err);
        K.api->release(resp);
        resp = NULL;
    }
    flowkit_control(&K, "skew", "{\"seconds\":600}", NULL, 0);
    VAP_INIT(vap_error, err);
    check(K.api->refresh(pi, NULL, &gi, &err) == VAP_E_CLIENT, "pkjwt_refused_assertion");
    hay_err(&err);
    K.api->release(gi);
    flowkit_control(&K, "skew", "{\"seconds\":0}", NULL, 0);
    K.api->instance_free(pi);
    /* backend services: two tokens obtained (the first one revoked), a note refused */
    check(flowkit_instance(&K, &pi, &err, "client_id", PK_CLIENT, "client_auth", "private_key_jwt",
                           "store", pk_store, "grant", "client_credentials", "scope",
                           "api:fhir system/Patient.read", NULL) == VAP_OK, "backend_instance");
    for (int i = 0; i < 2; i++) {
        flowkit_control(&K, "expire-access-tokens", "{}", NULL, 0);
        VAP_INIT(vap_error, err);
        check(K.api->fetch(pi, NULL, &req, &resp, &err) == VAP_OK, "backend_token_obtained");
        hay_err(&err);
        K.api->release(resp);
        resp = NULL;
    }
    VAP_INIT(vap_error, err);
    check(K.api->status(pi, NULL, &gi, &err) == VAP_OK && gi->has_refresh_token == 0,
          "backend_status");
    hay_err(&err);
    K.api->release(gi);
    K.api->instance_free(pi);
}

/* ---- patient ids: never in a log line ----------------------------------------------- */

static char patient_id[128];

/* The id of the first Patient in a search Bundle. */
static void patient_id_from(const char *body)
{
    const char *p = body ? strstr(body, "\"resourceType\":\"Patient\"") : NULL;
    const char *id = p ? strstr(p, "\"id\":\"") : NULL;
    if (id == NULL)
        return;
    id += 6;
    size_t n = strcspn(id, "\"");
    if (n > 0 && n < sizeof patient_id)
        snprintf(patient_id, sizeof patient_id, "%.*s", (int)n, id);
}

static void flows(void)
{
    vap_error err;
    vap_grant_info *gi = NULL;
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    char loc[20000];
#define CALL(expr)                                                                         \
    do {                                                                                   \
        VAP_INIT(vap_error, err);                                                          \
        (void)(expr);                                                                      \
        hay_err(&err);                                                                     \
        K.api->release(gi);                                                                \
        K.api->release(resp);                                                              \
        gi = NULL;                                                                         \
        resp = NULL;                                                                       \
    } while (0)
    CALL(flowkit_authorize(&K, I, &gi, &err, loc, sizeof loc));
    flowkit_get_req(&req, "Patient", "_count=2");
    VAP_INIT(vap_error, err);
    if (K.api->fetch(I, NULL, &req, &resp, &err) == VAP_OK)
        patient_id_from(resp->body);
    CALL(0);
    /* A read by id: the debug log line for it must not carry the id. */
    char path[200];
    snprintf(path, sizeof path, "Patient/%s", patient_id);
    flowkit_get_req(&req, path, NULL);
    CALL(K.api->fetch(I, NULL, &req, &resp, &err));
    flowkit_get_req(&req, "Patient", "_count=2");
    flowkit_control(&K, "expire-access-tokens", "{}", NULL, 0);
    CALL(K.api->fetch(I, NULL, &req, &resp, &err));
    CALL(K.api->refresh(I, NULL, &gi, &err));
    CALL(K.api->status(I, NULL, &gi, &err));
    flowkit_get_req(&req, "Observation", "_count=1");
    CALL(K.api->fetch(I, NULL, &req, &resp, &err)); /* missing scope */
    flowkit_get_req(&req, "Patient", "_count=2");
    flowkit_control(&K, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"5xx\",\"count\":20}", NULL,
                    0);
    CALL(K.api->refresh(I, NULL, &gi, &err));
    flowkit_control(&K, "faults/clear", "{}", NULL, 0);
    flowkit_control(&K, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"reset\",\"count\":20}", NULL,
                    0);
    CALL(K.api->refresh(I, NULL, &gi, &err));
    flowkit_control(&K, "faults/clear", "{}", NULL, 0);
    flowkit_control(&K, "clients/enable",
                    "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":false}", NULL, 0);
    CALL(K.api->refresh(I, NULL, &gi, &err)); /* E_CLIENT */
    flowkit_control(&K, "clients/enable", "{\"client_id\":\"" FLOW_CLIENT_ID "\",\"enabled\":true}",
                    NULL, 0);
    /* A refreshed id_token with a bad signature: refused (the server rotated:
     * the grant is then dead, the next refresh says so). */
    flowkit_control(&K, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"id_token_bad_signature\","
                    "\"count\":1}", NULL, 0);
    CALL(K.api->refresh(I, NULL, &gi, &err));
    CALL(K.api->refresh(I, NULL, &gi, &err));
    CALL(flowkit_authorize(&K, I, &gi, &err, loc, sizeof loc));
    flowkit_control(&K, "revoke-refresh-tokens", "{}", NULL, 0);
    CALL(K.api->refresh(I, NULL, &gi, &err)); /* E_REAUTH_REQUIRED */
    CALL(flowkit_authorize(&K, I, &gi, &err, loc, sizeof loc));
    CALL(K.api->reload(I, NULL, &err));
    CALL(K.api->fetch(I, NULL, &req, &resp, &err));
#undef CALL
}

static void vap_host_commands(const char *vap_host)
{
    char conf[256], cmd[1024], out[256];
    snprintf(conf, sizeof conf, "%s/plugins.conf", K.dir);
    snprintf(out, sizeof out, "%s/vap-host.out", K.dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return;
    fprintf(f,
            "openemr %s issuer=%s fhir_base=%s client_id=%s ca_file=%s store=%s keyring=%s "
            "redirect_uri=%s scope=\"%s\"\n",
            K.module, K.issuer, K.fhir_base, FLOW_CLIENT_ID, sim_ca_path(K.sim), K.store,
            K.keyring, FLOW_REDIRECT, FLOW_SCOPE);
    fclose(f);
    chmod(conf, 0600);
    /* A run counts only if it exited as expected (one that died early
     * would have said nothing, and nothing would be found). */
    static const struct {
        const char *cmd;
        int exit;
    } cmds[] = {{"status", 0},           {"refresh", 0}, {"fetch Patient?_count=1", 0},
                {"fetch Observation", 5}, {"refresh", 0}, {"status", 0}};
    int ran = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' -v -v -c '%s' %s >'%s' 2>&1", vap_host, conf,
                 cmds[i].cmd, out);
        int st = system(cmd);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == cmds[i].exit)
            ran++;
        else
            printf("  vap-host %s: status %d, want exit %d\n", cmds[i].cmd, st, cmds[i].exit);
        hay_file(out);
    }
    check(ran == 6, "vap_host_commands_ran_and_exited_as_expected");
    check(strstr(hay, "generation") != NULL, "vap_host_output_captured");
}

static int store_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    char path[512];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hay_file(path);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void store_files(void)
{
    check(store_dir_files(K.store) >= 2, "store_files_read");
    check(store_dir_files(pk_store) >= 2, "pkjwt_store_files_read");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test-flow-leak MODULE VAP_HOST\n");
        return 2;
    }
    char log_path[] = "/tmp/vap-flow-leak-XXXXXX";
    int lfd = mkstemp(log_path);
    if (lfd < 0)
        return 1;
    close(lfd);
    sim_config cfg;
    flowkit_sim_defaults(&cfg);
    cfg.secrets_log = log_path;
    if (flowkit_start(&K, argv[1], &cfg) != 0)
        return 1;
    vap_error err;
    check(flowkit_instance(&K, &I, &err, "log_level", "debug", NULL) == VAP_OK, "instance_created");
    flows();
    pkjwt_flows();
    char *log = fakehost_log_text(K.fh);
    check(log != NULL && strlen(log) > 200, "plugin_log_captured");
    check(patient_id[0] != '\0' && log != NULL && strstr(log, "http GET ") != NULL,
          "debug_log_of_requests_captured");
    check(log != NULL && patient_id[0] && strstr(log, patient_id) == NULL,
          "no_patient_id_in_the_debug_log");
    if (log)
        hay_add(log, strlen(log));
    free(log);
    K.api->instance_free(I);
    vap_host_commands(argv[2]);
    store_files();

    secret_add("client_secret", FLOW_SECRET);
    {
        /* The Basic header: base64(client_id:secret), raw and form-encoded. */
        needles_b64("basic_credentials", (const unsigned char *)FLOW_CLIENT_ID ":" FLOW_SECRET,
                    strlen(FLOW_CLIENT_ID ":" FLOW_SECRET));
    }
    needles_from_sim_log(log_path);
    needles_private_keys();
    printf("COUNT leak_scan needles=%zu haystack_bytes=%zu\n", n_needles, hay_len);
    size_t hits = scan("the run's outputs");
    printf("COUNT leak_hits=%zu\n", hits);
    check(hits == 0, "no_secret_in_logs_errors_cli_output_or_store_files");
    check(pk_keys.n == 2 && scan_raw_keys() == 0, "no_raw_private_key_bytes_anywhere");

    /* Positive control: the scanner finds a planted secret in each encoding. */
    const char *planted = FLOW_SECRET;
    char b64[128], b64u[128];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)planted, strlen(planted),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(b64u, sizeof b64u, (const unsigned char *)"ab" FLOW_SECRET,
                      strlen(planted) + 2, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t keep = hay_len;
    hay_add(b64, strlen(b64));
    check(scan("control") > 0, "scanner_finds_a_planted_base64_secret");
    hay_len = keep;
    hay[hay_len] = '\0';
    hay_add(b64u, strlen(b64u));
    check(scan("control") > 0, "scanner_finds_a_planted_shifted_base64url_secret");

    /* ...and a planted PEM line of the private key. */
    hay_len = keep;
    hay[hay_len] = '\0';
    if (pk_keys.n) {
        gnutls_datum_t der = {pk_keys.k[0].der, (unsigned)pk_keys.k[0].der_len}, pem = {NULL, 0};
        if (gnutls_pem_base64_encode2("PRIVATE KEY", &der, &pem) == 0) {
            hay_add((char *)pem.data, pem.size);
            gnutls_free(pem.data);
        }
    }
    check(scan("control") > 0, "scanner_finds_a_planted_pem_private_key");
    ckey_set_clear(&pk_keys);
    /* Positive control: a log line cut at 511 bytes holds only a piece of a
     * token; the last refresh token the server minted, 40 characters of it
     * mid-token, must be found. */
    const char *rt = NULL;
    for (size_t i = n_needles; i-- > 0;)
        if (strcmp(needles[i].what, "refresh_token") == 0 && strlen(needles[i].s) > 200 &&
            strncmp(needles[i].s, "def5", 4) == 0) {
            rt = needles[i].s;
            break;
        }
    check(rt != NULL, "have_a_refresh_token_for_the_control");
    if (rt != NULL) {
        char line[160];
        snprintf(line, sizeof line, "debug: POST /token grant_type=refresh_token&refresh_token=...%.40s",
                 rt + 100);
        hay_len = keep;
        hay[hay_len] = '\0';
        hay_add(line, strlen(line));
        check(scan("control") > 0, "scanner_finds_a_piece_of_a_token_in_a_cut_log_line");
    }
    hay_len = keep;
    hay[hay_len] = '\0';
    check(scan("control") == 0, "control_removed_scan_is_clean_again");

    flowkit_stop(&K);
    unlink(log_path);
    free(set);
    for (size_t i = 0; i < n_needles; i++)
        free(needles[i].s);
    free(needles);
    free(hay);
    return check_summary();
}
