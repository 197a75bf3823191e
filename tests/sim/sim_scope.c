/* sim_scope.c: OpenEMR's server scope list and the checks made against it
 * (OPENEMR.md §4): the first unknown scope fails a request, wildcards and
 * context-less scopes are unknown, SMART v2 letters must be in cruds order. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static const char *const special[] = {
    "openid", "fhirUser", "online_access", "offline_access", "launch", "launch/patient",
    "api:oemr", "api:fhir", "api:port", "profile", "email", "phone", "address", NULL};

/* ServerScopeListEntity::fhirResourceScopesV1 (abridged to what the sim serves or
 * a client may plausibly ask for). Medication is v1 only. */
static const char *const fhir_res[] = {
    "AllergyIntolerance", "Appointment", "Binary", "CarePlan", "CareTeam", "Condition",
    "Coverage", "Device", "DiagnosticReport", "DocumentReference", "Encounter", "Goal",
    "Immunization", "Location", "Medication", "MedicationRequest", "Observation",
    "Organization", "Patient", "Person", "Practitioner", "PractitionerRole", "Procedure",
    "Provenance", NULL};
static const char *const fhir_write[] = {"Patient", "Practitioner", "Organization", NULL};
static const char *const api_res[] = {
    "patient", "encounter", "soap_note", "vital", "medical_problem", "allergy", "medication",
    "appointment", "message", "document", "insurance", "practitioner", "facility", NULL};
static const char *const api_patient_res[] = {
    "patient", "encounter", "appointment", "allergy", "medication", "medical_problem", NULL};

int sim_system_scopes;

static int in_list(const char *const *l, const char *s, size_t len);
static int v2_letters_ok(const char *p, size_t len);
static int has_letter(const char *p, size_t len, char c);
static int next_word(const char **cur, const char **w, size_t *wl);

int sim_scope_known(const char *s, size_t len)
{
    if (in_list(special, s, len))
        return 1;
    const char *slash = memchr(s, '/', len);
    if (!slash)
        return 0;
    size_t clen = (size_t)(slash - s);
    int patient_ctx = clen == 7 && memcmp(s, "patient", 7) == 0;
    int user_ctx = clen == 4 && memcmp(s, "user", 4) == 0;
    /* system/ scopes exist only while rest_system_scopes_api is on (off in
     * a default install); they name FHIR resources only. */
    int system_ctx = clen == 6 && memcmp(s, "system", 6) == 0 &&
                     __atomic_load_n(&sim_system_scopes, __ATOMIC_RELAXED);
    if (!patient_ctx && !user_ctx && !system_ctx)
        return 0;
    const char *res = slash + 1;
    size_t rest = len - clen - 1;
    const char *dot = memchr(res, '.', rest);
    if (!dot)
        return 0;
    size_t rlen = (size_t)(dot - res);
    const char *perm = dot + 1;
    size_t plen = rest - rlen - 1;
    const char *q = memchr(perm, '?', plen);
    int has_category = 0;
    if (q) {
        if (plen - (size_t)(q - perm) < 10 || memcmp(q, "?category=", 10) != 0)
            return 0;
        has_category = 1;
        plen = (size_t)(q - perm);
    }
    int fhir = in_list(fhir_res, res, rlen);
    int api = system_ctx ? 0
              : user_ctx ? in_list(api_res, res, rlen) : in_list(api_patient_res, res, rlen);
    if (!fhir && !api)
        return 0;
    if (has_category && !(fhir && (in_list((const char *const[]){"Condition", "Observation",
                                            "DocumentReference", NULL}, res, rlen))))
        return 0;
    if (plen == 4 && memcmp(perm, "read", 4) == 0)
        return !has_category;
    if (plen == 5 && memcmp(perm, "write", 5) == 0)
        return !has_category && user_ctx &&
               ((fhir && in_list(fhir_write, res, rlen)) || api);
    if (!v2_letters_ok(perm, plen))
        return 0;
    if (fhir && rlen == 10 && memcmp(res, "Medication", 10) == 0)
        return 0;           /* Medication is not in the v2 list */
    int writes = has_letter(perm, plen, 'c') || has_letter(perm, plen, 'u') ||
                 has_letter(perm, plen, 'd');
    if (writes)
        return user_ctx && ((fhir && in_list(fhir_write, res, rlen)) || api);
    return 1;
}

