/* register.c - register_client: RFC 7591 registration the way OpenEMR
 * makes a confidential client (OPENEMR.md §3).
 *
 * Order matters: the store is opened first (a secret that cannot be sealed
 * must not be asked for), the secret goes from the response body into
 * secure memory and from there into the sealed file.  Whether the client
 * is enabled comes from a harmless renewal with a made-up refresh token
 * (probe.h), which a disabled client fails, and, when that answer does not
 * tell, from OpenEMR's rule (user/ and system/ scopes: disabled).
 *
 * With client_auth=private_key_jwt no secret is kept: a signing key is made
 * first, its public JWKS goes into the registration, and its private half is
 * sealed as client_key under the client_id OpenEMR returns.  The secret
 * OpenEMR issues anyway is used once, for that probe, and wiped.
 *
 * grant=client_credentials registers a backend services client instead
 * (register_backend.c), with the key vap-seal keygen sealed beforehand. */
#include "admin/register.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admparse.h"
#include "oauth/authorize.h"
#include "core/errors.h"
#include "http/http.h"
#include "instance.h"
#include "core/log.h"
#include "core/object.h"
#include "admin/probe.h"
#include "clientkey.h"
#include "oauth/secrets.h"
#include "core/scope.h"
#include "oauth/tokenresp.h"

#define REGISTER_STEPS_MAX 768

static int build_body(const struct config *cfg, const char *name, const char *jwk, char **body);
static int make_key(struct ckey_set *set, char *jwk, size_t cap, char kid[CKEY_KID_MAX]);
static int name_ok(const char *name);
static void result_dtor(void *obj);

