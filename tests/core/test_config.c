/* test_config.c - option validation and OpenEMR's scope rules, table-driven.
 * Each row is one behaviour: the options, the expected result, and text the
 * message must contain (for recognised mistakes: the corrected option). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
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
    {"fhir_scope_without_api_fhir_in_patient_context_suggests_user_line",
     {{"scope", "openid offline_access patient/Patient.read"}}, VAP_E_CONFIG,
     "use, practice-wide (all patients): scope=\"openid offline_access user/Patient.read api:fhir\""},
    {"duplicate_key_is_named", {{"store", "/a"}, {"store", "/b"}}, VAP_E_CONFIG,
     "option 'store' is given twice"},
    {"relative_store_is_refused", {{"store", "var/lib/vap"}}, VAP_E_CONFIG,
     "store must be an absolute path"},
    {"client_auth_unknown_is_refused", {{"client_auth", "jwt"}}, VAP_E_CONFIG,
     "client_auth=auto, basic, post or private_key_jwt"},
    {"client_auth_basic_is_accepted", {{"client_auth", "basic"}}, VAP_OK, NULL},
    {"grant_unknown_is_refused", {{"grant", "password"}}, VAP_E_CONFIG,
     "use grant=authorization_code (a staff member authorizes) or grant=client_credentials"},
    {"grant_authorization_code_is_accepted", {{"grant", "authorization_code"}}, VAP_OK, NULL},
    {"client_credentials_without_private_key_jwt_is_refused",
     {{"grant", "client_credentials"}}, VAP_E_CONFIG,
     "client_credentials needs client_auth=private_key_jwt and a key sealed with vap-seal keygen"},
    {"client_credentials_with_basic_is_refused",
     {{"grant", "client_credentials"}, {"client_auth", "basic"}}, VAP_E_CONFIG,
     "client_credentials needs client_auth=private_key_jwt"},
    {"client_credentials_with_private_key_jwt_is_accepted",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"}}, VAP_OK, NULL},
    {"client_credentials_with_user_scopes_is_refused",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "api:fhir system/Patient.read user/Patient.read"}},
     VAP_E_CONFIG, "system/ scopes only"},
    {"client_credentials_with_user_scopes_names_the_system_line",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "api:fhir user/Patient.read user/Encounter.read user/soap_note.write"}},
     VAP_E_CONFIG,
     "scope has user/Patient.read, but grant=client_credentials (backend services) gets system/ "
     "scopes only; use: scope=\"api:fhir system/Patient.read system/Encounter.read\""},
    {"client_credentials_with_patient_scopes_names_the_system_line",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "api:fhir launch/patient patient/Patient.read"}},
     VAP_E_CONFIG,
     "scope has patient/Patient.read, but grant=client_credentials (backend services) gets "
     "system/ scopes only; use: scope=\"api:fhir system/Patient.read\""},
    {"client_credentials_with_system_scopes_is_accepted",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "api:fhir system/Patient.read system/Observation.read"}},
     VAP_OK, NULL},
    {"authorization_code_with_system_scopes_names_the_user_line",
     {{"scope", "openid offline_access api:fhir system/Patient.read system/Encounter.read"}},
     VAP_E_CONFIG,
     "scope has system/Patient.read, which OpenEMR grants to backend services only "
     "(grant=client_credentials); for a line a staff member authorizes use: scope=\"openid "
     "offline_access api:fhir user/Patient.read user/Encounter.read\""},
    {"authorization_code_with_a_long_system_line_points_to_the_logged_line",
     {{"scope", "openid fhirUser offline_access api:fhir api:oemr system/Patient.read "
                "system/Appointment.read system/Encounter.read system/MedicationRequest.read "
                "system/AllergyIntolerance.read system/Condition.read system/Observation.read"}},
     VAP_E_CONFIG,
     "scope has system/Patient.read, which OpenEMR grants to backend services only: paste the "
     "user/ scope= line printed above, or, for backend services, add grant=client_credentials "
     "client_auth=private_key_jwt"},
    {"client_credentials_without_api_fhir_suggests_no_offline_access",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "system/Patient.read system/Appointment.read"}},
     VAP_E_CONFIG,
     "use: scope=\"system/Patient.read system/Appointment.read api:fhir\""},
    {"client_credentials_without_system_scopes_is_refused",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"scope", "api:fhir"}},
     VAP_E_CONFIG, "grant=client_credentials needs system/ scopes"},
    {"grant_store_file_is_accepted", {{"grant_store", "file"}}, VAP_OK, NULL},
    {"grant_store_uri_is_accepted", {{"grant_store", "postgresql://vap@db.example.org/vap"}},
     VAP_OK, NULL},
    {"grant_store_service_is_accepted", {{"grant_store", "postgresql:///?service=vap"}}, VAP_OK,
     NULL},
    {"grant_store_conninfo_is_accepted", {{"grant_store", "host=db.example.org dbname=vap"}},
     VAP_OK, NULL},
    {"grant_store_uri_password_is_refused",
     {{"grant_store", "postgresql://vap:s3cret@db.example.org/vap"}}, VAP_E_CONFIG, ".pgpass"},
    {"grant_store_query_password_is_refused",
     {{"grant_store", "postgresql://vap@db.example.org/vap?password=s3cret"}}, VAP_E_CONFIG,
     ".pgpass"},
    {"grant_store_conninfo_password_is_refused",
     {{"grant_store", "host=db dbname=vap password=s3cret"}}, VAP_E_CONFIG, ".pgpass"},
    {"grant_store_sslpassword_is_refused",
     {{"grant_store", "host=db dbname=vap sslpassword=s3cret"}}, VAP_E_CONFIG, ".pgpass"},
    {"grant_store_unknown_is_refused", {{"grant_store", "mysql"}}, VAP_E_CONFIG,
     "grant_store=file"},
    {"grant_store_malformed_is_refused", {{"grant_store", "host='db"}}, VAP_E_CONFIG,
     "not a valid PostgreSQL"},
    {"grant_store_with_client_credentials_is_refused",
     {{"grant", "client_credentials"}, {"client_auth", "private_key_jwt"},
      {"grant_store", "postgresql://db/vap"}},
     VAP_E_CONFIG, "remove grant_store="},
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
    {"user_wildcard_gives_practice_wide_scopes",
     {{"scope", "openid offline_access api:fhir user/*.read"}}, VAP_E_CONFIG,
     "user/Patient.read user/Appointment.read"},
    {"fhir_scope_without_api_fhir_gives_corrected_line",
     {{"scope", "openid offline_access user/Patient.read"}}, VAP_E_CONFIG,
     "use: scope=\"openid offline_access user/Patient.read api:fhir\""},
    {"missing_issuer_is_named", {{"issuer", ""}}, VAP_E_CONFIG, "option 'issuer' is missing"},
    {"proxy_none_is_accepted", {{"proxy", "none"}}, VAP_OK, NULL},
    {"proxy_env_is_accepted", {{"proxy", "env"}}, VAP_OK, NULL},
    {"proxy_url_with_credentials_is_refused", {{"proxy", "http://u:p@proxy.example.org:3128"}},
     VAP_E_CONFIG, "proxy must not hold a user or password (no secret is ever an option): an "
     "authenticated proxy takes its credentials from the environment only; set https_proxy in the "
     "host process's environment and proxy=env"},
    {"proxy_url_with_a_user_only_is_refused", {{"proxy", "http://alice@proxy.example.org:3128"}},
     VAP_E_CONFIG, "proxy must not hold a user or password"},
    {"proxy_url_with_reserved_characters_in_the_password_is_refused",
     {{"proxy", "http://alice:s3cr%23t@proxy.example.org:3128"}}, VAP_E_CONFIG,
     "proxy must not hold a user or password"},
    {"proxy_url_cut_at_a_hash_is_refused_without_echo", {{"proxy", "http://alice:s3cr"}},
     VAP_E_CONFIG, "proxy must be none, env"},
    {"proxy_url_with_two_at_signs_is_refused", {{"proxy", "http://alice:p@ss@proxy:3128"}},
     VAP_E_CONFIG, "proxy must"},
    {"proxy_url_with_a_port_is_accepted", {{"proxy", "http://proxy.example.org:3128/"}}, VAP_OK, NULL},
    {"proxy_socks5h_is_accepted", {{"proxy", "socks5h://127.0.0.1:1080"}}, VAP_OK, NULL},
    {"proxy_without_scheme_is_refused", {{"proxy", "proxy.example.org:3128"}}, VAP_E_CONFIG,
     "proxy must be none, env (https_proxy and no_proxy from the environment) or a proxy URL "
     "such as proxy=http://proxy.example.org:3128"},
    {"proxy_with_a_path_is_refused", {{"proxy", "http://proxy.example.org:3128/x"}}, VAP_E_CONFIG,
     "proxy must be none"},
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
    /* A refused password never reaches the message. */
    check(strstr(err.message, "s3cret") == NULL, c->name, "message '%s' holds the password",
          err.message);
    if (rc == VAP_OK) {
        check(cfg.issuer != NULL && cfg.api_base != NULL, c->name, "fields not set");
        for (size_t k = 0; k < 3 && c->extra[k].key; k++)
            if (strcmp(c->extra[k].key, "proxy") == 0) {
                const char *v = c->extra[k].value;
                const char *want = strcmp(v, "env") == 0 ? NULL : strcmp(v, "none") == 0 ? "" : v;
                check(want == NULL ? cfg.proxy == NULL : (cfg.proxy && strcmp(cfg.proxy, want) == 0),
                      c->name, "proxy stored as '%s'", cfg.proxy ? cfg.proxy : "(env)");
            }
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
    {"system_scopes_warn_practice_wide", "api:fhir system/Patient.read system/Encounter.read", 0,
     SCOPE_WARN_SYSTEM /* no user: no offline_access, no openid */},
    {"system_bulk_export_is_not_a_wildcard", "api:fhir system/Patient.read system/*.$export", 0,
     SCOPE_WARN_SYSTEM /* no user: no offline_access, no openid */},
    {"system_wildcard_refused", "api:fhir system/*.read", -1, 0},
    {"empty_scope_refused", "", -1, 0},
    {"control_character_refused", "openid\tapi:fhir", -1, 0},
    {"bare_resource_refused", "openid offline_access api:fhir Patient.read", -1, 0},
};

