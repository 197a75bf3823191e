/* test_flow_authorize_kit.h - what the authorization tests add to flowkit:
 * a scripted "browser" that signs in through the simulator's real login and
 * consent forms, URL surgery (what a tampering browser or attacker does to
 * the authorization URL or the callback), a fingerprint of the sealed store
 * (to prove a failure left it byte for byte as it was), a second client with
 * its own sealed secret, and a tiny table-driven test runner. */
#ifndef VAP_TESTS_AUTHORIZE_KIT_H
#define VAP_TESTS_AUTHORIZE_KIT_H

#include <stddef.h>

#include "flowkit.h"

#define AFK_LOC_MAX 20000

/* One test: returns 0 when every check passed; prints why it failed. */
struct afk_case {
    const char *name;
    int (*fn)(struct flowkit *k);
};

/* Runs the cases in order (only those named in argv[2], a comma-separated
 * list, if given: meson runs them in groups to keep each process short
 * under valgrind), prints
 * "ok NAME" / "FAIL NAME", then "N passed, N failed".  Returns the exit code. */
int afk_run(struct flowkit *k, const struct afk_case *cases, size_t n, const char *only);

/* A failed check: prints it with the line and returns -1 from the test. */
#define AFK_CHECK(cond, ...)                                                               \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("  check failed (line %d): %s: ", __LINE__, #cond);                     \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

/* Signs in as user "admin" through the login and consent pages (no
 * auto-approve), unticking the scope `untick` (may be NULL), and returns the
 * final 302's Location (the callback) in loc.  0 or -1. */
int afk_browser_login(struct flowkit *k, const char *url, const char *untick, char *loc,
                      size_t cap);

/* authorize_begin, then hands the URL to edit (may be NULL) before the
 * auto-approving simulator answers it; loc gets the 302's Location and
 * status the HTTP status.  0 or -1 (begin failed: err says why). */
int afk_begin_and_redirect(struct flowkit *k, vap_instance *inst,
                           void (*edit)(char *url, size_t cap, const void *arg),
                           const void *arg, long *status, char *loc, size_t cap,
                           vap_error *err);

/* authorize_complete on loc; releases the grant info.  Returns vap_status. */
int afk_complete(struct flowkit *k, vap_instance *inst, const char *loc, vap_error *err);

/* Replaces the value of query parameter name in url (in place, cap bytes)
 * with the raw (already encoded) value; 0, or -1 when it is absent. */
int afk_set_param(char *url, size_t cap, const char *name, const char *value);

/* A 32-byte fingerprint of every file name and its bytes under dir. */
int afk_store_digest(const char *dir, unsigned char out[32]);

/* Seals secret as the client_secret of client_id at issuer (NULL: the
 * simulator's) in a new store k->dir/NAME (returned in store, cap bytes).
 * 0 or -1. */
int afk_second_store(struct flowkit *k, const char *name, const char *issuer,
                     const char *client_id, const char *secret, char *store, size_t cap);

/* POST /_sim/faults {route, kind, count 1}; 0 or -1. */
int afk_fault(struct flowkit *k, const char *route, const char *kind);

#define AFK_TOKEN_ROUTE "/oauth2/default/token"
#define AFK_AUTHZ_ROUTE "/oauth2/default/authorize"
#define AFK_DISC_ROUTE "/oauth2/default/.well-known/openid-configuration"

#endif
