/* authtx.c - the table of pending authorization transactions. */
#include "oauth/authtx.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

struct authtx_table {
    pthread_mutex_t lock;
    int64_t ttl_ms;
    size_t cap;
    authtx **slots; /* NULL = free */
};

static void authtx_purge_locked(authtx_table *t, int64_t now_ms);
static char *authtx_strdup(const char *s);

int authtx_table_new(size_t max_pending, int64_t ttl_ms, authtx_table **out)
{
    if (out == NULL)
        return VAP_E_INVAL;
    *out = NULL;
    authtx_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return VAP_E_NOMEM;
    t->cap = max_pending ? max_pending : AUTHTX_MAX_PENDING_DEFAULT;
    t->ttl_ms = ttl_ms > 0 ? ttl_ms : AUTHTX_TTL_MS;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (t->slots == NULL || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->slots);
        free(t);
        return VAP_E_NOMEM;
    }
    *out = t;
    return VAP_OK;
}

void authtx_table_free(authtx_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        authtx_free(t->slots[i]);
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int authtx_begin(authtx_table *t, int64_t now_ms, const char *issuer,
                 const char *redirect_uri, const char *scope,
                 authtx_begin_info *info, vap_error *err)
{
    authtx *tx = NULL;
    int rc;

    if (t == NULL || issuer == NULL || redirect_uri == NULL || scope == NULL ||
        info == NULL)
        return err_set(err, VAP_E_INVAL, "authtx_begin: missing argument");
    memset(info, 0, sizeof *info);
    tx = calloc(1, sizeof *tx);
    if (tx == NULL)
        return err_set(err, VAP_E_NOMEM, "Out of memory starting authorization");
    /* One small guarded block per authorization: rare, so the cost of
     * sodium_malloc (DESIGN.md) does not matter here. */
    tx->verifier_mem_ = sodium_malloc(PKCE_TOKEN_SIZE);
    tx->issuer = authtx_strdup(issuer);
    tx->redirect_uri = authtx_strdup(redirect_uri);
    tx->scope = authtx_strdup(scope);
    if (tx->verifier_mem_ == NULL || tx->issuer == NULL ||
        tx->redirect_uri == NULL || tx->scope == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "Out of memory starting authorization");
        goto out;
    }
    tx->verifier = tx->verifier_mem_;
    if ((rc = pkce_random_token(tx->verifier_mem_, PKCE_TOKEN_SIZE)) ||
        (rc = pkce_random_token(tx->state, sizeof tx->state)) ||
        (rc = pkce_random_token(tx->nonce, sizeof tx->nonce)) ||
        (rc = pkce_challenge_s256(tx->verifier, PKCE_TOKEN_LEN,
                                  info->code_challenge,
                                  sizeof info->code_challenge))) {
        err_set(err, rc, "Could not create the PKCE values");
        goto out;
    }
    tx->created_ms = now_ms;
    tx->expires_ms = now_ms + t->ttl_ms;
    sodium_mprotect_noaccess(tx->verifier_mem_);
    memcpy(info->state, tx->state, sizeof info->state);
    memcpy(info->nonce, tx->nonce, sizeof info->nonce);
    info->expires_ms = tx->expires_ms;

    pthread_mutex_lock(&t->lock);
    authtx_purge_locked(t, now_ms);
    size_t slot = t->cap, oldest = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] == NULL) {
            if (slot == t->cap)
                slot = i;
        } else if (t->slots[oldest] == NULL ||
                   t->slots[i]->created_ms < t->slots[oldest]->created_ms) {
            oldest = i;
        }
    }
    if (slot == t->cap) {
        authtx_free(t->slots[oldest]);
        slot = oldest;
    }
    t->slots[slot] = tx;
    pthread_mutex_unlock(&t->lock);
    tx = NULL;
    rc = VAP_OK;
out:
    if (rc != VAP_OK)
        memset(info, 0, sizeof *info);
    authtx_free(tx);
    return rc;
}

int authtx_take(authtx_table *t, int64_t now_ms, const char *state,
                size_t len, authtx **out, vap_error *err)
{
    char probe[PKCE_TOKEN_LEN];
    size_t found = 0;
    int hit = 0;

    if (t == NULL || out == NULL)
        return err_set(err, VAP_E_INVAL, "authtx_take: missing argument");
    *out = NULL;
    if (state == NULL || len == 0)
        return err_set(err, VAP_E_PROTOCOL,
                       "The callback has no state: it did not come from this "
                       "authorization; start the authorization again");
    /* Length is not secret; the content is, so compare fixed-size blocks. */
    memset(probe, 0, sizeof probe);
    memcpy(probe, state, len < sizeof probe ? len : sizeof probe);

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] == NULL)
            continue;
        int eq = sodium_memcmp(t->slots[i]->state, probe, sizeof probe) == 0;
        hit |= eq;
        found = eq ? i : found;
    }
    authtx *tx = NULL;
    if (hit && len == PKCE_TOKEN_LEN) {
        tx = t->slots[found];
        t->slots[found] = NULL;
    }
    authtx_purge_locked(t, now_ms);
    pthread_mutex_unlock(&t->lock);
    sodium_memzero(probe, sizeof probe);

    if (tx == NULL)
        return err_set(err, VAP_E_PROTOCOL,
                       "The callback's state matches no pending authorization "
                       "(already used, from another run, or forged): start "
                       "the authorization again");
    if (now_ms >= tx->expires_ms) {
        authtx_free(tx);
        return err_set(err, VAP_E_REAUTH_REQUIRED,
                       "The authorization took longer than %d minutes and "
                       "was forgotten: start it again and finish sooner",
                       (int)(t->ttl_ms / 60000 ? t->ttl_ms / 60000 : 1));
    }
    sodium_mprotect_readonly(tx->verifier_mem_);
    *out = tx;
    return VAP_OK;
}

void authtx_free(authtx *tx)
{
    if (tx == NULL)
        return;
    sodium_free(tx->verifier_mem_); /* wipes; works whatever its protection */
    free(tx->issuer);
    free(tx->redirect_uri);
    free(tx->scope);
    sodium_memzero(tx, sizeof *tx);
    free(tx);
}

size_t authtx_pending(authtx_table *t, int64_t now_ms)
{
    size_t n = 0;

    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    authtx_purge_locked(t, now_ms);
    for (size_t i = 0; i < t->cap; i++)
        n += t->slots[i] != NULL;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* ---- helpers ------------------------------------------------------------ */

static void authtx_purge_locked(authtx_table *t, int64_t now_ms)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] != NULL && now_ms >= t->slots[i]->expires_ms) {
            authtx_free(t->slots[i]);
            t->slots[i] = NULL;
        }
    }
}

static char *authtx_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}