int sim_scope_check(const char *list, char *bad, size_t badlen)
{
    const char *cur = list, *w;
    size_t wl;
    int any = 0;
    if (badlen)
        bad[0] = '\0';
    while (next_word(&cur, &w, &wl)) {
        any = 1;
        if (!sim_scope_known(w, wl)) {
            size_t n = wl < badlen - 1 ? wl : badlen - 1;
            memcpy(bad, w, n);
            bad[n] = '\0';
            return -1;
        }
    }
    return any ? 0 : -1;
}

int sim_scope_has(const char *list, const char *word)
{
    const char *cur = list, *w;
    size_t wl, n = strlen(word);
    if (!list)
        return 0;
    while (next_word(&cur, &w, &wl))
        if (wl == n && memcmp(w, word, n) == 0)
            return 1;
    return 0;
}

int sim_scope_allows(const char *list, const char *ctx, const char *resource, char op)
{
    const char *cur = list, *w;
    size_t wl, cl = strlen(ctx), rl = strlen(resource);
    if (!list)
        return 0;
    while (next_word(&cur, &w, &wl)) {
        if (wl < cl + rl + 3 || memcmp(w, ctx, cl) != 0 || w[cl] != '/' ||
            memcmp(w + cl + 1, resource, rl) != 0 || w[cl + 1 + rl] != '.')
            continue;
        const char *perm = w + cl + rl + 2;
        size_t plen = wl - cl - rl - 2;
        const char *q = memchr(perm, '?', plen);
        if (q)
            plen = (size_t)(q - perm);
        if (plen == 4 && memcmp(perm, "read", 4) == 0 && (op == 'r' || op == 's'))
            return 1;
        if (plen == 5 && memcmp(perm, "write", 5) == 0 && (op == 'c' || op == 'u' || op == 'd'))
            return 1;
        if (v2_letters_ok(perm, plen) && has_letter(perm, plen, op))
            return 1;
    }
    return 0;
}

int sim_scope_has_prefix(const char *list, const char *prefix)
{
    const char *cur = list, *w;
    size_t wl, n = strlen(prefix);
    if (!list)
        return 0;
    while (next_word(&cur, &w, &wl))
        if (wl >= n && memcmp(w, prefix, n) == 0)
            return 1;
    return 0;
}

char *sim_scope_intersect(const char *a, const char *b)
{
    sim_buf out;
    const char *cur = a, *w;
    size_t wl;
    sim_buf_init(&out, 1 << 16);
    while (next_word(&cur, &w, &wl)) {
        char tmp[256];
        if (wl >= sizeof(tmp))
            continue;
        memcpy(tmp, w, wl);
        tmp[wl] = '\0';
        if (b && !sim_scope_has(b, tmp))
            continue;
        if (sim_scope_has(out.p ? out.p : "", tmp))
            continue;       /* drop duplicates */
        if (out.len)
            sim_buf_add(&out, " ", 1);
        sim_buf_add(&out, w, wl);
    }
    return sim_buf_steal(&out);
}

char *sim_scope_public(const char *a)
{
    sim_buf out;
    const char *cur = a, *w;
    size_t wl;
    sim_buf_init(&out, 1 << 16);
    while (next_word(&cur, &w, &wl)) {
        if (wl >= 4 && memcmp(w, "api:", 4) == 0)
            continue;
        if (out.len)
            sim_buf_add(&out, " ", 1);
        sim_buf_add(&out, w, wl);
    }
    return sim_buf_steal(&out);
}

