/*
 * listener.h - vap-host's loopback listener for the browser's return from
 * OpenEMR's consent page (the redirect URI).
 *
 * libmicrohttpd does the HTTP parsing; this file only routes.  It binds the
 * redirect URI's port on loopback only (127.0.0.1 and ::1 for "localhost",
 * both or it fails), before the authorization URL is printed, hands exactly
 * one request for the redirect path to the caller (the one answering the
 * pending authorization), and answers the browser with a 303 to a clean
 * URL (so the code does not stay in the browser's history) whose page says
 * what happened, HTML-escaped.
 */
#ifndef VAP_HOST_LISTENER_H
#define VAP_HOST_LISTENER_H

#include <stddef.h>

struct listener;

/* Bind the listener for redirect_uri (http on a loopback host).  0, or -1
 * with a one-line reason in err. */
int listener_start(const char *redirect_uri, struct listener **out, char *err, size_t errlen);

/* Take the state of the authorization URL AUTH_URL: from now on only a
 * request carrying that state plus a code or an error is the callback;
 * anything else is answered 400 and the wait goes on. */
void listener_expect(struct listener *l, const char *auth_url);

/* Wait up to timeout_ms for the browser's callback.  0 and *target (the
 * request's path and query, malloc'd: the caller wipes and frees it), or -1
 * on timeout. */
int listener_wait(struct listener *l, int timeout_ms, char **target, size_t *target_len);

/* Give the outcome to show the browser (plain text; escaped here).  The
 * callback request is then answered with a 303 to the result page. */
void listener_set_result(struct listener *l, int ok, const char *headline, const char *detail);

/* Wait up to grace_ms for the browser to fetch the result page, then stop
 * listening and free everything.  NULL is a no-op. */
void listener_finish(struct listener *l, int grace_ms);

/* HTML-escape src into out (NUL-terminated, truncated to cap); pure. */
size_t listener_html_escape(const char *src, char *out, size_t cap);

/* Split a redirect URI we can listen on, http://HOST[:PORT][/PATH] with HOST
 * localhost, 127.0.0.1 or [::1] and no query or fragment, into host (no
 * brackets), port (80 if absent) and path ("/" if absent).  0, or -1 when
 * the URI is not such a URI or a part does not fit its buffer; pure. */
int listener_split_redirect(const char *uri, char *host, size_t host_cap, unsigned *port,
                            char *path, size_t path_cap);

#endif
