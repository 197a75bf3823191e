/* sim_fhir.c: the resource server: FHIR R4 reads and searches under
 * /apis/default/fhir and the standard API routes under /apis/default/api,
 * with OpenEMR's bearer checks, scope enforcement, patient binding and
 * bodies (OPENEMR.md §9). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_internal.h"

#define SEARCH_CAP 1000     /* OpenEMR has no default limit; the sim caps unpaged searches */

typedef struct tok_info {
    char scope[4096];
    long patient;
    int patient_user;
} tok_info;

typedef struct search {
    const sim_req *q;
    int t;
    long only_patient;      /* -1 = any */
    size_t offset, count, seen;
    json_t *entries;
} search;

static int authenticate(sim_req *q, sim_resp *r, tok_info *ti);
static void fhir_read(sim_req *q, sim_resp *r, int t, const char *id, long bound);
static void fhir_search(sim_req *q, sim_resp *r, int t, long bound);
static int patient_matches(const sim_srv *s, unsigned long i, const sim_form *f);
static void add_entry(search *sr, unsigned long idx, unsigned k);
static long patient_param(const sim_srv *s, const sim_form *f);
static int prefix_ci(const char *name, const char *want);
static int digits_eq(const char *a, const char *b);
static void api_patient(sim_req *q, sim_resp *r, const char *puuid, int encounters);
static void api_soap_note(sim_req *q, sim_resp *r, unsigned long pid, unsigned long eid);
static json_t *std_wrap(json_t *data);
static int cache_get(sim_srv *s, int t, unsigned long idx, unsigned k, sim_resp *r);
static void cache_put(sim_srv *s, int t, unsigned long idx, unsigned k, const sim_resp *r);

/* A token without the scope a route needs: current code says "Unauthorized";
 * 7.0.3 as run (OPENEMR.md §12) answers a bare 401 with an empty body. */
static void missing_scope(sim_req *q, sim_resp *r)
{
    if (__atomic_load_n(&q->srv->cfg.openemr_quirks, __ATOMIC_RELAXED)) {
        r->status = 401;
        return;
    }
    sim_api_error(r, 401, "Unauthorized");
}

void sim_h_fhir(sim_req *q, sim_resp *r, const char *rest)
{
    sim_srv *s = q->srv;
    tok_info ti;
    if (strcmp(rest, "metadata") == 0 && strcmp(q->method, "GET") == 0) {
        sim_count_route(s, "fhir-metadata");
        sim_h_metadata(q, r);
        return;
    }
    if (strcmp(rest, ".well-known/smart-configuration") == 0 && strcmp(q->method, "GET") == 0) {
        sim_count_route(s, "smart-configuration");
        sim_h_smart_config(q, r);
        return;
    }
    const char *slash = strchr(rest, '/');
    size_t tlen = slash ? (size_t)(slash - rest) : strlen(rest);
    int t = sim_res_type(rest, tlen);
    char route[64];
    snprintf(route, sizeof(route), "fhir/%s", t ? sim_res_name(t) : "other");
    sim_count_route(s, route);
    if (!t || strcmp(q->method, "GET") != 0 || (slash && (!slash[1] || strchr(slash + 1, '/')))) {
        sim_api_error(r, 404, "Route not found");
        return;
    }
    if (authenticate(q, r, &ti) != 0)
        return;
    char op = slash ? 'r' : 's';
    const char *rn = sim_res_name(t);
    int by_user = sim_scope_allows(ti.scope, "user", rn, op);
    int by_patient = sim_scope_allows(ti.scope, "patient", rn, op);
    /* system/ scopes, like user/ ones, see every patient */
    by_user |= sim_scope_allows(ti.scope, "system", rn, op);
    if (!by_user && !by_patient) {
        missing_scope(q, r);
        return;
    }
    /* patient/ scopes bind the token to its patient; user/ scopes do not */
    long bound = !by_user ? (ti.patient >= 0 ? ti.patient : -2) : -1;
    if (slash)
        fhir_read(q, r, t, slash + 1, bound);
    else
        fhir_search(q, r, t, bound);
}

