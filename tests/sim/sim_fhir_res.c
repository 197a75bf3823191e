/* sim_fhir_res.c: builds the synthetic practice's FHIR R4 resources in
 * US Core shape (OpenEMR serves US Core 3.1.0), deterministically from the
 * seed.  Appointments are dated relative to today so they stay upcoming. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_internal.h"

typedef struct code3 { const char *system, *code, *display; } code3;

#define LOINC "http://loinc.org"
#define SNOMED "http://snomed.info/sct"
#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"

static const code3 conditions[] = {
    {SNOMED, "44054006", "Diabetes mellitus type 2"}, {SNOMED, "38341003", "Hypertensive disorder"},
    {SNOMED, "195967001", "Asthma"}, {SNOMED, "55822004", "Hyperlipidemia"},
    {SNOMED, "35489007", "Depressive disorder"}, {SNOMED, "69896004", "Rheumatoid arthritis"},
    {SNOMED, "13645005", "Chronic obstructive lung disease"}, {SNOMED, "40930008", "Hypothyroidism"}};
static const struct { const char *code, *display, *unit; int lo, hi; } lab_tests[] = {
    {"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 180},
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 10},
    {"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140, 280},
    {"18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", 60, 190},
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11, 17},
    {"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 1, 2},
    {"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3, 5},
    {"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 134, 146}};
static const code3 panels[] = {
    {LOINC, "58410-2", "CBC panel - Blood by Automated count"},
    {LOINC, "51990-0", "Basic metabolic panel - Blood"},
    {LOINC, "57698-3", "Lipid panel with direct LDL - Serum or Plasma"}};
static const struct { const char *code, *display, *dose; } meds[] = {
    {"860975", "metformin hydrochloride 500 MG Extended Release Oral Tablet", "1 tablet by mouth twice daily"},
    {"314076", "lisinopril 10 MG Oral Tablet", "1 tablet by mouth daily"},
    {"617312", "atorvastatin 40 MG Oral Tablet", "1 tablet by mouth at bedtime"},
    {"745679", "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "2 puffs every 4 hours as needed"},
    {"966222", "levothyroxine sodium 0.05 MG Oral Tablet", "1 tablet by mouth every morning"},
    {"197361", "amlodipine 5 MG Oral Tablet", "1 tablet by mouth daily"},
    {"310798", "hydrochlorothiazide 25 MG Oral Tablet", "1 tablet by mouth daily"},
    {"312961", "simvastatin 20 MG Oral Tablet", "1 tablet by mouth at bedtime"}};
static const code3 allergies[] = {
    {RXNORM, "7980", "Penicillin G"}, {SNOMED, "256349002", "Peanut"},
    {SNOMED, "111088007", "Latex"}, {RXNORM, "10831", "Sulfamethoxazole / Trimethoprim"},
    {SNOMED, "227493005", "Cashew nut"}};
static const char *const visit_reasons[] = {
    "Annual physical", "Follow-up visit", "Medication review", "Blood pressure check",
    "Sick visit: cough", "Diabetes follow-up", "Lab results review"};

#define N(a) (sizeof(a) / sizeof(a[0]))

static json_t *ref(const sim_data *d, int t, unsigned long idx, unsigned k);
static json_t *codeable(const char *system, const char *code, const char *display);
static void date_of(uint64_t h, char *out, size_t n, int with_time);
static json_t *patient_json(const sim_data *d, const char *fhir_base, unsigned long i);

static const char *const type_names[SIM_R_COUNT] = {
    NULL, "Patient", "Encounter", "DiagnosticReport", "MedicationRequest", "Medication",
    "Observation", "Condition", "AllergyIntolerance", "Appointment", "Practitioner"};

const char *sim_res_name(int t)
{
    return t > 0 && t < SIM_R_COUNT ? type_names[t] : NULL;
}

int sim_res_type(const char *name, size_t len)
{
    for (int t = 1; t < SIM_R_COUNT; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
            return t;
    return 0;
}

json_t *sim_res_build(const sim_data *d, const char *fhir_base, int t, unsigned long idx, unsigned k)
{
    char id[40], date[40];
    uint64_t h = sim_hash(d->seed, (uint64_t)t, idx, k);
    json_t *o;
    if (t == SIM_R_PATIENT)
        return patient_json(d, fhir_base, idx);
    sim_uuid(d, t, idx, k, id);
    o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "resourceType", json_string(sim_res_name(t)));
    json_object_set_new(o, "meta", json_pack("{s:s,s:s}", "versionId", "1", "lastUpdated",
                                             "2026-01-05T09:30:00+00:00"));
    date_of(h, date, sizeof(date), 1);
    switch (t) {
    case SIM_R_ENCOUNTER:
        json_object_set_new(o, "status", json_string("finished"));
        json_object_set_new(o, "class", json_pack("{s:s,s:s}", "system",
            "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code", "AMB"));
        json_object_set_new(o, "type", json_pack("[o]", codeable(SNOMED, "185349003",
                                                 "Encounter for check up")));
        json_object_set_new(o, "subject", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "period", json_pack("{s:s}", "start", date));
        json_object_set_new(o, "reasonCode", json_pack("[{s:s}]", "text",
                                                       visit_reasons[h % N(visit_reasons)]));
        json_object_set_new(o, "participant", json_pack("[{s:o}]", "individual",
                                                        ref(d, SIM_R_PRACTITIONER, h % 7, 0)));
        break;
    case SIM_R_CONDITION: {
        const code3 *c = &conditions[h % N(conditions)];
        json_object_set_new(o, "clinicalStatus", codeable(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"));
        json_object_set_new(o, "verificationStatus", codeable(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"));
        json_object_set_new(o, "category", json_pack("[o]", codeable(
            "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
            "Problem List Item")));
        json_object_set_new(o, "code", codeable(c->system, c->code, c->display));
        json_object_set_new(o, "subject", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "onsetDateTime", json_string(date));
        break;
    }
    case SIM_R_OBSERVATION: {
        unsigned li = (unsigned)(h % N(lab_tests));
        int span = lab_tests[li].hi - lab_tests[li].lo;
        double v = lab_tests[li].lo + (double)((h >> 16) % (unsigned)(span * 10 + 1)) / 10.0;
        json_object_set_new(o, "status", json_string("final"));
        json_object_set_new(o, "category", json_pack("[o]", codeable(
            "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
            "Laboratory")));
        json_object_set_new(o, "code", codeable(LOINC, lab_tests[li].code, lab_tests[li].display));
        json_object_set_new(o, "subject", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "effectiveDateTime", json_string(date));
        json_object_set_new(o, "valueQuantity", json_pack("{s:f,s:s,s:s,s:s}", "value", v,
            "unit", lab_tests[li].unit, "system", "http://unitsofmeasure.org", "code", lab_tests[li].unit));
        break;
    }
    case SIM_R_DIAGREPORT: {
        const code3 *c = &panels[h % N(panels)];
        json_t *res = json_array();
        unsigned nobs = sim_data_count(d, SIM_R_OBSERVATION, idx);
        for (unsigned j = k; j < nobs; j += 2)
            json_array_append_new(res, ref(d, SIM_R_OBSERVATION, idx, j));
        json_object_set_new(o, "status", json_string("final"));
        json_object_set_new(o, "category", json_pack("[o]", codeable(
            "http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")));
        json_object_set_new(o, "code", codeable(c->system, c->code, c->display));
        json_object_set_new(o, "subject", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "effectiveDateTime", json_string(date));
        json_object_set_new(o, "issued", json_string(date));
        json_object_set_new(o, "result", res);
        break;
    }
    case SIM_R_MEDREQUEST: {
        unsigned mi = (unsigned)(h % N(meds));
        json_object_set_new(o, "status", json_string("active"));
        json_object_set_new(o, "intent", json_string("order"));
        json_object_set_new(o, "medicationCodeableConcept", codeable(RXNORM, meds[mi].code,
                                                                     meds[mi].display));
        json_object_set_new(o, "medicationReference", ref(d, SIM_R_MEDICATION, mi, 0));
        json_object_set_new(o, "subject", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "authoredOn", json_string(date));
        json_object_set_new(o, "requester", ref(d, SIM_R_PRACTITIONER, h % 7, 0));
        json_object_set_new(o, "dosageInstruction", json_pack("[{s:s}]", "text", meds[mi].dose));
        break;
    }
    case SIM_R_MEDICATION: {
        unsigned mi = (unsigned)(idx % N(meds));
        json_object_set_new(o, "status", json_string("active"));
        json_object_set_new(o, "code", codeable(RXNORM, meds[mi].code, meds[mi].display));
        break;
    }
    case SIM_R_ALLERGY: {
        const code3 *c = &allergies[(h + k) % N(allergies)];
        json_object_set_new(o, "clinicalStatus", codeable(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"));
        json_object_set_new(o, "verificationStatus", codeable(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed",
            "Confirmed"));
        json_object_set_new(o, "code", codeable(c->system, c->code, c->display));
        json_object_set_new(o, "patient", ref(d, SIM_R_PATIENT, idx, 0));
        json_object_set_new(o, "reaction", json_pack("[{s:[o]}]", "manifestation",
            codeable(SNOMED, "247472004", "Hives")));
        break;
    }
    case SIM_R_APPOINTMENT: {
        time_t day = time(NULL) / 86400 * 86400 + (time_t)(1 + (h % 60)) * 86400 +
                     (time_t)(9 * 3600 + (h >> 8) % 16 * 1800);
        struct tm tm;
        char start[40], end[40];
        gmtime_r(&day, &tm);
        strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
        day += 1800;
        gmtime_r(&day, &tm);
        strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
        json_object_set_new(o, "status", json_string("booked"));
        json_object_set_new(o, "description", json_string(visit_reasons[h % N(visit_reasons)]));
        json_object_set_new(o, "start", json_string(start));
        json_object_set_new(o, "end", json_string(end));
        json_object_set_new(o, "participant", json_pack("[{s:o,s:s},{s:o,s:s}]",
            "actor", ref(d, SIM_R_PATIENT, idx, 0), "status", "accepted",
            "actor", ref(d, SIM_R_PRACTITIONER, h % 7, 0), "status", "accepted"));
        break;
    }
    case SIM_R_PRACTITIONER: {
        static const char *const fam[] = {"Osler", "Apgar", "Blackwell", "Drew", "Jenner",
                                          "Lister", "Nightingale"};
        json_object_set_new(o, "active", json_true());
        json_object_set_new(o, "name", json_pack("[{s:s,s:s,s:[s],s:[s]}]", "use", "official",
            "family", fam[idx % N(fam)], "given", "Alex", "prefix", "Dr."));
        break;
    }
    default:
        json_decref(o);
        return NULL;
    }
    (void)fhir_base;
    return o;
}

/* A US Core Patient of about 4 KB, as OpenEMR returns (extensions, several
 * identifiers and telecoms, narrative). */
