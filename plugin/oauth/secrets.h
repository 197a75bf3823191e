/* secrets.h - the instance's view of the sealed store: the keyring, the
 * client secret and the grant, through libvapseal.
 *
 * Opened lazily on first use (instance_new only validates options, so a host
 * can load its config before an admin has run vap-seal).  All plaintext
 * buffers are sodium_malloc'd at the first open and reused.  Thread-safe: one mutex
 * guards the shared buffers; it is never held across a network call. */
#ifndef VAP_SECRETS_H
#define VAP_SECRETS_H

#include <pthread.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "core/config.h"
#include "oauth/grant.h"
#include "store/pgstore.h"
#include "vapseal.h"

#define SECRETS_CLIENT_SECRET_MAX 1024
#define SECRETS_CLIENT_SECRET_ITEM "client_secret"

struct secrets {
    pthread_mutex_t mu;
    int opened;
    seal_store *store;
    seal_keyring *ring;
    seal_secret *plain;  /* the process's unseal buffer, between take and give */
    char *client_secret; /* sodium_malloc'd, NUL-terminated, "" when none */
    size_t client_secret_len;
    struct pgstore *pg;  /* grant_store=postgresql://: the grant's row; NULL: the file */
};

/* Zero-initialise (no I/O, no secure memory yet). */
int secrets_init(struct secrets *s, vap_error *err);
/* Wipe and free everything. */
void secrets_destroy(struct secrets *s);

/* Open the store and keyring, and unseal the client secret if sealed.
 * Idempotent; a failed open can be retried.  VAP_E_SEAL / VAP_E_CONFIG with
 * the fix (vap-seal init, chmod, ...). */
int secrets_ensure_open(struct secrets *s, const struct config *cfg, vap_error *err);

/* Re-read the keyring and the client secret (after vap-seal put/rotate-key). */
int secrets_reload(struct secrets *s, const struct config *cfg, vap_error *err);

/* Copy the client secret into out (cap bytes, secure memory).  VAP_E_CONFIG
 * naming the vap-seal command when none is sealed. */
int secrets_client_secret(struct secrets *s, char *out, size_t cap, size_t *len, vap_error *err);

/* Read the sealed grant into g (with its generation).  Returns VAP_OK, or
 * 1 when there is no grant yet, or a negative vap_status. */
int secrets_grant_read(struct secrets *s, const struct config *cfg, struct grant *g,
                       vap_error *err);

/* As secrets_grant_read, for a caller that already holds the grant's
 * exclusive lock (a shared flock on another descriptor would deadlock). */
int secrets_grant_read_locked(struct secrets *s, const struct config *cfg, struct grant *g,
                              vap_error *err);

/* Seal g with generation into a prepared transaction (the caller holds the
 * grant's exclusive lock).  The keyring is re-read first.  On failure the
 * transaction stays usable for another try. */
int secrets_grant_commit(struct secrets *s, const struct config *cfg, seal_txn *txn,
                         const struct grant *g, uint64_t generation, vap_error *err);

/* For a caller holding the grant's exclusive lock, before it reads the
 * grant to renew, mark or re-seal it: a temp file left by a writer killed
 * after writing a renewed grant but before renaming it holds the only live
 * refresh token (the server revoked the stored one).  If one opens with a
 * higher generation than the stored grant, it is made the stored grant
 * (seal_store_recover); *recovered gets its generation, 0 when none. */
int secrets_grant_recover(struct secrets *s, const struct config *cfg, uint64_t *recovered,
                          vap_error *err);

/* The sealed grant's generation from its header alone (cheap); 0 and VAP_OK
 * when there is no grant. */
int secrets_grant_generation(struct secrets *s, uint64_t *gen, vap_error *err);

/* Seal g as the new grant: exclusive lock, generation = current + 1, durable
 * replace.  g->generation is updated.  A failure leaves the old file as it
 * was.  (The refresh path uses its own lock-hold-retry sequence.) */
int secrets_grant_write(struct secrets *s, const struct config *cfg, struct grant *g,
                        vap_error *err);

/* ---- grant_store=postgresql:// (secrets_pg.c) ----
 * The same VSEAL image as the file, bound to issuer and client, kept in the
 * grant's row: only ciphertext leaves this process. */

/* 1 when the grant lives in PostgreSQL (after secrets_ensure_open). */
int secrets_pg(const struct secrets *s);
/* Seal g (generation) under the keyring's active key, re-read first, into
 * out (cap bytes); *len gets the size. */
int secrets_pg_seal(struct secrets *s, const struct config *cfg, const struct grant *g,
                    uint64_t generation, uint8_t *out, size_t cap, size_t *len, vap_error *err);
/* Open a sealed image from the row into g (with its generation). */
int secrets_pg_unseal(struct secrets *s, const struct config *cfg, const uint8_t *buf,
                      size_t len, struct grant *g, vap_error *err);
/* secrets_grant_read and secrets_grant_write for the row. */
int secrets_pg_read(struct secrets *s, const struct config *cfg, struct grant *g,
                    vap_error *err);
int secrets_pg_write(struct secrets *s, const struct config *cfg, struct grant *g,
                     vap_error *err);
/* Create the table (vap-host db init, or first use); *created 1 if it was new. */
int secrets_pg_init(struct secrets *s, const struct config *cfg, int *created, vap_error *err);

/* Under s->mu, around one unseal into s->plain: take one of the buffers the
 * process's instances share (VAP_E_NOMEM when none can be made), and give
 * it back wiped. */
int secrets_plain_take(struct secrets *s, vap_error *err);
void secrets_plain_give(struct secrets *s);

/* Map a libvapseal error to a vap_status and message. */
int secrets_map_error(const seal_err *se, vap_error *err);

/* Where a grant's payload is sealed to: a temp file's commit, or bytes for
 * the shared row.  0, or -1 with se filled. */
typedef int (*secrets_seal_fn)(void *ctx, const seal_keyring *ring, const seal_binding *bind,
                               const uint8_t *payload, size_t len, seal_err *se);
/* Serializes g and seals it through put with the keyring read afresh (an
 * admin may have rotated it), which then becomes the instance's. */
int secrets_seal_grant(struct secrets *s, const struct config *cfg, const struct grant *g,
                       secrets_seal_fn put, void *ctx, vap_error *err);

#endif
