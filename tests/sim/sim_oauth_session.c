/* sim_oauth_session.c: /introspect (form fields only; any failure is
 * {"active":false}) and /logout (every token of that client and user stops
 * working; redirect only to an exactly registered URI), OPENEMR.md §10. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim_internal.h"

static int secret_eq(const char *a, const char *b);

void sim_h_introspect(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    const char *tok = q->form_ok ? sim_form_get(&q->form, "token") : NULL;
    const char *cid = q->form_ok ? sim_form_get(&q->form, "client_id") : NULL;
    const char *sec = q->form_ok ? sim_form_get(&q->form, "client_secret") : NULL;
    json_t *out = NULL;
    pthread_mutex_lock(&s->lock);
    sim_client *c = cid ? sim_map_get(&s->clients, cid) : NULL;
    if (tok && c && c->enabled && (!c->secret || secret_eq(sec, c->secret))) {
        const char *type = "access_token";
        sim_grant *g = sim_map_get(&s->access, tok);
        if (!g) {
            g = sim_map_get(&s->refresh, tok);
            type = "refresh_token";
        }
        if (g && strcmp(g->client_id, cid) == 0 && !g->revoked && !g->logged_out &&
            g->exp >= sim_now(s)) {
            char *pub = sim_scope_public(g->scope);
            out = json_pack("{s:b,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "active", 1, "scope",
                            pub ? pub : "", "client_id", g->client_id, "sub", g->sub, "exp",
                            (json_int_t)g->exp, "iat", (json_int_t)g->iat, "token_type", type,
                            "iss", s->issuer);
            free(pub);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!out)
        out = json_pack("{s:b}", "active", 0);
    sim_resp_json(r, 200, out);
}

typedef struct logout_ctx { const char *client_id, *sub; } logout_ctx;

static int mark_logged_out(void *val, void *ctx)
{
    sim_grant *g = val;
    const logout_ctx *l = ctx;
    if (strcmp(g->client_id, l->client_id) == 0 && strcmp(g->sub, l->sub) == 0)
        g->logged_out = 1;
    return 0;
}

void sim_h_logout(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    const char *hint = sim_form_get(&q->query, "id_token_hint");
    const char *post = sim_form_get(&q->query, "post_logout_redirect_uri");
    const char *state = sim_form_get(&q->query, "state");
    json_t *claims = hint ? sim_jwt_payload(hint, strlen(hint)) : NULL;
    const char *aud = claims ? json_string_value(json_object_get(claims, "aud")) : NULL;
    const char *sub = claims ? json_string_value(json_object_get(claims, "sub")) : NULL;
    int redirect_ok = 0;
    if (!aud || !sub) {
        sim_api_error(r, 400, "id_token_hint is missing or invalid: pass the id_token you "
                              "received as id_token_hint");
        json_decref(claims);
        return;
    }
    logout_ctx l = {aud, sub};
    pthread_mutex_lock(&s->lock);
    sim_map_sweep(&s->access, mark_logged_out, &l);
    sim_map_sweep(&s->refresh, mark_logged_out, &l);
    sim_client *c = sim_map_get(&s->clients, aud);
    if (c && post) {
        size_t i;
        json_t *v;
        json_array_foreach(c->post_logout_uris, i, v)
            if (sim_streq(json_string_value(v), post))
                redirect_ok = 1;
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(claims);
    if (redirect_ok) {
        sim_buf u;
        sim_buf_init(&u, 8192);
        sim_buf_add(&u, post, strlen(post));
        if (state) {
            char *st = sim_url_encode(state);
            sim_buf_addf(&u, "%sstate=%s", strchr(post, '?') ? "&" : "?", st ? st : "");
            free(st);
        }
        sim_resp_redirect(r, 302, sim_buf_steal(&u));
    } else {
        sim_resp_html(r, 200, strdup("<!DOCTYPE html><html><body><h1>Logged out</h1>"
                                     "<p>You have been logged out of OpenEMR.</p></body></html>"));
    }
}

static int secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return sodium_memcmp(a, b, la) == 0;
}
