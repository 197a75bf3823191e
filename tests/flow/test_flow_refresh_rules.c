/* test_flow_refresh_rules.c - the pure rules of refresh.h, table-driven:
 * the margin (rule 1: min(option, a quarter of the lifetime)) and the scope
 * sent on refresh (rule 3: the granted scopes, offline_access always,
 * nonce never, api:oemr next to standard-API scopes), and the granted scope
 * kept after a response that does not echo api:* (OpenEMR). */
#include <stdio.h>
#include <string.h>

#include "testcheck.h"
#include "core/scope.h"
#include "oauth/refresh.h"

struct merge_case {
    const char *name;
    const char *returned, *previous;
    size_t cap;
    int want_rc;
    const char *want;
};

struct margin_case {
    const char *name;
    int64_t option_s, lifetime_s, want_ms;
};

struct scope_case {
    const char *name;
    const char *granted;
    size_t cap;
    int want_rc;
    const char *want;
};

int main(void)
{
    static const struct margin_case margins[] = {
        {"option_wins_on_an_hour_token", 300, 3600, 300000},
        {"quarter_wins_on_a_minute_token", 300, 60, 15000},
        {"equal_at_the_crossover", 300, 1200, 300000},
        {"zero_option_means_no_margin", 0, 3600, 0},
        {"unknown_lifetime_means_no_margin", 300, 0, 0},
        {"one_second_token_gets_250_ms", 300, 1, 250},
    };
    for (size_t i = 0; i < sizeof margins / sizeof margins[0]; i++)
        check(refresh_margin_ms(margins[i].option_s, margins[i].lifetime_s) ==
                  margins[i].want_ms,
              margins[i].name);

    static const struct scope_case scopes[] = {
        {"keeps_granted_scopes_in_order", "openid offline_access user/Patient.read", 256, 0,
         "openid offline_access user/Patient.read"},
        {"adds_offline_access_when_missing", "openid user/Patient.read", 256, 0,
         "openid user/Patient.read offline_access"},
        {"drops_nonce_pseudo_scope", "openid nonce offline_access", 256, 0,
         "openid offline_access"},
        {"collapses_extra_spaces", "  openid   fhirUser ", 256, 0,
         "openid fhirUser offline_access"},
        {"empty_grant_still_sends_offline_access", "", 256, 0, "offline_access"},
        {"keeps_nonce_lookalikes", "nonces noncE", 256, 0, "nonces noncE offline_access"},
        {"refuses_when_the_buffer_is_too_small", "openid user/Patient.read", 20, -1, NULL},
        {"exact_fit_is_accepted", "openid", 22, 0, "openid offline_access"},
        {"one_byte_short_is_refused", "openid", 21, -1, NULL},
        {"keeps_api_oemr_with_std_api_scopes", "openid offline_access api:oemr user/patient.read",
         256, 0, "openid offline_access api:oemr user/patient.read"},
        {"restores_api_oemr_a_stored_grant_lost", "openid offline_access user/patient.read", 256,
         0, "openid offline_access user/patient.read api:oemr"},
        {"no_api_oemr_for_fhir_scopes_only", "openid offline_access user/Patient.read", 256, 0,
         "openid offline_access user/Patient.read"},
    };
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
        char out[256];
        const struct scope_case *c = &scopes[i];
        int rc = refresh_scope(c->granted, out, c->cap);
        check(rc == c->want_rc && (c->want == NULL || strcmp(out, c->want) == 0), c->name);
    }
    static const struct merge_case merges[] = {
        {"openemr_response_without_api_keeps_them",
         "openid offline_access user/Patient.read user/patient.read",
         "openid offline_access api:fhir api:oemr user/Patient.read user/patient.read", 256, 0,
         "openid offline_access user/Patient.read user/patient.read api:fhir api:oemr"},
        {"response_with_api_is_not_doubled", "openid api:oemr user/patient.read",
         "openid api:oemr user/patient.read", 256, 0, "openid api:oemr user/patient.read"},
        {"nonce_in_response_is_dropped", "openid nonce offline_access", "openid offline_access",
         256, 0, "openid offline_access"},
        {"scope_the_server_dropped_stays_dropped", "openid", "openid user/Patient.read", 256, 0,
         "openid"},
        {"no_scope_in_response_keeps_previous", NULL, "openid api:oemr", 256, 0,
         "openid api:oemr"},
        {"no_previous_cleans_the_response", "openid nonce", NULL, 256, 0, "openid"},
        {"too_small_is_refused", "openid offline_access", "api:oemr", 16, -1, NULL},
    };
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char out[256];
        const struct merge_case *c = &merges[i];
        int rc = scope_granted_merge(c->returned, c->previous, out, c->cap);
        check(rc == c->want_rc && (c->want == NULL || strcmp(out, c->want) == 0), c->name);
    }
    return check_summary();
}
