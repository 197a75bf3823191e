/* sim_control.c: the loopback-only control endpoint (/_sim/...) that lets a
 * test move the simulator's clock-driven state without waiting: expire
 * tokens, revoke refresh tokens, rotate the signing key, skew the clock,
 * inject faults, manage clients, read counters.  JSON in, JSON out. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sim_internal.h"

typedef struct match { const char *client_id, *token; long long now; size_t n; } match;

static int is_loopback(struct MHD_Connection *conn);
/* The rotation times kept, oldest first: the last element is the latest. */
static void rotations(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    json_t *times = json_array();
    pthread_mutex_lock(&s->lock);
    unsigned long total = s->rotations_total;
    unsigned long first = total > SIM_ROTATIONS_KEPT ? total - SIM_ROTATIONS_KEPT : 0;
    for (unsigned long i = first; i < total; i++)
        json_array_append_new(times, json_integer(s->rotation_ns[i % SIM_ROTATIONS_KEPT]));
    pthread_mutex_unlock(&s->lock);
    sim_resp_json(r, 200, json_pack("{s:I,s:o}", "total", (json_int_t)total, "monotonic_ns",
                                    times));
}

static int expire_one(void *val, void *ctx);
static int revoke_one(void *val, void *ctx);
static void faults(sim_req *q, sim_resp *r, json_t *in);
static void clients(sim_req *q, sim_resp *r, json_t *in);
static void client_enable(sim_req *q, sim_resp *r, json_t *in);
static void counters(sim_req *q, sim_resp *r, int reset);
static void rotations(sim_req *q, sim_resp *r);
static void bad(sim_resp *r, const char *msg);

static const struct { const char *name; int kind; } kinds[] = {
    {"latency", SIM_F_LATENCY}, {"5xx", SIM_F_5XX}, {"reset", SIM_F_RESET},
    {"truncated", SIM_F_TRUNCATED}, {"drip", SIM_F_DRIP},
    {"id_token_bad_signature", SIM_F_IDT_BAD_SIG}, {"id_token_wrong_iss", SIM_F_IDT_WRONG_ISS},
    {"id_token_wrong_aud", SIM_F_IDT_WRONG_AUD}, {"id_token_wrong_nonce", SIM_F_IDT_WRONG_NONCE},
    {"id_token_expired", SIM_F_IDT_EXPIRED}, {"id_token_no_aud", SIM_F_IDT_NO_AUD},
    {"id_token_no_nonce", SIM_F_IDT_NO_NONCE}, {"id_token_iat_future", SIM_F_IDT_IAT_FUTURE},
    {"id_token_alg_none", SIM_F_IDT_ALG_NONE}, {"id_token_hs256", SIM_F_IDT_HS256},
    {"authorize_iss", SIM_F_AUTHZ_ISS}, {"authorize_iss_wrong", SIM_F_AUTHZ_ISS_WRONG},
    {"discovery_iss_supported", SIM_F_DISC_ISS_SUPPORTED},
    {"discovery_relative_urls", SIM_F_DISC_RELATIVE},
    {"next_link", SIM_F_NEXT_LINK}, {"next_link_foreign", SIM_F_NEXT_LINK_FOREIGN},
    {"refresh_invalid_scope", SIM_F_REFRESH_INVALID_SCOPE}, {"paged_total", SIM_F_PAGED_TOTAL},
    {"id_token_other_sub", SIM_F_TOKEN_IDT_OTHER_SUB},
    {"token_banner_string", SIM_F_TOKEN_BANNER_STRING},
    {"token_expires_fractional", SIM_F_TOKEN_EXPIRES_FRACTION},
    {"token_unknown_fields", SIM_F_TOKEN_UNKNOWN_FIELDS},
    {"jwks_not_found", SIM_F_JWKS_NOT_FOUND}, {"fhir_logged_out", SIM_F_FHIR_LOGGED_OUT},
    {"paged_total_stuck", SIM_F_PAGED_TOTAL_STUCK}, {"authorize_bare_401", SIM_F_AUTHZ_BARE_401},
    {"authorize_login_elsewhere", SIM_F_AUTHZ_LOGIN_ELSEWHERE},
    {"authorize_login_http", SIM_F_AUTHZ_LOGIN_HTTP},
    {"authorize_login_absolute", SIM_F_AUTHZ_LOGIN_ABSOLUTE}, {"total_off", SIM_F_TOTAL_OFF},
    {"register_enabled", SIM_F_REGISTER_ENABLED},
    {"register_no_inline_jwks", SIM_F_REGISTER_NO_INLINE_JWKS}};

