/* secrets_pg.c - the grant sealed for its row in PostgreSQL.
 *
 * The image is the file store's VSEAL bytes (purpose "grant", bound to the
 * issuer and client_id, generation in the authenticated header), made and
 * opened here with the machine's own keyring: the database holds
 * ciphertext only and cannot move a grant to another practice unnoticed. */
#include "oauth/secrets.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "core/log.h"

int secrets_pg(const struct secrets *s)
{
    return s->pg != NULL;
}

struct row_put {
    uint64_t generation;
    uint8_t *out;
    size_t cap, *len;
};

static int row_put(void *ctx, const seal_keyring *ring, const seal_binding *bind,
                   const uint8_t *payload, size_t len, seal_err *se)
{
    struct row_put *r = ctx;
    return seal_format_seal(ring, GRANT_ITEM, bind, (uint64_t)time(NULL), r->generation, payload,
                            len, r->out, r->cap, r->len, se) != 0
               ? -1
               : 0;
}

int secrets_pg_seal(struct secrets *s, const struct config *cfg, const struct grant *g,
                    uint64_t generation, uint8_t *out, size_t cap, size_t *len, vap_error *err)
{
    struct row_put r = {generation, out, cap, len};
    return secrets_seal_grant(s, cfg, g, row_put, &r, err);
}

int secrets_pg_unseal(struct secrets *s, const struct config *cfg, const uint8_t *buf,
                      size_t len, struct grant *g, vap_error *err)
{
    seal_binding bind = {cfg->issuer, cfg->client_id};
    seal_err se = {0};
    int rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = secrets_plain_take(s, err)) != VAP_OK)
        goto out;
    int src = seal_format_open(s->ring, GRANT_ITEM, &bind, buf, len, s->plain, &se);
    if (src == SEAL_E_KEY_UNKNOWN) {
        /* Sealed on another machine after a rotation this one has not
         * loaded yet: re-read the keyring once. */
        seal_keyring *fresh = NULL;
        seal_err le = {0};
        if (seal_keyring_load(cfg->keyring, seal_store_owner(s->store), &fresh, &le) == 0) {
            seal_keyring_free(s->ring);
            s->ring = fresh;
            src = seal_format_open(s->ring, GRANT_ITEM, &bind, buf, len, s->plain, &se);
        }
    }
    if (src == SEAL_E_KEY_UNKNOWN) {
        /* Re-read above already: the key is not on this machine at all,
         * which after a rotate-key on another machine is the normal case. */
        rc = err_set(err, VAP_E_SEAL,
                     "the shared grant in PostgreSQL is sealed with a key this machine's "
                     "keyring %s does not have: the fleet's keyring was rotated on another "
                     "machine; import the new keyring from the machine that rotated (vap-seal "
                     "export there, vap-seal import --force here); the next call re-reads it",
                     cfg->keyring);
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
                     "the shared grant in PostgreSQL opened but its content is unusable (%s): "
                     "authorize again (vap-host authorize)", why);
        goto out;
    }
    g->generation = seal_secret_generation(s->plain);
    rc = VAP_OK;
out:
    secrets_plain_give(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int secrets_pg_read(struct secrets *s, const struct config *cfg, struct grant *g,
                    vap_error *err)
{
    uint8_t *buf = malloc(SEAL_FILE_MAX);
    size_t len = 0;
    uint64_t gen = 0;
    if (buf == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    vap_error e;
    VAP_INIT(vap_error, e);
    int rc = pgstore_read(s->pg, cfg->timeout_ms, buf, SEAL_FILE_MAX, &len, &gen, &e);
    if (rc == VAP_OK)
        rc = secrets_pg_unseal(s, cfg, buf, len, g, &e);
    if (rc < 0)
        err_copy(err, &e);
    free(buf);
    return rc;
}

int secrets_pg_write(struct secrets *s, const struct config *cfg, struct grant *g,
                     vap_error *err)
{
    uint8_t *buf = malloc(SEAL_FILE_MAX);
    size_t len = 0, cur_len = 0;
    uint64_t gen = 0, cur_gen = 0;
    int took_over = 0;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (buf == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory");
    /* Under the row lock (a live renewal lease elsewhere is waited out): the
     * new grant takes the next generation, so every machine sees it. */
    int rc = pgstore_claim(s->pg, cfg->timeout_ms, NULL, 0, &len, &gen, &took_over, &e);
    if (rc < 0)
        goto out;
    if (rc == 1)
        gen = 0;
    rc = secrets_pg_seal(s, cfg, g, gen + 1, buf, SEAL_FILE_MAX, &len, &e);
    if (rc == VAP_OK) {
        rc = pgstore_commit(s->pg, cfg->timeout_ms, gen, gen + 1, buf, len, NULL, 0, &cur_len,
                            &cur_gen, &e);
        if (rc == 2)
            rc = err_set(&e, VAP_E_UNAVAILABLE,
                         "another machine stored a grant at the same moment; authorize again");
    }
    pgstore_end(s->pg);
    if (rc == VAP_OK)
        g->generation = gen + 1;
out:
    if (rc < 0)
        err_copy(err, &e);
    free(buf);
    return rc;
}

int secrets_pg_init(struct secrets *s, const struct config *cfg, int *created, vap_error *err)
{
    int rc = secrets_ensure_open(s, cfg, err);
    if (rc != VAP_OK)
        return rc;
    if (s->pg == NULL)
        return err_set(err, VAP_E_CONFIG,
                       "this instance keeps its grant in a file: there is no table to create "
                       "(set grant_store=postgresql://... and client_id first)");
    return pgstore_init(s->pg, cfg->timeout_ms, created, err);
}
