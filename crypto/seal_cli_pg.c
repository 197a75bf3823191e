/*
 * seal_cli_pg.c - rotate-key's part in a fleet's grant store: the grant's
 * row in PostgreSQL (grant_store=postgresql://... on the config line; the
 * table the plugin's plugin/store/pgstore.c keeps), checked before the
 * keyring changes and re-sealed under the new key in one transaction
 * before the old key is retired.  Only vap-seal links libpq; libvapseal
 * does not, and nothing here is shared with plugin/.
 *
 * The row's columns and lease follow pgstore.h: generation (equal to the
 * generation in the VSEAL header), sealed (the image), lease_until and
 * lease_at (a renewal in flight), and a session advisory lock held by a
 * live lease's holder.
 */
#include "seal_cli.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_TABLE "vap_grant"
#define PG_ITEM "grant"
#define PG_WAIT_MS 60000    /* a renewal in flight is waited out this long */
#define PG_POLL_MS 200
#define PG_LOCK_MS "5000"   /* per attempt at the row lock */

#define SQL_READ "SELECT generation, sealed FROM " PG_TABLE " WHERE practice = $1"
#define SQL_LOCK                                                                             \
    "SELECT generation, sealed, coalesce(lease_until > now(), false), "                    \
    "coalesce(lease_at < pg_postmaster_start_time(), false) FROM " PG_TABLE                 \
    " WHERE practice = $1 FOR UPDATE"
#define SQL_HOLDER_GONE "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
/* Lease columns untouched: a renewal that took over a dead holder's lease
 * is not ours to clear. */
#define SQL_UPDATE                                                                           \
    "UPDATE " PG_TABLE " SET generation = $2::bigint, sealed = $3, updated_at = now() "    \
    "WHERE practice = $1 AND generation = $4::bigint"

struct cli_pg {
    PGconn *conn;
    char *practice;       /* "ISSUER CLIENT_ID", the row's key */
    char where[400];      /* the database, for messages: never a password */
    seal_binding bind;
    int has_row;
};

static void pg_describe(const char *conninfo, char *out, size_t cap);
static void pg_text(const char *msg, char *out, size_t cap);
static PGresult *pg_run(cli_pg *pg, const char *sql, int n, const char *const *vals,
                        const int *lens, const int *fmts);
static uint64_t pg_u64(const PGresult *r, int col);
static int pg_bool(const PGresult *r, int col);
static int pg_open_row(cli_pg *pg, const seal_keyring *ring, const uint8_t *buf, size_t len,
                       seal_secret *s, const char *keyring_path, const char *then);
static void pg_sleep_ms(long ms);
static int64_t pg_mono_ms(void);

