/* config.c - option validation for instance_new.
 *
 * The options come from a config line an admin typed, usually by following the
 * user guide, which is wrong about OpenEMR in known ways.  Each recognised
 * mistake is refused with the corrected option, because an OAuth client that
 * quietly "fixes" its issuer would later compare the wrong string with the
 * server's. */
#include "core/config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/log.h"
#include "core/scope.h"
#include "core/url.h"
#include "core/pqlib.h"

#define OPT_MAX_VALUE 4096
#define PIN_B64_LEN 44

enum opt_id {
    OPT_ISSUER, OPT_FHIR_BASE, OPT_CLIENT_ID, OPT_REDIRECT_URI, OPT_SCOPE,
    OPT_STORE, OPT_KEYRING, OPT_CA_FILE, OPT_CLIENT_AUTH, OPT_TIMEOUT_MS,
    OPT_PIN_SHA256, OPT_REFRESH_MARGIN_S, OPT_LEEWAY_S, OPT_MAX_RESPONSE,
    OPT_CONNECTIONS, OPT_WARM_CONNECTIONS, OPT_PROXY, OPT_LOG_LEVEL, OPT_RENEW_TIMEOUT_MS,
    OPT_GRANT, OPT_JWKS_URI, OPT_GRANT_STORE, OPT_COUNT
};

static const char *const opt_names[OPT_COUNT] = {
    "issuer", "fhir_base", "client_id", "redirect_uri", "scope", "store",
    "keyring", "ca_file", "client_auth", "timeout_ms", "pin_sha256",
    "refresh_margin_s", "leeway_s", "max_response_bytes", "connections", "warm_connections",
    "proxy", "log_level", "renew_timeout_ms", "grant", "jwks_uri", "grant_store"};

static int check_issuer(const char *v, vap_error *err);
static int check_fhir_base(const char *v, vap_error *err);
static int check_redirect_uri(const char *v, vap_error *err);
static int check_abs_path(const char *key, const char *v, vap_error *err);
static int check_client_id(const char *v, vap_error *err);
static int check_pin(const char *v, vap_error *err);
static int check_proxy(const char *v, vap_error *err);
static int check_grant_store(const char *v, vap_error *err);
static int check_jwks_uri(const char *v, vap_error *err);
static int parse_long(const char *key, const char *v, long min, long max,
                      long *out, vap_error *err);
static char *derive_api_base(const char *fhir_base);
static int config_unknown_option(const char *key, vap_error *err);
static int config_scope_refused(const struct scope_report *rep, vap_error *err);
static int config_scope_grant(enum config_grant grant, const char *scope, vap_error *err);
static int config_grant(const char *grant, const char *scope_given, struct config *cfg,
                        const char **scope, vap_error *err);

