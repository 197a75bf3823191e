/*
 * cmd_demo.c - vap-host demo: the whole product in one minute, against the
 * bundled OpenEMR simulator instead of a practice's OpenEMR.
 *
 * It does what a practice and the platform do, in order: the admin registers
 * the client (dynamic registration; OpenEMR creates a user/-scoped client
 * disabled) and enables it, seals the secret with vap-seal (stdin, never
 * argv), writes the config line; a staff member authorizes (the simulator's
 * auto-approve login); the platform finds a caller by name and birth date,
 * reads their record, writes a note; the simulator expires the access token
 * and the next read renews it transparently.  Everything lives in a private
 * temporary directory that is removed at the end, and the simulator is
 * stopped: no process is left running.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <strings.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "exitcodes.h"
#include "vaphost.h"

#define DEMO_REDIRECT "http://localhost:8000/oauth/callback"
#define DEMO_SCOPE                                                                         \
    "openid fhirUser offline_access api:fhir api:oemr user/Patient.read "                  \
    "user/Appointment.read user/MedicationRequest.read user/Encounter.read "               \
    "user/AllergyIntolerance.read user/patient.read user/encounter.read user/soap_note.write"

static int step_register(struct demo *d, char *secret, size_t cap);
static int step_store(struct demo *d, char *secret);
static int step_config(struct demo *d, struct vaphost *vh);
static int step_authorize(struct demo *d, struct vaphost *vh);
static int step_caller(struct demo *d, struct vaphost *vh, char *pid, size_t cap);
static int step_record(struct demo *d, struct vaphost *vh, const char *pid, char *enc,
                       size_t cap);
static int step_note(struct demo *d, struct vaphost *vh, const char *pid, const char *enc);
static int step_refresh(struct demo *d, struct vaphost *vh, const char *pid);

int cmd_demo(struct vaphost *vh, int argc, char **argv)
{
    struct demo d;
    int keep = 0, code = VAPHOST_EXIT_FAILURE;
    char secret[256] = "", pid[128] = "", enc[128] = "";
    memset(&d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            fprintf(stderr, "vap-host: demo: unexpected argument; run: vap-host demo --help\n");
            return VAPHOST_EXIT_USAGE;
        }
    }
    if (demo_locate(&d) != 0)
        return VAPHOST_EXIT_FAILURE;
    snprintf(d.dir, sizeof d.dir, "/tmp/vap-demo-XXXXXX");
    if (mkdtemp(d.dir) == NULL) {
        fprintf(stderr, "vap-host: demo: cannot create a temporary directory: %s\n",
                strerror(errno));
        return VAPHOST_EXIT_FAILURE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("vap-openemr demo: the bundled OpenEMR simulator stands in for a practice's "
           "OpenEMR.\n");
    if (demo_start_sim(&d) != 0 || step_register(&d, secret, sizeof secret) != 0 ||
        step_store(&d, secret) != 0 || step_config(&d, vh) != 0 ||
        step_authorize(&d, vh) != 0 || step_caller(&d, vh, pid, sizeof pid) != 0 ||
        step_record(&d, vh, pid, enc, sizeof enc) != 0 || step_note(&d, vh, pid, enc) != 0 ||
        step_refresh(&d, vh, pid) != 0)
        goto out;
    code = VAPHOST_EXIT_OK;
    printf("\nDone: authorized once, found the caller, read the record, wrote a note, and "
           "renewed the token without anyone noticing.\n");
out:
    explicit_bzero(secret, sizeof secret);
    if (vh->inst != NULL) {
        vh->api->instance_free(vh->inst);
        vh->inst = NULL;
    }
    demo_stop_sim(&d);
    if (keep) {
        printf("Kept %s (keyring, store, plugins.conf); the simulator is stopped.\n", d.dir);
    } else {
        const char *const rm[] = {"rm", "-rf", d.dir, NULL};
        demo_run_tool(rm, NULL);
    }
    curl_global_cleanup();
    if (code != VAPHOST_EXIT_OK)
        fprintf(stderr, "vap-host: demo stopped at step %d (see the line above)\n", d.step);
    return code;
}

/* ---- steps ------------------------------------------------------------------ */

