/* test_sim_fhir.c: the resource server: bearer failures, scope enforcement,
 * patient binding, reads, searches, paging and the standard API
 * (OPENEMR.md §9). */
#include <stdlib.h>
#include <string.h>

#include "test_sim.h"

#define USER_SCOPE "openid api:fhir api:oemr user/Patient.read user/Encounter.read " \
    "user/DiagnosticReport.read user/MedicationRequest.read user/Medication.read " \
    "user/Observation.read user/Condition.read user/AllergyIntolerance.read " \
    "user/Appointment.read user/patient.read user/encounter.read user/soap_note.write"

static json_t *get_json(const char *path, const char *bearer, long *status)
{
    tresp r;
    t_get(path, bearer, &r);
    json_t *j = t_json(&r);
    *status = r.status;
    t_resp_free(&r);
    return j;
}

static void fhir_bearer_failures_are_401_denied(void)
{
    static const char *const bearers[] = {NULL, "", "not-a-token", "eyJhbGciOiJub25lIn0.e30."};
    for (size_t i = 0; i < sizeof(bearers) / sizeof(bearers[0]); i++) {
        long st;
        json_t *j = get_json(FHIR "/Patient", bearers[i], &st);
        int ok = st == 401 && sim_streq_t(t_jstr(j, "error"), "An error occurred") &&
                 sim_streq_t(t_jstr(j, "message"),
                             "The resource owner or authorization server denied the request.") &&
                 json_integer_value(json_object_get(j, "code")) == 401;
        json_decref(j);
        CHECK(ok);
    }
}

static void fhir_missing_scope_is_401_unauthorized(void)
{
    long st;
    json_t *t = t_tokens(STD_SCOPE);
    CHECK(t);
    json_t *j = get_json(FHIR "/Condition", t_jstr(t, "access_token"), &st);
    int ok = st == 401 && sim_streq_t(t_jstr(j, "message"), "Unauthorized");
    tresp r;
    t_get(FHIR "/Condition", t_jstr(t, "access_token"), &r);
    t_resp_free(&r);
    json_decref(j);
    json_decref(t);
    CHECK(ok);
    CHECK(r.www_auth[0] == '\0');
}

static void fhir_read_patient_is_us_core_about_4kb(void)
{
    tresp r;
    json_t *t = t_tokens(STD_SCOPE);
    CHECK(t);
    char path[200];
    snprintf(path, sizeof(path), FHIR "/Patient/%s", t_jstr(t, "patient"));
    t_get(path, t_jstr(t, "access_token"), &r);
    json_t *p = t_json(&r);
    int ok = r.status == 200 && strcmp(r.ctype, "application/json") == 0 &&
             sim_streq_t(t_jstr(p, "resourceType"), "Patient") &&
             sim_streq_t(t_jstr(p, "id"), t_jstr(t, "patient")) &&
             t_jstr(p, "birthDate") && json_array_size(json_object_get(p, "name")) == 1 &&
             json_array_size(json_object_get(p, "telecom")) >= 1;
    size_t len = r.len;
    t_resp_free(&r);
    json_decref(p);
    json_decref(t);
    CHECK(ok);
    CHECK(len >= 3500 && len <= 5000);
}

/* Reads are served from a render cache: the same id gives the same bytes,
 * another id other bytes. */
static void fhir_repeated_reads_are_identical_and_distinct_per_id(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    const char *at = t_jstr(t, "access_token");
    json_t *b = get_json(FHIR "/Patient?_count=2", at, &st);
    char p0[200], p1[200];
    snprintf(p0, sizeof(p0), FHIR "/Patient/%s", t_jstr(json_object_get(json_array_get(
             json_object_get(b, "entry"), 0), "resource"), "id"));
    snprintf(p1, sizeof(p1), FHIR "/Patient/%s", t_jstr(json_object_get(json_array_get(
             json_object_get(b, "entry"), 1), "resource"), "id"));
    json_decref(b);
    tresp a1, bb, a2;
    t_get(p0, at, &a1);
    t_get(p1, at, &bb);
    t_get(p0, at, &a2);
    int same = a1.status == 200 && a2.status == 200 && a1.len == a2.len &&
               memcmp(a1.body, a2.body, a1.len) == 0;
    int differ = bb.status == 200 && (bb.len != a1.len || memcmp(bb.body, a1.body, a1.len) != 0);
    t_resp_free(&a1);
    t_resp_free(&bb);
    t_resp_free(&a2);
    json_decref(t);
    CHECK(same);
    CHECK(differ);
}

