/* test_b64url.c - strict base64url: RFC 4648 vectors, refusals, round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jose/b64url.h"

static void decodes_rfc4648_vectors(void **state)
{
    static const struct { const char *enc, *dec; } cases[] = {
        {"", ""}, {"Zg", "f"}, {"Zm8", "fo"}, {"Zm9v", "foo"},
        {"Zm9vYg", "foob"}, {"Zm9vYmE", "fooba"}, {"Zm9vYmFy", "foobar"},
        {"-_8", "\xfb\xff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[16];
        size_t n = 99;
        assert_int_equal(b64url_decode(cases[i].enc, strlen(cases[i].enc), out, sizeof out, &n), 0);
        assert_int_equal(n, strlen(cases[i].dec));
        assert_memory_equal(out, cases[i].dec, n);
    }
}

static void refuses_non_canonical_and_foreign_input(void **state)
{
    static const char *const bad[] = {
        "Zg==", "Zm8=", "Zg=",    /* padding */
        "Zm9 v", "Zm9v\n", " Zg", /* whitespace */
        "Zm9+", "Zm9/",           /* the standard alphabet */
        "Z", "Zm9vY",             /* length 1 mod 4 */
        "Zh", "QR",               /* non-zero unused bits ("Zg", "QQ" are canonical) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        size_t n;
        assert_int_not_equal(b64url_decode(bad[i], strlen(bad[i]), out, sizeof out, &n), 0);
    }
    unsigned char out[4];
    size_t n;
    assert_int_not_equal(b64url_decode("Zm\0v", 4, out, sizeof out, &n), 0);
    assert_int_equal(b64url_decode("QQ", 2, out, sizeof out, &n), 0);
}

static void refuses_output_buffer_too_small(void **state)
{
    unsigned char out[5];
    size_t n;
    assert_int_not_equal(b64url_decode("Zm9vYmFy", 8, out, sizeof out, &n), 0);
    assert_int_equal(b64url_decode("Zm9vYmE", 7, out, sizeof out, &n), 0);
}

static void encode_then_decode_round_trips(void **state)
{
    unsigned char in[64] = {0}, back[64];
    char enc[100];
    for (size_t len = 0; len <= sizeof in; len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 37 + len);
        assert_int_equal(b64url_encode(in, len, enc, sizeof enc), 0);
        assert_int_equal(strlen(enc), B64URL_ENCODED_LEN(len));
        assert_null(strchr(enc, '='));
        size_t n;
        assert_int_equal(b64url_decode(enc, strlen(enc), back, sizeof back, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(back, in, len);
    }
}

static void encode_refuses_small_output(void **state)
{
    char out[4];
    assert_int_not_equal(b64url_encode((const unsigned char *)"foo", 3, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_rfc4648_vectors),
        cmocka_unit_test(refuses_non_canonical_and_foreign_input),
        cmocka_unit_test(refuses_output_buffer_too_small),
        cmocka_unit_test(encode_then_decode_round_trips),
        cmocka_unit_test(encode_refuses_small_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
