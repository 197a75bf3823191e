/* check_items.c - the checks behind `vap-host check`, one function each.
 * Every failure says what was found and what the admin does about it, in
 * the words of OpenEMR's admin screens; nothing here quotes a secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "admin/check.h"
#include "core/config.h"
#include "core/errors.h"
#include "http/http.h"
#include "instance.h"
#include "core/log.h"
#include "admin/probe.h"
#include "core/scope.h"
#include "oauth/discovery.h"
#include "oauth/secrets.h"
#include "oauth/status.h"
#include "oauth/tokenresp.h"

#define API_SWITCH "Administration > Config > Connectors > \"Enable OpenEMR Standard FHIR REST API\""
#define CLIENTS_PAGE "Administration > System > API Clients"
#define BACKEND(cfg) ((cfg)->grant == CONFIG_GRANT_CLIENT_CREDENTIALS)

static void fmt_time(int64_t ms, char *out, size_t cap);
static size_t granted_missing(const char *configured, const char *granted, char *out,
                              size_t cap);

void check_connection_discovery(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                                struct check_state *st, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    char url[AUTHZ_URL_MAX];
    struct http_response rs;
    vap_error e;
    VAP_INIT(vap_error, e);
    http_response_init(&rs);
    snprintf(url, sizeof url, "%s/.well-known/openid-configuration", cfg->issuer);
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {.method = "GET", .url = url, .headers = accept, .n_headers = 1,
                              .max_response = DISC_BODY_CAP, .deadline_ms = deadline,
                              .cancel = cancel};
    int rc = http_request_do(inst->http, &rq, &rs, &e);
    if (rc != VAP_OK) {
        check_net_failure(l, "connection", cfg->issuer, rc, &e);
        check_add(l, "discovery", VAP_CHECK_SKIP, VAP_OK, "not checked: the server was not reached");
        check_add(l, "pkce", VAP_CHECK_SKIP, VAP_OK, "%s",
                  BACKEND(cfg) ? "not needed: grant=client_credentials has no authorization step"
                               : "not checked: the server was not reached");
        return;
    }
    st->reached = 1;
    check_add(l, "connection", VAP_CHECK_PASS, VAP_OK,
              "reached %s over TLS; its certificate is trusted (%s%s%s)", cfg->issuer,
              cfg->ca_file ? "ca_file " : "the system's CA bundle",
              cfg->ca_file ? cfg->ca_file : "", cfg->pin_sha256 ? ", key pin matches" : "");
    if (rs.status == 404) {
        check_add(l, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "no OpenID configuration at %s (HTTP 404): either issuer= is wrong (OpenEMR's "
                  "is https://HOST/oauth2/default), or OpenEMR's APIs are turned off (with every "
                  "API off, /oauth2/ answers 404): turn on " API_SWITCH, url);
    } else if (rs.status == 400) {
        check_add(l, "discovery", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "%s answered HTTP 400: OpenEMR answers so for a site it does not know; check "
                  "the site segment of issuer= (normally https://HOST/oauth2/default)", url);
    } else if (rs.status < 200 || rs.status > 299) {
        check_add(l, "discovery", VAP_CHECK_FAIL, http_status_vap(rs.status),
                  "%s answered HTTP %d instead of the OpenID configuration: check issuer=%s",
                  url, rs.status, rs.status >= 500 ? " and the OpenEMR server's error log" : "");
    } else {
        disc_oidc d;
        memset(&d, 0, sizeof d);
        rc = disc_oidc_parse(rs.body, rs.body_len, cfg->issuer, &d, &e);
        if (rc == VAP_OK) {
            disc_oidc_free(&d);
            rc = authz_endpoints(inst, deadline, cancel, 0, &st->ep, &e);
        }
        if (rc == VAP_OK) {
            st->disc_ok = 1;
            check_add(l, "discovery", VAP_CHECK_PASS, VAP_OK,
                      "OpenID configuration found; its issuer matches issuer=%s", cfg->issuer);
        } else {
            check_add(l, "discovery", VAP_CHECK_FAIL, rc, "%s", e.message);
        }
    }
    VAP_INIT(vap_error, e);
    if (rs.status >= 200 && rs.status <= 299 &&
        adm_disc_parse(rs.body, rs.body_len, &st->extra, &e) == VAP_OK) {
        st->have_extra = 1;
        if (BACKEND(cfg))
            check_add(l, "pkce", VAP_CHECK_SKIP, VAP_OK,
                      "not needed: grant=client_credentials has no authorization step");
        else if (st->extra.s256)
            check_add(l, "pkce", VAP_CHECK_PASS, VAP_OK, "the server offers PKCE with S256");
        else
            check_add(l, "pkce", VAP_CHECK_FAIL, VAP_E_UNSUPPORTED,
                      "the server does not list S256 in code_challenge_methods_supported: this "
                      "plugin always uses PKCE S256; upgrade OpenEMR (7.0 or later offers it)");
    } else {
        check_add(l, "pkce", VAP_CHECK_SKIP, VAP_OK, "not checked: no OpenID configuration");
    }
    http_response_free(&rs);
}

void check_authz_probe(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                       struct check_state *st)
{
    const struct config *cfg = &inst->cfg;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (!st->disc_ok || cfg->client_id == NULL || BACKEND(cfg))
        return;
    if (probe_authorize(inst, st->ep.authorization, cfg->client_id, cfg->redirect_uri,
                        cfg->scope, deadline, cancel, &st->authz_verdict, st->authz_detail,
                        sizeof st->authz_detail, &e) != VAP_OK) {
        st->authz_verdict = PROBE_AUTHZ_UNCLEAR;
        snprintf(st->authz_detail, sizeof st->authz_detail, "%.120s", e.message);
    }
}

void check_scopes(struct vap_instance *inst, const struct check_state *st,
                  struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    char missing[512], advice[256], compared[SCOPE_MAX_LEN + 1];
    size_t n = 0;
    /* A backend's system/ scopes are listed only while OpenEMR's switch is
     * on; the token request (system_scopes) is what tells. */
    if (BACKEND(cfg))
        scope_without_prefix(cfg->scope, "system/", compared, sizeof compared);
    else
        snprintf(compared, sizeof compared, "%s", cfg->scope);
    if (st->have_extra && st->extra.scopes != NULL)
        n = adm_scopes_missing(compared, strlen(compared), st->extra.scopes, missing,
                               sizeof missing);
    if (n > 0) {
        char first[96];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(missing, " "), missing);
        tokresp_scope_advice(first, advice, sizeof advice);
        check_add(l, "scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "this server does not offer %zu of the configured scopes (%s): it would refuse "
                  "the authorization; remove them from scope=%s%s", n, missing,
                  advice[0] ? ". " : "", advice);
        return;
    }
    if (st->authz_verdict == PROBE_AUTHZ_SCOPE) {
        tokresp_scope_advice(st->authz_detail, advice, sizeof advice);
        check_add(l, "scopes", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "OpenEMR's authorization endpoint refused the scope %s: remove it from "
                  "scope=%s%s", st->authz_detail[0] ? st->authz_detail : "(unnamed)",
                  advice[0] ? ". " : "", advice);
        return;
    }
    for (unsigned bit = 1; bit != 0 && bit <= SCOPE_WARN_LAST; bit <<= 1)
        if (cfg->scope_warnings & bit) {
            check_add(l, "scopes", VAP_CHECK_WARN, VAP_OK, "%s", config_scope_warning_text(bit));
            return;
        }
    if (st->have_extra && st->extra.scopes != NULL)
        check_add(l, "scopes", VAP_CHECK_PASS, VAP_OK,
                  "every configured scope is offered by this server");
    else
        check_add(l, "scopes", VAP_CHECK_WARN, VAP_OK,
                  "the server does not list its scopes, so scope= was checked against "
                  "OpenEMR's rules only");
}