static void fhir_read_miss_is_404_empty_array(void)
{
    tresp r;
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    t_get(FHIR "/Patient/00000000-0001-4000-8000-000000000000", t_jstr(t, "access_token"), &r);
    int ok = r.status == 404 && strcmp(r.body, "[]") == 0;
    t_resp_free(&r);
    json_decref(t);
    CHECK(ok);
}

static void fhir_unknown_route_is_404(void)
{
    long st;
    json_t *j = get_json(FHIR "/NoSuchResource", "x", &st);
    int ok = st == 404 && sim_streq_t(t_jstr(j, "message"), "Route not found");
    json_decref(j);
    CHECK(ok);
}

static void fhir_patient_token_is_bound_to_its_patient(void)
{
    long st;
    json_t *t = t_tokens(STD_SCOPE);
    CHECK(t);
    const char *at = t_jstr(t, "access_token");
    /* another patient's id, found with a user-scope token */
    json_t *u = t_tokens(USER_SCOPE);
    json_t *all = get_json(FHIR "/Patient?_count=2", t_jstr(u, "access_token"), &st);
    const char *other = NULL;
    for (size_t i = 0; i < 2; i++) {
        const char *id = t_jstr(json_object_get(json_array_get(json_object_get(all, "entry"), i),
                                                "resource"), "id");
        if (id && !sim_streq_t(id, t_jstr(t, "patient")))
            other = id;
    }
    char path[300];
    snprintf(path, sizeof(path), FHIR "/Patient/%s", other ? other : "x");
    long read_other = t_status_of_get(path, at);
    json_t *own = get_json(FHIR "/Encounter", at, &st);
    int all_own = json_array_size(json_object_get(own, "entry")) > 0;
    size_t i;
    json_t *e;
    char want[100];
    snprintf(want, sizeof(want), "Patient/%s", t_jstr(t, "patient"));
    json_array_foreach(json_object_get(own, "entry"), i, e)
        if (!sim_streq_t(t_jstr(json_object_get(json_object_get(e, "resource"), "subject"),
                                "reference"), want))
            all_own = 0;
    snprintf(path, sizeof(path), FHIR "/Encounter?patient=%s", other ? other : "x");
    json_t *theirs = get_json(path, at, &st);
    int none = json_integer_value(json_object_get(theirs, "total")) == 0;
    json_decref(t);
    json_decref(u);
    json_decref(all);
    json_decref(own);
    json_decref(theirs);
    CHECK(other);
    CHECK(read_other == 404);
    CHECK(all_own);
    CHECK(none);
}

static void fhir_search_bundle_shape_for_each_type(void)
{
    static const char *const types[] = {"Patient", "Encounter", "DiagnosticReport",
        "MedicationRequest", "Medication", "Observation", "Condition", "AllergyIntolerance",
        "Appointment"};
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char path[200], self[300];
        long st;
        snprintf(path, sizeof(path), FHIR "/%s?_count=5", types[i]);
        snprintf(self, sizeof(self), "%s" FHIR "/%s", g_base, types[i]);
        json_t *b = get_json(path, t_jstr(t, "access_token"), &st);
        json_t *links = json_object_get(b, "link");
        json_t *first = json_object_get(json_array_get(json_object_get(b, "entry"), 0), "resource");
        int ok = st == 200 && sim_streq_t(t_jstr(b, "type"), "collection") &&
                 json_integer_value(json_object_get(b, "total")) ==
                     (json_int_t)json_array_size(json_object_get(b, "entry")) &&
                 json_array_size(links) == 1 &&
                 sim_streq_t(t_jstr(json_array_get(links, 0), "relation"), "self") &&
                 sim_streq_t(t_jstr(json_array_get(links, 0), "url"), self) &&
                 sim_streq_t(t_jstr(first, "resourceType"), types[i]);
        if (!ok)
            fprintf(stderr, "    %s: %ld\n", types[i], st);
        json_decref(b);
        CHECK(ok);
    }
    json_decref(t);
}

