/* cold_plugin.c - cold start through the ABI as a host that links nothing
 * but the loader (libc, libdl): load vap_openemr.so, one instance over a
 * sealed grant (fetch-bench WORKDIR setup makes it), one fetch.  Beside
 * cold-curl, it is what a practice's process pays for the plugin at start.
 * Never a test: for hyperfine.
 * Usage: cold-plugin PLUGIN BASE CA_FILE WORKDIR BODY_BYTES */
#include <stdio.h>
#include <stdlib.h>

#include "loader.h"

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= VAP_LOG_WARN)
        fprintf(stderr, "plugin: %s\n", msg);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: cold-plugin PLUGIN BASE CA_FILE WORKDIR BODY_BYTES\n");
        return 2;
    }
    static vap_host_api host;
    const vap_plugin_api *api;
    char why[512], issuer[512], fhir[512], store[512], keyring[512];
    VAP_INIT(vap_host_api, host);
    host.log = host_log;
    if (vaploader_load(argv[1], &host, &api, why, sizeof why) != VAP_OK) {
        fprintf(stderr, "load: %s\n", why);
        return 1;
    }
    snprintf(issuer, sizeof issuer, "%s/oauth2/default", argv[2]);
    snprintf(fhir, sizeof fhir, "%s/apis/default/fhir", argv[2]);
    snprintf(store, sizeof store, "%s/store", argv[4]);
    snprintf(keyring, sizeof keyring, "%s/keyring", argv[4]);
    vap_option o[] = {{"issuer", issuer},   {"fhir_base", fhir}, {"client_id", "bench-client"},
                      {"ca_file", argv[3]}, {"store", store},    {"keyring", keyring},
                      {"scope", "openid offline_access api:fhir user/Patient.read"}};
    vap_instance *inst = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (api->instance_new(o, sizeof o / sizeof o[0], &inst, &err) != VAP_OK) {
        fprintf(stderr, "instance: %s\n", err.message);
        return 1;
    }
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    VAP_INIT(vap_fetch_request, req);
    req.path = "Patient/1";
    int rc = api->fetch(inst, NULL, &req, &resp, &err);
    int ok = rc == VAP_OK && resp != NULL && resp->body_len == strtoul(argv[5], NULL, 10);
    if (rc != VAP_OK)
        fprintf(stderr, "fetch: %s\n", err.message);
    api->release(resp);
    api->instance_free(inst);
    return ok ? 0 : 1;
}