/* Every line the checker suggests is one it accepts (found by fuzzing). */
static const char *const suggest_cases[] = {
    "openid fhirUser patient/*.read Patient.read FH*.write Encounter.read", /* bare write */
    "*.$",                                                                 /* bare wildcard */
    "openid *.read *.write",
    ("openid fhirUser patient/*.read patient/*.write Patient.read Encounter.read "
     "DiagnosticReport.read Medication.read"),
};

static void run_suggest_case(const char *scope)
{
    struct scope_report rep, again;
    int rc = scope_check(scope, strlen(scope), &rep);
    check(rc == -1, "suggested_lines_are_accepted", "'%s' was not refused", scope);
    if (rep.corrected[0])
        check(scope_check(rep.corrected, strlen(rep.corrected), &again) == 0,
              "suggested_lines_are_accepted", "'%s' -> '%s': %s", scope, rep.corrected,
              again.reason);
    if (rep.alternative[0])
        check(scope_check(rep.alternative, strlen(rep.alternative), &again) == 0,
              "suggested_lines_are_accepted", "'%s' -> alternative '%s': %s", scope,
              rep.alternative, again.reason);
}

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


/* Messages that are the product: asserted whole. */
struct exact_case {
    const char *name;
    vap_option opt;
    const char *want;
};

