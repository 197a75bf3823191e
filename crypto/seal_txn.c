/*
 * seal_txn.c - replacing one sealed item in two steps for the refresh path:
 * prepare the temp file (space reserved) before the token endpoint is
 * called, then seal and commit once the new grant is known; a failed
 * commit is retried by calling it again while the lock is still held
 * (DESIGN.md, Keeping the grant alive, rules 2 and 4).
 */
#include "seal_internal.h"

#include <unistd.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct seal_txn {
    seal_store *st; /* borrowed */
    seal_atomic a;
    uint8_t *buf; /* sodium_malloc: the payload is assembled here in clear */
    char name[SEAL_NAME_MAX + 1];
};

int seal_txn_prepare(seal_store *st, const char *name, size_t reserve, seal_txn **out, seal_err *err)
{
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    seal_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return seal_fail(err, SEAL_E_NOMEM, "out of memory");
    t->a.fd = -1;
    t->st = st;
    memcpy(t->name, name, strlen(name) + 1);
    t->buf = sodium_malloc(SEAL_FILE_MAX);
    if (t->buf == NULL) {
        free(t);
        return seal_fail(err, SEAL_E_NOMEM, "out of secure memory");
    }
    if (reserve > SEAL_FILE_MAX)
        reserve = SEAL_FILE_MAX;
    /* The caller holds the exclusive lock, so any temp file of NAME is a
     * leftover from a writer that was killed: reclaim its space first -
     * but never one that may hold a newer item than the stored one (the
     * only copy of a renewed grant; seal_store_recover installs it). */
    seal_header h;
    seal_err he = {0};
    int hrc = seal_store_header(st, name, &h, &he);
    seal_atomic_sweep(st->dirfd, name, hrc == SEAL_OK, hrc == SEAL_OK ? h.generation : 0);
    int rc = seal_atomic_prepare(&t->a, st->dirfd, st->path, name, reserve, st->new_uid, st->new_gid, err);
    if (rc != SEAL_OK) {
        seal_txn_free(t);
        return rc;
    }
    *out = t;
    return SEAL_OK;
}

int seal_txn_commit(seal_txn *t, const seal_keyring *ring, const seal_binding *bind, uint64_t generation,
                    const uint8_t *value, size_t value_len, seal_err *err)
{
    size_t len = 0;
    int rc = SEAL_OK;
    if (t->a.state == SEAL_ATOMIC_PREPARED) {
        rc = seal_format_seal(ring, t->name, bind, (uint64_t)time(NULL), generation, value, value_len, t->buf,
                              SEAL_FILE_MAX, &len, err);
        if (rc != SEAL_OK)
            return rc;
    }
    return seal_atomic_commit(&t->a, t->buf, len, err);
}

int seal_txn_stage(seal_txn *t, const seal_keyring *ring, const seal_binding *bind, uint64_t generation,
                   const uint8_t *value, size_t value_len, seal_err *err)
{
    size_t len = 0;
    if (t->a.state != SEAL_ATOMIC_PREPARED)
        return t->a.state == SEAL_ATOMIC_STAGED ? SEAL_OK : seal_fail(err, SEAL_E_INVAL, "nothing prepared");
    int rc = seal_format_seal(ring, t->name, bind, (uint64_t)time(NULL), generation, value, value_len, t->buf,
                              SEAL_FILE_MAX, &len, err);
    return rc != SEAL_OK ? rc : seal_atomic_stage(&t->a, t->buf, len, err);
}

int seal_txn_renamed(const seal_txn *t)
{
    return t->a.state >= SEAL_ATOMIC_RENAMED;
}

const char *seal_txn_temp_name(const seal_txn *t)
{
    return t->a.tmp;
}

void seal_txn_abandon(seal_txn *t)
{
    if (t == NULL)
        return;
    /* Close without unlinking: a temp file that holds a complete sealed
     * grant (written, not yet renamed) is what the next lock holder can
     * recover; deleting it could delete the only copy of a live token. */
    if (t->a.fd >= 0)
        close(t->a.fd);
    t->a.fd = -1;
    t->a.state = SEAL_ATOMIC_IDLE;
    sodium_free(t->buf);
    free(t);
}

void seal_txn_free(seal_txn *t)
{
    if (t == NULL)
        return;
    seal_atomic_abort(&t->a);
    sodium_free(t->buf);
    free(t);
}
