/*
 * test_seal_format.c - the VSEAL v1 format: round trips, tamper detection
 * on every header byte, each refusal with its own error code, truncation
 * at every length, and the checked-in golden file (argv[1] = golden dir).
 */
#include "seal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static const char *golden_dir;
static const uint8_t fill_a[] = {0x42}, fill_b[] = {0x17};
static const int st_active[] = {SEAL_KEY_ACTIVE};
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct fx {
    seal_keyring *ring;
    seal_secret *s;
    uint8_t file[SEAL_FILE_MAX];
    size_t len;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    seal_err err;
    f->ring = test_ring(fill_a, st_active, 1);
    assert_int_equal(seal_secret_new(&f->s, &err), SEAL_OK);
    const char *v = "s3cret-value";
    assert_int_equal(seal_format_seal(f->ring, "client_secret", &bind_ok, 1700000000, 5, (const uint8_t *)v,
                                      strlen(v), f->file, sizeof f->file, &f->len, &err),
                     SEAL_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    seal_secret_free(f->s);
    seal_keyring_free(f->ring);
    free(f);
    return 0;
}

static int fx_open(struct fx *f, const uint8_t *buf, size_t len, const char *purpose, seal_err *err)
{
    return seal_format_open(f->ring, purpose, &bind_ok, buf, len, f->s, err);
}

static void round_trip_returns_value_generation_and_binding(void **state)
{
    struct fx *f = *state;
    seal_err err;
    seal_binding b;
    assert_int_equal(fx_open(f, f->file, f->len, "client_secret", &err), SEAL_OK);
    assert_int_equal(seal_secret_size(f->s), strlen("s3cret-value"));
    assert_memory_equal(seal_secret_data(f->s), "s3cret-value", strlen("s3cret-value"));
    assert_int_equal(seal_secret_generation(f->s), 5);
    assert_int_equal(seal_secret_created(f->s), 1700000000);
    assert_int_equal(seal_secret_binding(f->s, &b), SEAL_OK);
    assert_string_equal(b.issuer, TEST_ISSUER);
    assert_string_equal(b.client_id, TEST_CLIENT);
}

static void round_trip_of_binary_values_of_many_sizes(void **state)
{
    struct fx *f = *state;
    static const size_t sizes[] = {1, 2, 255, 256, 257, 4096, SEAL_VALUE_MAX};
    static uint8_t v[SEAL_VALUE_MAX], out[SEAL_FILE_MAX];
    seal_err err;
    for (size_t i = 0; i < sizeof v; i++)
        v[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = 0;
        assert_int_equal(seal_format_seal(f->ring, "grant", &bind_ok, 1, 1, v, sizes[i], out, sizeof out, &len, &err),
                         SEAL_OK);
        assert_int_equal(fx_open(f, out, len, "grant", &err), SEAL_OK);
        assert_int_equal(seal_secret_size(f->s), sizes[i]);
        assert_memory_equal(seal_secret_data(f->s), v, sizes[i]);
    }
}

static void padding_hides_the_length_of_short_secrets(void **state)
{
    struct fx *f = *state;
    uint8_t a[SEAL_FILE_MAX], b[SEAL_FILE_MAX];
    size_t la = 0, lb = 0;
    seal_err err;
    assert_int_equal(seal_format_seal(f->ring, "grant", &bind_ok, 1, 1, (const uint8_t *)"x", 1, a, sizeof a, &la, &err),
                     SEAL_OK);
    assert_int_equal(seal_format_seal(f->ring, "grant", &bind_ok, 1, 1, (const uint8_t *)"0123456789abcdef0123456789",
                                      26, b, sizeof b, &lb, &err),
                     SEAL_OK);
    assert_int_equal(la, lb);
}

static void every_header_byte_flipped_is_rejected(void **state)
{
    struct fx *f = *state;
    seal_err err;
    size_t hlen = 43 + strlen("client_secret") + 24;
    for (size_t i = 0; i < hlen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t copy[SEAL_FILE_MAX];
            memcpy(copy, f->file, f->len);
            copy[i] ^= (uint8_t)(1u << bit);
            int rc = fx_open(f, copy, f->len, "client_secret", &err);
            if (rc == SEAL_OK)
                fail_msg("flipping bit %d of header byte %zu was not detected", bit, i);
            assert_null(seal_secret_data(f->s));
        }
    }
}

static void tampered_ciphertext_is_an_authentication_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t copy[SEAL_FILE_MAX];
    for (size_t i = 43 + 13 + 24; i < f->len; i += 17) {
        memcpy(copy, f->file, f->len);
        copy[i] ^= 0x01;
        assert_int_equal(fx_open(f, copy, f->len, "client_secret", &err), SEAL_E_AUTH);
    }
}

