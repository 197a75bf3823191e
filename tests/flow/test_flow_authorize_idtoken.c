/* test_flow_authorize_idtoken.c - every id_token rule (OIDC Core 3.1.3.7,
 * SECURITY.md §5) against the simulator: a token endpoint that answers with a
 * forged, misdirected, stale or replayed id_token must not get a grant
 * sealed, and the previous grant stays byte for byte.  Then key rotation: a
 * token signed with a key the cached JWKS lacks makes the plugin fetch the
 * JWKS once more and succeed.
 *
 * Usage: test-flow-authorize-idtoken PLUGIN.so [CASE] */
#include <stdio.h>
#include <string.h>

#include "test_flow_authorize_kit.h"

static vap_instance *inst;
static unsigned char baseline[32];
static char loc[AFK_LOC_MAX];

/* One refused id_token: the sim's fault, and words the message must have. */
struct idt_row {
    const char *fault;
    const char *must_say;
};

static int refused_with(struct flowkit *k, const struct idt_row *row)
{
    vap_error err;
    long status = 0;
    unsigned char now[32];
    AFK_CHECK(afk_fault(k, AFK_TOKEN_ROUTE, row->fault) == 0, "fault %s", row->fault);
    AFK_CHECK(afk_begin_and_redirect(k, inst, NULL, NULL, &status, loc, sizeof loc, &err) == 0 &&
                  status == 302, "redirect: %ld %s", status, err.message);
    long before = flowkit_counter(k, "token_requests.authorization_code");
    int rc = afk_complete(k, inst, loc, &err);
    AFK_CHECK(flowkit_counter(k, "token_requests.authorization_code") == before + 1,
              "%s: the code was not exchanged, so the id_token was never seen", row->fault);
    AFK_CHECK(rc == VAP_E_PROTOCOL, "%s: rc %d: %s", row->fault, rc, err.message);
    AFK_CHECK(strstr(err.message, row->must_say) != NULL, "%s: %s", row->fault, err.message);
    AFK_CHECK(afk_store_digest(k->store, now) == 0 && memcmp(now, baseline, 32) == 0,
              "%s: the stored grant changed", row->fault);
    return 0;
}

#define IDT_CASE(fn, fault, words)                                                         \
    static int fn(struct flowkit *k)                                                       \
    {                                                                                      \
        static const struct idt_row row = {fault, words};                                  \
        return refused_with(k, &row);                                                      \
    }

IDT_CASE(bad_signature_is_refused, "id_token_bad_signature", "signature")
/* alg none carries an empty signature: refused before its alg is looked at */
IDT_CASE(alg_none_is_refused, "id_token_alg_none", "malformed")
IDT_CASE(hs256_signed_with_the_secret_is_refused, "id_token_hs256", "HS256")
IDT_CASE(wrong_issuer_is_refused, "id_token_wrong_iss", "issued by")
IDT_CASE(wrong_audience_is_refused, "id_token_wrong_aud", "aud")
IDT_CASE(missing_audience_is_refused, "id_token_no_aud", "aud")
IDT_CASE(expired_is_refused, "id_token_expired", "has expired")
IDT_CASE(iat_far_in_the_future_is_refused, "id_token_iat_future", "in the future")
IDT_CASE(wrong_nonce_is_refused, "id_token_wrong_nonce", "nonce")
IDT_CASE(missing_nonce_is_refused, "id_token_no_nonce", "nonce")

/* A fresh instance caches the JWKS with one authorization; the server then
 * rotates its key; the next id_token names a key the cache lacks. */
static int rotated_key_is_fetched_again_and_accepted(struct flowkit *k)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    AFK_CHECK(flowkit_instance(k, &in, &err, NULL) == VAP_OK, "%s", err.message);
    int rc = flowkit_authorize(k, in, &gi, &err, NULL, 0);
    k->api->release(gi);
    gi = NULL;
    long jwk_before = flowkit_counter(k, "routes.jwk");
    int rotated = flowkit_control(k, "rotate-jwks", "{}", NULL, 0);
    int rc2 = rc == VAP_OK ? flowkit_authorize(k, in, &gi, &err, NULL, 0) : -999;
    long jwk_after = flowkit_counter(k, "routes.jwk");
    k->api->release(gi);
    k->api->instance_free(in);
    AFK_CHECK(rc == VAP_OK, "first authorization: %s", err.message);
    AFK_CHECK(rotated == 200, "sim rotate-jwks");
    AFK_CHECK(rc2 == VAP_OK, "after rotation: rc %d: %s", rc2, err.message);
    AFK_CHECK(jwk_after == jwk_before + 1, "JWKS fetched %ld times, not once",
              jwk_after - jwk_before);
    return afk_store_digest(k->store, baseline);
}

int main(int argc, char **argv)
{
    static const struct afk_case cases[] = {
        {"bad_signature_is_refused", bad_signature_is_refused},
        {"alg_none_is_refused", alg_none_is_refused},
        {"hs256_signed_with_the_secret_is_refused", hs256_signed_with_the_secret_is_refused},
        {"wrong_issuer_is_refused", wrong_issuer_is_refused},
        {"wrong_audience_is_refused", wrong_audience_is_refused},
        {"missing_audience_is_refused", missing_audience_is_refused},
        {"expired_is_refused", expired_is_refused},
        {"iat_far_in_the_future_is_refused", iat_far_in_the_future_is_refused},
        {"wrong_nonce_is_refused", wrong_nonce_is_refused},
        {"missing_nonce_is_refused", missing_nonce_is_refused},
        {"rotated_key_is_fetched_again_and_accepted", rotated_key_is_fetched_again_and_accepted},
    };
    struct flowkit k;
    vap_error err;
    vap_grant_info *gi = NULL;
    if (argc < 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    if (flowkit_instance(&k, &inst, &err, NULL) != VAP_OK) {
        printf("instance: %s\n", err.message);
        flowkit_stop(&k);
        return 1;
    }
    int rc = flowkit_authorize(&k, inst, &gi, &err, NULL, 0);
    k.api->release(gi);
    if (rc != VAP_OK || afk_store_digest(k.store, baseline) != 0) {
        printf("first authorization failed: %s\n", err.message);
        k.api->instance_free(inst);
        flowkit_stop(&k);
        return 1;
    }
    int exit_code = afk_run(&k, cases, sizeof cases / sizeof cases[0], argc > 2 ? argv[2] : NULL);
    k.api->instance_free(inst);
    flowkit_stop(&k);
    return exit_code;
}
