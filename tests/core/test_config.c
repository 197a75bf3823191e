/* test_config.c - option validation and OpenEMR's scope rules, table-driven.
 * Each row is one behaviour: the options, the expected result, and text the
 * message must contain (for recognised mistakes: the corrected option). */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/scope.h"

static int failures, passes;

#define BASE_OPTS                                                                          \
    {"issuer", "https://emr.example.org/oauth2/default"},                                  \
        {"fhir_base", "https://emr.example.org/apis/default/fhir"},                        \
        {"store", "/var/lib/vap/openemr"}, {"keyring", "/var/lib/vap/keyring"}

struct opt_case {
    const char *name;
    vap_option extra[3]; /* replaces a base option with the same key, or adds */
    int want_rc;
    const char *want_msg; /* substring of the message; NULL: none checked */
};

static const struct opt_case opt_cases[] = {
    {"good_minimal_config_is_accepted", {{0}}, VAP_OK, NULL},
    {"issuer_without_site_segment_gives_corrected_line",
     {{"issuer", "https://emr.example.org/oauth2"}}, VAP_E_CONFIG,
     "use: issuer=https://emr.example.org/oauth2/default"},
    {"issuer_with_authorize_endpoint_gives_corrected_line",
     {{"issuer", "https://emr.example.org/oauth2/authorize"}}, VAP_E_CONFIG,
     "use: issuer=https://emr.example.org/oauth2/default"},
    {"issuer_with_token_endpoint_gives_corrected_line",
     {{"issuer", "https://emr.example.org/oauth2/token"}}, VAP_E_CONFIG,
     "use: issuer=https://emr.example.org/oauth2/default"},
    {"issuer_with_trailing_slash_gives_corrected_line",
     {{"issuer", "https://emr.example.org/oauth2/default/"}}, VAP_E_CONFIG,
     "use: issuer=https://emr.example.org/oauth2/default"},
    {"issuer_with_discovery_suffix_gives_corrected_line",
     {{"issuer", "https://emr.example.org/openemr/oauth2/default/.well-known/openid-configuration"}},
     VAP_E_CONFIG, "use: issuer=https://emr.example.org/openemr/oauth2/default"},
    {"issuer_http_gives_https_line",
     {{"issuer", "http://emr.example.org:8443/oauth2/default"}}, VAP_E_CONFIG,
     "use: issuer=https://emr.example.org:8443/oauth2/default"},
    {"issuer_generic_provider_with_trailing_slash_is_accepted",
     {{"issuer", "https://tenant.example.com/"}}, VAP_OK, NULL},
    {"issuer_with_userinfo_is_refused", {{"issuer", "https://u:p@emr.example.org/oauth2/default"}},
     VAP_E_CONFIG, "absolute https URL"},
    {"issuer_not_a_url_is_refused", {{"issuer", "emr.example.org"}}, VAP_E_CONFIG,
     "absolute https URL"},
    {"fhir_base_without_site_gives_corrected_line",
     {{"fhir_base", "https://emr.example.org/apis/fhir"}}, VAP_E_CONFIG,
     "use: fhir_base=https://emr.example.org/apis/default/fhir"},
    {"fhir_base_trailing_slash_gives_corrected_line",
     {{"fhir_base", "https://emr.example.org/apis/default/fhir/"}}, VAP_E_CONFIG,
     "use: fhir_base=https://emr.example.org/apis/default/fhir"},
    {"fhir_base_standard_api_gives_fhir_line",
     {{"fhir_base", "https://emr.example.org/apis/default/api"}}, VAP_E_CONFIG,
     "use: fhir_base=https://emr.example.org/apis/default/fhir"},
    {"fhir_base_http_gives_https_line",
     {{"fhir_base", "http://emr.example.org/apis/default/fhir"}}, VAP_E_CONFIG,
     "use: fhir_base=https://emr.example.org/apis/default/fhir"},
    {"redirect_uri_http_loopback_is_accepted",
     {{"redirect_uri", "http://127.0.0.1:8000/oauth/callback"}}, VAP_OK, NULL},
    {"redirect_uri_http_ipv6_loopback_is_accepted",
     {{"redirect_uri", "http://[::1]:8000/oauth/callback"}}, VAP_OK, NULL},
    {"redirect_uri_http_remote_is_refused", {{"redirect_uri", "http://10.1.2.3/cb"}},
     VAP_E_CONFIG, "loopback"},
    {"redirect_uri_with_fragment_is_refused",
     {{"redirect_uri", "https://app.example.org/cb#x"}}, VAP_E_CONFIG, "without fragment"},
    {"unknown_key_is_named", {{"isuer", "https://x"}}, VAP_E_CONFIG, "unknown option 'isuer'"},
    {"duplicate_key_is_named", {{"store", "/a"}, {"store", "/b"}}, VAP_E_CONFIG,
     "option 'store' is given twice"},
    {"relative_store_is_refused", {{"store", "var/lib/vap"}}, VAP_E_CONFIG,
     "store must be an absolute path"},
    {"client_auth_unknown_is_refused", {{"client_auth", "jwt"}}, VAP_E_CONFIG,
     "client_auth=auto, basic or post"},
    {"client_auth_basic_is_accepted", {{"client_auth", "basic"}}, VAP_OK, NULL},
    {"timeout_not_a_number_is_refused", {{"timeout_ms", "10s"}}, VAP_E_CONFIG,
     "timeout_ms must be a whole number"},
    {"timeout_too_small_is_refused", {{"timeout_ms", "5"}}, VAP_E_CONFIG, "from 100 to"},
    {"renew_timeout_below_5000_is_refused", {{"renew_timeout_ms", "300"}}, VAP_E_CONFIG,
     "renew_timeout_ms must be a whole number from 5000 to 600000, not '300'"},
    {"renew_timeout_above_600000_is_refused", {{"renew_timeout_ms", "600001"}}, VAP_E_CONFIG,
     "from 5000 to 600000"},
    {"renew_timeout_in_range_is_accepted", {{"renew_timeout_ms", "5000"}}, VAP_OK, NULL},
    {"client_id_with_space_is_refused", {{"client_id", "abc def"}}, VAP_E_CONFIG,
     "client_id contains a space"},
    {"pin_bad_format_is_refused", {{"pin_sha256", "abcd"}}, VAP_E_CONFIG, "sha256//BASE64"},
    {"pin_two_hashes_accepted",
     {{"pin_sha256", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;"
                     "sha256//BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="}},
     VAP_OK, NULL},
    {"guide_scope_list_gives_corrected_scope_line",
     {{"scope", "openid fhirUser patient/*.read patient/*.write Patient.read Encounter.read "
                "DiagnosticReport.read Medication.read"}},
     VAP_E_CONFIG,
     "use: scope=\"openid fhirUser patient/Patient.read patient/Encounter.read "
     "patient/DiagnosticReport.read patient/MedicationRequest.read patient/Medication.read "
     "api:fhir offline_access launch/patient\""},
    {"user_wildcard_gives_practice_wide_scopes",
     {{"scope", "openid offline_access api:fhir user/*.read"}}, VAP_E_CONFIG,
     "user/Patient.read user/Appointment.read"},
    {"fhir_scope_without_api_fhir_gives_corrected_line",
     {{"scope", "openid offline_access user/Patient.read"}}, VAP_E_CONFIG,
     "use: scope=\"openid offline_access user/Patient.read api:fhir\""},
    {"missing_issuer_is_named", {{"issuer", ""}}, VAP_E_CONFIG, "option 'issuer' is missing"},
};