int register_client(struct vap_instance *inst, const vap_call *call,
                    const vap_register_request *req, vap_register_result **out,
                    vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    int64_t deadline = authz_deadline(inst, call);
    vap_cancel *cancel = authz_cancel(call);
    struct authz_endpoints ep;
    struct http_response rs;
    struct adm_reg reg;
    char *body = NULL, *secret = NULL;
    size_t secret_len = 0;
    struct ckey_set keys = {0};
    char jwk[CKEY_JWK_MAX], kid[CKEY_KID_MAX] = "";
    int pkjwt = cfg->client_auth == CLIENT_AUTH_PRIVATE_KEY_JWT;
    int rc;

    http_response_init(&rs);
    const char *name = (req != NULL && VAP_HAS(req, client_name) && req->client_name != NULL)
                           ? req->client_name
                           : REGISTER_DEFAULT_NAME;
    if (!name_ok(name))
        return err_set(err, VAP_E_INVAL, "the client name must be 1 to %d printable characters",
                       REGISTER_NAME_MAX);
    if (cfg->client_id != NULL)
        return err_set(err, VAP_E_CONFIG,
                       "this instance already has client_id=%.80s: to register a new client, "
                       "remove client_id= from the config line first (and delete the old client "
                       "in Administration > System > API Clients)", cfg->client_id);
    const char *jwks_uri =
        req != NULL && VAP_HAS(req, jwks_uri) ? req->jwks_uri : NULL;
    if (jwks_uri != NULL && cfg->grant != CONFIG_GRANT_CLIENT_CREDENTIALS)
        return err_set(err, VAP_E_INVAL,
                       "a jwks_uri is registered for backend services only: add "
                       "grant=client_credentials client_auth=private_key_jwt to the config line");
    if ((rc = secrets_ensure_open(&inst->secrets, cfg, err)) != VAP_OK)
        return rc;
    if (cfg->grant == CONFIG_GRANT_CLIENT_CREDENTIALS)
        return register_backend(inst, name, jwks_uri, deadline, cancel, out, err);
    if ((rc = authz_endpoints(inst, deadline, cancel, 0, &ep, err)) != VAP_OK)
        return rc;
    if (ep.registration[0] == '\0')
        return err_set(err, VAP_E_UNSUPPORTED,
                       "the server does not advertise a registration endpoint: register the "
                       "client by hand (Administration > System > API Clients), then seal its "
                       "secret with vap-seal put client_secret and add client_id= to the config");
    if (pkjwt && make_key(&keys, jwk, sizeof jwk, kid) != 0)
        return err_set(err, VAP_E_IO, "GnuTLS could not make the signing key");
    if ((rc = build_body(cfg, name, pkjwt ? jwk : NULL, &body)) != VAP_OK) {
        ckey_set_clear(&keys);
        return err_set(err, rc, "out of memory building the registration request");
    }
    if ((rc = register_post(inst, ep.registration, body, 0, deadline, cancel, &rs, err)) !=
        VAP_OK)
        goto out;
    secret = sodium_malloc(SECRETS_CLIENT_SECRET_MAX + 1);
    if (secret == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory for the client secret");
        goto out;
    }
    rc = adm_reg_parse(rs.body, rs.body_len, &reg, secret, SECRETS_CLIENT_SECRET_MAX + 1,
                       &secret_len, err);
    http_response_free(&rs); /* wipes the body, which held the secret */
    if (rc != VAP_OK)
        goto out;

    seal_binding bind = {cfg->issuer, reg.client_id};
    seal_err se = {0};
    int kept = 0; /* a secret registered before is kept as client_secret.previous */
    if (pkjwt ? register_seal_key(inst, &keys, reg.client_id, &se) != 0
              : seal_store_put_keep(inst->secrets.store, cfg->keyring, SECRETS_CLIENT_SECRET_ITEM,
                                    &bind, (const uint8_t *)secret, secret_len, 0, NULL, &kept,
                                    &se) != 0) {
        rc = err_set(err, VAP_E_SEAL,
                     "OpenEMR registered client %.64s but its secret could not be sealed (%.120s): "
                     "fix the store, delete that client in Administration > System > API "
                     "Clients, and register again", reg.client_id, se.message);
        goto out;
    }
    if (pkjwt)
        plog(VAP_LOG_INFO, "registered client %s with signing key %s sealed in %s; no secret kept",
             reg.client_id, kid, cfg->store);
    else
        plog(VAP_LOG_INFO, "registered client %s; its secret is sealed in %s%s", reg.client_id,
             cfg->store,
             kept ? " (the secret it replaced is kept as client_secret.previous)" : "");

    int verdict = PROBE_CLIENT_UNCLEAR;
    char detail[96];
    vap_error perr;
    VAP_INIT(vap_error, perr);
    /* the instance has no client_id to sign for yet: the issued secret asks */
    unsigned probe_auth =
        ep.auth_method == DISC_AUTH_PRIVATE_KEY_JWT ? DISC_AUTH_BASIC : ep.auth_method;
    if (probe_client(inst, ep.token, probe_auth, reg.client_id, secret, deadline, cancel,
                     &verdict, detail, sizeof detail, &perr) != VAP_OK)
        verdict = PROBE_CLIENT_UNCLEAR;
    /* OpenEMR creates a confidential client with user/ or system/ scopes
     * disabled, and its registration answer does not say so (§3, §12).  The
     * server's own answer comes first; the rule decides only when that
     * answer does not tell. */
    int needs_approval = scope_has_prefix(cfg->scope, "user/") ||
                         scope_has_prefix(cfg->scope, "system/");
    int enabled = verdict == PROBE_CLIENT_ENABLED    ? 1
                  : verdict == PROBE_CLIENT_REJECTED ? 0
                  : needs_approval                   ? 0
                                                     : -1;
    char steps[REGISTER_STEPS_MAX] = "";
    if (enabled == 0)
        register_enable_steps(name, reg.client_id, needs_approval, steps, sizeof steps);
    else if (enabled < 0)
        snprintf(steps, sizeof steps,
                 "Whether OpenEMR enabled the client is not known yet (%s): run vap-host "
                 "check; it is known for certain at the first authorization", 
                 detail[0] ? detail : perr.message);

    if ((rc = register_result(reg.client_id, steps, enabled, pkjwt ? kid : "", out, err)) !=
        VAP_OK)
        goto out;
    rc = VAP_OK;
out:
    ckey_set_clear(&keys);
    if (secret != NULL)
        sodium_free(secret); /* sodium_free wipes */
    http_response_free(&rs);
    free(body);
    return rc;
}

