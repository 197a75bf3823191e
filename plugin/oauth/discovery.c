/* discovery.c - validating the authorization server's metadata before a
 * secret is sent to, or a browser pointed at, any URL it names. */
#include "oauth/discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/json.h"
#include "core/url.h"

static const struct {
    const char *name;
    unsigned bit;
} disc_algs[] = {
    {"RS256", DISC_ALG_RS256},
    {"RS384", DISC_ALG_RS384},
    {"ES256", DISC_ALG_ES256},
    {"ES384", DISC_ALG_ES384},
};

static const struct {
    const char *name;
    unsigned bit;
} disc_auths[] = {
    {"client_secret_basic", DISC_AUTH_BASIC},
    {"client_secret_post", DISC_AUTH_POST},
    {"private_key_jwt", DISC_AUTH_PRIVATE_KEY_JWT},
};

static int disc_endpoint(const json_t *root, const char *key, int required,
                         const struct url_parts *issuer, char **dst,
                         vap_error *err);
static int disc_list(const json_t *root, const char *key, const json_t **arr,
                     vap_error *err);
static int disc_list_has(const json_t *arr, const char *value);
static int disc_opt_string(const json_t *root, const char *key, char **dst,
                           vap_error *err);
static char *disc_strdup(const char *s);

int disc_oidc_parse(const char *buf, size_t len, const char *expected_issuer,
                    disc_oidc *out, vap_error *err)
{
    char why[96];
    struct url_parts iss_url;
    disc_oidc d = {0};
    json_t *root = NULL;
    const json_t *list;
    int rc;

    if (out == NULL || expected_issuer == NULL)
        return err_set(err, VAP_E_INVAL, "disc_oidc_parse: no input");
    memset(out, 0, sizeof *out);
    root = pjson_parse(buf, len, DISC_BODY_CAP, why, sizeof why);
    if (!json_is_object(root)) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The OpenID discovery document is unusable (%s): check "
                     "that the issuer option names the OAuth server",
                     root ? "not a JSON object" : why);
        goto out;
    }
    const char *iss = pjson_str(root, "issuer");
    if (iss == NULL) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The OpenID discovery document has no issuer: check that "
                     "the issuer option names the OAuth server");
        goto out;
    }
    if (iss[0] == '/') {
        rc = err_set(err, VAP_E_CONFIG,
                     "OpenEMR's discovery gives a relative issuer (%.80s): its "
                     "Site Address setting is empty; an admin must set it to "
                     "https://HOST (Administration → Config → Connectors)", iss);
        goto out;
    }
    if (strcmp(iss, expected_issuer) != 0) {
        rc = err_set(err, VAP_E_CONFIG,
                     "The server calls itself issuer %.90s, not %.90s: fix the "
                     "issuer option (exact text) or the server's Site Address",
                     iss, expected_issuer);
        goto out;
    }
    if (url_split(iss, strlen(iss), &iss_url) != 0 ||
        !url_scheme_is(&iss_url, "https")) {
        rc = err_set(err, VAP_E_CONFIG,
                     "The issuer %.120s is not an https URL: use https", iss);
        goto out;
    }
    d.issuer = disc_strdup(iss);
    if (d.issuer == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "Out of memory reading discovery");
        goto out;
    }
    if ((rc = disc_endpoint(root, "authorization_endpoint", 1, &iss_url,
                            &d.authorization_endpoint, err)) ||
        (rc = disc_endpoint(root, "token_endpoint", 1, &iss_url,
                            &d.token_endpoint, err)) ||
        (rc = disc_endpoint(root, "jwks_uri", 1, &iss_url, &d.jwks_uri, err)) ||
        (rc = disc_endpoint(root, "registration_endpoint", 0, &iss_url,
                            &d.registration_endpoint, err)) ||
        (rc = disc_endpoint(root, "introspection_endpoint", 0, &iss_url,
                            &d.introspection_endpoint, err)) ||
        (rc = disc_endpoint(root, "end_session_endpoint", 0, &iss_url,
                            &d.end_session_endpoint, err)))
        goto out;

    if ((rc = disc_list(root, "code_challenge_methods_supported", &list, err)))
        goto out;
    if (!disc_list_has(list, "S256")) {
        rc = err_set(err, VAP_E_UNSUPPORTED,
                     "The server does not advertise PKCE S256 "
                     "(code_challenge_methods_supported): it cannot be used "
                     "safely; enable PKCE S256 on the server");
        goto out;
    }
    if ((rc = disc_list(root, "response_types_supported", &list, err)))
        goto out;
    if (list != NULL && !disc_list_has(list, "code")) {
        rc = err_set(err, VAP_E_UNSUPPORTED,
                     "The server does not offer the authorization code flow "
                     "(response_types_supported lacks \"code\")");
        goto out;
    }
    if ((rc = disc_list(root, "id_token_signing_alg_values_supported", &list,
                        err)))
        goto out;
    for (size_t i = 0; i < sizeof disc_algs / sizeof disc_algs[0]; i++)
        if (disc_list_has(list, disc_algs[i].name))
            d.algs |= disc_algs[i].bit;
    if (d.algs == 0) {
        rc = err_set(err, VAP_E_UNSUPPORTED,
                     "The server signs id_tokens with none of RS256, RS384, "
                     "ES256, ES384 (id_token_signing_alg_values_supported): "
                     "configure one of them on the server");
        goto out;
    }
    if ((rc = disc_list(root, "token_endpoint_auth_methods_supported", &list,
                        err)))
        goto out;
    for (size_t i = 0; i < sizeof disc_auths / sizeof disc_auths[0]; i++)
        if (list == NULL ? disc_auths[i].bit == DISC_AUTH_BASIC
                         : disc_list_has(list, disc_auths[i].name))
            d.auth_methods |= disc_auths[i].bit;

    const json_t *flag =
        json_object_get(root, "authorization_response_iss_parameter_supported");
    if (flag != NULL && !json_is_boolean(flag)) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The discovery document's authorization_response_iss_"
                     "parameter_supported is not true or false");
        goto out;
    }
    d.iss_parameter_supported = json_is_true(flag);
    *out = d;
    memset(&d, 0, sizeof d);
    rc = VAP_OK;
