/* token.h - one POST to the token endpoint, the way every grant type sends
 * it: the caller's form (grant fields), client authentication added (HTTP
 * Basic or client_secret_post, as discovery and client_auth chose), JSON
 * asked for, the answer capped.  Retries and reading the answer are the
 * caller's: a code exchange must never be retried, a refresh may be. */
#ifndef VAP_TOKEN_H
#define VAP_TOKEN_H

#include <stdint.h>
#include <vap/plugin.h>

struct http_client;
struct http_form;
struct http_response;

/* auth_method is DISC_AUTH_BASIC, DISC_AUTH_POST or DISC_AUTH_PRIVATE_KEY_JWT
 * (the caller has put the assertion in form; secret is ignored).  form holds the grant's
 * fields; client_id/client_secret are added to it for POST auth (it is a
 * wiped buffer: http_form).  On VAP_OK, rs holds an answer of any status. */
int token_post(struct http_client *http, const char *token_url, unsigned auth_method,
               const char *client_id, const char *secret, struct http_form *form,
               int64_t deadline_ms, vap_cancel *cancel, struct http_response *rs, vap_error *err);

struct vap_instance;

/* For a caller whose secrets_client_secret failed with rc: when client_auth
 * is auto and a signing key is sealed, the error says to set
 * client_auth=private_key_jwt instead (servers such as OpenEMR do not list
 * it in their OpenID configuration).  Returns rc. */
int token_no_secret(struct vap_instance *inst, int rc, vap_error *err);

/* token_post with the instance's own credential: the sealed client secret
 * (Basic or post), or for DISC_AUTH_PRIVATE_KEY_JWT a fresh assertion (RFC
 * 7523) signed with the sealed key, sent as client_assertion_type and
 * client_assertion.  Every call signs a new one, so a retried request is
 * never a replayed jti.  A server that refuses the assertion (invalid_client)
 * is VAP_E_CLIENT naming the key and what to check. */
int token_post_client(struct vap_instance *inst, const char *token_url, unsigned auth_method,
                      struct http_form *form, int64_t deadline_ms, vap_cancel *cancel,
                      struct http_response *rs, vap_error *err);

#endif