int sim_control(sim_server *s, const char *action, const char *json, char **out)
{
    sim_req q;
    sim_resp r;
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.srv = s;
    q.method = json ? "POST" : "GET";
    q.path = action;
    q.body = json ? json : "";
    q.body_len = json ? strlen(json) : 0;
    sim_h_control(&q, &r, action);
    int status = r.status;
    if (out) {
        *out = r.body;
        r.body = NULL;
    }
    sim_resp_free(&r);
    return status;
}

void sim_h_control(sim_req *q, sim_resp *r, const char *rest)
{
    sim_srv *s = q->srv;
    json_t *in = NULL;
    /* conn is NULL for in-process calls through sim_control() */
    if (q->conn && !is_loopback(q->conn)) {
        sim_api_error(r, 403, "the control endpoint answers only loopback clients");
        return;
    }
    if (sim_pkjwt_control(q, r, rest, NULL))
        return;
    if (strcmp(q->method, "GET") == 0 && strcmp(rest, "counters") == 0) {
        counters(q, r, 0);
        return;
    }
    if (strcmp(q->method, "GET") == 0 && strcmp(rest, "rotations") == 0) {
        rotations(q, r);
        return;
    }
    if (strcmp(q->method, "POST") != 0) {
        sim_api_error(r, 404, "Route not found");
        return;
    }
    in = q->body_len ? json_loadb(q->body, q->body_len, 0, NULL) : json_object();
    if (!json_is_object(in)) {
        bad(r, "the control body must be a JSON object");
        json_decref(in);
        return;
    }
    if (sim_pkjwt_control(q, r, rest, in)) {
        json_decref(in);
        return;
    }
    if (strcmp(rest, "expire-access-tokens") == 0 || strcmp(rest, "revoke-refresh-tokens") == 0) {
        int expire = rest[0] == 'e';
        match m = {json_string_value(json_object_get(in, "client_id")),
                   json_string_value(json_object_get(in, expire ? "access_token" : "refresh_token")),
                   sim_now(s), 0};
        pthread_mutex_lock(&s->lock);
        if (m.token) {
            sim_grant *g = sim_map_get(expire ? &s->access : &s->refresh, m.token);
            m.token = NULL;
            if (g)
                (expire ? expire_one : revoke_one)(g, &m);
        } else {
            sim_map_sweep(expire ? &s->access : &s->refresh, expire ? expire_one : revoke_one, &m);
        }
        pthread_mutex_unlock(&s->lock);
        sim_resp_json(r, 200, json_pack("{s:I}", expire ? "expired" : "revoked", (json_int_t)m.n));
    } else if (strcmp(rest, "rotate-jwks") == 0) {
        gnutls_privkey_t k;
        if (sim_rsa_new(&k) != 0) {
            sim_api_error(r, 500, "could not generate a new RSA key");
        } else {
            int ok;
            /* old keys stay allocated until stop: a signer may still hold one */
            pthread_mutex_lock(&s->lock);
            ok = s->nkeys < 16;
            if (ok)
                s->keys[s->nkeys++] = k;
            pthread_mutex_unlock(&s->lock);
            if (!ok) {
                gnutls_privkey_deinit(k);
                bad(r, "at most 15 key rotations per run");
            } else {
                sim_resp_json(r, 200, json_pack("{s:b}", "rotated", 1));
            }
        }
    } else if (strcmp(rest, "skew") == 0) {
        json_t *v = json_object_get(in, "seconds");
        if (!json_is_integer(v)) {
            bad(r, "skew needs {\"seconds\": N} (N may be negative)");
        } else {
            __atomic_store_n(&s->skew, (long long)json_integer_value(v), __ATOMIC_RELAXED);
            sim_resp_json(r, 200, json_pack("{s:I}", "skew", json_integer_value(v)));
        }
    } else if (strcmp(rest, "access-ttl") == 0) {
        json_t *v = json_object_get(in, "seconds");
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 86400) {
            bad(r, "access-ttl needs {\"seconds\": N} with 1 <= N <= 86400");
        } else {
            __atomic_store_n(&s->access_ttl, (int)json_integer_value(v), __ATOMIC_RELAXED);
            __atomic_store_n(&s->cc_ttl, (int)json_integer_value(v), __ATOMIC_RELAXED);
            sim_resp_json(r, 200, json_pack("{s:I}", "access_ttl", json_integer_value(v)));
        }
    } else if (strcmp(rest, "system-scopes") == 0) {
        /* Administration -> Config -> Connectors, "Enable OpenEMR FHIR
         * System Scopes" (rest_system_scopes_api) */
        json_t *e = json_object_get(in, "enabled");
        if (!json_is_boolean(e)) {
            bad(r, "system-scopes needs {\"enabled\": true|false}");
        } else {
            __atomic_store_n(&sim_system_scopes, json_is_true(e), __ATOMIC_RELAXED);
            sim_resp_json(r, 200, json_pack("{s:b}", "enabled", json_is_true(e)));
        }
    } else if (strcmp(rest, "faults") == 0) {
        faults(q, r, in);
    } else if (strcmp(rest, "faults/clear") == 0) {
        pthread_mutex_lock(&s->lock);
        memset(s->faults, 0, sizeof(s->faults));
        pthread_mutex_unlock(&s->lock);
        sim_resp_json(r, 200, json_pack("{s:b}", "cleared", 1));
    } else if (strcmp(rest, "clients") == 0) {
        clients(q, r, in);
    } else if (strcmp(rest, "clients/enable") == 0) {
        client_enable(q, r, in);
    } else if (strcmp(rest, "auto-approve") == 0) {
        json_t *u = json_object_get(in, "user");
        json_t *pt = json_object_get(in, "patient");
        if ((u && !json_is_string(u) && !json_is_null(u)) || (pt && !json_is_integer(pt)) ||
            (json_is_string(u) && (strlen(json_string_value(u)) == 0 ||
                                   strlen(json_string_value(u)) >= sizeof(s->auto_user)))) {
            bad(r, "auto-approve needs {\"user\": \"NAME\" or null, \"patient\"?: N}");
        } else {
            pthread_mutex_lock(&s->lock);
            if (json_is_string(u))
                snprintf(s->auto_user, sizeof(s->auto_user), "%s", json_string_value(u));
            else
                s->auto_user[0] = '\0';
            if (pt)
                s->cfg.auto_approve_patient = (long)json_integer_value(pt);
            pthread_mutex_unlock(&s->lock);
            sim_resp_json(r, 200, json_pack("{s:O}", "user", u ? u : json_null()));
        }
    } else if (strcmp(rest, "quirks") == 0) {
        json_t *e = json_object_get(in, "enabled");
        if (!json_is_boolean(e)) {
            bad(r, "quirks needs {\"enabled\": true|false}");
        } else {
            __atomic_store_n(&s->cfg.openemr_quirks, json_is_true(e), __ATOMIC_RELAXED);
            sim_resp_json(r, 200, json_pack("{s:b}", "enabled", json_is_true(e)));
        }
    } else if (strcmp(rest, "manual-approval") == 0) {
        json_t *e = json_object_get(in, "enabled");
        if (!json_is_boolean(e)) {
            bad(r, "manual-approval needs {\"enabled\": true|false}");
        } else {
            __atomic_store_n(&s->cfg.manual_approval, json_is_true(e), __ATOMIC_RELAXED);
            sim_resp_json(r, 200, json_pack("{s:b}", "enabled", json_is_true(e)));
        }
    } else if (strcmp(rest, "prune") == 0) {
        pthread_mutex_lock(&s->lock);
        s->inserts = 511;   /* makes the next call sweep */
        sim_store_prune_locked(s);
        json_int_t a = (json_int_t)s->access.count, rf = (json_int_t)s->refresh.count;
        pthread_mutex_unlock(&s->lock);
        sim_resp_json(r, 200, json_pack("{s:I,s:I}", "access_tokens", a, "refresh_tokens", rf));
    } else if (strcmp(rest, "counters/reset") == 0) {
        counters(q, r, 1);
    } else {
        sim_api_error(r, 404, "Route not found");
    }
    json_decref(in);
}

