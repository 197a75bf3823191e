/* warm.c - the instance's warm-up job (see warm.h).
 *
 * "OPTIONS *" to fhir_base's host on up to warm_connections idle pool
 * handles: the web server answers it itself (no OpenEMR code runs, unlike a
 * HEAD to /metadata, which OpenEMR answers 404 after running PHP), and a
 * 2xx leaves a live TLS connection in the handle.  A server that refuses it
 * (nginx: 400 and close) is not asked again (http_client_warm).  A failure
 * is logged at debug level only: warming is an optimisation, never an
 * error.  Each run warms one handle and queues the next run: at once while
 * the round lasts, WARM_INTERVAL_MS later when it is over. */
#include "warm.h"

#include <stddef.h>

#include "core/cancel.h"
#include "http/http.h"
#include "instance.h"
#include "core/log.h"

static void warm_run(struct renewer_job *job);
static void warm_kick(struct renewer_job *kick);

void warmer_start(struct vap_instance *inst)
{
    struct warmer *w = &inst->warmer;
    w->stop = 0;
    w->started = 0;
    w->job.run = warm_run;
    w->kick.run = warm_kick;
    if (inst->cfg.warm_connections <= 0)
        return;
    /* The renewer's thread runs already (the refresher's schedule); the
     * warm-up lane's is started by the kick, not by every instance_new. */
    if ((w->cancel = cancel_new()) == NULL ||
        renewer_submit(&w->kick, renewer_mono_ms() + WARM_START_DELAY_MS) != 0) {
        cancel_free(w->cancel);
        w->cancel = NULL;
        plog(VAP_LOG_WARN, "connection warm-up disabled: cannot queue it");
        return;
    }
    w->started = 1;
}

void warmer_stop(struct vap_instance *inst)
{
    struct warmer *w = &inst->warmer;
    if (!w->started)
        return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
    /* A handshake in flight (an unreachable server) must not hold up the
     * host's instance_free: cancel it. */
    cancel_fire(w->cancel);
    renewer_settle(&w->kick); /* a kick after this would queue a run */
    /* A run that read stop before it was set may queue itself once more
     * while the first settle waits for it: settle until nothing is queued. */
    renewer_settle(&w->job);
    while (renewer_settle(&w->job))
        ;
    cancel_free(w->cancel);
    w->cancel = NULL;
    w->started = 0;
}

void warmer_fetch_begin(struct vap_instance *inst)
{
    __atomic_add_fetch(&inst->warmer.in_flight, 1, __ATOMIC_SEQ_CST);
}

void warmer_fetch_end(struct vap_instance *inst)
{
    struct warmer *w = &inst->warmer;
    if (__atomic_sub_fetch(&w->in_flight, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&w->deferred, __ATOMIC_SEQ_CST) &&
        __atomic_exchange_n(&w->deferred, 0, __ATOMIC_SEQ_CST) &&
        !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) &&
        renewer_submit_warm(&w->job, renewer_mono_ms() + WARM_QUIET_MS) != 0)
        plog(VAP_LOG_WARN, "connection warm-up disabled: cannot queue it");
}

/* On the renewer's lane: hands the first run to the warm-up lane. */
static void warm_kick(struct renewer_job *kick)
{
    struct warmer *w = (struct warmer *)((char *)kick - offsetof(struct warmer, kick));
    if (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) && renewer_submit_warm(&w->job, 0) != 0)
        plog(VAP_LOG_WARN, "connection warm-up disabled: cannot queue it");
}

static void warm_run(struct renewer_job *job)
{
    struct vap_instance *inst =
        (struct vap_instance *)((char *)job - offsetof(struct vap_instance, warmer.job));
    struct warmer *w = &inst->warmer;
    vap_error err;
    VAP_INIT(vap_error, err);
    PLOG_AS(inst->cfg.log_level);
    if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
        return;
    if (__atomic_load_n(&w->in_flight, __ATOMIC_SEQ_CST) > 0) {
        /* Leave it to the last fetch to end, unless it ended meanwhile and
         * left the flag for this run to take back. */
        __atomic_store_n(&w->deferred, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&w->in_flight, __ATOMIC_SEQ_CST) > 0 ||
            !__atomic_exchange_n(&w->deferred, 0, __ATOMIC_SEQ_CST))
            return;
    }
    /* Handles used within the interval are warm already, and count towards
     * warm_connections: only the others, and only as many as are missing. */
    int rc = http_client_warm_step(inst->http, inst->cfg.fhir_base,
                                   (unsigned)inst->cfg.warm_connections, WARM_INTERVAL_MS,
                                   plugin_now_ms() + WARM_DEADLINE_MS, w->cancel, &err);
    if (rc < 0)
        plog(VAP_LOG_DEBUG, "connection warm-up: %s", err.message);
    int more = rc == 1;
    if (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
        renewer_submit_warm(job, more ? 0 : renewer_mono_ms() + WARM_INTERVAL_MS);
}
