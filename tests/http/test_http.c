/* test_http.c - the HTTP layer against a real HTTPS server on 127.0.0.1
 * (tls_server.c): TLS trust, pin, host name, https only, redirects, caps,
 * deadline, cancellation, pooling, Basic auth and log redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cancel.h"
#include "http/http.h"
#include "core/log.h"
#include "tls_server.h"

static struct ts_server srv;
static const char *self_exe; /* this test binary, run again for one case */
static char log_buf[16384];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(void *ctx, int level, const char *msg)
{
    pthread_mutex_lock(&log_mu);
    size_t cur = strlen(log_buf);
    snprintf(log_buf + cur, sizeof log_buf - cur, "%s\n", msg);
    pthread_mutex_unlock(&log_mu);
}

static const vap_host_api test_host = {
    .struct_size = sizeof(vap_host_api), .abi_minor = VAP_ABI_MINOR,
    .log = capture_log,
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    /* Proxy variables of the environment would send loopback requests away. */
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

static void get_returns_status_body_and_content_type(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 2);
    struct http_response rs;
    vap_error err;
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    assert_int_equal(rs.status, 200);
    assert_int_equal(rs.body_len, 5);
    assert_string_equal(rs.body, "hello");
    assert_string_equal(rs.hdrs.content_type, "text/plain");
    http_response_free(&rs);
    http_client_free(c);
}

static void sequential_gets_reuse_one_connection(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 4);
    struct http_response rs;
    vap_error err;
    unsigned before = server_count(&srv.connections);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
        http_response_free(&rs);
    }
    assert_int_equal(server_count(&srv.connections) - before, 1);
    http_client_free(c);
}

static void plain_http_is_refused_before_connecting(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    VAP_INIT(vap_error, err);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ok", srv.port);
    unsigned before = server_count(&srv.connections);
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 5000};
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_E_INVAL);
    assert_non_null(strstr(err.message, "https://"));
    assert_int_equal(server_count(&srv.connections), before);
    http_response_free(&rs);
    http_client_free(c);
}

static void redirect_is_returned_not_followed(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    unsigned hits = server_count(&srv.hits_ok);
    assert_int_equal(get(c, "/redirect", 5000, NULL, &rs, &err), VAP_OK);
    assert_int_equal(rs.status, 302);
    assert_non_null(strstr(rs.hdrs.location, "/ok"));
    assert_int_equal(http_status_vap(rs.status), VAP_E_HTTP);
    assert_int_equal(server_count(&srv.hits_ok), hits);
    http_response_free(&rs);
    http_client_free(c);
}

static void untrusted_ca_is_a_tls_error(void **state)
{
    struct http_client *c = client_with(srv.other_ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_E_TLS);
    assert_int_equal(err.code, VAP_E_TLS);
    assert_non_null(strstr(err.message, "ca_file"));
    http_client_free(c);
}

static void wrong_host_name_is_a_tls_error(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    VAP_INIT(vap_error, err);
    char url[128];
    /* the certificate names 127.0.0.1 only */
    snprintf(url, sizeof url, "https://localhost:%u/ok", srv.port);
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 5000};
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_E_TLS);
    http_client_free(c);
}

static void wrong_pin_is_a_tls_error(void **state)
{
    struct http_client *c =
        client_with(srv.ca_file, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    struct http_response rs;
    vap_error err;
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_E_TLS);
    assert_non_null(strstr(err.message, "pin_sha256"));
    http_client_free(c);
}

static void right_pin_is_accepted(void **state)
{
    struct http_client *c = client_with(srv.ca_file, srv.pin, 1);
    struct http_response rs;
    vap_error err;
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    assert_int_equal(rs.status, 200);
    http_response_free(&rs);
    http_client_free(c);
}

static void unreadable_ca_file_is_a_config_error(void **state)
{
    struct http_client_opts o = {.ca_file = "/nonexistent/ca.pem"};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_client_new(&o, &c, &err), VAP_E_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err.message, "/nonexistent/ca.pem"));
}

static void malformed_pin_is_a_config_error(void **state)
{
    struct http_client_opts o = {.ca_file = srv.ca_file, .pin_sha256 = "AAAA"};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_client_new(&o, &c, &err), VAP_E_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err.message, "pin_sha256"));
}