static void faults(sim_req *q, sim_resp *r, json_t *in)
{
    sim_srv *s = q->srv;
    const char *route = json_string_value(json_object_get(in, "route"));
    const char *kind = json_string_value(json_object_get(in, "kind"));
    json_int_t count = json_integer_value(json_object_get(in, "count"));
    int k = 0;
    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, kind) == 0)
            k = kinds[i].kind;
    if (!route || !*route || strlen(route) >= sizeof(s->faults[0].route) || !k) {
        bad(r, "faults needs {\"route\": \"/path or /prefix*\", \"kind\": latency|5xx|reset|"
               "truncated|drip|id_token_bad_signature|id_token_wrong_iss|id_token_wrong_aud|"
               "id_token_wrong_nonce|id_token_expired|id_token_no_aud|id_token_no_nonce|"
               "id_token_iat_future|id_token_alg_none|id_token_hs256|authorize_iss|"
               "authorize_iss_wrong|discovery_iss_supported|discovery_relative_urls|"
               "next_link|next_link_foreign|refresh_invalid_scope|paged_total|"
               "paged_total_stuck|authorize_bare_401|authorize_login_elsewhere|"
               "authorize_login_http|authorize_login_absolute|total_off|register_enabled|"
               "register_no_inline_jwks, "
               "\"count\": N, \"status\"?, "
               "\"ms\"?}");
        return;
    }
    if (count <= 0)
        count = 1;
    static const char *const only[] = {"/oauth2/default/token", "/oauth2/default/authorize",
                                       "/oauth2/default/.well-known/openid-configuration"};
    int want = k >= SIM_F_NEXT_LINK ? -1 /* any FHIR search route */
             : k >= SIM_F_DISC_ISS_SUPPORTED ? 2 : k >= SIM_F_AUTHZ_ISS ? 1
             : k >= SIM_F_IDT_FIRST ? 0 : -1;
    if (want >= 0 && strcmp(route, only[want]) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the fault %s applies to the route %s only", kind, only[want]);
        bad(r, msg);
        return;
    }
    int placed = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < SIM_MAX_FAULTS && !placed; i++) {
        sim_fault *f = &s->faults[i];
        if (f->remaining > 0)
            continue;
        snprintf(f->route, sizeof(f->route), "%s", route);
        f->kind = k;
        f->remaining = count > 1000000 ? 1000000 : (int)count;
        f->status = (int)json_integer_value(json_object_get(in, "status"));
        f->ms = (int)json_integer_value(json_object_get(in, "ms"));
        placed = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (!placed)
        bad(r, "too many active faults; POST /_sim/faults/clear first");
    else
        sim_resp_json(r, 200, json_pack("{s:s,s:s,s:I}", "route", route, "kind", kind,
                                        "count", count));
}