int config_from_options(const vap_option *opts, size_t n, struct config *cfg,
                        vap_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    const char *val[OPT_COUNT] = {0};
    int rc;

    if (n > 0 && opts == NULL)
        return err_set(err, VAP_E_INVAL, "options array is NULL");
    for (size_t i = 0; i < n; i++) {
        const char *k = opts[i].key, *v = opts[i].value;
        if (k == NULL || v == NULL)
            return err_set(err, VAP_E_CONFIG, "option %zu has no key or no value", i + 1);
        int id = -1;
        for (int j = 0; j < OPT_COUNT; j++)
            if (strcmp(k, opt_names[j]) == 0)
                id = j;
        if (id < 0)
            return config_unknown_option(k, err);
        if (val[id] != NULL)
            return err_set(err, VAP_E_CONFIG,
                           "option '%s' is given twice: keep one %s=... on the config line", k, k);
        if (strnlen(v, OPT_MAX_VALUE + 1) > OPT_MAX_VALUE)
            return err_set(err, VAP_E_CONFIG, "option '%s' is longer than %d characters", k,
                           OPT_MAX_VALUE);
        val[id] = v;
    }
    static const int required[] = {OPT_ISSUER, OPT_FHIR_BASE, OPT_STORE, OPT_KEYRING};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (val[required[r]] == NULL || val[required[r]][0] == '\0')
            return err_set(err, VAP_E_CONFIG,
                           "option '%s' is missing: add %s=... to the config line",
                           opt_names[required[r]], opt_names[required[r]]);

    if ((rc = check_issuer(val[OPT_ISSUER], err)) != 0 ||
        (rc = check_fhir_base(val[OPT_FHIR_BASE], err)) != 0 ||
        (rc = check_abs_path("store", val[OPT_STORE], err)) != 0 ||
        (rc = check_abs_path("keyring", val[OPT_KEYRING], err)) != 0)
        return rc;
    if (val[OPT_CLIENT_ID] && (rc = check_client_id(val[OPT_CLIENT_ID], err)) != 0)
        return rc;
    const char *redirect = val[OPT_REDIRECT_URI] ? val[OPT_REDIRECT_URI] : CONFIG_DEFAULT_REDIRECT_URI;
    if ((rc = check_redirect_uri(redirect, err)) != 0)
        return rc;
    if (val[OPT_CA_FILE] && (rc = check_abs_path("ca_file", val[OPT_CA_FILE], err)) != 0)
        return rc;
    if (val[OPT_PIN_SHA256] && (rc = check_pin(val[OPT_PIN_SHA256], err)) != 0)
        return rc;
    if (val[OPT_PROXY] && (rc = check_proxy(val[OPT_PROXY], err)) != 0)
        return rc;
    if (val[OPT_JWKS_URI] && (rc = check_jwks_uri(val[OPT_JWKS_URI], err)) != 0)
        return rc;
    if (val[OPT_GRANT_STORE] && (rc = check_grant_store(val[OPT_GRANT_STORE], err)) != 0)
        return rc;

    const char *scope = val[OPT_SCOPE] ? val[OPT_SCOPE] : CONFIG_DEFAULT_SCOPE;
    if ((rc = config_grant(val[OPT_GRANT], val[OPT_SCOPE], cfg, &scope, err)) != VAP_OK)
        return rc;
    struct scope_report rep;
    if (scope_check(scope, strlen(scope), &rep) != 0)
        return config_scope_refused(&rep, err);
    cfg->scope_warnings = rep.warnings;
    if (cfg->grant == CONFIG_GRANT_CLIENT_CREDENTIALS && val[OPT_GRANT_STORE] != NULL &&
        strcmp(val[OPT_GRANT_STORE], "file") != 0)
        return err_set(err, VAP_E_CONFIG,
                       "grant=client_credentials keeps its token in memory and stores no grant: "
                       "remove grant_store=");
    if ((rc = config_scope_grant(cfg->grant, scope, err)) != VAP_OK)
        return rc;
    if (cfg->grant == CONFIG_GRANT_CLIENT_CREDENTIALS)
        /* Backend services never get a refresh token or an id_token. */
        cfg->scope_warnings &= ~(SCOPE_WARN_NO_OFFLINE | SCOPE_WARN_NO_OPENID);
    else
        cfg->scope_warnings &= ~SCOPE_WARN_SYSTEM; /* refused above */

    cfg->log_level = VAP_LOG_INFO;
    if (val[OPT_LOG_LEVEL]) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(val[OPT_LOG_LEVEL], levels[i]) == 0)
                found = i;
        if (found < 0)
            return err_set(err, VAP_E_CONFIG,
                           "log_level=%.32s is not known: use log_level=error, warn, info or debug",
                           val[OPT_LOG_LEVEL]);
        cfg->log_level = found;
    }
    cfg->client_auth = CLIENT_AUTH_AUTO;
    if (val[OPT_CLIENT_AUTH]) {
        const char *a = val[OPT_CLIENT_AUTH];
        if (strcmp(a, "auto") == 0)
            cfg->client_auth = CLIENT_AUTH_AUTO;
        else if (strcmp(a, "basic") == 0)
            cfg->client_auth = CLIENT_AUTH_BASIC;
        else if (strcmp(a, "post") == 0)
            cfg->client_auth = CLIENT_AUTH_POST;
        else if (strcmp(a, "private_key_jwt") == 0)
            cfg->client_auth = CLIENT_AUTH_PRIVATE_KEY_JWT;
        else
            return err_set(err, VAP_E_CONFIG,
                           "client_auth=%.32s is not known: use client_auth=auto, basic, post or "
                           "private_key_jwt", a);
    }
    if (cfg->grant == CONFIG_GRANT_CLIENT_CREDENTIALS &&
        cfg->client_auth != CLIENT_AUTH_PRIVATE_KEY_JWT)
        return err_set(err, VAP_E_CONFIG,
                       "client_credentials needs client_auth=private_key_jwt and a key sealed "
                       "with vap-seal keygen");
    cfg->timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS;
    cfg->refresh_margin_s = CONFIG_DEFAULT_REFRESH_MARGIN_S;
    cfg->leeway_s = CONFIG_DEFAULT_LEEWAY_S;
    cfg->max_response_bytes = CONFIG_DEFAULT_MAX_RESPONSE;
    if ((val[OPT_TIMEOUT_MS] &&
         (rc = parse_long("timeout_ms", val[OPT_TIMEOUT_MS], 100, 600000, &cfg->timeout_ms, err))) ||
        (val[OPT_REFRESH_MARGIN_S] &&
         (rc = parse_long("refresh_margin_s", val[OPT_REFRESH_MARGIN_S], 0, 3600,
                          &cfg->refresh_margin_s, err))) ||
        (val[OPT_LEEWAY_S] &&
         (rc = parse_long("leeway_s", val[OPT_LEEWAY_S], 0, 600, &cfg->leeway_s, err))) ||
        (val[OPT_MAX_RESPONSE] &&
         (rc = parse_long("max_response_bytes", val[OPT_MAX_RESPONSE], 4096, 1L << 30,
                          &cfg->max_response_bytes, err))))
        return rc;
    cfg->connections = CONFIG_DEFAULT_CONNECTIONS;
    cfg->warm_connections = CONFIG_DEFAULT_WARM_CONNECTIONS;
    if ((val[OPT_CONNECTIONS] &&
         (rc = parse_long("connections", val[OPT_CONNECTIONS], 1, 64, &cfg->connections, err))) ||
        (val[OPT_WARM_CONNECTIONS] &&
         (rc = parse_long("warm_connections", val[OPT_WARM_CONNECTIONS], 0, 64,
                          &cfg->warm_connections, err))))
        return rc;
    /* A token request, once sent, runs to its end on this budget, whatever
     * the caller's deadline: OpenEMR rotates the refresh token as it answers. */
    cfg->renew_timeout_ms = CONFIG_DEFAULT_RENEW_TIMEOUT_MS;
    if (val[OPT_RENEW_TIMEOUT_MS] &&
        (rc = parse_long("renew_timeout_ms", val[OPT_RENEW_TIMEOUT_MS], 5000, 600000,
                         &cfg->renew_timeout_ms, err)))
        return rc;
    if (cfg->warm_connections > cfg->connections)
        return err_set(err, VAP_E_CONFIG,
                       "warm_connections=%ld is more than connections=%ld: lower it",
                       cfg->warm_connections, cfg->connections);

    cfg->issuer = strdup(val[OPT_ISSUER]);
    cfg->fhir_base = strdup(val[OPT_FHIR_BASE]);
    cfg->api_base = derive_api_base(val[OPT_FHIR_BASE]);
    cfg->client_id = val[OPT_CLIENT_ID] ? strdup(val[OPT_CLIENT_ID]) : NULL;
    cfg->redirect_uri = strdup(redirect);
    cfg->scope = strdup(scope);
    cfg->store = strdup(val[OPT_STORE]);
    cfg->keyring = strdup(val[OPT_KEYRING]);
    cfg->ca_file = val[OPT_CA_FILE] ? strdup(val[OPT_CA_FILE]) : NULL;
    cfg->pin_sha256 = val[OPT_PIN_SHA256] ? strdup(val[OPT_PIN_SHA256]) : NULL;
    const char *gs = val[OPT_GRANT_STORE];
    int gs_pg = gs != NULL && strcmp(gs, "file") != 0;
    cfg->grant_store = gs_pg ? strdup(gs) : NULL;
    cfg->jwks_uri = val[OPT_JWKS_URI] ? strdup(val[OPT_JWKS_URI]) : NULL;
    const char *px = val[OPT_PROXY];
    int px_given = px != NULL && strcmp(px, "env") != 0;
    cfg->proxy = px_given ? strdup(strcmp(px, "none") == 0 ? "" : px) : NULL;
    if (!cfg->issuer || !cfg->fhir_base || !cfg->api_base || !cfg->redirect_uri ||
        !cfg->scope || !cfg->store || !cfg->keyring ||
        (val[OPT_CLIENT_ID] && !cfg->client_id) || (val[OPT_CA_FILE] && !cfg->ca_file) ||
        (val[OPT_PIN_SHA256] && !cfg->pin_sha256) || (val[OPT_JWKS_URI] && !cfg->jwks_uri) ||
        (px_given && !cfg->proxy) || (gs_pg && !cfg->grant_store)) {
        config_free(cfg);
        return err_set(err, VAP_E_NOMEM, "out of memory reading the options");
    }
    return VAP_OK;
}

