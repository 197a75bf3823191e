/* test_flow_pg.c - a fleet sharing one grant through PostgreSQL
 * (grant_store=postgresql://...), against the simulator and a real
 * PostgreSQL 15 started for the test (pgkit.h).  Each "machine" is a
 * refresh-worker process with its own store directory and its own copy of
 * the keyring; they share only the database.
 *
 *   setup     a password on the option line is refused naming ~/.pgpass; a
 *             role that may not create the table gets a message naming
 *             vap-host db init, on first use and from grant_store_init; the
 *             owner's grant_store_init (vap-host db init) creates it once;
 *   shared    4 machines x 8 threads across 20 expiries: exactly one token
 *             request per expiry, no revoked refresh token presented;
 *             then, with the database stopped, every machine's warm fetch
 *             still works (it never touches the database), and a machine
 *             that starts meanwhile gets E_UNAVAILABLE;
 *   restart   the database crashes while a renewal waits for the token
 *             endpoint and comes back after the server rotated: the renewed
 *             grant is committed on reconnect, the other machine waits for
 *             it and spends nothing, no grant is lost;
 *   parked    the database stays down past the renewing machine's budget:
 *             it keeps the renewed grant in memory; once the database is
 *             back the other machine waits for that holder (whose session
 *             died in the restart) instead of spending the revoked token,
 *             and the holder's next call stores it;
 *   kill      the machine holding the renewal lease is SIGKILLed before the
 *             server rotated: the other machine takes over at once (its
 *             deadline is far shorter than the lease) and renews;
 *   reauth    the server revokes the grant: every machine answers
 *             E_REAUTH_REQUIRED; a staff member authorizes once, on one
 *             machine, and every machine goes on with no reload;
 *   rotate    vap-seal rotate-key -c CONFIG (grant_store=postgresql://...) on one
 *             machine: with the database down it refuses, naming the
 *             database, and leaves the keyring byte for byte as it was; with
 *             it up it re-seals the row under the new key (one generation
 *             on), the new keyring goes to a second machine by vap-seal
 *             export/import, and an expiry costs the two of them exactly one
 *             token request, no revoked token presented; a machine with the
 *             old keyring is told to import the new one; a rotate-key that
 *             finds a renewal lease held waits it out and leaves the row
 *             alone meanwhile;
 *   rotate-parked  a renewal parked past its lease when rotate-key re-seals
 *             the row: the holder's next call stores its grant over the
 *             re-seal and the live refresh token is never lost;
 *   dump      pg_dump of the table holds no secret of the run in any
 *             encoding (raw, hex, base64, base64url), nor does its bytea
 *             decoded; a planted token is found (the scan can fail).
 *
 * Usage: test-flow-pg MODULE WORKER VAP_SEAL [SECTION].  Exit 77 (skipped) when the
 * PostgreSQL binaries are missing. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testcheck.h"
#include "flowkit.h"
#include "mpkit.h"
#include "pgkit.h"

#define PG_ROLE_PASS "vap-role-pass-8e41c7"
#define MACHINES 4
#define THREADS 8
#define EXPIRIES 20

static struct pgkit P;
static const char *vap_seal;
static char conninfo[256], gs_opt[300], admin_ci[300], pgpass_env[300];
static char mstore[MACHINES + 1][192], mkeyring[MACHINES + 1][192];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One row's column as text (the superuser's view); "" when none. */
static void row_text(const char *sql, char *out, size_t cap)
{
    out[0] = '\0';
    PGconn *c = pgkit_connect(&P, "vap");
    if (c == NULL)
        return;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
}

static long row_generation(void)
{
    char v[32];
    row_text("SELECT generation FROM vap_grant", v, sizeof v);
    return v[0] ? strtol(v, NULL, 10) : -1;
}

static int lease_live(void)
{
    char v[8];
    row_text("SELECT lease_until > now() FROM vap_grant", v, sizeof v);
    return strcmp(v, "t") == 0;
}