out:
    json_decref(root);
    disc_oidc_free(&d);
    return rc;
}

void disc_oidc_free(disc_oidc *d)
{
    if (d == NULL)
        return;
    free(d->issuer);
    free(d->authorization_endpoint);
    free(d->token_endpoint);
    free(d->jwks_uri);
    free(d->registration_endpoint);
    free(d->introspection_endpoint);
    free(d->end_session_endpoint);
    memset(d, 0, sizeof *d);
}

int disc_client_auth(const disc_oidc *d, const char *option, int key_sealed, unsigned *method,
                     vap_error *err)
{
    if (d == NULL || method == NULL)
        return err_set(err, VAP_E_INVAL, "disc_client_auth: no input");
    if (option != NULL && strcmp(option, "basic") == 0) {
        *method = DISC_AUTH_BASIC;
        return VAP_OK;
    }
    if (option != NULL && strcmp(option, "post") == 0) {
        *method = DISC_AUTH_POST;
        return VAP_OK;
    }
    if (option != NULL && strcmp(option, "private_key_jwt") == 0) {
        *method = DISC_AUTH_PRIVATE_KEY_JWT;
        return VAP_OK;
    }
    if (option != NULL && strcmp(option, "auto") != 0)
        return err_set(err, VAP_E_CONFIG,
                       "client_auth must be auto, basic, post or private_key_jwt");
    if (key_sealed && (d->auth_methods & DISC_AUTH_PRIVATE_KEY_JWT))
        *method = DISC_AUTH_PRIVATE_KEY_JWT;
    else if (d->auth_methods & DISC_AUTH_BASIC)
        *method = DISC_AUTH_BASIC;
    else if (d->auth_methods & DISC_AUTH_POST)
        *method = DISC_AUTH_POST;
    else
        return err_set(err, VAP_E_UNSUPPORTED,
                       "The server lists neither client_secret_basic nor "
                       "client_secret_post: set client_auth=basic or "
                       "client_auth=post if it accepts one anyway");
    return VAP_OK;
}

int disc_smart_parse(const char *buf, size_t len, disc_smart *out,
                     vap_error *err)
{
    char why[96];
    disc_smart s = {0};
    json_t *root = NULL;
    const json_t *list;
    int rc;

    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "disc_smart_parse: no output");
    memset(out, 0, sizeof *out);
    root = pjson_parse(buf, len, DISC_BODY_CAP, why, sizeof why);
    if (!json_is_object(root)) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The SMART configuration is unusable (%s): check that "
                     "fhir_base names the FHIR server",
                     root ? "not a JSON object" : why);
        goto out;
    }
    if ((rc = disc_opt_string(root, "issuer", &s.issuer, err)) ||
        (rc = disc_opt_string(root, "authorization_endpoint",
                              &s.authorization_endpoint, err)) ||
        (rc = disc_opt_string(root, "token_endpoint", &s.token_endpoint, err)) ||
        (rc = disc_list(root, "capabilities", &list, err)))
        goto out;
    size_t total = 1, n = list ? json_array_size(list) : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(list, i);
        size_t cl = json_is_string(c) ? json_string_length(c) : 0;
        const char *cs = json_is_string(c) ? json_string_value(c) : "";
        int ok = cl > 0 && cl <= 128;
        for (size_t k = 0; ok && k < cl; k++)
            ok = cs[k] > 0x20 && cs[k] < 0x7f;
        if (!ok) {
            rc = err_set(err, VAP_E_PROTOCOL,
                         "The SMART configuration's capabilities are not "
                         "a list of names");
            goto out;
        }
        total += cl + 1;
    }
    s.capabilities = malloc(total);
    if (s.capabilities == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "Out of memory reading SMART config");
        goto out;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(list, i);
        if (o > 0)
            s.capabilities[o++] = ' ';
        memcpy(s.capabilities + o, json_string_value(c), json_string_length(c));
        o += json_string_length(c);
    }
    s.capabilities[o] = '\0';
    if ((rc = disc_list(root, "code_challenge_methods_supported", &list, err)))
        goto out;
    s.s256 = disc_list_has(list, "S256");
    if ((rc = disc_list(root, "token_endpoint_auth_methods_supported", &list,
                        err)))
        goto out;
    for (size_t i = 0; i < sizeof disc_auths / sizeof disc_auths[0]; i++)
        if (disc_list_has(list, disc_auths[i].name))
            s.auth_methods |= disc_auths[i].bit;
    *out = s;
    memset(&s, 0, sizeof s);
    rc = VAP_OK;
