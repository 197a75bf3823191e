/* pgstore.c - the grant's row in PostgreSQL, through libpq.
 *
 * Results are asked for in binary (the sealed image is bytea; integers are
 * big-endian int8).  Every wait is bounded by a budget on the monotonic
 * clock; a lost connection is re-made on the next statement. */
#include "store/pgstore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "core/pqlib.h"

#define PG_POLL_MS 20         /* re-read while another machine holds the lease */
#define PG_RECONNECT_MS 100   /* between attempts to reach a restarting server */

#define SQL_CREATE                                                                           \
    "CREATE TABLE IF NOT EXISTS " PGSTORE_TABLE " ("                                       \
    "practice text PRIMARY KEY, generation bigint NOT NULL, sealed bytea NOT NULL, "      \
    "updated_at timestamptz NOT NULL DEFAULT now(), "                                      \
    "lease_until timestamptz, lease_at timestamptz)"
#define SQL_READ "SELECT generation, sealed FROM " PGSTORE_TABLE " WHERE practice = $1"
/* The lease columns: is one live, and was it taken before the server's
 * last start (its holder's session died in a restart, not with it). */
#define SQL_CLAIM                                                                            \
    "SELECT generation, sealed, coalesce(lease_until > now(), false), "                    \
    "coalesce(lease_at < pg_postmaster_start_time(), false) FROM " PGSTORE_TABLE            \
    " WHERE practice = $1 FOR UPDATE"
#define SQL_PROBE "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
#define SQL_ADV_LOCK "SELECT pg_advisory_lock(hashtextextended($1, 0))"
#define SQL_ADV_TRY "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
#define SQL_ADV_UNLOCK "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
#define SQL_LEASE                                                                            \
    "UPDATE " PGSTORE_TABLE " SET lease_until = now() + $2::bigint * interval '1 ms', "    \
    "lease_at = now() WHERE practice = $1"
#define SQL_UNLEASE                                                                          \
    "UPDATE " PGSTORE_TABLE " SET lease_until = NULL, lease_at = NULL WHERE practice = $1"
#define SQL_CAS_READ "SELECT generation, sealed FROM " PGSTORE_TABLE " WHERE practice = $1 FOR UPDATE"
#define SQL_UPDATE                                                                           \
    "UPDATE " PGSTORE_TABLE " SET generation = $2::bigint, sealed = $3, updated_at = now(), " \
    "lease_until = NULL, lease_at = NULL WHERE practice = $1"
#define SQL_INSERT                                                                           \
    "INSERT INTO " PGSTORE_TABLE " (practice, generation, sealed) VALUES ($1, $2::bigint, $3)"

