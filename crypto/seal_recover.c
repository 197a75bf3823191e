/*
 * seal_recover.c - a temp file is never swept while it may hold the newest
 * value (DESIGN.md, Keeping the grant alive, rule 11).
 *
 * A writer killed after fsyncing its temp file and before renaming it
 * leaves the only copy of a renewed grant there (the server has already
 * revoked the stored one).  So:
 *   - the sweep that reclaims temp files (seal_txn_prepare) keeps every one
 *     whose header names the item with a generation above the stored one
 *     (it cannot authenticate them: it has no key; keeping is safe);
 *   - seal_store_recover, for a caller holding the item's exclusive lock and
 *     a keyring, makes the newest such file that authenticates the item
 *     itself (fsync, rename, fsync of the directory), before anything else
 *     reads or re-seals the item.
 */
#include "seal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads a whole temp file (at most SEAL_FILE_MAX) into BUF; its size, or -1. */
static ssize_t read_temp(int dirfd, const char *tmp, uint8_t *buf, size_t cap)
{
    int fd = openat(dirfd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (size_t)sb.st_size <= cap)
        n = pread(fd, buf, (size_t)sb.st_size, 0);
    if (fd >= 0)
        close(fd);
    return n;
}

int seal_atomic_maybe_newer(int dirfd, const char *tmp, const char *name, int have_floor, uint64_t floor)
{
    uint8_t buf[SEAL_HEADER_MAX];
    seal_header h;
    seal_err e = {0};
    int fd = openat(dirfd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (n <= 0 || seal_header_parse(buf, (size_t)n, &h, &e) != SEAL_OK || strcmp(h.purpose, name) != 0)
        return 0;
    return !have_floor || h.generation > floor;
}

int seal_store_recover(seal_store *st, const seal_keyring *ring, const char *name, uint64_t *recovered,
                       seal_err *err)
{
    char prefix[SEAL_NAME_MAX + 8], best[SEAL_NAME_MAX + 32] = "";
    uint64_t floor = 0, best_gen = 0;
    int have_floor = 0, rc = SEAL_OK;
    seal_header h;
    seal_err e = {0};
    seal_secret *s = NULL, *cur = NULL;
    seal_binding cb = {0};
    uint8_t *buf = NULL;
    *recovered = 0;
    if (!seal_name_valid(name))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    if (seal_store_header(st, name, &h, &e) == SEAL_OK) {
        have_floor = 1;
        floor = h.generation;
    }
    snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    int dfd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        return seal_fail(err, SEAL_E_IO, "cannot list store %s: %s", st->path, strerror(errno));
    }
    buf = malloc(SEAL_FILE_MAX); /* sealed bytes: ciphertext only */
    if (buf == NULL || seal_secret_new(&s, err) != SEAL_OK || seal_secret_new(&cur, err) != SEAL_OK) {
        rc = buf == NULL ? seal_fail(err, SEAL_E_NOMEM, "out of memory") : err->code;
        goto out;
    }
    /* The stored item's binding: a temp file must belong to the same
     * practice (it authenticates with our key, but be strict anyway). */
    int have_cur = have_floor && seal_store_read(st, ring, name, NULL, cur, &e) == SEAL_OK &&
                   seal_secret_binding(cur, &cb) == SEAL_OK;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            !seal_atomic_maybe_newer(st->dirfd, de->d_name, name, have_floor, floor))
            continue;
        ssize_t n = read_temp(st->dirfd, de->d_name, buf, SEAL_FILE_MAX);
        if (n <= 0 || seal_format_open(ring, name, have_cur ? &cb : NULL, buf, (size_t)n, s, &e) != SEAL_OK)
            continue;
        uint64_t g = seal_secret_generation(s);
        seal_secret_clear(s);
        if ((!have_floor || g > floor) && g > best_gen && strlen(de->d_name) < sizeof best) {
            best_gen = g;
            snprintf(best, sizeof best, "%s", de->d_name);
        }
    }
    if (best[0] == '\0')
        goto out;
    /* Durable before it replaces the stored item: fsync it, rename, fsync
     * the directory (the steps its writer did not live to finish). */
    int fd = openat(st->dirfd, best, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = seal_fail(err, SEAL_E_IO, "cannot save the newer %s left in %s/%s: %s", name, st->path, best,
                       strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (renameat(st->dirfd, best, st->dirfd, name) != 0 || fsync(st->dirfd) != 0) {
        rc = seal_fail(err, SEAL_E_IO, "cannot save the newer %s left in %s/%s: %s", name, st->path, best,
                       strerror(errno));
        goto out;
    }
    *recovered = best_gen;
out:
    closedir(d);
    seal_secret_free(s);
    seal_secret_free(cur);
    free(buf);
    return rc;
}
