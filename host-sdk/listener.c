/*
 * listener.c - the redirect URI's loopback listener (see listener.h).
 *
 * One thread per connection, so a browser's extra requests (favicon, a
 * second tab) never block the callback.  The callback's handler waits for
 * the caller to finish the code exchange, then answers 303; the result page
 * is served from memory and carries no third-party content.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTENER_PATH_MAX 512
#define LISTENER_PAGE_MAX 4096
#define LISTENER_RESULT_SUFFIX "/done"
#define LISTENER_ANSWER_WAIT_S 120 /* the code exchange must finish by then */
#define LISTENER_STATE_MAX 256

struct listener {
    struct MHD_Daemon *d4, *d6;
    char path[LISTENER_PATH_MAX];   /* the redirect URI's path */
    char result_path[LISTENER_PATH_MAX + 8];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char state[LISTENER_STATE_MAX]; /* the pending authorization's state ("" = any) */
    int got_callback;   /* one callback taken; later ones are refused */
    char *target;       /* its path?query, until listener_wait takes it */
    size_t target_len;
    int have_result;
    int result_served;
    char page[LISTENER_PAGE_MAX];
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls);
static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
static int bind_one(struct listener *l, int family, unsigned port, struct MHD_Daemon **out);

int listener_start(const char *redirect_uri, struct listener **out, char *err, size_t errlen)
{
    char host[128];
    unsigned port = 0;
    struct listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (listener_split_redirect(redirect_uri, host, sizeof host, &port, l->path,
                                sizeof l->path) != 0) {
        snprintf(err, errlen,
                 "redirect_uri %s is not http on localhost, 127.0.0.1 or [::1], so this machine "
                 "cannot receive the browser's return: use --no-listen and paste the address "
                 "the browser ends on", redirect_uri);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return -1;
    }
    snprintf(l->result_path, sizeof l->result_path, "%s%s", l->path, LISTENER_RESULT_SUFFIX);
    /* Every loopback address the host name stands for, or none: with only
     * one of 127.0.0.1 and ::1 bound, the browser may reach whatever
     * program holds the other, and hand it the code. */
    static const int families[2] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2; i++) {
        int fam = families[i];
        if ((fam == AF_INET && strcmp(host, "::1") == 0) ||
            (fam == AF_INET6 && strcmp(host, "127.0.0.1") == 0))
            continue;
        struct MHD_Daemon **d = fam == AF_INET ? &l->d4 : &l->d6;
        int e = bind_one(l, fam, port, d);
        /* A machine without IPv6 has no ::1 another program could hold. */
        if (e != 0 && fam == AF_INET6 && strcmp(host, "localhost") == 0 &&
            (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
            continue;
        if (e != 0) {
            const char *addr = fam == AF_INET ? "127.0.0.1" : "[::1]";
            if (e == EADDRINUSE)
                snprintf(err, errlen,
                         "another program listens on %s:%u: stop it, or register and configure "
                         "another port in redirect_uri",
                         addr, port);
            else
                snprintf(err, errlen,
                         "cannot listen on %s:%u (%s): register and configure another port in "
                         "redirect_uri, or use --no-listen",
                         addr, port, strerror(e));
            listener_finish(l, 0);
            return -1;
        }
    }
    if (!l->d4 && !l->d6) {
        snprintf(err, errlen,
                 "cannot listen on port %u of this machine's loopback: use --no-listen", port);
        listener_finish(l, 0);
        return -1;
    }
    *out = l;
    return 0;
}

void listener_expect(struct listener *l, const char *auth_url)
{
    const char *q = auth_url ? strchr(auth_url, '?') : NULL;
    pthread_mutex_lock(&l->mu);
    l->state[0] = '\0';
    for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, "state=", 6) != 0)
            continue;
        size_t n = strcspn(p + 7, "&#");
        if (n > 0 && n < sizeof l->state) {
            memcpy(l->state, p + 7, n);
            l->state[n] = '\0';
        }
        break;
    }
    pthread_mutex_unlock(&l->mu);
}

