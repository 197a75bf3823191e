/* test_http_body.c - response body buffers: a kept buffer holds nothing of
 * the response it last carried (wiped to the byte before it is kept), only
 * buffers of the pooled size are kept, and at most a bounded number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

/* A buffer taken from the pool is new memory to memcheck (undefined): the
 * test looks at its bytes on purpose. */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define LOOK_AT(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define LOOK_AT(p, n) ((void)0)
#endif

static void a_kept_buffer_comes_back_wiped(void **state)
{
    (void)state;
    size_t cap = 0;
    char *b = http_body_alloc(4096, &cap);
    assert_non_null(b);
    assert_int_equal(cap, HTTP_BODY_POOLED);
    /* a patient's record, then the NUL the HTTP layer puts after it */
    memset(b, 'P', 4095);
    b[4095] = '\0';
    http_body_free(b, 4096);
    char *again = http_body_alloc(100, &cap);
    assert_ptr_equal(again, b); /* the kept one, not a fresh malloc */
    size_t left = 0;
    LOOK_AT(again, 4096);
    for (size_t i = 0; i < 4096; i++)
        left += again[i] != 0;
    assert_int_equal(left, 0);
    http_body_free(again, 0);
}

static void a_large_buffer_is_not_kept(void **state)
{
    (void)state;
    size_t cap = 0;
    char *big = http_body_alloc(HTTP_BODY_POOLED + 1, &cap);
    assert_non_null(big);
    assert_int_equal(cap, HTTP_BODY_POOLED + 1);
    memset(big, 'x', cap);
    unsigned kept = http_body_kept();
    http_body_free(big, cap);
    assert_int_equal(http_body_kept(), kept); /* freed, not kept */
    char *small = http_body_alloc(10, &cap);
    assert_int_equal(cap, HTTP_BODY_POOLED);
    http_body_free(small, 0);
}

/* More released at once than are kept: the rest go back to malloc, so a
 * burst never leaves its whole size held (LeakSanitizer and valgrind see
 * any that were neither kept nor freed). */
static void only_a_bounded_number_are_kept(void **state)
{
    (void)state;
    enum { N = 64 };
    char *b[N];
    for (int i = 0; i < N; i++)
        assert_non_null(b[i] = http_body_alloc(1, NULL));
    assert_int_equal(http_body_kept(), 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(b[i], b[j]); /* never handed out twice */
    for (int i = 0; i < N; i++)
        http_body_free(b[i], 1);
    assert_int_equal(http_body_kept(), HTTP_BODY_KEEP);
    char *one = http_body_alloc(1, NULL);
    assert_int_equal(http_body_kept(), HTTP_BODY_KEEP - 1);
    http_body_free(one, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_kept_buffer_comes_back_wiped),
        cmocka_unit_test(a_large_buffer_is_not_kept),
        cmocka_unit_test(only_a_bounded_number_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
