/* tokenresp.c - strict parsing of token endpoint answers and the mapping of
 * OAuth error bodies (OpenEMR's exact texts, OPENEMR.md §6) to statuses and
 * messages a practice admin can act on. */
#include "oauth/tokenresp.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/json.h"

/* Largest expires_in we accept: anything bigger is nonsense, not a token
 * lifetime, and would overflow millisecond arithmetic downstream. */
#define TOKRESP_EXPIRES_MAX INT64_C(2147483647)

static int tokresp_take_token(const json_t *root, const char *key, int required,
                              char **dst, vap_error *err);
static int tokresp_take_scope(const json_t *root, char **dst, vap_error *err);
static int tokresp_take_fhir_id(const json_t *root, const char *key,
                                char **dst, vap_error *err);
static int tokresp_take_expires(const json_t *root, int64_t *dst,
                                vap_error *err);
static int tokresp_take_banner(const json_t *root, int *dst, vap_error *err);
static int tokresp_is_absent(const json_t *v);
static int tokresp_token_chars(const char *s, size_t len);
static int tokresp_error_chars(const char *s);
static int tokresp_classify_oauth(int status, const tokresp_error *e,
                                  const tokresp_ctx *ctx, vap_error *err);
static int tokresp_invalid_client(int status, vap_error *err);
static int tokresp_invalid_scope(const tokresp_error *e, vap_error *err);
static int tokresp_contains(const char *haystack, const char *needle);
static size_t tokresp_utf8_len(const unsigned char *s);

int tokresp_parse(const char *body, size_t len, tokresp *out, vap_error *err)
{
    char why[96];
    int rc = VAP_E_PROTOCOL;
    tokresp t = {0};
    json_t *root = NULL;

    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "tokresp_parse: no output");
    memset(out, 0, sizeof *out);
    t.need_patient_banner = -1;
    out->need_patient_banner = -1;

    root = pjson_parse(body, len, TOKRESP_BODY_CAP, why, sizeof why);
    if (root == NULL) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The token endpoint's answer is unusable (%s): check that "
                     "the issuer is the OAuth server and not a proxy page", why);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The token endpoint's answer is not a JSON object: check "
                     "that the issuer is the OAuth server");
        goto out;
    }
    const char *type = pjson_str(root, "token_type");
    if (type == NULL || strcasecmp(type, "Bearer") != 0) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "The token endpoint returned %s token_type; only Bearer "
                     "tokens are supported",
                     type == NULL ? "no" : "an unsupported");
        goto out;
    }
    if ((rc = tokresp_take_token(root, "access_token", 1, &t.access_token, err)) ||
        (rc = tokresp_take_token(root, "refresh_token", 0, &t.refresh_token, err)) ||
        (rc = tokresp_take_token(root, "id_token", 0, &t.id_token, err)) ||
        (rc = tokresp_take_expires(root, &t.expires_in, err)) ||
        (rc = tokresp_take_scope(root, &t.scope, err)) ||
        (rc = tokresp_take_fhir_id(root, "patient", &t.patient, err)) ||
        (rc = tokresp_take_fhir_id(root, "encounter", &t.encounter, err)) ||
        (rc = tokresp_take_banner(root, &t.need_patient_banner, err)))
        goto out;
    *out = t;
    memset(&t, 0, sizeof t);
    rc = VAP_OK;
out:
    if (root != NULL) {
        /* Jansson frees without wiping: clear the secrets it still holds. */
        static const char *const secrets[] = {"access_token", "refresh_token",
                                              "id_token"};
        for (size_t i = 0; json_is_object(root) && i < 3; i++) {
            json_t *v = json_object_get(root, secrets[i]);
            if (json_is_string(v))
                sodium_memzero((char *)json_string_value(v),
                               json_string_length(v));
        }
        json_decref(root);
    }
    tokresp_free(&t);
    return rc;
}

