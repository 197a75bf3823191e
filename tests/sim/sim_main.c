/* sim_main.c: the openemr-sim command: parses flags, starts the simulator,
 * prints its base URL on one line when ready, runs until SIGTERM/SIGINT. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static int parse_client(char *spec, sim_preclient *pc, int disabled);
static int parse_ulong(const char *s, unsigned long long max, unsigned long long *out);
static void usage(FILE *f);

int main(int argc, char **argv)
{
    sim_config cfg;
    sim_server *srv = NULL;
    char err[512];
    sim_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("openemr-sim (vap-openemr) %s\n", VAP_VERSION);
            return 0;
        } else if (strcmp(a, "--quirks") == 0 || strcmp(a, "--openemr-quirks") == 0) {
            cfg.openemr_quirks = 1;
            takes = 0;
        } else if (strcmp(a, "--manual-approval") == 0) {
            cfg.manual_approval = 1;
            takes = 0;
        } else if (strcmp(a, "--quiet") == 0) {
            cfg.quiet = 1;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "openemr-sim: %s needs a value (see --help)\n", a);
            return 2;
        } else if (strcmp(a, "--port") == 0 && parse_ulong(v, 65535, &n) == 0) {
            cfg.port = (unsigned short)n;
        } else if (strcmp(a, "--state-dir") == 0) {
            cfg.state_dir = v;
        } else if (strcmp(a, "--access-ttl") == 0 && parse_ulong(v, 86400, &n) == 0 && n > 0) {
            cfg.access_ttl = (int)n;
        } else if (strcmp(a, "--patients") == 0 && parse_ulong(v, 100000, &n) == 0 && n > 0) {
            cfg.patients = (unsigned long)n;
        } else if (strcmp(a, "--seed") == 0 && parse_ulong(v, ~0ULL, &n) == 0) {
            cfg.seed = n;
        } else if (strcmp(a, "--threads") == 0 && parse_ulong(v, 64, &n) == 0 && n > 0) {
            cfg.threads = (int)n;
        } else if (strcmp(a, "--auto-approve") == 0) {
            cfg.auto_approve_user = v;
        } else if (strcmp(a, "--auto-patient") == 0 && parse_ulong(v, 99999, &n) == 0) {
            cfg.auto_approve_patient = (long)n;
        } else if (strcmp(a, "--client") == 0 || strcmp(a, "--disabled-client") == 0) {
            if (cfg.n_preclients >= SIM_MAX_PRECLIENTS ||
                parse_client(argv[i + 1], &cfg.preclients[cfg.n_preclients],
                             a[2] == 'd') != 0) {
                fprintf(stderr, "openemr-sim: %s wants ID:SECRET:REDIRECT_URI:SCOPES (SECRET may be "
                        "empty for a public client; at most %d clients)\n", a, SIM_MAX_PRECLIENTS);
                return 2;
            }
            cfg.n_preclients++;
        } else {
            fprintf(stderr, "openemr-sim: unknown option or bad value: %s %s (see --help)\n", a, v);
            return 2;
        }
        i += takes;
    }
    /* Blocked before the server's threads start (they inherit the mask),
     * and taken by sigwait: a SIGTERM handled by a server thread would
     * leave this one in pause() for ever. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sim_start(&cfg, &srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "openemr-sim: %s\n", err);
        return 1;
    }
    fprintf(stderr, "openemr-sim: CA certificate in %s\n", sim_ca_path(srv));
    printf("%s\n", sim_base_url(srv));
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop_set, &sig) != 0)
        ;
    sim_stop(srv);
    return 0;
}

/* ID:SECRET:REDIRECT_URI:SCOPES.  Both the URI and the scopes (api:fhir)
 * contain ':', so the URI ends at the first ':' after its authority (host and
 * optional :port) and path. */
static int parse_client(char *spec, sim_preclient *pc, int disabled)
{
    char *c1 = strchr(spec, ':');
    if (!c1)
        return -1;
    char *c2 = strchr(c1 + 1, ':');
    if (!c2)
        return -1;
    char *uri = c2 + 1, *p = strstr(uri, "://");
    if (!p)
        return -1;
    p += 3;
    if (*p == '[') {
        p = strchr(p, ']');
        if (!p)
            return -1;
        p++;
    }
    while (*p && *p != '/' && *p != ':')
        p++;
    if (*p == ':' && p[1] >= '0' && p[1] <= '9')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    while (*p && *p != ':')
        p++;
    if (*p != ':')
        return -1;
    *c1 = *c2 = *p = '\0';
    pc->client_id = spec;
    pc->client_secret = c1 + 1;
    pc->redirect_uri = uri;
    pc->scope = p + 1;
    pc->disabled = disabled;
    return *pc->client_id && *pc->redirect_uri && *pc->scope ? 0 : -1;
}

static int parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    if (!*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: openemr-sim [options]\n"
          "  --port N              listen on 127.0.0.1:N (0 = any free port; default 0)\n"
          "  --state-dir DIR       write DIR/ca.pem (default: a temp dir removed at exit)\n"
          "  --quirks, --openemr-quirks  reproduce OpenEMR's lax checks (code replay,\n"
          "                        omitted secret on code grant, no secret check on refresh)\n"
          "  --access-ttl SECONDS  access token lifetime (default 3600)\n"
          "  --patients N          synthetic patients, 1..100000 (default 50)\n"
          "  --seed S              data generator seed (default 1)\n"
          "  --auto-approve USER   /authorize answers at once as staff USER\n"
          "  --auto-patient N      patient index for launch/patient in auto mode (default 0)\n"
          "  --client ID:SECRET:REDIRECT_URI:SCOPES   pre-register a client (enabled)\n"
          "  --disabled-client ID:SECRET:REDIRECT_URI:SCOPES   ... starting disabled\n"
          "  --manual-approval     every newly registered client starts disabled\n"
          "  --threads N           server threads (default 2)\n"
          "  --quiet               no request log on stderr\n"
          "Prints https://127.0.0.1:PORT on stdout when ready. See tests/sim/README.md.\n", f);
}
