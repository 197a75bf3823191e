/* pgstore.h - the grant's row in PostgreSQL (grant_store=postgresql://...).
 *
 * One row per practice: (practice, generation, sealed, updated_at) plus a
 * renewal lease.  This room moves opaque bytes: what it stores is a VSEAL
 * image sealed by the caller, so the database never sees a token in clear.
 * No plugin state, no grant parsing.
 *
 * A renewal across machines (DESIGN.md, Keeping the grant alive, rule 2):
 *   pgstore_claim    row lock (SELECT ... FOR UPDATE, lock_timeout), and a
 *                    live lease of another machine waited out; the row is
 *                    returned with the transaction still open;
 *   pgstore_lease    when the caller will send a token request: the lease
 *                    (until now + lease_ms, the database's clock) committed
 *                    durably, and a session advisory lock held on it so the
 *                    others see at once when its holder dies;
 *   pgstore_commit   the new row as a compare-and-set on the generation,
 *                    reconnecting and retrying until its budget;
 *   pgstore_end      rolls back what is open, drops the advisory lock.
 * A lease whose holder's session is gone is taken over at once, unless the
 * server restarted after the lease was taken: then its holder may be
 * retrying its commit with the only live refresh token, and the lease is
 * honoured until it runs out.
 *
 * Threads: one renewal session at a time per handle (claim takes the
 * handle's session mutex, pgstore_end releases it); reads use their own
 * connection and may run meanwhile.  All waits are on the monotonic clock.
 * err is never NULL. */
#ifndef VAP_PGSTORE_H
#define VAP_PGSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#define PGSTORE_TABLE "vap_grant"

struct pgstore;

/* No I/O: connections are made on first use.  practice is the row's key. */
int pgstore_new(const char *conninfo, const char *practice, struct pgstore **out,
                vap_error *err);
void pgstore_free(struct pgstore *s);

/* CREATE TABLE IF NOT EXISTS; VAP_E_CONFIG naming the GRANT to ask for when
 * the role may not create it.  *created is 1 when it did not exist. */
int pgstore_init(struct pgstore *s, int64_t budget_ms, int *created, vap_error *err);

/* The stored row (no lock): VAP_OK, 1 when there is none, or an error
 * (VAP_E_UNAVAILABLE when the server cannot be reached). */
int pgstore_read(struct pgstore *s, int64_t budget_ms, uint8_t *buf, size_t cap, size_t *len,
                 uint64_t *generation, vap_error *err);

/* Start a renewal session (see above).  VAP_OK with the row, 1 when there
 * is no row yet (the session is open all the same, for an insert), or an
 * error (the session is then ended).  *took_over is 1 when a dead holder's
 * lease was taken over. */
int pgstore_claim(struct pgstore *s, int64_t budget_ms, uint8_t *buf, size_t cap, size_t *len,
                  uint64_t *generation, int *took_over, vap_error *err);
/* Commit the lease before a token request; on failure nothing was sent and
 * the session should be ended. */
int pgstore_lease(struct pgstore *s, int64_t lease_ms, vap_error *err);
/* Store (next, buf) if the row's generation is still expect (0: no row yet,
 * insert).  Retried across lost connections and restarts for budget_ms.
 * VAP_OK once durable (synchronous_commit=on), 2 when the row moved on to
 * another generation: then cur/cur_len/cur_gen hold it (cur may be NULL),
 * or an error.  The session stays open either way (pgstore_end). */
int pgstore_commit(struct pgstore *s, int64_t budget_ms, uint64_t expect, uint64_t next,
                   const uint8_t *buf, size_t len, uint8_t *cur, size_t cur_cap,
                   size_t *cur_len, uint64_t *cur_gen, vap_error *err);
/* Open a session for a commit retried later (a parked renewal): no claim,
 * since our own lease may be the one standing.  Never waits (its caller
 * holds a lock a session may need): -1 when a session is open. */
int pgstore_resume(struct pgstore *s);
/* End the session: what is open is rolled back; a lease not used for a
 * commit is cleared (best effort: it also runs out on its own). */
void pgstore_end(struct pgstore *s);

#endif
