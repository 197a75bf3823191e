/* register_backend.c - register_client for SMART Backend Services
 * (grant=client_credentials, OPENEMR.md §11): a confidential client with
 * grant_types ["client_credentials"], private_key_jwt and the configured
 * system/ scopes, holding the public half of the key vap-seal keygen sealed.
 *
 * The key comes first: without one nothing is sent.  With a jwks_uri, the
 * URL is read before registering, as OpenEMR will read it, so a client is
 * never created whose key OpenEMR cannot find.  Once OpenEMR answers, the
 * same key set is sealed again bound to the new client_id; the secret
 * OpenEMR issues to every confidential client is wiped unused. */
#include "admin/register.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admparse.h"
#include "admin/probe.h"
#include "core/errors.h"
#include "core/log.h"
#include "http/http.h"
#include "instance.h"
#include "oauth/authorize.h"
#include "oauth/client_key.h"
#include "oauth/secrets.h"

#define BACKEND_STEPS_MAX 900

static json_t *public_keys(const struct ckey_set *set, char kid[CKEY_KID_MAX]);
static int uri_ok(const char *uri);
static char *backend_body(const struct config *cfg, const char *name, json_t *keys,
                          const char *jwks_uri);
static void backend_steps(const char *name, const char *client_id, char *out, size_t cap);

int register_backend(struct vap_instance *inst, const char *client_name, const char *jwks_uri,
                     int64_t deadline_ms, vap_cancel *cancel, vap_register_result **out,
                     vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    struct ckey_set set;
    struct authz_endpoints ep;
    struct http_response rs;
    struct adm_reg reg;
    char kid[CKEY_KID_MAX] = "", *body = NULL, *secret = NULL;
    size_t secret_len = 0;
    json_t *keys = NULL;
    int rc;

    http_response_init(&rs);
    if (jwks_uri != NULL && !uri_ok(jwks_uri))
        return err_set(err, VAP_E_INVAL,
                       "--jwks-uri must be an https URL without spaces or a #fragment, where "
                       "OpenEMR can read the output of vap-seal jwks");
    rc = client_key_set_read(&inst->secrets, cfg, NULL, &set, err);
    if (rc == VAP_E_CONFIG)
        return err_set(err, VAP_E_CONFIG,
                       "no signing key is sealed in %.100s yet: run vap-seal keygen -c CONFIG "
                       "first (register --backend sends OpenEMR the public half of that key)",
                       cfg->store);
    if (rc != VAP_OK)
        return rc;
    if ((keys = public_keys(&set, kid)) == NULL) {
        rc = err_set(err, VAP_E_SEAL,
                     "the sealed signing key in %.100s does not load: run vap-seal verify",
                     cfg->store);
        goto out;
    }
    if ((rc = authz_endpoints(inst, deadline_ms, cancel, 0, &ep, err)) != VAP_OK)
        goto out;
    if (ep.registration[0] == '\0') {
        rc = err_set(err, VAP_E_UNSUPPORTED,
                     "the server does not advertise a registration endpoint: register the "
                     "backend client by hand in OpenEMR (client_credentials, private_key_jwt, "
                     "the system/ scopes and the output of vap-seal jwks)");
        goto out;
    }
    if (jwks_uri != NULL) {
        int found = 0;
        vap_error ue;
        VAP_INIT(vap_error, ue);
        if (probe_jwks_uri(inst, jwks_uri, kid, deadline_ms, cancel, &found, &ue) != VAP_OK) {
            rc = err_set(err, VAP_E_CONFIG,
                         "nothing was registered: %.150s; publish the output of vap-seal jwks "
                         "there first",
                         ue.message);
            goto out;
        }
        if (!found) {
            rc = err_set(err, VAP_E_CONFIG,
                         "nothing was registered: %.100s does not list the sealed key (kid "
                         "%.43s); publish the output of vap-seal jwks there first",
                         jwks_uri, kid);
            goto out;
        }
    }
    if ((body = backend_body(cfg, client_name, keys, jwks_uri)) == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory building the registration request");
        goto out;
    }
    if ((rc = register_post(inst, ep.registration, body, jwks_uri == NULL, deadline_ms, cancel,
                            &rs, err)) != VAP_OK)
        goto out;
    if ((secret = sodium_malloc(SECRETS_CLIENT_SECRET_MAX + 1)) == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory for the registration answer");
        goto out;
    }
    rc = adm_reg_parse(rs.body, rs.body_len, &reg, secret, SECRETS_CLIENT_SECRET_MAX + 1,
                       &secret_len, err);
    http_response_free(&rs); /* wipes the body, which held the issued secret */
    if (rc != VAP_OK)
        goto out;
    seal_err se = {0};
    if (register_seal_key(inst, &set, reg.client_id, &se) != 0) {
        rc = err_set(err, VAP_E_SEAL,
                     "OpenEMR registered client %.64s but the key could not be tied to it "
                     "(%.100s): fix the store, delete that client in Administration > System > "
                     "API Clients, and register again",
                     reg.client_id, se.message);
        goto out;
    }
    plog(VAP_LOG_INFO, "registered backend client %s with signing key %s (%s); no secret kept",
         reg.client_id, kid, jwks_uri ? "jwks_uri" : "jwks inline");
    /* OpenEMR creates every confidential client with system/ scopes
     * disabled, and its answer does not say so (§3). */
    char steps[BACKEND_STEPS_MAX];
    backend_steps(client_name, reg.client_id, steps, sizeof steps);
    rc = register_result(reg.client_id, steps, 0, kid, out, err);
out:
    if (secret != NULL)
        sodium_free(secret); /* wipes */
    http_response_free(&rs);
    free(body);
    json_decref(keys);
    ckey_set_clear(&set);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------- */

/* The public JWKs of the signing key and the next one (a rotation under
 * way publishes both); the signing key's kid into kid.  NULL on failure. */
static json_t *public_keys(const struct ckey_set *set, char kid[CKEY_KID_MAX])
{
    static const int roles[] = {CKEY_CURRENT, CKEY_NEXT};
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < sizeof roles / sizeof roles[0]; i++) {
        const struct ckey_entry *e = ckey_set_find(set, roles[i]);
        gnutls_privkey_t k = NULL;
        char jwk[CKEY_JWK_MAX], this_kid[CKEY_KID_MAX];
        if (e == NULL)
            continue;
        int ok = ckey_import(e->der, e->der_len, &k) == CKEY_OK &&
                 ckey_public_jwk(k, e->alg, jwk, sizeof jwk, this_kid) == CKEY_OK;
        if (k != NULL)
            gnutls_privkey_deinit(k);
        json_t *o = ok ? json_loads(jwk, 0, NULL) : NULL;
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (roles[i] == CKEY_CURRENT)
            memcpy(kid, this_kid, CKEY_KID_MAX);
    }
    return arr;
}