void tokresp_free(tokresp *t)
{
    if (t == NULL)
        return;
    char **fields[] = {&t->access_token, &t->refresh_token, &t->id_token,
                       &t->scope, &t->patient, &t->encounter};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (*fields[i] != NULL) {
            sodium_memzero(*fields[i], strlen(*fields[i]));
            free(*fields[i]);
        }
    }
    memset(t, 0, sizeof *t);
    t->need_patient_banner = -1;
}

int tokresp_error_parse(const char *body, size_t len, tokresp_error *out)
{
    char why[8];
    int rc = VAP_E_PROTOCOL;
    json_t *root = NULL;

    if (out == NULL)
        return VAP_E_INVAL;
    memset(out, 0, sizeof *out);
    if (body == NULL || len == 0)
        goto out;
    root = pjson_parse(body, len, TOKRESP_BODY_CAP, why, sizeof why);
    if (!json_is_object(root))
        goto out;
    const char *code = pjson_str(root, "error");
    if (code == NULL || code[0] == '\0' || !tokresp_error_chars(code))
        goto out;
    tokresp_clean_text(code, out->error, sizeof out->error);
    const char *desc = pjson_str(root, "error_description");
    if (desc == NULL)
        desc = pjson_str(root, "message");
    tokresp_clean_text(desc, out->description, sizeof out->description);
    tokresp_clean_text(pjson_str(root, "hint"), out->hint, sizeof out->hint);
    rc = VAP_OK;
out:
    json_decref(root);
    return rc;
}

int tokresp_classify(int http_status, const char *body, size_t len,
                     const tokresp_ctx *ctx, vap_error *err)
{
    static const tokresp_ctx defaults = {TOKRESP_GRANT_CODE, NULL, 0, NULL, NULL};
    tokresp_error e;
    int rc;

    if (ctx == NULL)
        ctx = &defaults;
    int parsed = tokresp_error_parse(body, len, &e) == VAP_OK;
    if (http_status >= 500 || http_status == 429) {
        rc = err_set(err, VAP_E_UNAVAILABLE,
                     "The token endpoint is unavailable (HTTP %d%s%s): try "
                     "again later; if it lasts, check the OpenEMR server",
                     http_status, parsed ? ", " : "", parsed ? e.error : "");
    } else if (!parsed && http_status == 404) {
        rc = err_set(err, VAP_E_CONFIG,
                     "The token endpoint was not found (HTTP 404): check the "
                     "issuer option and that OpenEMR's APIs are enabled");
    } else if (!parsed) {
        /* A proxy or maintenance page rather than the OAuth server. */
        rc = err_set(err, VAP_E_UNAVAILABLE,
                     "The token endpoint answered HTTP %d without an OAuth "
                     "error: a proxy or maintenance page is likely in the "
                     "way; try again later and check the server if it lasts",
                     http_status);
    } else if (ctx->grant == TOKRESP_GRANT_REFRESH) {
        rc = tokresp_classify_refresh(http_status, &e, ctx, err);
    } else {
        rc = tokresp_classify_oauth(http_status, &e, ctx, err);
    }
    err_set_http(err, http_status, ctx->retry_after_s, parsed ? e.error : NULL);
    return rc;
}

void tokresp_clean_text(const char *in, char *out, size_t out_size)
{
    size_t o = 0;

    if (out == NULL || out_size == 0)
        return;
    out[0] = '\0';
    if (in == NULL)
        return;
    /* Cleaning maps each byte or sequence to as many bytes, so the cleaned
     * text is exactly as long as the input: decide the cut up front. */
    size_t total = strlen(in);
    int cut = total >= out_size;
    size_t limit = !cut ? total : (out_size > 4 ? out_size - 4 : 0);
    const unsigned char *p = (const unsigned char *)in;
    while (*p) {
        size_t n = tokresp_utf8_len(p);
        size_t take = n ? n : 1;
        if (o + take > limit)
            break;
        if (n == 0)
            out[o] = '?';
        else if (n == 1)
            out[o] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        else /* a C1 control or bidi override becomes spaces */
            memcpy(out + o, err_utf8_hidden(p, n) ? (const unsigned char *)"    " : p, n);
        o += take;
        p += take;
    }
    for (int dots = 0; cut && dots < 3 && o + 1 < out_size; dots++)
        out[o++] = '.';
    out[o] = '\0';
}

