/* mpkit.h - worker processes for the multi-process refresh tests: each a
 * refresh-worker (its own plugin state, on the shared store) driven one
 * command line at a time over pipes, which the parent may SIGKILL, and the
 * parent's checks of the store. */
#ifndef VAP_TESTS_MPKIT_H
#define VAP_TESTS_MPKIT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "flowkit.h"

struct proc {
    pid_t pid;
    FILE *in, *out;
};

struct mp {
    struct flowkit k;
    vap_instance *inst; /* the parent's own instance: authorizes and checks */
    const char *worker, *shim;
    /* When set, the next workers use these instead of the parent's store
     * and keyring (a "machine" with its own local directory). */
    const char *store, *keyring;
    /* When set, the next workers are this client, with this scope. */
    const char *client_id, *scope;
};

/* Start a worker (extra environment and instance options may be NULL);
 * 0 once it said "ready". */
int proc_start(struct mp *m, struct proc *p, const char *const *env_extra,
               const char *const *opts);
/* One command, one reply line; 0 or -1. */
int proc_cmd(struct proc *p, const char *cmd, char *reply, size_t cap);
/* quit and wait; 0 when it exited 0. */
int proc_stop(struct proc *p);
/* SIGKILL; 0 when the worker had answered its command before dying. */
int proc_kill(struct proc *p, char *reply, size_t cap);
/* Wait for a worker that ends itself (a kill from inside); 0 when it
 * answered its command first. */
int proc_reap(struct proc *p, char *reply, size_t cap);
long reply_int(const char *reply, const char *key);
int64_t mono_us(void);
long disk_generation(struct mp *m);
int count_temp_files(struct mp *m);
/* Reload, then renew twice in the parent: VAP_OK when the stored grant is
 * alive. */
int check_refresh(struct mp *m, vap_error *err);

#endif
