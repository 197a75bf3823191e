/*
 * admconf.c - inserting client_id=... into a config line (admconf.h).
 * The admin's file is never rewritten behind their back: only with
 * `vap-host register --write-config`, with a backup, and only if parsing the
 * new text shows exactly the one intended difference.
 */
#include "admconf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int value_ok(const char *v);
static int same_except(const vapconf *a, const vapconf *b, const char *name, const char *key,
                       const char *value);
static size_t skip_word(const char *buf, size_t len, size_t i);
static int write_all(int fd, const char *buf, size_t len);
static int copy_backup(const char *path, const char *text, size_t len, const struct stat *st,
                       char *backup, size_t cap, char *why, size_t why_len);

int admconf_insert(const char *buf, size_t len, const char *name, const char *key,
                   const char *value, char **out, size_t *out_len, char *why, size_t why_len)
{
    vapconf *before = NULL, *after = NULL;
    char *text = NULL;
    int rc = -1;
    *out = NULL;
    if (!value_ok(value)) {
        snprintf(why, why_len, "the %s to write has unexpected characters", key);
        return -1;
    }
    if (vapconf_parse(buf, len, "config", &before, why, why_len) != 0)
        return -1;
    const vapconf_instance *inst = vapconf_find(before, name);
    if (inst == NULL) {
        snprintf(why, why_len, "the config has no instance named %s", name);
        goto out;
    }
    for (size_t i = 0; i < inst->n_opts; i++)
        if (strcmp(inst->opts[i].key, key) == 0) {
            snprintf(why, why_len, "instance %s already has %s=", name, key);
            goto out;
        }
    /* The start of the instance's first physical line. */
    size_t pos = 0;
    for (unsigned line = 1; line < inst->line && pos < len; pos++)
        if (buf[pos] == '\n')
            line++;
    while (pos < len && (buf[pos] == ' ' || buf[pos] == '\t'))
        pos++;
    pos = skip_word(buf, len, pos); /* NAME */
    while (pos < len && (buf[pos] == ' ' || buf[pos] == '\t'))
        pos++;
    pos = skip_word(buf, len, pos); /* MODULE */
    size_t add = strlen(key) + strlen(value) + 2;
    text = malloc(len + add + 1);
    if (text == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    memcpy(text, buf, pos);
    snprintf(text + pos, add + 1, " %s=%s", key, value);
    memcpy(text + pos + add, buf + pos, len - pos);
    text[len + add] = '\0';
    if (vapconf_parse(text, len + add, "config", &after, why, why_len) != 0 ||
        !same_except(before, after, name, key, value)) {
        snprintf(why, why_len, "the config line of %s has a layout this tool cannot edit "
                               "safely: add %s=... by hand", name, key);
        goto out;
    }
    *out = text;
    *out_len = len + add;
    text = NULL;
    rc = 0;
out:
    free(text);
    vapconf_free(before);
    vapconf_free(after);
    return rc;
}

int admconf_write(const char *path, const char *name, const char *key, const char *value,
                  char *backup, size_t backup_cap, char *why, size_t why_len)
{
    char *old = NULL, *text = NULL, tmp[4096], dirbuf[4096];
    size_t len = 0, text_len = 0;
    int fd = -1, tfd = -1, rc = -1;
    struct stat st;

    tmp[0] = '\0';
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        snprintf(why, why_len, "cannot read %s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file of at most 1 MB");
        goto out;
    }
    old = malloc((size_t)st.st_size + 1);
    if (old == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, old + len, (size_t)st.st_size - len);
        if (n <= 0) {
            snprintf(why, why_len, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "short");
            goto out;
        }
        len += (size_t)n;
    }
    if (admconf_insert(old, len, name, key, value, &text, &text_len, why, why_len) != 0 ||
        copy_backup(path, old, len, &st, backup, backup_cap, why, why_len) != 0)
        goto out;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
        snprintf(why, why_len, "the config path is too long");
        tmp[0] = '\0';
        goto out;
    }
    tfd = mkstemp(tmp);
    if (tfd < 0) {
        snprintf(why, why_len, "cannot create a temporary file next to %s: %s", path,
                 strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    /* The loader refuses group/other-writable or foreign-owned configs:
     * keep the old file's owner and mode exactly. */
    if (fchmod(tfd, st.st_mode & 07777) != 0 ||
        (fchown(tfd, st.st_uid, st.st_gid) != 0 && geteuid() == 0) ||
        write_all(tfd, text, text_len) != 0 || fsync(tfd) != 0 || close(tfd) != 0) {
        tfd = -1;
        snprintf(why, why_len, "cannot write the new %s: %s", path, strerror(errno));
        goto out;
    }
    tfd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(why, why_len, "cannot replace %s: %s", path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (tfd >= 0)
        close(tfd);
    if (tmp[0] != '\0')
        unlink(tmp);
    if (fd >= 0)
        close(fd);
    free(old);
    free(text);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------- */

static int value_ok(const char *v)
{
    size_t n = strnlen(v, ADMCONF_VALUE_MAX + 1);
    if (n == 0 || n > ADMCONF_VALUE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-' ||
              /* URL characters (jwks_uri); the result is parsed again below */
              (c != '\0' && strchr(":/?&=%+,;@", c) != NULL)))
            return 0;
    }
    return 1;
}

/* A word as the parser reads it: up to a blank or line end; a double-quoted
 * part (with \" and \\ escapes) may contain blanks. */
static size_t skip_word(const char *buf, size_t len, size_t i)
{
    int quoted = 0;
    for (; i < len; i++) {
        char c = buf[i];
        if (quoted) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quoted = 0;
            else if (c == '\n')
                return i;
        } else if (c == '"') {
            quoted = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            return i;
        }
    }
    return i;
}

