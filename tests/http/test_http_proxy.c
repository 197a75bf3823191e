/* test_http_proxy.c - the proxy option against a real CONNECT proxy started
 * here on 127.0.0.1 (a port the kernel picks): proxy=URL, env (https_proxy,
 * no_proxy) and none each send the request where they say, and every
 * connection error through a proxy names it, without its password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "http/http.h"
#include "tls_server.h"

static struct ts_server srv;

/* ---- a CONNECT proxy: one thread per tunnel ------------------------------- */

struct proxy {
    int lfd;
    unsigned port;
    int refuse; /* answer 403 to every CONNECT */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t done; /* a tunnel ended */
    unsigned live;       /* tunnels running */
    unsigned connects;  /* CONNECT requests seen */
    char last_target[128];
    char last_head[4096]; /* the last CONNECT request, its header lines */
    volatile int stop;
};

static struct proxy px;

static void *proxy_tunnel(void *arg)
{
    int cfd = (int)(intptr_t)arg, sfd = -1;
    char head[4096];
    size_t n = 0;
    while (n < sizeof head - 1) {
        ssize_t r = read(cfd, head + n, sizeof head - 1 - n);
        if (r <= 0)
            goto out;
        n += (size_t)r;
        head[n] = '\0';
        if (strstr(head, "\r\n\r\n") != NULL)
            break;
    }
    char host[100];
    unsigned port = 0;
    if (sscanf(head, "CONNECT %99[^:]:%u HTTP/1.1", host, &port) != 2)
        goto out;
    pthread_mutex_lock(&px.mu);
    px.connects++;
    snprintf(px.last_target, sizeof px.last_target, "%s:%u", host, port);
    snprintf(px.last_head, sizeof px.last_head, "%s", head);
    int refuse = px.refuse;
    pthread_mutex_unlock(&px.mu);
    if (refuse) {
        static const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        (void)!write(cfd, no, sizeof no - 1);
        goto out;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    sfd = socket(AF_INET, SOCK_STREAM, 0);
    if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (write(cfd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
        goto out;
    for (;;) {
        struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(p, 2, 200) < 0 || px.stop)
            break;
        char buf[16384];
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(p[i].fd, buf, sizeof buf);
            if (r <= 0 || write(p[1 - i].fd, buf, (size_t)r) != r)
                goto out;
        }
    }
out:
    if (sfd >= 0)
        close(sfd);
    close(cfd);
    pthread_mutex_lock(&px.mu);
    px.live--;
    pthread_cond_broadcast(&px.done);
    pthread_mutex_unlock(&px.mu);
    return NULL;
}

static void *proxy_accept(void *arg)
{
    (void)arg;
    while (!px.stop) {
        struct pollfd p = {px.lfd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int cfd = accept(px.lfd, NULL, NULL);
        if (cfd < 0)
            continue;
        pthread_t t;
        pthread_mutex_lock(&px.mu);
        px.live++;
        pthread_mutex_unlock(&px.mu);
        if (pthread_create(&t, NULL, proxy_tunnel, (void *)(intptr_t)cfd) == 0) {
            pthread_detach(t);
        } else {
            close(cfd);
            pthread_mutex_lock(&px.mu);
            px.live--;
            pthread_mutex_unlock(&px.mu);
        }
    }
    return NULL;
}

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static unsigned proxy_connects(void)
{
    pthread_mutex_lock(&px.mu);
    unsigned v = px.connects;
    pthread_mutex_unlock(&px.mu);
    return v;
}

/* ---- the client ------------------------------------------------------------ */

static int get_via_as(const char *proxy, const char *ua, const char *bearer, int *status,
                      vap_error *err)
{
    struct http_client_opts o = {.ca_file = srv.ca_file, .pool_size = 1, .proxy = proxy,
                                 .user_agent = ua};
    struct http_client *c = NULL;
    VAP_INIT(vap_error, *err);
    int rc = http_client_new(&o, &c, err);
    if (rc != VAP_OK)
        return rc;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    static const char *const extra[] = {"Accept: application/fhir+json"};
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 5000,
                              .bearer = bearer, .headers = extra, .n_headers = 1};
    struct http_response rs;
    rc = http_request_do(c, &rq, &rs, err);
    *status = rs.status;
    http_response_free(&rs);
    http_client_free(c);
    return rc;
}

static int get_via(const char *proxy, int *status, vap_error *err)
{
    return get_via_as(proxy, NULL, NULL, status, err);
}

/* The value of header NAME in the proxy's last CONNECT, or NULL. */
static const char *connect_header(const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    pthread_mutex_lock(&px.mu);
    const char *p = strstr(px.last_head, "\r\n"), *found = NULL;
    while (p != NULL && found == NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            found = out;
        }
        p = strstr(p, "\r\n");
    }
    pthread_mutex_unlock(&px.mu);
    return found;
}

