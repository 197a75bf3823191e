/* test_http_noproxy.c - which hosts no_proxy exempts (libcurl 7.88's rules:
 * CIDR, trailing dots, "*" only alone, commas and blanks), and the proxy as
 * messages show it: scheme://host:port, never a user or password, and an
 * unreadable proxy URL refused without echoing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static int exempt(const char *no_proxy, const char *url)
{
    struct http_client c = {0};
    c.proxy = (char *)"http://proxy.example.net:3128";
    c.no_proxy = (char *)no_proxy;
    return http_proxy_for(&c, url)[0] == '\0';
}

static void no_proxy_table(void **state)
{
    (void)state;
    static const struct {
        const char *no_proxy, *url;
        int direct;
    } t[] = {
        {"192.168.0.0/16", "https://192.168.1.20/", 1},
        {"192.168.0.0/16", "https://192.169.1.20/", 0},
        {"10.0.0.0/8", "https://10.1.2.3:8443/apis", 1},
        {"10.0.0.0/8", "https://11.1.2.3/", 0},
        {"10.1.2.3", "https://10.1.2.3/", 1},
        {"10.1.2.3", "https://10.1.2.4/", 0},
        {"0.1.2.3", "https://10.1.2.3/", 0},         /* an address is never a suffix match */
        {"10.0.0.0/33", "https://10.1.2.3/", 0},     /* no such prefix */
        {"172.16.0.0/12", "https://172.31.255.1/", 1},
        {"172.16.0.0/12", "https://172.32.0.1/", 0},
        {"example.org.", "https://emr.example.org/", 1},
        {"example.org", "https://emr.example.org./", 1},
        {".example.org", "https://emr.example.org/", 1},
        {".example.org", "https://example.org/", 1},
        {"example.org", "https://example.org/", 1},
        {"example.org", "https://badexample.org/", 0},
        {"example.org", "https://example.org.evil.net/", 0},
        {"EXAMPLE.org", "https://emr.Example.ORG/", 1},
        {"localhost,*", "https://emr.other.org/", 0},
        {"*", "https://emr.other.org/", 1},
        {" *", "https://emr.other.org/", 0},
        {"localhost\temr.example.org", "https://emr.example.org/", 1},
        {"localhost ,\t example.org", "https://emr.example.org/", 1},
        {"localhost, other.org", "https://emr.example.org/", 0},
        {"fd00::/8", "https://[fd12:3456::1]:8443/", 1},
        {"fd00::/8", "https://[fe80::1]/", 0},
        {"2001:db8::/32", "https://[2001:db8:1::5]/", 1},
        {"2001:db8::/32", "https://[2001:db9::5]/", 0},
        {"::1", "https://[::1]/", 1},
        {"::1", "https://[::2]/", 0},
        {"10.0.0.0/8", "https://ten.example.org/", 0},
        {"", "https://emr.example.org/", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (exempt(t[i].no_proxy, t[i].url) != t[i].direct)
            fail_msg("no_proxy \"%s\" vs %s: want %s", t[i].no_proxy, t[i].url, t[i].direct ? "direct" : "proxy");
}

/* Creates a client with the proxy from https_proxy; returns its code and
 * the message or the proxy as shown. */
static int shown(const char *proxy, char *out, size_t cap)
{
    struct http_client_opts o = {.pool_size = 1};
    struct http_client *c = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    setenv("https_proxy", proxy, 1);
    int rc = http_client_new(&o, &c, &err);
    snprintf(out, cap, "%s", rc == VAP_OK ? c->proxy_shown : err.message);
    http_client_free(c);
    unsetenv("https_proxy");
    return rc;
}

static void proxy_shown_has_no_user_or_password(void **state)
{
    (void)state;
    static const struct {
        const char *proxy, *want, *secret;
    } t[] = {
        {"http://alice:s3cr%23t@proxy.example.net:3128", "http://proxy.example.net:3128 (from https_proxy)", "s3cr"},
        {"http://alice:p%40ss@proxy.example.net:3128/", "http://proxy.example.net:3128 (from https_proxy)", "ss"},
        {"http://al%3Aice:p%3Ass@[::1]:8080", "http://[::1]:8080 (from https_proxy)", "ss"},
        {"socks5h://u:pw@socks.example.net:1080", "socks5h://socks.example.net:1080 (from https_proxy)", "pw"},
        {"proxy.example.net:3128", "http://proxy.example.net:3128 (from https_proxy)", NULL},
        {"http://proxy.example.net", "http://proxy.example.net (from https_proxy)", NULL},
    };
    char out[512];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(shown(t[i].proxy, out, sizeof out), VAP_OK);
        assert_string_equal(out, t[i].want);
        if (t[i].secret != NULL)
            assert_null(strstr(out, t[i].secret));
    }
}

/* A reserved character left unencoded makes the URL unreadable: it is
 * refused, and nothing of it is echoed. */
static void unreadable_proxy_is_refused_without_echoing_it(void **state)
{
    (void)state;
    static const char *const bad[] = {"http://alice:s3cr#t@proxy:3128", "http://alice:p@ss@proxy:3128",
                                      "http://alice:s3cr t@proxy:3128", "http://alice:s3cr/t@proxy:3128"};
    char out[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(shown(bad[i], out, sizeof out), VAP_E_CONFIG);
        assert_string_equal(out, "the proxy in https_proxy is not a URL that can be read (it is not shown here, as "
                                 "it may hold a password): give it as http://HOST:PORT, with any user or password "
                                 "%-encoded");
    }
}

int main(void)
{
    if (http_global_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_proxy_table),
        cmocka_unit_test(proxy_shown_has_no_user_or_password),
        cmocka_unit_test(unreadable_proxy_is_refused_without_echoing_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
