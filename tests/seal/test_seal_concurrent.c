/*
 * test_seal_concurrent.c - several writer processes, a reader and
 * rotate-key (argv[1]) on one item at once (suite stress): no torn file is
 * ever read, every write gets its own generation, generations never go
 * back, and the rotation loses no write.
 */
#include "seal_test_util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#define WRITERS 4
#define PUTS_EACH 40
#define ROTATIONS 3
#define READS 300

static const char *vap_seal;
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

static void writer(const char *store, const char *keyring, const char *genlog, int id)
{
    seal_store *st;
    seal_err err;
    if (seal_store_open(store, &st, &err) != SEAL_OK)
        _exit(1);
    for (int j = 0; j < PUTS_EACH; j++) {
        char v[64];
        uint64_t gen = 0;
        int n = snprintf(v, sizeof v, "writer-%d-put-%d", id, j);
        if (seal_store_put(st, keyring, "grant", &bind_ok, (const uint8_t *)v, (size_t)n, &gen, &err) != SEAL_OK) {
            fprintf(stderr, "writer %d: %s\n", id, err.message);
            _exit(1);
        }
        char line[32];
        int l = snprintf(line, sizeof line, "%llu\n", (unsigned long long)gen);
        int fd = open(genlog, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0 || write(fd, line, (size_t)l) != l)
            _exit(1);
        close(fd);
    }
    seal_store_close(st);
    _exit(0);
}

static void reader(const char *store, const char *keyring)
{
    seal_store *st;
    seal_secret *s;
    seal_err err;
    uint64_t last = 0;
    if (seal_store_open(store, &st, &err) != SEAL_OK || seal_secret_new(&s, &err) != SEAL_OK)
        _exit(1);
    for (int i = 0; i < READS; i++) {
        seal_keyring *ring;
        seal_lock lk;
        /* The ring is re-read for every open, as the plugin does after a
         * rotation: an item may already be on the new key. */
        if (seal_lock_acquire(st, "grant", 0, &lk, &err) != SEAL_OK ||
            seal_keyring_load(keyring, (uid_t)-1, &ring, &err) != SEAL_OK) {
            fprintf(stderr, "reader: %s\n", err.message);
            _exit(1);
        }
        int rc = seal_store_read(st, ring, "grant", &bind_ok, s, &err);
        seal_lock_release(&lk);
        seal_keyring_free(ring);
        if (rc != SEAL_OK) {
            fprintf(stderr, "reader: read %d failed: %s\n", i, err.message);
            _exit(1);
        }
        if (seal_secret_generation(s) < last) {
            fprintf(stderr, "reader: generation went back from %llu to %llu\n", (unsigned long long)last,
                    (unsigned long long)seal_secret_generation(s));
            _exit(1);
        }
        last = seal_secret_generation(s);
    }
    seal_secret_free(s);
    seal_store_close(st);
    _exit(0);
}

/* Runs rotate-key ROTATIONS times; writes how many re-seals it reported
 * to COUNTFILE (a writer may move the item to the new key first, and then
 * the rotation has nothing to re-seal). */
static void rotator(const char *store, const char *keyring, const char *countfile)
{
    unsigned total = 0;
    for (int i = 0; i < ROTATIONS; i++) {
        char out[4096], errb[4096];
        char *argv[] = {(char *)vap_seal, "rotate-key", "--keyring", (char *)keyring, "--store", (char *)store, NULL};
        if (test_run(argv, NULL, 0, out, sizeof out, errb, sizeof errb, NULL) != 0) {
            fprintf(stderr, "rotator: %s\n", errb);
            _exit(1);
        }
        unsigned resealed = 0;
        const char *p = strstr(out, "; ");
        if (p == NULL || sscanf(p, "; %u of 1 items re-sealed", &resealed) != 1)
            _exit(1);
        total += resealed;
    }
    char line[32];
    int l = snprintf(line, sizeof line, "%u\n", total);
    int fd = open(countfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, line, (size_t)l) != l)
        _exit(1);
    close(fd);
    _exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void writers_reader_and_rotate_key_lose_nothing_and_never_tear(void **state)
{
    (void)state;
    char dir[4096], store[4200], keyring[4200], genlog[4200], countfile[4200];
    seal_keyring *ring;
    seal_store *st;
    seal_err err;
    test_tmpdir(dir, "conc");
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(keyring, sizeof keyring, "%s/ring", dir);
    snprintf(genlog, sizeof genlog, "%s/gens", dir);
    snprintf(countfile, sizeof countfile, "%s/resealed", dir);
    assert_int_equal(mkdir(store, 0700), 0);
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_add_active(ring, 1, NULL, &err), SEAL_OK);
    assert_int_equal(seal_keyring_save(ring, keyring, (uid_t)-1, (gid_t)-1, &err), SEAL_OK);
    seal_keyring_free(ring);
    assert_int_equal(seal_store_open(store, &st, &err), SEAL_OK);
    assert_int_equal(seal_store_put(st, keyring, "grant", &bind_ok, (const uint8_t *)"initial", 7, NULL, &err), SEAL_OK);

    pid_t pids[WRITERS + 2];
    fflush(NULL);
    for (int i = 0; i < WRITERS + 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            if (i < WRITERS)
                writer(store, keyring, genlog, i);
            else if (i == WRITERS)
                reader(store, keyring);
            else
                rotator(store, keyring, countfile);
        }
    }
    for (int i = 0; i < WRITERS + 2; i++) {
        int stt;
        assert_int_equal(waitpid(pids[i], &stt, 0), pids[i]);
        if (!WIFEXITED(stt) || WEXITSTATUS(stt) != 0)
            fail_msg("child %d (%s) failed", i, i < WRITERS ? "writer" : i == WRITERS ? "reader" : "rotator");
    }
    /* Each write got its own generation... */
    uint64_t gens[WRITERS * PUTS_EACH];
    size_t n = 0;
    FILE *f = fopen(genlog, "r");
    unsigned long long g;
    while (f != NULL && n < WRITERS * PUTS_EACH && fscanf(f, "%llu", &g) == 1)
        gens[n++] = g;
    if (f != NULL)
        fclose(f);
    assert_int_equal(n, WRITERS * PUTS_EACH);
    qsort(gens, n, sizeof gens[0], cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (gens[i] == gens[i - 1])
            fail_msg("two writes got generation %llu", (unsigned long long)gens[i]);
    /* ...and the final generation counts every write and every re-seal:
     * 1 initial + all puts + the re-seals rotate-key reported. */
    unsigned resealed = 99;
    f = fopen(countfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%u", &resealed), 1);
    fclose(f);
    assert_true(resealed <= ROTATIONS);
    seal_header h;
    assert_int_equal(seal_store_header(st, "grant", &h, &err), SEAL_OK);
    assert_int_equal(h.generation, 1 + WRITERS * PUTS_EACH + resealed);
    /* The item is on the active key and opens with the final keyring. */
    seal_secret *s;
    assert_int_equal(seal_keyring_load(keyring, (uid_t)-1, &ring, &err), SEAL_OK);
    assert_int_equal(seal_secret_new(&s, &err), SEAL_OK);
    assert_int_equal(seal_store_read(st, ring, "grant", &bind_ok, s, &err), SEAL_OK);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    test_rmrf(dir);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    vap_seal = argv[1];
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writers_reader_and_rotate_key_lose_nothing_and_never_tear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
