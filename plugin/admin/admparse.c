/* admparse.c - parsers for the admin path's server answers (admparse.h).
 * Every member is checked for type and size before it is used; nothing
 * read here is trusted to be short or printable. */
#include "admin/admparse.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/json.h"
#include "core/scope.h"

static int id_char_ok(unsigned char c);
static int scope_token_ok(const char *s);
static int join_scope(char *dst, size_t *used, const char *s);

int adm_reg_parse(const char *buf, size_t len, struct adm_reg *out, char *secret,
                  size_t secret_cap, size_t *secret_len, vap_error *err)
{
    char why[96];
    int rc;
    json_t *root = NULL;

    memset(out, 0, sizeof *out);
    *secret_len = 0;
    if (secret_cap > 0)
        secret[0] = '\0';
    root = pjson_parse(buf, len, ADM_BODY_CAP, why, sizeof why);
    if (!json_is_object(root)) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the registration endpoint's answer is not a JSON object (%s): is issuer= "
                     "an OpenEMR server?", root ? "another JSON value" : why);
        goto out;
    }
    const json_t *id = json_object_get(root, "client_id");
    size_t id_len = json_is_string(id) ? json_string_length(id) : 0;
    if (id_len == 0 || id_len > ADM_CLIENT_ID_MAX) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the registration answer has no usable client_id (missing, empty, or "
                     "longer than %u characters)", ADM_CLIENT_ID_MAX);
        goto out;
    }
    const char *idv = json_string_value(id);
    for (size_t i = 0; i < id_len; i++)
        if (!id_char_ok((unsigned char)idv[i])) {
            rc = err_set(err, VAP_E_PROTOCOL,
                         "the registration answer's client_id has characters other than "
                         "letters, digits and . _ ~ -");
            goto out;
        }
    memcpy(out->client_id, idv, id_len);
    const json_t *sec = json_object_get(root, "client_secret");
    if (sec != NULL && !json_is_string(sec) && !json_is_null(sec)) {
        rc = err_set(err, VAP_E_PROTOCOL, "the registration answer's client_secret is not a "
                                          "string");
        goto out;
    }
    size_t sec_len = json_is_string(sec) ? json_string_length(sec) : 0;
    if (sec_len == 0) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the server registered client %s as a public client (no client_secret): "
                     "OpenEMR makes a confidential client only for application_type \"private\"; "
                     "delete that client in Administration > System > API Clients",
                     out->client_id);
        goto out;
    }
    if (sec_len + 1 > secret_cap) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the registration answer's client_secret is longer than %zu characters",
                     secret_cap > 0 ? secret_cap - 1 : 0);
        goto out;
    }
    const char *sv = json_string_value(sec);
    for (size_t i = 0; i < sec_len; i++)
        if ((unsigned char)sv[i] < 0x21 || (unsigned char)sv[i] > 0x7e) {
            rc = err_set(err, VAP_E_PROTOCOL, "the registration answer's client_secret has "
                                              "spaces or non-printable characters");
            goto out;
        }
    memcpy(secret, sv, sec_len);
    secret[sec_len] = '\0';
    *secret_len = sec_len;
    const json_t *role = json_object_get(root, "client_role");
    if (json_is_string(role) && json_string_length(role) <= ADM_ROLE_MAX &&
        scope_token_ok(json_string_value(role)))
        memcpy(out->client_role, json_string_value(role), json_string_length(role));
    rc = VAP_OK;
out:
    if (rc != VAP_OK) {
        memset(out, 0, sizeof *out);
        if (secret_cap > 0)
            sodium_memzero(secret, secret_cap);
        *secret_len = 0;
    }
    json_decref(root); /* Jansson's strings are wiped on free (json.c) */
    return rc;
}