void check_redirect(struct vap_instance *inst, const struct check_state *st,
                    struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    const char *r = cfg->redirect_uri;
    if (BACKEND(cfg)) {
        check_add(l, "redirect_uri", VAP_CHECK_SKIP, VAP_OK,
                  "not checked: grant=client_credentials has no browser sign-in, so OpenEMR "
                  "never redirects to it");
        return;
    }
    switch (st->authz_verdict) {
    case PROBE_AUTHZ_ACCEPTED:
    case PROBE_AUTHZ_SCOPE:
        check_add(l, "redirect_uri", VAP_CHECK_PASS, VAP_OK,
                  "%s is well formed and OpenEMR accepts it for this client", r);
        break;
    case PROBE_AUTHZ_CLIENT:
        check_add(l, "redirect_uri", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "OpenEMR refused client_id=%.64s with redirect URI %s (401 invalid_client): "
                  "the client_id is unknown, or the client was registered with another redirect "
                  "URI; compare with " CLIENTS_PAGE " (exact match: scheme, host, port, path, no "
                  "trailing slash)", cfg->client_id, r);
        break;
    case PROBE_AUTHZ_UNCLEAR:
        check_add(l, "redirect_uri", VAP_CHECK_UNKNOWN, VAP_OK,
                  "%s is well formed, but the server's answer (%s) does not say whether it is "
                  "the one registered (a proxy or a login service in front of OpenEMR may have "
                  "answered): compare it with " CLIENTS_PAGE "; vap-host authorize will show it",
                  r, st->authz_detail);
        break;
    default:
        check_add(l, "redirect_uri", VAP_CHECK_WARN, VAP_OK,
                  "%s is well formed; whether it matches the registered one could not be asked "
                  "(%s)", r, cfg->client_id == NULL ? "no client_id yet" : "no discovery");
    }
}