/* grant_store=file (the default) or a PostgreSQL URI or conninfo string.
 * A password on the config line would be a secret in an option: libpq
 * reads it from ~/.pgpass or a service file instead. */
static int check_grant_store(const char *v, vap_error *err)
{
    if (strcmp(v, "file") == 0)
        return VAP_OK;
    int uri = strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;
    if (!uri && strchr(v, '=') == NULL)
        return err_set(err, VAP_E_CONFIG,
                       "grant_store is neither file nor a PostgreSQL URI or conninfo string: use "
                       "grant_store=file (the default) or, for example, "
                       "grant_store=postgresql://vap@db.example.org/vap");
    char why[200];
    if (pqlib_load(why, sizeof why) != 0)
        return err_set(err, VAP_E_CONFIG, "grant_store names PostgreSQL, but %s", why);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(v, &perr);
    if (opts == NULL) {
        /* libpq's message may quote the value: say only that it is malformed. */
        PQfreemem(perr);
        return err_set(err, VAP_E_CONFIG,
                       "grant_store is not a valid PostgreSQL URI or conninfo string (see "
                       "libpq's \"Connection Strings\")");
    }
    int has_pw = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if ((strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) &&
            o->val != NULL && o->val[0] != '\0')
            has_pw = 1;
    PQconninfoFree(opts);
    if (has_pw)
        return err_set(err, VAP_E_CONFIG,
                       "grant_store holds a password: no secret may be an option; remove it and "
                       "give it to libpq in ~/.pgpass (mode 0600, of the service user) or a "
                       "service file (grant_store=postgresql:///?service=NAME)");
    return VAP_OK;
}