static void clear_env(void)
{
    static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                        "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

static int setup(void **state)
{
    clear_env();
    px.refuse = 0;
    return 0;
}

static int group_setup(void **state)
{
    static const vap_host_api host = {.struct_size = sizeof(vap_host_api), .abi_minor = VAP_ABI_MINOR};
    plog_init(&host);
    if (http_global_init() != VAP_OK || sodium_init() < 0 || ts_start(&srv) != 0)
        return -1;
    pthread_mutex_init(&px.mu, NULL);
    pthread_cond_init(&px.done, NULL);
    px.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(px.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(px.lfd, 16) != 0 ||
        getsockname(px.lfd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    px.port = ntohs(sa.sin_port);
    return pthread_create(&px.thread, NULL, proxy_accept, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    px.stop = 1;
    pthread_join(px.thread, NULL);
    close(px.lfd);
    /* Every client was freed, so every tunnel's peer has closed; each
     * also sees stop within one poll. */
    pthread_mutex_lock(&px.mu);
    while (px.live > 0)
        pthread_cond_wait(&px.done, &px.mu);
    pthread_mutex_unlock(&px.mu);
    ts_stop(&srv);
    curl_global_cleanup();
    return 0;
}

/* ---- the tests ------------------------------------------------------------- */

static void proxy_url_sends_the_request_through_the_proxy(void **state)
{
    char proxy[64], target[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    snprintf(target, sizeof target, "127.0.0.1:%u", srv.port);
    unsigned before = proxy_connects();
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(proxy, &status, &err), VAP_OK);
    assert_int_equal(status, 200);
    assert_int_equal(proxy_connects() - before, 1);
    assert_string_equal(px.last_target, target);
}

/* The tunnel is asked for with the plugin's User-Agent (a proxy's logs and
 * rules see who is calling) and with none of the request's own headers:
 * the bearer token goes only inside the TLS tunnel, never to the proxy. */
static void proxy_connect_carries_the_user_agent_and_no_request_header(void **state)
{
    char proxy[64], v[256];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    int status = 0;
    vap_error err;
    assert_int_equal(get_via_as(proxy, "vap-test-agent/1.0", "tok-abc123", &status, &err), VAP_OK);
    assert_int_equal(status, 200);
    assert_non_null(connect_header("User-Agent", v, sizeof v));
    assert_string_equal(v, "vap-test-agent/1.0");
    assert_null(connect_header("Authorization", v, sizeof v));
    assert_null(connect_header("Accept", v, sizeof v));
    pthread_mutex_lock(&px.mu);
    assert_null(strstr(px.last_head, "tok-abc123"));
    pthread_mutex_unlock(&px.mu);
}

static void proxy_env_uses_https_proxy_of_the_environment(void **state)
{
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    setenv("https_proxy", proxy, 1);
    unsigned before = proxy_connects();
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(NULL, &status, &err), VAP_OK);
    assert_int_equal(status, 200);
    assert_int_equal(proxy_connects() - before, 1);
}

static void proxy_env_skips_the_proxy_for_a_no_proxy_host(void **state)
{
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    setenv("HTTPS_PROXY", proxy, 1);
    setenv("no_proxy", "localhost, 127.0.0.1", 1);
    unsigned before = proxy_connects();
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(NULL, &status, &err), VAP_OK);
    assert_int_equal(proxy_connects() - before, 0);
}

static void proxy_none_ignores_the_environment(void **state)
{
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    setenv("https_proxy", proxy, 1);
    setenv("all_proxy", proxy, 1);
    unsigned before = proxy_connects();
    int status = 0;
    vap_error err;
    assert_int_equal(get_via("", &status, &err), VAP_OK);
    assert_int_equal(status, 200);
    assert_int_equal(proxy_connects() - before, 0);
}

static void refused_proxy_port_is_named_in_the_error(void **state)
{
    char proxy[64], want[512];
    unsigned port = free_port();
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", port);
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(proxy, &status, &err), VAP_E_UNAVAILABLE);
    snprintf(want, sizeof want, "cannot reach 127.0.0.1:%u through the proxy http://127.0.0.1:%u "
             "(from proxy=) (Couldn't connect to server): check that the proxy is up and lets "
             "this machine through, or set proxy=none", srv.port, port);
    assert_string_equal(err.message, want);
}

static void proxy_refusing_the_tunnel_is_named_in_the_error(void **state)
{
    char proxy[64], want[512];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", px.port);
    px.refuse = 1;
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(proxy, &status, &err), VAP_E_UNAVAILABLE);
    snprintf(want, sizeof want, "cannot reach 127.0.0.1:%u through the proxy http://127.0.0.1:%u "
             "(from proxy=) (CONNECT tunnel failed, response 403): check that the proxy is up "
             "and lets this machine through, or set proxy=none", srv.port, px.port);
    assert_string_equal(err.message, want);
}