struct pgstore {
    char *conninfo;
    char *practice;
    pthread_mutex_t ro_mu; /* guards ro */
    PGconn *ro;
    pthread_mutex_t rw_mu; /* held for a whole renewal session */
    PGconn *rw;
    int in_tx;        /* a transaction is open on rw              */
    int leased;       /* our lease is committed                   */
    int adv;          /* we hold the session advisory lock        */
    int commit_tried; /* the lease served a token request         */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int pgstore_new(const char *conninfo, const char *practice, struct pgstore **out,
                vap_error *err)
{
    char why[200];
    if (pqlib_load(why, sizeof why) != 0)
        return err_set(err, VAP_E_CONFIG, "grant_store names PostgreSQL, but %s", why);
    struct pgstore *s = calloc(1, sizeof *s);
    if (s == NULL || (s->conninfo = strdup(conninfo)) == NULL ||
        (s->practice = strdup(practice)) == NULL) {
        if (s)
            free(s->conninfo);
        free(s);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&s->ro_mu, NULL);
    pthread_mutex_init(&s->rw_mu, NULL);
    *out = s;
    return VAP_OK;
}

void pgstore_free(struct pgstore *s)
{
    if (s == NULL)
        return;
    if (s->ro)
        PQfinish(s->ro);
    if (s->rw)
        PQfinish(s->rw); /* a session lock or an open transaction ends with it */
    pthread_mutex_destroy(&s->ro_mu);
    pthread_mutex_destroy(&s->rw_mu);
    free(s->conninfo);
    free(s->practice);
    free(s);
}

/* ---- connections and errors -------------------------------------------------- */

/* libpq's text, first line, cleaned for a log or a message. */
static void pq_text(const char *msg, char *out, size_t cap)
{
    snprintf(out, cap, "%s", msg ? msg : "");
    out[strcspn(out, "\n")] = '\0';
    err_clean_line(out);
}

static int conn_ok(PGconn *c)
{
    return c != NULL && PQstatus(c) == CONNECTION_OK;
}

/* libpq prints server notices (a shutdown's WARNING) on stderr, which is
 * the host's: say nothing instead. */
static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int unreachable(PGconn *c, vap_error *err)
{
    char why[200];
    pq_text(c ? PQerrorMessage(c) : "out of memory", why, sizeof why);
    return err_set(err, VAP_E_UNAVAILABLE,
                   "the grant store (PostgreSQL) cannot be reached: %s; check that it runs "
                   "and that this machine may connect (pg_hba.conf, ~/.pgpass)", why);
}

/* (Re)connect *c: synchronous_commit on for the session, so a commit that
 * returns is durable on the server whatever the database's default. */
static int connect_conn(struct pgstore *s, PGconn **c, int64_t budget_ms, vap_error *err)
{
    if (conn_ok(*c))
        return VAP_OK;
    if (*c)
        PQfinish(*c);
    /* Within the call's budget (libpq counts whole seconds, at least 2; a
     * SCRAM login is dear on a loaded machine).  The caller's
     * connect_timeout, given in conninfo, overrides ours. */
    char secs[16];
    int64_t t = budget_ms / 1000;
    snprintf(secs, sizeof secs, "%lld", (long long)(t < 2 ? 2 : t > 30 ? 30 : t));
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {secs, "vap_openemr", s->conninfo, NULL};
    *c = PQconnectdbParams(keys, vals, 1);
    if (!conn_ok(*c))
        return unreachable(*c, err);
    PQsetNoticeProcessor(*c, quiet_notice, NULL);
    PGresult *res = PQexec(*c, "SET synchronous_commit = on");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? VAP_OK : unreachable(*c, err);
}

/* One statement with text parameters (bytea passed binary) and binary
 * results.  NULL on a failure, described in err; *gone is 1 when the
 * connection is lost (retry after reconnecting). */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *vals,
                     const int *lens, const int *fmts, int *gone, vap_error *err)
{
    *gone = 0;
    PGresult *res = PQexecParams(c, sql, n, NULL, vals, lens, fmts, 1);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char why[200];
    pq_text(res ? PQresultErrorMessage(res) : PQerrorMessage(c), why, sizeof why);
    /* No SQLSTATE: libpq's own failure (the server closed the connection),
     * not the server's answer. */
    if (!conn_ok(c) || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        *gone = 1;
        err_set(err, VAP_E_UNAVAILABLE,
                "the grant store (PostgreSQL) went away (%s)", why);
    } else if (state && strcmp(state, "55P03") == 0) {
        err_set(err, VAP_E_TIMEOUT,
                "another machine has held the grant's row in " PGSTORE_TABLE " for the whole "
                "deadline; try again");
    } else if (state && strcmp(state, "42P01") == 0) {
        err_set(err, VAP_E_CONFIG,
                "the table " PGSTORE_TABLE " does not exist: run vap-host db init");
    } else if (state && strcmp(state, "42501") == 0) {
        err_set(err, VAP_E_CONFIG,
                "this database role may not use the table " PGSTORE_TABLE " (%s): as its owner, "
                "GRANT SELECT, INSERT, UPDATE ON " PGSTORE_TABLE " TO the service's role", why);
    } else {
        err_set(err, VAP_E_IO, "the grant store (PostgreSQL) refused a statement: %s", why);
    }
    if (state && strcmp(state, "42P01") == 0)
        err_set_http(err, 0, 0, "undefined_table"); /* told apart by init_on_demand */
    PQclear(res);
    return NULL;
}

static int simple(PGconn *c, const char *sql, int *gone, vap_error *err)
{
    PGresult *r = run(c, sql, 0, NULL, NULL, NULL, gone, err);
    PQclear(r);
    return r ? VAP_OK : -1;
}

static int with_practice(struct pgstore *s, PGconn *c, const char *sql, PGresult **out, int *gone,
                         vap_error *err)
{
    const char *v[] = {s->practice};
    *out = run(c, sql, 1, v, NULL, NULL, gone, err);
    return *out ? VAP_OK : -1;
}

