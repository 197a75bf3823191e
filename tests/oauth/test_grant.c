/* test_grant.c - the sealed grant payload: round trip and refusals. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "testcheck.h"
#include "oauth/grant.h"

static void fill(struct grant *g)
{
    grant_clear(g);
    snprintf(g->access_token, sizeof g->access_token, "eyJhbGciOiJSUzI1NiJ9.e30.sig\"quote\\");
    snprintf(g->refresh_token, sizeof g->refresh_token, "def50200%s", "abcdef");
    snprintf(g->scope, sizeof g->scope, "openid offline_access user/Patient.read");
    snprintf(g->patient, sizeof g->patient, "9e2f-uuid");
    snprintf(g->iss, sizeof g->iss, "https://127.0.0.1:9443/oauth2/default");
    snprintf(g->sub, sizeof g->sub, "user-1\ncontrol");
    snprintf(g->aud, sizeof g->aud, "client-1");
    g->access_expires_at_ms = 1790000000000;
    g->obtained_at_ms = 1789996400000;
    g->lifetime_s = 3600;
    g->reauth_required = 1;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct grant *a = grant_new(), *b = grant_new();
    static char buf[GRANT_PAYLOAD_MAX];
    char why[128];
    size_t len = 0;
    if (a == NULL || b == NULL)
        return 1;

    fill(a);
    check(grant_serialize(a, buf, sizeof buf, &len) == 0, "grant_serialize_writes_payload");
    check(grant_parse(buf, len, b, why, sizeof why) == 0, "grant_round_trip_parses");
    b->generation = a->generation;
    check(memcmp(a, b, sizeof *a) == 0, "grant_round_trip_is_identical");

    check(grant_serialize(a, buf, 64, &len) == -1, "grant_serialize_refuses_small_buffer");

    /* A maximal grant (every token at its cap) still fits the sealed payload. */
    grant_clear(a);
    memset(a->access_token, 'A', sizeof a->access_token - 1);
    memset(a->refresh_token, 'R', sizeof a->refresh_token - 1);
    memset(a->scope, 's', sizeof a->scope - 1);
    check(grant_serialize(a, buf, sizeof buf, &len) == 0 && len < GRANT_PAYLOAD_MAX,
          "grant_maximal_tokens_fit_payload");

    static const struct {
        const char *name, *json, *why;
    } bad[] = {
        {"grant_parse_refuses_non_json", "not json", "not valid JSON"},
        {"grant_parse_refuses_array", "[]", "not a JSON object"},
        {"grant_parse_refuses_unknown_version", "{\"v\":2}", "version 2"},
        {"grant_parse_refuses_duplicate_keys", "{\"v\":1,\"v\":1}", "not valid JSON"},
        {"grant_parse_refuses_missing_access_token",
         "{\"v\":1,\"refresh_token\":\"r\",\"scope\":\"\"}", "access_token"},
        {"grant_parse_refuses_embedded_nul",
         "{\"v\":1,\"access_token\":\"a\\u0000b\",\"refresh_token\":\"\",\"scope\":\"\","
         "\"access_expires_at_ms\":0,\"obtained_at_ms\":0,\"lifetime_s\":0,\"reauth_required\":0}",
         "not valid JSON"}, /* Jansson refuses \u0000 without JSON_ALLOW_NUL */
        {"grant_parse_refuses_negative_time",
         "{\"v\":1,\"access_token\":\"a\",\"refresh_token\":\"\",\"scope\":\"\","
         "\"access_expires_at_ms\":-5,\"obtained_at_ms\":0,\"lifetime_s\":0,\"reauth_required\":0}",
         "negative"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = grant_parse(bad[i].json, strlen(bad[i].json), b, why, sizeof why);
        check(rc == -1 && strstr(why, bad[i].why) != NULL, bad[i].name);
        check(b->access_token[0] == '\0', "grant_parse_failure_leaves_grant_wiped");
    }
    grant_free(a);
    grant_free(b);
    return check_summary();
}