int tokresp_hint_name(const char *hint, char *out, size_t out_size)
{
    char name[256];

    if (out_size)
        out[0] = '\0';
    if (hint == NULL)
        return 0;
    const char *a = strchr(hint, '`');
    const char *b = a ? strchr(a + 1, '`') : NULL;
    if (b == NULL || b == a + 1 || (size_t)(b - a - 1) >= sizeof name)
        return 0;
    memcpy(name, a + 1, (size_t)(b - a - 1));
    name[b - a - 1] = '\0';
    tokresp_clean_text(name, out, out_size);
    return 1;
}

void tokresp_detail(const char *code, const char *desc, char *out,
                    size_t out_size)
{
    if (desc != NULL && desc[0] != '\0')
        snprintf(out, out_size, "%s: \"%s\"", code, desc);
    else
        snprintf(out, out_size, "%s", code);
}

void tokresp_scope_advice(const char *scope, char *out, size_t out_size)
{
    if (out_size == 0)
        return;
    out[0] = '\0';
    if (scope == NULL || scope[0] == '\0')
        return;
    const char *dot = strrchr(scope, '.');
    if (strchr(scope, '*') != NULL)
        snprintf(out, out_size, "OpenEMR has no wildcard scopes: list each "
                 "resource, e.g. patient/Patient.read");
    else if (strchr(scope, '/') == NULL && dot != NULL && dot != scope &&
             scope[0] >= 'A' && scope[0] <= 'Z')
        snprintf(out, out_size, "a resource scope needs a context: "
                 "patient/%.60s or user/%.60s", scope, scope);
    else if (strcmp(scope, "nonce") == 0)
        snprintf(out, out_size, "send the granted scopes explicitly, "
                 "without nonce");
}

/* ---- helpers ------------------------------------------------------------ */

static int tokresp_is_absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

/* Copy a token member; refuse anything that could break out of a header. */
static int tokresp_take_token(const json_t *root, const char *key, int required,
                              char **dst, vap_error *err)
{
    const json_t *v = json_object_get(root, key);
    if (tokresp_is_absent(v)) {
        if (!required)
            return VAP_OK;
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint's answer has no %s: the server "
                       "did not issue a token; authorize again", key);
    }
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (!json_is_string(v) || n == 0 || n > TOKRESP_TOKEN_MAX ||
        !tokresp_token_chars(json_string_value(v), n))
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint's %s is not a usable token (empty, "
                       "over %u bytes, or not printable ASCII)", key,
                       TOKRESP_TOKEN_MAX);
    *dst = malloc(n + 1);
    if (*dst == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading the %s", key);
    memcpy(*dst, json_string_value(v), n + 1);
    return VAP_OK;
}

/* RFC 6749 §3.3 scope tokens, re-joined with single spaces. */
static int tokresp_take_scope(const json_t *root, char **dst, vap_error *err)
{
    const json_t *v = json_object_get(root, "scope");
    if (tokresp_is_absent(v))
        return VAP_OK;
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (!json_is_string(v) || n > TOKRESP_SCOPE_MAX)
        goto bad;
    const char *s = json_string_value(v);
    char *o = malloc(n + 1);
    if (o == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading the scope");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ') {
            if (k > 0 && o[k - 1] != ' ')
                o[k++] = ' ';
        } else if (c >= 0x21 && c <= 0x7e && c != '"' && c != '\\') {
            o[k++] = (char)c;
        } else {
            free(o);
            goto bad;
        }
    }
    if (k > 0 && o[k - 1] == ' ')
        k--;
    o[k] = '\0';
    *dst = o;
    return VAP_OK;