static int step_register(struct demo *d, char *secret, size_t cap)
{
    char url[256];
    struct buf b = {0};
    long status = 0;
    demo_say(d, "The practice admin registers the voice platform as a confidential client");
    snprintf(url, sizeof url, "%s/oauth2/default/registration", d->base);
    json_t *req = json_pack("{s:s,s:s,s:[s],s:s,s:s}", "application_type", "private",
                            "client_name", "Voice AI Platform (demo)", "redirect_uris",
                            DEMO_REDIRECT, "scope", DEMO_SCOPE, "token_endpoint_auth_method",
                            "client_secret_post");
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = demo_http(d, "POST", url, body, &b, &status, NULL, 0);
    free(body);
    json_t *ans = rc == 0 ? json_loads(b.p ? b.p : "", 0, NULL) : NULL;
    if (b.p)
        explicit_bzero(b.p, b.n);
    free(b.p);
    const char *id = json_string_value(json_object_get(ans, "client_id"));
    const char *sec = json_string_value(json_object_get(ans, "client_secret"));
    if (status != 200 || id == NULL || sec == NULL || strlen(sec) >= cap ||
        strlen(id) >= sizeof d->client_id) {
        fprintf(stderr, "vap-host: demo: registration failed (HTTP %ld)\n", status);
        json_decref(ans);
        return -1;
    }
    snprintf(d->client_id, sizeof d->client_id, "%s", id);
    snprintf(secret, cap, "%s", sec);
    json_decref(ans); /* Jansson's copy of the secret: freed with the tree */
    printf("   client_id %s; the secret went straight to vap-seal (never shown)\n",
           d->client_id);
    printf("   OpenEMR creates a client with user/ scopes disabled: the admin enables it in\n"
           "   Administration > System > API Clients > Edit > Enable\n");
    char ctl[256], en[256];
    snprintf(ctl, sizeof ctl, "%s/_sim/clients/enable", d->base);
    snprintf(en, sizeof en, "{\"client_id\":\"%s\",\"enabled\":true}", d->client_id);
    struct buf e = {0};
    rc = demo_http(d, "POST", ctl, en, &e, &status, NULL, 0);
    free(e.p);
    if (rc != 0 || status != 200) {
        fprintf(stderr, "vap-host: demo: enabling the client failed (HTTP %ld)\n", status);
        return -1;
    }
    return 0;
}

static int step_store(struct demo *d, char *secret)
{
    char keyring[128], store[128], issuer[192];
    snprintf(keyring, sizeof keyring, "%s/keyring", d->dir);
    snprintf(store, sizeof store, "%s/store", d->dir);
    snprintf(issuer, sizeof issuer, "%s/oauth2/default", d->base);
    demo_say(d, "The admin seals the client secret with vap-seal");
    if (mkdir(store, 0700) != 0) {
        fprintf(stderr, "vap-host: demo: cannot create %s: %s\n", store, strerror(errno));
        return -1;
    }
    const char *const init[] = {d->seal_path, "init", "--keyring", keyring, NULL};
    const char *const put[] = {d->seal_path, "put",         "--keyring",  keyring,
                               "--store",    store,         "--issuer",   issuer,
                               "--client-id", d->client_id, "client_secret", NULL};
    if (demo_run_tool(init, NULL) != 0 || demo_run_tool(put, secret) != 0) {
        fprintf(stderr, "vap-host: demo: vap-seal failed (see above)\n");
        return -1;
    }
    explicit_bzero(secret, strlen(secret));
    printf("   keyring %s (0600), store %s (0700)\n", keyring, store);
    return 0;
}

static int step_config(struct demo *d, struct vaphost *vh)
{
    static char conf[128];
    snprintf(conf, sizeof conf, "%s/plugins.conf", d->dir);
    demo_say(d, "The platform's config names the plugin (PAM style)");
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        fprintf(stderr, "vap-host: demo: cannot write %s\n", conf);
        return -1;
    }
    fprintf(f,
            "# written by vap-host demo\n"
            "openemr %s \\\n"
            "    issuer=%s/oauth2/default \\\n"
            "    fhir_base=%s/apis/default/fhir \\\n"
            "    client_id=%s ca_file=%s proxy=none \\\n"
            "    scope=\"%s\" \\\n"
            "    store=%s/store keyring=%s/keyring\n",
            d->plugin_path, d->base, d->base, d->client_id, d->ca, DEMO_SCOPE, d->dir, d->dir);
    if (fclose(f) != 0)
        return -1;
    chmod(conf, 0600);
    printf("   %s\n", conf);
    vh->config_path = conf;
    vh->instance_name = NULL;
    return vaphost_load(vh) == VAPHOST_EXIT_OK ? 0 : -1;
}

