/* grant.c - the grant payload: a small versioned JSON object.
 *
 * Written by hand into the caller's secure buffer (no intermediate heap copy
 * of a token); read with Jansson, whose allocations the plugin wipes on free
 * (json.c).  Unknown members are ignored so a newer plugin's file still
 * opens; a missing required member is refused. */
#include "oauth/grant.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "core/json.h"
#include "core/log.h"

#define GRANT_VERSION 1

struct grant *grant_new(void)
{
    struct grant *g = sodium_malloc(sizeof *g);
    if (g != NULL)
        grant_clear(g);
    return g;
}

void grant_warn_if_unlocked(const struct grant *g)
{
    static atomic_int warned;
    /* pages sodium_malloc locked lock again at no cost; ones it could not
     * (the process's RLIMIT_MEMLOCK is spent) fail here as they did there */
    if (mlock(g, sizeof *g) == 0 || atomic_exchange(&warned, 1))
        return;
    int why = errno;
    struct rlimit rl = {0};
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        plog(VAP_LOG_WARN,
             "secrets can no longer be kept out of swap: this process may lock only %llu KiB "
             "of memory (ulimit -l) and each instance needs about 52 KiB; raise the service's "
             "limit (LimitMEMLOCK= in its systemd unit, or memlock in "
             "/etc/security/limits.conf)", (unsigned long long)(rl.rlim_cur / 1024));
    else
        plog(VAP_LOG_WARN, "secrets can no longer be kept out of swap: locking memory failed (%s)",
             strerror(why));
}

void grant_free(struct grant *g)
{
    if (g != NULL)
        sodium_free(g); /* sodium_free wipes */
}

void grant_clear(struct grant *g)
{
    sodium_memzero(g, sizeof *g);
}

void grant_copy(struct grant *dst, const struct grant *src)
{
    if (dst != src)
        memcpy(dst, src, sizeof *dst);
}

/* ---- writer ------------------------------------------------------------------ */

struct out {
    char *p;
    size_t cap, len;
    int full;
};

static void put_raw(struct out *o, const char *s, size_t n)
{
    if (o->full || o->cap - o->len < n + 1) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
    put_raw(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put_raw(o, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_raw(o, esc, 6);
        } else {
            put_raw(o, (const char *)&c, 1);
        }
    }
    put_raw(o, "\"", 1);
}

static void put_member_str(struct out *o, const char *key, const char *val)
{
    put_raw(o, ",", 1);
    put_str(o, key);
    put_raw(o, ":", 1);
    put_str(o, val);
}

static void put_member_int(struct out *o, const char *key, int64_t val)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)val);
    put_raw(o, ",", 1);
    put_str(o, key);
    put_raw(o, ":", 1);
    put_raw(o, num, (size_t)n);
}

int grant_serialize(const struct grant *g, char *out, size_t cap, size_t *len)
{
    struct out o = {out, cap, 0, 0};
    if (cap == 0)
        return -1;
    out[0] = '\0';
    put_raw(&o, "{\"v\":1", 6);
    put_member_str(&o, "access_token", g->access_token);
    put_member_str(&o, "refresh_token", g->refresh_token);
    put_member_str(&o, "scope", g->scope);
    put_member_str(&o, "patient", g->patient);
    put_member_str(&o, "encounter", g->encounter);
    put_member_str(&o, "iss", g->iss);
    put_member_str(&o, "sub", g->sub);
    put_member_str(&o, "aud", g->aud);
    put_member_str(&o, "fhir_user", g->fhir_user);
    put_member_int(&o, "access_expires_at_ms", g->access_expires_at_ms);
    put_member_int(&o, "obtained_at_ms", g->obtained_at_ms);
    put_member_int(&o, "lifetime_s", g->lifetime_s);
    put_member_int(&o, "reauth_required", g->reauth_required ? 1 : 0);
    put_raw(&o, "}", 1);
    if (o.full) {
        sodium_memzero(out, cap);
        return -1;
    }
    *len = o.len;
    return 0;
}

/* ---- reader ------------------------------------------------------------------ */

static int get_str(const json_t *root, const char *key, char *dst, size_t cap, int required,
                   char *why, size_t why_len)
{
    const json_t *v = json_object_get(root, key);
    if (v == NULL && !required) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(why, why_len, "member '%s' is missing or not a string", key);
        return -1;
    }
    size_t n = json_string_length(v);
    if (n >= cap || memchr(json_string_value(v), '\0', n) != NULL) {
        snprintf(why, why_len, "member '%s' is too long or contains NUL", key);
        return -1;
    }
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return 0;
}

static int get_int(const json_t *root, const char *key, int64_t *dst, char *why, size_t why_len)
{
    const json_t *v = json_object_get(root, key);
    if (!json_is_integer(v)) {
        snprintf(why, why_len, "member '%s' is missing or not an integer", key);
        return -1;
    }
    *dst = (int64_t)json_integer_value(v);
    return 0;
}

int grant_parse(const char *buf, size_t len, struct grant *g, char *why, size_t why_len)
{
    int rc = -1;
    grant_clear(g);
    json_t *root = pjson_parse(buf, len, GRANT_PAYLOAD_MAX, why, why_len);
    if (root == NULL)
        return -1;
    int64_t version = 0, reauth = 0;
    if (!json_is_object(root)) {
        snprintf(why, why_len, "not a JSON object");
        goto out;
    }
    if (get_int(root, "v", &version, why, why_len) != 0)
        goto out;
    if (version != GRANT_VERSION) {
        snprintf(why, why_len, "grant format version %lld is not supported (this plugin reads %d)",
                 (long long)version, GRANT_VERSION);
        goto out;
    }
    if (get_str(root, "access_token", g->access_token, sizeof g->access_token, 1, why, why_len) ||
        get_str(root, "refresh_token", g->refresh_token, sizeof g->refresh_token, 1, why, why_len) ||
        get_str(root, "scope", g->scope, sizeof g->scope, 1, why, why_len) ||
        get_str(root, "patient", g->patient, sizeof g->patient, 0, why, why_len) ||
        get_str(root, "encounter", g->encounter, sizeof g->encounter, 0, why, why_len) ||
        get_str(root, "iss", g->iss, sizeof g->iss, 0, why, why_len) ||
        get_str(root, "sub", g->sub, sizeof g->sub, 0, why, why_len) ||
        get_str(root, "aud", g->aud, sizeof g->aud, 0, why, why_len) ||
        get_str(root, "fhir_user", g->fhir_user, sizeof g->fhir_user, 0, why, why_len) ||
        get_int(root, "access_expires_at_ms", &g->access_expires_at_ms, why, why_len) ||
        get_int(root, "obtained_at_ms", &g->obtained_at_ms, why, why_len) ||
        get_int(root, "lifetime_s", &g->lifetime_s, why, why_len) ||
        get_int(root, "reauth_required", &reauth, why, why_len))
        goto out;
    if (g->lifetime_s < 0 || g->access_expires_at_ms < 0 || g->obtained_at_ms < 0) {
        snprintf(why, why_len, "negative time in the grant");
        goto out;
    }
    g->reauth_required = reauth != 0;
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        grant_clear(g);
    return rc;
}
