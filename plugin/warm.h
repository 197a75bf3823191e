/* warm.h - connections opened ahead of need: at instance start and again
 * whenever pooled connections have sat idle, so a caller's first request
 * (and the first after a quiet spell) does not pay a TLS handshake (1.7 to
 * 27 ms here, against ~74 us for a warm request; DESIGN.md, HTTP). */
#ifndef VAP_WARM_H
#define VAP_WARM_H

#include <pthread.h>
#include <vap/plugin.h>

#define WARM_INTERVAL_MS 20000 /* re-warm handles idle this long (servers close at ~60 s) */
#define WARM_DEADLINE_MS 5000

struct vap_instance;

struct warmer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vap_cancel *cancel; /* fired by warmer_stop: a warm-up in flight ends at once */
    int running;
    int stop;
};

/* Start the background thread (no-op when warm_connections is 0).  Never
 * fails the instance: a warm-up that cannot start is only logged. */
void warmer_start(struct vap_instance *inst);

/* Stop and join it; before the HTTP client is freed. */
void warmer_stop(struct vap_instance *inst);

#endif
