/* warm.c - the instance's warm-up thread (see warm.h).
 *
 * "OPTIONS *" to fhir_base's host on up to warm_connections idle pool
 * handles: the web server answers it itself (no OpenEMR code runs, unlike a
 * HEAD to /metadata, which OpenEMR answers 404 after running PHP), and a
 * 2xx leaves a live TLS connection in the handle.  A server that refuses it
 * (nginx: 400 and close) is not asked again (http_client_warm).  A failure
 * is logged at debug level only: warming is an optimisation, never an
 * error.  The thread sleeps on a condition variable, so instance_free stops
 * it at once. */
#include "warm.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/cancel.h"
#include "http/http.h"
#include "instance.h"
#include "core/log.h"

static void *warm_main(void *arg);

void warmer_start(struct vap_instance *inst)
{
    struct warmer *w = &inst->warmer;
    pthread_condattr_t ca;
    w->running = 0;
    w->stop = 0;
    if (inst->cfg.warm_connections <= 0)
        return;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&w->mu, NULL) != 0 || pthread_cond_init(&w->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        plog(VAP_LOG_WARN, "connection warm-up disabled: cannot create its lock");
        return;
    }
    pthread_condattr_destroy(&ca);
    w->cancel = cancel_new();
    if (w->cancel == NULL || pthread_create(&w->thread, NULL, warm_main, inst) != 0) {
        cancel_free(w->cancel);
        w->cancel = NULL;
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        plog(VAP_LOG_WARN, "connection warm-up disabled: cannot start its thread");
        return;
    }
    w->running = 1;
}

void warmer_stop(struct vap_instance *inst)
{
    struct warmer *w = &inst->warmer;
    if (!w->running)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* A handshake in flight (an unreachable server) must not hold up the
     * host's instance_free: cancel it. */
    cancel_fire(w->cancel);
    pthread_join(w->thread, NULL);
    cancel_free(w->cancel);
    w->cancel = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->running = 0;
}

static void warm_once(struct vap_instance *inst, int64_t idle_ms)
{
    char url[2048];
    vap_error err;
    VAP_INIT(vap_error, err);
    snprintf(url, sizeof url, "%s", inst->cfg.fhir_base);
    if (http_client_warm(inst->http, url, (unsigned)inst->cfg.warm_connections, idle_ms,
                         plugin_now_ms() + WARM_DEADLINE_MS, inst->warmer.cancel, &err) != VAP_OK)
        plog(VAP_LOG_DEBUG, "connection warm-up: %s", err.message);
}

static void *warm_main(void *arg)
{
    struct vap_instance *inst = arg;
    struct warmer *w = &inst->warmer;
    PLOG_AS(inst->cfg.log_level);
    warm_once(inst, 0);
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += WARM_INTERVAL_MS / 1000;
        int rc = 0;
        while (!w->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        warm_once(inst, WARM_INTERVAL_MS);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
