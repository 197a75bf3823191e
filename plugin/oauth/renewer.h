/* renewer.h - the process's one renewer thread (DESIGN.md, Keeping the
 * grant alive, rule 10).
 *
 * A token request, once about to be sent, must run to its end: OpenEMR
 * revokes the old refresh token as it answers, so a transfer aborted by a
 * caller's deadline or cancel token loses the grant.  Such work is therefore
 * a job run here, on the plugin's own clock, and callers only wait for it
 * as long as their own deadline allows.  One thread serves every instance of
 * the process; it runs while at least one instance exists.
 *
 * A job is owned by its submitter (usually embedded in an instance) and is
 * run at most once per submission, never concurrently with itself.  The
 * renewer's lock is innermost: a caller may submit while holding its own
 * lock, and no job is run with the renewer's lock held. */
#ifndef VAP_RENEWER_H
#define VAP_RENEWER_H

#include <stdint.h>

struct renewer_job {
    void (*run)(struct renewer_job *job);
    /* The renewer's own fields (guarded by its lock). */
    struct renewer_job *next;
    int64_t due_mono_ms; /* run no sooner (CLOCK_MONOTONIC ms); 0: now */
    int queued;
    int running;
    int self_freeing; /* run() may free the job: never touched after it */
    void *lane;       /* the lane it was last queued on (set by submit) */
};

/* An instance is created / freed: the last one out stops the threads. */
void renewer_attach(void);
void renewer_detach(void);

/* Queue job to run once its due time has come (0: now; a job already
 * queued is moved to the earlier of the two times).  Starts the thread on
 * first use.  0, or -1 when no thread can run it (the caller runs it). */
int renewer_submit(struct renewer_job *job, int64_t due_mono_ms);
/* The same on the warm-up lane: its own thread, so that a handshake to an
 * unreachable server never delays a token request.  A job stays on the
 * lane it was first submitted to. */
int renewer_submit_warm(struct renewer_job *job, int64_t due_mono_ms);

/* Take job off the queue if it has not started, and wait until it is not
 * running.  Returns 1 when a queued run was dropped, else 0. */
int renewer_settle(struct renewer_job *job);

/* CLOCK_MONOTONIC in ms: the clock the renewer and the waiting callers use
 * (the host's clock may be a test's frozen one). */
int64_t renewer_mono_ms(void);

#endif