void register_enable_steps(const char *client_name, const char *client_id, int by_rule,
                           char *out, size_t cap)
{
    snprintf(out, cap,
             "%s To enable it: log in to OpenEMR as an "
             "administrator; open Administration > System > API Clients; find \"%.64s\" "
             "(client id %.12s...); click Edit; tick Enable and save. Then run: vap-host check",
             by_rule ? "OpenEMR creates a confidential client with user/ or system/ scopes "
                       "disabled until an administrator approves it."
                     : "OpenEMR created this client disabled (the practice approves every "
                       "new client by hand).",
             client_name, client_id);
}

/* ---- helpers ---------------------------------------------------------------- */

static int build_body(const struct config *cfg, const char *name, const char *jwk, char **body)
{
    /* application_type "private" is the only value that makes OpenEMR issue
     * a secret; "web" (RFC 7591) gives a public client. */
    const char *method = jwk                                     ? "private_key_jwt"
                         : cfg->client_auth == CLIENT_AUTH_BASIC ? "client_secret_basic"
                                                                 : "client_secret_post";
    json_t *o = json_pack("{s:s,s:s,s:[s],s:s,s:s}", "application_type", "private",
                          "client_name", name, "redirect_uris", cfg->redirect_uri, "scope",
                          cfg->scope, "token_endpoint_auth_method", method);
    json_t *key = jwk ? json_loads(jwk, 0, NULL) : NULL;
    if (o != NULL && key != NULL)
        json_object_set_new(o, "jwks", json_pack("{s:[o]}", "keys", key));
    else
        json_decref(key);
    *body = o && (!jwk || json_object_get(o, "jwks")) ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return *body ? VAP_OK : VAP_E_NOMEM;
}

/* An RS384 key (what OpenEMR verifies), its public JWK and kid. */
static int make_key(struct ckey_set *set, char *jwk, size_t cap, char kid[CKEY_KID_MAX])
{
    gnutls_privkey_t k = NULL;
    int ok = ckey_set_generate(set, CKEY_RS384, CKEY_CURRENT) == CKEY_OK &&
             ckey_import(set->k[0].der, set->k[0].der_len, &k) == CKEY_OK &&
             ckey_public_jwk(k, CKEY_RS384, jwk, cap, kid) == CKEY_OK;
    if (k != NULL)
        gnutls_privkey_deinit(k);
    if (!ok)
        ckey_set_clear(set);
    return ok ? 0 : -1;
}

