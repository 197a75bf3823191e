/* pgkit.c - a throw-away PostgreSQL server (see pgkit.h). */
#include "pgkit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG_DEFAULT_BIN "/usr/lib/postgresql/15/bin"
#define PG_NOBODY 65534

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return st == 0 ? 0 : -1;
}

static int start_server(struct pgkit *p)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-p %d -k %s "
             "-c listen_addresses=127.0.0.1%s\" start >/dev/null",
             p->runas, p->bin, p->dir, p->dir, p->port, p->dir,
             p->fsync ? "" : " -c fsync=off -c full_page_writes=off");
    return sh(cmd);
}

int pgkit_start(struct pgkit *p, int fsync)
{
    char cmd[1024];
    memset(p, 0, sizeof *p);
    p->fsync = fsync;
    const char *bin = getenv("VAP_PG_BIN");
    snprintf(p->bin, sizeof p->bin, "%s", bin && *bin ? bin : PG_DEFAULT_BIN);
    static const char *const need[] = {"initdb", "pg_ctl", "postgres", "pg_dump", "psql"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", p->bin, need[i]);
        if (access(cmd, X_OK) != 0) {
            printf("SKIP: %s is missing: install postgresql-15 (scripts/deps) or set "
                   "VAP_PG_BIN to the directory of initdb, pg_ctl and postgres\n", cmd);
            return 77;
        }
    }
    snprintf(p->dir, sizeof p->dir, "/tmp/vap-pg-XXXXXX");
    if (mkdtemp(p->dir) == NULL)
        return -1;
    if (geteuid() == 0) {
        /* initdb refuses root: the cluster belongs to nobody. */
        if (chown(p->dir, PG_NOBODY, PG_NOBODY) != 0)
            return -1;
        snprintf(p->runas, sizeof p->runas,
                 "setpriv --reuid=%d --regid=%d --clear-groups ", PG_NOBODY, PG_NOBODY);
    }
    if ((p->port = free_port()) < 0)
        return -1;
    snprintf(cmd, sizeof cmd,
             "%s%s/initdb -D %s/data -U postgres -E UTF8 --no-sync --auth-local=trust "
             "--auth-host=scram-sha-256 >%s/initdb.log 2>&1",
             p->runas, p->bin, p->dir, p->dir);
    if (sh(cmd) != 0) {
        fprintf(stderr, "pgkit: initdb failed; see %s/initdb.log\n", p->dir);
        return -1;
    }
    if (start_server(p) != 0) {
        fprintf(stderr, "pgkit: the server did not start; see %s/server.log\n", p->dir);
        return -1;
    }
    snprintf(p->admin, sizeof p->admin, "host=%s port=%d user=postgres", p->dir, p->port);
    return 0;
}

int pgkit_stop(struct pgkit *p, const char *mode)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s%s/pg_ctl -D %s/data -m %s -w -t 60 stop >/dev/null 2>&1",
             p->runas, p->bin, p->dir, mode);
    return sh(cmd);
}

int pgkit_restart(struct pgkit *p)
{
    return start_server(p);
}

void pgkit_destroy(struct pgkit *p)
{
    char cmd[512];
    if (p->dir[0] == '\0')
        return;
    pgkit_stop(p, "fast");
    if (getenv("VAP_PG_KEEP") == NULL) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", p->dir);
        sh(cmd);
    }
    p->dir[0] = '\0';
}

PGconn *pgkit_connect(struct pgkit *p, const char *db)
{
    char ci[256];
    snprintf(ci, sizeof ci, "%s dbname=%s", p->admin, db);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pgkit: connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

int pgkit_sql(struct pgkit *p, const char *db, const char *sql)
{
    PGconn *c = pgkit_connect(p, db);
    if (c == NULL)
        return -1;
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "pgkit: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

int pgkit_dump(struct pgkit *p, const char *db, const char *table, const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/pg_dump -h %s -p %d -U postgres -d %s -t %s -f %s",
             p->bin, p->dir, p->port, db, table, path);
    return sh(cmd);
}