static void refused_connection_is_unavailable(void **state)
{
    /* a port that was just free: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/ok", ntohs(sa.sin_port));
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    VAP_INIT(vap_error, err);
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 5000};
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_E_UNAVAILABLE);
    http_client_free(c);
}

static void proxy_from_the_environment_is_used(void **state)
{
    /* https_proxy names a port nobody listens on: the request must go there
     * (and fail, naming it) instead of straight to the server.  The
     * environment is read when the client is made. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char proxy[64], want[512];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    struct http_response rs;
    vap_error err;
    unsigned hits = server_count(&srv.hits_ok);
    setenv("https_proxy", proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    unsetenv("https_proxy");
    int rc = get(c, "/ok", 5000, NULL, &rs, &err);
    assert_int_equal(rc, VAP_E_UNAVAILABLE);
    assert_int_equal(server_count(&srv.hits_ok), hits);
    snprintf(want, sizeof want, "cannot reach 127.0.0.1:%u through the proxy %s (from https_proxy) "
             "(Couldn't connect to server): check that the proxy is up and lets this machine "
             "through, or set proxy=none", srv.port, proxy);
    assert_string_equal(err.message, want);
    http_client_free(c);
    /* and a client made without it goes direct */
    c = client_with(srv.ca_file, NULL, 1);
    assert_int_equal(get(c, "/ok", 5000, NULL, &rs, &err), VAP_OK);
    http_response_free(&rs);
    http_client_free(c);
}

static void server_busy_maps_to_unavailable_with_retry_after(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    assert_int_equal(get(c, "/busy", 5000, NULL, &rs, &err), VAP_OK);
    assert_int_equal(rs.status, 503);
    assert_int_equal(http_status_vap(rs.status), VAP_E_UNAVAILABLE);
    assert_int_equal(http_retry_after_s(rs.hdrs.retry_after, strlen(rs.hdrs.retry_after), 0), 7);
    http_response_free(&rs);
    http_client_free(c);
}

static void link_header_is_captured(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    char next[256];
    assert_int_equal(get(c, "/link", 5000, NULL, &rs, &err), VAP_OK);
    assert_int_equal(http_link_next(rs.hdrs.link, strlen(rs.hdrs.link), next, sizeof next), 1);
    assert_string_equal(next, "https://127.0.0.1/fhir/Patient?page=2");
    http_response_free(&rs);
    http_client_free(c);
}

static long peak_rss_kb(void)
{
    long kb = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "VmHWM: %ld kB", &kb);
    if (f)
        fclose(f);
    return kb;
}

struct big_result {
    int rc;
    int body_null;
    int message_ok;
    long grew_kb;
    long before_kb;
};

/* Runs in a process of its own (this test binary run again with
 * --big-request), so the peak RSS measured is the client's alone; it is
 * exec'd rather than forked because a fork of this threaded process may copy
 * a lock the server thread held. */
static struct big_result big_request(const char *ca_file, const char *base_url)
{
    struct big_result r;
    memset(&r, 0, sizeof r); /* its padding is written to the pipe too */
    r.rc = 1;
    struct http_client_opts o = {.ca_file = ca_file, .pool_size = 1};
    struct http_client *c = NULL;
    struct http_response rs;
    vap_error err;
    char url[256];
    VAP_INIT(vap_error, err);
    snprintf(url, sizeof url, "%s/ok", base_url);
    struct http_request ok = {.url = url, .deadline_ms = plugin_now_ms() + 20000};
    if (http_client_new(&o, &c, &err) != VAP_OK || http_request_do(c, &ok, &rs, &err) != VAP_OK) {
        http_client_free(c);
        return r;
    }
    http_response_free(&rs);
    r.before_kb = peak_rss_kb();
    snprintf(url, sizeof url, "%s/big", base_url);
    struct http_request rq = {.url = url, .deadline_ms = plugin_now_ms() + 20000,
                              .max_response = 1u << 20};
    VAP_INIT(vap_error, err);
    r.rc = http_request_do(c, &rq, &rs, &err);
    r.grew_kb = peak_rss_kb() - r.before_kb;
    r.body_null = rs.body == NULL;
    r.message_ok = strstr(err.message, "larger than the limit") != NULL;
    http_response_free(&rs);
    http_client_free(c);
    return r;
}