int sim_scope_api_without_oemr(const char *list, char *bad, size_t badlen)
{
    const char *cur = list, *w;
    size_t wl;
    if (badlen)
        bad[0] = '\0';
    if (!list || sim_scope_has(list, "api:oemr"))
        return 0;
    while (next_word(&cur, &w, &wl)) {
        const char *slash = memchr(w, '/', wl), *dot = slash ? memchr(slash, '.', wl - (size_t)(slash - w)) : NULL;
        if (!slash || !dot)
            continue;
        size_t clen = (size_t)(slash - w), rlen = (size_t)(dot - slash - 1);
        int user_ctx = clen == 4 && memcmp(w, "user", 4) == 0;
        int patient_ctx = clen == 7 && memcmp(w, "patient", 7) == 0;
        if ((user_ctx && in_list(api_res, slash + 1, rlen)) ||
            (patient_ctx && in_list(api_patient_res, slash + 1, rlen))) {
            size_t n = wl < badlen - 1 ? wl : badlen - 1;
            memcpy(bad, w, n);
            bad[n] = '\0';
            return 1;
        }
    }
    return 0;
}

json_t *sim_scope_server_list(void)
{
    json_t *a = json_array();
    char tmp[128];
    for (size_t i = 0; special[i]; i++)
        json_array_append_new(a, json_string(special[i]));
    for (size_t c = 0; c < 2; c++) {
        const char *ctx = c ? "user" : "patient";
        for (size_t i = 0; fhir_res[i]; i++) {
            snprintf(tmp, sizeof(tmp), "%s/%s.read", ctx, fhir_res[i]);
            json_array_append_new(a, json_string(tmp));
            if (strcmp(fhir_res[i], "Medication") != 0) {
                snprintf(tmp, sizeof(tmp), "%s/%s.rs", ctx, fhir_res[i]);
                json_array_append_new(a, json_string(tmp));
            }
        }
    }
    /* system/ scopes are listed only while rest_system_scopes_api is on */
    for (size_t i = 0; fhir_res[i] && __atomic_load_n(&sim_system_scopes, __ATOMIC_RELAXED); i++) {
        snprintf(tmp, sizeof(tmp), "system/%s.read", fhir_res[i]);
        json_array_append_new(a, json_string(tmp));
    }
    for (size_t i = 0; fhir_write[i]; i++) {
        snprintf(tmp, sizeof(tmp), "user/%s.write", fhir_write[i]);
        json_array_append_new(a, json_string(tmp));
    }
    for (size_t i = 0; api_res[i]; i++) {
        snprintf(tmp, sizeof(tmp), "user/%s.read", api_res[i]);
        json_array_append_new(a, json_string(tmp));
        snprintf(tmp, sizeof(tmp), "user/%s.write", api_res[i]);
        json_array_append_new(a, json_string(tmp));
    }
    return a;
}

static int in_list(const char *const *l, const char *s, size_t len)
{
    for (size_t i = 0; l[i]; i++)
        if (strlen(l[i]) == len && memcmp(l[i], s, len) == 0)
            return 1;
    return 0;
}

/* A non-empty subsequence of "cruds", in that order. */
static int v2_letters_ok(const char *p, size_t len)
{
    static const char order[] = "cruds";
    size_t pos = 0;
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        while (pos < 5 && order[pos] != p[i])
            pos++;
        if (pos == 5)
            return 0;
        pos++;
    }
    return 1;
}

static int has_letter(const char *p, size_t len, char c)
{
    return memchr(p, c, len) != NULL;
}

static int next_word(const char **cur, const char **w, size_t *wl)
{
    const char *p = *cur;
    if (!p)
        return 0;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    const char *e = p;
    while (*e && *e != ' ')
        e++;
    *w = p;
    *wl = (size_t)(e - p);
    *cur = e;
    return 1;
}