static int step_authorize(struct demo *d, struct vaphost *vh)
{
    vap_error err;
    vap_authorize_begin_result *b = NULL;
    vap_grant_info *gi = NULL;
    static char loc[20000];
    long status = 0;
    demo_say(d, "A staff member authorizes once (the simulator's login approves)");
    VAP_INIT(vap_error, err);
    int rc = vh->api->authorize_begin(vh->inst, NULL, NULL, &b, &err);
    if (rc != VAP_OK)
        return vaphost_report(vh, rc, &err), -1;
    printf("   authorization URL: %.90s...\n", b->url);
    if (demo_http(d, "GET", b->url, NULL, NULL, &status, loc, sizeof loc) != 0 || status != 302) {
        vh->api->release(b);
        fprintf(stderr, "vap-host: demo: the simulated login did not redirect (HTTP %ld)\n",
                status);
        return -1;
    }
    vh->api->release(b);
    VAP_INIT(vap_error, err);
    rc = vh->api->authorize_complete(vh->inst, NULL, loc, strlen(loc), &gi, &err);
    explicit_bzero(loc, sizeof loc);
    if (rc != VAP_OK)
        return vaphost_report(vh, rc, &err), -1;
    printf("   state, PKCE S256 and nonce checked, id_token verified; grant sealed "
           "(generation %llu)\n   granted: %s\n",
           (unsigned long long)gi->generation, gi->scope);
    vh->api->release(gi);
    return 0;
}

static json_t *get_json(struct vaphost *vh, const char *path, const char *query, int flags)
{
    char *body = NULL;
    int code = 0;
    if (vaphost_request(vh, "GET", path, query, (uint32_t)flags, NULL, &body, &code) != VAP_OK)
        return NULL;
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

static int step_caller(struct demo *d, struct vaphost *vh, char *pid, size_t cap)
{
    demo_say(d, "A caller gives their name and birth date; the platform finds them");
    /* The demo's caller is one of the simulated practice's patients. */
    json_t *one = get_json(vh, "Patient", "_count=1&_offset=3", 0);
    json_t *p = json_object_get(json_array_get(json_object_get(one, "entry"), 0), "resource");
    json_t *nm = json_array_get(json_object_get(p, "name"), 0);
    const char *family = json_string_value(json_object_get(nm, "family"));
    const char *given = json_string_value(json_array_get(json_object_get(nm, "given"), 0));
    const char *born = json_string_value(json_object_get(p, "birthDate"));
    if (family == NULL || given == NULL || born == NULL) {
        fprintf(stderr, "vap-host: demo: the simulator returned no patient\n");
        json_decref(one);
        return -1;
    }
    printf("   caller: \"This is %s %s, born %s.\"\n", given, family, born);
    char *fam = vaphost_qenc(family);
    char query[256];
    snprintf(query, sizeof query, "name=%s&birthdate=%s", fam ? fam : "", born);
    free(fam);
    json_decref(one);
    json_t *found = get_json(vh, "Patient", query, 0);
    json_t *entries = json_object_get(found, "entry");
    const char *id =
        json_string_value(json_object_get(json_object_get(json_array_get(entries, 0), "resource"),
                                          "id"));
    if (id == NULL || strlen(id) >= cap) {
        fprintf(stderr, "vap-host: demo: the Patient search found nobody\n");
        json_decref(found);
        return -1;
    }
    printf("   Patient?%s -> %zu match, Patient/%s\n", query, json_array_size(entries), id);
    snprintf(pid, cap, "%s", id);
    json_decref(found);
    return 0;
}

static const char *text_of(const json_t *cc)
{
    const char *t = json_string_value(json_object_get(cc, "text"));
    if (t == NULL)
        t = json_string_value(
            json_object_get(json_array_get(json_object_get(cc, "coding"), 0), "display"));
    return t ? t : "?";
}

static int step_record(struct demo *d, struct vaphost *vh, const char *pid, char *enc,
                       size_t cap)
{
    static const char *const kinds[] = {"Appointment", "MedicationRequest", "Encounter",
                                        "AllergyIntolerance"};
    char query[160];
    demo_say(d, "The platform reads what the caller asks about");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        snprintf(query, sizeof query, "patient=%s", pid);
        json_t *b = get_json(vh, kinds[k], query, 0);
        if (b == NULL)
            return -1;
        json_t *entries = json_object_get(b, "entry");
        json_t *first = json_object_get(json_array_get(entries, 0), "resource");
        const char *what = "";
        char line[200] = "";
        if (k == 0 && first)
            snprintf(line, sizeof line, "next: %s",
                     json_string_value(json_object_get(first, "start"))
                         ? json_string_value(json_object_get(first, "start"))
                         : "?");
        else if (k == 1 && first)
            snprintf(line, sizeof line, "e.g. %s",
                     text_of(json_object_get(first, "medicationCodeableConcept")));
        else if (k == 2 && first) {
            const char *eid = json_string_value(json_object_get(first, "id"));
            if (eid != NULL && strlen(eid) < cap)
                snprintf(enc, cap, "%s", eid);
            snprintf(line, sizeof line, "latest: %s",
                     json_string_value(json_object_get(json_object_get(first, "period"),
                                                       "start"))
                         ? json_string_value(
                               json_object_get(json_object_get(first, "period"), "start"))
                         : "?");
        } else if (k == 3 && first)
            snprintf(line, sizeof line, "e.g. %s", text_of(json_object_get(first, "code")));
        (void)what;
        printf("   %-18s %2zu  %s\n", kinds[k], json_array_size(entries), line);
        json_decref(b);
    }
    if (enc[0] == '\0') {
        fprintf(stderr, "vap-host: demo: the caller has no encounter to attach a note to\n");
        return -1;
    }
    return 0;
}