/* grant=authorization_code (the default) or client_credentials (SMART
 * Backend Services), whose default scope is the system/ reads. */
static int config_grant(const char *grant, const char *scope_given, struct config *cfg,
                        const char **scope, vap_error *err)
{
    cfg->grant = CONFIG_GRANT_AUTHORIZATION_CODE;
    if (grant == NULL || strcmp(grant, "authorization_code") == 0)
        return VAP_OK;
    if (strcmp(grant, "client_credentials") != 0)
        return err_set(err, VAP_E_CONFIG,
                       "grant=%.32s is not known: use grant=authorization_code (a staff member "
                       "authorizes) or grant=client_credentials (backend services)", grant);
    cfg->grant = CONFIG_GRANT_CLIENT_CREDENTIALS;
    if (scope_given == NULL)
        *scope = CONFIG_DEFAULT_SYSTEM_SCOPE;
    return VAP_OK;
}

/* The scope's contexts must fit the grant: system/ scopes are issued only
 * to backend services, and a backend token drops user/ and patient/ ones.
 * The message names the first misfit and the line to use instead; a line
 * too long for the message is logged at error level as the line to paste. */
static int config_scope_grant(enum config_grant grant, const char *scope, vap_error *err)
{
    int backend = grant == CONFIG_GRANT_CLIENT_CREDENTIALS;
    char first[96], fixed[1024];
    const char *misfit = backend ? (scope_first_with_prefix(scope, "user/", first, sizeof first) == 0 ||
                                            scope_first_with_prefix(scope, "patient/", first,
                                                                    sizeof first) == 0
                                        ? first
                                        : NULL)
                                 : (scope_first_with_prefix(scope, "system/", first,
                                                            sizeof first) == 0
                                        ? first
                                        : NULL);
    if (misfit == NULL) {
        if (backend && !scope_has_prefix(scope, "system/"))
            return err_set(err, VAP_E_CONFIG,
                           "grant=client_credentials needs system/ scopes (for example "
                           "scope=\"api:fhir system/Patient.read system/Appointment.read\")");
        return VAP_OK;
    }
    int moved = scope_to_context(scope, backend ? "system" : "user", fixed, sizeof fixed);
    if (moved <= 0)
        snprintf(fixed, sizeof fixed, "%s", backend ? CONFIG_DEFAULT_SYSTEM_SCOPE
                                                    : CONFIG_DEFAULT_SCOPE);
    char msg[sizeof err->message + 1];
    int w = backend
                ? snprintf(msg, sizeof msg,
                           "scope has %s, but grant=client_credentials (backend services) gets "
                           "system/ scopes only; use: scope=\"%s\"",
                           misfit, fixed)
                : snprintf(msg, sizeof msg,
                           "scope has %s, which OpenEMR grants to backend services only "
                           "(grant=client_credentials); for a line a staff member authorizes "
                           "use: scope=\"%s\"",
                           misfit, fixed);
    if (w > 0 && (size_t)w < sizeof err->message)
        return err_set(err, VAP_E_CONFIG, "%s", msg);
    plog(VAP_LOG_ERROR, "scope to paste: scope=\"%s\"", fixed);
    if (backend)
        return err_set(err, VAP_E_CONFIG,
                       "scope has %.64s, but grant=client_credentials (backend services) gets "
                       "system/ scopes only: paste the scope= line printed above, or remove "
                       "grant=client_credentials for a line a staff member authorizes",
                       misfit);
    return err_set(err, VAP_E_CONFIG,
                   "scope has %.64s, which OpenEMR grants to backend services only: paste the "
                   "user/ scope= line printed above, or, for backend services, add "
                   "grant=client_credentials client_auth=private_key_jwt",
                   misfit);
}

