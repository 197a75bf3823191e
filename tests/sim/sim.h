/* sim.h: public API of the OpenEMR simulator library (sim_lib).
 *
 * The simulator is an HTTPS server that behaves like OpenEMR's OAuth2/OIDC/
 * SMART authorization server and FHIR API as written in shared/OPENEMR.md.
 * A test starts it in-process with sim_start() and stops it with sim_stop();
 * the openemr-sim executable is a thin CLI over the same calls.
 *
 * Threading: sim_start/sim_stop from one thread; the accessors may be called
 * from any thread while the server runs.  Everything returned by an accessor
 * is owned by the server and valid until sim_stop(). */
#ifndef SIM_H
#define SIM_H

#include <stddef.h>

#define SIM_MAX_PRECLIENTS 8

/* A client registered before start (CLI --client ID:SECRET:REDIRECT:SCOPES). */
typedef struct sim_preclient {
    const char *client_id;
    const char *client_secret;  /* NULL or "" = public client */
    const char *redirect_uri;
    const char *scope;          /* space separated */
    int disabled;               /* 1 = starts disabled (admin must enable) */
} sim_preclient;

typedef struct sim_config {
    unsigned short port;        /* 0 = pick a free port */
    const char *state_dir;      /* where ca.pem goes; NULL = a temp dir, removed at stop */
    int openemr_quirks;         /* 1 = reproduce OpenEMR's lax checks (code replay, secrets) */
    int access_ttl;             /* seconds; 0 = 3600 */
    unsigned long patients;     /* 0 = 50; at most 100000 */
    unsigned long long seed;    /* data generator seed */
    const char *auto_approve_user;  /* staff user that auto-approves /authorize; NULL = login flow */
    long auto_approve_patient;  /* patient index for launch/patient in auto mode; <0 = 0 */
    int threads;                /* MHD thread pool size; 0 = 2 */
    int manual_approval;        /* 1 = every newly registered client starts disabled */
    int quiet;                  /* 1 = no request log on stderr */
    size_t n_preclients;
    sim_preclient preclients[SIM_MAX_PRECLIENTS];
    int tls_ip_only;            /* 1 = the server certificate names 127.0.0.1 only (tests
                                   of host-name checking reach it as localhost) */
    /* Tests only (the leak test): when set, every code, access token,
     * refresh token and id_token the server mints, and every code_verifier
     * it receives, is appended to this file as one line "KIND VALUE", so a
     * test can search its client's outputs for them.  NULL = off. */
    const char *secrets_log;
    /* 1 = accept ES384 client assertions too (OpenEMR takes RS384 only) */
    int pkjwt_es384;
} sim_config;

typedef struct sim_server sim_server;

/* Fills *cfg with the defaults documented above. */
void sim_config_init(sim_config *cfg);

/* Starts the server; returns 0 and sets *out, or -1 with a message in
 * err (size errlen).  The caller owns *out and must pass it to sim_stop(). */
int sim_start(const sim_config *cfg, sim_server **out, char *err, size_t errlen);

/* "https://127.0.0.1:PORT" (no trailing slash). */
const char *sim_base_url(const sim_server *s);
/* Path of the CA certificate (PEM) that signs the server certificate. */
const char *sim_ca_path(const sim_server *s);
unsigned short sim_port(const sim_server *s);

/* Runs a control action in-process, without HTTP: the same actions and JSON
 * as POST /_sim/ACTION (see README.md); body NULL with "counters" or
 * "rotations" is the GET.
 * Returns the HTTP status the endpoint would answer; *out (if out is not
 * NULL) gets the JSON answer, which the caller frees. Any thread. */
int sim_control(sim_server *s, const char *action, const char *json, char **out);

/* Stops the server, frees everything, removes its temp dir if it made one.
 * NULL is a no-op. */
void sim_stop(sim_server *s);

#endif
