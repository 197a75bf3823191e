/*
 * seal_previous.c - replacing an item while keeping the one it replaces as
 * NAME.previous, and bringing that copy back.  A client secret sealed by
 * `register` is the only copy anyone has: a mistyped `vap-seal put` over it
 * must be undoable, and an item that will not open is never overwritten
 * without --force.  Both files are written under NAME's exclusive lock,
 * each with the store's durable atomic replace.
 */
#include "seal_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int prev_name(const char *name, char *out, size_t cap, seal_err *err);
static int prev_write(seal_store *st, const seal_keyring *ring, const char *name, const seal_secret *s,
                      uint64_t generation, seal_err *err);
static int prev_current(seal_store *st, const seal_keyring *ring, const char *name, int force, seal_secret *cur,
                        int *have_cur, uint64_t *gen, seal_err *err);
static void prev_unchanged(seal_err *err);

int seal_store_put_keep(seal_store *st, const char *keyring_path, const char *name, const seal_binding *bind,
                        const uint8_t *value, size_t value_len, int force, uint64_t *generation_out, int *kept,
                        seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_secret *cur = NULL;
    seal_txn *t = NULL;
    uint64_t gen = 0;
    char prev[SEAL_NAME_MAX + 1];
    *kept = 0;
    int rc = prev_name(name, prev, sizeof prev, err);
    if (rc != SEAL_OK || (rc = seal_lock_acquire(st, name, 1, &lk, err)) != SEAL_OK)
        goto out;
    if ((rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err)) != SEAL_OK ||
        (rc = seal_secret_new(&cur, err)) != SEAL_OK)
        goto out;
    int have_cur = 0;
    if ((rc = prev_current(st, ring, name, force, cur, &have_cur, &gen, err)) != SEAL_OK)
        goto out;
    if (have_cur) {
        if ((rc = prev_write(st, ring, prev, cur, gen, err)) != SEAL_OK)
            goto out;
        *kept = 1;
    }
    rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + value_len + 4 * SEAL_BINDING_MAX, &t, err);
    if (rc == SEAL_OK)
        rc = seal_txn_commit(t, ring, bind, gen + 1, value, value_len, err);
    if (rc == SEAL_OK && generation_out != NULL)
        *generation_out = gen + 1;
out:
    seal_txn_free(t);
    seal_secret_free(cur);
    seal_keyring_free(ring);
    seal_lock_release(&lk);
    return rc;
}

int seal_store_restore_previous(seal_store *st, const char *keyring_path, const char *name, int force,
                                uint64_t *generation_out, int *kept, seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_secret *old = NULL, *cur = NULL;
    seal_txn *tn = NULL, *tp = NULL;
    char prev[SEAL_NAME_MAX + 1];
    int have_cur = 0;
    uint64_t cur_gen = 0;
    *kept = 0;
    int rc = prev_name(name, prev, sizeof prev, err);
    if (rc != SEAL_OK || (rc = seal_lock_acquire(st, name, 1, &lk, err)) != SEAL_OK)
        goto out;
    if ((rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err)) != SEAL_OK ||
        (rc = seal_secret_new(&old, err)) != SEAL_OK || (rc = seal_secret_new(&cur, err)) != SEAL_OK)
        goto out;
    rc = seal_store_read(st, ring, prev, NULL, old, err);
    if (rc == SEAL_E_NOENT)
        rc = seal_fail(err, SEAL_E_NOENT, "there is no %s in %s: nothing was kept to restore", prev, st->path);
    if (rc != SEAL_OK || (rc = prev_current(st, ring, name, force, cur, &have_cur, &cur_gen, err)) != SEAL_OK)
        goto out;
    uint64_t prev_gen = seal_secret_generation(old);
    uint64_t gen = (cur_gen > prev_gen ? cur_gen : prev_gen) + 1;
    /* Both new files are reserved, written and flushed before either is put
     * in place, so a full disk or an I/O error there changes nothing. */
    seal_binding b, cb;
    seal_secret_binding(old, &b);
    rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + seal_secret_size(old) + 4 * SEAL_BINDING_MAX, &tn, err);
    if (rc == SEAL_OK && have_cur) {
        seal_secret_binding(cur, &cb);
        rc = seal_txn_prepare(st, prev, SEAL_HEADER_MAX + seal_secret_size(cur) + 4 * SEAL_BINDING_MAX, &tp, err);
    }
    if (rc == SEAL_OK)
        rc = seal_txn_stage(tn, ring, &b, gen, seal_secret_data(old), seal_secret_size(old), err);
    if (rc == SEAL_OK && have_cur)
        rc = seal_txn_stage(tp, ring, &cb, cur_gen, seal_secret_data(cur), seal_secret_size(cur), err);
    if (rc != SEAL_OK) {
        prev_unchanged(err);
        goto out;
    }
    rc = seal_txn_commit(tn, ring, &b, gen, NULL, 0, err);
    if (rc != SEAL_OK && seal_txn_renamed(tn) == 0) {
        prev_unchanged(err);
        goto out;
    }
    /* NAME's old value now lives only in the flushed temp file until the
     * second rename: it is never deleted, and a failure says where it is. */
    if (have_cur) {
        seal_err perr = {0};
        int prc = seal_txn_commit(tp, ring, &cb, cur_gen, NULL, 0, &perr);
        if (prc != SEAL_OK && !seal_txn_renamed(tp)) {
            /* Short: the two paths must not be cut off. */
            rc = seal_fail(err, prc, "%s was restored, but the value it replaced could not be put in place as "
                           "%s; it is sealed in %s/%s: mv that file to %s before the next put",
                           name, prev, st->path, seal_txn_temp_name(tp), prev);
            seal_txn_abandon(tp);
            tp = NULL;
            goto out;
        }
        if (rc == SEAL_OK)
            rc = prc, *err = perr;
        *kept = 1;
    }
    if (rc != SEAL_OK)
        goto out;
    if (generation_out != NULL)
        *generation_out = gen;
