/*
 * cmd_grant.c - vap-host status, refresh and fetch: the commands that use a
 * stored grant.  Nothing here ever prints a token: the plugin never hands
 * one out, and grant info carries none.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "exitcodes.h"
#include "vaphost.h"

static const char *grant_state_name(int state);
static void grant_print_time(const char *label, int64_t ms);
static int grant_print_json(const vap_grant_info *gi);

int cmd_status(struct vaphost *vh, int argc, char **argv)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    int code;

    int json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "vap-host: status takes only --json; run: vap-host status --help\n");
        return VAPHOST_EXIT_USAGE;
    }
    VAP_INIT(vap_error, err);
    int rc = vh->api->status(vh->inst, NULL, &gi, &err);
    if (rc != VAP_OK) {
        vh->api->release(gi);
        return vaphost_report(vh, rc, &err);
    }
    if (json && grant_print_json(gi) != 0) {
        vh->api->release(gi);
        fprintf(stderr, "vap-host: out of memory printing the grant\n");
        return VAPHOST_EXIT_FAILURE;
    }
    if (gi == NULL || gi->state == VAP_GRANT_NONE) {
        if (!json)
            printf("no grant\n");
        fflush(stdout);
        fprintf(stderr, "vap-host: instance %s has no grant yet; a staff member must run: "
                        "vap-host -i %s authorize\n", vh->instance_name, vh->instance_name);
        code = VAPHOST_EXIT_REAUTH;
    } else {
        if (!json)
            vaphost_print_grant(gi);
        fflush(stdout);
        if (gi->state == VAP_GRANT_REAUTH_REQUIRED) {
            fprintf(stderr, "vap-host: the grant of instance %s can no longer be renewed; a "
                            "staff member must run: vap-host -i %s authorize\n",
                    vh->instance_name, vh->instance_name);
            code = VAPHOST_EXIT_REAUTH;
        } else {
            code = VAPHOST_EXIT_OK;
        }
    }
    vh->api->release(gi);
    return code;
}

int cmd_refresh(struct vaphost *vh, int argc, char **argv)
{
    vap_grant_info *gi = NULL;
    vap_error err;

    if (argc > 1) {
        fprintf(stderr, "vap-host: refresh takes no arguments; run: vap-host refresh --help\n");
        return VAPHOST_EXIT_USAGE;
    }
    VAP_INIT(vap_error, err);
    int rc = vh->api->refresh(vh->inst, NULL, &gi, &err);
    if (rc != VAP_OK) {
        vh->api->release(gi);
        return vaphost_report(vh, rc, &err);
    }
    if (gi != NULL)
        vaphost_print_grant(gi);
    vh->api->release(gi);
    return VAPHOST_EXIT_OK;
}

int cmd_fetch(struct vaphost *vh, int argc, char **argv)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    const char *target = NULL, *data = NULL, *method = NULL;
    char path[4096];
    char *body = NULL;
    int code;

    VAP_INIT(vap_fetch_request, req);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "--all-pages") == 0) {
            req.flags |= VAP_FETCH_ALL_PAGES;
        } else if (strcmp(argv[i], "--standard-api") == 0 || strcmp(argv[i], "--api") == 0) {
            req.flags |= VAP_FETCH_STANDARD_API;
        } else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) {
            method = argv[++i];
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (argv[i][0] == '-' || target != NULL) {
            fprintf(stderr, "vap-host: fetch: unexpected argument; run: vap-host fetch --help\n");
            return VAPHOST_EXIT_USAGE;
        } else {
            target = argv[i];
        }
    }
    if (target == NULL) {
        fprintf(stderr, "vap-host: fetch needs a PATH such as Patient/123; run: vap-host fetch "
                        "--help\n");
        return VAPHOST_EXIT_USAGE;
    }
    if (method != NULL && strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
        strcmp(method, "PUT") != 0) {
        fprintf(stderr, "vap-host: fetch: --method takes GET, POST or PUT\n");
        return VAPHOST_EXIT_USAGE;
    }
    if (data != NULL) {
        /* The body comes from a file (@FILE) or stdin (@-): patient data does
         * not belong on the command line, where ps shows it. */
        if (data[0] != '@') {
            fprintf(stderr, "vap-host: fetch: --data takes @FILE (or @- for standard input)\n");
            return VAPHOST_EXIT_USAGE;
        }
        size_t len = 0;
        if (vaphost_read_file(data + 1, 8u << 20, &body, &len) != 0) {
            fprintf(stderr, "vap-host: fetch: cannot read %s (at most 8 MB)\n", data + 1);
            return VAPHOST_EXIT_USAGE;
        }
        req.body = body;
        req.body_len = len;
        req.content_type = "application/json";
        if (method == NULL)
            method = "POST";
    }
    /* PATH?QUERY on the command line; the ABI takes them apart. */
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    if (plen >= sizeof path) {
        fprintf(stderr, "vap-host: fetch: the path is too long (at most %zu bytes)\n",
                sizeof path - 1);
        free(body);
        return VAPHOST_EXIT_USAGE;
    }
    memcpy(path, target, plen);
    path[plen] = '\0';
    req.method = method ? method : "GET";
    req.path = path;
    req.query = q ? q + 1 : NULL;

    VAP_INIT(vap_error, err);
    int rc = vh->api->fetch(vh->inst, NULL, &req, &resp, &err);
    if (rc == VAP_OK && resp != NULL) {
        if (resp->body_len > 0 && fwrite(resp->body, 1, resp->body_len, stdout) != resp->body_len)
            rc = VAP_E_IO;
        if (fflush(stdout) != 0)
            rc = VAP_E_IO;
        code = rc == VAP_OK ? VAPHOST_EXIT_OK : VAPHOST_EXIT_FAILURE;
        if (rc != VAP_OK)
            fprintf(stderr, "vap-host: cannot write the response body to standard output\n");
    } else {
        code = vaphost_report(vh, rc, &err);
    }
    vh->api->release(resp);
    free(body);
    return code;
}