bad:
    return err_set(err, VAP_E_PROTOCOL,
                   "The token endpoint's scope is not a list of scope names "
                   "(RFC 6749 §3.3): the server is misbehaving");
}

static int tokresp_take_fhir_id(const json_t *root, const char *key,
                                char **dst, vap_error *err)
{
    const json_t *v = json_object_get(root, key);
    if (tokresp_is_absent(v))
        return VAP_OK;
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    int ok = n >= 1 && n <= TOKRESP_FHIR_ID_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '.';
    }
    if (!ok)
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint's %s context is not a FHIR id "
                       "(1-64 of A-Z a-z 0-9 - .)", key);
    *dst = malloc(n + 1);
    if (*dst == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory reading %s", key);
    memcpy(*dst, s, n + 1);
    return VAP_OK;
}

static int tokresp_take_expires(const json_t *root, int64_t *dst,
                                vap_error *err)
{
    const json_t *v = json_object_get(root, "expires_in");
    int64_t val = -1;

    if (tokresp_is_absent(v)) {
        *dst = 0;
        return VAP_OK;
    }
    if (json_is_integer(v)) {
        val = (int64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        /* Some servers quote it; take plain digits only, no sign/space. */
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (n >= 1 && n <= 10) {
            val = 0;
            for (size_t i = 0; i < n && val >= 0; i++)
                val = (s[i] >= '0' && s[i] <= '9') ? val * 10 + (s[i] - '0')
                                                   : -1;
        }
    }
    if (val <= 0 || val > TOKRESP_EXPIRES_MAX)
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint's expires_in is not a positive "
                       "number of seconds: the server is misbehaving");
    *dst = val;
    return VAP_OK;
}

static int tokresp_take_banner(const json_t *root, int *dst, vap_error *err)
{
    const json_t *v = json_object_get(root, "need_patient_banner");
    if (tokresp_is_absent(v))
        return VAP_OK;
    if (!json_is_boolean(v))
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint's need_patient_banner is not true "
                       "or false: the server is misbehaving");
    *dst = json_is_true(v) ? 1 : 0;
    return VAP_OK;
}

/* Visible ASCII only: a token travels in headers and form bodies. */
static int tokresp_token_chars(const char *s, size_t len)
{
    /* Visible ASCII without '"' and '\\': no real token uses them (JWTs and
     * OpenEMR's def502... blobs are base64url/hex), and refusing them keeps
     * the sealed grant's worst case within its payload cap (no escaping). */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == '"' ||
            s[i] == '\\')
            return 0;
    return 1;
}

