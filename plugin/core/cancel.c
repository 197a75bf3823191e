/* cancel.c - cancel tokens: a flag plus the list of multi handles to wake.
 * curl_multi_wakeup is documented as callable from any thread, so firing
 * interrupts curl_multi_poll at once instead of at the next poll timeout. */
#include "core/cancel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct vap_cancel {
    atomic_int fired;
    pthread_mutex_t mu; /* guards waiters */
    struct cancel_waiter *waiters;
};

vap_cancel *cancel_new(void)
{
    vap_cancel *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->fired, 0);
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void cancel_fire(vap_cancel *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->fired, 1);
    pthread_mutex_lock(&c->mu);
    for (struct cancel_waiter *w = c->waiters; w != NULL; w = w->next)
        curl_multi_wakeup(w->multi);
    pthread_mutex_unlock(&c->mu);
}

void cancel_free(vap_cancel *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int cancel_fired(const vap_cancel *c)
{
    return c != NULL && atomic_load(&((vap_cancel *)c)->fired);
}

int cancel_attach(vap_cancel *c, struct cancel_waiter *w, CURLM *multi)
{
    w->multi = multi;
    w->next = NULL;
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    w->next = c->waiters;
    c->waiters = w;
    pthread_mutex_unlock(&c->mu);
    /* Checked after registering, so a fire between the two is never lost. */
    return atomic_load(&c->fired);
}

void cancel_detach(vap_cancel *c, struct cancel_waiter *w)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    for (struct cancel_waiter **p = &c->waiters; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&c->mu);
}
