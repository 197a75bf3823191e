/* test_flow_metrics.c - the host's metric callback and log_level, through
 * the fake host against the simulator: each token request counted by
 * outcome with its duration, each renewal, each fetch by status class with
 * its duration; log_level=warn keeps info lines from the host, and the
 * most verbose instance of the process decides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testcheck.h"
#include "flowkit.h"

static int log_has_level(fakehost *fh, const char *prefix)
{
    char *text = fakehost_log_text(fh);
    int found = 0;
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            found = 1;
    free(text);
    return found;
}

/* Every token-request metric the fake host has seen. */
static int token_metrics(fakehost *fh)
{
    return fakehost_metric_count(fh, VAP_METRIC_TOKEN_OK) +
           fakehost_metric_count(fh, VAP_METRIC_TOKEN_REAUTH) +
           fakehost_metric_count(fh, VAP_METRIC_TOKEN_CLIENT) +
           fakehost_metric_count(fh, VAP_METRIC_TOKEN_UNAVAILABLE) +
           fakehost_metric_count(fh, VAP_METRIC_TOKEN_OTHER) +
           fakehost_metric_count(fh, VAP_METRIC_TOKEN_MS);
}

static int fetch(struct flowkit *k, vap_instance *inst, const char *path)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    vap_error err;
    flowkit_get_req(&req, path, NULL);
    VAP_INIT(vap_error, err);
    int rc = k->api->fetch(inst, NULL, &req, &resp, &err);
    k->api->release(resp);
    return rc;
}

int main(int argc, char **argv)
{
    struct flowkit k;
    if (argc != 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    fakehost *fh = k.fh;
    vap_instance *inst = NULL, *inst2 = NULL;
    vap_error err;
    vap_grant_info *gi = NULL;

    check(flowkit_instance(&k, &inst, &err, "log_level", "loud", NULL) == VAP_E_CONFIG &&
              strcmp(err.message, "log_level=loud is not known: use log_level=error, warn, "
                                  "info or debug") == 0,
          "unknown_log_level_is_refused_with_the_levels");
    check(flowkit_instance(&k, &inst, &err, "log_level", "warn", "warm_connections", "0", NULL) ==
              VAP_OK,
          "instance_with_log_level_warn");
    fakehost_log_clear(fh);
    fakehost_metric_clear(fh);

    int rc = flowkit_authorize(&k, inst, &gi, &err, NULL, 0);
    check(rc == VAP_OK, "authorize");
    k.api->release(gi);
    check(fakehost_metric_count(fh, VAP_METRIC_TOKEN_OK) == 1 &&
              fakehost_metric_sum(fh, VAP_METRIC_TOKEN_OK) == 1.0,
          "code_exchange_counted_as_one_ok_token_request");
    check(fakehost_metric_count(fh, VAP_METRIC_TOKEN_MS) == 1 &&
              fakehost_metric_sum(fh, VAP_METRIC_TOKEN_MS) > 0.0,
          "code_exchange_duration_recorded");

    /* check asks the token endpoint with a made-up refresh token: a
     * question, not a re-authorization a monitor should see. */
    int before = token_metrics(fh);
    vap_check_report *rep = NULL;
    int crc = (k.api->check)(inst, NULL, &rep, &err); /* not testcheck.h's check */
    check(crc == VAP_OK && rep != NULL, "check_runs");
    k.api->release(rep);
    check(token_metrics(fh) == before, "check_probes_are_not_counted_as_token_requests");

    check(fetch(&k, inst, "Patient") == VAP_OK, "fetch_patient_search");
    check(fetch(&k, inst, "Patient/no-such-patient") == VAP_E_HTTP, "fetch_missing_patient");
    check(fakehost_metric_count(fh, VAP_METRIC_FETCH_2XX) == 1 &&
              fakehost_metric_count(fh, VAP_METRIC_FETCH_4XX) == 1 &&
              fakehost_metric_count(fh, VAP_METRIC_FETCH_5XX) == 0 &&
              fakehost_metric_count(fh, VAP_METRIC_FETCH_NONE) == 0,
          "fetches_counted_by_status_class");
    check(fakehost_metric_count(fh, VAP_METRIC_FETCH_MS) == 2, "each_fetch_duration_recorded");
    check(!log_has_level(fh, "info:") && !log_has_level(fh, "debug:"),
          "log_level_warn_sends_no_info_lines");

    /* A second instance at the default level (info): each logs at its own. */
    check(flowkit_instance(&k, &inst2, &err, "warm_connections", "0", NULL) == VAP_OK,
          "second_instance_at_default_level");
    fakehost_log_clear(fh);
    check(flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0) == 200, "sim_expire");
    check(fetch(&k, inst, "Patient") == VAP_OK, "fetch_after_expiry_renews");
    check(!log_has_level(fh, "info:") && !log_has_level(fh, "debug:"),
          "warn_instance_renews_without_info_lines_beside_an_info_instance");
    check(fakehost_metric_count(fh, VAP_METRIC_RENEWALS) == 1, "one_renewal_counted");
    check(fakehost_metric_count(fh, VAP_METRIC_TOKEN_OK) == 2 &&
              fakehost_metric_count(fh, VAP_METRIC_TOKEN_MS) == 2,
          "refresh_counted_as_an_ok_token_request");
    check(fakehost_metric_count(fh, VAP_METRIC_FETCH_2XX) == 2,
          "fetch_with_a_renewal_counted_once");
    check(fetch(&k, inst2, "Patient") == VAP_OK, "info_instance_fetches");
    check(flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0) == 200, "sim_expire_again");
    check(fetch(&k, inst2, "Patient") == VAP_OK, "info_instance_renews");
    check(log_has_level(fh, "info:"), "info_instance_logs_its_renewal_at_info");

    check(flowkit_control(&k, "revoke-refresh-tokens", "{}", NULL, 0) == 200 &&
              flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0) == 200,
          "sim_revoke_and_expire");
    check(fetch(&k, inst2, "Patient") == VAP_E_REAUTH_REQUIRED, "fetch_after_revocation");
    check(fakehost_metric_count(fh, VAP_METRIC_TOKEN_REAUTH) == 1 &&
              fakehost_metric_count(fh, VAP_METRIC_RENEWALS) == 2,
          "revoked_refresh_counted_as_reauth_required_not_a_renewal");

    k.api->instance_free(inst2);
    k.api->instance_free(inst);
    flowkit_stop(&k);
    return check_summary();
}
