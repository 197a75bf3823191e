/* probe.h - questions the admin path asks the server without side effects,
 * chosen because OpenEMR answers them truthfully (OPENEMR.md §12):
 * "is this client known and enabled?" (a refresh with a made-up refresh
 * token) and "does the authorization endpoint know this client, redirect URI
 * and scope?" (an S256 authorization request with no browser session).
 * Nothing is created or spent: the refresh token names no grant, and no one
 * logs in.  What no request can tell without a user (whether OpenEMR accepts
 * the secret: it checks it only when a real code is exchanged, never on
 * refresh) is left to the caller to call unknown.  Also the public key
 * document a backend client's jwks_uri serves, read as OpenEMR reads it. */
#ifndef VAP_PROBE_H
#define VAP_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "oauth/authprobe.h"

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

/* GET the JWKS at url (a jwks_uri, ADM_BODY_CAP) and look for a key whose
 * kid is kid.  VAP_OK with *found 1 or 0 when the answer is a JSON Web Key
 * Set; otherwise an error whose message names the URL and what it answered
 * (the transport's error, an HTTP status, or "not a JWKS"). */
int probe_jwks_uri(struct vap_instance *inst, const char *url, const char *kid,
                   int64_t deadline_ms, vap_cancel *cancel, int *found, vap_error *err);

#endif