const char *config_scope_warning_text(unsigned bit)
{
    switch (bit) {
    case SCOPE_WARN_NO_OFFLINE:
        return "scope has no offline_access: OpenEMR will issue no refresh token, so a staff "
               "member must authorize again every hour; add offline_access";
    case SCOPE_WARN_PATIENT_BOUND:
        return "scope uses patient/ scopes: the grant will be bound to the one patient picked "
               "at consent; for a practice-wide phone line use user/ scopes";
    case SCOPE_WARN_NO_OPENID:
        return "scope has no openid: no id_token is issued, so the plugin cannot verify who "
               "authorized; add openid";
    case SCOPE_WARN_API_NEEDS_OEMR:
        return "scope has standard-API scopes (like user/soap_note.write) without api:oemr: "
               "OpenEMR refuses /api/ requests without it; add api:oemr";
    case SCOPE_WARN_UNKNOWN:
        return "scope names scopes this OpenEMR version may not know; OpenEMR rejects the "
               "whole authorization on the first unknown scope";
    case SCOPE_WARN_SYSTEM:
        return "scope uses system/ scopes, which are practice-wide by nature: the token reads "
               "every patient's records, and OpenEMR's audit log shows each request as its API "
               "system user, not a staff member";
    case SCOPE_WARN_PATIENT_NO_LAUNCH:
        return "scope has patient/ scopes without launch/patient: a staff login gets no "
               "patient picker, so there is no patient to bind to; add launch/patient";
    default:
        return "";
    }
}

void config_free(struct config *cfg)
{
    char **fields[] = {&cfg->issuer, &cfg->fhir_base, &cfg->api_base, &cfg->client_id,
                       &cfg->redirect_uri, &cfg->scope, &cfg->store, &cfg->keyring,
                       &cfg->ca_file, &cfg->pin_sha256, &cfg->proxy, &cfg->jwks_uri,
                       &cfg->grant_store};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* ---- helpers --------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t l = strlen(suffix);
    return n >= l && memcmp(s + n - l, suffix, l) == 0;
}

/* Find "/oauth2" as a whole path segment; returns its offset or -1. */
static long find_segment(const char *path, size_t n, const char *seg)
{
    size_t l = strlen(seg);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(path + i, seg, l) == 0 && (i + l == n || path[i + l] == '/'))
            return (long)i;
    return -1;
}

/* The OpenEMR-shaped corrections of an issuer path; 1 if one applies. */
static int issuer_fix_path(const char *path, size_t n, char *out, size_t cap)
{
    static const char *const tails[] = {"/.well-known/openid-configuration", "/authorize",
                                        "/token", "/"};
    size_t len = n;
    int changed = 0;
    for (int again = 1; again;) {
        again = 0;
        for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
            /* A trailing slash is only a mistake on OpenEMR's issuer: other
             * providers (Auth0, for one) publish issuers ending in '/'. */
            if (tails[t][1] == '\0' && find_segment(path, len, "/oauth2") < 0)
                continue;
            if (len > 1 && ends_with(path, len, tails[t])) {
                len -= strlen(tails[t]);
                changed = again = 1;
            }
        }
    }
    long at = find_segment(path, len, "/oauth2");
    if (at >= 0 && (size_t)at + 7 == len) { /* ".../oauth2": no site segment */
        snprintf(out, cap, "%.*s/default", (int)len, path);
        return 1;
    }
    if (!changed)
        return 0;
    snprintf(out, cap, "%.*s", (int)len, path);
    return 1;
}

