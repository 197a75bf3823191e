/*
 * test_seal_keys.c - the client's signing keys: the key-set record, RFC 7638
 * thumbprints, and vap-seal keygen / jwks / promote as an admin runs them
 * (argv[2] = the vap-seal binary).  kids are recomputed here from the printed
 * public members; the private key never appears in any output.
 */
#include "seal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "clientkey.h"

static const char *vap_seal;
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct env {
    char dir[4096], keyring[4200], store[4200];
    char out[32768], err[16384];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    test_tmpdir(e->dir, "keys");
    snprintf(e->keyring, sizeof e->keyring, "%s/ring", e->dir);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    *state = e;
    char *argv[] = {(char *)vap_seal, "init", "--keyring", e->keyring, NULL};
    return test_run(argv, NULL, 0, e->out, sizeof e->out, e->err, sizeof e->err, NULL) == 0 &&
                   mkdir(e->store, 0700) == 0
               ? 0
               : -1;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    test_rmrf(e->dir);
    free(e);
    return 0;
}

/* vap-seal CMD with the store, keyring and binding, then up to 4 more args. */
static int vs(struct env *e, const char *client, const char *cmd, ...)
{
    char *argv[20];
    int n = 0;
    argv[n++] = (char *)vap_seal;
    argv[n++] = (char *)cmd;
    argv[n++] = "--keyring";
    argv[n++] = e->keyring;
    argv[n++] = "--store";
    argv[n++] = e->store;
    if (client != NULL) {
        argv[n++] = "--issuer";
        argv[n++] = TEST_ISSUER;
        argv[n++] = "--client-id";
        argv[n++] = (char *)client;
    }
    va_list ap;
    va_start(ap, cmd);
    for (const char *a; n < 18 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return test_run(argv, NULL, 0, e->out, sizeof e->out, e->err, sizeof e->err, NULL);
}

static json_t *jwks(struct env *e)
{
    assert_int_equal(vs(e, NULL, "jwks", NULL), 0);
    json_t *j = json_loads(e->out, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    return j;
}

static size_t b64len(const char *s)
{
    unsigned char buf[1024];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(buf, sizeof buf, s, strlen(s), NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    return n;
}

/* RFC 7638 §3 computed here from the JWK's members, not by the library. */
static void assert_kid_is_thumbprint(const json_t *k)
{
    char canon[2048], want[64];
    unsigned char h[32];
    const char *kty = json_string_value(json_object_get(k, "kty"));
    if (strcmp(kty, "RSA") == 0)
        snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                 json_string_value(json_object_get(k, "e")), json_string_value(json_object_get(k, "n")));
    else
        snprintf(canon, sizeof canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 json_string_value(json_object_get(k, "crv")), json_string_value(json_object_get(k, "x")),
                 json_string_value(json_object_get(k, "y")));
    crypto_hash_sha256(h, (unsigned char *)canon, strlen(canon));
    sodium_bin2base64(want, sizeof want, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_string_equal(json_string_value(json_object_get(k, "kid")), want);
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    assert_null(json_object_get(k, "d"));
}

static void rfc7638_example_thumbprint(void **state)
{
    static const char n64[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
        "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6"
        "qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
        "apJzKnqDKgw";
    unsigned char n[512];
    size_t nl = 0;
    char kid[CKEY_KID_MAX];
    assert_int_equal(sodium_base642bin(n, sizeof n, n64, strlen(n64), NULL, &nl, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    const uint8_t e[] = {1, 0, 1};
    assert_int_equal(ckey_thumbprint_rsa(n, nl, e, sizeof e, kid), CKEY_OK);
    assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

static void key_set_round_trips_and_refuses_malformed_records(void **state)
{
    struct ckey_set s = {0}, t = {0};
    uint8_t *img = sodium_malloc(16384);
    size_t len = 0;
    assert_int_equal(ckey_set_generate(&s, CKEY_ES384, CKEY_CURRENT), CKEY_OK);
    assert_int_equal(ckey_set_generate(&s, CKEY_ES384, CKEY_CURRENT), CKEY_E_FULL);
    assert_int_equal(ckey_set_promote(&s), CKEY_E_NOENT);
    assert_int_equal(ckey_set_generate(&s, CKEY_ES384, CKEY_NEXT), CKEY_OK);
    assert_int_equal(ckey_set_serialize(&s, img, 16384, &len), CKEY_OK);
    assert_int_equal(ckey_set_parse(img, len, &t), CKEY_OK);
    assert_int_equal(t.n, 2);
    assert_memory_equal(ckey_set_find(&t, CKEY_NEXT)->der, ckey_set_find(&s, CKEY_NEXT)->der,
                        ckey_set_find(&s, CKEY_NEXT)->der_len);
    ckey_set_clear(&t);
    /* every truncation, and one byte too many, is refused */
    for (size_t cut = 0; cut < len; cut += 7)
        assert_int_equal(ckey_set_parse(img, cut, &t), CKEY_E_FORMAT);
    assert_int_equal(ckey_set_parse(img, len + 1, &t), CKEY_E_FORMAT);
    img[6] = 9; /* unknown role */
    assert_int_equal(ckey_set_parse(img, len, &t), CKEY_E_FORMAT);
    img[6] = CKEY_NEXT; /* two keys with one role */
    assert_int_equal(ckey_set_parse(img, len, &t), CKEY_E_FORMAT);
    ckey_set_clear(&s);
    sodium_free(img);
}

static void keygen_seals_an_rsa3072_key_and_jwks_publishes_it(void **state)
{
    struct env *e = *state;
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", NULL), 0);
    assert_non_null(strstr(e->out, "RS384"));
    json_t *j = jwks(e), *k = json_array_get(json_object_get(j, "keys"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 1);
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "RS384");
    assert_int_equal(b64len(json_string_value(json_object_get(k, "n"))), 384);
    assert_kid_is_thumbprint(k);
    json_decref(j);
    /* sealed, bound to the client: another client_id cannot use it */
    assert_int_equal(vs(e, "someone-else", "promote", NULL), 1);
    assert_non_null(strstr(e->err, "client"));
    /* a second keygen changes nothing */
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", NULL), 1);
    assert_non_null(strstr(e->err, "already sealed"));
}

static void keygen_es384_makes_a_p384_key(void **state)
{
    struct env *e = *state;
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--alg", "ES384", "--json", NULL), 0);
    json_t *j = jwks(e), *k = json_array_get(json_object_get(j, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-384");
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES384");
    assert_int_equal(b64len(json_string_value(json_object_get(k, "x"))), 48);
    assert_int_equal(b64len(json_string_value(json_object_get(k, "y"))), 48);
    assert_kid_is_thumbprint(k);
    json_decref(j);
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--alg", "HS256", NULL), 1);
    assert_non_null(strstr(e->err, "--alg RS384"));
}

static void rotation_publishes_next_then_drops_the_old_on_the_next_promote(void **state)
{
    struct env *e = *state;
    char a[64], b[64], c[64];
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--next", NULL), 1);
    assert_non_null(strstr(e->err, "no signing key yet"));
    assert_int_equal(vs(e, TEST_CLIENT, "promote", NULL), 1);
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--alg", "ES384", NULL), 0);
    json_t *j = jwks(e);
    snprintf(a, sizeof a, "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "kid")));
    json_decref(j);
    assert_int_equal(vs(e, TEST_CLIENT, "promote", NULL), 1);
    assert_non_null(strstr(e->err, "no next key"));
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--next", "--alg", "ES384", NULL), 0);
    j = jwks(e);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
    snprintf(b, sizeof b, "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 1), "kid")));
    json_decref(j);
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--next", NULL), 1);
    assert_int_equal(vs(e, TEST_CLIENT, "promote", "--json", NULL), 0);
    j = json_loads(e->out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "kid")), b);
    json_decref(j);
    j = jwks(e); /* b signs, a still published (overlap) */
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "kid")), b);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 1), "kid")), a);
    json_decref(j);
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--next", "--alg", "ES384", NULL), 0);
    j = jwks(e); /* current b, next c, previous a */
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 3);
    snprintf(c, sizeof c, "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 1), "kid")));
    json_decref(j);
    assert_int_equal(vs(e, TEST_CLIENT, "promote", NULL), 0);
    assert_non_null(strstr(e->out, a)); /* says which key left */
    j = jwks(e);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
    assert_null(strstr(e->out, a));
    assert_non_null(strstr(e->out, b));
    assert_non_null(strstr(e->out, c));
    json_decref(j);
}

/* The private key, in the forms a leak would take, is in no output and not
 * in the sealed file in clear. */
static void private_key_is_never_printed(void **state)
{
    struct env *e = *state;
    char all[65536] = "";
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", NULL), 0);
    strcat(all, e->out);
    strcat(all, e->err);
    assert_int_equal(vs(e, TEST_CLIENT, "keygen", "--next", "--json", NULL), 0);
    strcat(all, e->out);
    assert_int_equal(vs(e, NULL, "jwks", NULL), 0);
    strcat(all, e->out);
    assert_int_equal(vs(e, TEST_CLIENT, "promote", NULL), 0);
    strcat(all, e->out);
    assert_int_equal(vs(e, NULL, "list", NULL), 0);
    strcat(all, e->out);
    /* the DER of each key, from the store through the library */
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_err err;
    struct ckey_set set;
    assert_int_equal(seal_store_open(e->store, &st, &err), 0);
    assert_int_equal(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err), 0);
    assert_int_equal(seal_secret_new(&s, &err), 0);
    assert_int_equal(seal_store_read(st, ring, CKEY_ITEM, &bind_ok, s, &err), 0);
    assert_int_equal(ckey_set_parse(seal_secret_data(s), seal_secret_size(s), &set), 0);
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", e->store, CKEY_ITEM);
    size_t flen;
    uint8_t *file = test_read_file(path, &flen);
    for (size_t i = 0; i < set.n; i++) {
        const struct ckey_entry *k = &set.k[i];
        char b64[8192], frag[33];
        /* 32 characters from the middle of the base64 (PEM) and base64url forms */
        sodium_bin2base64(b64, sizeof b64, k->der, k->der_len, sodium_base64_VARIANT_ORIGINAL);
        snprintf(frag, sizeof frag, "%.32s", b64 + strlen(b64) / 2);
        assert_null(strstr(all, frag));
        sodium_bin2base64(b64, sizeof b64, k->der, k->der_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        snprintf(frag, sizeof frag, "%.32s", b64 + strlen(b64) / 2);
        assert_null(strstr(all, frag));
        assert_null(memmem(file, flen, k->der + k->der_len / 2, 32));
    }
    assert_null(strstr(all, "PRIVATE KEY"));
    free(file);
    ckey_set_clear(&set);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    vap_seal = argv[2];
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7638_example_thumbprint),
        cmocka_unit_test(key_set_round_trips_and_refuses_malformed_records),
        cmocka_unit_test_setup_teardown(keygen_seals_an_rsa3072_key_and_jwks_publishes_it, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(keygen_es384_makes_a_p384_key, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(rotation_publishes_next_then_drops_the_old_on_the_next_promote, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(private_key_is_never_printed, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
