/* check_key.c - check's "client" item when the client signs its token
 * requests (client_auth=private_key_jwt): the sealed key loads, and OpenEMR
 * authenticates an assertion signed with it on a renewal with a made-up
 * refresh token (probe.h: the client is validated before the token is). */
#include <stdio.h>

#include "admin/check.h"
#include "admin/probe.h"
#include "core/errors.h"
#include "instance.h"
#include "oauth/client_key.h"
#include "oauth/discovery.h"

void check_client_key(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                      const struct check_state *st, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    struct client_signer k;
    char detail[128], kid[sizeof k.kid];
    int verdict = PROBE_CLIENT_UNCLEAR;
    vap_error e;
    VAP_INIT(vap_error, e);
    int rc = client_key_load(&inst->secrets, cfg, &k, &e);
    snprintf(kid, sizeof kid, "%s", k.kid);
    client_signer_free(&k);
    if (rc != VAP_OK) {
        check_add(l, "client", VAP_CHECK_FAIL, rc, "%s", e.message);
        return;
    }
    rc = probe_client(inst, st->ep.token, DISC_AUTH_PRIVATE_KEY_JWT, cfg->client_id, NULL,
                      deadline, cancel, &verdict, detail, sizeof detail, &e);
    if (rc != VAP_OK)
        check_add(l, "client", VAP_CHECK_FAIL, rc,
                  "the token request signed with key %s failed: %s", kid, e.message);
    else if (verdict == PROBE_CLIENT_ENABLED)
        check_add(l, "client", VAP_CHECK_PASS, VAP_OK,
                  "OpenEMR accepts client_id=%.64s signing with the sealed key %s, and the client "
                  "is enabled",
                  cfg->client_id, kid);
    else if (verdict == PROBE_CLIENT_REJECTED)
        check_add(l, "client", VAP_CHECK_FAIL, VAP_E_CLIENT,
                  "OpenEMR refused the assertion signed with key %s (%s): register the output of "
                  "vap-seal jwks for client_id=%.64s, enable the client in Administration > System "
                  "> API Clients, and check this machine's clock",
                  kid, detail, cfg->client_id);
    else
        check_add(l, "client", VAP_CHECK_UNKNOWN, VAP_OK,
                  "unknown: the token endpoint's answer (%s) does not tell whether the signed "
                  "assertion is accepted; the first authorization will",
                  detail);
}
