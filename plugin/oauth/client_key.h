/* client_key.h - the client's sealed signing key (vap-seal keygen) as the
 * token requests use it: loaded from the store for each assertion, held in
 * GnuTLS memory (wiped on deinit) only while it signs. */
#ifndef VAP_CLIENT_KEY_H
#define VAP_CLIENT_KEY_H

#include <gnutls/abstract.h>
#include <vap/plugin.h>

#include "clientkey.h"
#include "core/config.h"
#include "oauth/secrets.h"

struct client_signer {
    gnutls_privkey_t key;
    int alg;      /* JOSE_RS384 or JOSE_ES384 */
    char kid[64]; /* RFC 7638 thumbprint of its public half */
};

/* 1 when a key set is sealed as client_key (a cheap header read), else 0. */
int client_key_present(struct secrets *s, const struct config *cfg);

/* Unseals the key set bound to the issuer and client_id (NULL: to any
 * client, as before registration) into out (ckey_set_clear frees).
 * VAP_E_CONFIG naming vap-seal keygen when none is sealed; VAP_E_SEAL when
 * it does not open or holds no current key. */
int client_key_set_read(struct secrets *s, const struct config *cfg, const char *client_id,
                        struct ckey_set *out, vap_error *err);

/* Unseals the key set and imports its current key into out.  VAP_E_CONFIG
 * naming vap-seal keygen when none is sealed; VAP_E_SEAL when it does not
 * open. */
int client_key_load(struct secrets *s, const struct config *cfg, struct client_signer *out,
                    vap_error *err);
void client_signer_free(struct client_signer *k);

#endif