int listener_wait(struct listener *l, int timeout_ms, char **target, size_t *target_len)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = -1;
    pthread_mutex_lock(&l->mu);
    while (l->target == NULL)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT)
            break;
    if (l->target != NULL) {
        *target = l->target;
        *target_len = l->target_len;
        l->target = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void listener_set_result(struct listener *l, int ok, const char *headline, const char *detail)
{
    char h[512], d[2048];
    listener_html_escape(headline, h, sizeof h);
    listener_html_escape(detail ? detail : "", d, sizeof d);
    pthread_mutex_lock(&l->mu);
    snprintf(l->page, sizeof l->page,
             "<!doctype html><html><head><meta charset=\"utf-8\"><title>vap-openemr</title>"
             "</head><body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">"
             "<h1>%s %s</h1><p>%s</p><p>You can close this window.</p></body></html>\n",
             ok ? "&#10003;" : "&#10007;", h, d);
    l->have_result = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void listener_finish(struct listener *l, int grace_ms)
{
    if (l == NULL)
        return;
    if (grace_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += grace_ms / 1000;
        until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&l->mu);
        while (l->got_callback && !l->result_served)
            if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&l->mu);
    }
    /* Release a handler still waiting for a result, then stop. */
    pthread_mutex_lock(&l->mu);
    if (!l->have_result) {
        l->have_result = 1;
        snprintf(l->page, sizeof l->page, "<!doctype html><p>vap-host stopped waiting.</p>\n");
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->d4)
        MHD_stop_daemon(l->d4);
    if (l->d6)
        MHD_stop_daemon(l->d6);
    if (l->target) {
        explicit_bzero(l->target, l->target_len);
        free(l->target);
    }
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

size_t listener_html_escape(const char *src, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (; *src; src++) {
        unsigned char ch = (unsigned char)*src;
        const char *rep = NULL;
        char one[2] = {(char)ch, 0};
        switch (ch) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: rep = (ch < 0x20 || ch == 0x7f) ? " " : one; break;
        }
        size_t n = strlen(rep);
        if (o + n + 1 > cap)
            break;
        memcpy(out + o, rep, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

/* http://HOST[:PORT]/PATH with HOST a loopback name; query and fragment are
 * not allowed in a redirect URI we listen on. */
int listener_split_redirect(const char *uri, char *host, size_t host_cap, unsigned *port,
                            char *path, size_t path_cap)
{
    if (strncmp(uri, "http://", 7) != 0)
        return -1;
    const char *h = uri + 7, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL || (size_t)(end - h - 1) >= host_cap)
            return -1;
        snprintf(host, host_cap, "%.*s", (int)(end - h - 1), h + 1);
        end++;
        if (*end != ':' && *end != '/' && *end != '\0')
            return -1; /* "[::1]8000/cb": no path the browser can hit */
    } else {
        end = h + strcspn(h, ":/");
        if ((size_t)(end - h) >= host_cap)
            return -1;
        snprintf(host, host_cap, "%.*s", (int)(end - h), h);
    }
    if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0 &&
        strcmp(host, "::1") != 0)
        return -1;
    *port = 80;
    if (*end == ':') {
        char *stop;
        if (end[1] < '0' || end[1] > '9')
            return -1; /* strtoul would take a sign or blanks */
        unsigned long p = strtoul(end + 1, &stop, 10);
        if (p == 0 || p > 65535 || (*stop != '/' && *stop != '\0'))
            return -1;
        *port = (unsigned)p;
        end = stop;
    }
    const char *p = *end ? end : "/";
    if (strpbrk(p, "?#") != NULL || strlen(p) >= path_cap)
        return -1;
    snprintf(path, path_cap, "%s", p);
    return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *type,
                                  const char *body, const char *location)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (location)
        MHD_add_response_header(r, "Location", location);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    /* Rebuild the raw query: MHD hands decoded pairs, so re-encode them. */
    char **q = cls;
    size_t have = *q ? strlen(*q) : 0;
    size_t need = have + 1 + 3 * strlen(key) + 1 + 3 * (value ? strlen(value) : 0) + 1;
    /* Not realloc: the old block holds the code and state and is wiped. */
    char *n = malloc(need);
    if (n == NULL)
        return MHD_NO;
    if (*q != NULL) {
        memcpy(n, *q, have + 1);
        explicit_bzero(*q, have);
        free(*q);
    }
    size_t o = have;
    if (o)
        n[o++] = '&';
    const char *parts[2] = {key, value ? value : ""};
    for (int p = 0; p < 2; p++) {
        if (p == 1 && value == NULL)
            break;
        if (p == 1)
            n[o++] = '=';
        for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++) {
            if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' || *s == '~') {
                n[o++] = (char)*s;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                n[o++] = '%';
                n[o++] = hex[*s >> 4];
                n[o++] = hex[*s & 15];
            }
        }
    }
    n[o] = '\0';
    *q = n;
    return MHD_YES;
}

/* A callback carries state and a code or an error, and its state is the
 * pending authorization's (compared in constant time). */
