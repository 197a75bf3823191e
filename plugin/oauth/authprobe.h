/* authprobe.h - "does the authorization endpoint know this client, redirect
 * URI and scope?", asked without a browser session, so nothing is logged in,
 * consented or spent.  authorize asks it before it hands out a URL (a
 * redirect URI OpenEMR does not know would otherwise leave the staff member
 * at an error page and the host waiting); check asks it too. */
#ifndef VAP_AUTHPROBE_H
#define VAP_AUTHPROBE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

struct vap_instance;

enum probe_authz_verdict {
    PROBE_AUTHZ_ACCEPTED = 0,  /* client, redirect URI and scope accepted   */
    PROBE_AUTHZ_CLIENT = 1,    /* OpenEMR's invalid_client (a JSON body, not
                                  just a 401): unknown client_id, or a
                                  redirect URI it was not registered with    */
    PROBE_AUTHZ_SCOPE = 2,     /* the scope was refused (detail names it)   */
    PROBE_AUTHZ_UNCLEAR = 3    /* the server's answer does not tell         */
};

/* GET the authorization endpoint with client_id, redirect_uri and scope, a
 * state, and a random S256 code challenge, without a browser session.
 * OpenEMR answers an unknown client or a redirect URI other than the
 * registered one with 401 invalid_client (a page, no redirect), an unknown
 * scope with a redirect to redirect_uri carrying error=invalid_scope, and a
 * good request with a redirect to its login page on the endpoint's own
 * origin (a 401 without that JSON, or a redirect to another host, scheme or
 * port, is a proxy or an SSO in front: unclear) (a server that approves at
 * once, like the simulator's auto-approve, redirects to redirect_uri with a
 * code, which is neither read nor kept).  Returns VAP_OK with *verdict and
 * detail, or the transport error. */
int probe_authorize(struct vap_instance *inst, const char *authorization_url,
                    const char *client_id, const char *redirect_uri, const char *scope,
                    int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                    size_t detail_cap, vap_error *err);

#endif
