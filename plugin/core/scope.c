/* scope.c - recognising the scopes OpenEMR accepts, and the mistakes the
 * user guide teaches (wildcards, bare "Patient.read", patient/ wildcard writes), with
 * the replacement an admin can paste.  The catalogue is OpenEMR's server scope
 * list (ServerScopeListEntity, 7.0.4+/8.x); an unknown name is only a warning
 * because older servers and other providers differ. */
#include "core/scope.h"

#include <stdio.h>
#include <string.h>

/* FHIR resources with v1 read scopes (patient/ and user/). */
static const char *const fhir_v1_read[] = {
    "AllergyIntolerance", "Appointment", "CarePlan", "CareTeam", "Condition",
    "Coverage", "Device", "DiagnosticReport", "DocumentReference", "Binary",
    "Encounter", "Goal", "Group", "Immunization", "Location", "Medication",
    "MedicationRequest", "Observation", "Organization", "Patient", "Person",
    "Practitioner", "PractitionerRole", "Procedure", "Provenance", "ValueSet",
    "OperationDefinition"};
/* FHIR resources with v2 (.rs) scopes. */
static const char *const fhir_v2[] = {
    "AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "Coverage",
    "Device", "DiagnosticReport", "DocumentReference", "Encounter", "Goal",
    "Immunization", "MedicationDispense", "MedicationRequest", "Observation",
    "Organization", "Patient", "Practitioner", "PractitionerRole", "Procedure",
    "Provenance", "QuestionnaireResponse", "RelatedPerson", "ServiceRequest",
    "Specimen"};
/* Standard API (lower-case) resources; they need api:oemr. */
static const char *const std_api[] = {
    "allergy", "appointment", "dental_issue", "document", "drug", "employer",
    "encounter", "facility", "immunization", "insurance", "insurance_company",
    "insurance_type", "list", "medical_problem", "medication", "message",
    "patient", "practitioner", "prescription", "procedure", "product",
    "soap_note", "surgery", "transaction", "user", "version", "vital"};
/* Scopes without a context prefix that OpenEMR knows. */
static const char *const plain_scopes[] = {
    "openid", "fhirUser", "online_access", "offline_access", "launch",
    "launch/patient", "api:oemr", "api:fhir", "api:port", "profile", "name",
    "address", "given_name", "family_name", "nickname", "phone",
    "phone_verified", "email", "email_verified"};

/* What the guide's wildcard turns into (OPENEMR.md §4 and DESIGN.md). */
static const char *const patient_set[] = {
    "Patient", "Encounter", "DiagnosticReport", "MedicationRequest", "Medication"};
static const char *const user_set[] = {
    "Patient", "Appointment", "Encounter", "MedicationRequest", "AllergyIntolerance"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct tok {
    const char *p;
    size_t n;
};

static int in_list(const char *const *list, size_t count, const char *p, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && memcmp(list[i], p, n) == 0)
            return 1;
    return 0;
}

/* Append " word" to out (dedup), bounded; returns -1 when out is full. */
static int out_add(char *out, size_t cap, const char *p, size_t n)
{
    size_t used = strlen(out);
    /* already there? */
    const char *s = out;
    while (*s) {
        const char *e = strchr(s, ' ');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == n && memcmp(s, p, n) == 0)
            return 0;
        s = e ? e + 1 : s + l;
    }
    if (used + (used ? 1 : 0) + n + 1 > cap)
        return -1;
    if (used)
        out[used++] = ' ';
    memcpy(out + used, p, n);
    out[used + n] = '\0';
    return 0;
}

static int out_addf(char *out, size_t cap, const char *ctx, const char *res, const char *perm)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%s/%s.%s", ctx, res, perm);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    return out_add(out, cap, buf, (size_t)n);
}

static void bad_add(struct scope_report *rep, char *buf, size_t cap, const char *p, size_t n)
{
    if (rep->n_bad++ == 0)
        snprintf(rep->first_bad, sizeof rep->first_bad, "%.*s", (int)(n < 95 ? n : 95), p);
    size_t used = strlen(buf);
    snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)n, p);
}

static void note_add(char *buf, size_t cap, const char *p, size_t n)
{
    size_t used = strlen(buf);
    int w = snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)n, p);
    (void)w; /* truncation only shortens a diagnostic */
}

