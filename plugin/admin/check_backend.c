/* check_backend.c - check's items for a backend services instance
 * (grant=client_credentials): the sealed key, whether the key is published
 * where OpenEMR reads it (known only for a jwks_uri), the system scopes
 * switch, and a real client_credentials token request.
 *
 * That request is the one thing that can tell whether OpenEMR takes the
 * client, its key and its scopes: OpenEMR authenticates the client (enabled
 * flag, assertion) before it looks at the scopes, so invalid_scope means
 * the client passed.  The token it issues is wiped at once, never kept or
 * shown; nothing else is created.  What no answer can tell is unknown. */
#include <stdio.h>
#include <string.h>

#include "admin/check.h"
#include "admin/probe.h"
#include "clientkey.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/scope.h"
#include "http/http.h"
#include "instance.h"
#include "oauth/client_key.h"
#include "oauth/discovery.h"
#include "oauth/token.h"
#include "oauth/tokenresp.h"

#define CLIENTS_PAGE "Administration > System > API Clients"
#define SYSTEM_SWITCH                                                                      \
    "\"Enable OpenEMR FHIR System Scopes\" (rest_system_scopes_api, Administration > "     \
    "Config > Connectors)"

enum published { PUB_UNKNOWN, PUB_YES, PUB_NO };

static int key_item(struct vap_instance *inst, const struct check_state *st,
                    struct check_list *l, char kid[CKEY_KID_MAX]);
static int jwks_item(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                     const char *kid, struct check_list *l);
static void token_items(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                        const struct check_state *st, const char *kid, int published,
                        struct check_list *l);
static void granted_items(const struct config *cfg, const tokresp *tr, const char *kid,
                          struct check_list *l);
static void refused_items(const struct config *cfg, const struct check_state *st,
                          const struct http_response *rs, const char *kid, int published,
                          struct check_list *l);

void check_backend(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                   const struct check_state *st, struct check_list *l)
{
    char kid[CKEY_KID_MAX] = "";
    int have_key = key_item(inst, st, l, kid);
    int published = have_key ? jwks_item(inst, deadline, cancel, kid, l) : PUB_UNKNOWN;
    if (!have_key)
        check_add(l, "jwks", VAP_CHECK_SKIP, VAP_OK, "not checked: no usable signing key");
    token_items(inst, deadline, cancel, st, have_key ? kid : NULL, published, l);
}

/* ---- helpers ---------------------------------------------------------------- */

