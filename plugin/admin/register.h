/* register.h - dynamic client registration for the admin path (the ABI's
 * register_client): a confidential client is created at the server's
 * registration endpoint and its secret is sealed straight into the store. */
#ifndef VAP_REGISTER_H
#define VAP_REGISTER_H

#include <stdint.h>
#include <vap/plugin.h>

#include "clientkey.h"
#include "vapseal.h"

struct vap_instance;
struct http_response;

#define REGISTER_DEFAULT_NAME "Voice AI Platform"
#define REGISTER_NAME_MAX 128

/* The ABI function (plugin.h).  Any thread; inst must have no client_id.
 * The store and keyring are opened before anything is sent, so a client is
 * never created whose secret could not be kept. */
int register_client(struct vap_instance *inst, const vap_call *call,
                    const vap_register_request *req, vap_register_result **out,
                    vap_error *err);

/* The steps that enable a client an OpenEMR admin must approve, for
 * client_name/client_id, into out (cap bytes). */
void register_enable_steps(const char *client_name, const char *client_id, int by_rule,
                           char *out, size_t cap);

/* register_client for grant=client_credentials (register_backend.c): the
 * sealed key's public half registered inline, or jwks_uri (which must
 * already serve it), then the key bound to the new client_id.  The store
 * is open. */
int register_backend(struct vap_instance *inst, const char *client_name, const char *jwks_uri,
                     int64_t deadline_ms, vap_cancel *cancel, vap_register_result **out,
                     vap_error *err);

/* POST the JSON body to the registration endpoint url, never retried; a
 * refusal becomes the message that fixes it (inline_jwks: the body carries
 * the key inline, which some OpenEMR versions refuse). */
int register_post(struct vap_instance *inst, const char *url, const char *body, int inline_jwks,
                  int64_t deadline_ms, vap_cancel *cancel, struct http_response *rs,
                  vap_error *err);

/* Seal the key set as client_key bound to the issuer and client_id. */
int register_seal_key(struct vap_instance *inst, const struct ckey_set *set,
                      const char *client_id, seal_err *se);

/* The result object (copies of the strings) into *out. */
int register_result(const char *client_id, const char *steps, int enabled, const char *key_id,
                    vap_register_result **out, vap_error *err);

#endif
