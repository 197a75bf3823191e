/*
 * powercut_model.c - replays the shim's record into power-cut states (see
 * the header for the model).  Files are tracked as inodes by their current
 * (volatile) name; each watch keeps its volatile entries, its durable
 * entries and the ordered list of entry changes between the two.
 */
#include "powercut_model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PC_MAX_NAMES 64
#define PC_MAX_PENDING 256
#define PC_MAX_INODES 1024
#define PC_NAME_MAX 256
#define PC_FILE_MAX (1u << 20)

enum { PC_CREATE, PC_RENAME, PC_UNLINK };

struct pc_inode {
    uint8_t *data; /* the bytes as of the last fsync (NULL: none yet) */
    size_t len;
};

struct pc_entry {
    char name[PC_NAME_MAX];
    int ino;
};

struct pc_names {
    struct pc_entry e[PC_MAX_NAMES];
    size_t n;
};

struct pc_op {
    int kind;
    char a[PC_NAME_MAX], b[PC_NAME_MAX];
    int ino;
};

struct pc_dir {
    char path[4096];
    char filter[PC_NAME_MAX]; /* "" for every file */
    struct pc_names vol, dur;
    struct pc_op pend[PC_MAX_PENDING];
    size_t npend;
};

struct pc_model {
    struct pc_dir dirs[PC_MAX_WATCH];
    size_t ndirs;
    struct pc_inode inodes[PC_MAX_INODES];
    size_t ninodes;
    char snapdir[4096];
    size_t calls, total; /* replayed, recorded */
};

static int pc_fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pc_read_file(const char *path, uint8_t **data, size_t *len);
static int pc_new_inode(pc_model *m, uint8_t *data, size_t len);
static int pc_locate(pc_model *m, const char *path, struct pc_dir **d, const char **base);
static struct pc_entry *pc_find(struct pc_names *ns, const char *name);
static int pc_bind(struct pc_names *ns, const char *name, int ino);
static void pc_drop(struct pc_names *ns, const char *name);
static int pc_apply_op(struct pc_names *ns, const struct pc_op *op);
static int pc_push(struct pc_dir *d, int kind, const char *a, const char *b, int ino, char *why, size_t cap);
static int pc_replay(pc_model *m, char kind, const char *a, const char *b, char *why, size_t cap);
static int pc_states(pc_model *m, pc_state *st, pc_check_fn check, void *ctx, size_t *states, char *why,
                     size_t cap);
static int pc_materialise(pc_model *m, const char *dir, const struct pc_dir *d, size_t taken);

int pc_model_new(const pc_watch *w, size_t n, const char *snapdir, pc_model **out, char *why, size_t cap)
{
    char path[8400];
    if (n == 0 || n > PC_MAX_WATCH || strlen(snapdir) >= sizeof(*out)->snapdir)
        return pc_fail(why, cap, "bad watch list or snapshot directory");
    pc_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return pc_fail(why, cap, "out of memory");
    m->ndirs = n;
    snprintf(m->snapdir, sizeof m->snapdir, "%s", snapdir);
    for (size_t i = 0; i < n; i++) {
        snprintf(m->dirs[i].path, sizeof m->dirs[i].path, "%s", w[i].dir);
        snprintf(m->dirs[i].filter, sizeof m->dirs[i].filter, "%s", w[i].name ? w[i].name : "");
    }
    for (size_t i = 0; i < n; i++) {
        struct pc_dir *d = &m->dirs[i];
        DIR *dd = opendir(d->path);
        if (dd == NULL) {
            pc_model_free(m);
            return pc_fail(why, cap, "cannot list %s: %s", w[i].dir, strerror(errno));
        }
        for (struct dirent *e; (e = readdir(dd)) != NULL;) {
            struct stat sb;
            const char *base = NULL;
            struct pc_dir *owner = NULL;
            snprintf(path, sizeof path, "%s/%s", d->path, e->d_name);
            if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || pc_locate(m, path, &owner, &base) != 0 ||
                owner != d)
                continue;
            uint8_t *data = NULL;
            size_t len = 0;
            int ino;
            if (pc_read_file(path, &data, &len) != 0 || (ino = pc_new_inode(m, data, len)) < 0 ||
                pc_bind(&d->vol, base, ino) != 0 || pc_bind(&d->dur, base, ino) != 0) {
                closedir(dd);
                pc_model_free(m);
                return pc_fail(why, cap, "cannot take %s as the starting point", path);
            }
        }
        closedir(dd);
    }
    snprintf(path, sizeof path, "%s/events", snapdir);
    if (unlink(path) != 0 && errno != ENOENT) {
        pc_model_free(m);
        return pc_fail(why, cap, "cannot reset %s: %s", path, strerror(errno));
    }
    *out = m;
    return 0;
}

