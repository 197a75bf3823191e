/* pgkit.h - a throw-away PostgreSQL server for the grant_store tests: the
 * Debian postgresql-15 binaries, a cluster in a temp directory on a free
 * loopback port, run as an unprivileged user (nobody when the test is root:
 * initdb refuses root), stopped and removed at the end. */
#ifndef VAP_TESTS_PGKIT_H
#define VAP_TESTS_PGKIT_H

#include <libpq-fe.h>

struct pgkit {
    char bin[256];     /* the server's binaries                          */
    char dir[64];      /* the temp directory (socket, data, logs)        */
    char runas[96];    /* prefix that drops root, "" when not root       */
    int port;
    int fsync;         /* 0: fsync=off (tests); 1: the default (bench)   */
    char admin[160];   /* conninfo of the superuser, over the socket     */
};

/* 0 when the server runs; 77 (with the reason printed) when the binaries
 * are missing; -1 on any other failure. */
int pgkit_start(struct pgkit *p, int fsync);
/* pg_ctl stop: mode "fast" or "immediate" (a crash); 0 on success. */
int pgkit_stop(struct pgkit *p, const char *mode);
/* Start again on the same port after pgkit_stop. */
int pgkit_restart(struct pgkit *p);
/* Stop and remove everything. */
void pgkit_destroy(struct pgkit *p);
/* Run SQL as the superuser in database db; 0 on success. */
int pgkit_sql(struct pgkit *p, const char *db, const char *sql);
/* A connection as the superuser to db (PQfinish it), NULL on failure. */
PGconn *pgkit_connect(struct pgkit *p, const char *db);
/* pg_dump of one table of db into path (plain SQL); 0 on success. */
int pgkit_dump(struct pgkit *p, const char *db, const char *table, const char *path);

#endif