static const struct exact_case exact_cases[] = {
    {"typo_issuer_gets_did_you_mean", {"isuer", "https://x"},
     "unknown option 'isuer': did you mean issuer?"},
    {"typo_fhir_base_gets_did_you_mean", {"fhir_bse", "https://x"},
     "unknown option 'fhir_bse': did you mean fhir_base?"},
    {"guide_fhir_base_url_gets_did_you_mean", {"fhir_base_url", "https://x"},
     "unknown option 'fhir_base_url': did you mean fhir_base?"},
    {"guide_authorization_endpoint_says_discovered_from_issuer",
     {"authorization_endpoint", "https://emr.example.org/oauth2/authorize"},
     "option 'authorization_endpoint' is not taken: the endpoints are discovered from issuer= "
     "(OpenEMR's OAuth base, https://HOST/oauth2/SITE): remove it"},
    {"guide_token_endpoint_says_discovered_from_issuer",
     {"token_endpoint", "https://emr.example.org/oauth2/token"},
     "option 'token_endpoint' is not taken: the endpoints are discovered from issuer= "
     "(OpenEMR's OAuth base, https://HOST/oauth2/SITE): remove it"},
    {"guide_client_secret_says_vap_seal_put", {"client_secret", "s3cr3t"},
     "option 'client_secret' is not taken: a secret never goes on the config line: remove it and "
     "seal it with vap-seal put client_secret (it reads the secret from standard input)"},
    {"guide_scopes_suggest_practice_wide_line_once",
     {"scope", "openid fhirUser patient/*.read patient/*.write Patient.read Encounter.read "
               "DiagnosticReport.read Medication.read"},
     "scope: OpenEMR rejects patient/*.read and 5 more (no wildcards; every resource scope needs "
     "user/ or patient/); paste the practice-wide (all patients) scope= line printed above"},
};