static int big_request_main(const char *ca_file, const char *base_url)
{
    plog_init(&test_host);
    if (http_global_init() != VAP_OK)
        return 1;
    struct big_result r = big_request(ca_file, base_url);
    curl_global_cleanup();
    return write(STDOUT_FILENO, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1;
}

static void big_body_without_length_is_cut_at_the_cap(void **state)
{
    char base[128];
    ts_url(&srv, "", base, sizeof base);
    char *const args[] = {(char *)self_exe, "--big-request", srv.ca_file, base, NULL};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        execv(self_exe, args);
        _exit(127);
    }
    close(fds[1]);
    struct big_result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof r);
    assert_int_equal(r.rc, VAP_E_PROTOCOL);
    assert_true(r.message_ok);
    assert_true(r.body_null);
    assert_true(r.before_kb > 0);
    /* 20 MB were offered; the client grew by far less (cap 1 MB + slack) */
    assert_true(r.grew_kb < 8 * 1024);
    pthread_mutex_lock(&srv.mu);
    uint64_t sent = srv.big_sent;
    pthread_mutex_unlock(&srv.mu);
    assert_true(sent < TS_BIG_BYTES);
}

static void deadline_gives_timeout(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_response rs;
    vap_error err;
    int64_t t0 = mono_ms();
    assert_int_equal(get(c, "/hang", 300, NULL, &rs, &err), VAP_E_TIMEOUT);
    int64_t took = mono_ms() - t0;
    /* /hang never answers, so the timeout is the deadline's doing; the bound
     * only catches a deadline that fired far too late. */
    assert_true(took >= 250);
    assert_true(took < 10000);
    assert_non_null(strstr(err.message, "timeout_ms"));
    http_client_free(c);
}

struct cancel_job {
    struct http_client *c;
    vap_cancel *cancel;
    int rc;
    int64_t ended;
};

static void *cancel_worker(void *arg)
{
    struct cancel_job *j = arg;
    struct http_response rs;
    vap_error err;
    j->rc = get(j->c, "/hang", 30000, j->cancel, &rs, &err);
    j->ended = mono_ms();
    http_response_free(&rs);
    return NULL;
}

static void cancel_from_another_thread_ends_the_request(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct cancel_job j = {.c = c, .cancel = cancel_new()};
    assert_non_null(j.cancel);
    pthread_mutex_lock(&srv.mu);
    int hanging = srv.hanging;
    pthread_mutex_unlock(&srv.mu);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_worker, &j), 0);
    assert_int_equal(ts_wait_hanging(&srv, hanging + 1), 0); /* request in flight */
    int64_t fired = mono_ms();
    cancel_fire(j.cancel);
    pthread_join(t, NULL);
    /* /hang never answers and the deadline is 30 s away: the cancel ended it */
    assert_int_equal(j.rc, VAP_E_CANCELLED);
    assert_true(j.ended - fired < 10000);
    cancel_free(j.cancel);
    http_client_free(c);
}

static void cancel_fired_before_the_call_sends_nothing(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    vap_cancel *k = cancel_new();
    cancel_fire(k);
    cancel_fire(k); /* idempotent */
    struct http_response rs;
    vap_error err;
    unsigned hits = server_count(&srv.hits_ok);
    assert_int_equal(get(c, "/ok", 5000, k, &rs, &err), VAP_E_CANCELLED);
    assert_int_equal(server_count(&srv.hits_ok), hits);
    cancel_free(k);
    http_client_free(c);
}

static void post_form_with_basic_auth_encodes_credentials(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    struct http_form f;
    http_form_init(&f);
    assert_int_equal(http_form_add(&f, "grant_type", "authorization_code"), 0);
    assert_int_equal(http_form_add(&f, "redirect_uri", "http://localhost:8000/cb"), 0);
    char url[256];
    ts_url(&srv, "/echo", url, sizeof url);
    struct http_request rq = {.method = "POST", .url = url, .body = f.buf,
                              .body_len = f.len,
                              .content_type = "application/x-www-form-urlencoded",
                              .basic_user = "my client", .basic_pass = "s:ecret",
                              .deadline_ms = plugin_now_ms() + 5000};
    struct http_response rs;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_OK);
    assert_string_equal(rs.body, "POST");
    /* RFC 6749 §2.3.1: "my+client:s%3Aecret" base64 */
    char expect[128] = "Basic ";
    const char *raw = "my+client:s%3Aecret";
    sodium_bin2base64(expect + 6, sizeof expect - 6, (const unsigned char *)raw,
                      strlen(raw), sodium_base64_VARIANT_ORIGINAL);
    pthread_mutex_lock(&srv.mu);
    assert_string_equal(srv.last_auth, expect);
    assert_string_equal(srv.last_body,
                        "grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb");
    pthread_mutex_unlock(&srv.mu);
    http_response_free(&rs);
    http_form_free(&f);
    assert_null(f.buf);
    http_client_free(c);
}

/* A handle keeps its header list while the token stays the same: a new
 * token, or none, must still go out on the very next request. */