void check_store(struct vap_instance *inst, struct check_state *st, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    vap_error e;
    VAP_INIT(vap_error, e);
    int rc = secrets_ensure_open(&inst->secrets, cfg, &e);
    if (rc != VAP_OK) {
        check_add(l, "store", VAP_CHECK_FAIL, rc, "%s", e.message);
        return;
    }
    st->store_ok = 1;
    check_add(l, "store", VAP_CHECK_PASS, VAP_OK,
              "keyring %s and store %s open; owner and permissions are right", cfg->keyring,
              cfg->store);
}

void check_client(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                  const struct check_state *st, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    char secret[SECRETS_CLIENT_SECRET_MAX + 1], detail[128];
    size_t secret_len = 0;
    int verdict = PROBE_CLIENT_UNCLEAR;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (BACKEND(cfg)) {
        check_backend(inst, deadline, cancel, st, l);
        return;
    }
    if (cfg->client_id == NULL) {
        check_add(l, "client", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "no client_id in the config: run vap-host register, or copy the Client ID "
                  "from " CLIENTS_PAGE " into client_id= and seal its secret with vap-seal put "
                  "client_secret");
        return;
    }
    if (!st->store_ok) {
        check_add(l, "client", VAP_CHECK_SKIP, VAP_OK, "not checked: the store cannot be opened");
        return;
    }
    if (st->disc_ok && st->ep.auth_method == DISC_AUTH_PRIVATE_KEY_JWT) {
        check_client_key(inst, deadline, cancel, st, l);
        return;
    }
    int rc = secrets_client_secret(&inst->secrets, secret, sizeof secret, &secret_len, &e);
    if (rc != VAP_OK) {
        check_add(l, "client", VAP_CHECK_FAIL, rc, "%s", e.message);
        return;
    }
    if (!st->disc_ok) {
        sodium_memzero(secret, sizeof secret);
        check_add(l, "client", VAP_CHECK_SKIP, VAP_OK,
                  "client secret is sealed; credentials not tried: no OpenID configuration");
        return;
    }
    rc = probe_client(inst, st->ep.token, st->ep.auth_method, cfg->client_id, secret,
                      deadline, cancel, &verdict, detail, sizeof detail, &e);
    sodium_memzero(secret, sizeof secret);
    int known = st->authz_verdict == PROBE_AUTHZ_ACCEPTED || st->authz_verdict == PROBE_AUTHZ_SCOPE;
    if (rc != VAP_OK) {
        check_net_failure(l, "client", st->ep.token, rc, &e);
    } else if (verdict == PROBE_CLIENT_ENABLED) {
        check_add(l, "client", VAP_CHECK_PASS, VAP_OK,
                  "OpenEMR knows client_id=%.64s and the client is enabled (a renewal with a "
                  "made-up refresh token was refused as a token, not as a client)",
                  cfg->client_id);
    } else if (verdict == PROBE_CLIENT_REJECTED && known) {
        check_add(l, "client", VAP_CHECK_FAIL, VAP_E_CLIENT,
                  "OpenEMR knows client_id=%.64s but refuses it (invalid_client): the client is "
                  "disabled; enable it: " CLIENTS_PAGE " > Edit > Enable", cfg->client_id);
    } else if (verdict == PROBE_CLIENT_REJECTED) {
        check_add(l, "client", VAP_CHECK_FAIL, VAP_E_CLIENT,
                  "OpenEMR refused client_id=%.64s (invalid_client): the client is unknown or "
                  "disabled; compare with " CLIENTS_PAGE " (Client ID, Enable)", cfg->client_id);
    } else {
        check_add(l, "client", VAP_CHECK_UNKNOWN, VAP_OK,
                  "the token endpoint's answer (%s) does not tell whether the client is enabled: "
                  "it will be known at the first code exchange (vap-host authorize)", detail);
    }
    /* OpenEMR checks the secret only when a real code is exchanged. */
    check_add(l, "secret", VAP_CHECK_UNKNOWN, VAP_OK,
              "sealed; whether OpenEMR accepts it is known only at the first code exchange "
              "(vap-host authorize fails with invalid_client if it is wrong); OpenEMR never "
              "checks it on renewal");
}

