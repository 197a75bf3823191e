/* warm.h - connections opened ahead of need: at instance start and again
 * whenever pooled connections have sat idle, so a caller's first request
 * (and the first after a quiet spell) does not pay a TLS handshake (1.7 to
 * 27 ms here, against ~74 us for a warm request; DESIGN.md, HTTP).
 *
 * Warming is a job on the process's one warm-up thread (the renewer's
 * second lane, oauth/renewer.h), one pool handle per run, so an instance
 * costs no thread of its own and a handshake to an unreachable server never
 * delays a token renewal. */
#ifndef VAP_WARM_H
#define VAP_WARM_H

#include <vap/plugin.h>

#include "oauth/renewer.h"

#define WARM_INTERVAL_MS 20000 /* re-warm handles idle this long (servers close at ~60 s) */
#define WARM_DEADLINE_MS 5000
/* The first warm-up waits this long after instance start.  A host that makes
 * an instance for a request in hand sends it within milliseconds, and a
 * handshake started beside it would only open a second connection for
 * nothing; one made ahead of its calls waits far longer than this for
 * them.  The request's own connection then counts towards warm_connections. */
#define WARM_START_DELAY_MS 250
/* A run put off by a fetch is queued again this long after the first fetch
 * that leaves none running, not at once: a caller fetching back to back
 * would otherwise wake the warm-up thread after every request (a thread
 * switch each, on the cores the caller and the server need).  A run that
 * finds a fetch running again is put off again: warming waits for a gap. */
#define WARM_QUIET_MS 100

struct vap_instance;

struct warmer {
    struct renewer_job job;
    struct renewer_job kick; /* the first run's due time, kept on the renewer's
                                lane so the warm-up lane's thread starts only then */
    vap_cancel *cancel; /* fired by warmer_stop: a warm-up in flight ends at once */
    int stop;           /* atomic: warmer_stop has begun, the job queues itself no more */
    int in_flight;      /* atomic: fetches running now; warming waits until there are none */
    int deferred;       /* atomic: a run found one running; the last to end queues it again */
    int started;
};

/* Queue the first warm-up (no-op when warm_connections is 0).  Never fails
 * the instance: a warm-up that cannot be queued is only logged. */
void warmer_start(struct vap_instance *inst);

/* Around every fetch (api_fetch).  While a fetch runs no connection is
 * warmed: a handshake beside it would take the CPU and the link from the
 * caller's request, and the connection it leaves counts as warm anyway.  A
 * run that found one running is queued again, WARM_QUIET_MS after the fetch
 * that leaves none running. */
void warmer_fetch_begin(struct vap_instance *inst);
void warmer_fetch_end(struct vap_instance *inst);

/* Drop the queued job and wait for a run in flight (cancelled); before the
 * HTTP client is freed. */
void warmer_stop(struct vap_instance *inst);

#endif
