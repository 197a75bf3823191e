/* test_flow_smoke.c - the whole path once: authorize, status, fetch, an
 * expired access token renewed transparently, a revoked refresh token turned
 * into "authorize again". */
#include <stdio.h>
#include <string.h>

#include "testcheck.h"
#include "flowkit.h"

int main(int argc, char **argv)
{
    struct flowkit k;
    if (argc != 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    vap_instance *inst = NULL;
    vap_error err;
    vap_grant_info *gi = NULL;
    check(flowkit_instance(&k, &inst, &err, NULL) == VAP_OK, "instance_created");

    int rc = flowkit_authorize(&k, inst, &gi, &err, NULL, 0);
    check(rc == VAP_OK && gi && gi->state == VAP_GRANT_VALID && gi->generation == 1 &&
              gi->has_refresh_token,
          "authorize_seals_grant_generation_1");
    if (rc != VAP_OK)
        printf("  authorize: %s\n", err.message);
    check(gi && strstr(gi->scope, "api:fhir") != NULL,
          "granted_scope_keeps_api_fhir_the_server_left_out");
    k.api->release(gi);

    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_get_req(&req, "Patient", "_count=2");
    VAP_INIT(vap_error, err);
    rc = k.api->fetch(inst, NULL, &req, &resp, &err);
    check(rc == VAP_OK && resp && resp->status == 200 &&
              strstr(resp->body, "\"resourceType\":\"Bundle\"") != NULL,
          "fetch_patient_search_returns_bundle");
    k.api->release(resp);

    long before = flowkit_counter(&k, "token_requests.refresh_token");
    check(flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0) == 200, "sim_expire");
    resp = NULL;
    VAP_INIT(vap_error, err);
    rc = k.api->fetch(inst, NULL, &req, &resp, &err);
    check(rc == VAP_OK && resp && resp->status == 200, "fetch_after_server_expiry_renews_once");
    check(flowkit_counter(&k, "token_requests.refresh_token") == before + 1,
          "exactly_one_refresh_request");
    k.api->release(resp);

    check(flowkit_control(&k, "revoke-refresh-tokens", "{}", NULL, 0) == 200 &&
              flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0) == 200,
          "sim_revoke_and_expire");
    resp = NULL;
    VAP_INIT(vap_error, err);
    rc = k.api->fetch(inst, NULL, &req, &resp, &err);
    check(rc == VAP_E_REAUTH_REQUIRED, "revoked_refresh_token_is_reauth_required");
    k.api->release(resp);
    gi = NULL;
    VAP_INIT(vap_error, err);
    check(k.api->status(inst, NULL, &gi, &err) == VAP_OK && gi &&
              gi->state == VAP_GRANT_REAUTH_REQUIRED,
          "grant_marked_reauth_required");
    k.api->release(gi);
    check(!fakehost_log_contains(k.fh, FLOW_SECRET), "secret_never_logged");

    k.api->instance_free(inst);
    flowkit_stop(&k);
    return check_summary();
}