int adm_disc_parse(const char *buf, size_t len, struct adm_disc *out, vap_error *err)
{
    char why[96];
    int rc;
    char *joined = NULL;
    size_t used = 0;
    json_t *root = NULL;

    memset(out, 0, sizeof *out);
    root = pjson_parse(buf, len, ADM_BODY_CAP, why, sizeof why);
    if (!json_is_object(root)) {
        rc = err_set(err, VAP_E_PROTOCOL, "the OpenID configuration is not a JSON object (%s)",
                     root ? "another JSON value" : why);
        goto out;
    }
    const json_t *m = json_object_get(root, "code_challenge_methods_supported");
    if (m != NULL && !json_is_array(m)) {
        rc = err_set(err, VAP_E_PROTOCOL, "code_challenge_methods_supported is not a list");
        goto out;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(m, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), "S256") == 0)
            out->s256 = 1;
    const json_t *sc = json_object_get(root, "scopes_supported");
    if (sc == NULL || json_is_null(sc)) {
        rc = VAP_OK;
        goto out;
    }
    if (!json_is_array(sc)) {
        rc = err_set(err, VAP_E_PROTOCOL, "scopes_supported is not a list");
        goto out;
    }
    joined = malloc(ADM_SCOPES_MAX + 1);
    if (joined == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory");
        goto out;
    }
    joined[0] = '\0';
    json_array_foreach(sc, i, v) {
        const json_t *inner = v;
        size_t j = 0, n = json_is_array(v) ? json_array_size(v) : 1;
        for (j = 0; j < n; j++) {
            const json_t *e = json_is_array(v) ? json_array_get(v, j) : inner;
            if (!json_is_string(e) || !scope_token_ok(json_string_value(e)) ||
                join_scope(joined, &used, json_string_value(e)) != 0) {
                rc = err_set(err, VAP_E_PROTOCOL,
                             "scopes_supported holds something other than scope names, or "
                             "more than %u bytes of them", ADM_SCOPES_MAX);
                goto out;
            }
        }
    }
    out->scopes = joined;
    joined = NULL;
    rc = VAP_OK;
out:
    free(joined);
    json_decref(root);
    return rc;
}

void adm_disc_free(struct adm_disc *d)
{
    if (d == NULL)
        return;
    free(d->scopes);
    memset(d, 0, sizeof *d);
}

int adm_metadata_parse(const char *buf, size_t len, char *version, size_t cap, vap_error *err)
{
    char why[96];
    int rc;
    json_t *root = pjson_parse(buf, len, ADM_BODY_CAP, why, sizeof why);
    if (cap > 0)
        version[0] = '\0';
    const char *rt = json_is_object(root) ? pjson_str(root, "resourceType") : NULL;
    if (rt == NULL || strcmp(rt, "CapabilityStatement") != 0) {
        rc = err_set(err, VAP_E_PROTOCOL,
                     "the FHIR /metadata answer is not a CapabilityStatement (%s): is fhir_base "
                     "OpenEMR's FHIR API (https://HOST/apis/default/fhir)?",
                     root == NULL ? why : "other JSON");
        goto out;
    }
    const json_t *fv = json_object_get(root, "fhirVersion");
    if (json_is_string(fv) && json_string_length(fv) < cap &&
        json_string_length(fv) < ADM_FHIR_VERSION_MAX && scope_token_ok(json_string_value(fv)))
        memcpy(version, json_string_value(fv), json_string_length(fv) + 1);
    rc = VAP_OK;
out:
    json_decref(root);
    return rc;
}

size_t adm_scopes_missing(const char *configured, size_t len, const char *supported,
                          char *out, size_t cap)
{
    size_t missing = 0, used = 0, slen = supported ? strlen(supported) : 0;
    if (cap > 0)
        out[0] = '\0';
    size_t i = 0;
    while (i < len) {
        while (i < len && configured[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && configured[i] != ' ')
            i++;
        size_t n = i - start;
        if (n == 0 || n >= SCOPE_MAX_LEN)
            continue;
        char name[SCOPE_MAX_LEN];
        memcpy(name, configured + start, n);
        name[n] = '\0';
        if (scope_has(supported, slen, name))
            continue;
        missing++;
        if (used + n + (used ? 1 : 0) + 1 <= cap) {
            if (used)
                out[used++] = ' ';
            memcpy(out + used, name, n + 1);
            used += n;
        }
    }
    return missing;
}

/* ---- helpers ---------------------------------------------------------------- */

static int id_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '-';
}

/* RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E. */
static int scope_token_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

static int join_scope(char *dst, size_t *used, const char *s)
{
    size_t n = strlen(s); /* a Jansson string we checked: NUL-terminated, printable */
    if (*used + n + 1 > ADM_SCOPES_MAX)
        return -1;
    if (*used)
        dst[(*used)++] = ' ';
    memcpy(dst + *used, s, n + 1);
    *used += n;
    return 0;
}