/* The longest messages config_from_options can write, each whole (a message
 * cut at vap_error's 256 bytes loses its fix). */
static const vap_option longest_cases[] = {
    {"an_option_name_longer_than_any_known_one_x", "1"},
    {"issuer", "https://emr-with-a-rather-long-host-name.example.org/oauth2"},
    {"fhir_base", "https://emr-with-a-rather-long-host-name.example.org/apis/fhir"},
    {"client_auth", "client_secret_jwt_with_a_long_name"},
    {"timeout_ms", "99999999999999999999999999999999"},
    {"client_id", "0123456789abcdef0123456789abcdef 0123456789abcdef0123456789abcdef"},
    {"scope", "openid fhirUser user/*.read user/*.write Patient.read Encounter.read "
              "DiagnosticReport.read Medication.read Observation.read Condition.read"},
};

static char logbuf[8192];
static size_t log_lines;

static void capture_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    size_t used = strlen(logbuf);
    snprintf(logbuf + used, sizeof logbuf - used, "%d: %s\n", level, msg);
    log_lines++;
}

static int run_one(const vap_option *extra, vap_error *err)
{
    vap_option opts[5] = {BASE_OPTS};
    size_t n = 4;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(opts[i].key, extra->key) == 0)
            opts[i] = opts[--n];
    opts[n++] = *extra;
    struct config cfg;
    memset(err, 0, sizeof *err);
    err->struct_size = sizeof *err;
    logbuf[0] = '\0';
    log_lines = 0;
    int rc = config_from_options(opts, n, &cfg, err);
    if (rc == VAP_OK)
        config_free(&cfg);
    return rc;
}

static void run_exact_cases(void)
{
    for (size_t i = 0; i < sizeof exact_cases / sizeof exact_cases[0]; i++) {
        vap_error err;
        int rc = run_one(&exact_cases[i].opt, &err);
        check(rc == VAP_E_CONFIG && strcmp(err.message, exact_cases[i].want) == 0,
              exact_cases[i].name, "rc %d, message '%s'", rc, err.message);
    }
    for (size_t i = 0; i < sizeof longest_cases / sizeof longest_cases[0]; i++) {
        vap_error err;
        int rc = run_one(&longest_cases[i], &err);
        size_t len = strlen(err.message);
        check(rc == VAP_E_CONFIG && len > 0 && len < sizeof err.message - 1,
              "longest_messages_fit_in_vap_error", "%s: %zu bytes: '%s'", longest_cases[i].key,
              len, err.message);
    }
}

/* The guide's scopes: the error once (no log line repeating it), the
 * practice-wide line first, the patient-bound line as the alternative; and
 * each line pasted back is accepted (the practice-wide one with no warning). */