/* The sealed key set: 1 with the signing key's kid when it loads. */
static int key_item(struct vap_instance *inst, const struct check_state *st,
                    struct check_list *l, char kid[CKEY_KID_MAX])
{
    const struct config *cfg = &inst->cfg;
    struct ckey_set set;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (!st->store_ok) {
        check_add(l, "key", VAP_CHECK_SKIP, VAP_OK, "not checked: the store cannot be opened");
        return 0;
    }
    int rc = client_key_set_read(&inst->secrets, cfg, cfg->client_id, &set, &e);
    if (rc == VAP_E_CONFIG) {
        check_add(l, "key", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "no signing key is sealed in %s: run vap-seal keygen -c CONFIG%s", cfg->store,
                  cfg->client_id == NULL ? ", then vap-host register --backend"
                                         : ", then register its public key (vap-seal jwks) "
                                           "with the client in " CLIENTS_PAGE);
        return 0;
    }
    if (rc != VAP_OK && cfg->client_id != NULL &&
        client_key_set_read(&inst->secrets, cfg, NULL, &set, &e) == VAP_OK) {
        ckey_set_clear(&set);
        check_add(l, "key", VAP_CHECK_FAIL, VAP_E_SEAL,
                  "the sealed signing key belongs to another client than client_id=%.64s (or "
                  "to none yet): remove client_id= and run vap-host register --backend, which "
                  "ties the key to the client it registers",
                  cfg->client_id);
        return 0;
    }
    if (rc != VAP_OK) {
        check_add(l, "key", VAP_CHECK_FAIL, rc, "%s", e.message);
        return 0;
    }
    const struct ckey_entry *cur = ckey_set_find(&set, CKEY_CURRENT);
    const struct ckey_entry *next = ckey_set_find(&set, CKEY_NEXT);
    gnutls_privkey_t k = NULL;
    char jwk[CKEY_JWK_MAX], next_kid[CKEY_KID_MAX] = "";
    int ok = ckey_import(cur->der, cur->der_len, &k) == CKEY_OK &&
             ckey_public_jwk(k, cur->alg, jwk, sizeof jwk, kid) == CKEY_OK;
    if (k != NULL)
        gnutls_privkey_deinit(k);
    k = NULL;
    if (ok && next != NULL && ckey_import(next->der, next->der_len, &k) == CKEY_OK &&
        ckey_public_jwk(k, next->alg, jwk, sizeof jwk, next_kid) != CKEY_OK)
        next_kid[0] = '\0';
    if (k != NULL)
        gnutls_privkey_deinit(k);
    int alg = cur->alg;
    ckey_set_clear(&set);
    if (!ok) {
        check_add(l, "key", VAP_CHECK_FAIL, VAP_E_SEAL,
                  "the sealed signing key in %s does not load: run vap-seal verify", cfg->store);
        return 0;
    }
    check_add(l, "key", VAP_CHECK_PASS, VAP_OK, "signing key sealed (%s, kid %s)%s%s%s",
              ckey_alg_name(alg), kid, next_kid[0] ? "; the next key " : "", next_kid,
              next_kid[0] ? " is sealed too, for a rotation" : "");
    return 1;
}

/* Whether the key is where OpenEMR reads it: only a jwks_uri can be asked. */
static int jwks_item(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                     const char *kid, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    int found = 0;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (cfg->jwks_uri == NULL) {
        check_add(l, "jwks", VAP_CHECK_UNKNOWN, VAP_OK,
                  "whether OpenEMR holds key %s is not known here: the key was registered inline "
                  "(or by hand), and OpenEMR shows no client's registered keys; the token request "
                  "below tells whether it accepts the key",
                  kid);
        return PUB_UNKNOWN;
    }
    if (probe_jwks_uri(inst, cfg->jwks_uri, kid, deadline, cancel, &found, &e) != VAP_OK) {
        check_add(l, "jwks", VAP_CHECK_UNKNOWN, VAP_OK,
                  "jwks_uri could not be read from this machine (%s), so whether it lists key "
                  "%s is not known here",
                  e.message, kid);
        return PUB_UNKNOWN;
    }
    if (!found) {
        check_add(l, "jwks", VAP_CHECK_FAIL, VAP_E_CLIENT,
                  "%s does not list the sealed key %s, so OpenEMR cannot verify this client's "
                  "token requests: publish the output of vap-seal jwks there",
                  cfg->jwks_uri, kid);
        return PUB_NO;
    }
    check_add(l, "jwks", VAP_CHECK_PASS, VAP_OK,
              "jwks_uri %s lists the sealed key %s (OpenEMR reads the client's keys there)",
              cfg->jwks_uri, kid);
    return PUB_YES;
}