static void wrong_purpose_is_a_purpose_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    assert_int_equal(fx_open(f, f->file, f->len, "grant", &err), SEAL_E_PURPOSE);
    assert_non_null(strstr(err.message, "client_secret"));
}

static void wrong_key_is_a_key_unknown_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    seal_keyring *other = test_ring(fill_b, st_active, 1);
    assert_int_equal(seal_format_open(other, "client_secret", &bind_ok, f->file, f->len, f->s, &err),
                     SEAL_E_KEY_UNKNOWN);
    assert_non_null(strstr(err.message, "not in this keyring"));
    seal_keyring_free(other);
}

static void unknown_key_id_is_a_key_unknown_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t copy[SEAL_FILE_MAX];
    memcpy(copy, f->file, f->len);
    memset(copy + 9, 0xEE, 16);
    assert_int_equal(fx_open(f, copy, f->len, "client_secret", &err), SEAL_E_KEY_UNKNOWN);
}

static void retired_key_is_a_key_retired_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    static const uint8_t fill[] = {0x17, 0x42};
    static const int states[] = {SEAL_KEY_ACTIVE, SEAL_KEY_RETIRED};
    seal_keyring *ring = test_ring(fill, states, 2);
    assert_int_equal(seal_format_open(ring, "client_secret", &bind_ok, f->file, f->len, f->s, &err),
                     SEAL_E_KEY_RETIRED);
    seal_keyring_free(ring);
}

static void decrypt_only_key_still_opens(void **state)
{
    struct fx *f = *state;
    seal_err err;
    static const uint8_t fill[] = {0x17, 0x42};
    static const int states[] = {SEAL_KEY_ACTIVE, SEAL_KEY_DECRYPT_ONLY};
    seal_keyring *ring = test_ring(fill, states, 2);
    assert_int_equal(seal_format_open(ring, "client_secret", &bind_ok, f->file, f->len, f->s, &err), SEAL_OK);
    seal_keyring_free(ring);
}

static void truncation_at_every_length_is_rejected(void **state)
{
    struct fx *f = *state;
    seal_err err;
    for (size_t len = 0; len < f->len; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
        memcpy(copy, f->file, len);
        int rc = fx_open(f, copy, len, "client_secret", &err);
        if (rc != SEAL_E_FORMAT && rc != SEAL_E_AUTH)
            fail_msg("truncation to %zu bytes gave %d (%s)", len, rc, err.message);
        free(copy);
    }
}

static void extended_file_is_rejected(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t copy[SEAL_FILE_MAX];
    memcpy(copy, f->file, f->len);
    copy[f->len] = 0;
    assert_int_equal(fx_open(f, copy, f->len + 1, "client_secret", &err), SEAL_E_FORMAT);
    memset(copy + f->len, 0, SEAL_PAD_BLOCK);
    assert_int_equal(fx_open(f, copy, f->len + SEAL_PAD_BLOCK, "client_secret", &err), SEAL_E_AUTH);
}

static void oversize_file_is_a_too_big_error(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t *big = calloc(1, SEAL_FILE_MAX + 1);
    memcpy(big, f->file, f->len);
    assert_int_equal(fx_open(f, big, SEAL_FILE_MAX + 1, "client_secret", &err), SEAL_E_TOO_BIG);
    free(big);
}

static void oversize_value_is_refused_when_sealing(void **state)
{
    struct fx *f = *state;
    seal_err err;
    static uint8_t v[SEAL_VALUE_MAX + 1], out[SEAL_FILE_MAX];
    size_t len;
    assert_int_equal(seal_format_seal(f->ring, "grant", &bind_ok, 1, 1, v, sizeof v, out, sizeof out, &len, &err),
                     SEAL_E_TOO_BIG);
}

static void empty_value_is_refused_when_sealing(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t out[SEAL_FILE_MAX];
    size_t len;
    assert_int_equal(seal_format_seal(f->ring, "grant", &bind_ok, 1, 1, (const uint8_t *)"", 0, out, sizeof out, &len,
                                      &err),
                     SEAL_E_INVAL);
}

static void missing_binding_is_refused_when_sealing(void **state)
{
    struct fx *f = *state;
    seal_err err;
    uint8_t out[SEAL_FILE_MAX];
    size_t len;
    seal_binding no_client = {TEST_ISSUER, NULL};
    assert_int_equal(seal_format_seal(f->ring, "grant", &no_client, 1, 1, (const uint8_t *)"v", 1, out, sizeof out,
                                      &len, &err),
                     SEAL_E_INVAL);
}

struct header_case {
    const char *name;
    size_t offset;
    uint8_t value;
    int want;
};