static void a_new_token_goes_out_on_a_reused_handle(void **state)
{
    static const char *const seq[] = {"tok-one", "tok-one", "tok-two", NULL, "tok-one"};
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    char url[256];
    ts_url(&srv, "/echo", url, sizeof url);
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        static const char *const accept[] = {"Accept: application/json"};
        struct http_request rq = {.url = url, .headers = accept, .n_headers = 1,
                                  .bearer = seq[i], .deadline_ms = plugin_now_ms() + 5000};
        struct http_response rs;
        vap_error err;
        char expect[64] = "";
        VAP_INIT(vap_error, err);
        assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_OK);
        if (seq[i] != NULL)
            snprintf(expect, sizeof expect, "Bearer %s", seq[i]);
        pthread_mutex_lock(&srv.mu);
        assert_string_equal(srv.last_auth, expect);
        char ua[sizeof srv.last_ua];
        memcpy(ua, srv.last_ua, sizeof ua);
        pthread_mutex_unlock(&srv.mu);
        assert_string_equal(ua, "vap-openemr"); /* kept in the same list */
        http_response_free(&rs);
    }
    http_client_free(c);
}

/* The User-Agent goes out with every request: one with no headers of its
 * own, and one with Basic credentials (a list never kept); the warm-up's
 * is checked in test_http_warm.c. */
static void every_request_names_the_plugin_as_user_agent(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    char url[256];
    ts_url(&srv, "/echo", url, sizeof url);
    struct http_request bare = {.url = url, .deadline_ms = plugin_now_ms() + 5000};
    struct http_request basic = {.method = "POST", .url = url, .body = "a=b", .body_len = 3,
                                 .content_type = "application/x-www-form-urlencoded",
                                 .basic_user = "u", .basic_pass = "p",
                                 .deadline_ms = plugin_now_ms() + 5000};
    const struct http_request *rqs[] = {&bare, &basic, &bare};
    for (size_t i = 0; i < sizeof rqs / sizeof rqs[0]; i++) {
        struct http_response rs;
        vap_error err;
        VAP_INIT(vap_error, err);
        pthread_mutex_lock(&srv.mu);
        srv.last_ua[0] = '\0';
        pthread_mutex_unlock(&srv.mu);
        assert_int_equal(http_request_do(c, rqs[i], &rs, &err), VAP_OK);
        char ua[sizeof srv.last_ua];
        pthread_mutex_lock(&srv.mu);
        memcpy(ua, srv.last_ua, sizeof ua);
        pthread_mutex_unlock(&srv.mu);
        assert_string_equal(ua, "vap-openemr");
        http_response_free(&rs);
    }
    http_client_free(c);
}

static void methods_switch_cleanly_on_a_reused_handle(void **state)
{
    /* one pooled handle keeps its options between requests: each request
     * must still go out with its own method and body */
    static const struct { const char *method; const char *body; const char *answer; } seq[] = {
        {"POST", "a=1", "POST"}, {"GET", NULL, "GET"}, {"PUT", "{}", "PUT"},
        {"GET", NULL, "GET"}, {"DELETE", NULL, "DELETE"}, {"POST", "b=2", "POST"},
        {"HEAD", NULL, ""}, {"GET", NULL, "GET"},
    };
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    char url[256];
    ts_url(&srv, "/echo", url, sizeof url);
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        struct http_request rq = {.method = seq[i].method, .url = url,
                                  .body = seq[i].body,
                                  .body_len = seq[i].body ? strlen(seq[i].body) : 0,
                                  .content_type = seq[i].body ? "text/plain" : NULL,
                                  .deadline_ms = plugin_now_ms() + 5000};
        struct http_response rs;
        vap_error err;
        VAP_INIT(vap_error, err);
        assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_OK);
        assert_int_equal(rs.status, 200);
        assert_string_equal(rs.body, seq[i].answer);
        pthread_mutex_lock(&srv.mu);
        assert_string_equal(srv.last_body, seq[i].body ? seq[i].body : "");
        pthread_mutex_unlock(&srv.mu);
        http_response_free(&rs);
    }
    http_client_free(c);
}

