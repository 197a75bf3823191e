/* probe.h - questions the admin path asks the server without side effects,
 * chosen because OpenEMR answers them truthfully (OPENEMR.md §12):
 * "is this client known and enabled?" (a refresh with a made-up refresh
 * token) and "does the authorization endpoint know this client, redirect URI
 * and scope?" (an S256 authorization request with no browser session).
 * Nothing is created or spent: the refresh token names no grant, and no one
 * logs in.  What no request can tell without a user (whether OpenEMR accepts
 * the secret: it checks it only when a real code is exchanged, never on
 * refresh) is left to the caller to call unknown. */
#ifndef VAP_PROBE_H
#define VAP_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

struct vap_instance;

enum probe_client_verdict {
    PROBE_CLIENT_ENABLED = 0,  /* the client passed; the made-up refresh token
                                  was refused as a token                   */
    PROBE_CLIENT_REJECTED = 1, /* invalid_client: unknown or disabled client
                                  (or, on servers stricter than OpenEMR, a
                                  wrong secret)                            */
    PROBE_CLIENT_UNCLEAR = 2   /* some other answer: see detail            */
};

/* POST grant_type=refresh_token with a random refresh token that cannot
 * exist, authenticated as client_id/secret (auth_method DISC_AUTH_BASIC or
 * DISC_AUTH_POST).  OpenEMR's refresh grant (league/oauth2-server) validates
 * the client, enabled flag included, before it decrypts the refresh token;
 * it never checks the secret there.  So invalid_client means "unknown or
 * disabled" and "The refresh token is invalid." means known and enabled; it
 * says nothing about the secret.  Returns VAP_OK with *verdict and a
 * one-line detail (what the server answered), or the transport error. */
int probe_client(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                 const char *client_id, const char *secret, int64_t deadline_ms,
                 vap_cancel *cancel, int *verdict, char *detail, size_t detail_cap,
                 vap_error *err);

enum probe_authz_verdict {
    PROBE_AUTHZ_ACCEPTED = 0,  /* client, redirect URI and scope accepted   */
    PROBE_AUTHZ_CLIENT = 1,    /* 401 invalid_client: unknown client_id, or a
                                  redirect URI it was not registered with    */
    PROBE_AUTHZ_SCOPE = 2,     /* the scope was refused (detail names it)   */
    PROBE_AUTHZ_UNCLEAR = 3    /* the server's answer does not tell         */
};

/* GET the authorization endpoint with client_id, redirect_uri and scope, a
 * state, and a random S256 code challenge, without a browser session.
 * OpenEMR answers an unknown client or a redirect URI other than the
 * registered one with 401 invalid_client (a page, no redirect), an unknown
 * scope with a redirect to redirect_uri carrying error=invalid_scope, and a
 * good request with a redirect to its login page (a server that approves at
 * once, like the simulator's auto-approve, redirects to redirect_uri with a
 * code, which is neither read nor kept).  Returns VAP_OK with *verdict and
 * detail, or the transport error. */
int probe_authorize(struct vap_instance *inst, const char *authorization_url,
                    const char *client_id, const char *redirect_uri, const char *scope,
                    int64_t deadline_ms, vap_cancel *cancel, int *verdict, char *detail,
                    size_t detail_cap, vap_error *err);

#endif
