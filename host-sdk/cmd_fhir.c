/*
 * cmd_fhir.c - vap-host find-patient and note: what the platform does on a
 * call, by hand.  The platform finds the caller itself (a Patient search by
 * name and birth date, or phone) and writes notes through OpenEMR's
 * standard API, which takes numeric ids where FHIR has UUIDs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "vaphost.h"

#define NOTE_FILE_MAX (256 * 1024)

static int std_api_id(struct vaphost *vh, const char *path, const char *match_uuid,
                      const char *field, char *out, size_t cap, int *code);
static json_t *patient_summary(const json_t *res);

int vaphost_request(struct vaphost *vh, const char *method, const char *path,
                    const char *query, uint32_t flags, const char *body, char **out,
                    int *exit_code)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    VAP_INIT(vap_fetch_request, req);
    VAP_INIT(vap_error, err);
    req.method = method;
    req.path = path;
    req.query = query;
    req.flags = flags;
    if (body != NULL) {
        req.body = body;
        req.body_len = strlen(body);
        req.content_type = "application/json";
    }
    *out = NULL;
    int rc = vh->api->fetch(vh->inst, NULL, &req, &resp, &err);
    if (rc == VAP_OK && resp != NULL) {
        *out = malloc(resp->body_len + 1);
        if (*out == NULL) {
            rc = VAP_E_NOMEM;
        } else {
            memcpy(*out, resp->body, resp->body_len);
            (*out)[resp->body_len] = '\0';
        }
    }
    vh->api->release(resp);
    if (rc != VAP_OK)
        *exit_code = vaphost_report(vh, rc, &err);
    return rc;
}

char *vaphost_qenc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

int cmd_find_patient(struct vaphost *vh, int argc, char **argv)
{
    const char *name = NULL, *birthdate = NULL, *phone = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--name") == 0)
            name = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--birthdate") == 0)
            birthdate = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--phone") == 0)
            phone = argv[++i];
        else {
            fprintf(stderr, "vap-host: find-patient: unexpected argument; run: vap-host "
                            "find-patient --help\n");
            return VAPHOST_EXIT_USAGE;
        }
    }
    if ((name == NULL) == (phone == NULL)) {
        fprintf(stderr, "vap-host: find-patient needs --name (with --birthdate if known) or "
                        "--phone, not both\n");
        return VAPHOST_EXIT_USAGE;
    }
    if (birthdate != NULL &&
        (strlen(birthdate) != 10 || birthdate[4] != '-' || birthdate[7] != '-' ||
         strspn(birthdate, "0123456789-") != 10)) {
        fprintf(stderr, "vap-host: find-patient: --birthdate must be YYYY-MM-DD\n");
        return VAPHOST_EXIT_USAGE;
    }
    char *n = name ? vaphost_qenc(name) : NULL, *p = phone ? vaphost_qenc(phone) : NULL;
    char query[1024];
    if (name)
        snprintf(query, sizeof query, "name=%s%s%s", n ? n : "",
                 birthdate ? "&birthdate=" : "", birthdate ? birthdate : "");
    else
        snprintf(query, sizeof query, "phone=%s", p ? p : "");
    free(n);
    free(p);

    char *body = NULL;
    int code = VAPHOST_EXIT_OK;
    /* No _count: some OpenEMR versions answer any paged search with no
     * match; the plugin pages only where the server shows it pages. */
    if (vaphost_request(vh, "GET", "Patient", query, VAP_FETCH_ALL_PAGES, NULL, &body, &code) !=
        VAP_OK)
        return code;
    json_t *bundle = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    free(body);
    json_t *entries = json_object_get(bundle, "entry"), *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        json_t *sum = patient_summary(json_object_get(e, "resource"));
        if (sum)
            json_array_append_new(out, sum);
    }
    if (!json_is_object(bundle)) {
        fprintf(stderr, "vap-host: find-patient: the server's answer is not a FHIR Bundle\n");
        code = VAPHOST_EXIT_FAILURE;
    } else {
        char *txt = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", txt ? txt : "[]");
        fflush(stdout);
        free(txt);
        fprintf(stderr, "vap-host: %zu match(es)\n", json_array_size(out));
    }
    json_decref(out);
    json_decref(bundle);
    return code;
}

