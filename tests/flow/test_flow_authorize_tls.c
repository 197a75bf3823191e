/* test_flow_authorize_tls.c - nothing is sent to a server whose certificate
 * does not check out: a ca_file naming another CA, and a host name the
 * certificate does not cover (the simulator here certifies 127.0.0.1 only and
 * is reached as localhost), both fail authorize with VAP_E_TLS and leave the
 * store as it was.  A control case shows the same set-up otherwise works.
 *
 * Usage: test-flow-authorize-tls PLUGIN.so [CASE] */
#include <stdio.h>
#include <string.h>

#include "test_flow_authorize_kit.h"

static sim_server *other;          /* a second simulator: its CA is "another CA" */
static unsigned char baseline[32];

/* instance_new (which may already connect) then authorize_begin. */
static int begin_with(struct flowkit *k, vap_error *err, const char *issuer, const char *fhir,
                      const char *ca, const char *store)
{
    vap_instance *in = NULL;
    vap_authorize_begin_result *b = NULL;
    int rc = flowkit_instance(k, &in, err, "issuer", issuer, "fhir_base", fhir, "ca_file", ca,
                              "store", store, NULL);
    if (rc == VAP_OK) {
        VAP_INIT(vap_error, *err);
        rc = k->api->authorize_begin(in, NULL, NULL, &b, err);
        k->api->release(b);
        k->api->instance_free(in);
    }
    return rc;
}

static int same_host_and_ca_work(struct flowkit *k)
{
    vap_error err;
    int rc = begin_with(k, &err, k->issuer, k->fhir_base, sim_ca_path(k->sim), k->store);
    AFK_CHECK(rc == VAP_OK, "rc %d: %s", rc, err.message);
    return 0;
}

static int untrusted_ca_is_refused(struct flowkit *k)
{
    vap_error err;
    long before = flowkit_counter(k, "routes.openid-configuration");
    int rc = begin_with(k, &err, k->issuer, k->fhir_base, sim_ca_path(other), k->store);
    AFK_CHECK(rc == VAP_E_TLS, "rc %d: %s", rc, err.message);
    AFK_CHECK(strstr(err.message, "certificate") != NULL, "%s", err.message);
    AFK_CHECK(flowkit_counter(k, "routes.openid-configuration") == before,
              "a request reached the server");
    unsigned char now[32];
    AFK_CHECK(afk_store_digest(k->store, now) == 0 && memcmp(now, baseline, 32) == 0,
              "the store changed");
    return 0;
}

static int host_name_not_in_certificate_is_refused(struct flowkit *k)
{
    char issuer[192], fhir[192];
    vap_error err;
    snprintf(issuer, sizeof issuer, "https://localhost:%u/oauth2/default", sim_port(k->sim));
    snprintf(fhir, sizeof fhir, "https://localhost:%u/apis/default/fhir", sim_port(k->sim));
    char store[256];
    unsigned char sd[32], sd2[32];
    /* the secret is sealed for the issuer as configured, localhost and all */
    AFK_CHECK(afk_second_store(k, "store-localhost", issuer, FLOW_CLIENT_ID, FLOW_SECRET, store,
                               sizeof store) == 0 && afk_store_digest(store, sd) == 0, "store");
    long before = flowkit_counter(k, "routes.openid-configuration");
    int rc = begin_with(k, &err, issuer, fhir, sim_ca_path(k->sim), store);
    AFK_CHECK(rc == VAP_E_TLS, "rc %d: %s", rc, err.message);
    AFK_CHECK(strstr(err.message, "certificate") != NULL && strstr(err.message, "localhost"),
              "%s", err.message);
    AFK_CHECK(flowkit_counter(k, "routes.openid-configuration") == before,
              "a request reached the server");
    AFK_CHECK(afk_store_digest(store, sd2) == 0 && memcmp(sd, sd2, 32) == 0, "the store changed");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct afk_case cases[] = {
        {"same_host_and_ca_work", same_host_and_ca_work},
        {"untrusted_ca_is_refused", untrusted_ca_is_refused},
        {"host_name_not_in_certificate_is_refused", host_name_not_in_certificate_is_refused},
    };
    struct flowkit k;
    sim_config cfg, ocfg;
    char errbuf[256];
    if (argc < 2)
        return 1;
    flowkit_sim_defaults(&cfg);
    cfg.tls_ip_only = 1;
    if (flowkit_start(&k, argv[1], &cfg) != 0)
        return 1;
    sim_config_init(&ocfg);
    ocfg.quiet = 1;
    ocfg.patients = 1;
    if (sim_start(&ocfg, &other, errbuf, sizeof errbuf) != 0 ||
        afk_store_digest(k.store, baseline) != 0) {
        printf("set-up: %s\n", errbuf);
        flowkit_stop(&k);
        return 1;
    }
    int exit_code = afk_run(&k, cases, sizeof cases / sizeof cases[0], argc > 2 ? argv[2] : NULL);
    sim_stop(other);
    flowkit_stop(&k);
    return exit_code;
}