int cli_pg_open(cli_opts *o, const seal_keyring *ring, cli_pg **out)
{
    *out = NULL;
    cli_pg *pg = calloc(1, sizeof *pg);
    size_t n = strlen(o->issuer) + strlen(o->client_id) + 2;
    if (pg == NULL || (pg->practice = malloc(n)) == NULL) {
        free(pg);
        return cli_fail("out of memory");
    }
    snprintf(pg->practice, n, "%s %s", o->issuer, o->client_id);
    pg->bind = (seal_binding){o->issuer, o->client_id};
    pg_describe(o->grant_store, pg->where, sizeof pg->where);
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "vap-seal", o->grant_store, NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        char why[200];
        pg_text(pg->conn ? PQerrorMessage(pg->conn) : "out of memory", why, sizeof why);
        cli_fail("the shared grant's database (grant_store= in %s: %s) cannot be reached: %s; "
                 "nothing was changed, the keyring is as it was.  rotate-key must re-seal the "
                 "grant's row there too: start the database or fix this machine's access to it "
                 "(pg_hba.conf, ~/.pgpass), then run rotate-key again",
                 cli_config_path, pg->where, why);
        cli_pg_close(pg);
        return CLI_EXIT_FAIL;
    }
    PGresult *r = pg_run(pg, "SET synchronous_commit = on", 0, NULL, NULL, NULL);
    if (r == NULL)
        goto fail;
    PQclear(r);
    /* No table or no row yet: there is no grant to re-seal. */
    r = pg_run(pg, "SELECT to_regclass('" PG_TABLE "') IS NOT NULL", 0, NULL, NULL, NULL);
    if (r == NULL)
        goto fail;
    int table = pg_bool(r, 0);
    PQclear(r);
    if (table) {
        r = pg_run(pg, "SELECT has_table_privilege('" PG_TABLE "', 'SELECT, UPDATE')", 0, NULL,
                   NULL, NULL);
        if (r == NULL)
            goto fail;
        int may = pg_bool(r, 0);
        PQclear(r);
        if (!may) {
            cli_fail("the database role of %s may not update the table " PG_TABLE
                     "; nothing was changed: as its owner, GRANT SELECT, INSERT, UPDATE ON "
                     PG_TABLE " TO that role, then run rotate-key again", pg->where);
            goto fail_quiet;
        }
        const char *v[] = {pg->practice};
        if ((r = pg_run(pg, SQL_READ, 1, v, NULL, NULL)) == NULL)
            goto fail;
        pg->has_row = PQntuples(r) == 1;
        int rc = CLI_EXIT_OK;
        if (pg->has_row) {
            seal_secret *s = NULL;
            seal_err err = {0};
            if (seal_secret_new(&s, &err) != SEAL_OK)
                rc = cli_fail("%s", err.message);
            else
                rc = pg_open_row(pg, ring, (const uint8_t *)PQgetvalue(r, 0, 1),
                                 (size_t)PQgetlength(r, 0, 1), s, o->keyring,
                                 "nothing was changed");
            seal_secret_free(s);
        }
        PQclear(r);
        if (rc != CLI_EXIT_OK)
            goto fail_quiet;
    }
    *out = pg;
    return CLI_EXIT_OK;
fail:
    /* pg_run has printed what the database said. */
    cli_fail("nothing was changed, the keyring is as it was: fix this and run rotate-key again");
fail_quiet:
    cli_pg_close(pg);
    return CLI_EXIT_FAIL;
}