static void fhir_paging_by_offset_covers_all_without_next(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    const char *at = t_jstr(t, "access_token");
    json_t *all = get_json(FHIR "/Encounter?_count=200", at, &st);
    size_t total = json_array_size(json_object_get(all, "entry"));
    size_t seen = 0, pages = 0;
    int same = 1, no_next = 1;
    for (size_t off = 0; pages < 100; off += 7, pages++) {
        char path[200];
        snprintf(path, sizeof(path), FHIR "/Encounter?_count=7&_offset=%zu", off);
        json_t *p = get_json(path, at, &st);
        json_t *ent = json_object_get(p, "entry");
        size_t n = json_array_size(ent);
        for (size_t i = 0; i < n && off + i < total; i++)
            if (!json_equal(json_array_get(ent, i), json_array_get(json_object_get(all, "entry"), off + i)))
                same = 0;
        if (json_array_size(json_object_get(p, "link")) != 1)
            no_next = 0;
        seen += n;
        json_decref(p);
        if (n < 7)
            break;
    }
    json_decref(all);
    json_decref(t);
    CHECK(total == 200);    /* 120 patients have more than 200 encounters */
    CHECK(same);
    CHECK(no_next);
    CHECK(seen >= 200);
}

static void fhir_count_is_capped_at_200(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    json_t *b = get_json(FHIR "/Observation?_count=500", t_jstr(t, "access_token"), &st);
    size_t n = json_array_size(json_object_get(b, "entry"));
    json_decref(b);
    json_decref(t);
    CHECK(st == 200 && n == 200);
}

static void fhir_patient_search_by_name_birthdate_phone(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE);
    CHECK(t);
    const char *at = t_jstr(t, "access_token");
    json_t *one = get_json(FHIR "/Patient?_count=1&_offset=17", at, &st);
    json_t *p = json_object_get(json_array_get(json_object_get(one, "entry"), 0), "resource");
    char fam[64], dob[16], phone[32], id[40], path[300];
    snprintf(fam, sizeof(fam), "%s", t_jstr(json_array_get(json_object_get(p, "name"), 0), "family"));
    snprintf(dob, sizeof(dob), "%s", t_jstr(p, "birthDate"));
    snprintf(phone, sizeof(phone), "%s", t_jstr(json_array_get(json_object_get(p, "telecom"), 0), "value"));
    snprintf(id, sizeof(id), "%s", t_jstr(p, "id"));
    json_decref(one);
    const char *queries[3][2] = {{"name", fam}, {"birthdate", dob}, {"phone", phone}};
    for (int q = 0; q < 3; q++) {
        char *v = t_urlenc(queries[q][1]);
        snprintf(path, sizeof(path), FHIR "/Patient?%s=%s", queries[q][0], v);
        free(v);
        json_t *b = get_json(path, at, &st);
        int found = 0, all_match = 1;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(b, "entry"), i, e) {
            json_t *res = json_object_get(e, "resource");
            if (sim_streq_t(t_jstr(res, "id"), id))
                found = 1;
            if (q == 1 && !sim_streq_t(t_jstr(res, "birthDate"), dob))
                all_match = 0;
        }
        json_decref(b);
        if (!found || !all_match)
            fprintf(stderr, "    search %s=%s: found %d all_match %d\n", queries[q][0], queries[q][1], found, all_match);
        CHECK(found && all_match);
    }
    json_t *none = get_json(FHIR "/Patient?name=Zzyzx", at, &st);
    json_int_t zero = json_integer_value(json_object_get(none, "total"));
    json_decref(none);
    json_decref(t);
    CHECK(zero == 0);
}

static void api_patient_lookup_gives_numeric_pid_and_encounters(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE " launch/patient");
    CHECK(t);
    char path[300];
    snprintf(path, sizeof(path), "/apis/default/api/patient/%s", t_jstr(t, "patient"));
    json_t *p = get_json(path, t_jstr(t, "access_token"), &st);
    const char *pid = t_jstr(json_object_get(p, "data"), "pid");
    int ok = st == 200 && pid && strtol(pid, NULL, 10) == 4 &&
             json_is_array(json_object_get(p, "validationErrors"));
    snprintf(path, sizeof(path), "/apis/default/api/patient/%s/encounter", t_jstr(t, "patient"));
    json_t *e = get_json(path, t_jstr(t, "access_token"), &st);
    json_t *e0 = json_array_get(json_object_get(e, "data"), 0);
    /* as OpenEMR 7.0.3 answered: eid, euuid, pid, puuid, and no uuid */
    int enc_ok = st == 200 && json_array_size(json_object_get(e, "data")) >= 1 &&
                 t_jstr(e0, "eid") && t_jstr(e0, "euuid") && strlen(t_jstr(e0, "euuid")) == 36 &&
                 sim_streq_t(t_jstr(e0, "puuid"), t_jstr(t, "patient")) && t_jstr(e0, "pid") &&
                 !json_object_get(e0, "uuid");
    json_decref(p);
    json_decref(e);
    json_decref(t);
    CHECK(ok);
    CHECK(enc_ok);
}