void sim_h_api(sim_req *q, sim_resp *r, const char *rest)
{
    sim_srv *s = q->srv;
    tok_info ti;
    char a[80], b[80];
    unsigned long pid = 0, eid = 0;
    int n = 0;
    const char *route = "api/other";
    int is_get = strcmp(q->method, "GET") == 0, is_post = strcmp(q->method, "POST") == 0;
    if (sscanf(rest, "patient/%79[^/]%n", a, &n) == 1 && rest[n] == '\0' && is_get)
        route = "api/patient";
    else if (sscanf(rest, "patient/%79[^/]/encounter%n", a, &n) == 1 && rest[n] == '\0' && is_get)
        route = "api/encounter";
    else if (sscanf(rest, "patient/%79[^/]/encounter/%79[^/]/soap_note%n", a, b, &n) == 2 &&
             rest[n] == '\0' && is_post)
        route = "api/soap_note";
    sim_count_route(s, route);
    if (strcmp(route, "api/other") == 0) {
        sim_api_error(r, 404, "Route not found");
        return;
    }
    if (authenticate(q, r, &ti) != 0)
        return;
    if (!sim_scope_has(ti.scope, "api:oemr") || ti.patient_user) {
        sim_api_error(r, 403, "Forbidden: the token lacks api:oemr or has the wrong role");
        return;
    }
    if (strcmp(route, "api/soap_note") == 0) {
        if (!sim_scope_allows(ti.scope, "user", "soap_note", 'c')) {
            missing_scope(q, r);
            return;
        }
        char *e1 = NULL, *e2 = NULL;
        pid = strtoul(a, &e1, 10);
        eid = strtoul(b, &e2, 10);
        if (!*a || !*b || *e1 || *e2) {
            sim_resp_json(r, 400, json_pack("{s:{s:s}}", "validationErrors", "pid",
                                            "pid and eid must be numeric ids, not UUIDs"));
            return;
        }
        api_soap_note(q, r, pid, eid);
        return;
    }
    int enc = strcmp(route, "api/encounter") == 0;
    if (!sim_scope_allows(ti.scope, "user", enc ? "encounter" : "patient", 'r')) {
        missing_scope(q, r);
        return;
    }
    api_patient(q, r, a, enc);
}

/* Bearer check: 401 for missing/invalid/expired/revoked, 400 after logout. */
static int authenticate(sim_req *q, sim_resp *r, tok_info *ti)
{
    sim_srv *s = q->srv;
    const char *h = q->authorization;
    int rc = 401;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        sim_api_error(r, 401, SIM_DESC_ACCESS_DENIED);
        return -1;
    }
    if (sim_fhir_odd_take(s, q->path)) {
        sim_api_error(r, 400, "Refresh Token revoked or logged out");
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    sim_grant *g = sim_map_get(&s->access, h + 7);
    if (g && g->logged_out) {
        rc = 400;
    } else if (g && !g->revoked && sim_now(s) <= g->exp &&
               strlen(g->scope) < sizeof(ti->scope)) {
        memcpy(ti->scope, g->scope, strlen(g->scope) + 1);
        ti->patient = g->patient;
        ti->patient_user = g->patient_user;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == 400)
        sim_api_error(r, 400, "Refresh Token revoked or logged out");
    else if (rc)
        sim_api_error(r, 401, SIM_DESC_ACCESS_DENIED);
    return rc ? -1 : 0;
}

static void not_found(sim_resp *r)
{
    free(r->body);
    r->status = 404;
    r->body = strdup("[]");
    r->len = 2;
    r->ctype = "application/json";
}

static void fhir_read(sim_req *q, sim_resp *r, int t, const char *id, long bound)
{
    sim_srv *s = q->srv;
    int rt;
    unsigned long idx;
    unsigned k;
    if (sim_uuid_parse(&s->data, id, &rt, &idx, &k) != 0 || rt != t || bound == -2) {
        not_found(r);
        return;
    }
    if (bound >= 0 && t != SIM_R_MEDICATION && t != SIM_R_PRACTITIONER && (long)idx != bound) {
        not_found(r);
        return;
    }
    if (t != SIM_R_APPOINTMENT && cache_get(s, t, idx, k, r) == 0)
        return;
    json_t *o = sim_res_build(&s->data, s->fhir_base, t, idx, k);
    if (!o) {
        not_found(r);
        return;
    }
    sim_resp_json(r, 200, o);
    if (t != SIM_R_APPOINTMENT && r->status == 200)
        cache_put(s, t, idx, k, r);
}

static size_t cache_slot(int t, unsigned long idx, unsigned k)
{
    return (size_t)(sim_hash(0, (uint64_t)t, idx, k) % SIM_CACHE_SLOTS);
}