static int check_issuer(const char *v, vap_error *err)
{
    struct url_parts u;
    if (url_split(v, strlen(v), &u) != 0 || u.query || u.frag)
        return err_set(err, VAP_E_CONFIG,
                       "issuer must be an absolute https URL without spaces, user name, query "
                       "or fragment, e.g. issuer=https://emr.example.org/oauth2/default");
    int http = url_scheme_is(&u, "http");
    if (!http && !url_scheme_is(&u, "https"))
        return err_set(err, VAP_E_CONFIG, "issuer must use https");
    char path[URL_MAX_LEN + 16];
    int fixed = issuer_fix_path(u.path, u.path_len, path, sizeof path);
    if (!fixed && !http)
        return VAP_OK;
    if (!fixed)
        snprintf(path, sizeof path, "%.*s", (int)u.path_len, u.path);
    const char *why = http ? "issuer must use https (OpenEMR's login cookie is Secure-only, and "
                             "tokens must never cross the network in clear)"
                           : "issuer is not OpenEMR's issuer (the OAuth base with its site "
                             "segment, no endpoint name, no trailing slash)";
    const char *hostport = u.scheme + u.scheme_len + 3;
    return err_set(err, VAP_E_CONFIG, "%s; use: issuer=https://%.*s%s", why,
                   (int)(u.path - hostport), hostport, path);
}

static int check_fhir_base(const char *v, vap_error *err)
{
    struct url_parts u;
    if (url_split(v, strlen(v), &u) != 0 || u.query || u.frag)
        return err_set(err, VAP_E_CONFIG,
                       "fhir_base must be an absolute https URL without query or fragment, "
                       "e.g. fhir_base=https://emr.example.org/apis/default/fhir");
    int http = url_scheme_is(&u, "http");
    if (!http && !url_scheme_is(&u, "https"))
        return err_set(err, VAP_E_CONFIG, "fhir_base must use https");
    size_t len = u.path_len;
    while (len > 1 && u.path[len - 1] == '/')
        len--;
    int changed = len != u.path_len;
    char path[URL_MAX_LEN + 16];
    snprintf(path, sizeof path, "%.*s", (int)len, u.path);
    long at = find_segment(path, len, "/apis");
    if (at >= 0) {
        const char *after = path + at + 5;
        if (strcmp(after, "/fhir") == 0 || strcmp(after, "") == 0) {
            /* .../apis/fhir or .../apis: the site segment is missing. */
            snprintf(path + at, sizeof path - (size_t)at, "/apis/default/fhir");
            changed = 1;
        } else if (ends_with(path, strlen(path), "/api")) {
            /* The standard API base; FHIR is its sibling. */
            path[strlen(path) - 4] = '\0';
            strncat(path, "/fhir", sizeof path - strlen(path) - 1);
            changed = 1;
        } else if (strchr(after + 1, '/') == NULL && after[0] == '/') {
            /* .../apis/default: the /fhir is missing. */
            strncat(path, "/fhir", sizeof path - strlen(path) - 1);
            changed = 1;
        }
    }
    if (!changed && !http)
        return VAP_OK;
    const char *prefix = http ? "fhir_base must use https" : "fhir_base is not OpenEMR's FHIR base "
                                                             "(https://HOST/apis/SITE/fhir, no "
                                                             "trailing slash)";
    const char *hostport = u.scheme + u.scheme_len + 3;
    return err_set(err, VAP_E_CONFIG, "%s; use: fhir_base=https://%.*s%s", prefix,
                   (int)(u.path - hostport), hostport, path);
}

static int check_redirect_uri(const char *v, vap_error *err)
{
    struct url_parts u;
    if (url_split(v, strlen(v), &u) != 0 || u.frag)
        return err_set(err, VAP_E_CONFIG,
                       "redirect_uri must be an absolute URL without fragment, exactly as "
                       "registered in OpenEMR, e.g. redirect_uri=" CONFIG_DEFAULT_REDIRECT_URI);
    if (url_scheme_is(&u, "https"))
        return VAP_OK;
    if (url_scheme_is(&u, "http") && url_is_loopback(&u))
        return VAP_OK;
    return err_set(err, VAP_E_CONFIG,
                   "redirect_uri must be https, or http only on this machine's loopback "
                   "(localhost, 127.0.0.1 or [::1]); an http address elsewhere would send the "
                   "authorization code across the network in clear");
}

static int check_abs_path(const char *key, const char *v, vap_error *err)
{
    if (v[0] != '/')
        return err_set(err, VAP_E_CONFIG,
                       "%s must be an absolute path (starting with /), not '%.128s'", key, v);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return err_set(err, VAP_E_CONFIG, "%s contains a control character", key);
    return VAP_OK;
}

static int check_client_id(const char *v, vap_error *err)
{
    size_t n = strlen(v);
    if (n == 0 || n > 256)
        return err_set(err, VAP_E_CONFIG,
                       "client_id must be 1 to 256 characters: copy it from Administration > "
                       "System > API Clients");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return err_set(err, VAP_E_CONFIG,
                           "client_id contains a space or an unusual character at position %zu: "
                           "copy it again from Administration > System > API Clients", i + 1);
    return VAP_OK;
}

