/* client_key.c - the sealed signing key for private_key_jwt (see
 * client_key.h).  Read afresh for every assertion: a vap-seal promote takes
 * effect at the next token request, and the private key is in memory only
 * for the few milliseconds of one signature. */
#include "oauth/client_key.h"

#include <string.h>

#include "clientkey.h"
#include "core/errors.h"
#include "jose/jose.h"

int client_key_present(struct secrets *s, const struct config *cfg)
{
    seal_header h;
    seal_err se = {0};
    vap_error e = {0};
    if (secrets_ensure_open(s, cfg, &e) != VAP_OK)
        return 0;
    pthread_mutex_lock(&s->mu);
    int ok = seal_store_header(s->store, CKEY_ITEM, &h, &se) == SEAL_OK;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

int client_key_set_read(struct secrets *s, const struct config *cfg, const char *client_id,
                        struct ckey_set *out, vap_error *err)
{
    seal_binding bind = {cfg->issuer, client_id};
    seal_err se = {0};
    int rc = secrets_ensure_open(s, cfg, err);
    memset(out, 0, sizeof *out);
    if (rc != VAP_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = secrets_plain_take(s, err)) != VAP_OK) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    /* Items are replaced by rename, so a read without the item's lock sees
     * one whole key set. */
    int r = seal_store_read(s->store, s->ring, CKEY_ITEM, &bind, s->plain, &se);
    if (r == SEAL_E_KEY_UNKNOWN) { /* re-sealed by a rotate-key since the ring was read */
        seal_keyring *fresh = NULL;
        if (seal_keyring_load(cfg->keyring, seal_store_owner(s->store), &fresh, &se) == SEAL_OK) {
            seal_keyring_free(s->ring);
            s->ring = fresh;
            r = seal_store_read(s->store, s->ring, CKEY_ITEM, &bind, s->plain, &se);
        }
    }
    int pr = r == SEAL_OK
                 ? ckey_set_parse(seal_secret_data(s->plain), seal_secret_size(s->plain), out)
                 : CKEY_E_FORMAT;
    secrets_plain_give(s);
    pthread_mutex_unlock(&s->mu);
    if (r == SEAL_E_NOENT)
        return err_set(
            err, VAP_E_CONFIG,
            "client_auth=private_key_jwt, but no signing key is sealed in %s: run vap-seal "
            "keygen -c CONFIG and register the output of vap-seal jwks with OpenEMR",
            cfg->store);
    if (r == SEAL_E_BINDING)
        return err_set(err, VAP_E_SEAL,
                       "the signing key sealed in %.100s belongs to another client than "
                       "client_id=%.64s (or to none yet, made before registration): on a line "
                       "without client_id, vap-host register --backend ties it to the client it "
                       "registers",
                       cfg->store, client_id ? client_id : "(none)");
    if (r != SEAL_OK)
        return secrets_map_error(&se, err);
    if (pr != CKEY_OK || ckey_set_find(out, CKEY_CURRENT) == NULL) {
        ckey_set_clear(out);
        return err_set(err, VAP_E_SEAL,
                       "%s/%s holds no usable signing key: run vap-seal keygen again", cfg->store,
                       CKEY_ITEM);
    }
    return VAP_OK;
}

int client_key_load(struct secrets *s, const struct config *cfg, struct client_signer *out,
                    vap_error *err)
{
    struct ckey_set set;
    char jwk[CKEY_JWK_MAX];
    memset(out, 0, sizeof *out);
    int rc = client_key_set_read(s, cfg, cfg->client_id, &set, err);
    if (rc != VAP_OK)
        return rc;
    const struct ckey_entry *cur = ckey_set_find(&set, CKEY_CURRENT);
    out->alg = cur->alg == CKEY_RS384 ? JOSE_RS384 : JOSE_ES384;
    if (ckey_import(cur->der, cur->der_len, &out->key) != CKEY_OK ||
        ckey_public_jwk(out->key, cur->alg, jwk, sizeof jwk, out->kid) != CKEY_OK) {
        ckey_set_clear(&set);
        client_signer_free(out);
        return err_set(err, VAP_E_SEAL,
                       "the sealed signing key in %s/%s does not load: run vap-seal keygen again",
                       cfg->store, CKEY_ITEM);
    }
    ckey_set_clear(&set);
    return VAP_OK;
}

void client_signer_free(struct client_signer *k)
{
    if (k->key != NULL)
        gnutls_privkey_deinit(k->key);
    memset(k, 0, sizeof *k);
}