/* A hit copies the rendered JSON into the response; 0 on a hit. */
static int cache_get(sim_srv *s, int t, unsigned long idx, unsigned k, sim_resp *r)
{
    struct sim_cached *c = &s->cache[cache_slot(t, idx, k)];
    int rc = -1;
    pthread_mutex_lock(&s->cache_lock);
    if (c->body && c->t == t && c->idx == idx && c->k == k) {
        char *b = malloc(c->len + 1);
        if (b) {
            memcpy(b, c->body, c->len + 1);
            free(r->body);
            r->body = b;
            r->len = c->len;
            r->status = 200;
            r->ctype = "application/json";
            rc = 0;
        }
    }
    pthread_mutex_unlock(&s->cache_lock);
    return rc;
}

static void cache_put(sim_srv *s, int t, unsigned long idx, unsigned k, const sim_resp *r)
{
    char *b = malloc(r->len + 1);
    if (!b)
        return;
    memcpy(b, r->body, r->len + 1);
    struct sim_cached *c = &s->cache[cache_slot(t, idx, k)];
    pthread_mutex_lock(&s->cache_lock);
    free(c->body);
    c->t = t;
    c->idx = idx;
    c->k = k;
    c->body = b;
    c->len = r->len;
    pthread_mutex_unlock(&s->cache_lock);
}

static void fhir_search(sim_req *q, sim_resp *r, int t, long bound)
{
    sim_srv *s = q->srv;
    const sim_form *f = &q->query;
    const char *cs = sim_form_get(f, "_count"), *os = sim_form_get(f, "_offset");
    search sr = {q, t, -1, 0, SEARCH_CAP, 0, json_array()};
    if (cs) {
        long c = strtol(cs, NULL, 10);
        sr.count = c <= 0 ? 0 : c > 200 ? 200 : (size_t)c;
    }
    if (os) {
        long o = strtol(os, NULL, 10);
        sr.offset = o < 0 ? 0 : (size_t)o;
    }
    int pt_cap = 0;
    int paged_total = t == SIM_R_PATIENT ? sim_fault_take(s, q->path, SIM_F_PAGED_TOTAL,
                                                          SIM_F_PAGED_TOTAL_STUCK, &pt_cap, NULL)
                                         : 0;
    int stuck = paged_total == SIM_F_PAGED_TOTAL_STUCK;
    if (stuck) {
        cs = os = NULL; /* honoured neither: always the first page */
        sr.offset = 0;
    }
    if (paged_total && !cs)
        sr.count = pt_cap > 0 && pt_cap <= 200 ? (size_t)pt_cap : 10;
    long want = patient_param(s, f);
    /* OpenEMR 7.0.3 as run (OPENEMR.md §12): any _count or _offset empties
     * the search (200, collection, total 0). */
    int paging_empties = (cs || os) && __atomic_load_n(&s->cfg.openemr_quirks, __ATOMIC_RELAXED);
    if (bound == -2 || want == -2 || paging_empties) {
        /* bound to nothing, an unknown patient, or paged on 7.0.3: empty */
    } else if (bound >= 0 && want >= 0 && want != bound) {
        /* a patient-bound token searching another patient: empty */
    } else {
        sr.only_patient = bound >= 0 ? bound : want;
        if (t == SIM_R_MEDICATION) {
            for (unsigned long i = 0; i < sim_medication_catalogue_size(); i++)
                add_entry(&sr, i, 0);
        } else if (t == SIM_R_PRACTITIONER) {
            for (unsigned long i = 0; i < 7; i++)
                add_entry(&sr, i, 0);
        } else {
            unsigned long lo = sr.only_patient >= 0 ? (unsigned long)sr.only_patient : 0;
            unsigned long hi = sr.only_patient >= 0 ? lo + 1 : s->data.n;
            for (unsigned long i = lo; i < hi && json_array_size(sr.entries) < sr.count; i++) {
                if (t == SIM_R_PATIENT && !patient_matches(s, i, f))
                    continue;
                unsigned nk = sim_data_count(&s->data, t, i);
                for (unsigned k = 0; k < nk; k++)
                    add_entry(&sr, i, k);
            }
        }
    }
    char self[200];
    snprintf(self, sizeof(self), "%s/%s", s->fhir_base, sim_res_name(t));
    json_t *b = json_pack("{s:{s:s},s:s,s:s,s:I,s:[{s:s,s:s}]}", "meta", "lastUpdated",
                          "2026-01-05T09:30:00", "resourceType", "Bundle", "type", "collection",
                          "total", (json_int_t)json_array_size(sr.entries), "link", "relation",
                          "self", "url", self);
    if (json_array_size(sr.entries))
        json_object_set(b, "entry", sr.entries);
    if (paged_total && bound < 0 && want < 0) {
        json_int_t all = 0;
        for (unsigned long i = 0; i < s->data.n; i++)
            all += patient_matches(s, i, f);
        json_object_set_new(b, "total", json_integer(all));
    }
    int off = 0;
    if (sim_fault_take(s, q->path, SIM_F_TOTAL_OFF, SIM_F_TOTAL_OFF, &off, NULL)) {
        json_int_t tv = json_integer_value(json_object_get(b, "total")) + (off ? off : -1);
        json_object_set_new(b, "total", json_integer(tv < 0 ? 0 : tv));
    }
    /* Not OpenEMR (it pages by _offset alone): a next link, for clients that
     * follow Bundle.link[next] (fault switches next_link / next_link_foreign). */
    int nl = sim_fault_take(s, q->path, SIM_F_NEXT_LINK, SIM_F_NEXT_LINK_FOREIGN, NULL, NULL);
    if (nl != 0 && sr.count != SEARCH_CAP && json_array_size(sr.entries) == sr.count) {
        char next[400];
        snprintf(next, sizeof(next), "%s/%s?_count=%zu&_offset=%zu",
                 nl == SIM_F_NEXT_LINK ? s->fhir_base : "https://elsewhere.example/fhir",
                 sim_res_name(t), sr.count, sr.offset + sr.count);
        json_array_append_new(json_object_get(b, "link"),
                              json_pack("{s:s,s:s}", "relation", "next", "url", next));
    }
    json_decref(sr.entries);
    sim_resp_json(r, 200, b);
}