/* RFC 6749 §5.2: error = 1*( %x20-21 / %x23-5B / %x5D-7E ). */
static int tokresp_error_chars(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* The authorization_code exchange: OPENEMR.md §6, rows a code can hit. */
static int tokresp_classify_oauth(int status, const tokresp_error *e,
                                  const tokresp_ctx *ctx, vap_error *err)
{
    char name[96], detail[200];
    const char *code = e->error;

    tokresp_detail(code, e->description, detail, sizeof detail);

    if (strcmp(code, "invalid_client") == 0)
        return tokresp_invalid_client(status, err);
    if (strcmp(code, "invalid_scope") == 0)
        return tokresp_invalid_scope(e, err);
    if (strcmp(code, "invalid_request") == 0) {
        if (tokresp_contains(e->hint, "code has expired"))
            return err_set(err, VAP_E_REAUTH_REQUIRED,
                           "The authorization code expired before it was "
                           "exchanged (invalid_request; OpenEMR accepts it for "
                           "60 seconds): authorize again and finish promptly");
        if (tokresp_contains(e->hint, "redirect uri"))
            return err_set(err, VAP_E_CONFIG,
                           "Redirect URI refused (invalid_request): the plugin "
                           "sent %.90s, which must match the registered one "
                           "byte for byte; fix redirect_uri or the registration",
                           ctx->redirect_uri ? ctx->redirect_uri : "(none)");
        if (tokresp_contains(e->hint, "not issued to this client"))
            return err_set(err, VAP_E_CONFIG,
                           "The authorization code belongs to another client "
                           "(invalid_request): check that client_id is the "
                           "client you authorized, then authorize again");
        if (tokresp_hint_name(e->hint, name, sizeof name))
            return err_set(err, VAP_E_PROTOCOL,
                           "The token endpoint says the `%s` parameter is "
                           "missing or wrong (invalid_request): authorize "
                           "again; if it repeats, report this message", name);
        if (strcasecmp(e->description, "Bad request") == 0)
            return err_set(err, VAP_E_REAUTH_REQUIRED,
                           "The token endpoint did not recognise the "
                           "authorization code (invalid_request: \"Bad "
                           "request\"): authorize again from the start");
        return err_set(err, VAP_E_PROTOCOL,
                       "The token endpoint refused the request "
                       "(%s): authorize again; report it if it repeats",
                       detail);
    }
    if (strcmp(code, "invalid_grant") == 0) {
        if (tokresp_contains(e->hint, "code_verifier") ||
            tokresp_contains(e->description, "code_verifier") ||
            tokresp_contains(e->description, "PKCE"))
            return err_set(err, VAP_E_REAUTH_REQUIRED,
                           "PKCE verification failed (invalid_grant): the "
                           "server did not accept the code verifier for this "
                           "code; authorize again from the start");
        return err_set(err, VAP_E_REAUTH_REQUIRED,
                       "The authorization code is invalid, expired or used "
                       "(%s): authorize again", detail);
    }
    if (strcmp(code, "unsupported_grant_type") == 0)
        return err_set(err, VAP_E_UNSUPPORTED,
                       "The token endpoint does not accept this grant type "
                       "(unsupported_grant_type): the server must allow "
                       "authorization_code and refresh_token");
    if (strcmp(code, "unauthorized_client") == 0)
        return err_set(err, VAP_E_CLIENT,
                       "The client may not use this grant "
                       "(unauthorized_client): allow authorization_code and "
                       "refresh_token in the client's registration");
    if (strcmp(code, "access_denied") == 0)
        return err_set(err, VAP_E_DENIED,
                       "The token endpoint denied access (%s): authorize "
                       "with a user who has access", detail);
    if (strcmp(code, "temporarily_unavailable") == 0 ||
        strcmp(code, "server_error") == 0)
        return err_set(err, VAP_E_UNAVAILABLE,
                       "The token endpoint had a server problem (%s): try "
                       "again later", code);
    return err_set(err, VAP_E_PROTOCOL,
                   "The token endpoint refused the request (%s, HTTP %d): "
                   "authorize again; report it if it repeats", detail, status);
}

static int tokresp_invalid_client(int status, vap_error *err)
{
    return err_set(err, VAP_E_CLIENT,
                   "Client rejected (invalid_client, HTTP %d): if access was "
                   "just approved, an admin must enable the client under "
                   "Administration → System → API Clients; else check "
                   "client_id and the sealed client secret", status);
}

static int tokresp_invalid_scope(const tokresp_error *e, vap_error *err)
{
    char name[96], advice[192];

    if (!tokresp_hint_name(e->hint, name, sizeof name))
        tokresp_clean_text("(not named by the server)", name, sizeof name);
    tokresp_scope_advice(name, advice, sizeof advice);
    return err_set(err, VAP_E_CONFIG,
                   "The server rejected the scope %s (invalid_scope): %s%s"
                   "correct the scope option and authorize again", name,
                   advice, advice[0] ? "; " : "");
}

/* Case-insensitive substring; either may be NULL. */
static int tokresp_contains(const char *haystack, const char *needle)
{
    return haystack != NULL && needle != NULL &&
           strcasestr(haystack, needle) != NULL;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), 0 if ill-formed. */
static size_t tokresp_utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned int cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}
