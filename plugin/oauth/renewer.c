/* renewer.c - the process's renewer thread (see renewer.h).
 *
 * A list of jobs, each with a due time; the thread sleeps on a monotonic
 * condition variable until the earliest is due or a job is submitted, runs
 * it with no renewer lock held, and tells renewer_settle when it is done.
 * Two such lanes, each with its thread: token requests, and connection
 * warm-ups, so that a handshake to an unreachable server never holds up a
 * renewal.  After fork() the child has no thread: its state is reset (the
 * parent's instances are refused in the child anyway). */
#include "oauth/renewer.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct lane {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* jobs and stop, for the thread  */
    pthread_cond_t done_cv; /* a job finished, for settle     */
    int cv_ready;
    int started, stop;
    pid_t pid;              /* the process the thread runs in */
    pthread_t thread;
    struct renewer_job *head;
};

static struct lane L[2] = {{.mu = PTHREAD_MUTEX_INITIALIZER}, {.mu = PTHREAD_MUTEX_INITIALIZER}};
static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER;
static int users; /* live instances */

static pthread_once_t R_once = PTHREAD_ONCE_INIT;

int64_t renewer_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void at_prepare(void)
{
    pthread_mutex_lock(&users_mu);
    for (int i = 0; i < 2; i++)
        pthread_mutex_lock(&L[i].mu);
}
static void at_parent(void)
{
    for (int i = 1; i >= 0; i--)
        pthread_mutex_unlock(&L[i].mu);
    pthread_mutex_unlock(&users_mu);
}
static void at_child(void)
{
    /* No thread here: forget it and every job (they belong to the parent's
     * instances, which the child must not use). */
    pthread_mutex_init(&users_mu, NULL);
    users = 0;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&L[i].mu, NULL);
        L[i].started = L[i].stop = 0;
        L[i].head = NULL;
    }
}

static void init_once(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < 2; i++)
        if (pthread_cond_init(&L[i].cv, &ca) == 0 && pthread_cond_init(&L[i].done_cv, &ca) == 0)
            L[i].cv_ready = 1;
    pthread_condattr_destroy(&ca);
    pthread_atfork(at_prepare, at_parent, at_child);
}

static void abs_mono(struct timespec *ts, int64_t mono_ms)
{
    ts->tv_sec = mono_ms / 1000;
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

static void *renewer_main(void *arg)
{
    struct lane *R = arg;
    pthread_mutex_lock(&R->mu);
    while (!R->stop) {
        int64_t now = renewer_mono_ms(), next = -1;
        struct renewer_job **pp = &R->head, **pick = NULL;
        for (; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->due_mono_ms <= now) {
                pick = pp;
                break;
            }
            if (next < 0 || (*pp)->due_mono_ms < next)
                next = (*pp)->due_mono_ms;
        }
        if (pick == NULL) {
            if (next < 0) {
                pthread_cond_wait(&R->cv, &R->mu);
            } else {
                struct timespec ts;
                abs_mono(&ts, next);
                pthread_cond_timedwait(&R->cv, &R->mu, &ts);
            }
            continue;
        }
        struct renewer_job *job = *pick;
        *pick = job->next;
        job->next = NULL;
        job->queued = 0;
        int own = job->self_freeing;
        job->running = !own;
        pthread_mutex_unlock(&R->mu);
        job->run(job);
        pthread_mutex_lock(&R->mu);
        if (!own)
            job->running = 0;
        pthread_cond_broadcast(&R->done_cv);
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

void renewer_attach(void)
{
    pthread_once(&R_once, init_once);
    pthread_mutex_lock(&users_mu);
    users++;
    pthread_mutex_unlock(&users_mu);
}

static void lane_stop(struct lane *R)
{
    pthread_mutex_lock(&R->mu);
    int join = R->started && R->pid == getpid();
    if (join) {
        R->stop = 1;
        pthread_cond_broadcast(&R->cv);
    }
    pthread_mutex_unlock(&R->mu);
    if (!join)
        return;
    pthread_join(R->thread, NULL);
    pthread_mutex_lock(&R->mu);
    R->started = R->stop = 0;
    pthread_mutex_unlock(&R->mu);
}

void renewer_detach(void)
{
    /* users_mu is held to the end: an attach meanwhile waits for the
     * threads to be gone, and its first submit starts them again. */
    pthread_mutex_lock(&users_mu);
    if (users > 0)
        users--;
    if (users == 0)
        for (int i = 0; i < 2; i++)
            lane_stop(&L[i]);
    pthread_mutex_unlock(&users_mu);
}

static int lane_submit(struct lane *R, struct renewer_job *job, int64_t due_mono_ms)
{
    pthread_once(&R_once, init_once);
    pthread_mutex_lock(&R->mu);
    int rc = 0;
    if (!R->cv_ready || R->stop) {
        rc = -1;
    } else if (!R->started || R->pid != getpid()) {
        R->pid = getpid();
        if (pthread_create(&R->thread, NULL, renewer_main, R) != 0)
            rc = -1;
        else
            R->started = 1;
    }
    if (rc == 0) {
        job->lane = R;
        if (job->queued) {
            if (due_mono_ms < job->due_mono_ms)
                job->due_mono_ms = due_mono_ms;
        } else {
            job->due_mono_ms = due_mono_ms;
            job->queued = 1;
            job->next = R->head;
            R->head = job;
        }
        pthread_cond_broadcast(&R->cv);
    }
    pthread_mutex_unlock(&R->mu);
    return rc;
}

int renewer_submit(struct renewer_job *job, int64_t due_mono_ms)
{
    return lane_submit(&L[0], job, due_mono_ms);
}

int renewer_submit_warm(struct renewer_job *job, int64_t due_mono_ms)
{
    return lane_submit(&L[1], job, due_mono_ms);
}

int renewer_settle(struct renewer_job *job)
{
    struct lane *R = job->lane;
    if (R == NULL)
        return 0; /* never queued */
    int dropped = 0;
    pthread_mutex_lock(&R->mu);
    if (job->queued) {
        for (struct renewer_job **pp = &R->head; *pp != NULL; pp = &(*pp)->next)
            if (*pp == job) {
                *pp = job->next;
                break;
            }
        job->next = NULL;
        job->queued = 0;
        dropped = 1;
    }
    while (job->running)
        pthread_cond_wait(&R->done_cv, &R->mu);
    pthread_mutex_unlock(&R->mu);
    return dropped;
}