static int step_note(struct demo *d, struct vaphost *vh, const char *pid, const char *enc)
{
    demo_say(d, "The platform writes a SOAP note through OpenEMR's standard API");
    char path[256];
    snprintf(path, sizeof path, "patient/%s", pid);
    json_t *pat = get_json(vh, path, NULL, VAP_FETCH_STANDARD_API);
    snprintf(path, sizeof path, "patient/%s/encounter", pid);
    json_t *encs = get_json(vh, path, NULL, VAP_FETCH_STANDARD_API);
    const char *num_pid = json_string_value(json_object_get(json_object_get(pat, "data"), "pid"));
    const char *num_eid = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(encs, "data"), i, e)
    {
        /* OpenEMR sends euuid (7.0.3); uuid is kept for versions that might. */
        const char *u = json_string_value(json_object_get(e, "euuid"));
        if (u == NULL)
            u = json_string_value(json_object_get(e, "uuid"));
        if (u && strcmp(u, enc) == 0)
            num_eid = json_string_value(json_object_get(e, "eid"));
    }
    int rc = -1;
    if (num_pid == NULL || num_eid == NULL) {
        fprintf(stderr, "vap-host: demo: could not resolve the numeric pid/eid\n");
        goto out;
    }
    snprintf(path, sizeof path, "patient/%s/encounter/%s/soap_note", num_pid, num_eid);
    char *answer = NULL;
    int code = 0;
    const char *note = "{\"subjective\":\"Caller asked about upcoming visits and current "
                       "medications.\",\"objective\":\"Phone call; identity confirmed by name "
                       "and birth date.\",\"assessment\":\"Information request.\",\"plan\":"
                       "\"Read back appointments and medications.\"}";
    if (vaphost_request(vh, "POST", path, NULL, VAP_FETCH_STANDARD_API, note, &answer, &code) !=
        VAP_OK)
        goto out;
    printf("   pid %s, eid %s -> %s\n", num_pid, num_eid, answer);
    free(answer);
    rc = 0;
out:
    json_decref(pat);
    json_decref(encs);
    return rc;
}

static int step_refresh(struct demo *d, struct vaphost *vh, const char *pid)
{
    char url[256], path[160];
    struct buf b = {0};
    long status = 0;
    vap_grant_info *gi = NULL;
    vap_error err;
    demo_say(d, "An hour passes (the simulator expires the access token now)");
    snprintf(url, sizeof url, "%s/_sim/expire-access-tokens", d->base);
    if (demo_http(d, "POST", url, "{}", &b, &status, NULL, 0) != 0 || status != 200) {
        free(b.p);
        return -1;
    }
    free(b.p);
    snprintf(path, sizeof path, "Patient/%s", pid);
    json_t *p = get_json(vh, path, NULL, 0);
    if (p == NULL)
        return -1;
    json_decref(p);
    VAP_INIT(vap_error, err);
    if (vh->api->status(vh->inst, NULL, &gi, &err) != VAP_OK || gi == NULL)
        return -1;
    printf("   the next read got a 401, renewed the token once (OpenEMR rotated the refresh\n"
           "   token; the new one was sealed before use, grant generation now %llu) and "
           "succeeded\n",
           (unsigned long long)gi->generation);
    vh->api->release(gi);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

void demo_say(struct demo *d, const char *fmt, ...)
{
    va_list ap;
    printf("\n%d. ", ++d->step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}