static int check_pin(const char *v, vap_error *err)
{
    const char *p = v;
    while (*p) {
        if (strncmp(p, "sha256//", 8) != 0)
            goto bad;
        p += 8;
        size_t k = 0;
        while (p[k] && p[k] != ';') {
            char c = p[k];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '='))
                goto bad;
            k++;
        }
        if (k != PIN_B64_LEN)
            goto bad;
        p += k;
        if (*p == ';')
            p++;
    }
    return VAP_OK;
bad:
    return err_set(err, VAP_E_CONFIG,
                   "pin_sha256 must be one or more sha256//BASE64 public-key hashes separated by "
                   "';' (certtool --certificate-info prints them as pin-sha256:...)");
}

/* proxy=none, env, or a proxy URL (scheme, host, optional port) as libcurl's
 * URL parser reads it.  No secret is ever an option: a user or password is
 * refused, and no message echoes the value (it might hold one). */
/* Where OpenEMR reads the client's public keys (registered with
 * vap-host register --backend --jwks-uri): https, no spaces. */
static int check_jwks_uri(const char *v, vap_error *err)
{
    if (strncmp(v, "https://", 8) != 0 || v[8] == '\0' || v[8] == '/')
        return err_set(err, VAP_E_CONFIG,
                       "jwks_uri must be the https URL where OpenEMR reads this client's public "
                       "keys (for example jwks_uri=https://keys.example.org/vap/jwks.json)");
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
            return err_set(err, VAP_E_CONFIG,
                           "jwks_uri must be a plain https URL without spaces or a #fragment");
    return VAP_OK;
}

static int check_proxy(const char *v, vap_error *err)
{
    static const char *const schemes[] = {"http", "https", "socks4", "socks4a", "socks5", "socks5h"};
    if (strcmp(v, "none") == 0 || strcmp(v, "env") == 0)
        return VAP_OK;
    CURLU *u = curl_url();
    char *scheme = NULL, *user = NULL, *pass = NULL, *path = NULL, *query = NULL;
    int ok = u != NULL && strstr(v, "://") != NULL &&
             curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
    int known = 0;
    for (size_t i = 0; ok && i < sizeof schemes / sizeof schemes[0]; i++)
        known |= strcasecmp(scheme, schemes[i]) == 0;
    int creds = ok && (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
                       curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK);
    int extra = ok && ((curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) ||
                       curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK);
    ok = ok && known && !extra;
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    if (ok && creds)
        return err_set(err, VAP_E_CONFIG,
                       "proxy must not hold a user or password (no secret is ever an option): an "
                       "authenticated proxy takes its credentials from the environment only; set "
                       "https_proxy in the host process's environment and proxy=env");
    if (!ok)
        return err_set(err, VAP_E_CONFIG,
                       "proxy must be none, env (https_proxy and no_proxy from the environment) "
                       "or a proxy URL such as proxy=http://proxy.example.org:3128");
    return VAP_OK;
}

static int parse_long(const char *key, const char *v, long min, long max, long *out,
                      vap_error *err)
{
    char *end = NULL;
    errno = 0;
    long x = (v[0] >= '0' && v[0] <= '9') ? strtol(v, &end, 10) : -1;
    if (end == NULL || *end != '\0' || errno != 0 || x < min || x > max)
        return err_set(err, VAP_E_CONFIG, "%s must be a whole number from %ld to %ld, not '%.32s'",
                       key, min, max, v);
    *out = x;
    return VAP_OK;
}


/* The guide's field names and other keys admins type, with what to do. */
static const char *const hint_discovered =
    "the endpoints are discovered from issuer= (OpenEMR's OAuth base, "
    "https://HOST/oauth2/SITE): remove it";
static const char *const hint_secret =
    "a secret never goes on the config line: remove it and seal it with "
    "vap-seal put client_secret (it reads the secret from standard input)";
static const struct {
    const char *key;
    const char *hint;
} opt_misnamed[] = {
    {"authorization_endpoint", NULL}, {"token_endpoint", NULL},  {"jwks_uri", NULL},
    {"userinfo_endpoint", NULL},      {"registration_endpoint", NULL},
    {"client_secret", NULL},          {"secret", NULL},          {"password", NULL},
    {"fhir_base_url", "fhir_base"},   {"fhir_url", "fhir_base"}, {"base_url", "fhir_base"},
    {"redirect_url", "redirect_uri"}, {"scopes", "scope"},
};

