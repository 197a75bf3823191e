/* sim_store.c: the simulator's store of clients, codes, tokens and login
 * sessions: record lifetimes (free functions), pruning of expired items, and
 * the staff users' identities.  Callers hold the server's lock where noted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim_internal.h"

static int prune_grant(void *val, void *ctx);
static int prune_session(void *val, void *ctx);

void sim_store_prune_locked(sim_srv *s)
{
    long long now = sim_now(s);
    if (++s->inserts % 512 != 0)
        return;
    sim_map_sweep(&s->codes, prune_grant, &now);
    sim_map_sweep(&s->access, prune_grant, &now);
    sim_map_sweep(&s->refresh, prune_grant, &now);
    sim_map_sweep(&s->sessions, prune_session, &now);
}

int sim_client_add_locked(sim_srv *s, sim_client *c)
{
    if (sim_map_put(&s->clients, c->id, c) != 0) {
        sim_client_free(c);
        return -1;
    }
    return 0;
}

/* Staff users are Practitioners; their uuid is derived from the name, so the
 * fhirUser claim resolves to a readable Practitioner. */
int sim_staff_sub(sim_srv *s, const char *username, char *out, size_t outlen)
{
    if (outlen < 37)
        return -1;
    uint64_t h = 0;
    for (const char *p = username; *p; p++)
        h = h * 131 + (unsigned char)*p;
    sim_uuid(&s->data, SIM_R_PRACTITIONER, (unsigned long)(h % 1000000UL), 0, out);
    return 0;
}

void sim_client_free(void *p)
{
    sim_client *c = p;
    if (!c)
        return;
    free(c->id);
    if (c->secret) {
        sodium_memzero(c->secret, strlen(c->secret));
        free(c->secret);
    }
    json_decref(c->redirect_uris);
    json_decref(c->post_logout_uris);
    free(c->scope);
    free(c->name);
    json_decref(c->jwks);
    free(c->jwks_uri);
    free(c);
}

void sim_grant_free(void *p)
{
    sim_grant *g = p;
    if (!g)
        return;
    free(g->client_id);
    free(g->sub);
    free(g->username);
    free(g->scope);
    free(g->nonce);
    free(g->redirect_uri);
    free(g->challenge);
    free(g->access_token);
    free(g);
}

void sim_session_free(void *p)
{
    sim_session *x = p;
    if (!x)
        return;
    free(x->client_id);
    free(x->redirect_uri);
    free(x->scope);
    free(x->state);
    free(x->nonce);
    free(x->challenge);
    free(x->aud);
    free(x->launch);
    free(x->csrf);
    free(x->username);
    free(x->sub);
    free(x);
}

/* Expired items are kept a while so a late request still gets the
 * "expired" answer rather than "unknown". */
static int prune_grant(void *val, void *ctx)
{
    const sim_grant *g = val;
    long long now = *(long long *)ctx;
    return g->exp < now - 3600;
}

static int prune_session(void *val, void *ctx)
{
    const sim_session *x = val;
    long long now = *(long long *)ctx;
    return x->created < now - 3600;
}