/* A machine: its own store (the sealed client secret) and keyring copy. */
static int make_machine(struct mp *m, int i)
{
    char cmd[2048];
    snprintf(mstore[i], sizeof mstore[i], "%s/m%d-store", m->k.dir, i);
    snprintf(mkeyring[i], sizeof mkeyring[i], "%s/m%d-keyring", m->k.dir, i);
    int n = snprintf(cmd, sizeof cmd, "cp -a %s %s && cp -p %s %s", m->k.store, mstore[i],
                     m->k.keyring, mkeyring[i]);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

static int start_machine(struct mp *m, struct proc *p, int i, const char *extra_opt)
{
    const char *env[] = {pgpass_env, NULL};
    const char *opts[] = {gs_opt, extra_opt, NULL};
    m->store = mstore[i];
    m->keyring = mkeyring[i];
    int rc = proc_start(m, p, env, opts);
    m->store = m->keyring = NULL;
    return rc;
}

/* Send cmd to every machine, then collect: they run at once. */
static int fetch_all(struct proc *p, int n, const char *cmd, int *ok, int *fail)
{
    char reply[256];
    int answered = 0;
    for (int i = 0; i < n; i++) {
        fprintf(p[i].in, "%s\n", cmd);
        fflush(p[i].in);
    }
    for (int i = 0; i < n; i++) {
        if (fgets(reply, sizeof reply, p[i].out) == NULL)
            continue;
        answered++;
        *ok += (int)reply_int(reply, "ok=");
        *fail += (int)reply_int(reply, "fail=");
    }
    return answered;
}

/* ---- setup ------------------------------------------------------------------ */

static int test_setup(struct mp *m)
{
    vap_error err;
    vap_instance *inst = NULL;
    char bad[320];
    /* A password on the option line is a secret in an option. */
    snprintf(bad, sizeof bad, "postgresql://vap:%s@127.0.0.1:%d/vap", PG_ROLE_PASS, P.port);
    int rc = flowkit_instance(&m->k, &inst, &err, "grant_store", bad, NULL);
    check(rc == VAP_E_CONFIG && strstr(err.message, ".pgpass") != NULL &&
              strstr(err.message, PG_ROLE_PASS) == NULL,
          "a_password_in_the_option_is_refused_naming_pgpass");
    if (rc == VAP_OK)
        m->k.api->instance_free(inst);
    snprintf(bad, sizeof bad, "host=127.0.0.1 port=%d password=%s", P.port, PG_ROLE_PASS);
    rc = flowkit_instance(&m->k, &inst, &err, "grant_store", bad, NULL);
    check(rc == VAP_E_CONFIG && strstr(err.message, PG_ROLE_PASS) == NULL,
          "a_password_in_a_conninfo_option_is_refused");
    if (rc == VAP_OK)
        m->k.api->instance_free(inst);

    /* The service role may not create tables in public (PostgreSQL 15). */
    vap_grant_info *gi = NULL;
    rc = flowkit_instance(&m->k, &inst, &err, "grant_store", conninfo, NULL);
    check(rc == VAP_OK, "service_instance");
    if (rc == VAP_OK) {
        rc = flowkit_authorize(&m->k, inst, &gi, &err, NULL, 0);
        check(rc == VAP_E_CONFIG && strstr(err.message, "vap-host db init") != NULL,
              "a_role_that_may_not_create_the_table_is_told_what_to_run");
        if (rc != VAP_E_CONFIG)
            printf("  authorize as the service role: %d %s\n", rc, err.message);
        m->k.api->release(gi);
        gi = NULL;
        int made = -1;
        VAP_INIT(vap_error, err);
        rc = m->k.api->grant_store_init(inst, NULL, &made, &err);
        check(rc == VAP_E_CONFIG && strstr(err.message, "may not create") != NULL,
              "db_init_as_the_service_role_says_it_may_not_create_the_table");
        m->k.api->instance_free(inst);
    }
    /* vap-host db init's call, as the owner; the service role gets rows. */
    rc = flowkit_instance(&m->k, &m->inst, &err, "grant_store", admin_ci, NULL);
    check(rc == VAP_OK, "owner_instance");
    if (rc != VAP_OK)
        return -1;
    check((m->k.api->caps & VAP_CAP_GRANT_STORE_INIT) && VAP_HAS(m->k.api, grant_store_init),
          "grant_store_init_is_advertised");
    int made = -1, again = -1;
    rc = m->k.api->grant_store_init(m->inst, NULL, &made, &err);
    check(rc == VAP_OK && made == 1, "db_init_as_the_owner_creates_the_table");
    rc = m->k.api->grant_store_init(m->inst, NULL, &again, &err);
    check(rc == VAP_OK && again == 0, "db_init_again_changes_nothing");
    rc = flowkit_authorize(&m->k, m->inst, &gi, &err, NULL, 0);
    check(rc == VAP_OK && gi != NULL && gi->generation == 1, "the_owner_authorizes");
    if (rc != VAP_OK)
        printf("  authorize as the owner: %d %s\n", rc, err.message);
    m->k.api->release(gi);
    check(pgkit_sql(&P, "vap", "GRANT SELECT, INSERT, UPDATE ON vap_grant TO vap") == 0,
          "grant_rows_to_the_service_role");
    check(row_generation() == 1, "the_row_holds_generation_1");
    return rc == VAP_OK ? 0 : -1;
}

/* ---- shared -------------------------------------------------------------------- */

static void test_shared(struct mp *m)
{
    struct proc p[MACHINES + 1];
    char cmd[32];
    int started = 0, ok = 0, fails = 0, per_expiry_ok = 1;
    /* A generous deadline: under valgrind the first calls (TLS, a SCRAM
     * login) are slow; the counts, not the times, are what is checked. */
    for (int i = 0; i < MACHINES; i++)
        started += start_machine(m, &p[i], i, "timeout_ms=60000") == 0;
    check(started == MACHINES, "machines_start");
    if (started != MACHINES)
        return;
    snprintf(cmd, sizeof cmd, "fetch %d", THREADS);
    fetch_all(p, MACHINES, "fetch 1", &ok, &fails);
    fetch_all(p, MACHINES, cmd, &ok, &fails);
    check(fails == 0, "warm_up_fetches_succeed");
    ok = fails = 0;
    long g0 = row_generation();
    long r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    for (int e = 0; e < EXPIRIES; e++) {
        long before = flowkit_counter(&m->k, "token_requests.refresh_token");
        flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
        if (fetch_all(p, MACHINES, cmd, &ok, &fails) != MACHINES)
            fails += THREADS;
        long got = flowkit_counter(&m->k, "token_requests.refresh_token") - before;
        if (got != 1) {
            if (per_expiry_ok)
                printf("  expiry %d: %ld token requests\n", e + 1, got);
            per_expiry_ok = 0;
        }
    }
    long dr = flowkit_counter(&m->k, "token_requests.refresh_token") - r0;
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    long dg = row_generation() - g0;
    printf("COUNT pg_shared machines=%d threads=%d expiries=%d refresh_requests=%ld "
           "generations=%ld fetch_ok=%d fetch_fail=%d revoked_reuse=%ld\n",
           MACHINES, THREADS, EXPIRIES, dr, dg, ok, fails, du);
    check(fails == 0, "every_fetch_succeeds_across_expiries");
    check(per_expiry_ok && dr == EXPIRIES, "exactly_one_token_request_per_expiry_across_machines");
    check(dg == EXPIRIES, "one_generation_per_expiry_in_the_row");
    check(du == 0, "no_revoked_refresh_token_is_ever_presented");

    /* The database goes away: warm fetches use the token in memory. */
    check(pgkit_stop(&P, "fast") == 0, "database_stops");
    ok = fails = 0;
    fetch_all(p, MACHINES, cmd, &ok, &fails);
    check(fails == 0 && ok == MACHINES * THREADS,
          "warm_fetches_never_touch_the_database");
    /* A machine that starts now cannot read the grant: E_UNAVAILABLE. */
    char reply[256];
    int late = start_machine(m, &p[MACHINES], MACHINES, NULL) == 0;
    check(late, "late_machine_starts");
    if (late) {
        int rc = proc_cmd(&p[MACHINES], "fetch 1", reply, sizeof reply) == 0
                     ? (int)reply_int(reply, "rc=") : 0;
        check(rc == VAP_E_UNAVAILABLE, "database_unreachable_at_start_is_e_unavailable");
    }
    check(pgkit_restart(&P) == 0, "database_restarts");
    if (late) {
        int good = proc_cmd(&p[MACHINES], "fetch 1", reply, sizeof reply) == 0 &&
                   reply_int(reply, "ok=") == 1;
        check(good, "late_machine_reads_the_grant_once_the_database_is_back");
        started++;
    }
    int clean = 0;
    for (int i = 0; i < started; i++)
        clean += proc_stop(&p[i]) == 0;
    check(clean == started, "machines_exit_cleanly");
}

/* ---- restart ------------------------------------------------------------------- */

static void test_restart(struct mp *m)
{
    struct proc a, b;
    char reply[256];
    int ok = 0, fails = 0;
    /* B's calls wait for A's renewal across the restart: a generous deadline. */
    if (start_machine(m, &a, 0, NULL) != 0 || start_machine(m, &b, 1, "timeout_ms=30000") != 0) {
        check(0, "restart_machines_start");
        return;
    }
    proc_cmd(&a, "fetch 1", reply, sizeof reply);
    proc_cmd(&b, "fetch 1", reply, sizeof reply);
    long g0 = row_generation();
    long r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
    flowkit_control(&m->k, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
                    "\"ms\":2000}", NULL, 0);
    fprintf(a.in, "fetch 2\n");
    fflush(a.in);
    /* A holds the lease and waits for the token endpoint: crash the
     * database, and bring it back only after the server has rotated. */
    int leased = 0;
    for (int i = 0; i < 6000 && !(leased = lease_live()); i++)
        sleep_ms(5);
    check(leased, "the_renewing_machine_holds_the_lease");
    fprintf(b.in, "fetch 2\n");
    fflush(b.in);
    sleep_ms(100);
    check(pgkit_stop(&P, "immediate") == 0, "database_crashes_mid_renewal");
    int rotated = 0;
    for (int i = 0; i < 4000 && !rotated; i++) {
        rotated = flowkit_counter(&m->k, "token_requests.refresh_token") > r0;
        sleep_ms(5);
    }
    sleep_ms(300); /* the answer reaches A while the database is down */
    check(rotated, "the_server_rotated_while_the_database_was_down");
    check(pgkit_restart(&P) == 0, "database_comes_back");
    for (struct proc *q = &a; q; q = q == &a ? &b : NULL) {
        if (fgets(reply, sizeof reply, q->out) == NULL) {
            fails += 2;
            continue;
        }
        ok += (int)reply_int(reply, "ok=");
        fails += (int)reply_int(reply, "fail=");
        if (reply_int(reply, "fail=") != 0)
            printf("  %s: %s", q == &a ? "A" : "B", reply);
    }
    long dr = flowkit_counter(&m->k, "token_requests.refresh_token") - r0;
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    printf("COUNT pg_restart refresh_requests=%ld generations=%ld fetch_ok=%d fetch_fail=%d "
           "revoked_reuse=%ld\n", dr, row_generation() - g0, ok, fails, du);
    check(fails == 0, "both_machines_get_the_renewed_token");
    check(dr == 1 && du == 0, "one_request_and_no_revoked_token_presented");
    check(row_generation() == g0 + 1, "the_renewed_grant_is_in_the_row");
    vap_error err;
    int crc = check_refresh(m, &err);
    if (crc != VAP_OK)
        printf("  check_refresh: %d %s\n", crc, err.message);
    check(crc == VAP_OK && flowkit_counter(&m->k, "revoked_refresh_reuse") == u0,
          "no_grant_lost_the_stored_refresh_token_is_live");
    check(proc_stop(&a) == 0 && proc_stop(&b) == 0, "restart_machines_exit_cleanly");
}

/* The database stays down past the renewing machine's renew_timeout_ms:
 * it keeps the renewed grant in memory (rule 4) and its callers use it.
 * When the database is back, the other machine finds the lease of a holder
 * whose session died in the restart and waits for it (it must not spend
 * the revoked refresh token), until the holder's next call commits. */
static void test_restart_parked(struct mp *m)
{
    struct proc a, b;
    char reply[256];
    if (start_machine(m, &a, 0, "renew_timeout_ms=5000") != 0 ||
        start_machine(m, &b, 1, "timeout_ms=30000") != 0) {
        check(0, "parked_machines_start");
        return;
    }
    proc_cmd(&a, "fetch 1", reply, sizeof reply);
    proc_cmd(&b, "fetch 1", reply, sizeof reply);
    long g0 = row_generation();
    long r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
    flowkit_control(&m->k, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
                    "\"ms\":1000}", NULL, 0);
    fprintf(a.in, "fetch 1\n");
    fflush(a.in);
    int leased = 0;
    for (int i = 0; i < 6000 && !(leased = lease_live()); i++)
        sleep_ms(5);
    check(leased, "parked_holder_takes_the_lease");
    check(pgkit_stop(&P, "immediate") == 0, "database_crashes_before_the_answer");
    int a_ok = fgets(reply, sizeof reply, a.out) != NULL && reply_int(reply, "ok=") == 1;
    check(a_ok, "the_holder_uses_the_renewed_token_while_the_database_is_down");
    if (!a_ok)
        printf("  A: %s", reply);
    sleep_ms(5500); /* past A's renew_timeout_ms: its renewal has parked */
    check(pgkit_restart(&P) == 0, "database_back_after_the_holder_parked");
    fprintf(b.in, "fetch 1\n");
    fflush(b.in);
    sleep_ms(1000);
    /* A's next call stores the parked grant; B then takes it. */
    int a2 = proc_cmd(&a, "fetch 1", reply, sizeof reply) == 0 && reply_int(reply, "ok=") == 1;
    int b_ok = fgets(reply, sizeof reply, b.out) != NULL && reply_int(reply, "ok=") == 1;
    if (!b_ok)
        printf("  B: %s", reply);
    long dr = flowkit_counter(&m->k, "token_requests.refresh_token") - r0;
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    printf("COUNT pg_restart_parked refresh_requests=%ld generations=%ld revoked_reuse=%ld\n",
           dr, row_generation() - g0, du);
    check(a2 && b_ok, "both_machines_go_on_with_the_parked_grant");
    check(dr == 1 && du == 0, "the_other_machine_waited_and_spent_no_revoked_token");
    check(row_generation() == g0 + 1, "the_parked_grant_is_in_the_row");
    vap_error err;
    int crc = check_refresh(m, &err);
    if (crc != VAP_OK)
        printf("  check_refresh: %d %s\n", crc, err.message);
    check(crc == VAP_OK, "the_parked_grant_is_the_live_one");
    check(proc_stop(&a) == 0 && proc_stop(&b) == 0, "parked_machines_exit_cleanly");
}

/* ---- kill ----------------------------------------------------------------------- */

static void test_kill(struct mp *m)
{
    struct proc a, b;
    char reply[256];
    /* B's calls have 10 s; A's lease would last its renew_timeout_ms. */
    if (start_machine(m, &a, 0, "renew_timeout_ms=120000") != 0 ||
        start_machine(m, &b, 1, "timeout_ms=10000")) {
        check(0, "kill_machines_start");
        return;
    }
    proc_cmd(&a, "fetch 1", reply, sizeof reply);
    proc_cmd(&b, "fetch 1", reply, sizeof reply);
    long g0 = row_generation();
    long r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    /* The token endpoint fails (5xx, before any rotation): A retries under
     * its lease for a moment.  A is frozen (SIGSTOP) as soon as the lease
     * shows, so the kill lands while it holds it whatever the machine's
     * load; if A had already given up (its retries are few), it is run
     * again. */
    flowkit_control(&m->k, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"5xx\",\"count\":100000}",
                    NULL, 0);
    int held = 0, leased = 0;
    for (int attempt = 0; attempt < 5 && !held; attempt++) {
        flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
        fprintf(a.in, "fetch 1\n");
        fflush(a.in);
        leased = 0;
        for (int i = 0; i < 6000 && !(leased = lease_live()); i++)
            sleep_ms(1);
        kill(a.pid, SIGSTOP);
        held = leased && lease_live();
        if (!held) { /* it gave up before the stop: let it answer, go again */
            kill(a.pid, SIGCONT);
            if (fgets(reply, sizeof reply, a.out) == NULL)
                break;
        }
    }
    check(held, "the_killed_machine_held_the_lease");
    proc_kill(&a, reply, sizeof reply);
    flowkit_control(&m->k, "faults/clear", "{}", NULL, 0);
    check(lease_live(), "its_lease_outlives_it");
    int ok = proc_cmd(&b, "fetch 1", reply, sizeof reply) == 0 && reply_int(reply, "ok=") == 1;
    if (!ok)
        printf("  B: %s", reply);
    long dr = flowkit_counter(&m->k, "token_requests.refresh_token") - r0;
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    printf("COUNT pg_kill refresh_requests=%ld generations=%ld revoked_reuse=%ld\n", dr,
           row_generation() - g0, du);
    check(ok, "the_other_machine_takes_over_within_its_deadline");
    check(row_generation() == g0 + 1 && du == 0, "it_renews_once_with_the_live_token");
    vap_error err;
    int crc = check_refresh(m, &err);
    if (crc != VAP_OK)
        printf("  check_refresh: %d %s\n", crc, err.message);
    check(crc == VAP_OK, "the_grant_is_alive_after_the_kill");
    check(proc_stop(&b) == 0, "kill_survivor_exits_cleanly");
}

/* ---- reauth ---------------------------------------------------------------------- */

/* The server revokes the grant: one machine's renewal marks the row, every
 * machine answers E_REAUTH_REQUIRED; a staff member authorizes once, on
 * another machine (the parent), and every machine goes on with the new
 * grant, with no reload. */
static void test_reauth(struct mp *m)
{
    struct proc p[2];
    char reply[256];
    if (start_machine(m, &p[0], 0, NULL) != 0 || start_machine(m, &p[1], 1, NULL) != 0) {
        check(0, "reauth_machines_start");
        return;
    }
    int warm = 0, dead = 0, back = 0;
    for (int i = 0; i < 2; i++)
        warm += proc_cmd(&p[i], "fetch 1", reply, sizeof reply) == 0 &&
                reply_int(reply, "ok=") == 1;
    check(warm == 2, "reauth_machines_warm_up");
    flowkit_control(&m->k, "revoke-refresh-tokens", "{}", NULL, 0);
    flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
    for (int i = 0; i < 2; i++)
        dead += proc_cmd(&p[i], "fetch 1", reply, sizeof reply) == 0 &&
                reply_int(reply, "rc=") == VAP_E_REAUTH_REQUIRED;
    check(dead == 2, "a_revoked_shared_grant_is_reauth_required_on_every_machine");
    long g0 = row_generation();
    vap_grant_info *gi = NULL;
    vap_error err;
    int rc = flowkit_authorize(&m->k, m->inst, &gi, &err, NULL, 0);
    m->k.api->release(gi);
    check(rc == VAP_OK && row_generation() == g0 + 1, "authorized_again_on_one_machine");
    for (int i = 0; i < 2; i++)
        back += proc_cmd(&p[i], "fetch 1", reply, sizeof reply) == 0 &&
                reply_int(reply, "ok=") == 1;
    check(back == 2, "every_machine_goes_on_with_the_new_grant_without_reload");
    check(proc_stop(&p[0]) == 0 && proc_stop(&p[1]) == 0, "reauth_machines_exit_cleanly");
}

/* ---- dump ------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

/* The bytea of a plain dump, hex-decoded: "\x..." runs. */
static size_t decode_bytea(const char *d, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i + 2 < n; i++) {
        if (d[i] != '\\' || d[i + 1] != 'x')
            continue;
        size_t bin = 0;
        const char *end = NULL;
        size_t run = strspn(d + i + 2, "0123456789abcdef");
        if (sodium_hex2bin(out + o, run / 2, d + i + 2, run, NULL, &bin, &end) == 0)
            o += bin;
        i += 1 + run;
    }
    return o;
}