/* Levenshtein distance, capped: keys are short and ASCII. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 64), lb = strnlen(b, 64);
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int config_unknown_option(const char *key, vap_error *err)
{
    for (size_t i = 0; i < sizeof opt_misnamed / sizeof opt_misnamed[0]; i++) {
        if (strcmp(key, opt_misnamed[i].key) != 0)
            continue;
        if (opt_misnamed[i].hint != NULL)
            return err_set(err, VAP_E_CONFIG, "unknown option '%s': did you mean %s?", key,
                           opt_misnamed[i].hint);
        int secret = strstr(key, "secret") != NULL || strcmp(key, "password") == 0;
        return err_set(err, VAP_E_CONFIG, "option '%s' is not taken: %s", key,
                       secret ? hint_secret : hint_discovered);
    }
    const char *best = NULL;
    size_t best_d = 3;
    for (int j = 0; j < OPT_COUNT; j++) {
        size_t d = edit_distance(key, opt_names[j]);
        if (d < best_d && d * 3 <= strlen(opt_names[j])) {
            best = opt_names[j];
            best_d = d;
        }
    }
    if (best != NULL)
        return err_set(err, VAP_E_CONFIG, "unknown option '%.64s': did you mean %s?", key, best);
    /* Every option name beside the key when they fit in vap_error's
     * message; else as many as fit, and where the others are. */
    static const char more[] = " ... (vap-plugins.conf(5))";
    const size_t room = sizeof ((vap_error *)0)->message - 1 - sizeof "'12345678' is not an option: ";
    size_t total = 0;
    for (int j = 0; j < OPT_COUNT; j++)
        total += strlen(opt_names[j]) + (j ? 1 : 0);
    size_t limit = total <= room ? room : room - (sizeof more - 1);
    char list[320];
    size_t used = 0;
    int j = 0;
    for (; j < OPT_COUNT; j++) {
        size_t l = strlen(opt_names[j]) + (j ? 1 : 0);
        if (used + l > limit)
            break;
        snprintf(list + used, sizeof list - used, "%s%s", j ? " " : "", opt_names[j]);
        used += l;
    }
    if (j < OPT_COUNT)
        snprintf(list + used, sizeof list - used, "%s", more);
    return err_set(err, VAP_E_CONFIG, "'%.8s' is not an option: %s", key, list);
}

/* One message, not two: the line to paste is in it when it fits in
 * vap_error's 256 bytes; a longer line and the patient-bound alternative
 * are logged at error level, which no log_level holds back, as the lines
 * to paste, and the message points there.  A user/ line that replaces
 * patient/ scopes says it reaches every patient. */
static int config_scope_refused(const struct scope_report *rep, vap_error *err)
{
    if (!rep->corrected[0])
        return err_set(err, VAP_E_CONFIG, "scope: %s", rep->reason);
    char more[32] = "";
    if (rep->n_bad > 1)
        snprintf(more, sizeof more, " and %u more", rep->n_bad - 1);
    const char *wide = rep->alternative[0] ? ", practice-wide (all patients)" : "";
    char msg[sizeof err->message + 1];
    int w = snprintf(msg, sizeof msg, "scope: OpenEMR rejects %s%s; use%s: scope=\"%s\"",
                     rep->first_bad, more, wide, rep->corrected);
    int fits = w > 0 && (size_t)w < sizeof err->message;
    if (!fits)
        plog(VAP_LOG_ERROR, "scope to paste%s: scope=\"%s\"", wide, rep->corrected);
    if (rep->alternative[0])
        plog(VAP_LOG_ERROR, "or, for a grant bound to the one patient picked at consent: "
                            "scope=\"%s\"", rep->alternative);
    if (fits)
        return err_set(err, VAP_E_CONFIG, "%s", msg);
    int rules = strncmp(rep->first_bad, "FHIR scopes", 11) != 0;
    return err_set(err, VAP_E_CONFIG,
                   "scope: OpenEMR rejects %.96s%s%s; paste the %sscope= line printed above",
                   rep->first_bad, more,
                   rules ? " (no wildcards; every resource scope needs user/ or patient/)" : "",
                   rep->alternative[0] ? "practice-wide (all patients) " : "");
}

static char *derive_api_base(const char *fhir_base)
{
    size_t n = strlen(fhir_base);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, fhir_base, n + 1);
    if (n >= 5 && strcmp(out + n - 5, "/fhir") == 0)
        memcpy(out + n - 5, "/api", 5);
    return out;
}
