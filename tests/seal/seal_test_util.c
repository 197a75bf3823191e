/*
 * seal_test_util.c - helpers for the tests in tests/seal (see the header).
 */
#include "seal_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

size_t test_ring_image(const uint8_t *fill, const int *states, size_t n, uint8_t *img)
{
    memset(img, 0, 16 + 64 * n);
    memcpy(img, "VSEALKR", 7);
    img[7] = 1;
    img[8] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = img + 16 + 64 * i;
        e[16] = (uint8_t)states[i];
        for (int b = 0; b < 8; b++)
            e[24 + b] = (uint8_t)((1700000000ull + i) >> (8 * b));
        memset(e + 32, fill[i], 32);
        crypto_kdf_derive_from_key(e, 16, 1, "VSEALkid", e + 32);
    }
    return 16 + 64 * n;
}

seal_keyring *test_ring(const uint8_t *fill, const int *states, size_t n)
{
    uint8_t img[16 + 64 * SEAL_KEYRING_MAX_KEYS];
    seal_keyring *ring = NULL;
    seal_err err;
    if (sodium_init() < 0 || seal_keyring_new(&ring, &err) != SEAL_OK)
        abort();
    size_t len = test_ring_image(fill, states, n, img);
    if (seal_keyring_parse(img, len, ring, &err) != SEAL_OK) {
        fprintf(stderr, "test_ring: %s\n", err.message);
        abort();
    }
    return ring;
}

void test_tmpdir(char *path, const char *tag)
{
    snprintf(path, 4096, "/tmp/sealtest-%s-XXXXXX", tag);
    if (mkdtemp(path) == NULL)
        abort();
}

void test_rmrf(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
}

void test_write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fchmod(fd, mode) != 0)
        abort();
    close(fd);
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

void test_become_nobody(void)
{
    gid_t g = TEST_NOBODY;
    if (setgroups(1, &g) != 0 || setgid(TEST_NOBODY) != 0 || setuid(TEST_NOBODY) != 0 || geteuid() != TEST_NOBODY) {
        fprintf(stderr, "cannot drop to nobody: %s\n", strerror(errno));
        abort();
    }
}

static void test_drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (buf != NULL && n + 1 < cap) {
            if (take > cap - 1 - n)
                take = cap - 1 - n;
            memcpy(buf + n, tmp, take);
            n += take;
        }
    }
    if (buf != NULL && cap > 0)
        buf[n] = '\0';
}

int test_run(char *const argv[], const char *stdin_data, size_t stdin_len, char *out, size_t out_cap, char *errb,
             size_t err_cap, char *const extra_env[])
{
    char tin[] = "/tmp/sealtest-in-XXXXXX", tout[] = "/tmp/sealtest-out-XXXXXX", terr[] = "/tmp/sealtest-err-XXXXXX";
    int fin = mkstemp(tin), fout = mkstemp(tout), ferr = mkstemp(terr);
    if (fin < 0 || fout < 0 || ferr < 0)
        abort();
    unlink(tin);
    unlink(tout);
    unlink(terr);
    if (stdin_len > 0 && write(fin, stdin_data, stdin_len) != (ssize_t)stdin_len)
        abort();
    lseek(fin, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fin, 0);
        dup2(fout, 1);
        dup2(ferr, 2);
        for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
            putenv(extra_env[i]);
        execve(argv[0], argv, environ);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    lseek(fout, 0, SEEK_SET);
    lseek(ferr, 0, SEEK_SET);
    test_drain(fout, out, out_cap);
    test_drain(ferr, errb, err_cap);
    close(fin);
    close(fout);
    close(ferr);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