static void clients(sim_req *q, sim_resp *r, json_t *in)
{
    sim_srv *s = q->srv;
    const char *id = json_string_value(json_object_get(in, "client_id"));
    const char *secret = json_string_value(json_object_get(in, "client_secret"));
    const char *scope = json_string_value(json_object_get(in, "scope"));
    json_t *ru = json_object_get(in, "redirect_uris");
    json_t *pl = json_object_get(in, "post_logout_redirect_uris");
    json_t *en = json_object_get(in, "enabled");
    if (!id || !*id || !scope || !json_is_array(ru) || json_array_size(ru) == 0) {
        bad(r, "clients needs {\"client_id\", \"client_secret\"? (absent = public), "
               "\"redirect_uris\": [..], \"scope\", \"enabled\"?, \"post_logout_redirect_uris\"?}");
        return;
    }
    sim_client *c = calloc(1, sizeof(*c));
    if (!c) {
        sim_api_error(r, 500, "out of memory");
        return;
    }
    c->id = strdup(id);
    c->secret = secret && *secret ? strdup(secret) : NULL;
    c->redirect_uris = json_deep_copy(ru);
    c->post_logout_uris = json_is_array(pl) ? json_deep_copy(pl) : json_array();
    c->scope = strdup(scope);
    c->name = strdup("control-registered client");
    c->enabled = en ? json_is_true(en) : 1;
    char why[128];
    if (sim_pkjwt_register(c, in, why, sizeof why) != 0) {
        sim_client_free(c);
        bad(r, why);
        return;
    }
    pthread_mutex_lock(&s->lock);
    int rc = sim_client_add_locked(s, c);
    pthread_mutex_unlock(&s->lock);
    if (rc)
        sim_api_error(r, 500, "out of memory");
    else
        sim_resp_json(r, 200, json_pack("{s:s,s:b}", "client_id", id, "enabled",
                                        en ? json_is_true(en) : 1));
}