int cli_pg_reseal(cli_pg *pg, const seal_keyring *ring, const char *keyring_path,
                  const uint8_t id[SEAL_KEY_ID_BYTES], uint64_t *generation, int *changed)
{
    const char *v[4] = {pg->practice};
    seal_secret *s = NULL;
    seal_err err = {0};
    uint8_t *sealed = malloc(SEAL_FILE_MAX);
    int64_t until = pg_mono_ms() + PG_WAIT_MS;
    int rc = CLI_EXIT_FAIL, waited = 0;
    *changed = 0;
    *generation = 0;
    if (!pg->has_row) {
        free(sealed);
        return CLI_EXIT_OK;
    }
    if (sealed == NULL || seal_secret_new(&s, &err) != SEAL_OK) {
        rc = cli_fail("%s", sealed == NULL ? "out of memory" : err.message);
        goto out;
    }
    for (;;) {
        PGresult *r = NULL;
        if ((r = pg_run(pg, "BEGIN", 0, NULL, NULL, NULL)) == NULL)
            goto rollback;
        PQclear(r);
        if ((r = pg_run(pg, "SET LOCAL lock_timeout = " PG_LOCK_MS, 0, NULL, NULL, NULL)) == NULL)
            goto rollback;
        PQclear(r);
        /* The row lock: a machine claiming it for a renewal is waited for. */
        r = PQexecParams(pg->conn, SQL_LOCK, 1, NULL, v, NULL, NULL, 1);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int busy = PQresultStatus(r) != PGRES_TUPLES_OK && state && strcmp(state, "55P03") == 0;
        if (!busy && PQresultStatus(r) != PGRES_TUPLES_OK) {
            char why[200];
            pg_text(PQresultErrorMessage(r), why, sizeof why);
            PQclear(r);
            cli_fail("the database %s refused to lock the grant's row: %s", pg->where, why);
            goto rollback;
        }
        if (!busy && PQntuples(r) == 0) { /* deleted meanwhile: nothing to re-seal */
            PQclear(r);
            rc = CLI_EXIT_OK;
            goto rollback_quiet;
        }
        if (!busy && pg_bool(r, 2)) {
            /* A lease: a renewal is in flight unless its holder's session
             * (and so its advisory lock) is gone.  One taken before the
             * server's last start may still be committed by its holder. */
            PGresult *h = pg_run(pg, SQL_HOLDER_GONE, 1, v, NULL, NULL);
            if (h == NULL) {
                PQclear(r);
                goto rollback;
            }
            busy = !pg_bool(h, 0) || pg_bool(r, 3);
            PQclear(h);
        }
        if (busy) {
            PQclear(r);
            PQclear(PQexec(pg->conn, "ROLLBACK"));
            if (pg_mono_ms() + PG_POLL_MS >= until) {
                cli_fail("a machine has been renewing the shared grant in %s for %d s (its "
                         "renewal lease is live); its row was not re-sealed and the old key is "
                         "kept, so nothing is lost: run rotate-key again once it is done",
                         pg->where, PG_WAIT_MS / 1000);
                goto out;
            }
            if (!waited)
                fprintf(stderr, "vap-seal: a machine is renewing the shared grant; waiting for "
                                "it to finish\n");
            waited = 1;
            pg_sleep_ms(PG_POLL_MS);
            continue;
        }
        uint64_t gen = pg_u64(r, 0);
        const uint8_t *img = (const uint8_t *)PQgetvalue(r, 0, 1);
        size_t img_len = (size_t)PQgetlength(r, 0, 1);
        seal_header hd;
        if (seal_header_parse(img, img_len, &hd, &err) == SEAL_OK &&
            sodium_memcmp(hd.key_id, id, SEAL_KEY_ID_BYTES) == 0) {
            PQclear(r); /* already on the new key (sealed by this machine's renewer) */
            *generation = gen;
            rc = CLI_EXIT_OK;
            goto rollback_quiet;
        }
        if (pg_open_row(pg, ring, img, img_len, s, keyring_path,
                        "the old key is kept, so nothing is lost") != CLI_EXIT_OK) {
            PQclear(r);
            goto rollback_quiet;
        }
        PQclear(r);
        /* As the file store's re-seal: the same value and binding, the next
         * generation; the plugin tells it from a renewal by its tokens. */
        size_t len = 0;
        if (seal_format_seal(ring, PG_ITEM, &pg->bind, (uint64_t)time(NULL), gen + 1,
                             seal_secret_data(s), seal_secret_size(s), sealed, SEAL_FILE_MAX, &len,
                             &err) != SEAL_OK) {
            seal_secret_clear(s);
            cli_fail("%s", err.message);
            goto rollback;
        }
        seal_secret_clear(s);
        char next[24], expect[24];
        snprintf(next, sizeof next, "%llu", (unsigned long long)(gen + 1));
        snprintf(expect, sizeof expect, "%llu", (unsigned long long)gen);
        v[1] = next;
        v[2] = (const char *)sealed;
        v[3] = expect;
        const int lens[] = {0, 0, (int)len, 0};
        const int fmts[] = {0, 0, 1, 0};
        if ((r = pg_run(pg, SQL_UPDATE, 4, v, lens, fmts)) == NULL)
            goto rollback;
        int updated = strcmp(PQcmdTuples(r), "1") == 0;
        PQclear(r);
        if (!updated) {
            cli_fail("the grant's row in %s changed under its lock; run rotate-key again",
                     pg->where);
            goto rollback;
        }
        if ((r = pg_run(pg, "COMMIT", 0, NULL, NULL, NULL)) == NULL) {
            cli_fail("the re-sealed row may not have been stored in %s; the old key is kept, so "
                     "nothing is lost: run rotate-key again", pg->where);
            goto out;
        }
        PQclear(r);
        *changed = 1;
        *generation = gen + 1;
        rc = CLI_EXIT_OK;
        goto out;
    }
rollback:
    cli_fail("the grant's row in %s was not re-sealed and the old key is kept, so nothing is "
             "lost: fix this and run rotate-key again", pg->where);
rollback_quiet:
    PQclear(PQexec(pg->conn, "ROLLBACK"));
out:
    seal_secret_free(s);
    if (sealed != NULL)
        sodium_memzero(sealed, SEAL_FILE_MAX);
    free(sealed);
    return rc;
}