out:
    json_decref(root);
    disc_smart_free(&s);
    return rc;
}

void disc_smart_free(disc_smart *s)
{
    if (s == NULL)
        return;
    free(s->issuer);
    free(s->authorization_endpoint);
    free(s->token_endpoint);
    free(s->capabilities);
    memset(s, 0, sizeof *s);
}

int disc_smart_has(const disc_smart *s, const char *capability)
{
    if (s == NULL || s->capabilities == NULL || capability == NULL ||
        capability[0] == '\0')
        return 0;
    size_t n = strlen(capability);
    for (const char *p = s->capabilities; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, capability, n) == 0)
            return 1;
        p += k;
        if (*p == ' ')
            p++;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* An endpoint must be usable before anything is sent to it: absolute,
 * https, on the issuer's host and port, no control characters. */
static int disc_endpoint(const json_t *root, const char *key, int required,
                         const struct url_parts *issuer, char **dst,
                         vap_error *err)
{
    struct url_parts u;
    const json_t *v = json_object_get(root, key);

    if (v == NULL || json_is_null(v)) {
        if (!required)
            return VAP_OK;
        return err_set(err, VAP_E_PROTOCOL,
                       "The OpenID discovery document has no %s: the server "
                       "cannot be used for this sign-in", key);
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > DISC_URL_MAX)
        return err_set(err, VAP_E_PROTOCOL,
                       "The discovery document's %s is not a URL", key);
    const char *url = json_string_value(v);
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return err_set(err, VAP_E_PROTOCOL,
                           "The discovery document's %s contains spaces or "
                           "control characters", key);
    if (url[0] == '/')
        return err_set(err, VAP_E_CONFIG,
                       "OpenEMR's discovery gives a relative %s: its Site "
                       "Address setting is empty; an admin must set it to "
                       "https://HOST (Administration → Config → Connectors)",
                       key);
    if (url_split(url, strlen(url), &u) != 0 || !url_scheme_is(&u, "https") ||
        !url_same_origin(&u, issuer))
        return err_set(err, VAP_E_CONFIG,
                       "The server's %s (%.100s) is not https on the issuer's "
                       "host and port: nothing is sent there; check the "
                       "server's Site Address", key, url);
    *dst = disc_strdup(url);
    if (*dst == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading discovery");
    return VAP_OK;
}

/* *arr = the array member key, or NULL when absent; other types refused. */
static int disc_list(const json_t *root, const char *key, const json_t **arr,
                     vap_error *err)
{
    const json_t *v = json_object_get(root, key);
    *arr = NULL;
    if (v == NULL || json_is_null(v))
        return VAP_OK;
    if (!json_is_array(v))
        return err_set(err, VAP_E_PROTOCOL,
                       "The discovery document's %s is not a list", key);
    *arr = v;
    return VAP_OK;
}

/* Exact, case-sensitive membership (RFC 8414 values are case-sensitive). */
static int disc_list_has(const json_t *arr, const char *value)
{
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (json_is_string(e) && strcmp(json_string_value(e), value) == 0)
            return 1;
    }
    return 0;
}

static int disc_opt_string(const json_t *root, const char *key, char **dst,
                           vap_error *err)
{
    const json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return VAP_OK;
    if (!json_is_string(v) || json_string_length(v) > DISC_URL_MAX)
        return err_set(err, VAP_E_PROTOCOL,
                       "The SMART configuration's %s is not a short string",
                       key);
    *dst = disc_strdup(json_string_value(v));
    if (*dst == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading SMART config");
    return VAP_OK;
}

static char *disc_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}
