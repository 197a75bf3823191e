/* tls_server.h - a throwaway HTTPS server for the HTTP layer's tests:
 * libmicrohttpd + GnuTLS on 127.0.0.1 (port chosen by the kernel), with a
 * CA and server certificate generated in memory at start. */
#ifndef TESTS_CORE_TLS_SERVER_H
#define TESTS_CORE_TLS_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define TS_BIG_BYTES (20u * 1024 * 1024)

struct ts_server {
    struct MHD_Daemon *d;
    unsigned port;
    char dir[64];          /* temp dir with the PEM files below */
    char ca_file[128];     /* CA that signed the server certificate */
    char other_ca_file[128]; /* an unrelated CA (untrusted-CA test) */
    char pin[128];         /* "sha256//..." of the server's public key */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hanging;           /* requests blocked in /hang */
    int release;           /* set to let /hang requests finish */
    unsigned connections;  /* TCP connections accepted */
    unsigned hits_ok;      /* requests to /ok */
    unsigned hits_options; /* "OPTIONS *" requests (the warm-up) */
    int options_refuse;    /* answer "OPTIONS *" as nginx does: 400, close */
    uint64_t big_sent;     /* bytes /big handed to MHD */
    char last_auth[512];   /* Authorization header of the last /echo */
    char last_body[512];   /* body of the last /echo */
    char last_ua[128];     /* User-Agent of the last /echo or "OPTIONS *" */
};

/* Routes: "OPTIONS *" (200, Allow; with options_refuse 400 and
 * Connection: close), /ok (200 "hello"), /big (20 MB, no Content-Length), /hang (waits
 * until ts_release or stop), /redirect (302 to /ok), /busy (503,
 * Retry-After: 7), /link (200 with a Link header), /echo (records the
 * Authorization and User-Agent headers and the body; answers 200 with the
 * method). */
int ts_start(struct ts_server *s);
void ts_stop(struct ts_server *s);
/* Block until n requests are waiting in /hang (or 10 s pass: returns -1). */
int ts_wait_hanging(struct ts_server *s, int n);
void ts_release(struct ts_server *s);
/* "https://127.0.0.1:PORT" + path */
void ts_url(const struct ts_server *s, const char *path, char *out, size_t cap);

#endif