/* v2 permissions: a non-empty subsequence of "cruds", in that order. */
static int perm_v2_ok(const char *p, size_t n)
{
    const char *order = "cruds";
    size_t k = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        while (order[k] && order[k] != p[i])
            k++;
        if (!order[k])
            return 0;
        k++;
    }
    return 1;
}

enum kind { K_PLAIN, K_FHIR, K_STDAPI, K_UNKNOWN, K_WILDCARD, K_BARE, K_PATIENT_WRITE };

struct classified {
    enum kind kind;
    int ctx_patient; /* patient/ context */
    int ctx_system;  /* system/ context (backend services) */
    const char *res; size_t res_len;
    const char *perm; size_t perm_len;
};

static struct classified classify(const char *p, size_t n)
{
    struct classified c = {K_UNKNOWN, 0, 0, NULL, 0, NULL, 0};
    if (in_list(plain_scopes, N(plain_scopes), p, n)) {
        c.kind = K_PLAIN;
        return c;
    }
    const char *slash = memchr(p, '/', n);
    const char *dot = memchr(p, '.', n);
    if (slash == NULL) {
        /* "Patient.read": a resource scope without its context prefix. */
        if (dot != NULL && dot > p) {
            c.kind = K_BARE;
            c.res = p;
            c.res_len = (size_t)(dot - p);
            c.perm = dot + 1;
            c.perm_len = n - c.res_len - 1;
        }
        return c;
    }
    size_t ctx_len = (size_t)(slash - p);
    int ctx_patient = ctx_len == 7 && memcmp(p, "patient", 7) == 0;
    int ctx_user = ctx_len == 4 && memcmp(p, "user", 4) == 0;
    int ctx_system = ctx_len == 6 && memcmp(p, "system", 6) == 0;
    if (!ctx_patient && !ctx_user && !ctx_system)
        return c;
    c.ctx_patient = ctx_patient;
    c.ctx_system = ctx_system;
    const char *r = slash + 1;
    size_t rest = n - ctx_len - 1;
    const char *d = memchr(r, '.', rest);
    if (d == NULL)
        return c;
    c.res = r;
    c.res_len = (size_t)(d - r);
    c.perm = d + 1;
    c.perm_len = rest - c.res_len - 1;
    const char *q = memchr(c.perm, '?', c.perm_len);
    size_t perm_only = q ? (size_t)(q - c.perm) : c.perm_len;

    if (c.res_len == 1 && r[0] == '*') {
        /* A bulk-export permission ("$export") on every resource is a real
         * system scope, not a wildcard. */
        if (ctx_system && c.perm_len > 0 && c.perm[0] == '$') {
            c.kind = K_FHIR;
            return c;
        }
        int write = perm_only == 5 && memcmp(c.perm, "write", 5) == 0;
        c.kind = (write && ctx_patient) ? K_PATIENT_WRITE : K_WILDCARD;
        if (write && !ctx_patient)
            c.kind = K_PATIENT_WRITE; /* user wildcard writes: equally unsupported */
        return c;
    }
    int v1 = (perm_only == 4 && memcmp(c.perm, "read", 4) == 0) ||
             (perm_only == 5 && memcmp(c.perm, "write", 5) == 0);
    int v2 = !v1 && perm_v2_ok(c.perm, perm_only);
    if (!v1 && !v2 && !(c.perm_len > 0 && c.perm[0] == '$'))
        return c;
    if (ctx_patient && perm_only == 5 && memcmp(c.perm, "write", 5) == 0 &&
        r[0] >= 'A' && r[0] <= 'Z') {
        c.kind = K_PATIENT_WRITE;
        return c;
    }
    if (in_list(fhir_v1_read, N(fhir_v1_read), r, c.res_len) ||
        in_list(fhir_v2, N(fhir_v2), r, c.res_len))
        c.kind = K_FHIR;
    else if (in_list(std_api, N(std_api), r, c.res_len))
        c.kind = K_STDAPI;
    return c;
}

/* The next space-separated word of text[0..len) from *i: its length (0 at
 * the end); *start gets its offset and *i moves past it. */
static size_t next_word(const char *text, size_t len, size_t *i, size_t *start)
{
    while (*i < len && text[*i] == ' ')
        (*i)++;
    *start = *i;
    while (*i < len && text[*i] != ' ')
        (*i)++;
    return *i - *start;
}

int scope_has(const char *scope, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0, s, n;
    while ((n = next_word(scope, len, &i, &s)) > 0)
        if (n == nl && memcmp(scope + s, name, nl) == 0)
            return 1;
    return 0;
}