/* Every form a token could take in the dump; the count of hits. */
static int scan_one(const char *hay, size_t hn, const unsigned char *raw, size_t rn,
                    const char *tok)
{
    size_t tl = strlen(tok);
    int hits = 0;
    char *hex = malloc(tl * 2 + 1), *b64 = malloc(sodium_base64_encoded_len(tl, 1));
    char *b64u = malloc(sodium_base64_encoded_len(tl, 3));
    sodium_bin2hex(hex, tl * 2 + 1, (const unsigned char *)tok, tl);
    sodium_bin2base64(b64, sodium_base64_encoded_len(tl, 1), (const unsigned char *)tok, tl, 1);
    sodium_bin2base64(b64u, sodium_base64_encoded_len(tl, 3), (const unsigned char *)tok, tl, 3);
    /* A 24-character piece suffices: a token cut or wrapped still shows. */
    const char *forms[] = {tok, hex, b64, b64u};
    for (size_t f = 0; f < 4; f++) {
        size_t want = f == 1 ? 48 : 24, fl = strlen(forms[f]);
        fl = fl < want ? fl : want;
        if (memmem(hay, hn, forms[f], fl) != NULL || memmem(raw, rn, forms[f], fl) != NULL)
            hits++;
    }
    free(hex);
    free(b64);
    free(b64u);
    return hits;
}