int pc_model_walk(pc_model *m, const char *root, pc_check_fn check, void *ctx, size_t *states, char *why,
                  size_t cap)
{
    char path[8400], line[9000], last[9000] = "";
    pc_state st;
    *states = 0;
    m->calls = 0;
    if (mkdir(root, 0700) != 0 && errno != EEXIST)
        return pc_fail(why, cap, "cannot create %s: %s", root, strerror(errno));
    char (*dirs)[4200] = calloc(PC_MAX_WATCH, sizeof *dirs);
    if (dirs == NULL)
        return pc_fail(why, cap, "out of memory");
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < m->ndirs; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%zu", root, i);
        st.dirs[i] = dirs[i];
    }
    /* Count the calls first: the check may want to know which is the last. */
    snprintf(path, sizeof path, "%s/events", m->snapdir);
    FILE *f = fopen(path, "r");
    size_t total = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        total++;
    int rc = 0;
    if (f != NULL)
        rewind(f);
    st.total = m->total = total;
    st.last = last;
    rc = pc_states(m, &st, check, ctx, states, why, cap);
    while (rc == 0 && f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(last, sizeof last, "%s", line);
        char *a = line + 2, *b = strchr(a, ' ');
        if (strlen(line) < 3 || line[1] != ' ') {
            rc = pc_fail(why, cap, "unreadable record line: %s", last);
            break;
        }
        if (b != NULL)
            *b++ = '\0';
        if ((rc = pc_replay(m, line[0], a, b, why, cap)) != 0)
            break;
        st.calls = ++m->calls;
        rc = pc_states(m, &st, check, ctx, states, why, cap);
    }
    if (f != NULL)
        fclose(f);
    free(dirs);
    return rc;
}

size_t pc_model_calls(const pc_model *m)
{
    return m->total;
}

void pc_model_free(pc_model *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->ninodes; i++)
        free(m->inodes[i].data);
    free(m);
}

/* ---- replay ----------------------------------------------------------------- */

/* One recorded call, applied to the volatile names (and, for an fsync, to
 * what is on disk). */
