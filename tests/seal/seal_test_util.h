/*
 * seal_test_util.h - helpers shared by the tests of libvapseal and vap-seal:
 * deterministic test keyrings, scratch directories, dropping to an
 * unprivileged user, and running vap-seal with a given stdin.
 */
#ifndef SEAL_TEST_UTIL_H
#define SEAL_TEST_UTIL_H

#include "vapseal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TEST_ISSUER "https://emr.example.org/oauth2/default"
#define TEST_CLIENT "test-client"
#define TEST_NOBODY 65534

/* A keyring image with one key per byte in FILL (master key = 32 x fill),
 * states from STATES.  *len gets the size; IMG must hold 16 + 64*n. */
size_t test_ring_image(const uint8_t *fill, const int *states, size_t n, uint8_t *img);
/* A parsed ring from the same data (abort on failure). */
seal_keyring *test_ring(const uint8_t *fill, const int *states, size_t n);
/* mkdtemp under /tmp; PATH receives it (cap 4096). */
void test_tmpdir(char *path, const char *tag);
/* rm -rf PATH (best effort). */
void test_rmrf(const char *path);
/* Writes BUF to PATH with MODE (creating/truncating). */
void test_write_file(const char *path, const void *buf, size_t len, mode_t mode);
/* Reads PATH whole into a malloc'd buffer. */
uint8_t *test_read_file(const char *path, size_t *len);
/* In a child: setgroups/setgid/setuid to nobody; aborts on failure. */
void test_become_nobody(void);
/* Runs ARGV (execv) with STDIN_DATA on stdin; captures stdout/stderr into
 * OUT/ERRB (cap each, NUL-terminated); returns the exit status (or 128+sig).
 * EXTRA_ENV (may be NULL) is a NULL-terminated list of NAME=VALUE added. */
int test_run(char *const argv[], const char *stdin_data, size_t stdin_len, char *out, size_t out_cap, char *errb,
             size_t err_cap, char *const extra_env[]);

#endif