static void unknown_version_algorithm_or_flags_is_a_version_error(void **state)
{
    struct fx *f = *state;
    static const struct header_case cases[] = {
        {"version 2", 5, 2, SEAL_E_VERSION}, {"version 0", 5, 0, SEAL_E_VERSION},
        {"aead 2", 6, 2, SEAL_E_VERSION},    {"kdf 1", 7, 1, SEAL_E_VERSION},
        {"flags 1", 8, 1, SEAL_E_VERSION},   {"flags 0x80", 8, 0x80, SEAL_E_VERSION},
        {"magic", 0, 'X', SEAL_E_FORMAT},
    };
    seal_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t copy[SEAL_FILE_MAX];
        memcpy(copy, f->file, f->len);
        copy[cases[i].offset] = cases[i].value;
        int rc = fx_open(f, copy, f->len, "client_secret", &err);
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].name, rc, cases[i].want);
    }
}

static void binding_mismatch_is_a_binding_error(void **state)
{
    struct fx *f = *state;
    static const seal_binding cases[] = {
        {"https://other.example.org/oauth2/default", TEST_CLIENT},
        {TEST_ISSUER "/", TEST_CLIENT},
        {TEST_ISSUER, "other-client"},
        {TEST_ISSUER, "test-clien"},
    };
    seal_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(seal_format_open(f->ring, "client_secret", &cases[i], f->file, f->len, f->s, &err),
                         SEAL_E_BINDING);
        assert_null(seal_secret_data(f->s));
    }
}

static void header_parse_reads_generation_without_the_key(void **state)
{
    struct fx *f = *state;
    seal_header h;
    seal_err err;
    assert_int_equal(seal_header_parse(f->file, 43 + 13 + 24, &h, &err), SEAL_OK);
    assert_int_equal(h.generation, 5);
    assert_string_equal(h.purpose, "client_secret");
}

static void error_messages_never_contain_the_secret(void **state)
{
    struct fx *f = *state;
    seal_err err;
    seal_binding other = {TEST_ISSUER, "other"};
    assert_int_equal(seal_format_open(f->ring, "client_secret", &other, f->file, f->len, f->s, &err), SEAL_E_BINDING);
    assert_null(strstr(err.message, "s3cret"));
}

/* Seals, under the header of f->file (client_secret, key 0x42), a payload
 * built by hand: what a writer other than seal_format_seal could produce.
 * Layout (seal_format.c): u8 1 | u16 ilen | issuer | u16 clen | client_id
 * | u32 vlen | value, sodium_pad'ed to 256. */
static size_t reseal_payload(struct fx *f, size_t ilen, size_t clen, uint8_t *out, size_t cap)
{
    static uint8_t p[SEAL_FILE_MAX];
    const size_t hlen = 43 + strlen("client_secret") + 24;
    const char *value = "hello";
    size_t raw = 1 + 2 + ilen + 2 + clen + 4 + strlen(value), padded = 0;
    assert_true(raw + 256 + hlen + 16 <= cap);
    p[0] = 1;
    p[1] = (uint8_t)ilen, p[2] = (uint8_t)(ilen >> 8);
    memset(p + 3, 'i', ilen);
    p[3 + ilen] = (uint8_t)clen, p[4 + ilen] = (uint8_t)(clen >> 8);
    memset(p + 5 + ilen, 'c', clen);
    uint32_t vl = (uint32_t)strlen(value);
    for (int i = 0; i < 4; i++)
        p[5 + ilen + clen + i] = (uint8_t)(vl >> (8 * i));
    memcpy(p + 9 + ilen + clen, value, vl);
    assert_int_equal(sodium_pad(&padded, p, raw, 256, sizeof p), 0);
    uint8_t master[32], enc[32];
    memset(master, fill_a[0], sizeof master);
    assert_int_equal(crypto_kdf_derive_from_key(enc, sizeof enc, 1, "VSEALenc", master), 0);
    memcpy(out, f->file, hlen);
    unsigned long long clen_out = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + hlen, &clen_out, p, padded, out, hlen, NULL,
                                               out + 43 + strlen("client_secret"), enc);
    return hlen + (size_t)clen_out;
}