static void token_items(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                        const struct check_state *st, const char *kid, int published,
                        struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    struct http_form form;
    struct http_response rs;
    vap_error e;
    VAP_INIT(vap_error, e);
    const char *why = cfg->client_id == NULL ? "no client_id yet"
                      : kid == NULL          ? "no usable signing key"
                      : !st->disc_ok         ? "no OpenID configuration"
                                             : NULL;
    if (why != NULL) {
        check_add(l, "system_scopes", VAP_CHECK_SKIP, VAP_OK, "not checked: %s", why);
        if (cfg->client_id == NULL)
            check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CONFIG,
                      "no client_id in the config: run vap-host register --backend (after "
                      "vap-seal keygen), or copy the Client ID from " CLIENTS_PAGE
                      " into client_id=");
        else
            check_add(l, "token", VAP_CHECK_SKIP, VAP_OK, "not asked for: %s", why);
        return;
    }
    PMETRIC_PAUSED; /* check's question, not the line's traffic */
    http_form_init(&form);
    http_response_init(&rs);
    if (http_form_add(&form, "grant_type", "client_credentials") != 0 ||
        http_form_add(&form, "scope", cfg->scope) != 0) {
        http_form_free(&form);
        check_add(l, "token", VAP_CHECK_FAIL, VAP_E_NOMEM, "out of memory");
        return;
    }
    int rc = token_post_client(inst, st->ep.token, DISC_AUTH_PRIVATE_KEY_JWT, &form, deadline,
                               cancel, &rs, &e);
    http_form_free(&form);
    if (rc == VAP_OK && rs.status >= 200 && rs.status <= 299) {
        tokresp tr;
        memset(&tr, 0, sizeof tr);
        rc = tokresp_parse(rs.body, rs.body_len, &tr, &e);
        if (rc == VAP_OK)
            granted_items(cfg, &tr, kid, l);
        else {
            check_add(l, "system_scopes", VAP_CHECK_UNKNOWN, VAP_OK,
                      "the token answer could not be read, so the scopes are not known");
            check_add(l, "token", VAP_CHECK_FAIL, rc, "%s", e.message);
        }
        tokresp_free(&tr); /* wipes the token */
    } else if ((rc == VAP_OK || rc == VAP_E_CLIENT) && rs.status != 0) {
        refused_items(cfg, st, &rs, kid, published, l);
    } else {
        check_add(l, "system_scopes", VAP_CHECK_SKIP, VAP_OK,
                  "not checked: the token request failed");
        check_net_failure(l, "token", st->ep.token, rc, &e);
    }
    http_response_free(&rs); /* wipes the body, which held the token */
}

static void granted_items(const struct config *cfg, const tokresp *tr, const char *kid,
                          struct check_list *l)
{
    char missing[512] = "", wanted[SCOPE_MAX_LEN + 1] = "";
    size_t n = 0;
    /* only the system/ scopes are compared: OpenEMR leaves api:* out */
    if (tr->scope != NULL) {
        for (const char *p = cfg->scope; *p;) {
            while (*p == ' ')
                p++;
            size_t len = strcspn(p, " ");
            size_t used = strlen(wanted);
            if (len > 7 && strncmp(p, "system/", 7) == 0 && used + len + 2 < sizeof wanted)
                snprintf(wanted + used, sizeof wanted - used, "%s%.*s", used ? " " : "",
                         (int)len, p);
            p += len;
        }
        n = adm_scopes_missing(wanted, strlen(wanted), tr->scope, missing, sizeof missing);
    }
    if (n > 0)
        check_add(l, "system_scopes", VAP_CHECK_WARN, VAP_OK,
                  "on, but OpenEMR left out %zu configured scope(s) (%s): it grants only the "
                  "scopes the client was registered with; register again with them (vap-host "
                  "register --backend)",
                  n, missing);
    else
        check_add(l, "system_scopes", VAP_CHECK_PASS, VAP_OK,
                  "on: OpenEMR granted the configured system/ scopes");
    check_add(l, "token", VAP_CHECK_PASS, VAP_OK,
              "OpenEMR issued a client_credentials token (valid %lld s) to client_id=%.64s "
              "signing with key %s: the client is enabled and its key registered; the token "
              "was wiped, not kept",
              (long long)tr->expires_in, cfg->client_id, kid);
}