static int scan_dump(const char *dump, size_t dn, const char *secrets_log, int *kinds)
{
    unsigned char *raw = malloc(dn / 2 + 1);
    size_t rn = raw ? decode_bytea(dump, dn, raw) : 0;
    static char line[1 << 16];
    FILE *f = fopen(secrets_log, "r");
    int hits = 0;
    *kinds = 0;
    while (f && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (sp == NULL || strlen(sp + 1) < 8)
            continue;
        (*kinds)++;
        hits += scan_one(dump, dn, raw, rn, sp + 1);
    }
    if (f)
        fclose(f);
    free(raw);
    return hits;
}

static void test_dump(struct mp *m, const char *secrets_log, int only_dump)
{
    char path[192];
    size_t dn = 0;
    snprintf(path, sizeof path, "%s/vap_grant.sql", m->k.dir);
    check(pgkit_dump(&P, "vap", "vap_grant", path) == 0, "pg_dump_runs");
    char *dump = slurp(path, &dn);
    check(dump != NULL && strstr(dump, "COPY public.vap_grant") != NULL, "the_dump_holds_the_table");
    if (dump == NULL)
        return;
    int secrets = 0;
    int hits = scan_dump(dump, dn, secrets_log, &secrets);
    printf("COUNT pg_dump bytes=%zu secrets_searched=%d hits=%d\n", dn, secrets, hits);
    check(secrets > (only_dump ? 5 : 40), "the_run_minted_secrets_to_search_for");
    check(hits == 0, "the_dump_holds_no_token_in_any_form");
    /* Positive control: one refresh token planted in the dump is found. */
    FILE *f = fopen(secrets_log, "r");
    static char line[1 << 16];
    char *planted = NULL;
    while (f && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "refresh_token ", 14) == 0 && planted == NULL) {
            line[strcspn(line, "\n")] = '\0';
            planted = strdup(line + 14);
        }
    if (f)
        fclose(f);
    if (planted != NULL) {
        size_t pn = dn + strlen(planted) * 2 + 8;
        char *withp = malloc(pn + 1);
        char hexp[1024];
        sodium_bin2hex(hexp, sizeof hexp, (const unsigned char *)planted,
                       strlen(planted) < 500 ? strlen(planted) : 500);
        snprintf(withp, pn + 1, "%s\\x%s\n", dump, hexp);
        int k2 = 0;
        check(scan_dump(withp, strlen(withp), secrets_log, &k2) > 0,
              "the_scan_finds_a_planted_token");
        free(withp);
    }
    free(planted);
    free(dump);
}

