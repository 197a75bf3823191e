/*
 * seal_previous.c - replacing an item while keeping the one it replaces as
 * NAME.previous, and bringing that copy back.  A client secret sealed by
 * `register` is the only copy anyone has: a mistyped `vap-seal put` over it
 * must be undoable.  Both files are written under NAME's exclusive lock,
 * each with the store's durable atomic replace.
 */
#include "seal_internal.h"

#include <stdio.h>
#include <string.h>

static int prev_name(const char *name, char *out, size_t cap, seal_err *err);
static int prev_write(seal_store *st, const seal_keyring *ring, const char *name, const seal_secret *s,
                      uint64_t generation, seal_err *err);

int seal_store_put_keep(seal_store *st, const char *keyring_path, const char *name, const seal_binding *bind,
                        const uint8_t *value, size_t value_len, uint64_t *generation_out, int *kept,
                        seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_secret *cur = NULL;
    seal_txn *t = NULL;
    seal_header h;
    uint64_t gen = 0;
    char prev[SEAL_NAME_MAX + 1];
    *kept = 0;
    int rc = prev_name(name, prev, sizeof prev, err);
    if (rc != SEAL_OK || (rc = seal_lock_acquire(st, name, 1, &lk, err)) != SEAL_OK)
        goto out;
    if ((rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err)) != SEAL_OK)
        goto out;
    rc = seal_store_header(st, name, &h, err);
    if (rc == SEAL_OK) {
        gen = h.generation;
        /* An item this keyring cannot open is replaced without a copy, as
         * a plain put would: keeping it would need the key it was lost with. */
        seal_err ignored = {0};
        if ((rc = seal_secret_new(&cur, err)) != SEAL_OK)
            goto out;
        if (seal_store_read(st, ring, name, NULL, cur, &ignored) == SEAL_OK) {
            if ((rc = prev_write(st, ring, prev, cur, gen, err)) != SEAL_OK)
                goto out;
            *kept = 1;
        }
    } else if (rc != SEAL_E_NOENT && rc != SEAL_E_FORMAT && rc != SEAL_E_VERSION) {
        goto out; /* permissions etc.: do not paper over them */
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

int seal_store_restore_previous(seal_store *st, const char *keyring_path, const char *name,
                                uint64_t *generation_out, seal_err *err)
{
    seal_lock lk = {.fd = -1};
    seal_keyring *ring = NULL;
    seal_secret *old = NULL, *cur = NULL;
    seal_txn *t = NULL;
    seal_header h;
    char prev[SEAL_NAME_MAX + 1];
    int have_cur = 0;
    uint64_t cur_gen = 0;
    int rc = prev_name(name, prev, sizeof prev, err);
    if (rc != SEAL_OK || (rc = seal_lock_acquire(st, name, 1, &lk, err)) != SEAL_OK)
        goto out;
    if ((rc = seal_keyring_load(keyring_path, st->dir_uid, &ring, err)) != SEAL_OK ||
        (rc = seal_secret_new(&old, err)) != SEAL_OK || (rc = seal_secret_new(&cur, err)) != SEAL_OK)
        goto out;
    rc = seal_store_read(st, ring, prev, NULL, old, err);
    if (rc == SEAL_E_NOENT)
        rc = seal_fail(err, SEAL_E_NOENT, "there is no %s in %s: nothing was kept to restore", prev, st->path);
    if (rc != SEAL_OK)
        goto out;
    rc = seal_store_header(st, name, &h, err);
    if (rc == SEAL_OK) {
        cur_gen = h.generation;
        seal_err ignored = {0};
        have_cur = seal_store_read(st, ring, name, NULL, cur, &ignored) == SEAL_OK;
    } else if (rc != SEAL_E_NOENT && rc != SEAL_E_FORMAT && rc != SEAL_E_VERSION) {
        goto out;
    }
    uint64_t prev_gen = seal_secret_generation(old);
    uint64_t gen = (cur_gen > prev_gen ? cur_gen : prev_gen) + 1;
    /* NAME first: once the restore is durable, keeping the value it replaced
     * is the second step (a crash in between loses only that value). */
    seal_binding b;
    seal_secret_binding(old, &b);
    rc = seal_txn_prepare(st, name, SEAL_HEADER_MAX + seal_secret_size(old) + 4 * SEAL_BINDING_MAX, &t, err);
    if (rc == SEAL_OK)
        rc = seal_txn_commit(t, ring, &b, gen, seal_secret_data(old), seal_secret_size(old), err);
    if (rc != SEAL_OK)
        goto out;
    if (have_cur && (rc = prev_write(st, ring, prev, cur, cur_gen, err)) != SEAL_OK)
        goto out;
    if (generation_out != NULL)
        *generation_out = gen;
out:
    seal_txn_free(t);
    seal_secret_free(old);
    seal_secret_free(cur);
    seal_keyring_free(ring);
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