static int same_except(const vapconf *a, const vapconf *b, const char *name, const char *key,
                       const char *value)
{
    if (a->n_inst != b->n_inst)
        return 0;
    for (size_t i = 0; i < a->n_inst; i++) {
        const vapconf_instance *x = &a->inst[i], *y = &b->inst[i];
        int target = strcmp(x->name, name) == 0;
        if (strcmp(x->name, y->name) != 0 || strcmp(x->module, y->module) != 0 ||
            y->n_opts != x->n_opts + (target ? 1u : 0u))
            return 0;
        size_t k = 0;
        for (size_t j = 0; j < y->n_opts; j++) {
            if (target && strcmp(y->opts[j].key, key) == 0) {
                if (strcmp(y->opts[j].value, value) != 0)
                    return 0;
                continue;
            }
            if (k >= x->n_opts || strcmp(x->opts[k].key, y->opts[j].key) != 0 ||
                strcmp(x->opts[k].value, y->opts[j].value) != 0)
                return 0;
            k++;
        }
        if (k != x->n_opts)
            return 0;
    }
    return 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int copy_backup(const char *path, const char *text, size_t len, const struct stat *st,
                       char *backup, size_t cap, char *why, size_t why_len)
{
    for (int i = 0; i <= 9; i++) {
        if (i == 0)
            snprintf(backup, cap, "%s.bak", path);
        else
            snprintf(backup, cap, "%s.bak.%d", path, i);
        int fd = open(backup, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      st->st_mode & 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0) {
            snprintf(why, why_len, "cannot create the backup %s: %s", backup, strerror(errno));
            return -1;
        }
        int ok = fchmod(fd, st->st_mode & 07777) == 0 &&
                 (fchown(fd, st->st_uid, st->st_gid) == 0 || geteuid() != 0) &&
                 write_all(fd, text, len) == 0 && fsync(fd) == 0;
        int saved = errno;
        close(fd);
        if (!ok) {
            unlink(backup);
            snprintf(why, why_len, "cannot write the backup %s: %s", backup, strerror(saved));
            return -1;
        }
        return 0;
    }
    snprintf(why, why_len, "%s.bak and .bak.1 to .bak.9 all exist: move old backups away", path);
    return -1;
}