static int is_answer(struct listener *l, struct MHD_Connection *c)
{
    const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
    const char *code = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "code");
    const char *error = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "error");
    if (state == NULL || state[0] == '\0' ||
        ((code == NULL || code[0] == '\0') && (error == NULL || error[0] == '\0')))
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t want = strlen(l->state), got = strlen(state);
    unsigned diff = want != got;
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned char)l->state[i] ^ (unsigned char)(i < got ? state[i] : 0);
    pthread_mutex_unlock(&l->mu);
    return diff == 0 || want == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct listener *l = cls;
    if (strcmp(method, "GET") != 0)
        return queue_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", NULL);
    if (strcmp(url, l->result_path) == 0) {
        pthread_mutex_lock(&l->mu);
        char page[LISTENER_PAGE_MAX];
        snprintf(page, sizeof page, "%s",
                 l->have_result ? l->page : "<!doctype html><p>Nothing has happened yet.</p>\n");
        /* Served once the page is out (request_done), not when queued:
         * the caller stops the daemon then, and a queued page would die
         * with it (curl: "Empty reply from server"). */
        if (l->have_result)
            *con_cls = &l->result_served;
        pthread_mutex_unlock(&l->mu);
        return queue_text(c, MHD_HTTP_OK, "text/html; charset=utf-8", page, NULL);
    }
    if (strcmp(url, l->path) != 0)
        return queue_text(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", NULL);

    /* Only the answer to the pending authorization ends the wait: a bare
     * GET (any local process, or a web page's <img>) must not use it up. */
    if (!is_answer(l, c)) {
        /* OpenEMR drops the state when it rejects a scope: the one stateless
         * error worth a word, in fixed text (the request's is not shown). */
        const char *e = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "error");
        int scope = e != NULL && strcmp(e, "invalid_scope") == 0 &&
                    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state") == NULL;
        if (scope)
            fprintf(stderr, "vap-host: the browser came back with invalid_scope and no state, "
                            "which OpenEMR sends when it rejects a scope of the scope option: "
                            "still waiting; press Ctrl-C, correct scope= and authorize again\n");
        return queue_text(c, MHD_HTTP_BAD_REQUEST, "text/html; charset=utf-8",
                          scope ? "<!doctype html><p>This answer says invalid_scope but carries "
                                  "no state, so vap-host cannot take it as OpenEMR's and goes on "
                                  "waiting. OpenEMR answers this way when it rejects a scope: "
                                  "correct the scope option and authorize again.</p>\n"
                                : "<!doctype html><p>This address is not the answer to the "
                                  "authorization vap-host is waiting for (no matching state, or "
                                  "neither a code nor an error). vap-host goes on waiting.</p>\n",
                          NULL);
    }
    pthread_mutex_lock(&l->mu);
    int first = !l->got_callback;
    l->got_callback = 1;
    pthread_mutex_unlock(&l->mu);
    if (!first)
        return queue_text(c, MHD_HTTP_GONE, "text/plain",
                          "This authorization was already handled; start a new one.\n", NULL);

    char *query = NULL;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &query);
    size_t plen = strlen(l->path), qlen = query ? strlen(query) : 0;
    char *target = malloc(plen + 1 + qlen + 1);
    if (target == NULL) {
        free(query);
        return MHD_NO;
    }
    memcpy(target, l->path, plen);
    target[plen] = '?';
    if (qlen)
        memcpy(target + plen + 1, query, qlen);
    target[plen + 1 + qlen] = '\0';
    if (query) {
        explicit_bzero(query, qlen);
        free(query);
    }

    pthread_mutex_lock(&l->mu);
    l->target = target;
    l->target_len = plen + 1 + qlen;
    pthread_cond_broadcast(&l->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LISTENER_ANSWER_WAIT_S;
    while (!l->have_result)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&l->mu);
    return queue_text(c, MHD_HTTP_SEE_OTHER, "text/plain", "See the result page.\n",
                      l->result_path);
}

/* The result page has been handed to the socket (or the browser went away):
 * the caller may stop listening now. */
static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct listener *l = cls;
    (void)c;
    (void)toe;
    if (con_cls == NULL || *con_cls != &l->result_served)
        return;
    pthread_mutex_lock(&l->mu);
    l->result_served = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Binds FAMILY's loopback address on PORT and starts a daemon on it: 0, or
 * the errno of the socket calls (the bind's, say EADDRINUSE). */
static int bind_one(struct listener *l, int family, unsigned port, struct MHD_Daemon **out)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    socklen_t salen;
    int one = 1;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (family == AF_INET) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa = (struct sockaddr *)&a4;
        salen = sizeof a4;
    } else {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        a6.sin6_addr = in6addr_loopback;
        sa = (struct sockaddr *)&a6;
        salen = sizeof a6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    /* Reuse only frees a port left in TIME_WAIT: Linux still refuses a
     * port another socket listens on. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, sa, salen) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    *out = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, l, MHD_OPTION_LISTEN_SOCKET,
                            fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_NOTIFY_COMPLETED, request_done, l, MHD_OPTION_END);
    if (*out == NULL) {
        close(fd);
        return ENOMEM;
    }
    return 0;
}
