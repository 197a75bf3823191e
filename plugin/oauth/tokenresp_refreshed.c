/* tokenresp_refreshed.c - reading a refresh's 2xx answer (DESIGN.md, Keeping
 * the grant alive, rule 9).  By the time it arrives the server has rotated:
 * the old refresh token is dead, so an answer with a well-formed refresh
 * token is kept.  The members that are not the tokens are read leniently:
 * a fractional expires_in is rounded down, a need_patient_banner of the
 * wrong type is read as text or dropped, an unusable scope, context or
 * id_token is dropped (the grant keeps what it had), unknown members are
 * named - each as a warning.  The tokens themselves are then parsed by
 * tokresp_parse, unchanged.  Pure: no I/O, no globals. */
#include "oauth/tokenresp.h"

#include <jansson.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/json.h"

static const char *const known[] = {
    "access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token",
    "patient", "encounter", "need_patient_banner", "smart_style_url", "intent",
    "fhirContext", "tenant", "state"};
/* Dropped one by one, in this order, while the strict parse still fails:
 * none of them is the refresh token. */
static const char *const droppable[] = {"scope", "patient", "encounter", "need_patient_banner",
                                        "expires_in", "id_token"};

__attribute__((format(printf, 3, 4))) static void warn_add(char *warn, size_t cap,
                                                           const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(warn);
    if (n + 3 >= cap)
        return;
    if (n > 0) {
        memcpy(warn + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(warn + n, cap - n, fmt, ap);
    va_end(ap);
}

/* A member's name as it may be logged: plain characters only, short. */
static void clean_name(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap && o < 40; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '_' || c == '-' || c == '.' || c == ':'
                       ? (char)c
                       : '?';
    }
    out[o] = '\0';
}

static void wipe_tokens(json_t *root)
{
    static const char *const secrets[] = {"access_token", "refresh_token", "id_token"};
    for (size_t i = 0; json_is_object(root) && i < 3; i++) {
        json_t *v = json_object_get(root, secrets[i]);
        if (json_is_string(v))
            sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
}

static void normalise(json_t *root, char *warn, size_t cap)
{
    const char *type = pjson_str(root, "token_type");
    if (type == NULL || strcasecmp(type, "Bearer") != 0) {
        warn_add(warn, cap, "%s token_type (taken as Bearer)", type == NULL ? "no" : "an unexpected");
        json_object_set_new(root, "token_type", json_string("Bearer"));
    }
    json_t *v = json_object_get(root, "expires_in");
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 1 && d <= 2147483647.0) {
            json_int_t whole = (json_int_t)d; /* rounded down: never longer */
            char n[24];
            snprintf(n, sizeof n, "%lld", (long long)whole);
            warn_add(warn, cap, "expires_in is not a whole number (taken as %s s)", n);
            json_object_set_new(root, "expires_in", json_integer(whole));
        }
    }
    v = json_object_get(root, "need_patient_banner");
    if (v != NULL && !json_is_boolean(v) && !json_is_null(v)) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        int t = strcmp(s, "true") == 0, f = strcmp(s, "false") == 0;
        warn_add(warn, cap, "need_patient_banner is not true or false (%s)",
                 t || f ? "read as text" : "ignored");
        if (t || f)
            json_object_set_new(root, "need_patient_banner", json_boolean(t));
        else
            json_object_del(root, "need_patient_banner");
    }
    const char *key;
    json_t *val;
    size_t unknown = 0;
    json_object_foreach(root, key, val) {
        int is_known = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !is_known; i++)
            is_known = strcmp(key, known[i]) == 0;
        if (!is_known && unknown++ < 3) {
            char name[48];
            clean_name(key, name, sizeof name);
            warn_add(warn, cap, "unknown member %s (ignored)", name);
        }
    }
}

int tokresp_parse_refreshed(const char *body, size_t len, tokresp *out, char *warn,
                            size_t warn_cap, vap_error *err)
{
    char why[96];
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "tokresp_parse_refreshed: no output");
    memset(out, 0, sizeof *out);
    out->need_patient_banner = -1;
    if (warn_cap > 0)
        warn[0] = '\0';
    json_t *root = pjson_parse(body, len, TOKRESP_BODY_CAP, why, sizeof why);
    if (!json_is_object(root) || warn_cap == 0) {
        json_decref(root);
        return tokresp_parse(body, len, out, err); /* its message says why */
    }
    normalise(root, warn, warn_cap);
    int rc = VAP_E_PROTOCOL;
    for (size_t drop = 0;; drop++) {
        char *dump = json_dumps(root, JSON_COMPACT);
        if (dump == NULL) {
            rc = err_set(err, VAP_E_NOMEM, "out of memory reading the token response");
            break;
        }
        vap_error perr;
        VAP_INIT(vap_error, perr);
        rc = tokresp_parse(dump, strlen(dump), out, &perr);
        sodium_memzero(dump, strlen(dump));
        free(dump);
        if (rc == VAP_OK || rc == VAP_E_NOMEM) {
            if (rc != VAP_OK)
                err_copy(err, &perr);
            break;
        }
        /* Still refused: drop the next member that is not a token the
         * grant needs, or give up with the strict reason. */
        while (drop < sizeof droppable / sizeof droppable[0] &&
               json_object_get(root, droppable[drop]) == NULL)
            drop++;
        if (drop >= sizeof droppable / sizeof droppable[0]) {
            err_copy(err, &perr);
            break;
        }
        warn_add(warn, warn_cap, "the server's %s is unusable (ignored)", droppable[drop]);
        json_t *gone = json_object_get(root, droppable[drop]);
        if (json_is_string(gone))
            sodium_memzero((char *)json_string_value(gone), json_string_length(gone));
        json_object_del(root, droppable[drop]);
    }
    wipe_tokens(root);
    json_decref(root);
    return rc;
}
