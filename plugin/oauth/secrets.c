/* secrets.c - the keyring, client secret and grant of one instance. */
#include "oauth/secrets.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

static int open_locked(struct secrets *s, const struct config *cfg, vap_error *err);
static int load_client_secret_locked(struct secrets *s, const struct config *cfg,
                                     vap_error *err);
static int generation_locked(struct secrets *s, uint64_t *gen, vap_error *err);
static int grant_read(struct secrets *s, const struct config *cfg, struct grant *g, int lock,
                      vap_error *err);
static int lock_bounded(struct secrets *s, const struct config *cfg, int exclusive,
                        seal_lock *lk, vap_error *err);

int secrets_init(struct secrets *s, vap_error *err)
{
    memset(s, 0, sizeof *s);
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return err_set(err, VAP_E_NOMEM, "cannot create a mutex");
    return VAP_OK;
}

/* The client secret's buffer comes with the first open, not with the
 * instance: a process may hold many instances never used. */
static int buffers_locked(struct secrets *s, vap_error *err)
{
    if (s->client_secret != NULL)
        return VAP_OK;
    if ((s->client_secret = sodium_malloc(SECRETS_CLIENT_SECRET_MAX + 1)) == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory for the secure buffers");
    s->client_secret[0] = '\0';
    return VAP_OK;
}

/* The unseal buffer (68 KiB) and the serialization buffer (48 KiB) are
 * locked memory used for microseconds under one instance's lock: the
 * process's instances share a few of each rather than holding their own
 * (RLIMIT_MEMLOCK bounds what a service user may lock; past it libsodium
 * carries on unlocked).  Lock-free slots, so a fork cannot leave one held. */
#define SCRATCH_KEPT 4
static _Atomic(seal_secret *) kept_plain[SCRATCH_KEPT];
static _Atomic(char *) kept_payload[SCRATCH_KEPT];

int secrets_plain_take(struct secrets *s, vap_error *err)
{
    for (int i = 0; i < SCRATCH_KEPT && s->plain == NULL; i++)
        s->plain = atomic_exchange(&kept_plain[i], NULL);
    seal_err se = {0};
    if (s->plain == NULL && seal_secret_new(&s->plain, &se) != 0) {
        s->plain = NULL;
        return secrets_map_error(&se, err);
    }
    return VAP_OK;
}

void secrets_plain_give(struct secrets *s)
{
    seal_secret *p = s->plain;
    s->plain = NULL;
    if (p == NULL)
        return;
    seal_secret_clear(p);
    for (int i = 0; i < SCRATCH_KEPT; i++) {
        seal_secret *none = NULL;
        if (atomic_compare_exchange_strong(&kept_plain[i], &none, p))
            return;
    }
    seal_secret_free(p);
}

static char *payload_take(void)
{
    for (int i = 0; i < SCRATCH_KEPT; i++) {
        char *p = atomic_exchange(&kept_payload[i], NULL);
        if (p != NULL)
            return p;
    }
    return sodium_malloc(GRANT_PAYLOAD_MAX);
}

static void payload_give(char *p)
{
    sodium_memzero(p, GRANT_PAYLOAD_MAX);
    for (int i = 0; i < SCRATCH_KEPT; i++) {
        char *none = NULL;
        if (atomic_compare_exchange_strong(&kept_payload[i], &none, p))
            return;
    }
    sodium_free(p);
}

void secrets_destroy(struct secrets *s)
{
    if (s->client_secret)
        sodium_free(s->client_secret);
    secrets_plain_give(s);
    seal_keyring_free(s->ring);
    seal_store_close(s->store);
    pgstore_free(s->pg);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

int secrets_ensure_open(struct secrets *s, const struct config *cfg, vap_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->opened ? VAP_OK : open_locked(s, cfg, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int secrets_reload(struct secrets *s, const struct config *cfg, vap_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = open_locked(s, cfg, err);
    pthread_mutex_unlock(&s->mu);
    if (rc == VAP_OK)
        plog(VAP_LOG_INFO, "reloaded the keyring and the client secret from %s", cfg->store);
    return rc;
}

int secrets_client_secret(struct secrets *s, char *out, size_t cap, size_t *len, vap_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = VAP_OK;
    if (s->client_secret == NULL || s->client_secret_len == 0)
        rc = err_set(err, VAP_E_CONFIG,
                     "no client secret is sealed in the store: run vap-seal put client_secret "
                     "(paste the secret from Administration > System > API Clients), or vap-host "
                     "register");
    else if (s->client_secret_len + 1 > cap)
        rc = err_set(err, VAP_E_NOMEM, "client secret buffer too small");
    else {
        memcpy(out, s->client_secret, s->client_secret_len + 1);
        *len = s->client_secret_len;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int secrets_grant_read(struct secrets *s, const struct config *cfg, struct grant *g,
                       vap_error *err)
{
    return grant_read(s, cfg, g, 1, err);
}

int secrets_grant_read_locked(struct secrets *s, const struct config *cfg, struct grant *g,
                              vap_error *err)
{
    return grant_read(s, cfg, g, 0, err);
}

int secrets_seal_grant(struct secrets *s, const struct config *cfg, const struct grant *g,
                       secrets_seal_fn put, void *ctx, vap_error *err)
{
    seal_binding bind = {cfg->issuer, cfg->client_id};
    seal_err se = {0};
    seal_keyring *fresh = NULL;
    size_t len = 0;
    int rc;
    pthread_mutex_lock(&s->mu);
    char *payload = payload_take();
    if (payload == NULL) {
        rc = err_set(err, VAP_E_NOMEM, "out of memory for the secure buffers");
        goto out;
    }
    if (grant_serialize(g, payload, GRANT_PAYLOAD_MAX, &len) != 0) {
        rc = err_set(err, VAP_E_PROTOCOL, "the server's tokens are too large to store");
        goto out;
    }
    if (seal_keyring_load(cfg->keyring, seal_store_owner(s->store), &fresh, &se) != 0 ||
        put(ctx, fresh, &bind, (const uint8_t *)payload, len, &se) != 0) {
        rc = secrets_map_error(&se, err);
        goto out;
    }
    seal_keyring_free(s->ring);
    s->ring = fresh;
    fresh = NULL;
    rc = VAP_OK;
out:
    seal_keyring_free(fresh);
    if (payload != NULL)
        payload_give(payload);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

struct txn_put {
    seal_txn *txn;
    uint64_t generation;
};

static int txn_put(void *ctx, const seal_keyring *ring, const seal_binding *bind,
                   const uint8_t *payload, size_t len, seal_err *se)
{
    struct txn_put *t = ctx;
    return seal_txn_commit(t->txn, ring, bind, t->generation, payload, len, se) != 0 ? -1 : 0;
}

int secrets_grant_commit(struct secrets *s, const struct config *cfg, seal_txn *txn,
                         const struct grant *g, uint64_t generation, vap_error *err)
{
    struct txn_put t = {txn, generation};
    return secrets_seal_grant(s, cfg, g, txn_put, &t, err);
}

static int grant_read(struct secrets *s, const struct config *cfg, struct grant *g, int lock,
                      vap_error *err)
{
    seal_binding bind = {cfg->issuer, cfg->client_id};
    seal_err se = {0};
    seal_lock lk = {-1};
    int rc;
    /* The shared flock is taken before s->mu, never while holding it: a
     * writer in this process holds the flock and then needs s->mu. */
    if ((rc = secrets_ensure_open(s, cfg, err)) != VAP_OK)
        return rc;
    if (s->pg != NULL)
        return secrets_pg_read(s, cfg, g, err);
    if (lock && (rc = lock_bounded(s, cfg, 0, &lk, err)) != VAP_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = secrets_plain_take(s, err)) != VAP_OK) {
        seal_lock_release(&lk);
        goto out;
    }
    int src = seal_store_read(s->store, s->ring, GRANT_ITEM, &bind, s->plain, &se);
    if (src == SEAL_E_KEY_UNKNOWN) {
        /* An admin ran vap-seal rotate-key and the host has not called
         * reload yet: re-read the keyring once and try again. */
        seal_keyring *fresh = NULL;
        seal_err le = {0};
        if (seal_keyring_load(cfg->keyring, seal_store_owner(s->store), &fresh, &le) == 0) {
            seal_keyring_free(s->ring);
            s->ring = fresh;
            src = seal_store_read(s->store, s->ring, GRANT_ITEM, &bind, s->plain, &se);
        }
    }
    seal_lock_release(&lk);
    if (src == SEAL_E_NOENT) {
        rc = 1;
        goto out;
    }
    if (src != 0) {
        rc = secrets_map_error(&se, err);
        goto out;
    }
    char why[160];
    if (grant_parse((const char *)seal_secret_data(s->plain), seal_secret_size(s->plain), g, why,
                    sizeof why) != 0) {
        rc = err_set(err, VAP_E_SEAL,
                     "the sealed grant in %s opened but its content is unusable (%s): authorize "
                     "again (vap-host authorize)", cfg->store, why);
        goto out;
    }
    g->generation = seal_secret_generation(s->plain);
    rc = VAP_OK;
out:
    secrets_plain_give(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int secrets_grant_recover(struct secrets *s, const struct config *cfg, uint64_t *recovered,
                          vap_error *err)
{
    seal_err se = {0};
    seal_keyring *fresh = NULL;
    int rc;
    *recovered = 0;
    if ((rc = secrets_ensure_open(s, cfg, err)) != VAP_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    /* A fresh keyring: the temp file may be sealed with a key this
     * instance has not loaded yet (rotate-key). */
    if (seal_keyring_load(cfg->keyring, seal_store_owner(s->store), &fresh, &se) != 0 ||
        seal_store_recover(s->store, fresh, GRANT_ITEM, recovered, &se) != 0) {
        rc = secrets_map_error(&se, err);
    } else {
        seal_keyring_free(s->ring);
        s->ring = fresh;
        fresh = NULL;
        rc = VAP_OK;
    }
    seal_keyring_free(fresh);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int secrets_grant_generation(struct secrets *s, uint64_t *gen, vap_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->opened ? generation_locked(s, gen, err)
                       : err_set(err, VAP_E_INVAL, "the store is not open yet");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int generation_locked(struct secrets *s, uint64_t *gen, vap_error *err)
{
    seal_header h;
    seal_err se = {0};
    int src = seal_store_header(s->store, GRANT_ITEM, &h, &se);
    if (src == SEAL_E_NOENT) {
        *gen = 0;
        return VAP_OK;
    }
    if (src != 0)
        return secrets_map_error(&se, err);
    *gen = h.generation;
    return VAP_OK;
}

int secrets_grant_write(struct secrets *s, const struct config *cfg, struct grant *g,
                        vap_error *err)
{
    seal_err se = {0};
    seal_lock lk = {-1};
    seal_txn *txn = NULL;
    uint64_t gen = 0;
    int rc;
    if ((rc = secrets_ensure_open(s, cfg, err)) != VAP_OK)
        return rc;
    if (s->pg != NULL)
        return secrets_pg_write(s, cfg, g, err);
    if ((rc = lock_bounded(s, cfg, 1, &lk, err)) != VAP_OK)
        goto out;
    if (seal_txn_prepare(s->store, GRANT_ITEM, SEAL_FILE_MAX, &txn, &se) != 0) {
        rc = secrets_map_error(&se, err);
        goto out;
    }
    if ((rc = secrets_grant_generation(s, &gen, err)) != VAP_OK ||
        (rc = secrets_grant_commit(s, cfg, txn, g, gen + 1, err)) != VAP_OK)
        goto out;
    g->generation = gen + 1;
out:
    seal_txn_free(txn);
    seal_lock_release(&lk);
    return rc;
}

int secrets_map_error(const seal_err *se, vap_error *err)
{
    int code = se->code == SEAL_E_NOMEM ? VAP_E_NOMEM
               : se->code == SEAL_E_IO  ? VAP_E_IO
                                        : VAP_E_SEAL;
    return err_set(err, code, "%s", se->message);
}

/* ---- helpers --------------------------------------------------------------- */

static int open_locked(struct secrets *s, const struct config *cfg, vap_error *err)
{
    seal_err se = {0};
    seal_store *store = s->store; /* kept once open: other threads use it */
    seal_keyring *ring = NULL;
    int rc = buffers_locked(s, err);
    if (rc != VAP_OK)
        return rc;
    if (store == NULL && seal_store_open(cfg->store, &store, &se) != 0)
        return secrets_map_error(&se, err);
    s->store = store;
    if (seal_keyring_load(cfg->keyring, seal_store_owner(store), &ring, &se) != 0) {
        if (se.code == SEAL_E_NOENT)
            return err_set(err, VAP_E_SEAL,
                           "keyring %s does not exist: create it with vap-seal init --keyring %s",
                           cfg->keyring, cfg->keyring);
        return secrets_map_error(&se, err);
    }
    seal_keyring_free(s->ring);
    s->ring = ring;
    /* The row is keyed by the practice's issuer and client: one grant per
     * registered client, shared by every machine configured for it. */
    if (cfg->grant_store != NULL && s->pg == NULL && cfg->client_id != NULL) {
        size_t n = strlen(cfg->issuer) + strlen(cfg->client_id) + 2;
        char *key = malloc(n);
        if (key == NULL)
            return err_set(err, VAP_E_NOMEM, "out of memory");
        snprintf(key, n, "%s %s", cfg->issuer, cfg->client_id);
        rc = pgstore_new(cfg->grant_store, key, &s->pg, err);
        free(key);
        if (rc != VAP_OK)
            return rc;
    }
    s->opened = 1;
    return load_client_secret_locked(s, cfg, err);
}

static int load_client_secret_locked(struct secrets *s, const struct config *cfg, vap_error *err)
{
    sodium_memzero(s->client_secret, SECRETS_CLIENT_SECRET_MAX + 1);
    s->client_secret_len = 0;
    if (cfg->client_id == NULL)
        return VAP_OK; /* not registered yet: nothing can be bound to it */
    if (cfg->client_auth == CLIENT_AUTH_PRIVATE_KEY_JWT)
        return VAP_OK; /* the sealed key authenticates; a left-over secret is not read */
    seal_binding bind = {cfg->issuer, cfg->client_id};
    seal_err se = {0};
    int rc = secrets_plain_take(s, err);
    if (rc != VAP_OK)
        return rc;
    int src = seal_store_read(s->store, s->ring, SECRETS_CLIENT_SECRET_ITEM, &bind, s->plain, &se);
    if (src != 0) {
        secrets_plain_give(s);
        /* none sealed is reported when a call needs it */
        return src == SEAL_E_NOENT ? VAP_OK : secrets_map_error(&se, err);
    }
    size_t n = seal_secret_size(s->plain);
    if (n == 0 || n > SECRETS_CLIENT_SECRET_MAX)
        rc = err_set(err, VAP_E_SEAL, "the sealed client secret is empty or longer than %d bytes: "
                                      "seal it again with vap-seal put client_secret",
                     SECRETS_CLIENT_SECRET_MAX);
    else {
        memcpy(s->client_secret, seal_secret_data(s->plain), n);
        s->client_secret[n] = '\0';
        s->client_secret_len = n;
    }
    secrets_plain_give(s);
    return rc;
}

/* The grant's shared lock, waiting at most the configured timeout: a
 * process whose renewed grant could not be saved holds the exclusive lock
 * (rule 4) and readers must wait for it, but not forever.  Polled on the
 * monotonic clock, not the host's (a test's frozen clock must not hang). */
/* flock on the grant's lock file, polled for at most timeout_ms: never a
 * blocking wait that a stuck writer (or our own parked renewal, whose lock a
 * new descriptor of this process conflicts with) could make endless. */
static int lock_bounded(struct secrets *s, const struct config *cfg, int exclusive,
                        seal_lock *lk, vap_error *err)
{
    struct timespec t0, now;
    seal_err se = {0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int src = seal_lock_try(s->store, GRANT_ITEM, exclusive, lk, &se);
        if (src == SEAL_OK)
            return VAP_OK;
        if (src != SEAL_E_BUSY)
            return secrets_map_error(&se, err);
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t waited = (int64_t)(now.tv_sec - t0.tv_sec) * 1000 +
                         (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited >= cfg->timeout_ms)
            return err_set(err, VAP_E_TIMEOUT,
                           "another process has held the grant's lock in %s for %lld ms (it "
                           "may be unable to save a renewed grant: look in its log for "
                           "\"could not be saved\"); try again", cfg->store,
                           (long long)waited);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