static void proxy_password_is_never_in_a_message(void **state)
{
    char proxy[96], want[512];
    unsigned port = free_port();
    snprintf(proxy, sizeof proxy, "http://vapuser:hunter2@127.0.0.1:%u", port);
    setenv("https_proxy", proxy, 1);
    int status = 0;
    vap_error err;
    assert_int_equal(get_via(NULL, &status, &err), VAP_E_UNAVAILABLE);
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.message, "vapuser"));
    snprintf(want, sizeof want, "through the proxy http://127.0.0.1:%u (from https_proxy)", port);
    assert_non_null(strstr(err.message, want));
}

static void direct_errors_do_not_mention_a_proxy(void **state)
{
    /* The server's port is right, but the client is told to go direct to
     * a closed port: the message is the plain one. */
    struct http_client_opts o = {.ca_file = srv.ca_file, .pool_size = 1, .proxy = ""};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_client_new(&o, &c, &err), VAP_OK);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/ok", free_port());
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 5000};
    struct http_response rs;
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_E_UNAVAILABLE);
    assert_null(strstr(err.message, "proxy"));
    http_response_free(&rs);
    http_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(proxy_url_sends_the_request_through_the_proxy, setup),
        cmocka_unit_test_setup(proxy_connect_carries_the_user_agent_and_no_request_header, setup),
        cmocka_unit_test_setup(proxy_env_uses_https_proxy_of_the_environment, setup),
        cmocka_unit_test_setup(proxy_env_skips_the_proxy_for_a_no_proxy_host, setup),
        cmocka_unit_test_setup(proxy_none_ignores_the_environment, setup),
        cmocka_unit_test_setup(refused_proxy_port_is_named_in_the_error, setup),
        cmocka_unit_test_setup(proxy_refusing_the_tunnel_is_named_in_the_error, setup),
        cmocka_unit_test_setup(proxy_password_is_never_in_a_message, setup),
        cmocka_unit_test_setup(direct_errors_do_not_mention_a_proxy, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