static void api_without_api_oemr_is_403(void)
{
    json_t *t = t_tokens(STD_SCOPE);
    CHECK(t);
    char path[300];
    snprintf(path, sizeof(path), "/apis/default/api/patient/%s", t_jstr(t, "patient"));
    long st = t_status_of_get(path, t_jstr(t, "access_token"));
    json_decref(t);
    CHECK(st == 403);
}

static long post_soap(const char *bearer, const char *pid, const char *eid, const char *body,
                      json_t **out)
{
    char path[300], h[8192];
    const char *hs[] = {"Content-Type: application/json", h, NULL};
    tresp r;
    snprintf(path, sizeof(path), "/apis/default/api/patient/%s/encounter/%s/soap_note", pid, eid);
    snprintf(h, sizeof(h), "Authorization: Bearer %s", bearer);
    t_req("POST", path, hs, body, &r);
    *out = t_json(&r);
    t_resp_free(&r);
    return r.status;
}

static void api_soap_note_is_201_with_sid_fid(void)
{
    long st;
    json_t *t = t_tokens(USER_SCOPE " launch/patient"), *out = NULL;
    CHECK(t);
    char path[300], eid[24];
    snprintf(path, sizeof(path), "/apis/default/api/patient/%s/encounter", t_jstr(t, "patient"));
    json_t *e = get_json(path, t_jstr(t, "access_token"), &st);
    snprintf(eid, sizeof(eid), "%s", t_jstr(json_array_get(json_object_get(e, "data"), 0), "eid"));
    json_decref(e);
    st = post_soap(t_jstr(t, "access_token"), "4", eid, "{\"subjective\":\"cough 3 days\","
                   "\"objective\":\"afebrile\",\"assessment\":\"viral URI\",\"plan\":\"fluids\"}", &out);
    int ok = st == 201 && json_is_integer(json_object_get(out, "sid")) &&
             json_is_integer(json_object_get(out, "fid"));
    json_decref(out);
    long uuid_pid = post_soap(t_jstr(t, "access_token"), t_jstr(t, "patient"), eid, "{}", &out);
    json_decref(out);
    long wrong_eid = post_soap(t_jstr(t, "access_token"), "5", eid, "{}", &out);
    json_decref(out);
    json_decref(t);
    CHECK(ok);
    CHECK(uuid_pid == 400);
    CHECK(wrong_eid == 404);
}

static void api_soap_note_without_scope_is_401(void)
{
    json_t *t = t_tokens("openid api:oemr api:fhir launch/patient user/patient.read"), *out = NULL;
    CHECK(t);
    long st = post_soap(t_jstr(t, "access_token"), "4", "25", "{}", &out);
    int ok = st == 401 && sim_streq_t(t_jstr(out, "message"), "Unauthorized");
    json_decref(out);
    json_decref(t);
    CHECK(ok);
}

const tcase t_fhir_cases[] = {
    {"fhir_bearer_failures_are_401_denied", fhir_bearer_failures_are_401_denied},
    {"fhir_missing_scope_is_401_unauthorized", fhir_missing_scope_is_401_unauthorized},
    {"fhir_read_patient_is_us_core_about_4kb", fhir_read_patient_is_us_core_about_4kb},
    {"fhir_repeated_reads_are_identical_and_distinct_per_id",
     fhir_repeated_reads_are_identical_and_distinct_per_id},
    {"fhir_read_miss_is_404_empty_array", fhir_read_miss_is_404_empty_array},
    {"fhir_unknown_route_is_404", fhir_unknown_route_is_404},
    {"fhir_patient_token_is_bound_to_its_patient", fhir_patient_token_is_bound_to_its_patient},
    {"fhir_search_bundle_shape_for_each_type", fhir_search_bundle_shape_for_each_type},
    {"fhir_paging_by_offset_covers_all_without_next", fhir_paging_by_offset_covers_all_without_next},
    {"fhir_count_is_capped_at_200", fhir_count_is_capped_at_200},
    {"fhir_patient_search_by_name_birthdate_phone", fhir_patient_search_by_name_birthdate_phone},
    {"api_patient_lookup_gives_numeric_pid_and_encounters", api_patient_lookup_gives_numeric_pid_and_encounters},
    {"api_without_api_oemr_is_403", api_without_api_oemr_is_403},
    {"api_soap_note_is_201_with_sid_fid", api_soap_note_is_201_with_sid_fid},
    {"api_soap_note_without_scope_is_401", api_soap_note_without_scope_is_401},
    {NULL, NULL}};
