/* test_http_hdr.c - response header lines, Retry-After and Link parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/http_hdr.h"

static int feed(struct http_hdrs *h, const char *line)
{
    return http_hdr_feed(h, line, strlen(line));
}

static void captures_headers_of_interest_case_insensitively(void **state)
{
    struct http_hdrs h;
    http_hdr_init(&h);
    assert_int_equal(feed(&h, "HTTP/1.1 401 Unauthorized\r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "content-TYPE:  application/json; charset=UTF-8 \r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "Retry-After: 30\r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "X-Other: ignored\r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "\r\n"), HTTP_HDR_OK);
    assert_int_equal(h.status, 401);
    assert_string_equal(h.content_type, "application/json; charset=UTF-8");
    assert_string_equal(h.www_authenticate, "Bearer error=\"invalid_token\"");
    assert_string_equal(h.retry_after, "30");
}

static void interim_response_headers_are_forgotten(void **state)
{
    struct http_hdrs h;
    http_hdr_init(&h);
    feed(&h, "HTTP/1.1 100 Continue\r\n");
    feed(&h, "Link: <https://a/1>; rel=\"next\"\r\n");
    feed(&h, "\r\n");
    feed(&h, "HTTP/1.1 200 OK\r\n");
    assert_int_equal(h.status, 200);
    assert_string_equal(h.link, "");
}

static void several_link_headers_are_joined(void **state)
{
    struct http_hdrs h;
    http_hdr_init(&h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    feed(&h, "Link: <https://a/self>; rel=\"self\"\r\n");
    feed(&h, "link: <https://a/2>; rel=next\r\n");
    assert_string_equal(h.link, "<https://a/self>; rel=\"self\", <https://a/2>; rel=next");
}

static void malformed_lines_are_refused(void **state)
{
    static const char *const bad[] = {
        "no colon here\r\n", ": empty name\r\n", "Link Bad: x\r\n", "Content-Type : x\r\n",
        "Content-Type: a\x01b\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 20\r\n",
        "HTTP/1.1 099 Low\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_hdrs h;
        http_hdr_init(&h);
        assert_int_equal(feed(&h, bad[i]), HTTP_HDR_MALFORMED);
    }
}

static void headers_we_do_not_keep_are_not_interpreted(void **state)
{
    struct http_hdrs h;
    http_hdr_init(&h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    assert_int_equal(feed(&h, "X-Odd Name: \x01\r\n"), HTTP_HDR_OK);
    assert_int_equal(feed(&h, "Set-Cookie: a=b\r\n"), HTTP_HDR_OK);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.content_type, "");
}

static void oversized_values_and_blocks_are_refused(void **state)
{
    static char line[HTTP_HDR_LINK_MAX + 64];
    struct http_hdrs h;
    http_hdr_init(&h);
    memcpy(line, "Content-Type: ", 14);
    memset(line + 14, 'a', HTTP_HDR_CT_MAX);
    line[14 + HTTP_HDR_CT_MAX] = '\0';
    assert_int_equal(feed(&h, line), HTTP_HDR_TOO_BIG);

    http_hdr_init(&h);
    int rc = HTTP_HDR_OK;
    for (int i = 0; i < 100000 && rc == HTTP_HDR_OK; i++)
        rc = feed(&h, "X-Filler: 0123456789012345678901234567890123456789\r\n");
    assert_int_equal(rc, HTTP_HDR_TOO_BIG);
}

static void retry_after_parses_seconds_and_dates(void **state)
{
    static const struct { const char *v; int64_t now; int want; } cases[] = {
        {"120", 0, 120},
        {"0", 0, 0},
        {"999999999", 0, 86400},                             /* clamped */
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784111717, 60},  /* 60 s ahead */
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784111800, 0},   /* in the past */
        {"Sunday, 06-Nov-94 08:49:37 GMT", 0, -1},         /* obsolete form */
        {"12a", 0, -1}, {"", 0, -1}, {"-5", 0, -1},
        {"Sun, 06 Foo 1994 08:49:37 GMT", 0, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(http_retry_after_s(cases[i].v, strlen(cases[i].v), cases[i].now),
                         cases[i].want);
}

static void link_next_is_found_among_relations(void **state)
{
    static const struct { const char *v; int rc; const char *uri; } cases[] = {
        {"<https://h/fhir/Patient?_page=2>; rel=\"next\"", 1, "https://h/fhir/Patient?_page=2"},
        {"<https://h/a>; rel=\"self\", <https://h/b>; rel=\"next\"", 1, "https://h/b"},
        {"<https://h/a>;rel=next", 1, "https://h/a"},
        {"<https://h/a>; rel=\"prev next\"", 1, "https://h/a"},
        {"<https://h/a>; title=\"a,b\"; rel=\"NEXT\"", 1, "https://h/a"},
        {"<https://h/a>; rel=\"self\"", 0, ""},
        {"", 0, ""},
        {"https://h/a; rel=next", -1, ""},
        {"<https://h/a; rel=next", -1, ""},
        {"<https://h/a>; rel=\"next", -1, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64] = "";
        assert_int_equal(http_link_next(cases[i].v, strlen(cases[i].v), out, sizeof out),
                         cases[i].rc);
        if (cases[i].rc == 1)
            assert_string_equal(out, cases[i].uri);
    }
}

static void link_next_longer_than_the_buffer_is_refused(void **state)
{
    char out[8];
    const char *v = "<https://h/very/long>; rel=next";
    assert_int_equal(http_link_next(v, strlen(v), out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(captures_headers_of_interest_case_insensitively),
        cmocka_unit_test(interim_response_headers_are_forgotten),
        cmocka_unit_test(several_link_headers_are_joined),
        cmocka_unit_test(malformed_lines_are_refused),
        cmocka_unit_test(headers_we_do_not_keep_are_not_interpreted),
        cmocka_unit_test(oversized_values_and_blocks_are_refused),
        cmocka_unit_test(retry_after_parses_seconds_and_dates),
        cmocka_unit_test(link_next_is_found_among_relations),
        cmocka_unit_test(link_next_longer_than_the_buffer_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