/* ---- rotate ---------------------------------------------------------------------- */

/* The active key's id in a keyring file (crypto/README.md's format), hex. */
static int active_key_hex(const char *path, char *hex, size_t cap)
{
    size_t n = 0;
    char *b = slurp(path, &n);
    int rc = -1;
    hex[0] = '\0';
    for (size_t off = 16; b && n >= 16 && off + 64 <= n; off += 64)
        if ((unsigned char)b[off + 16] == 1) {
            sodium_bin2hex(hex, cap, (const unsigned char *)b + off, 16);
            rc = 0;
        }
    free(b);
    return rc;
}

static void row_key_hex(char *hex, size_t cap)
{
    row_text("SELECT encode(substring(sealed from 10 for 16), 'hex') FROM vap_grant", hex, cap);
}

static int same_file(const char *path, const char *bytes, size_t len)
{
    size_t n = 0;
    char *b = slurp(path, &n);
    int same = b != NULL && n == len && memcmp(b, bytes, n) == 0;
    free(b);
    return same;
}

/* vap-seal ARGS with stdin from input (may be NULL); its exit status, and
 * stdout and stderr together in out. */
static int run_seal(const char *args, const char *input, char *out, size_t cap)
{
    char cmd[2048];
    if (input != NULL)
        snprintf(cmd, sizeof cmd, "printf '%%s\\n' '%s' | %s %s 2>&1", input, vap_seal, args);
    else
        snprintf(cmd, sizeof cmd, "%s %s </dev/null 2>&1", vap_seal, args);
    FILE *f = popen(cmd, "r");
    size_t got = 0;
    if (f == NULL)
        return -1;
    while (got + 1 < cap && fgets(out + got, (int)(cap - got), f) != NULL)
        got += strlen(out + got);
    out[got] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* vap-seal's config line for machine 0, a fleet member; args gets
 * "rotate-key -c FILE". */
static int rotate_config(struct mp *m, char *args, size_t cap)
{
    char conf[192];
    snprintf(conf, sizeof conf, "%s/rotate.conf", m->k.dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "m0 vap_openemr.so issuer=%s client_id=%s store=%s keyring=%s grant_store=%s\n",
            m->k.issuer, FLOW_CLIENT_ID, mstore[0], mkeyring[0], conninfo);
    fclose(f);
    snprintf(args, cap, "rotate-key -c %s", conf);
    return 0;
}

static void test_rotate(struct mp *m)
{
    struct proc p[2];
    char args[512], out[4096], reply[256], hex_old[40], hex_new[40], hex_row[40];
    if (rotate_config(m, args, sizeof args) != 0) {
        check(0, "rotate_config_written");
        return;
    }
    /* Machine 0, which rotates, runs through the rotation with its tokens
     * and its old keyring in memory. */
    if (start_machine(m, &p[0], 0, "timeout_ms=30000") != 0) {
        check(0, "rotate_machine_starts");
        return;
    }
    check(proc_cmd(&p[0], "fetch 1", reply, sizeof reply) == 0 && reply_int(reply, "ok=") == 1,
          "rotate_machine_warms_up");

    /* The database down: refused before anything changes. */
    size_t ring_len = 0;
    char *ring0 = slurp(mkeyring[0], &ring_len);
    char item[256];
    snprintf(item, sizeof item, "%s/client_secret", mstore[0]);
    size_t item_len = 0;
    char *item0 = slurp(item, &item_len);
    check(pgkit_stop(&P, "fast") == 0, "rotate_database_stops");
    char where[64];
    snprintf(where, sizeof where, "database vap on 127.0.0.1:%d", P.port);
    int rc = run_seal(args, NULL, out, sizeof out);
    check(rc != 0 && strstr(out, where) != NULL && strstr(out, "cannot be reached") != NULL &&
              strstr(out, "nothing was changed") != NULL,
          "rotate_key_with_the_database_down_is_refused_naming_it");
    if (rc == 0 || strstr(out, where) == NULL)
        printf("  rotate-key, database down: rc=%d %s", rc, out);
    check(ring0 != NULL && same_file(mkeyring[0], ring0, ring_len),
          "rotate_key_refused_leaves_the_keyring_byte_for_byte");
    check(item0 != NULL && same_file(item, item0, item_len),
          "rotate_key_refused_leaves_the_items_byte_for_byte");
    free(ring0);
    free(item0);
    check(pgkit_restart(&P) == 0, "rotate_database_restarts");

    /* The database up: the row is re-sealed before the old key goes. */
    long g0 = row_generation();
    row_key_hex(hex_old, sizeof hex_old);
    rc = run_seal(args, NULL, out, sizeof out);
    if (rc != 0)
        printf("  rotate-key: rc=%d %s", rc, out);
    check(rc == 0 && strstr(out, "re-sealed (generation") != NULL, "rotate_key_reseals_the_row");
    active_key_hex(mkeyring[0], hex_new, sizeof hex_new);
    row_key_hex(hex_row, sizeof hex_row);
    check(hex_new[0] && strcmp(hex_row, hex_new) == 0 && strcmp(hex_row, hex_old) != 0,
          "the_row_is_sealed_with_the_new_active_key");
    check(row_generation() == g0 + 1, "the_reseal_takes_one_generation");

    /* The README's procedure: export on the machine that rotated, import
     * on the other (the keyring and the items sealed with it). */
    char bak[192], exp_args[1024], imp_args[1024];
    snprintf(bak, sizeof bak, "%s/fleet.bak", m->k.dir);
    snprintf(exp_args, sizeof exp_args,
             "export --keyring %s --store %s --output %s --kdf-ops 1 --kdf-mem 8", mkeyring[0],
             mstore[0], bak);
    snprintf(imp_args, sizeof imp_args, "import --keyring %s --store %s --input %s --force",
             mkeyring[2], mstore[2], bak);
    int exp_rc = run_seal(exp_args, "fleet-pass-0d5a", out, sizeof out);
    if (exp_rc != 0)
        printf("  export: %s", out);
    int imp_rc = exp_rc == 0 ? run_seal(imp_args, "fleet-pass-0d5a", out, sizeof out) : -1;
    if (exp_rc == 0 && imp_rc != 0)
        printf("  import: %s", out);
    check(exp_rc == 0 && imp_rc == 0, "the_new_keyring_goes_to_the_other_machine");
    /* Machine 2 starts with the new keyring only: its first call opens the
     * row, as every machine's will once the rotation is distributed. */
    long r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    int opened = start_machine(m, &p[1], 2, "timeout_ms=30000") == 0;
    if (opened) {
        opened = proc_cmd(&p[1], "fetch 1", reply, sizeof reply) == 0 &&
                 reply_int(reply, "ok=") == 1;
        if (!opened)
            printf("  machine with the new keyring: %s", reply);
    } else {
        p[1].pid = 0;
    }
    check(opened && flowkit_counter(&m->k, "token_requests.refresh_token") == r0,
          "a_machine_with_the_new_keyring_opens_the_resealed_row");

    /* An expiry after the rotation: one token request for both machines. */
    r0 = flowkit_counter(&m->k, "token_requests.refresh_token");
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    int ok = 0, fails = 0;
    flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
    fetch_all(p, p[1].pid != 0 ? 2 : 1, "fetch 4", &ok, &fails);
    long dr = flowkit_counter(&m->k, "token_requests.refresh_token") - r0;
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    printf("COUNT pg_rotate refresh_requests=%ld generations=%ld fetch_ok=%d fetch_fail=%d "
           "revoked_reuse=%ld\n", dr, row_generation() - g0, ok, fails, du);
    check(fails == 0 && ok == 8, "both_machines_open_the_resealed_row_and_fetch");
    check(dr == 1 && du == 0, "one_token_request_after_the_rotation_and_no_revoked_token");
    check(row_generation() == g0 + 2, "the_renewal_after_the_reseal_is_one_generation");

    /* A machine still on the old keyring is told what to do. */
    vap_instance *old = NULL;
    vap_error err;
    rc = flowkit_instance(&m->k, &old, &err, "grant_store", conninfo, "store", mstore[1],
                          "keyring", mkeyring[1], NULL);
    if (rc == VAP_OK) {
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        flowkit_get_req(&req, "Patient", "_count=1");
        VAP_INIT(vap_error, err);
        rc = m->k.api->fetch(old, NULL, &req, &resp, &err);
        m->k.api->release(resp);
        m->k.api->instance_free(old);
    }
    check(rc == VAP_E_SEAL &&
              strstr(err.message, "import the new keyring from the machine that rotated") != NULL,
          "a_machine_with_the_old_keyring_is_told_to_import_the_new_one");
    if (rc != VAP_E_SEAL)
        printf("  old keyring: %d %s\n", rc, err.message);

    /* A renewal lease held (its holder alive: its advisory lock taken):
     * rotate-key waits and leaves the row alone until it is gone. */
    char practice[256], sql[512];
    snprintf(practice, sizeof practice, "%s %s", m->k.issuer, FLOW_CLIENT_ID);
    PGconn *holder = pgkit_connect(&P, "vap");
    const char *pv[] = {practice};
    PGresult *lr = holder ? PQexecParams(holder, "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                                         1, NULL, pv, NULL, NULL, 0)
                          : NULL;
    int held = PQresultStatus(lr) == PGRES_TUPLES_OK;
    PQclear(lr);
    snprintf(sql, sizeof sql, "UPDATE vap_grant SET lease_until = now() + interval '10 min', "
                              "lease_at = now()");
    held = held && pgkit_sql(&P, "vap", sql) == 0;
    check(held && lease_live(), "a_renewal_lease_is_held");
    long g1 = row_generation();
    row_key_hex(hex_old, sizeof hex_old);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s </dev/null 2>&1", vap_seal, args);
    FILE *rot = popen(cmd, "r");
    char line[1024] = "";
    int waiting = rot && fgets(line, sizeof line, rot) != NULL && strstr(line, "waiting") != NULL;
    check(waiting, "rotate_key_says_it_waits_for_the_renewal");
    if (!waiting)
        printf("  rotate-key with a lease: %s", line);
    sleep_ms(500);
    row_key_hex(hex_row, sizeof hex_row);
    check(row_generation() == g1 && strcmp(hex_row, hex_old) == 0,
          "rotate_key_leaves_a_leased_row_alone");
    /* The renewal ends: its lease cleared, its session's lock dropped. */
    pgkit_sql(&P, "vap", "UPDATE vap_grant SET lease_until = NULL, lease_at = NULL");
    if (holder)
        PQfinish(holder);
    out[0] = '\0';
    size_t got = strlen(line);
    snprintf(out, sizeof out, "%s", line);
    while (rot && got + 1 < sizeof out && fgets(out + got, (int)(sizeof out - got), rot) != NULL)
        got += strlen(out + got);
    int st = rot ? pclose(rot) : -1;
    active_key_hex(mkeyring[0], hex_new, sizeof hex_new);
    row_key_hex(hex_row, sizeof hex_row);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(hex_row, hex_new) == 0 &&
              row_generation() == g1 + 1,
          "rotate_key_reseals_the_row_once_the_lease_is_gone");
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        printf("  rotate-key after the lease: %s", out);
    check(proc_stop(&p[0]) == 0 && (p[1].pid == 0 || proc_stop(&p[1]) == 0),
          "rotate_machines_exit_cleanly");
}

/* A renewal parked past its lease (the database down for longer than the
 * lease's grace, shortened here by hand) and a rotate-key meanwhile: the
 * re-sealed row still holds the refresh token the parked renewal spent, so
 * the holder's next call overwrites it with the live grant instead of
 * taking the re-seal for another machine's renewal. */
static void test_rotate_parked(struct mp *m)
{
    struct proc a;
    char args[512], out[4096], reply[256];
    if (rotate_config(m, args, sizeof args) != 0 ||
        start_machine(m, &a, 0, "renew_timeout_ms=5000") != 0) {
        check(0, "rotate_parked_machine_starts");
        return;
    }
    proc_cmd(&a, "fetch 1", reply, sizeof reply);
    long g0 = row_generation();
    long u0 = flowkit_counter(&m->k, "revoked_refresh_reuse");
    flowkit_control(&m->k, "expire-access-tokens", "{}", NULL, 0);
    flowkit_control(&m->k, "faults",
                    "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
                    "\"ms\":1000}", NULL, 0);
    fprintf(a.in, "fetch 1\n");
    fflush(a.in);
    int leased = 0;
    for (int i = 0; i < 6000 && !(leased = lease_live()); i++)
        sleep_ms(5);
    check(leased, "rotate_parked_holder_takes_the_lease");
    check(pgkit_stop(&P, "immediate") == 0, "rotate_parked_database_crashes");
    int a_ok = fgets(reply, sizeof reply, a.out) != NULL && reply_int(reply, "ok=") == 1;
    check(a_ok, "rotate_parked_holder_uses_the_renewed_token");
    sleep_ms(5500); /* past renew_timeout_ms: the renewal has parked */
    check(pgkit_restart(&P) == 0, "rotate_parked_database_back");
    check(pgkit_sql(&P, "vap", "UPDATE vap_grant SET lease_until = now() - interval '1 s'") == 0,
          "rotate_parked_lease_runs_out");
    int rc = run_seal(args, NULL, out, sizeof out);
    if (rc != 0)
        printf("  rotate-key: %s", out);
    check(rc == 0 && row_generation() == g0 + 1, "rotate_key_reseals_the_row_of_a_parked_renewal");
    /* The holder's next call stores its parked grant over the re-seal. */
    int a2 = proc_cmd(&a, "fetch 1", reply, sizeof reply) == 0 && reply_int(reply, "ok=") == 1;
    check(a2 && row_generation() == g0 + 2, "the_parked_grant_is_stored_over_the_reseal");
    int renewed = proc_cmd(&a, "refresh", reply, sizeof reply) == 0 &&
                  reply_int(reply, "rc=") == VAP_OK;
    if (!renewed)
        printf("  refresh after the parked commit: %s", reply);
    long du = flowkit_counter(&m->k, "revoked_refresh_reuse") - u0;
    printf("COUNT pg_rotate_parked generations=%ld revoked_reuse=%ld\n", row_generation() - g0,
           du);
    check(renewed && du == 0, "the_live_refresh_token_survives_a_reseal_of_a_parked_renewal");
    check(proc_stop(&a) == 0, "rotate_parked_machine_exits_cleanly");
}

int main(int argc, char **argv)
{
    struct mp m;
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: test-flow-pg MODULE WORKER VAP_SEAL "
                        "[shared|restart|parked|kill|reauth|rotate|rotate-parked|dump]\n");
        return 2;
    }
    const char *only = argc == 5 ? argv[4] : NULL;
    vap_seal = argv[3];
    int prc = pgkit_start(&P, 0);
    if (prc == 77)
        return 77;
    if (prc != 0) {
        pgkit_destroy(&P);
        return 1;
    }
    memset(&m, 0, sizeof m);
    m.worker = argv[2];
    char secrets_log[] = "/tmp/vap-pg-secrets-XXXXXX";
    int sfd = mkstemp(secrets_log);
    if (sfd >= 0)
        close(sfd);
    sim_config cfg;
    flowkit_sim_defaults(&cfg);
    cfg.threads = 4;
    cfg.secrets_log = secrets_log;
    signal(SIGPIPE, SIG_IGN);
    if (flowkit_start(&m.k, argv[1], &cfg) != 0) {
        pgkit_destroy(&P);
        return 1;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE ROLE vap LOGIN PASSWORD '%s'", PG_ROLE_PASS);
    check(pgkit_sql(&P, "postgres", sql) == 0 &&
              pgkit_sql(&P, "postgres", "CREATE DATABASE vap") == 0,
          "role_and_database");
    /* The service role's password lives in a passfile, never an option. */
    char passfile[192];
    snprintf(passfile, sizeof passfile, "%s/pgpass", m.k.dir);
    FILE *pf = fopen(passfile, "w");
    if (pf) {
        fprintf(pf, "127.0.0.1:%d:vap:vap:%s\n", P.port, PG_ROLE_PASS);
        fclose(pf);
    }
    chmod(passfile, 0600);
    snprintf(pgpass_env, sizeof pgpass_env, "PGPASSFILE=%s", passfile);
    setenv("PGPASSFILE", passfile, 1);
    snprintf(conninfo, sizeof conninfo, "postgresql://vap@127.0.0.1:%d/vap", P.port);
    snprintf(gs_opt, sizeof gs_opt, "grant_store=%s", conninfo);
    snprintf(admin_ci, sizeof admin_ci, "%s dbname=vap", P.admin);

    if (test_setup(&m) == 0) {
        int mk = 0;
        for (int i = 0; i <= MACHINES; i++)
            mk += make_machine(&m, i) == 0;
        check(mk == MACHINES + 1, "machine_directories");
        if (!only || strcmp(only, "shared") == 0)
            test_shared(&m);
        if (!only || strcmp(only, "restart") == 0)
            test_restart(&m);
        if (!only || strcmp(only, "parked") == 0)
            test_restart_parked(&m);
        if (!only || strcmp(only, "kill") == 0)
            test_kill(&m);
        if (!only || strcmp(only, "reauth") == 0)
            test_reauth(&m);
        if (!only || strcmp(only, "rotate") == 0)
            test_rotate(&m);
        if (!only || strcmp(only, "rotate-parked") == 0)
            test_rotate_parked(&m);
        if (!only || strcmp(only, "dump") == 0)
            test_dump(&m, secrets_log, only != NULL);
    }
    if (m.inst)
        m.k.api->instance_free(m.inst);
    flowkit_stop(&m.k);
    pgkit_destroy(&P);
    unlink(secrets_log);
    return check_summary();
}
