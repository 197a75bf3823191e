/* admin_kit.h - what the admin-path tests (check, register, the probe)
 * share: one simulator and plugin (k), stores, check() and its items, the
 * simulator's Enable switch, register_client, and the case runner. */
#ifndef TESTS_FLOW_ADMIN_KIT_H
#define TESTS_FLOW_ADMIN_KIT_H

#include <stdio.h>

#include "flowkit.h"

extern struct flowkit k;

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("  line %d: ", __LINE__);                                               \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* A new 0700 store under the kit's dir; with secret, seal it for issuer and
 * client_id (new_store: for the simulator's issuer). */
const char *new_store_for(const char *issuer, const char *name, const char *client_id,
                          const char *secret);
const char *new_store(const char *name, const char *client_id, const char *secret);
/* check() with no vap_call; the report, or NULL (said why). */
vap_check_report *run_check(vap_instance *in);
/* The named item, or a stand-in that matches nothing. */
const vap_check_item *item(const vap_check_report *rep, const char *name);
/* The item has result (and, with FAIL, code) and its message carries word. */
int item_is(const vap_check_report *rep, const char *name, int result, int code,
            const char *word);
/* The simulator's Enable switch for a client. */
int enable_client(const char *id, int enabled);
/* register_client as "Front desk phone". */
int do_register(vap_instance *in, vap_register_result **res, vap_error *err);

/* check() on an instance made with the extra options (pairs, NULL-ended). */
#define CHECK_WITH(rep, ...)                                                               \
    do {                                                                                   \
        vap_instance *in_ = NULL;                                                          \
        vap_error e_;                                                                      \
        int rc_ = flowkit_instance(&k, &in_, &e_, __VA_ARGS__);                            \
        EXPECT(rc_ == VAP_OK, "instance_new: %s", e_.message);                             \
        rep = run_check(in_);                                                              \
        k.api->instance_free(in_);                                                         \
        EXPECT(rep != NULL, "no report");                                                  \
    } while (0)

struct admin_case {
    const char *name;
    int (*fn)(void);
};
#define ADMIN_CASE(f) {#f, f}

/* Starts the simulator and plugin (argv[1]), runs every case or argv[2] (a
 * name, or a prefix ending in '*'), stops; the process's exit status. */
int admin_run(const struct admin_case *cases, size_t n, int argc, char **argv);

#endif