static void add_entry(search *sr, unsigned long idx, unsigned k)
{
    const sim_srv *s = sr->q->srv;
    if (json_array_size(sr->entries) >= sr->count)
        return;
    if (sr->seen++ < sr->offset)
        return;
    char id[40], full[200];
    sim_uuid(&s->data, sr->t, idx, k, id);
    snprintf(full, sizeof(full), "%s/%s/%s", s->fhir_base, sim_res_name(sr->t), id);
    json_t *res = sim_res_build(&s->data, s->fhir_base, sr->t, idx, k);
    if (res)
        json_array_append_new(sr->entries, json_pack("{s:s,s:o}", "fullUrl", full, "resource", res));
}

/* patient= / subject= (uuid or Patient/uuid); -1 absent, -2 unknown. */
static long patient_param(const sim_srv *s, const sim_form *f)
{
    const char *v = sim_form_get(f, "patient");
    if (!v)
        v = sim_form_get(f, "subject");
    if (!v)
        return -1;
    if (strncmp(v, "Patient/", 8) == 0)
        v += 8;
    int t;
    unsigned long idx;
    unsigned k;
    if (sim_uuid_parse(&s->data, v, &t, &idx, &k) != 0 || t != SIM_R_PATIENT)
        return -2;
    return (long)idx;
}

static int patient_matches(const sim_srv *s, unsigned long i, const sim_form *f)
{
    const sim_patient *p = &s->data.p[i];
    for (size_t j = 0; j < f->n; j++) {
        const char *k = f->key[j], *v = f->val[j];
        if (strcmp(k, "name") == 0) {
            if (!prefix_ci(sim_given_name(p), v) && !prefix_ci(sim_family_name(p), v) &&
                !prefix_ci(sim_middle_name(p), v))
                return 0;
        } else if (strcmp(k, "family") == 0) {
            if (!prefix_ci(sim_family_name(p), v))
                return 0;
        } else if (strcmp(k, "given") == 0) {
            if (!prefix_ci(sim_given_name(p), v) && !prefix_ci(sim_middle_name(p), v))
                return 0;
        } else if (strcmp(k, "birthdate") == 0) {
            char dob[16];
            snprintf(dob, sizeof(dob), "%04u-%02u-%02u", p->year, p->month, p->day);
            if (strcmp(dob, strncmp(v, "eq", 2) == 0 ? v + 2 : v) != 0)
                return 0;
        } else if (strcmp(k, "phone") == 0 || strcmp(k, "telecom") == 0) {
            if (!digits_eq(p->phone, v))
                return 0;
        } else if (strcmp(k, "_id") == 0) {
            char id[40];
            sim_uuid(&s->data, SIM_R_PATIENT, i, 0, id);
            if (strcmp(id, v) != 0)
                return 0;
        }
    }
    return 1;
}

static int prefix_ci(const char *name, const char *want)
{
    size_t n = strlen(want);
    return n > 0 && strncasecmp(name, want, n) == 0;
}