static int uri_ok(const char *uri)
{
    size_t n = strnlen(uri, AUTHZ_URL_MAX);
    if (n >= AUTHZ_URL_MAX || n <= 8 || strncmp(uri, "https://", 8) != 0 || uri[8] == '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f || uri[i] == '#')
            return 0;
    return 1;
}

static char *backend_body(const struct config *cfg, const char *name, json_t *keys,
                          const char *jwks_uri)
{
    /* application_type "private" makes a confidential client, which
     * client_credentials needs; OpenEMR requires redirect_uris even for a
     * client that never redirects. */
    json_t *o = json_pack("{s:s,s:s,s:[s],s:[s],s:s,s:s}", "application_type", "private",
                          "client_name", name, "redirect_uris", cfg->redirect_uri, "grant_types",
                          "client_credentials", "token_endpoint_auth_method", "private_key_jwt",
                          "scope", cfg->scope);
    int bad = o == NULL;
    if (!bad && jwks_uri != NULL)
        bad = json_object_set_new(o, "jwks_uri", json_string(jwks_uri)) != 0;
    else if (!bad)
        bad = json_object_set_new(o, "jwks", json_pack("{s:O}", "keys", keys)) != 0;
    char *body = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return body;
}

static void backend_steps(const char *name, const char *client_id, char *out, size_t cap)
{
    snprintf(out, cap,
             "OpenEMR creates a backend services client disabled until an administrator "
             "approves it. To enable it: log in to OpenEMR as an administrator; open "
             "Administration > System > API Clients; find \"%.64s\" (client id %.12s...); click "
             "Edit; tick Enable and save. Also keep \"Enable OpenEMR FHIR System Scopes\" "
             "(rest_system_scopes_api) switched on in Administration > Config > Connectors: "
             "while it is off, OpenEMR refuses every system/ scope. Then run: vap-host check",
             name, client_id);
}