static int pc_replay(pc_model *m, char kind, const char *a, const char *b, char *why, size_t cap)
{
    struct pc_dir *d = NULL, *d2 = NULL;
    const char *base = NULL, *base2 = NULL;
    int in = pc_locate(m, a, &d, &base) == 0;
    struct pc_entry *e;
    switch (kind) {
    case 'C':
        if (!in)
            return 0;
        if (pc_find(&d->vol, base) != NULL)
            return pc_fail(why, cap, "created %s, which exists", a);
        int ino = pc_new_inode(m, NULL, 0);
        if (ino < 0 || pc_bind(&d->vol, base, ino) != 0)
            return pc_fail(why, cap, "model full at %s", a);
        return pc_push(d, PC_CREATE, base, "", ino, why, cap);
    case 'F':
        if (!in)
            return 0;
        if (b == NULL || (e = pc_find(&d->vol, base)) == NULL)
            return pc_fail(why, cap, "fsync of %s, which the model does not know", a);
        char snap[8400];
        snprintf(snap, sizeof snap, "%s/%s", m->snapdir, b);
        struct pc_inode *node = &m->inodes[e->ino];
        free(node->data);
        node->data = NULL;
        if (pc_read_file(snap, &node->data, &node->len) != 0)
            return pc_fail(why, cap, "cannot read the snapshot %s", snap);
        return 0;
    case 'R': {
        int in2 = b != NULL && pc_locate(m, b, &d2, &base2) == 0;
        if (!in && !in2)
            return 0;
        if (!in || !in2 || d != d2)
            return pc_fail(why, cap, "rename across directories (%s -> %s) is not modelled", a, b ? b : "");
        if ((e = pc_find(&d->vol, base)) == NULL)
            return pc_fail(why, cap, "rename of %s, which the model does not know", a);
        int moved = e->ino;
        pc_drop(&d->vol, base);
        if (pc_bind(&d->vol, base2, moved) != 0)
            return pc_fail(why, cap, "model full at %s", b);
        return pc_push(d, PC_RENAME, base, base2, moved, why, cap);
    }
    case 'U':
        if (!in)
            return 0;
        pc_drop(&d->vol, base);
        return pc_push(d, PC_UNLINK, base, "", -1, why, cap);
    case 'D':
        for (size_t i = 0; i < m->ndirs; i++) {
            struct pc_dir *w = &m->dirs[i];
            if (strcmp(w->path, a) != 0)
                continue;
            for (size_t j = 0; j < w->npend; j++)
                if (pc_apply_op(&w->dur, &w->pend[j]) != 0)
                    return pc_fail(why, cap, "model full at the fsync of %s", a);
            w->npend = 0;
        }
        return 0;
    case 'M':
    case 'X':
        /* A directory made or removed inside a watch: not modelled. */
        return in ? pc_fail(why, cap, "directory change %c %s is not modelled", kind, a) : 0;
    case 'E':
        return in ? pc_fail(why, cap, "the shim could not snapshot %s", a) : 0;
    default:
        return pc_fail(why, cap, "unknown record %c %s", kind, a);
    }
}

static int pc_push(struct pc_dir *d, int kind, const char *a, const char *b, int ino, char *why, size_t cap)
{
    if (d->npend == PC_MAX_PENDING)
        return pc_fail(why, cap, "more than %d unsynced entry changes in %s", PC_MAX_PENDING, d->path);
    struct pc_op *op = &d->pend[d->npend++];
    op->kind = kind;
    snprintf(op->a, sizeof op->a, "%s", a);
    snprintf(op->b, sizeof op->b, "%s", b);
    op->ino = ino;
    return 0;
}

static int pc_apply_op(struct pc_names *ns, const struct pc_op *op)
{
    switch (op->kind) {
    case PC_CREATE:
        return pc_bind(ns, op->a, op->ino);
    case PC_RENAME:
        pc_drop(ns, op->a);
        return pc_bind(ns, op->b, op->ino);
    default:
        pc_drop(ns, op->a);
        return 0;
    }
}

/* ---- the states after one prefix ------------------------------------------- */

/* Every combination of in-order prefixes of each watch's pending changes. */
static int pc_states(pc_model *m, pc_state *st, pc_check_fn check, void *ctx, size_t *states, char *why,
                     size_t cap)
{
    size_t pick[PC_MAX_WATCH] = {0};
    for (size_t i = 0; i < m->ndirs; i++)
        st->pending[i] = m->dirs[i].npend;
    for (;;) {
        for (size_t i = 0; i < m->ndirs; i++) {
            st->taken[i] = pick[i];
            if (pc_materialise(m, st->dirs[i], &m->dirs[i], pick[i]) != 0)
                return pc_fail(why, cap, "cannot write the state into %s: %s", st->dirs[i], strerror(errno));
        }
        (*states)++;
        char inner[2048] = "";
        if (check(ctx, st, inner, sizeof inner) != 0) {
            char taken[256] = "";
            size_t used = 0;
            for (size_t i = 0; i < m->ndirs && used < sizeof taken; i++) {
                const char *base = strrchr(m->dirs[i].path, '/');
                used += (size_t)snprintf(taken + used, sizeof taken - used, "%s%s %zu of %zu", i ? ", " : "",
                                         base ? base + 1 : m->dirs[i].path, pick[i], st->pending[i]);
            }
            return pc_fail(why, cap, "power cut after call %zu of %zu (%s), unsynced entry changes on disk: "
                           "%s: %s", st->calls, st->total, st->last[0] ? st->last : "none yet", taken, inner);
        }
        size_t i = 0;
        while (i < m->ndirs && pick[i] == st->pending[i])
            pick[i++] = 0;
        if (i == m->ndirs)
            return 0;
        pick[i]++;
    }
}

