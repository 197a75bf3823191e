/*
 * test_seal_keyring.c - the keyring format and its editing functions:
 * round trip, each malformed image refused with its own code, rotation
 * states.
 */
#include "seal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static const uint8_t fills[] = {0x11, 0x22, 0x33};

static void parse_then_serialize_gives_the_same_bytes(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_RETIRED, SEAL_KEY_DECRYPT_ONLY, SEAL_KEY_ACTIVE};
    uint8_t img[16 + 64 * 3], *out = NULL;
    size_t len = test_ring_image(fills, states, 3, img), olen = 0;
    seal_keyring *ring;
    seal_err err;
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_parse(img, len, ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_count(ring), 3);
    assert_int_equal(seal_keyring_serialize(ring, &out, &olen, &err), SEAL_OK);
    assert_int_equal(olen, len);
    assert_memory_equal(out, img, len);
    sodium_free(out);
    seal_keyring_free(ring);
}

struct bad_case {
    const char *name;
    size_t offset; /* byte to overwrite */
    uint8_t value;
    int want;
};

static void malformed_keyrings_are_refused_with_their_own_code(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_DECRYPT_ONLY, SEAL_KEY_ACTIVE};
    static const struct bad_case cases[] = {
        {"magic", 0, 'X', SEAL_E_FORMAT},
        {"version", 7, 2, SEAL_E_VERSION},
        {"header flags", 12, 1, SEAL_E_VERSION},
        {"count zero", 8, 0, SEAL_E_FORMAT},
        {"count too big", 8, 33, SEAL_E_FORMAT},
        {"count 3 for 2 entries", 8, 3, SEAL_E_FORMAT},
        {"count 1 for 2 entries", 8, 1, SEAL_E_TOO_BIG},
        {"state 0", 16 + 16, 0, SEAL_E_FORMAT},
        {"state 4", 16 + 16, 4, SEAL_E_FORMAT},
        {"entry reserved", 16 + 20, 1, SEAL_E_FORMAT},
        {"key id", 16 + 3, 0xAA, SEAL_E_AUTH},
        {"key byte", 16 + 40, 0xAA, SEAL_E_AUTH},
        {"two active", 16 + 16, SEAL_KEY_ACTIVE, SEAL_E_FORMAT},
        {"no active", 16 + 64 + 16, SEAL_KEY_RETIRED, SEAL_E_FORMAT},
    };
    seal_keyring *ring;
    seal_err err;
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t img[16 + 64 * 2];
        size_t len = test_ring_image(fills, states, 2, img);
        img[cases[i].offset] = cases[i].value;
        int rc = seal_keyring_parse(img, len, ring, &err);
        if (rc != cases[i].want)
            fail_msg("%s: got %d (%s), want %d", cases[i].name, rc, err.message, cases[i].want);
    }
    seal_keyring_free(ring);
}

static void duplicate_key_is_refused(void **state)
{
    (void)state;
    static const uint8_t same[] = {0x11, 0x11};
    static const int states[] = {SEAL_KEY_DECRYPT_ONLY, SEAL_KEY_ACTIVE};
    uint8_t img[16 + 64 * 2];
    size_t len = test_ring_image(same, states, 2, img);
    seal_keyring *ring;
    seal_err err;
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_parse(img, len, ring, &err), SEAL_E_FORMAT);
    seal_keyring_free(ring);
}

static void truncation_at_every_length_is_refused(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_DECRYPT_ONLY, SEAL_KEY_ACTIVE};
    uint8_t img[16 + 64 * 2];
    size_t len = test_ring_image(fills, states, 2, img);
    seal_keyring *ring;
    seal_err err;
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, img, n);
        if (seal_keyring_parse(copy, n, ring, &err) == SEAL_OK)
            fail_msg("keyring truncated to %zu bytes was accepted", n);
        free(copy);
    }
    seal_keyring_free(ring);
}

static void add_active_demotes_the_old_key_and_retire_retires_it(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_ACTIVE};
    seal_keyring *ring = test_ring(fills, states, 1);
    uint8_t id[SEAL_KEY_ID_BYTES], got[SEAL_KEY_ID_BYTES];
    int st;
    uint64_t created;
    seal_err err;
    assert_int_equal(seal_keyring_add_active(ring, 1234, id, &err), SEAL_OK);
    assert_int_equal(seal_keyring_count(ring), 2);
    assert_int_equal(seal_keyring_entry(ring, 0, got, &st, &created), SEAL_OK);
    assert_int_equal(st, SEAL_KEY_DECRYPT_ONLY);
    assert_int_equal(seal_keyring_entry(ring, 1, got, &st, &created), SEAL_OK);
    assert_int_equal(st, SEAL_KEY_ACTIVE);
    assert_int_equal(created, 1234);
    assert_memory_equal(got, id, SEAL_KEY_ID_BYTES);
    seal_keyring_retire_decrypt_only(ring);
    assert_int_equal(seal_keyring_entry(ring, 0, got, &st, &created), SEAL_OK);
    assert_int_equal(st, SEAL_KEY_RETIRED);
    seal_keyring_free(ring);
}

static void full_keyring_drops_its_oldest_retired_key(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_ACTIVE};
    seal_keyring *ring = test_ring(fills, states, 1);
    uint8_t first[SEAL_KEY_ID_BYTES], got[SEAL_KEY_ID_BYTES];
    int st;
    uint64_t created;
    seal_err err;
    assert_int_equal(seal_keyring_entry(ring, 0, first, &st, &created), SEAL_OK);
    for (unsigned i = 0; i < SEAL_KEYRING_MAX_KEYS + 3; i++) {
        assert_int_equal(seal_keyring_add_active(ring, i, NULL, &err), SEAL_OK);
        seal_keyring_retire_decrypt_only(ring);
    }
    assert_int_equal(seal_keyring_count(ring), SEAL_KEYRING_MAX_KEYS);
    assert_int_equal(seal_keyring_entry(ring, 0, got, &st, &created), SEAL_OK);
    assert_memory_not_equal(got, first, SEAL_KEY_ID_BYTES);
    seal_keyring_free(ring);
}

static void full_keyring_without_retired_keys_refuses_a_new_key(void **state)
{
    (void)state;
    static const int states[] = {SEAL_KEY_ACTIVE};
    seal_keyring *ring = test_ring(fills, states, 1);
    seal_err err;
    for (unsigned i = 1; i < SEAL_KEYRING_MAX_KEYS; i++)
        assert_int_equal(seal_keyring_add_active(ring, i, NULL, &err), SEAL_OK);
    assert_int_equal(seal_keyring_add_active(ring, 99, NULL, &err), SEAL_E_INVAL);
    seal_keyring_free(ring);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_then_serialize_gives_the_same_bytes),
        cmocka_unit_test(malformed_keyrings_are_refused_with_their_own_code),
        cmocka_unit_test(duplicate_key_is_refused),
        cmocka_unit_test(truncation_at_every_length_is_refused),
        cmocka_unit_test(add_active_demotes_the_old_key_and_retire_retires_it),
        cmocka_unit_test(full_keyring_drops_its_oldest_retired_key),
        cmocka_unit_test(full_keyring_without_retired_keys_refuses_a_new_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
