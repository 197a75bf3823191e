/* test_http_warm.c - connection warm-up ("OPTIONS *") against the test
 * HTTPS server (tls_server.c): a warmed handle serves the next request, and
 * a server that refuses the warm-up (nginx: 400 and close) is asked once,
 * quietly, and never again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "core/log.h"
#include "tls_server.h"

static struct ts_server srv;
static char log_buf[8192];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

/* Each line as "LEVEL msg" so a test can tell a warning from an info line. */
static void capture_log(void *ctx, int level, const char *msg)
{
    pthread_mutex_lock(&log_mu);
    size_t cur = strlen(log_buf);
    snprintf(log_buf + cur, sizeof log_buf - cur, "%d %s\n", level, msg);
    pthread_mutex_unlock(&log_mu);
}

static const vap_host_api test_host = {
    .struct_size = sizeof(vap_host_api), .abi_minor = VAP_ABI_MINOR,
    .log = capture_log,
};

static struct http_client *client_with(const char *ca, const char *pin, unsigned pool)
{
    struct http_client_opts o = {.ca_file = ca, .pin_sha256 = pin, .pool_size = pool};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_client_new(&o, &c, &err), VAP_OK);
    return c;
}

static int get(struct http_client *c, const char *path, int64_t timeout_ms,
               vap_cancel *cancel, struct http_response *rs, vap_error *err)
{
    char url[256];
    ts_url(&srv, path, url, sizeof url);
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + timeout_ms,
                              .cancel = cancel};
    VAP_INIT(vap_error, *err);
    return http_request_do(c, &rq, rs, err);
}

static unsigned server_count(const unsigned *field)
{
    pthread_mutex_lock(&srv.mu);
    unsigned v = *field;
    pthread_mutex_unlock(&srv.mu);
    return v;
}

static int group_setup(void **state)
{
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    plog_init(&test_host);
    if (http_global_init() != VAP_OK || sodium_init() < 0)
        return -1;
    return ts_start(&srv);
}

static int group_teardown(void **state)
{
    ts_stop(&srv);
    curl_global_cleanup();
    return 0;
}

static void warm_up_opens_the_connection_before_the_first_request(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    VAP_INIT(vap_error, err);
    unsigned before = server_count(&srv.connections);
    unsigned ok_before = server_count(&srv.hits_ok), opt_before = server_count(&srv.hits_options);
    assert_int_equal(http_client_warm(c, url, 1, 0, plugin_now_ms() + 5000, NULL, &err), VAP_OK);
    assert_int_equal(server_count(&srv.connections) - before, 1);
    /* the warm-up asked the server itself ("OPTIONS *"), not the route */
    assert_int_equal(server_count(&srv.hits_options) - opt_before, 1);
    char ua[sizeof srv.last_ua];
    pthread_mutex_lock(&srv.mu);
    memcpy(ua, srv.last_ua, sizeof ua);
    pthread_mutex_unlock(&srv.mu);
    assert_string_equal(ua, "vap-openemr"); /* the warm-up names the plugin too */
    assert_int_equal(server_count(&srv.hits_ok), ok_before);
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    http_response_free(&rs);
    /* the request used the warmed connection: no second one */
    assert_int_equal(server_count(&srv.connections) - before, 1);
    http_client_free(c);
}

/* The warm-up tops up to its count: a connection a request opened counts,
 * so the first request is never doubled by a warm-up beside it. */
static void warm_up_adds_to_the_connections_requests_opened(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 4);
    struct http_response rs;
    vap_error err;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    VAP_INIT(vap_error, err);
    unsigned before = server_count(&srv.connections);
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    http_response_free(&rs);
    assert_int_equal(http_client_warm_step(c, url, 2, 60000, plugin_now_ms() + 5000, NULL, &err),
                     1);
    assert_int_equal(server_count(&srv.connections) - before, 2);
    /* two are open: nothing more to do */
    assert_int_equal(http_client_warm_step(c, url, 2, 60000, plugin_now_ms() + 5000, NULL, &err),
                     0);
    assert_int_equal(server_count(&srv.connections) - before, 2);
    http_client_free(c);
}

