/* register.h - dynamic client registration for the admin path (the ABI's
 * register_client): a confidential client is created at the server's
 * registration endpoint and its secret is sealed straight into the store. */
#ifndef VAP_REGISTER_H
#define VAP_REGISTER_H

#include <vap/plugin.h>

struct vap_instance;

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

#endif