static void client_enable(sim_req *q, sim_resp *r, json_t *in)
{
    sim_srv *s = q->srv;
    const char *id = json_string_value(json_object_get(in, "client_id"));
    json_t *en = json_object_get(in, "enabled");
    if (!id || !json_is_boolean(en)) {
        bad(r, "clients/enable needs {\"client_id\": \"...\", \"enabled\": true|false}");
        return;
    }
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, id);
    if (c)
        c->enabled = json_is_true(en);
    pthread_mutex_unlock(&s->lock);
    if (!c)
        sim_api_error(r, 404, "no such client");
    else
        sim_resp_json(r, 200, json_pack("{s:s,s:b}", "client_id", id, "enabled", json_is_true(en)));
}

static void counters(sim_req *q, sim_resp *r, int reset)
{
    sim_srv *s = q->srv;
    json_t *routes = json_object();
    for (int i = 0; sim_route_name(i) && i < SIM_MAX_ROUTES; i++) {
        unsigned long v = reset ? __atomic_exchange_n(&s->route_count[i], 0, __ATOMIC_RELAXED)
                                : __atomic_load_n(&s->route_count[i], __ATOMIC_RELAXED);
        json_object_set_new(routes, sim_route_name(i), json_integer((json_int_t)v));
    }
    unsigned long g[SIM_G_COUNT], reuse;
    for (int i = 0; i < SIM_G_COUNT; i++)
        g[i] = reset ? __atomic_exchange_n(&s->grant_count[i], 0, __ATOMIC_RELAXED)
                     : __atomic_load_n(&s->grant_count[i], __ATOMIC_RELAXED);
    reuse = reset ? __atomic_exchange_n(&s->refresh_reuse, 0, __ATOMIC_RELAXED)
                  : __atomic_load_n(&s->refresh_reuse, __ATOMIC_RELAXED);
    pthread_mutex_lock(&s->lock);
    json_int_t live_access = (json_int_t)s->access.count, live_refresh = (json_int_t)s->refresh.count;
    pthread_mutex_unlock(&s->lock);
    sim_resp_json(r, 200, json_pack("{s:{s:I,s:I,s:I,s:I},s:I,s:o,s:{s:I,s:I}}",
        "token_requests", "authorization_code", (json_int_t)g[SIM_G_CODE], "refresh_token",
        (json_int_t)g[SIM_G_REFRESH], "other", (json_int_t)g[SIM_G_OTHER],
        "client_credentials", (json_int_t)g[SIM_G_CC],
        "revoked_refresh_reuse", (json_int_t)reuse, "routes", routes,
        "stored", "access_tokens", live_access, "refresh_tokens", live_refresh));
}

static int expire_one(void *val, void *ctx)
{
    sim_grant *g = val;
    match *m = ctx;
    if ((m->client_id && strcmp(m->client_id, g->client_id) != 0) || g->exp < m->now)
        return 0;
    g->exp = m->now - 1;
    m->n++;
    return 0;
}

static int revoke_one(void *val, void *ctx)
{
    sim_grant *g = val;
    match *m = ctx;
    if ((m->client_id && strcmp(m->client_id, g->client_id) != 0) || g->revoked)
        return 0;
    g->revoked = 1;
    m->n++;
    return 0;
}

static int is_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return 0;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    return 0;
}

static void bad(sim_resp *r, const char *msg)
{
    sim_resp_json(r, 400, json_pack("{s:s}", "error", msg));
}