int scope_has_prefix(const char *scope, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = scope; p != NULL && *p;) {
        while (*p == ' ')
            p++;
        if (strncmp(p, prefix, pl) == 0)
            return 1;
        p += strcspn(p, " ");
    }
    return 0;
}

int scope_has_std_api(const char *scope, size_t len)
{
    size_t i = 0, s, n;
    while ((n = next_word(scope, len, &i, &s)) > 0)
        if (classify(scope + s, n).kind == K_STDAPI)
            return 1;
    return 0;
}

int scope_granted_merge(const char *returned, const char *previous, char *out, size_t cap)
{
    const char *src = returned != NULL ? returned : (previous != NULL ? previous : "");
    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass == 0 ? src : (returned != NULL && previous != NULL ? previous : "");
        size_t i = 0, s, l, n = strlen(p);
        while ((l = next_word(p, n, &i, &s)) > 0) {
            if (l == 5 && memcmp(p + s, "nonce", 5) == 0)
                continue;
            if (pass == 1 && (l < 5 || memcmp(p + s, "api:", 4) != 0))
                continue;
            if (out_add(out, cap, p + s, l) != 0)
                return -1;
        }
    }
    return 0;
}

int scope_to_context(const char *scope, const char *to, char *out, size_t cap)
{
    int to_system = strcmp(to, "system") == 0, moved = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    size_t i = 0, s, n, len = strlen(scope);
    while ((n = next_word(scope, len, &i, &s)) > 0) {
        const char *p = scope + s;
        struct classified c = classify(p, n);
        int resource = c.kind == K_FHIR || c.kind == K_STDAPI;
        if (!resource) {
            int keep = !to_system || (n > 4 && memcmp(p, "api:", 4) == 0);
            if (keep && out_add(out, cap, p, n) != 0)
                return -1;
            continue;
        }
        if (to_system && c.kind == K_STDAPI)
            continue; /* no system/ form exists */
        char moved_scope[160];
        int w = snprintf(moved_scope, sizeof moved_scope, "%s/%.*s", to,
                         (int)(n - (size_t)(c.res - p)), c.res);
        if (w < 0 || (size_t)w >= sizeof moved_scope ||
            out_add(out, cap, moved_scope, (size_t)w) != 0)
            return -1;
        moved++;
    }
    return moved;
}

void scope_without_prefix(const char *scope, const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    if (cap == 0)
        return;
    out[0] = '\0';
    for (const char *p = scope; p != NULL && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n > 0 && !(n >= pl && strncmp(p, prefix, pl) == 0) && out_add(out, cap, p, n) != 0)
            return;
        p += n;
    }
}

int scope_first_with_prefix(const char *scope, const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    for (const char *p = scope; p != NULL && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n > pl && strncmp(p, prefix, pl) == 0) {
            snprintf(out, cap, "%.*s", (int)n, p);
            return 0;
        }
        p += n;
    }
    if (cap > 0)
        out[0] = '\0';
    return -1;
}

static int scope_build(const struct tok *toks, size_t nt, int to_user, struct scope_report *rep);

int scope_check(const char *scope, size_t len, struct scope_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (scope == NULL || len == 0) {
        rep->refused = 1;
        snprintf(rep->reason, sizeof rep->reason, "the scope is empty");
        return -1;
    }
    if (len > SCOPE_MAX_LEN) {
        rep->refused = 1;
        snprintf(rep->reason, sizeof rep->reason,
                 "the scope is %zu characters long; the limit is %d", len, SCOPE_MAX_LEN);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)scope[i] < 0x20 || (unsigned char)scope[i] >= 0x7f) {
            rep->refused = 1;
            snprintf(rep->reason, sizeof rep->reason,
                     "the scope contains a control or non-ASCII character at position %zu "
                     "(scopes are separated by single spaces)", i + 1);
            return -1;
        }

    struct tok toks[SCOPE_MAX_TOKENS];
    size_t nt = 0;
    size_t i = 0, s, n;
    while ((n = next_word(scope, len, &i, &s)) > 0) {
        if (nt == SCOPE_MAX_TOKENS) {
            rep->refused = 1;
            snprintf(rep->reason, sizeof rep->reason, "more than %d scopes", SCOPE_MAX_TOKENS);
            return -1;
        }
        toks[nt].p = scope + s;
        toks[nt].n = n;
        nt++;
    }

    int rc = scope_build(toks, nt, 0, rep);
    if (rc != 0 && rep->corrected[0] && (rep->warnings & SCOPE_WARN_PATIENT_BOUND)) {
        /* A phone line serves every patient: the practice-wide line comes
         * first, the patient-bound one is the alternative. */
        struct scope_report user;
        scope_build(toks, nt, 1, &user);
        if (user.corrected[0]) {
            memcpy(rep->alternative, rep->corrected, sizeof rep->alternative);
            memcpy(rep->corrected, user.corrected, sizeof rep->corrected);
        }
    }
    return rc;
}