static uint64_t get_u64(const PGresult *r, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, col);
    uint64_t v = 0;
    if (PQgetlength(r, 0, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int get_bool(const PGresult *r, int col)
{
    return !PQgetisnull(r, 0, col) && PQgetlength(r, 0, col) == 1 && PQgetvalue(r, 0, col)[0];
}

/* Copy the (generation, sealed) of the row in r. */
static int take_row(const PGresult *r, uint8_t *buf, size_t cap, size_t *len, uint64_t *gen,
                    vap_error *err)
{
    size_t n = (size_t)PQgetlength(r, 0, 1);
    *gen = get_u64(r, 0);
    if (buf == NULL) {
        *len = 0;
        return VAP_OK;
    }
    if (n > cap)
        return err_set(err, VAP_E_SEAL, "the grant's row in " PGSTORE_TABLE " is larger than a "
                                        "sealed grant can be: it is not ours");
    memcpy(buf, PQgetvalue(r, 0, 1), n);
    *len = n;
    return VAP_OK;
}

static int is_undefined_table(const vap_error *e)
{
    return e->code == VAP_E_CONFIG && strcmp(e->oauth_error, "undefined_table") == 0;
}

/* ---- the table ----------------------------------------------------------------- */

static int create_table(struct pgstore *s, PGconn *c, int *created, vap_error *err)
{
    int gone;
    PGresult *r = run(c, "SELECT to_regclass('" PGSTORE_TABLE "') IS NULL", 0, NULL, NULL, NULL,
                      &gone, err);
    if (r == NULL)
        return err->code;
    *created = get_bool(r, 0);
    PQclear(r);
    (void)s;
    if (!*created)
        return VAP_OK;
    if (simple(c, SQL_CREATE, &gone, err) != VAP_OK) {
        if (err->code == VAP_E_CONFIG) /* 42501: this role may not create it */
            return err_set(err, VAP_E_CONFIG,
                           "the table " PGSTORE_TABLE " does not exist and this database role "
                           "may not create it: run vap-host db init as a role that may (the "
                           "database's owner), then GRANT SELECT, INSERT, UPDATE ON "
                           PGSTORE_TABLE " TO the service's role");
        return err->code;
    }
    return VAP_OK;
}

int pgstore_init(struct pgstore *s, int64_t budget_ms, int *created, vap_error *err)
{
    pthread_mutex_lock(&s->rw_mu);
    int rc = connect_conn(s, &s->rw, budget_ms, err);
    if (rc == VAP_OK)
        rc = create_table(s, s->rw, created, err);
    pthread_mutex_unlock(&s->rw_mu);
    return rc;
}

/* After "no such table" on first use: create it, once, on c.  Nothing is
 * logged: a read runs under the refresher's lock, where no host callback
 * may be made. */
static int init_on_demand(struct pgstore *s, PGconn *c, vap_error *err)
{
    int created = 0;
    vap_error e;
    VAP_INIT(vap_error, e);
    int rc = create_table(s, c, &created, &e);
    if (rc != VAP_OK)
        err_copy(err, &e);
    return rc;
}

/* ---- reads ---------------------------------------------------------------------- */

int pgstore_read(struct pgstore *s, int64_t budget_ms, uint8_t *buf, size_t cap, size_t *len,
                 uint64_t *generation, vap_error *err)
{
    int rc = VAP_E_UNAVAILABLE, tried_init = 0;
    pthread_mutex_lock(&s->ro_mu);
    for (int attempt = 0; attempt < 3; attempt++) {
        PGresult *r = NULL;
        int gone = 0;
        if ((rc = connect_conn(s, &s->ro, budget_ms, err)) != VAP_OK)
            break; /* unreachable: say so now, the caller keeps what it has */
        if (with_practice(s, s->ro, SQL_READ, &r, &gone, err) == VAP_OK) {
            rc = PQntuples(r) == 0 ? 1 : take_row(r, buf, cap, len, generation, err);
            PQclear(r);
            break;
        }
        rc = err->code;
        if (is_undefined_table(err) && !tried_init) {
            tried_init = 1;
            if ((rc = init_on_demand(s, s->ro, err)) != VAP_OK)
                break;
            continue;
        }
        if (!gone)
            break;
        /* else a connection made stale by a restart: one new one */
    }
    pthread_mutex_unlock(&s->ro_mu);
    return rc;
}

/* ---- the renewal session --------------------------------------------------------- */

static void rollback(struct pgstore *s)
{
    if (s->in_tx && conn_ok(s->rw)) {
        PGresult *r = PQexec(s->rw, "ROLLBACK");
        PQclear(r);
    }
    s->in_tx = 0;
}

static int begin(struct pgstore *s, int64_t lock_ms, int *gone, vap_error *err)
{
    char sql[96];
    if (simple(s->rw, "BEGIN", gone, err) != VAP_OK)
        return -1;
    s->in_tx = 1;
    /* A row lock is waited for only as long as the caller may. */
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %lld", (long long)(lock_ms > 1 ? lock_ms : 1));
    return simple(s->rw, sql, gone, err);
}

static int one_bool(struct pgstore *s, const char *sql, int *gone, vap_error *err)
{
    PGresult *r;
    if (with_practice(s, s->rw, sql, &r, gone, err) != VAP_OK)
        return -1;
    int v = PQntuples(r) == 1 && get_bool(r, 0);
    PQclear(r);
    return v;
}

int pgstore_claim(struct pgstore *s, int64_t budget_ms, uint8_t *buf, size_t cap, size_t *len,
                  uint64_t *generation, int *took_over, vap_error *err)
{
    int64_t until = mono_ms() + (budget_ms > 0 ? budget_ms : 0);
    int rc, tried_init = 0, waited = 0;
    *took_over = 0;
    pthread_mutex_lock(&s->rw_mu);
    s->in_tx = s->leased = s->commit_tried = 0;
    for (;;) {
        int gone = 0;
        PGresult *r = NULL;
        int64_t left = until - mono_ms();
        if (left <= 0) {
            rc = waited ? err_set(err, VAP_E_TIMEOUT,
                                  "another machine has been renewing the shared grant for the "
                                  "whole deadline; try again (if this persists, look in its log)")
                        : (err && err->code != 0 ? err->code
                                                 : err_set(err, VAP_E_TIMEOUT, "no time left"));
            break;
        }
        if ((rc = connect_conn(s, &s->rw, left, err)) != VAP_OK) {
            sleep_ms(PG_RECONNECT_MS);
            continue; /* a restarting server: until the budget runs out */
        }
        if (begin(s, left, &gone, err) != VAP_OK ||
            with_practice(s, s->rw, SQL_CLAIM, &r, &gone, err) != VAP_OK) {
            rollback(s);
            if (is_undefined_table((const vap_error *)err) && !tried_init) {
                tried_init = 1;
                if ((rc = init_on_demand(s, s->rw, err)) != VAP_OK)
                    break;
                continue;
            }
            if (gone) {
                sleep_ms(PG_RECONNECT_MS);
                continue;
            }
            rc = err->code;
            break;
        }
        if (PQntuples(r) == 0) {
            PQclear(r);
            rc = 1; /* no grant yet; the transaction stays open for an insert */
            break;
        }
        int leased = get_bool(r, 2), before_restart = get_bool(r, 3);
        if (leased) {
            /* The holder keeps a session advisory lock: if we can take it,
             * its session is gone. */
            int free_now = one_bool(s, SQL_PROBE, &gone, err);
            if (free_now < 0) {
                PQclear(r);
                rollback(s);
                if (gone)
                    continue;
                rc = err->code;
                break;
            }
            if (!free_now || before_restart) {
                /* Alive, or died in a restart and perhaps retrying its
                 * commit with the only live refresh token: wait. */
                PQclear(r);
                rollback(s);
                waited = 1;
                sleep_ms(PG_POLL_MS);
                continue;
            }
            *took_over = 1;
        }
        rc = take_row(r, buf, cap, len, generation, err);
        PQclear(r);
        break;
    }
    if (rc < 0) {
        rollback(s);
        pthread_mutex_unlock(&s->rw_mu);
    }
    return rc;
}

int pgstore_lease(struct pgstore *s, int64_t lease_ms, vap_error *err)
{
    int gone = 0;
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    const char *v[] = {s->practice, ms};
    PGresult *r;
    if (one_bool(s, SQL_ADV_LOCK, &gone, err) < 0)
        goto fail;
    s->adv = 1;
    if ((r = run(s->rw, SQL_LEASE, 2, v, NULL, NULL, &gone, err)) == NULL)
        goto fail;
    PQclear(r);
    if (simple(s->rw, "COMMIT", &gone, err) != VAP_OK)
        goto fail;
    s->in_tx = 0;
    s->leased = 1;
    return VAP_OK;
fail:
    rollback(s);
    return err->code;
}

/* After a reconnect in the middle of a commit: take the advisory lock again,
 * so the others see the lease's holder alive. */
static void relock(struct pgstore *s)
{
    int gone = 0;
    vap_error e;
    VAP_INIT(vap_error, e);
    if (s->adv)
        (void)one_bool(s, SQL_ADV_TRY, &gone, &e);
}

int pgstore_commit(struct pgstore *s, int64_t budget_ms, uint64_t expect, uint64_t next,
                   const uint8_t *buf, size_t len, uint8_t *cur, size_t cur_cap,
                   size_t *cur_len, uint64_t *cur_gen, vap_error *err)
{
    int64_t until = mono_ms() + (budget_ms > 0 ? budget_ms : 0);
    char gen[24];
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)next);
    const char *v[] = {s->practice, gen, (const char *)buf};
    const int lens[] = {0, 0, (int)len};
    const int fmts[] = {0, 0, 1};
    int first = 1, rc;
    s->commit_tried = 1;
    for (;;) {
        int gone = 0;
        PGresult *r = NULL;
        if (!first && mono_ms() + PG_RECONNECT_MS >= until) {
            rollback(s);
            return err->code != 0 ? err->code : err_set(err, VAP_E_TIMEOUT, "no time left");
        }
        if (!first)
            sleep_ms(PG_RECONNECT_MS);
        first = 0;
        if (!conn_ok(s->rw)) {
            s->in_tx = 0;
            if (connect_conn(s, &s->rw, until - mono_ms(), err) != VAP_OK)
                continue;
            relock(s);
        }
        if (!s->in_tx) {
            int64_t left = until - mono_ms();
            if (begin(s, left, &gone, err) != VAP_OK)
                goto again;
        }
        /* The claim's transaction (a first grant) has the row locked
         * already; read it again all the same: cheap, and one path. */
        if (with_practice(s, s->rw, SQL_CAS_READ, &r, &gone, err) != VAP_OK)
            goto again;
        if (PQntuples(r) == 0 && expect != 0) {
            PQclear(r);
            rollback(s);
            *cur_gen = 0;
            *cur_len = 0;
            return 2;
        }
        if (PQntuples(r) == 1) {
            uint64_t g = get_u64(r, 0);
            int ours = g == next && (size_t)PQgetlength(r, 0, 1) == len &&
                       memcmp(PQgetvalue(r, 0, 1), buf, len) == 0;
            if (g != expect && !ours) {
                /* Someone else wrote meanwhile: the caller decides. */
                rc = take_row(r, cur, cur_cap, cur_len, cur_gen, err);
                PQclear(r);
                rollback(s);
                return rc == VAP_OK ? 2 : rc;
            }
            PQclear(r);
            if (ours) { /* our COMMIT landed before the connection went */
                rollback(s);
                break;
            }
            if ((r = run(s->rw, SQL_UPDATE, 3, v, lens, fmts, &gone, err)) == NULL)
                goto again;
        } else {
            PQclear(r);
            if ((r = run(s->rw, SQL_INSERT, 3, v, lens, fmts, &gone, err)) == NULL)
                goto again;
        }
        PQclear(r);
        if (simple(s->rw, "COMMIT", &gone, err) != VAP_OK)
            goto again;
        s->in_tx = 0;
        break;
    again:
        rollback(s);
        if (!gone && err->code != VAP_E_TIMEOUT)
            return err->code; /* not a lost connection: retrying will not help */
    }
    s->leased = 0;
    if (s->adv) {
        int gone = 0;
        vap_error e;
        VAP_INIT(vap_error, e);
        one_bool(s, SQL_ADV_UNLOCK, &gone, &e);
        s->adv = 0;
    }
    return VAP_OK;
}

int pgstore_resume(struct pgstore *s)
{
    if (pthread_mutex_trylock(&s->rw_mu) != 0)
        return -1;
    s->in_tx = 0;
    s->commit_tried = 1;
    return 0;
}

void pgstore_end(struct pgstore *s)
{
    int gone = 0;
    vap_error e;
    VAP_INIT(vap_error, e);
    rollback(s);
    /* A lease that sent nothing is cleared; one that did is kept until it
     * runs out (its holder may still commit the only live token). */
    if (s->leased && !s->commit_tried && conn_ok(s->rw)) {
        PGresult *r;
        if (with_practice(s, s->rw, SQL_UNLEASE, &r, &gone, &e) == VAP_OK)
            PQclear(r);
    }
    if (s->adv && !s->commit_tried && conn_ok(s->rw))
        one_bool(s, SQL_ADV_UNLOCK, &gone, &e);
    if (!s->commit_tried)
        s->adv = 0;
    s->leased = s->commit_tried = 0;
    pthread_mutex_unlock(&s->rw_mu);
}
