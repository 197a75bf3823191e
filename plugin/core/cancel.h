/* cancel.h - vap_cancel, the thread-safe cancel token of the ABI. */
#ifndef VAP_CANCEL_H
#define VAP_CANCEL_H

#include <curl/curl.h>
#include <vap/plugin.h>

/* The three functions the descriptor exposes (cancel_new/fire/free). */
vap_cancel *cancel_new(void);
/* Any thread, any number of times: wakes every request waiting on c. */
void cancel_fire(vap_cancel *c);
/* Once no call uses c any more.  NULL is a no-op. */
void cancel_free(vap_cancel *c);

/* True once cancel_fire was called.  c may be NULL (never fired). */
int cancel_fired(const vap_cancel *c);

/* A request waiting in curl_multi_poll registers its multi handle so that
 * cancel_fire can wake it.  The waiter lives on the caller's stack. */
struct cancel_waiter {
    CURLM *multi;
    struct cancel_waiter *next;
};
/* Register w (c may be NULL).  Returns 1 if c has already fired. */
int cancel_attach(vap_cancel *c, struct cancel_waiter *w, CURLM *multi);
void cancel_detach(vap_cancel *c, struct cancel_waiter *w);

#endif