/* Phone numbers compare by digits only; a leading US country code 1 is ignored. */
static int digits_eq(const char *a, const char *b)
{
    char da[32], db[32];
    size_t na = 0, nb = 0;
    for (; *a && na < sizeof(da) - 1; a++)
        if (isdigit((unsigned char)*a))
            da[na++] = *a;
    for (; *b && nb < sizeof(db) - 1; b++)
        if (isdigit((unsigned char)*b))
            db[nb++] = *b;
    da[na] = db[nb] = '\0';
    const char *pa = da, *pb = db;
    if (na == 11 && da[0] == '1')
        pa++;
    if (nb == 11 && db[0] == '1')
        pb++;
    return nb > 0 && strcmp(pa, pb) == 0;
}

static void api_patient(sim_req *q, sim_resp *r, const char *puuid, int encounters)
{
    sim_srv *s = q->srv;
    int t;
    unsigned long idx;
    unsigned k;
    if (sim_uuid_parse(&s->data, puuid, &t, &idx, &k) != 0 || t != SIM_R_PATIENT) {
        sim_resp_json(r, 404, std_wrap(json_array()));
        return;
    }
    const sim_patient *p = &s->data.p[idx];
    char pid[24], dob[16];
    snprintf(pid, sizeof(pid), "%lu", idx + 1);
    snprintf(dob, sizeof(dob), "%04u-%02u-%02u", p->year, p->month, p->day);
    if (!encounters) {
        char pubpid[24];
        snprintf(pubpid, sizeof(pubpid), "PT%06lu", idx + 1);
        sim_resp_json(r, 200, std_wrap(json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", pid, "pid", pid, "uuid", puuid,
            "pubpid", pubpid, "fname", sim_given_name(p), "mname", sim_middle_name(p), "lname",
            sim_family_name(p), "DOB", dob, "sex", p->sex ? "Male" : "Female", "phone_home",
            p->phone)));
        return;
    }
    json_t *a = json_array();
    unsigned n = sim_data_count(&s->data, SIM_R_ENCOUNTER, idx);
    for (unsigned j = 0; j < n; j++) {
        char eid[24], euuid[40];
        snprintf(eid, sizeof(eid), "%lu", idx * 8 + j + 1);
        sim_uuid(&s->data, SIM_R_ENCOUNTER, idx, j, euuid);
        json_t *fe = sim_res_build(&s->data, s->fhir_base, SIM_R_ENCOUNTER, idx, j);
        const char *date = json_string_value(json_object_get(json_object_get(fe, "period"), "start"));
        json_t *reason = json_object_get(json_array_get(json_object_get(fe, "reasonCode"), 0), "text");
        /* OpenEMR 7.0.3 (OPENEMR.md §12): eid and euuid, pid and puuid; no uuid */
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:s}", "id", eid, "eid",
            eid, "euuid", euuid, "pid", pid, "puuid", puuid, "date", date ? date : "", "reason",
            reason ? reason : json_null(), "facility", "Springfield Family Practice"));
        json_decref(fe);
    }
    sim_resp_json(r, 200, std_wrap(a));
}

static void api_soap_note(sim_req *q, sim_resp *r, unsigned long pid, unsigned long eid)
{
    sim_srv *s = q->srv;
    if (pid < 1 || pid > s->data.n || eid < 1 || (eid - 1) / 8 != pid - 1 ||
        (eid - 1) % 8 >= sim_data_count(&s->data, SIM_R_ENCOUNTER, pid - 1)) {
        sim_resp_json(r, 404, std_wrap(json_array()));
        return;
    }
    json_t *in = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, NULL);
    int ok = json_is_object(in);
    const char *fields[] = {"subjective", "objective", "assessment", "plan"};
    for (int i = 0; ok && i < 4; i++) {
        json_t *v = json_object_get(in, fields[i]);
        if (v && !json_is_string(v))
            ok = 0;
    }
    json_decref(in);
    if (!ok) {
        sim_resp_json(r, 400, json_pack("{s:{s:s}}", "validationErrors", "body",
            "send a JSON object whose subjective/objective/assessment/plan are strings"));
        return;
    }
    unsigned long id = __atomic_add_fetch(&s->soap_seq, 1, __ATOMIC_RELAXED);
    sim_resp_json(r, 201, json_pack("{s:I,s:I}", "sid", (json_int_t)id,
                                    "fid", (json_int_t)(1000 + id)));
}

static json_t *std_wrap(json_t *data)
{
    return json_pack("{s:[],s:[],s:o}", "validationErrors", "internalErrors", "data", data);
}