static void warm_up_skips_handles_used_recently(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    http_response_free(&rs);
    unsigned hits = server_count(&srv.hits_options);
    /* used a moment ago: nothing to do for an idle limit of a minute */
    assert_int_equal(http_client_warm(c, url, 1, 60000, plugin_now_ms() + 5000, NULL, &err), VAP_OK);
    assert_int_equal(server_count(&srv.hits_options), hits);
    /* with no idle limit the handle is refreshed (one "OPTIONS *") */
    assert_int_equal(http_client_warm(c, url, 1, 0, plugin_now_ms() + 5000, NULL, &err), VAP_OK);
    assert_int_equal(server_count(&srv.hits_options), hits + 1);
    /* and a normal request after it uses the same handle as before */
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    http_response_free(&rs);
    http_client_free(c);
}

static size_t count_lines(const char *prefix, const char *word)
{
    size_t n = 0, plen = strlen(prefix);
    pthread_mutex_lock(&log_mu);
    for (const char *l = log_buf; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (len >= plen && memcmp(l, prefix, plen) == 0 && memmem(l, len, word, strlen(word)))
            n++;
        l += len + (e != NULL);
    }
    pthread_mutex_unlock(&log_mu);
    return n;
}

static void set_refuse(int on)
{
    pthread_mutex_lock(&srv.mu);
    srv.options_refuse = on;
    pthread_mutex_unlock(&srv.mu);
}

/* nginx answers "OPTIONS *" with 400 and closes: one warm-up request, ever,
 * however many handles and rounds; said once at info level, never a
 * warning; the handle is not counted warm; requests still work. */
static void warm_up_refused_with_400_close_is_asked_once_and_quietly(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 4);
    struct http_response rs;
    vap_error err;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    VAP_INIT(vap_error, err);
    set_refuse(1);
    log_buf[0] = '\0';
    unsigned opt_before = server_count(&srv.hits_options);
    unsigned conn_before = server_count(&srv.connections);
    for (int round = 0; round < 3; round++)
        assert_int_equal(http_client_warm(c, url, 4, 0, plugin_now_ms() + 5000, NULL, &err),
                         VAP_OK);
    assert_int_equal(server_count(&srv.hits_options) - opt_before, 1);
    char ua[sizeof srv.last_ua];
    pthread_mutex_lock(&srv.mu);
    memcpy(ua, srv.last_ua, sizeof ua);
    pthread_mutex_unlock(&srv.mu);
    assert_string_equal(ua, "vap-openemr"); /* the warm-up names the plugin too */
    char lvl[8];
    snprintf(lvl, sizeof lvl, "%d ", VAP_LOG_WARN);
    assert_int_equal(count_lines(lvl, ""), 0);
    snprintf(lvl, sizeof lvl, "%d ", VAP_LOG_ERROR);
    assert_int_equal(count_lines(lvl, ""), 0);
    snprintf(lvl, sizeof lvl, "%d ", VAP_LOG_INFO);
    assert_int_equal(count_lines(lvl, "warm-up off"), 1);
    assert_non_null(strstr(log_buf, "400"));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
        assert_int_equal(rs.status, 200);
        http_response_free(&rs);
    }
    /* the refused handle was cold: the first request opened a connection
     * of its own, and the others reused it */
    assert_int_equal(server_count(&srv.connections) - conn_before, 2);
    set_refuse(0);
    http_client_free(c);
}

/* A server that takes the warm-up keeps being warmed (the refusal is per
 * client, and only a refusal turns it off). */
static void warm_up_accepted_keeps_warming(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    vap_error err;
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    VAP_INIT(vap_error, err);
    log_buf[0] = '\0';
    unsigned opt_before = server_count(&srv.hits_options);
    for (int round = 0; round < 3; round++)
        assert_int_equal(http_client_warm(c, url, 1, 0, plugin_now_ms() + 5000, NULL, &err),
                         VAP_OK);
    assert_int_equal(server_count(&srv.hits_options) - opt_before, 3);
    assert_int_equal(count_lines("", "warm-up off"), 0);
    http_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(warm_up_opens_the_connection_before_the_first_request),
        cmocka_unit_test(warm_up_skips_handles_used_recently),
        cmocka_unit_test(warm_up_adds_to_the_connections_requests_opened),
        cmocka_unit_test(warm_up_accepted_keeps_warming),
        cmocka_unit_test(warm_up_refused_with_400_close_is_asked_once_and_quietly),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