int cli_pg_check(cli_pg *pg, const uint8_t id[SEAL_KEY_ID_BYTES])
{
    const char *v[] = {pg->practice};
    seal_err err = {0};
    seal_header hd;
    if (!pg->has_row)
        return CLI_EXIT_OK;
    PGresult *r = pg_run(pg, SQL_READ, 1, v, NULL, NULL);
    if (r == NULL)
        return CLI_EXIT_FAIL;
    int ok = PQntuples(r) == 0 ||
             (seal_header_parse((const uint8_t *)PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1),
                                &hd, &err) == SEAL_OK &&
              sodium_memcmp(hd.key_id, id, SEAL_KEY_ID_BYTES) == 0);
    PQclear(r);
    if (!ok)
        return cli_fail("the grant's row in %s was sealed again by another key during the "
                        "rotation; run rotate-key again", pg->where);
    return CLI_EXIT_OK;
}

const char *cli_pg_where(const cli_pg *pg)
{
    return pg->where;
}

void cli_pg_close(cli_pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg->practice);
    free(pg);
}

/* ---- helpers ------------------------------------------------------------------- */

/* "database D on HOST:PORT as ROLE" from the conninfo's own fields: never
 * its password, whatever it holds. */
static void pg_describe(const char *conninfo, char *out, size_t cap)
{
    const char *db = NULL, *host = NULL, *port = NULL, *user = NULL, *service = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    PQfreemem(perr);
    for (PQconninfoOption *p = opts; p && p->keyword; p++) {
        const char *val = p->val && p->val[0] ? p->val : NULL;
        if (strcmp(p->keyword, "dbname") == 0)
            db = val;
        else if (strcmp(p->keyword, "host") == 0)
            host = val;
        else if (strcmp(p->keyword, "port") == 0)
            port = val;
        else if (strcmp(p->keyword, "user") == 0)
            user = val;
        else if (strcmp(p->keyword, "service") == 0)
            service = val;
    }
    if (service != NULL)
        snprintf(out, cap, "service %s", service);
    else
        snprintf(out, cap, "database %s on %s%s%s%s%s", db ? db : "(default)",
                 host ? host : "the local socket", port ? ":" : "", port ? port : "",
                 user ? " as " : "", user ? user : "");
    PQconninfoFree(opts);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?';
}

static void pg_text(const char *msg, char *out, size_t cap)
{
    snprintf(out, cap, "%s", msg ? msg : "");
    out[strcspn(out, "\n")] = '\0';
}

/* One statement, binary results; NULL (and the database's message printed)
 * on failure. */
static PGresult *pg_run(cli_pg *pg, const char *sql, int n, const char *const *vals,
                        const int *lens, const int *fmts)
{
    PGresult *r = PQexecParams(pg->conn, sql, n, NULL, vals, lens, fmts, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    char why[200];
    pg_text(r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn), why, sizeof why);
    PQclear(r);
    cli_fail("the database %s: %s", pg->where, why);
    return NULL;
}

static uint64_t pg_u64(const PGresult *r, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, col);
    uint64_t v = 0;
    if (PQgetlength(r, 0, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int pg_bool(const PGresult *r, int col)
{
    return PQntuples(r) == 1 && !PQgetisnull(r, 0, col) && PQgetlength(r, 0, col) == 1 &&
           PQgetvalue(r, 0, col)[0];
}

/* Opens the row's image with RING, bound to this config's issuer and
 * client_id; a message saying what to do when it does not open. */
static int pg_open_row(cli_pg *pg, const seal_keyring *ring, const uint8_t *buf, size_t len,
                       seal_secret *s, const char *keyring_path, const char *then)
{
    seal_err err = {0};
    int src = seal_format_open(ring, PG_ITEM, &pg->bind, buf, len, s, &err);
    if (src == SEAL_OK)
        return CLI_EXIT_OK;
    seal_secret_clear(s);
    if (src == SEAL_E_KEY_UNKNOWN || src == SEAL_E_KEY_RETIRED)
        return cli_fail("the shared grant in %s is sealed with a key that keyring %s %s: another "
                        "machine rotated the fleet's keyring; %s: import the new keyring from the "
                        "machine that rotated (vap-seal export there, vap-seal import here), then "
                        "run rotate-key again if still needed",
                        pg->where, keyring_path,
                        src == SEAL_E_KEY_UNKNOWN ? "does not have" : "has retired", then);
    return cli_fail("the shared grant in %s does not open (%s); %s", pg->where, err.message,
                    then);
}

static void pg_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t pg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