static json_t *patient_json(const sim_data *d, const char *fhir_base, unsigned long i)
{
    const sim_patient *p = &d->p[i];
    char id[40], dob[16], pubpid[24], email[96], div[2048];
    uint64_t h = sim_hash(d->seed, 3, i, 0);
    sim_uuid(d, SIM_R_PATIENT, i, 0, id);
    snprintf(dob, sizeof(dob), "%04u-%02u-%02u", p->year, p->month, p->day);
    snprintf(pubpid, sizeof(pubpid), "PT%06lu", i + 1);
    snprintf(email, sizeof(email), "%s.%s%lu@example.org", sim_given_name(p),
             sim_family_name(p), i + 1);
    snprintf(div, sizeof(div),
             "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>%s %s %s</p><p>Born %s, %s.</p>"
             "<p>Record %s. Phone %s. Preferred language English. Primary care at the "
             "simulated practice; contact by phone before 6 pm. Emergency contact on file.</p>"
             "<p>Care summary: seen at the simulated practice for routine primary care. "
             "Allergies, active medications, problems and recent laboratory results are in "
             "the chart and reachable through the FHIR API. Preferred pharmacy on file; "
             "portal access enabled; reminders by text message.</p>"
             "<p>Advance directive: none on file. Interpreter needed: no. Preferred contact "
             "window: weekdays 9 am to 5 pm. Insurance: commercial plan, verified at last "
             "visit. Immunizations reconciled with the state registry. Next annual physical "
             "due in the spring; labs ordered before the visit.</p>"
             "<p>This patient is synthetic: generated by openemr-sim from seed %llu. Any "
             "resemblance to a real person is coincidental; the phone numbers are in the "
             "555-01xx range that is reserved for fiction.</p></div>",
             sim_given_name(p), sim_middle_name(p), sim_family_name(p), dob,
             p->sex ? "male" : "female", pubpid, p->phone, d->seed);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "meta", json_pack("{s:s,s:s,s:[s]}", "versionId", "1",
        "lastUpdated", "2026-01-05T09:30:00+00:00", "profile",
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"));
    json_object_set_new(o, "resourceType", json_string("Patient"));
    json_object_set_new(o, "text", json_pack("{s:s,s:s}", "status", "generated", "div", div));
    json_object_set_new(o, "extension", json_pack(
        "[{s:s,s:[{s:s,s:o},{s:s,s:s}]},{s:s,s:[{s:s,s:o},{s:s,s:s}]},{s:s,s:s}]",
        "url", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
        "extension", "url", "ombCategory", "valueCoding",
        json_pack("{s:s,s:s,s:s}", "system", "urn:oid:2.16.840.1.113883.6.238", "code",
                  "2106-3", "display", "White"),
        "url", "text", "valueString", "White",
        "url", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
        "extension", "url", "ombCategory", "valueCoding",
        json_pack("{s:s,s:s,s:s}", "system", "urn:oid:2.16.840.1.113883.6.238", "code",
                  "2186-5", "display", "Not Hispanic or Latino"),
        "url", "text", "valueString", "Not Hispanic or Latino",
        "url", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
        "valueCode", p->sex ? "M" : "F"));
    json_object_set_new(o, "identifier", json_pack(
        "[{s:{s:[{s:s,s:s}]},s:s,s:s},{s:{s:[{s:s,s:s}]},s:s,s:s}]",
        "type", "coding", "system", "http://terminology.hl7.org/CodeSystem/v2-0203", "code", "PT",
        "system", "http://terminology.hl7.org/CodeSystem/v2-0203", "value", pubpid,
        "type", "coding", "system", "http://terminology.hl7.org/CodeSystem/v2-0203", "code", "SS",
        "system", "http://hl7.org/fhir/sid/us-ssn", "value", "999-00-0000"));
    json_object_set_new(o, "active", json_true());
    json_object_set_new(o, "name", json_pack("[{s:s,s:s,s:[s,s],s:[s]}]", "use", "official",
        "family", sim_family_name(p), "given", sim_given_name(p), sim_middle_name(p),
        "prefix", p->sex ? "Mr." : "Ms."));
    json_object_set_new(o, "telecom", json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]",
        "system", "phone", "value", p->phone, "use", "home",
        "system", "phone", "value", p->phone, "use", "mobile",
        "system", "email", "value", email, "use", "home"));
    json_object_set_new(o, "gender", json_string(p->sex ? "male" : "female"));
    json_object_set_new(o, "deceasedBoolean", json_false());
    json_object_set_new(o, "multipleBirthBoolean", json_false());
    json_object_set_new(o, "birthDate", json_string(dob));
    char line[64];
    snprintf(line, sizeof(line), "%u %s Street", (unsigned)(1 + h % 900),
             sim_family_name(&d->p[(h >> 10) % d->n]));
    json_object_set_new(o, "address", json_pack("[{s:[s],s:s,s:s,s:s,s:s,s:{s:s}}]",
        "line", line, "city", "Springfield", "state", "MA", "postalCode", "01101",
        "country", "US", "period", "start", "2015-03-01"));
    json_object_set_new(o, "communication", json_pack("[{s:{s:[{s:s,s:s,s:s}]}}]",
        "language", "coding", "system", "urn:ietf:bcp:47", "code", "en", "display", "English"));
    json_object_set_new(o, "generalPractitioner", json_pack("[o]",
        ref(d, SIM_R_PRACTITIONER, h % 7, 0)));
    char kin_phone[16];
    snprintf(kin_phone, sizeof(kin_phone), "%s", p->phone);
    kin_phone[11] = (char)('0' + (h >> 28) % 10);
    json_object_set_new(o, "contact", json_pack(
        "[{s:[{s:[{s:s,s:s,s:s}],s:s}],s:{s:s,s:s,s:[s]},s:[{s:s,s:s,s:s}],s:{s:s,s:[s],s:s,s:s,s:s}}]",
        "relationship", "coding", "system", "http://terminology.hl7.org/CodeSystem/v2-0131",
        "code", "C", "display", "Emergency Contact", "text", "Emergency Contact",
        "name", "use", "official", "family", sim_family_name(p), "given",
        sim_given_name(&d->p[(h >> 12) % d->n]),
        "telecom", "system", "phone", "value", kin_phone, "use", "mobile",
        "address", "use", "home", "line", line, "city", "Springfield", "state", "MA",
        "postalCode", "01101"));
    json_array_append_new(json_object_get(o, "address"), json_pack(
        "{s:s,s:[s],s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "use", "old", "line", "12 Elm Court Apt 3",
        "city", "Worcester", "state", "MA", "postalCode", "01608", "country", "US",
        "period", "start", "2009-06-01", "end", "2015-02-28"));
    json_array_append_new(json_object_get(o, "identifier"), json_pack(
        "{s:{s:[{s:s,s:s,s:s}]},s:s,s:s}", "type", "coding", "system",
        "http://terminology.hl7.org/CodeSystem/v2-0203", "code", "MR", "display",
        "Medical record number", "system", "urn:oid:2.16.840.1.113883.3.7890.1", "value", pubpid));
    json_object_set_new(o, "maritalStatus", codeable(
        "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", (h >> 20) & 1 ? "M" : "S",
        (h >> 20) & 1 ? "Married" : "Never Married"));
    (void)fhir_base;
    return o;
}

static json_t *ref(const sim_data *d, int t, unsigned long idx, unsigned k)
{
    char id[40], r[80];
    sim_uuid(d, t, idx, k, id);
    snprintf(r, sizeof(r), "%s/%s", sim_res_name(t), id);
    return json_pack("{s:s,s:s,s:s}", "reference", r, "type", sim_res_name(t), "id", id);
}

static json_t *codeable(const char *system, const char *code, const char *display)
{
    return json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system", system, "code", code,
                     "display", display, "text", display);
}

static void date_of(uint64_t h, char *out, size_t n, int with_time)
{
    unsigned y = 2019 + (unsigned)(h % 7), m = 1 + (unsigned)((h >> 8) % 12),
             dd = 1 + (unsigned)((h >> 16) % 28), hh = 8 + (unsigned)((h >> 24) % 9);
    if (with_time)
        snprintf(out, n, "%04u-%02u-%02uT%02u:00:00+00:00", y, m, dd, hh);
    else
        snprintf(out, n, "%04u-%02u-%02u", y, m, dd);
}
