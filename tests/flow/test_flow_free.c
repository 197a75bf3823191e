/* test_flow_free.c - freeing an instance right after its renewal failed.
 * A failed background renewal queues a retry on the renewer thread while
 * the caller, already woken, frees the instance; nothing of the instance
 * may stay queued (a queued job in freed memory crashes the next instance,
 * which ASan and valgrind see).  Many rounds, since the window is narrow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testcheck.h"
#include "flowkit.h"

#define ROUNDS 40

int main(int argc, char **argv)
{
    struct flowkit k;
    if (argc != 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    /* A second instance outlives the rounds: the renewer thread keeps
     * running, and walks its queue, while they free theirs. */
    vap_instance *keeper = NULL;
    vap_error err;
    check(flowkit_instance(&k, &keeper, &err, "warm_connections", "0", NULL) == VAP_OK,
          "keeper_instance");
    int authorized = 0, reauth = 0;
    for (int i = 0; i < ROUNDS; i++) {
        vap_instance *inst = NULL;
        vap_grant_info *gi = NULL;
        if (flowkit_instance(&k, &inst, &err, "warm_connections", "0", NULL) != VAP_OK)
            break;
        if (flowkit_authorize(&k, inst, &gi, &err, NULL, 0) == VAP_OK)
            authorized++;
        k.api->release(gi);
        flowkit_control(&k, "revoke-refresh-tokens", "{}", NULL, 0);
        flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0);
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        flowkit_get_req(&req, "Patient", NULL);
        VAP_INIT(vap_error, err);
        if (k.api->fetch(inst, NULL, &req, &resp, &err) == VAP_E_REAUTH_REQUIRED)
            reauth++;
        k.api->release(resp);
        k.api->instance_free(inst);
    }
    check(authorized == ROUNDS, "every_round_authorized");
    check(reauth == ROUNDS, "every_round_failed_its_renewal_as_reauth_required");
    k.api->instance_free(keeper);
    flowkit_stop(&k);
    return check_summary();
}