int register_result(const char *client_id, const char *steps, int enabled, const char *key_id,
                    vap_register_result **out, vap_error *err)
{
    vap_register_result *res = obj_new(sizeof *res, result_dtor);
    if (res == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    res->client_id = obj_strdup(client_id);
    res->next_steps = obj_strdup(steps);
    res->key_id = obj_strdup(key_id);
    res->enabled = enabled;
    if (res->client_id == NULL || res->next_steps == NULL || res->key_id == NULL) {
        obj_release(res);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    *out = res;
    return VAP_OK;
}

int register_seal_key(struct vap_instance *inst, const struct ckey_set *set,
                      const char *client_id, seal_err *se)
{
    seal_binding bind = {inst->cfg.issuer, client_id};
    size_t len = 0, cap = 6 + CKEY_MAX_KEYS * (4 + CKEY_DER_MAX);
    uint8_t *img = sodium_malloc(cap);
    int rc = -1;
    if (img == NULL || ckey_set_serialize(set, img, cap, &len) != CKEY_OK)
        snprintf(se->message, sizeof se->message, "out of memory");
    else
        rc = seal_store_put(inst->secrets.store, inst->cfg.keyring, CKEY_ITEM, &bind, img, len,
                            NULL, se);
    if (img != NULL)
        sodium_free(img);
    return rc;
}

int register_post(struct vap_instance *inst, const char *url, const char *body, int inline_jwks,
                  int64_t deadline_ms, vap_cancel *cancel, struct http_response *rs,
                  vap_error *err)
{
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {
        .method = "POST",
        .url = url,
        .headers = accept,
        .n_headers = 1,
        .body = body,
        .body_len = strlen(body),
        .content_type = "application/json",
        .max_response = ADM_BODY_CAP,
        .deadline_ms = deadline_ms,
        .cancel = cancel,
    };
    /* Never retried: a lost answer after the server created the client
     * would create a second one. */
    int rc = http_request_do(inst->http, &rq, rs, err);
    if (rc != VAP_OK)
        return rc;
    if (rs->status >= 200 && rs->status <= 299)
        return VAP_OK;
    int st = rs->status;
    tokresp_error e;
    int parsed = tokresp_error_parse(rs->body, rs->body_len, &e) == VAP_OK;
    http_response_free(rs);
    err_set_http(err, st, 0, parsed ? e.error : NULL);
    if (st == 404)
        return err_set(err, VAP_E_CONFIG,
                       "the registration endpoint %s answered HTTP 404: check issuer=, and that "
                       "OpenEMR's FHIR API is enabled (Administration > Config > Connectors)",
                       url);
    if (inline_jwks && (st >= 500 || (parsed && strcmp(e.error, "invalid_client_metadata") == 0))) {
        /* Some OpenEMR versions cannot store an inline jwks; a jwks_uri works there. */
        char what[80];
        if (parsed)
            snprintf(what, sizeof what, "%.60s", e.error);
        else
            snprintf(what, sizeof what, "HTTP %d", st);
        return err_set(err, st >= 500 ? VAP_E_UNAVAILABLE : VAP_E_CONFIG,
                       "OpenEMR refused the public key sent inline (%s): some OpenEMR versions "
                       "cannot register an inline jwks; publish the output of vap-seal jwks at an "
                       "https URL OpenEMR can reach, then run vap-host register --backend "
                       "--jwks-uri URL",
                       what);
    }
    if (st >= 500 || st == 429)
        return err_set(err, VAP_E_UNAVAILABLE,
                       "the registration endpoint answered HTTP %d: try again later", st);
    if (parsed && strcmp(e.error, "invalid_scope") == 0 && scope_has_prefix(inst->cfg.scope, "system/"))
        return err_set(err, VAP_E_CONFIG,
                       "OpenEMR does not know the system/ scopes (%.60s): an OpenEMR "
                       "administrator must switch on \"Enable OpenEMR FHIR System Scopes\" "
                       "(rest_system_scopes_api, Administration > Config > Connectors); then "
                       "register again",
                       e.description[0] ? e.description : e.error);
    if (parsed && strcmp(e.error, "invalid_scope") == 0)
        return err_set(err, VAP_E_CONFIG,
                       "OpenEMR refused the scope (%s): fix scope= in the config (vap-host check "
                       "lists what this server accepts) and register again",
                       e.description[0] ? e.description : e.error);
    if (parsed && strcmp(e.error, "invalid_redirect_uri") == 0)
        return err_set(err, VAP_E_CONFIG, "OpenEMR refused the redirect URI (%s): fix "
                                          "redirect_uri= in the config",
                       e.description[0] ? e.description : e.error);
    if (parsed)
        return err_set(err, VAP_E_PROTOCOL, "OpenEMR refused the registration: %s%s%s", e.error,
                       e.description[0] ? ": " : "", e.description);
    return err_set(err, VAP_E_PROTOCOL, "the registration endpoint answered HTTP %d without "
                                        "an OAuth error", st);
}

static int name_ok(const char *name)
{
    size_t n = strnlen(name, REGISTER_NAME_MAX + 1);
    if (n == 0 || n > REGISTER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] == 0x7f)
            return 0;
    return 1;
}

static void result_dtor(void *obj)
{
    vap_register_result *r = obj;
    obj_strfree(r->client_id);
    obj_strfree(r->next_steps);
    obj_strfree(r->key_id);
}