static void debug_log_redacts_credentials_and_secret_fields(void **state)
{
    struct http_client_opts o = {.ca_file = srv.ca_file, .pool_size = 1, .log_debug = 1};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_client_new(&o, &c, &err), VAP_OK);
    struct http_form f;
    http_form_init(&f);
    http_form_add(&f, "grant_type", "refresh_token");
    http_form_add(&f, "refresh_token", "def50200SECRETREFRESH");
    http_form_add(&f, "client_secret", "CLIENTSECRETVALUE");
    char url[256];
    ts_url(&srv, "/echo?code=AUTHCODEVALUE&state=xyz", url, sizeof url);
    struct http_request rq = {.method = "POST", .url = url, .body = f.buf,
                              .body_len = f.len,
                              .content_type = "application/x-www-form-urlencoded",
                              .bearer = "BEARERTOKENVALUE",
                              .deadline_ms = plugin_now_ms() + 5000};
    struct http_response rs;
    pthread_mutex_lock(&log_mu);
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_OK);
    http_response_free(&rs);
    http_form_free(&f);
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(log_buf, "http POST"));
    assert_non_null(strstr(log_buf, "[redacted]"));
    assert_non_null(strstr(log_buf, "grant_type=refresh_token"));
    /* the query is never logged: FHIR searches carry patient names */
    assert_null(strstr(log_buf, "state=xyz"));
    assert_non_null(strstr(log_buf, "?[query]"));
    assert_null(strstr(log_buf, "SECRETREFRESH"));
    assert_null(strstr(log_buf, "CLIENTSECRETVALUE"));
    assert_null(strstr(log_buf, "AUTHCODEVALUE"));
    assert_null(strstr(log_buf, "BEARERTOKENVALUE"));
    pthread_mutex_unlock(&log_mu);
    http_client_free(c);
}

static void header_with_line_break_is_refused(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 1);
    const char *hdrs[] = {"X-Test: a\r\nInjected: yes"};
    char url[256];
    ts_url(&srv, "/ok", url, sizeof url);
    struct http_request rq = {.url = url, .headers = hdrs, .n_headers = 1,
                              .deadline_ms = plugin_now_ms() + 5000};
    struct http_response rs;
    vap_error err;
    VAP_INIT(vap_error, err);
    assert_int_equal(http_request_do(c, &rq, &rs, &err), VAP_E_INVAL);
    http_client_free(c);
}

struct pool_job {
    struct http_client *c;
    int failures;
};

static void *pool_worker(void *arg)
{
    struct pool_job *j = arg;
    for (int i = 0; i < 10; i++) {
        struct http_response rs;
        vap_error err;
        if (get(j->c, "/ok", 10000, NULL, &rs, &err) != VAP_OK || rs.status != 200)
            j->failures++;
        http_response_free(&rs);
    }
    return NULL;
}

static void concurrent_callers_share_a_small_pool(void **state)
{
    struct http_client *c = client_with(srv.ca_file, NULL, 2);
    struct pool_job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct pool_job){.c = c};
        assert_int_equal(pthread_create(&t[i], NULL, pool_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    http_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--big-request") == 0)
        return big_request_main(argv[2], argv[3]);
    self_exe = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_returns_status_body_and_content_type),
        cmocka_unit_test(sequential_gets_reuse_one_connection),
        cmocka_unit_test(plain_http_is_refused_before_connecting),
        cmocka_unit_test(redirect_is_returned_not_followed),
        cmocka_unit_test(untrusted_ca_is_a_tls_error),
        cmocka_unit_test(wrong_host_name_is_a_tls_error),
        cmocka_unit_test(wrong_pin_is_a_tls_error),
        cmocka_unit_test(right_pin_is_accepted),
        cmocka_unit_test(unreadable_ca_file_is_a_config_error),
        cmocka_unit_test(malformed_pin_is_a_config_error),
        cmocka_unit_test(refused_connection_is_unavailable),
        cmocka_unit_test(proxy_from_the_environment_is_used),
        cmocka_unit_test(server_busy_maps_to_unavailable_with_retry_after),
        cmocka_unit_test(link_header_is_captured),
        cmocka_unit_test(big_body_without_length_is_cut_at_the_cap),
        cmocka_unit_test(deadline_gives_timeout),
        cmocka_unit_test(cancel_from_another_thread_ends_the_request),
        cmocka_unit_test(cancel_fired_before_the_call_sends_nothing),
        cmocka_unit_test(post_form_with_basic_auth_encodes_credentials),
        cmocka_unit_test(methods_switch_cleanly_on_a_reused_handle),
        cmocka_unit_test(a_new_token_goes_out_on_a_reused_handle),
        cmocka_unit_test(every_request_names_the_plugin_as_user_agent),
        cmocka_unit_test(debug_log_redacts_credentials_and_secret_fields),
        cmocka_unit_test(header_with_line_break_is_refused),
        cmocka_unit_test(concurrent_callers_share_a_small_pool),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
