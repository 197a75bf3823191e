/* test_flow_refresh_keep.c - a 2xx with a well-formed refresh token is kept
 * (DESIGN.md, Keeping the grant alive, rule 9), against the simulator.
 *
 * The server has rotated by the time its answer arrives, so refusing the
 * answer for anything but identity loses the grant.  Each odd answer below
 * must be sealed and used (the generation advances, the next renewal is not
 * a reuse of a revoked refresh token) with a warning in the log: clock skew
 * of +300 s and -300 s (beyond the 120 s leeway), the JWKS answering 404
 * while the id_token is signed with a new key, need_patient_banner:"false",
 * expires_in 3599.5, unknown members.  A refreshed id_token for another user
 * is refused and the sealed files stay byte for byte as they were.
 *
 * Usage: test-flow-refresh-keep MODULE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testcheck.h"
#include "flowkit.h"
#include "vapseal.h"

static struct flowkit K;
static vap_instance *I;

static size_t grant_bytes(uint8_t *buf, size_t cap)
{
    seal_store *st = NULL;
    seal_err se = {0};
    size_t len = 0;
    if (seal_store_open(K.store, &st, &se) != 0 ||
        seal_store_read_raw(st, "grant", buf, cap, &len, &se) != 0)
        len = 0;
    seal_store_close(st);
    return len;
}

static int info(vap_grant_info *out)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = K.api->status(I, NULL, &gi, &err);
    if (rc == VAP_OK && gi)
        *out = *gi;
    K.api->release(gi);
    return rc == VAP_OK && gi ? 0 : -1;
}

static int do_refresh(vap_error *err)
{
    vap_grant_info *gi = NULL;
    VAP_INIT(vap_error, *err);
    int rc = K.api->refresh(I, NULL, &gi, err);
    K.api->release(gi);
    return rc;
}

static void fault(const char *route, const char *kind)
{
    char body[200];
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"%s\",\"count\":1}", route, kind);
    flowkit_control(&K, "faults", body, NULL, 0);
}

static void skew(int s)
{
    char body[48];
    snprintf(body, sizeof body, "{\"seconds\":%d}", s);
    flowkit_control(&K, "skew", body, NULL, 0);
}

struct keep_case {
    const char *name;
    void (*arrange)(void);
    const char *warning; /* a piece of the log line; NULL: none required */
    int64_t life_s;      /* the lifetime the grant must get; 0: any */
};

static void arrange_skew_ahead(void) { skew(300); }
static void arrange_skew_behind(void)
{
    /* 60 s tokens: the id_token minted 300 s "ago" has also expired, by
     * more than the leeway. */
    flowkit_control(&K, "access-ttl", "{\"seconds\":60}", NULL, 0);
    skew(-300);
}
static void arrange_jwks_404(void)
{
    /* The next id_token is signed with a key the plugin has not seen, and
     * the keys cannot be fetched at that moment. */
    flowkit_control(&K, "rotate-jwks", "{}", NULL, 0);
    fault("/oauth2/default/jwk", "jwks_not_found");
}
static void arrange_banner(void) { fault("/oauth2/default/token", "token_banner_string"); }
static void arrange_expires(void) { fault("/oauth2/default/token", "token_expires_fractional"); }
static void arrange_unknown(void) { fault("/oauth2/default/token", "token_unknown_fields"); }

static void test_kept(const struct keep_case *c)
{
    char name[160];
    vap_error err;
    vap_grant_info before, after;
    long u0 = flowkit_counter(&K, "revoked_refresh_reuse");
    info(&before);
    fakehost_log_clear(K.fh);
    c->arrange();
    int rc = do_refresh(&err);
    skew(0);
    flowkit_control(&K, "access-ttl", "{\"seconds\":3600}", NULL, 0);
    flowkit_control(&K, "faults/clear", "{}", NULL, 0);
    snprintf(name, sizeof name, "%s_refresh_succeeds", c->name);
    check(rc == VAP_OK, name);
    if (rc != VAP_OK)
        printf("  %s: rc=%d %s\n", c->name, rc, err.message);
    snprintf(name, sizeof name, "%s_grant_advances", c->name);
    check(info(&after) == 0 && after.generation == before.generation + 1 &&
              after.state == VAP_GRANT_VALID,
          name);
    if (c->life_s > 0) {
        snprintf(name, sizeof name, "%s_lifetime_rounded_down", c->name);
        check(after.access_expires_at_ms - after.obtained_at_ms == c->life_s * 1000, name);
    }
    if (c->warning != NULL) {
        snprintf(name, sizeof name, "%s_is_a_logged_warning", c->name);
        check(fakehost_log_contains(K.fh, c->warning), name);
    }
    /* The sealed refresh token is the live one: renewing again is no reuse. */
    snprintf(name, sizeof name, "%s_sealed_token_is_the_live_one", c->name);
    check(do_refresh(&err) == VAP_OK && flowkit_counter(&K, "revoked_refresh_reuse") == u0,
          name);
}

static void test_other_sub_refused(void)
{
    static uint8_t b0[SEAL_FILE_MAX], b1[SEAL_FILE_MAX];
    vap_error err;
    size_t n0 = grant_bytes(b0, sizeof b0);
    fault("/oauth2/default/token", "id_token_other_sub");
    int rc = do_refresh(&err);
    check(rc == VAP_E_PROTOCOL, "other_sub_is_refused");
    check(strstr(err.message, "another user") != NULL, "other_sub_message_names_the_mismatch");
    size_t n1 = grant_bytes(b1, sizeof b1);
    check(n0 > 0 && n0 == n1 && memcmp(b0, b1, n0) == 0,
          "other_sub_leaves_the_sealed_grant_byte_for_byte");
}

int main(int argc, char **argv)
{
    static const struct keep_case cases[] = {
        {"skew_300s_ahead", arrange_skew_ahead, "in the future", 0},
        {"skew_300s_behind", arrange_skew_behind, "has expired", 0},
        {"jwks_404", arrange_jwks_404, "could not be checked now", 0},
        {"need_patient_banner_string", arrange_banner, "need_patient_banner", 0},
        {"expires_in_fraction", arrange_expires, "expires_in is not a whole number", 3599},
        {"unknown_members", arrange_unknown, "unknown member x_site_banner", 0},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: test-flow-refresh-keep MODULE\n");
        return 2;
    }
    if (flowkit_start(&K, argv[1], NULL) != 0)
        return 1;
    vap_error err;
    vap_grant_info *gi = NULL;
    check(flowkit_instance(&K, &I, &err, NULL) == VAP_OK, "instance_created");
    check(flowkit_authorize(&K, I, &gi, &err, NULL, 0) == VAP_OK, "authorized");
    K.api->release(gi);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_kept(&cases[i]);
    test_other_sub_refused();
    K.api->instance_free(I);
    flowkit_stop(&K);
    return check_summary();
}