static void sealed_issuer_longer_than_binding_max_is_refused_not_overflowed(void **state)
{
    struct fx *f = *state;
    static uint8_t file[SEAL_FILE_MAX];
    static const size_t cases[][2] = {
        {12000, 11}, {SEAL_BINDING_MAX + 1, 11}, {11, 12000}, {11, SEAL_BINDING_MAX + 1},
        {SEAL_BINDING_MAX + 1, SEAL_BINDING_MAX + 1}, {0, 11}, {11, 0},
    };
    seal_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = reseal_payload(f, cases[i][0], cases[i][1], file, sizeof file);
        assert_int_equal(seal_format_open(f->ring, "client_secret", NULL, file, len, f->s, &err), SEAL_E_FORMAT);
        assert_null(seal_secret_data(f->s));
    }
    /* Both at the limit still open (the tail holds exactly that). */
    size_t len = reseal_payload(f, SEAL_BINDING_MAX, SEAL_BINDING_MAX, file, sizeof file);
    assert_int_equal(seal_format_open(f->ring, "client_secret", NULL, file, len, f->s, &err), SEAL_OK);
    seal_binding b;
    assert_int_equal(seal_secret_binding(f->s, &b), SEAL_OK);
    assert_int_equal(strlen(b.issuer), SEAL_BINDING_MAX);
    assert_int_equal(strlen(b.client_id), SEAL_BINDING_MAX);
}

static void every_error_code_has_its_own_name(void **state)
{
    (void)state;
    for (int a = SEAL_E_BUSY; a <= SEAL_OK; a++) {
        assert_string_not_equal(seal_strerror(a), "unknown error");
        for (int b = a + 1; b <= SEAL_OK; b++)
            assert_string_not_equal(seal_strerror(a), seal_strerror(b));
    }
    assert_string_equal(seal_strerror(SEAL_E_BUSY - 1), "unknown error");
    assert_string_equal(seal_strerror(1), "unknown error");
    seal_err err;
    assert_int_equal(seal_init(&err), SEAL_OK);
}

static void golden_file_opens_to_the_recorded_value(void **state)
{
    (void)state;
    char path[4096];
    size_t len = 0, rlen = 0;
    seal_err err;
    seal_secret *s;
    seal_keyring *ring;
    snprintf(path, sizeof path, "%s/keyring", golden_dir);
    uint8_t *rimg = test_read_file(path, &rlen);
    assert_non_null(rimg);
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_parse(rimg, rlen, ring, &err), SEAL_OK);
    snprintf(path, sizeof path, "%s/client_secret.vseal", golden_dir);
    uint8_t *file = test_read_file(path, &len);
    assert_non_null(file);
    assert_int_equal(seal_secret_new(&s, &err), SEAL_OK);
    assert_int_equal(seal_format_open(ring, "client_secret", &bind_ok, file, len, s, &err), SEAL_OK);
    assert_int_equal(seal_secret_size(s), strlen("golden-client-secret"));
    assert_memory_equal(seal_secret_data(s), "golden-client-secret", strlen("golden-client-secret"));
    assert_int_equal(seal_secret_generation(s), 7);
    assert_int_equal(seal_secret_created(s), 1700000000);

    /* The writer still produces the same layout: everything but the nonce
     * and ciphertext is byte-identical, and so is the length. */
    uint8_t fresh[SEAL_FILE_MAX];
    size_t flen = 0;
    assert_int_equal(seal_format_seal(ring, "client_secret", &bind_ok, 1700000000, 7,
                                      (const uint8_t *)"golden-client-secret", strlen("golden-client-secret"), fresh,
                                      sizeof fresh, &flen, &err),
                     SEAL_OK);
    assert_int_equal(flen, len);
    assert_memory_equal(fresh, file, 43 + strlen("client_secret"));

    /* And the keyring image format has not drifted either. */
    uint8_t img[16 + 64];
    assert_int_equal(test_ring_image(fill_a, st_active, 1, img), rlen);
    assert_memory_equal(img, rimg, rlen);
    seal_secret_free(s);
    seal_keyring_free(ring);
    free(file);
    free(rimg);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_returns_value_generation_and_binding, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(round_trip_of_binary_values_of_many_sizes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(padding_hides_the_length_of_short_secrets, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(every_header_byte_flipped_is_rejected, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(tampered_ciphertext_is_an_authentication_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(wrong_purpose_is_a_purpose_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(wrong_key_is_a_key_unknown_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_key_id_is_a_key_unknown_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(retired_key_is_a_key_retired_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(decrypt_only_key_still_opens, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(truncation_at_every_length_is_rejected, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(extended_file_is_rejected, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(oversize_file_is_a_too_big_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(oversize_value_is_refused_when_sealing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(empty_value_is_refused_when_sealing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(missing_binding_is_refused_when_sealing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_version_algorithm_or_flags_is_a_version_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(binding_mismatch_is_a_binding_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(header_parse_reads_generation_without_the_key, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(error_messages_never_contain_the_secret, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(sealed_issuer_longer_than_binding_max_is_refused_not_overflowed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(every_error_code_has_its_own_name),
        cmocka_unit_test(golden_file_opens_to_the_recorded_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