/* Writes D's on-disk entries plus its first TAKEN pending changes into DIR. */
static int pc_materialise(pc_model *m, const char *dir, const struct pc_dir *d, size_t taken)
{
    static struct pc_names ns;
    char path[8400];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    DIR *dd = opendir(dir);
    if (dd == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(dd)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(dd), e->d_name, 0);
    closedir(dd);
    ns = d->dur;
    for (size_t i = 0; i < taken; i++)
        if (pc_apply_op(&ns, &d->pend[i]) != 0)
            return -1;
    for (size_t i = 0; i < ns.n; i++) {
        const struct pc_inode *node = &m->inodes[ns.e[i].ino];
        snprintf(path, sizeof path, "%s/%s", dir, ns.e[i].name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        ssize_t w = node->len > 0 ? write(fd, node->data, node->len) : 0;
        close(fd);
        if (w != (ssize_t)node->len)
            return -1;
    }
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Which watch PATH belongs to, and its name there; 0 or -1 (not watched). */
static int pc_locate(pc_model *m, const char *path, struct pc_dir **d, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return -1;
    size_t dl = (size_t)(slash - path);
    const char *b = slash + 1;
    for (size_t i = 0; i < m->ndirs; i++) {
        struct pc_dir *w = &m->dirs[i];
        if (strlen(w->path) != dl || strncmp(w->path, path, dl) != 0 || strlen(b) >= PC_NAME_MAX || *b == '\0')
            continue;
        size_t fl = strlen(w->filter);
        if (fl > 0 && strcmp(b, w->filter) != 0 &&
            !(b[0] == '.' && strncmp(b + 1, w->filter, fl) == 0 && b[1 + fl] == '.'))
            continue;
        *d = w;
        *base = b;
        return 0;
    }
    return -1;
}

static struct pc_entry *pc_find(struct pc_names *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->e[i].name, name) == 0)
            return &ns->e[i];
    return NULL;
}

/* NAME -> INO, replacing what NAME named (a rename over a file). */
static int pc_bind(struct pc_names *ns, const char *name, int ino)
{
    struct pc_entry *e = pc_find(ns, name);
    if (e == NULL) {
        if (ns->n == PC_MAX_NAMES)
            return -1;
        e = &ns->e[ns->n++];
        snprintf(e->name, sizeof e->name, "%s", name);
    }
    e->ino = ino;
    return 0;
}

static void pc_drop(struct pc_names *ns, const char *name)
{
    struct pc_entry *e = pc_find(ns, name);
    if (e != NULL)
        *e = ns->e[--ns->n];
}

static int pc_new_inode(pc_model *m, uint8_t *data, size_t len)
{
    if (m->ninodes == PC_MAX_INODES) {
        free(data);
        return -1;
    }
    m->inodes[m->ninodes].data = data;
    m->inodes[m->ninodes].len = len;
    return (int)m->ninodes++;
}

static int pc_read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || (size_t)sb.st_size > PC_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    ssize_t n = buf != NULL ? read(fd, buf, (size_t)sb.st_size) : -1;
    close(fd);
    if (n != sb.st_size) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = (size_t)n;
    return 0;
}

static int pc_fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}
