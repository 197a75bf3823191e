/* errors.h - filling a host's vap_error safely (it may be older/smaller). */
#ifndef VAP_ERRORS_H
#define VAP_ERRORS_H

#include <stddef.h>
#include <vap/plugin.h>

/* Set err->code and a one-line message (printf format).  err may be NULL or
 * smaller than ours.  Returns code, so callers can `return err_set(...)`.
 * The message must never contain a secret: callers format only names,
 * URLs of endpoints and server-provided error codes/descriptions. */
int err_set(vap_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the HTTP status, Retry-After and OAuth error code (may be NULL). */
void err_set_http(vap_error *err, int http_status, int retry_after_s,
                  const char *oauth_error);

/* Reset to "no error" (code 0, empty strings), keeping the header. */
void err_clear(vap_error *err);

/* Copy code, status, oauth_error and message from src to dst, each only as
 * far as both structs have it.  NULL dst is a no-op. */
void err_copy(vap_error *dst, const vap_error *src);

/* Constant text for a vap_status code. */
const char *err_name(int code);

/* Length of the UTF-8 sequence at s (1..4), 0 if it is not valid UTF-8. */
size_t err_utf8_len(const unsigned char *s);
/* 1 if the N-byte sequence at s must not reach a terminal or a log: a C1
 * control (U+0080-U+009F) or a bidi override or isolate (U+202A-U+202E,
 * U+2066-U+2069). */
int err_utf8_hidden(const unsigned char *s, size_t n);
/* In place: ASCII controls become spaces, C1 controls and bidi overrides
 * one space each, bytes that are not UTF-8 '?'.  Every message and log line
 * goes through it, server text included. */
void err_clean_line(char *line);

#endif