#define check(ok, name, ...)                                                               \
    do {                                                                                   \
        if (ok) {                                                                          \
            passes++;                                                                      \
        } else {                                                                           \
            failures++;                                                                    \
            printf("FAIL %s: ", name);                                                     \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
        }                                                                                  \
    } while (0)

static void run_opt_case(const struct opt_case *c)
{
    vap_option base[] = {BASE_OPTS};
    vap_option opts[8];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        int replaced = 0;
        for (size_t k = 0; k < 3 && c->extra[k].key; k++)
            if (strcmp(c->extra[k].key, base[i].key) == 0 && !replaced) {
                replaced = 1;
            }
        if (!replaced)
            opts[n++] = base[i];
    }
    for (size_t k = 0; k < 3 && c->extra[k].key; k++)
        opts[n++] = c->extra[k];

    struct config cfg;
    vap_error err;
    memset(&err, 0, sizeof err);
    err.struct_size = sizeof err;
    int rc = config_from_options(opts, n, &cfg, &err);
    check(rc == c->want_rc, c->name, "rc %d, message: %s", rc, err.message);
    if (c->want_msg)
        check(strstr(err.message, c->want_msg) != NULL, c->name, "message '%s' lacks '%s'",
              err.message, c->want_msg);
    if (rc == VAP_OK) {
        check(cfg.issuer != NULL && cfg.api_base != NULL, c->name, "fields not set");
        config_free(&cfg);
    }
}