void check_fhir(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    char url[HTTP_URL_MAX], version[ADM_FHIR_VERSION_MAX];
    struct http_response rs;
    vap_error e;
    VAP_INIT(vap_error, e);
    http_response_init(&rs);
    snprintf(url, sizeof url, "%s/metadata", cfg->fhir_base);
    static const char *const accept[] = {"Accept: application/json"};
    struct http_request rq = {.method = "GET", .url = url, .headers = accept, .n_headers = 1,
                              .max_response = ADM_BODY_CAP, .deadline_ms = deadline,
                              .cancel = cancel};
    int rc = http_request_do(inst->http, &rq, &rs, &e);
    if (rc != VAP_OK) {
        check_net_failure(l, "fhir", url, rc, &e);
        return;
    }
    if (rs.status == 404)
        check_add(l, "fhir", VAP_CHECK_FAIL, VAP_E_CONFIG,
                  "%s answered HTTP 404: either fhir_base= is wrong (OpenEMR's is "
                  "https://HOST/apis/default/fhir) or OpenEMR's FHIR API is off: turn on "
                  API_SWITCH, url);
    else if (rs.status != 200)
        check_add(l, "fhir", VAP_CHECK_FAIL, http_status_vap(rs.status),
                  "%s answered HTTP %d: check fhir_base=%s", url, rs.status,
                  rs.status >= 500 ? " and the OpenEMR server's error log" : "");
    else if ((rc = adm_metadata_parse(rs.body, rs.body_len, version, sizeof version, &e)) !=
             VAP_OK)
        check_add(l, "fhir", VAP_CHECK_FAIL, rc, "%s", e.message);
    else
        check_add(l, "fhir", VAP_CHECK_PASS, VAP_OK, "FHIR API answers at %s (FHIR %s)",
                  cfg->fhir_base, version[0] ? version : "version not stated");
    http_response_free(&rs);
}