int cmd_note(struct vaphost *vh, int argc, char **argv)
{
    const char *patient = NULL, *encounter = NULL, *json_file = NULL;
    const char *field[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[4] = {"subjective", "objective", "assessment", "plan"};
    for (int i = 1; i < argc; i++) {
        int known = 0;
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--patient") == 0)
            patient = argv[++i], known = 1;
        else if (strcmp(argv[i], "--encounter") == 0)
            encounter = argv[++i], known = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json_file = argv[++i], known = 1;
        for (int f = 0; f < 4 && !known; f++)
            if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, names[f]) == 0)
                field[f] = argv[++i], known = 1;
        if (!known)
            goto usage;
    }
    if (patient == NULL || encounter == NULL ||
        (json_file == NULL && !field[0] && !field[1] && !field[2] && !field[3]))
        goto usage;

    json_t *note;
    if (json_file != NULL) {
        json_error_t jerr;
        note = json_load_file(json_file, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(note)) {
            fprintf(stderr, "vap-host: note: %s is not a JSON object (line %d: %s)\n", json_file,
                    jerr.line, jerr.text);
            json_decref(note);
            return VAPHOST_EXIT_USAGE;
        }
    } else {
        note = json_object();
        for (int f = 0; f < 4; f++)
            if (field[f])
                json_object_set_new(note, names[f], json_string(field[f]));
    }
    char *body = json_dumps(note, JSON_COMPACT);
    json_decref(note);

    char pid[32], eid[32], path[512];
    int code = VAPHOST_EXIT_OK;
    snprintf(path, sizeof path, "patient/%s", patient);
    if (std_api_id(vh, path, NULL, "pid", pid, sizeof pid, &code) != 0)
        goto out;
    snprintf(path, sizeof path, "patient/%s/encounter", patient);
    if (std_api_id(vh, path, encounter, "eid", eid, sizeof eid, &code) != 0)
        goto out;
    snprintf(path, sizeof path, "patient/%s/encounter/%s/soap_note", pid, eid);
    char *answer = NULL;
    if (vaphost_request(vh, "POST", path, NULL, VAP_FETCH_STANDARD_API, body, &answer, &code) ==
        VAP_OK) {
        printf("%s\n", answer);
        fflush(stdout);
        free(answer);
    }
out:
    free(body);
    return code;
usage:
    fprintf(stderr, "vap-host: note needs --patient ID --encounter ID and the note (--subjective "
                    "... --plan ..., or --json FILE); run: vap-host note --help\n");
    return VAPHOST_EXIT_USAGE;
}

/* GET a standard-API path and take `field` from its data (an object, or the
 * element of an array whose euuid, or uuid, is match_uuid). */
static int std_api_id(struct vaphost *vh, const char *path, const char *match_uuid,
                      const char *field, char *out, size_t cap, int *code)
{
    char *body = NULL;
    if (vaphost_request(vh, "GET", path, NULL, VAP_FETCH_STANDARD_API, NULL, &body, code) !=
        VAP_OK)
        return -1;
    json_t *root = json_loads(body, 0, NULL);
    free(body);
    json_t *data = json_object_get(root, "data"), *item = NULL;
    if (match_uuid == NULL) {
        item = json_is_array(data) ? json_array_get(data, 0) : data;
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(data, i, e)
        {
            /* OpenEMR sends euuid (7.0.3); uuid is kept for versions that might. */
            const char *u = json_string_value(json_object_get(e, "euuid"));
            if (u == NULL)
                u = json_string_value(json_object_get(e, "uuid"));
            if (u && strcmp(u, match_uuid) == 0)
                item = e;
        }
    }
    json_t *v = json_object_get(item, field);
    int rc = -1;
    if (json_is_string(v) && strlen(json_string_value(v)) < cap) {
        snprintf(out, cap, "%s", json_string_value(v));
        rc = 0;
    } else if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        rc = 0;
    } else {
        fprintf(stderr, "vap-host: note: OpenEMR's standard API did not give the numeric %s "
                        "for %s%s%s: check the FHIR id\n", field, path,
                match_uuid ? " / " : "", match_uuid ? match_uuid : "");
        *code = VAPHOST_EXIT_FAILURE;
    }
    json_decref(root);
    return rc;
}

/* {id, name, birthDate, phone} of a FHIR Patient, or NULL. */
static json_t *patient_summary(const json_t *res)
{
    const char *id = json_string_value(json_object_get(res, "id"));
    if (id == NULL)
        return NULL;
    json_t *nm = json_array_get(json_object_get(res, "name"), 0);
    char name[256] = "";
    size_t k;
    json_t *g;
    json_array_foreach(json_object_get(nm, "given"), k, g)
    {
        size_t used = strlen(name);
        snprintf(name + used, sizeof name - used, "%s%s", used ? " " : "",
                 json_string_value(g) ? json_string_value(g) : "");
    }
    const char *family = json_string_value(json_object_get(nm, "family"));
    if (family) {
        size_t used = strlen(name);
        snprintf(name + used, sizeof name - used, "%s%s", used ? " " : "", family);
    }
    const char *phone = NULL;
    json_array_foreach(json_object_get(res, "telecom"), k, g)
    {
        const char *sys = json_string_value(json_object_get(g, "system"));
        if (phone == NULL && sys && strcmp(sys, "phone") == 0)
            phone = json_string_value(json_object_get(g, "value"));
    }
    const char *bd = json_string_value(json_object_get(res, "birthDate"));
    return json_pack("{s:s,s:s,s:s?,s:s?}", "id", id, "name", name, "birthDate", bd, "phone",
                     phone);
}