out:
    seal_txn_free(tn);
    seal_txn_free(tp);
    seal_secret_free(old);
    seal_secret_free(cur);
    seal_keyring_free(ring);
    seal_lock_release(&lk);
    return rc;
}

/* Reads the current NAME into CUR.  An item that is there but will not open
 * (another keyring, a retired key, corrupt) may be the only copy of a
 * secret: it is replaced only with FORCE, and then without a copy. */
static int prev_current(seal_store *st, const seal_keyring *ring, const char *name, int force, seal_secret *cur,
                        int *have_cur, uint64_t *gen, seal_err *err)
{
    seal_header h;
    seal_err why = {0};
    *have_cur = 0;
    *gen = 0;
    int rc = seal_store_header(st, name, &h, &why);
    if (rc == SEAL_E_NOENT)
        return SEAL_OK;
    if (rc == SEAL_OK) {
        *gen = h.generation;
        rc = seal_store_read(st, ring, name, NULL, cur, &why);
        if (rc == SEAL_OK) {
            *have_cur = 1;
            return SEAL_OK;
        }
    }
    if (rc == SEAL_E_NOMEM || rc == SEAL_E_IO || rc == SEAL_E_PERM || rc == SEAL_E_FSTYPE) {
        *err = why; /* a passing condition: never worth losing an item over */
        return rc;
    }
    if (force)
        return SEAL_OK;
    return seal_fail(err, SEAL_E_EXISTS, "%s cannot be opened (%.100s) and may be the only copy of that secret; "
                     "nothing was changed", name, why.message);
}

static void prev_unchanged(seal_err *err)
{
    size_t n = strnlen(err->message, sizeof err->message);
    snprintf(err->message + n, sizeof err->message - n, "; nothing was changed");
}

int seal_store_drop_previous(seal_store *st, const char *name, seal_err *err)
{
    seal_lock lk = {.fd = -1};
    char prev[SEAL_NAME_MAX + 1];
    int rc = prev_name(name, prev, sizeof prev, err);
    if (rc != SEAL_OK || (rc = seal_lock_acquire(st, name, 1, &lk, err)) != SEAL_OK)
        goto out;
    if (unlinkat(st->dirfd, prev, 0) != 0) {
        rc = errno == ENOENT ? seal_fail(err, SEAL_E_NOENT, "there is no %s in %s", prev, st->path)
                             : seal_fail(err, SEAL_E_IO, "cannot delete %s in %s: %s", prev, st->path,
                                         strerror(errno));
        goto out;
    }
    if (fsync(st->dirfd) != 0)
        rc = seal_fail(err, SEAL_E_IO, "deleted %s, but cannot flush directory %s to disk: %s", prev, st->path,
                       strerror(errno));
out:
    seal_lock_release(&lk);
    return rc;
}

static int prev_name(const char *name, char *out, size_t cap, seal_err *err)
{
    size_t sl = sizeof SEAL_PREVIOUS_SUFFIX - 1, n = strnlen(name, SEAL_NAME_MAX + 1);
    if (!seal_name_valid(name) || (n > sl && strcmp(name + n - sl, SEAL_PREVIOUS_SUFFIX) == 0))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    if (n + sl > SEAL_NAME_MAX)
        return seal_fail(err, SEAL_E_INVAL, "item name is too long to keep a %s copy", SEAL_PREVIOUS_SUFFIX);
    snprintf(out, cap, "%s%s", name, SEAL_PREVIOUS_SUFFIX);
    return SEAL_OK;
}

/* Seals S's value and binding as item NAME with GENERATION; the caller
 * holds the base item's exclusive lock. */
static int prev_write(seal_store *st, const seal_keyring *ring, const char *name, const seal_secret *s,
                      uint64_t generation, seal_err *err)
{
    seal_txn *t = NULL;
    seal_binding b;
    seal_secret_binding(s, &b);
    int rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + seal_secret_size(s) + 4 * SEAL_BINDING_MAX, &t, err);
    if (rc == SEAL_OK)
        rc = seal_txn_commit(t, ring, &b, generation, seal_secret_data(s), seal_secret_size(s), err);
    seal_txn_free(t);
    return rc;
}