int vaphost_read_file(const char *path, size_t cap, char **out, size_t *len)
{
    int from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -1;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    int bad = buf == NULL || ferror(f) || n > cap;
    if (!from_stdin)
        fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

const char *vaphost_clean(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p && o + 5 < cap) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xe0) == 0xc0 ? 2
                   : (*p & 0xf0) == 0xe0 ? 3
                   : (*p & 0xf8) == 0xf0 ? 4
                                         : 0;
        for (size_t i = 1; i < n; i++)
            if (p[i] == '\0' || (p[i] & 0xc0) != 0x80)
                n = 0;
        int c1 = n == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
        int bidi = n == 3 && p[0] == 0xe2 &&
                   ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9));
        if (n == 0 || (p[0] & 0xfe) == 0xc0) { /* not UTF-8 (or overlong) */
            out[o++] = '?';
            p++;
        } else if (c1 || bidi || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            out[o++] = ' ';
            p += n;
        } else {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
    }
    if (cap > 0)
        out[o < cap ? o : cap - 1] = '\0';
    return out;
}

/* One "label: value" line of text that came from the server. */
static void grant_print_text(const char *label, const char *value)
{
    char clean[1024];
    printf("%s: %s\n", label, vaphost_clean(value, clean, sizeof clean));
}