struct scope_case {
    const char *name;
    const char *scope;
    int want_rc;
    unsigned want_warnings; /* exact set */
};

static const struct scope_case scope_cases[] = {
    {"practice_wide_default_has_no_warnings", CONFIG_DEFAULT_SCOPE, 0, 0},
    {"no_offline_access_warns_refresh_impossible", "openid api:fhir user/Patient.read", 0,
     SCOPE_WARN_NO_OFFLINE},
    {"patient_scopes_warn_bound_to_one_patient",
     "openid offline_access api:fhir launch/patient patient/Patient.read", 0,
     SCOPE_WARN_PATIENT_BOUND},
    {"patient_scopes_without_launch_patient_warn",
     "openid offline_access api:fhir patient/Patient.read", 0,
     SCOPE_WARN_PATIENT_BOUND | SCOPE_WARN_PATIENT_NO_LAUNCH},
    {"no_openid_warns", "offline_access api:fhir user/Patient.read", 0, SCOPE_WARN_NO_OPENID},
    {"standard_api_scope_without_api_oemr_warns",
     "openid offline_access api:fhir user/Patient.read user/soap_note.write", 0,
     SCOPE_WARN_API_NEEDS_OEMR},
    {"unknown_scope_warns", "openid offline_access api:fhir user/Patient.read user/Spaceship.read",
     0, SCOPE_WARN_UNKNOWN},
    {"v2_scopes_in_cruds_order_accepted",
     "openid offline_access api:fhir user/Patient.rs user/Condition.rs?category=x|y", 0, 0},
    {"v2_scopes_out_of_order_are_unknown", "openid offline_access api:fhir user/Patient.sr", 0,
     SCOPE_WARN_UNKNOWN},
    {"empty_scope_refused", "", -1, 0},
    {"control_character_refused", "openid\tapi:fhir", -1, 0},
    {"bare_resource_refused", "openid offline_access api:fhir Patient.read", -1, 0},
};

static void run_scope_case(const struct scope_case *c)
{
    struct scope_report rep;
    int rc = scope_check(c->scope, strlen(c->scope), &rep);
    char got[64];
    snprintf(got, sizeof got, "rc=%d warnings=%#x", rc, rep.warnings);
    if (c->want_rc == 0)
        check(rc == 0 && rep.warnings == c->want_warnings, c->name, "%s (%s)", got, rep.reason);
    else
        check(rc == -1 && rep.refused && rep.reason[0], c->name, "%s (%s)", got, rep.reason);
}

int main(void)
{
    for (size_t i = 0; i < sizeof opt_cases / sizeof opt_cases[0]; i++)
        run_opt_case(&opt_cases[i]);
    for (size_t i = 0; i < sizeof scope_cases / sizeof scope_cases[0]; i++)
        run_scope_case(&scope_cases[i]);

    /* scope_has matches whole words only. */
    check(scope_has("openid offline_access", 21, "offline_access") &&
              !scope_has("openid offline_accessX", 22, "offline_access"),
          "scope_has_matches_whole_words", "whole-word match failed");
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