static void run_guide_scope_paths(void)
{
    static vap_host_api host;
    VAP_INIT(vap_host_api, host);
    host.log = capture_log;
    plog_init(&host);

    vap_option guide = {"scope", "openid fhirUser patient/*.read patient/*.write Patient.read "
                                 "Encounter.read DiagnosticReport.read Medication.read"};
    vap_error err;
    plog_instance_add(VAP_LOG_ERROR); /* the quietest log_level holds none of it back */
    run_one(&guide, &err);
    plog_instance_remove(VAP_LOG_ERROR);
    const char *user_line =
        "openid fhirUser user/Patient.read user/Appointment.read user/Encounter.read "
        "user/MedicationRequest.read user/AllergyIntolerance.read user/DiagnosticReport.read "
        "user/Medication.read api:oemr user/patient.read user/encounter.read user/soap_note.write "
        "api:fhir offline_access";
    const char *patient_line =
        "openid fhirUser patient/Patient.read patient/Encounter.read patient/DiagnosticReport.read "
        "patient/MedicationRequest.read patient/Medication.read api:fhir offline_access "
        "launch/patient";
    char want[2048];
    snprintf(want, sizeof want,
             "0: scope to paste, practice-wide (all patients): scope=\"%s\"\n"
             "0: or, for a grant bound to the one patient picked at consent: scope=\"%s\"\n",
             user_line, patient_line);
    check(strcmp(logbuf, want) == 0, "guide_scopes_log_practice_wide_line_first_then_patient",
          "log was:\n%s", logbuf);
    check(strstr(logbuf, "rejects") == NULL, "guide_scopes_error_is_printed_once",
          "the log repeats the error: %s", logbuf);

    vap_option pasted = {"scope", user_line};
    struct scope_report rep;
    check(run_one(&pasted, &err) == VAP_OK && log_lines == 0 &&
              scope_check(user_line, strlen(user_line), &rep) == 0 && rep.warnings == 0,
          "guide_scopes_practice_wide_line_pasted_is_accepted_without_warning", "%s / %#x",
          err.message, rep.warnings);
    pasted.value = patient_line;
    check(run_one(&pasted, &err) == VAP_OK &&
              scope_check(patient_line, strlen(patient_line), &rep) == 0 &&
              rep.warnings == SCOPE_WARN_PATIENT_BOUND,
          "guide_scopes_patient_line_pasted_is_accepted_bound_to_one_patient", "%s / %#x",
          err.message, rep.warnings);

    /* Outside any instance, the most verbose live instance's level holds,
     * recomputed as instances come and go. */
    size_t before = log_lines;
    plog_instance_add(VAP_LOG_ERROR);
    plog_instance_add(VAP_LOG_DEBUG);
    plog(VAP_LOG_DEBUG, "a");
    plog_instance_remove(VAP_LOG_DEBUG);
    plog(VAP_LOG_INFO, "b");
    int prev = plog_enter(VAP_LOG_INFO);
    plog(VAP_LOG_INFO, "c");
    plog_leave(&prev);
    plog_instance_remove(VAP_LOG_ERROR);
    plog(VAP_LOG_DEBUG, "d");
    check(log_lines == before + 3 && strstr(logbuf, "3: a\n2: c\n3: d\n") != NULL,
          "process_wide_level_follows_the_live_instances", "log was:\n%s", logbuf);
    plog_init(NULL);
}

/* The samples an admin copies (README, examples/plugins.conf, the man page)
 * carry the default scope list, the one every vap-host command works with
 * (note needs user/patient.read and user/encounter.read). */
static void run_samples_check(const char *srcdir)
{
    static const char *const files[] = {"README.md", "examples/plugins.conf",
                                        "doc/vap-plugins.conf.5"};
    check(scope_has(CONFIG_DEFAULT_SCOPE, strlen(CONFIG_DEFAULT_SCOPE), "user/patient.read") &&
              scope_has(CONFIG_DEFAULT_SCOPE, strlen(CONFIG_DEFAULT_SCOPE), "user/encounter.read") &&
              scope_has(CONFIG_DEFAULT_SCOPE, strlen(CONFIG_DEFAULT_SCOPE), "user/soap_note.write"),
          "default_scope_has_what_note_needs", "%s", CONFIG_DEFAULT_SCOPE);
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1024], line[2048];
        snprintf(path, sizeof path, "%s/%s", srcdir, files[f]);
        FILE *fp = fopen(path, "r");
        check(fp != NULL, "sample_files_are_readable", "%s", path);
        if (fp == NULL)
            continue;
        int samples = 0;
        while (fgets(line, sizeof line, fp)) {
            const char *p = line + strspn(line, " \t");
            if (strncmp(p, "scope=\"", 7) != 0)
                continue;
            samples++;
            p += 7;
            size_t n = strcspn(p, "\"");
            check(n == strlen(CONFIG_DEFAULT_SCOPE) && memcmp(p, CONFIG_DEFAULT_SCOPE, n) == 0,
                  "sample_config_lines_use_the_default_scope_list", "%s: scope=\"%.*s\"",
                  files[f], (int)n, p);
        }
        check(samples > 0, "sample_config_lines_are_found", "%s has no scope=\" line", files[f]);
        fclose(fp);
    }
}

int main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof opt_cases / sizeof opt_cases[0]; i++)
        run_opt_case(&opt_cases[i]);
    for (size_t i = 0; i < sizeof scope_cases / sizeof scope_cases[0]; i++)
        run_scope_case(&scope_cases[i]);
    for (size_t i = 0; i < sizeof suggest_cases / sizeof suggest_cases[0]; i++)
        run_suggest_case(suggest_cases[i]);

    /* scope_has matches whole words only. */
    check(scope_has("openid offline_access", 21, "offline_access") &&
              !scope_has("openid offline_accessX", 22, "offline_access"),
          "scope_has_matches_whole_words", "whole-word match failed");
    run_exact_cases();
    run_guide_scope_paths();
    if (argc > 1)
        run_samples_check(argv[1]);
    else
        check(0, "sample_config_lines_use_the_default_scope_list", "no source directory given");
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