void vaphost_print_grant(const vap_grant_info *gi)
{
    if (gi == NULL)
        return;
    printf("state: %s\n", grant_state_name(gi->state));
    if (VAP_HAS(gi, scope) && gi->scope != NULL)
        grant_print_text("scope", gi->scope);
    if (VAP_HAS(gi, patient) && gi->patient != NULL && gi->patient[0] != '\0')
        grant_print_text("patient", gi->patient);
    if (VAP_HAS(gi, encounter) && gi->encounter != NULL && gi->encounter[0] != '\0')
        grant_print_text("encounter", gi->encounter);
    if (VAP_HAS(gi, subject) && gi->subject != NULL && gi->subject[0] != '\0')
        grant_print_text("subject", gi->subject);
    if (VAP_HAS(gi, fhir_user) && gi->fhir_user != NULL && gi->fhir_user[0] != '\0')
        grant_print_text("fhir_user", gi->fhir_user);
    if (VAP_HAS(gi, access_expires_at_ms))
        grant_print_time("access_expires", gi->access_expires_at_ms);
    if (VAP_HAS(gi, obtained_at_ms))
        grant_print_time("obtained", gi->obtained_at_ms);
    if (VAP_HAS(gi, generation))
        printf("generation: %" PRIu64 "\n", gi->generation);
    if (VAP_HAS(gi, has_refresh_token))
        printf("refresh_token: %s\n", gi->has_refresh_token ? "present" : "absent");
    if (VAP_HAS(gi, renew_due_at_ms) && gi->renew_due_at_ms > 0)
        grant_print_time("renewal_due", gi->renew_due_at_ms);
}

static const char *grant_state_name(int state)
{
    switch (state) {
    case VAP_GRANT_NONE:
        return "none";
    case VAP_GRANT_VALID:
        return "valid";
    case VAP_GRANT_EXPIRED:
        /* Whether the server accepts the renewal is known only by asking. */
        return "expired (a refresh token is kept: vap-host refresh tries a renewal now)";
    case VAP_GRANT_REAUTH_REQUIRED:
        return "reauthorization required";
    default:
        return "unknown";
    }
}

static void grant_print_time(const char *label, int64_t ms)
{
    if (ms <= 0)
        return;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char when[64];
    if (gmtime_r(&t, &tm) != NULL && strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        printf("%s: %s\n", label, when);
}

static int grant_json_time(json_t *o, const char *key, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char when[64];
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return 0;
    return json_object_set_new(o, key, json_string(when));
}

static int grant_json_str(json_t *o, const char *key, const char *v)
{
    return v != NULL && v[0] != '\0' ? json_object_set_new(o, key, json_string(v)) : 0;
}

/* The fields of vaphost_print_grant as one JSON object on one line; the
 * state is the stable word (none, valid, expired, reauth_required). */
static int grant_print_json(const vap_grant_info *gi)
{
    static const char *const states[] = {"none", "valid", "expired", "reauth_required"};
    int state = gi != NULL ? gi->state : VAP_GRANT_NONE;
    const char *name = state >= 0 && state < 4 ? states[state] : "unknown";
    json_t *o = json_object();
    int bad = o == NULL || json_object_set_new(o, "state", json_string(name)) != 0;
    if (!bad && gi != NULL && state != VAP_GRANT_NONE) {
        bad |= VAP_HAS(gi, scope) && grant_json_str(o, "scope", gi->scope) != 0;
        bad |= VAP_HAS(gi, patient) && grant_json_str(o, "patient", gi->patient) != 0;
        bad |= VAP_HAS(gi, encounter) && grant_json_str(o, "encounter", gi->encounter) != 0;
        bad |= VAP_HAS(gi, subject) && grant_json_str(o, "subject", gi->subject) != 0;
        bad |= VAP_HAS(gi, fhir_user) && grant_json_str(o, "fhir_user", gi->fhir_user) != 0;
        bad |= VAP_HAS(gi, access_expires_at_ms) &&
               grant_json_time(o, "access_expires", gi->access_expires_at_ms) != 0;
        bad |= VAP_HAS(gi, obtained_at_ms) && grant_json_time(o, "obtained", gi->obtained_at_ms) != 0;
        bad |= VAP_HAS(gi, generation) &&
               json_object_set_new(o, "generation", json_integer((json_int_t)gi->generation)) != 0;
        bad |= VAP_HAS(gi, has_refresh_token) &&
               json_object_set_new(o, "refresh_token", json_boolean(gi->has_refresh_token)) != 0;
    }
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}