/* The scopes OpenEMR's note route needs (standard API, api:oemr). */
static const char *const note_scopes[] = {"api:oemr", "user/patient.read", "user/encounter.read",
                                          "user/soap_note.write"};

/* Classify every token into rep (zeroed first); to_user rewrites patient/
 * scopes into their practice-wide user/ forms. */
static int scope_build(const struct tok *toks, size_t nt, int to_user, struct scope_report *rep)
{
    memset(rep, 0, sizeof *rep);
    /* Which context do the admin's good resource scopes use?  A bare
     * "Patient.read" is given the same one (patient/ when there are none). */
    int n_patient = 0, n_user = 0;
    int has_fhir = 0, has_std = 0, has_patient_ctx = 0, has_system_ctx = 0;
    for (size_t t = 0; t < nt; t++) {
        struct classified c = classify(toks[t].p, toks[t].n);
        if (c.kind == K_FHIR || c.kind == K_STDAPI || c.kind == K_WILDCARD) {
            if (c.ctx_patient)
                n_patient++;
            else
                n_user++;
        }
    }
    const char *bare_ctx = (to_user || n_user > n_patient) ? "user" : "patient";

    char bad[256] = "";
    char *out = rep->corrected;
    size_t cap = sizeof rep->corrected;
    int refused = 0, full = 0, want_note = 0;
    for (size_t t = 0; t < nt; t++) {
        const char *p = toks[t].p;
        size_t n = toks[t].n;
        struct classified c = classify(p, n);
        char as_user[128];
        if (to_user && c.ctx_patient) {
            if (c.kind == K_FHIR || c.kind == K_STDAPI) {
                int w = snprintf(as_user, sizeof as_user, "user/%.*s", (int)(n - 8), p + 8);
                if (w > 0 && (size_t)w < sizeof as_user) {
                    p = as_user;
                    n = (size_t)w;
                }
            }
            c.ctx_patient = 0;
        }
        switch (c.kind) {
        case K_PLAIN:
            if (!(to_user && n == 14 && memcmp(p, "launch/patient", 14) == 0))
                full |= out_add(out, cap, p, n);
            break;
        case K_FHIR:
            has_fhir = 1;
            has_patient_ctx |= c.ctx_patient;
            has_system_ctx |= c.ctx_system;
            full |= out_add(out, cap, p, n);
            break;
        case K_STDAPI:
            has_std = 1;
            has_patient_ctx |= c.ctx_patient;
            has_system_ctx |= c.ctx_system;
            full |= out_add(out, cap, p, n);
            break;
        case K_UNKNOWN:
            rep->warnings |= SCOPE_WARN_UNKNOWN;
            note_add(rep->unknown, sizeof rep->unknown, p, n);
            full |= out_add(out, cap, p, n);
            break;
        case K_WILDCARD: {
            refused = 1;
            bad_add(rep, bad, sizeof bad, p, n);
            const char *ctx = c.ctx_patient ? "patient" : c.ctx_system ? "system" : "user";
            const char *const *set = c.ctx_patient ? patient_set : user_set;
            size_t count = c.ctx_patient ? N(patient_set) : N(user_set);
            for (size_t k = 0; k < count; k++)
                full |= out_addf(out, cap, ctx, set[k], "read");
            has_fhir = 1;
            has_patient_ctx |= c.ctx_patient;
            has_system_ctx |= c.ctx_system;
            break;
        }
        case K_PATIENT_WRITE:
            refused = 1;
            bad_add(rep, bad, sizeof bad, p, n);
            /* No patient-context FHIR writes exist; a practice-wide line
             * writes through the note route instead. */
            want_note |= !c.ctx_patient;
            break;
        case K_BARE: {
            refused = 1;
            bad_add(rep, bad, sizeof bad, p, n);
            char res[64];
            snprintf(res, sizeof res, "%.*s", (int)(c.res_len < 63 ? c.res_len : 63), c.res);
            if (strcmp(res, "*") == 0) {
                /* "*.read": the guide's wildcard without its prefix. */
                int patient = strcmp(bare_ctx, "patient") == 0;
                if (c.perm_len == 4 && memcmp(c.perm, "read", 4) == 0)
                    for (size_t k = 0; k < (patient ? N(patient_set) : N(user_set)); k++)
                        full |= out_addf(out, cap, bare_ctx,
                                         patient ? patient_set[k] : user_set[k], "read");
                else if (!patient && c.perm_len == 5 && memcmp(c.perm, "write", 5) == 0)
                    want_note = 1;
                else
                    break; /* no wildcard of another permission exists */
            } else if (strcmp(res, "Medication") == 0) {
                /* A patient's medications are MedicationRequest resources. */
                full |= out_addf(out, cap, bare_ctx, "MedicationRequest", "read");
                full |= out_addf(out, cap, bare_ctx, "Medication", "read");
            } else {
                char perm[128];
                snprintf(perm, sizeof perm, "%.*s", (int)(c.perm_len < 127 ? c.perm_len : 127), c.perm);
                /* "X.write" (with or without a "?query") in a patient/ line
                 * would be a patient/ FHIR write, which OpenEMR refuses:
                 * dropped, like patient/X.write. */
                if (strcmp(bare_ctx, "patient") == 0 && strncmp(perm, "write", 5) == 0 &&
                    (perm[5] == '\0' || perm[5] == '?'))
                    break;
                full |= out_addf(out, cap, bare_ctx, res, perm);
            }
            has_fhir = 1;
            has_patient_ctx |= strcmp(bare_ctx, "patient") == 0;
            break;
        }
        }
    }

    for (size_t k = 0; want_note && k < N(note_scopes); k++)
        full |= out_add(out, cap, note_scopes[k], strlen(note_scopes[k]));
    int has_api_fhir = scope_has(out, strlen(out), "api:fhir");
    if (has_fhir && !has_api_fhir) {
        /* OpenEMR ≤7.0.3 validates FHIR scopes only next to api:fhir, and
         * FHIR routes need it: always include it. */
        if (!refused) {
            snprintf(bad, sizeof bad, "FHIR scopes without api:fhir");
            snprintf(rep->first_bad, sizeof rep->first_bad, "FHIR scopes without api:fhir");
        }
        refused = 1;
        full |= out_add(out, cap, "api:fhir", 8);
    }
    /* A backend service (system/) has no user and no refresh token: it asks
     * for neither offline_access nor openid. */
    if (refused) {
        if (!has_system_ctx && !scope_has(out, strlen(out), "offline_access"))
            full |= out_add(out, cap, "offline_access", 14);
        if (has_patient_ctx && !scope_has(out, strlen(out), "launch/patient"))
            full |= out_add(out, cap, "launch/patient", 14);
    }

    size_t olen = strlen(out);
    if (!has_system_ctx && !scope_has(out, olen, "offline_access"))
        rep->warnings |= SCOPE_WARN_NO_OFFLINE;
    if (!has_system_ctx && !scope_has(out, olen, "openid"))
        rep->warnings |= SCOPE_WARN_NO_OPENID;
    if (has_patient_ctx)
        rep->warnings |= SCOPE_WARN_PATIENT_BOUND;
    if (has_system_ctx)
        rep->warnings |= SCOPE_WARN_SYSTEM;
    if (has_patient_ctx && !scope_has(out, olen, "launch/patient"))
        rep->warnings |= SCOPE_WARN_PATIENT_NO_LAUNCH;
    if (has_std && !scope_has(out, olen, "api:oemr"))
        rep->warnings |= SCOPE_WARN_API_NEEDS_OEMR;

    if (!refused) {
        rep->corrected[0] = '\0';
        return 0;
    }
    rep->refused = 1;
    if (full)
        rep->corrected[0] = '\0';
    if (strncmp(bad, "FHIR scopes", 11) == 0)
        snprintf(rep->reason, sizeof rep->reason,
                 "FHIR scopes need api:fhir next to them (OpenEMR refuses FHIR requests without it)");
    else
        snprintf(rep->reason, sizeof rep->reason,
                 "OpenEMR rejects %s: it has no wildcard scopes, every resource scope needs a "
                 "patient/ or user/ prefix, and patient/ FHIR writes do not exist", bad);
    return -1;
}
