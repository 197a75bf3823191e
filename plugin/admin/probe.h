/* probe.h - questions the admin path asks the server without side effects:
 * "does the token endpoint accept these client credentials?" and "does the
 * authorization endpoint know this client, redirect URI and scope?".  Both
 * send a request that is refused in any case (a made-up code; a PKCE method
 * OpenEMR rejects), so no code, token or grant is ever created or spent, and
 * read *how* it is refused. */
#ifndef VAP_PROBE_H
#define VAP_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

struct vap_instance;

enum probe_token_verdict {
    PROBE_TOKEN_ACCEPTED = 0, /* credentials good, client enabled (the made-up
                                 code was refused as a code)              */
    PROBE_TOKEN_REJECTED = 1, /* invalid_client: unknown client, wrong secret,
                                 or a disabled client                     */
    PROBE_TOKEN_UNCLEAR = 2   /* some other answer: see detail            */
};

/* POST grant_type=authorization_code with a random code that cannot exist,
 * authenticated as client_id/secret (auth_method DISC_AUTH_BASIC or
 * DISC_AUTH_POST).  OpenEMR authenticates the client before it looks at
 * the code, so invalid_client means the client, and invalid_request or
 * invalid_grant means the client passed.  Returns VAP_OK with *verdict and
 * a one-line detail (what the server answered), or the transport error. */
int probe_token(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                const char *client_id, const char *secret, const char *redirect_uri,
                int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                size_t detail_cap, vap_error *err);

enum probe_authz_verdict {
    PROBE_AUTHZ_ACCEPTED = 0,  /* client, redirect URI and scope accepted   */
    PROBE_AUTHZ_CLIENT = 1,    /* 401 invalid_client: unknown client_id, or a
                                  redirect URI it was not registered with    */
    PROBE_AUTHZ_SCOPE = 2,     /* the scope was refused (detail names it)   */
    PROBE_AUTHZ_UNCLEAR = 3    /* the server's answer does not tell         */
};

/* GET the authorization endpoint with client_id, redirect_uri and scope, a
 * state, and a code challenge with method "plain", which OpenEMR refuses
 * (400) only after it has accepted the client, redirect URI and scopes.
 * Returns VAP_OK with *verdict and detail, or the transport error. */
int probe_authorize(struct vap_instance *inst, const char *authorization_url,
                    const char *client_id, const char *redirect_uri, const char *scope,
                    int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                    size_t detail_cap, vap_error *err);

#endif