static void refused_items(const struct config *cfg, const struct check_state *st,
                          const struct http_response *rs, const char *kid, int published,
                          struct check_list *l)
{
    tokresp_error e;
    char desc[sizeof e.description], hint[sizeof e.hint];
    if (tokresp_error_parse(rs->body, rs->body_len, &e) != VAP_OK)
        memset(&e, 0, sizeof e);
    tokresp_clean_text(e.description[0] ? e.description : "no reason given", desc, sizeof desc);
    tokresp_clean_text(e.hint, hint, sizeof hint);
    if (strcmp(e.error, "invalid_scope") == 0) {
        /* The client passed: OpenEMR checks it before the scopes. */
        const char *sys = strstr(hint, "system/");
        char named[96] = "";
        if (sys != NULL)
            snprintf(named, sizeof named, "%.*s", (int)strcspn(sys, "` '\""), sys);
        int listed = st->have_extra && st->extra.scopes != NULL &&
                     scope_has_prefix(st->extra.scopes, "system/");
        if (sys == NULL)
            check_add(l, "system_scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                      "OpenEMR refused the scope (invalid_scope%s%s): fix scope= (system/ "
                      "scopes and api:fhir only)",
                      hint[0] ? ": " : "", hint);
        else if (listed)
            check_add(l, "system_scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                      "on (the server lists system/ scopes), but OpenEMR refused %s for this "
                      "client (invalid_scope): it was registered without it; remove it from "
                      "scope=, or register again (vap-host register --backend)",
                      named);
        else
            check_add(l, "system_scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                      "off: OpenEMR refused %s (invalid_scope) and lists no system/ scopes; an "
                      "OpenEMR administrator must switch on " SYSTEM_SWITCH,
                      named);
        check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "no token: OpenEMR accepted client_id=%.64s and key %s (it checks the client "
                  "first) but refused the scopes; see system_scopes",
                  cfg->client_id, kid);
        return;
    }
    if (strcmp(e.error, "invalid_client") == 0) {
        check_add(l, "system_scopes", VAP_CHECK_UNKNOWN, VAP_OK,
                  "not known: OpenEMR refused the client before it looked at the scopes");
        int key_named = strstr(desc, "kid") != NULL || strstr(desc, "key") != NULL ||
                        strstr(desc, "signature") != NULL;
        if (key_named || published == PUB_NO)
            check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CLIENT,
                      "unknown key: OpenEMR does not accept key %s for client_id=%.64s "
                      "(invalid_client: %s): register the output of vap-seal jwks with the "
                      "client%s",
                      kid, cfg->client_id, desc,
                      cfg->jwks_uri ? " (publish it at its jwks_uri)" : "");
        else if (published == PUB_YES)
            check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CLIENT,
                      "disabled client: OpenEMR refused client_id=%.64s (invalid_client: %s) "
                      "though its jwks_uri lists key %s; enable it: " CLIENTS_PAGE
                      " > Edit > Enable",
                      cfg->client_id, desc, kid);
        else
            check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CLIENT,
                      "OpenEMR refused client_id=%.64s signing with key %s (invalid_client: %s): "
                      "the client is disabled (new backend clients are: " CLIENTS_PAGE
                      " > Edit > Enable), or its registered keys lack %s (register the output of "
                      "vap-seal jwks)",
                      cfg->client_id, kid, desc, kid);
        return;
    }
    check_add(l, "system_scopes", VAP_CHECK_UNKNOWN, VAP_OK,
              "not known: the token request was refused for another reason");
    if (strcmp(e.error, "unauthorized_client") == 0 ||
        strcmp(e.error, "unsupported_grant_type") == 0)
        check_add(l, "token", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "OpenEMR does not let client_id=%.64s use client_credentials (%s): it was "
                  "registered for another grant; register a backend client: vap-host register "
                  "--backend",
                  cfg->client_id, e.error);
    else
        check_add(l, "token", VAP_CHECK_FAIL, http_status_vap(rs->status),
                  "the token endpoint answered HTTP %d%s%s to a client_credentials request%s",
                  rs->status, e.error[0] ? " " : "", e.error,
                  rs->status >= 500 ? ": try again later, or read the OpenEMR server's error log"
                                    : "");
}
