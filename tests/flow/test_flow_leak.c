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
 *   what:   the client secret, and every authorization code, code_verifier,
 *           access token, refresh token and id_token of the run, which the
 *           simulator appends to its secrets log (sim_config.secrets_log) as
 *           it mints or receives them;
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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testcheck.h"
#include "flowkit.h"

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
};
static struct needle *needles;
static size_t n_needles, cap_needles;

static void needle_add(const char *what, const char *s, size_t n)
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
    n_needles++;
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
    needle_add(what, v, n);
    needles_urlenc(what, v);
    needles_b64(what, (const unsigned char *)v, n);
    const char *d1 = strchr(v, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 && d2) {
        /* A JWT: the payload and signature segments on their own, and the
         * payload decoded (the claims). */
        needle_add(what, d1 + 1, (size_t)(d2 - d1 - 1));
        needle_add(what, d2 + 1, strlen(d2 + 1));
        unsigned char *dec = malloc((size_t)(d2 - d1));
        size_t dlen = 0;
        if (dec && sodium_base642bin(dec, (size_t)(d2 - d1), d1 + 1, (size_t)(d2 - d1 - 1), NULL,
                                     &dlen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
            needle_add(what, (const char *)dec, dlen);
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

static size_t scan(const char *label)
{
    size_t hits = 0;
    for (size_t i = 0; i < n_needles; i++)
        if (hay_len && memmem(hay, hay_len, needles[i].s, strlen(needles[i].s)) != NULL) {
            if (hits < 5)
                printf("  LEAK in %s: a %s (needle %.12s...)\n", label, needles[i].what,
                       needles[i].s);
            hits++;
        }
    return hits;
}

/* ---- the flows ---------------------------------------------------------------------- */

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
    static const char *const cmds[] = {"status", "refresh", "fetch Patient?_count=1",
                                       "fetch Observation", "refresh", "status"};
    int ran = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' -v -v -c '%s' %s >'%s' 2>&1", vap_host, conf, cmds[i],
                 out);
        int st = system(cmd);
        ran += st != -1;
        hay_file(out);
    }
    check(ran == 6, "vap_host_commands_ran");
    check(strstr(hay, "generation") != NULL, "vap_host_output_captured");
}

static void store_files(void)
{
    DIR *d = opendir(K.store);
    char path[512];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", K.store, e->d_name);
        hay_file(path);
        n++;
    }
    if (d)
        closedir(d);
    check(n >= 2, "store_files_read");
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
    printf("COUNT leak_scan needles=%zu haystack_bytes=%zu\n", n_needles, hay_len);
    size_t hits = scan("the run's outputs");
    printf("COUNT leak_hits=%zu\n", hits);
    check(hits == 0, "no_secret_in_logs_errors_cli_output_or_store_files");

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

    flowkit_stop(&K);
    unlink(log_path);
    for (size_t i = 0; i < n_needles; i++)
        free(needles[i].s);
    free(needles);
    free(hay);
    return check_summary();
}