void check_grant(struct vap_instance *inst, const struct check_state *st, struct check_list *l)
{
    const struct config *cfg = &inst->cfg;
    vap_error e;
    char when[48], missing[512];
    VAP_INIT(vap_error, e);
    if (BACKEND(cfg)) {
        check_add(l, "grant", VAP_CHECK_SKIP, VAP_OK,
                  "not checked: grant=client_credentials keeps no grant; a token is asked for "
                  "when needed (the token item above asked for one)");
        return;
    }
    if (cfg->client_id == NULL || !st->store_ok) {
        check_add(l, "grant", VAP_CHECK_SKIP, VAP_OK, "not checked: %s",
                  cfg->client_id == NULL ? "no client_id yet" : "the store cannot be opened");
        return;
    }
    int64_t now = plugin_now_ms(); /* the host's clock, read with no lock held */
    pthread_mutex_lock(&inst->scratch_mu);
    struct grant *g = instance_scratch(inst);
    int rc = g != NULL ? secrets_grant_read(&inst->secrets, cfg, g, &e)
                       : err_set(&e, VAP_E_NOMEM, "out of memory");
    if (rc == 1) {
        check_add(l, "grant", VAP_CHECK_FAIL, VAP_E_REAUTH_REQUIRED,
                  "no grant yet: a staff member must authorize once (vap-host authorize)");
    } else if (rc != VAP_OK) {
        check_add(l, "grant", VAP_CHECK_FAIL, rc, "%s", e.message);
    } else {
        int state = status_state(g, now);
        size_t n = granted_missing(cfg->scope, g->scope, missing, sizeof missing);
        fmt_time(g->access_expires_at_ms, when, sizeof when);
        if (state == VAP_GRANT_REAUTH_REQUIRED)
            check_add(l, "grant", VAP_CHECK_FAIL, VAP_E_REAUTH_REQUIRED,
                      "the stored grant can no longer be renewed (its refresh token was revoked "
                      "or expired): a staff member must authorize again (vap-host authorize)");
        else if (g->refresh_token[0] == '\0')
            check_add(l, "grant", VAP_CHECK_WARN, VAP_OK,
                      "the grant has no refresh token (offline_access was not granted): after "
                      "%s someone must authorize again; add offline_access and authorize again",
                      when);
        else if (n > 0)
            check_add(l, "grant", VAP_CHECK_WARN, VAP_OK,
                      "the grant lacks %zu configured scope(s) (%s), probably unticked at "
                      "consent; requests that need them are refused: authorize again and leave "
                      "them ticked", n, missing);
        else
            check_add(l, "grant", VAP_CHECK_PASS, VAP_OK,
                      "grant present with every configured scope; access token %s %s; "
                      "renewal not tried here (it rotates the refresh token): vap-host "
                      "refresh tries one",
                      state == VAP_GRANT_VALID ? "valid until" : "expired at", when);
    }
    if (g != NULL)
        grant_clear(g);
    pthread_mutex_unlock(&inst->scratch_mu);
}

/* ---- helpers ---------------------------------------------------------------- */

void check_net_failure(struct check_list *l, const char *name, const char *what, int rc,
                       const vap_error *e)
{
    if (rc == VAP_E_TLS)
        check_add(l, name, VAP_CHECK_FAIL, rc,
                  "TLS to %s was refused (%s): if OpenEMR uses a private CA, name its PEM file in "
                  "ca_file=; the certificate must name the host in the URL; with pin_sha256=, "
                  "the pin must be the server key's", what, e->message);
    else if (rc == VAP_E_UNAVAILABLE || rc == VAP_E_TIMEOUT)
        check_add(l, name, VAP_CHECK_FAIL, rc,
                  "cannot reach %s (%s): check the host name and port, that OpenEMR is running, "
                  "and that no firewall blocks this machine", what, e->message);
    else
        check_add(l, name, VAP_CHECK_FAIL, rc, "request to %s failed: %s", what, e->message);
}

static void fmt_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, cap, "(unknown time)");
}

/* Configured scopes missing from the granted ones.  OpenEMR leaves api:*
 * out of the token response's scope, so those are not compared. */
static size_t granted_missing(const char *configured, const char *granted, char *out,
                              size_t cap)
{
    char filtered[SCOPE_MAX_LEN + 1];
    size_t used = 0, i = 0, len = strnlen(configured, SCOPE_MAX_LEN);
    while (i < len) {
        size_t start = i;
        while (i < len && configured[i] != ' ')
            i++;
        size_t n = i - start;
        if (n > 0 && strncmp(configured + start, "api:", 4) != 0 && used + n + 2 < sizeof filtered) {
            if (used)
                filtered[used++] = ' ';
            memcpy(filtered + used, configured + start, n);
            used += n;
        }
        while (i < len && configured[i] == ' ')
            i++;
    }
    filtered[used] = '\0';
    return adm_scopes_missing(filtered, used, granted, out, cap);
}
