/*
 * test_seal_powercut.c - a power cut at any moment of `vap-seal put`,
 * `vap-seal rotate-key` or the refresh seal leaves the old value or the new
 * one, never neither; and once the command has returned, the new one.
 *
 * A SIGKILL keeps the page cache, so killing the writer (test_seal_crash.c)
 * cannot see a missing fsync.  Here the shim (argv[2]) records the real
 * calls in record mode and powercut_model.c rebuilds, for every prefix of
 * them, each state the disk may hold: only fsynced bytes, and entry changes
 * on disk only once their directory is fsynced (or an in-order part of
 * them).  Each state is opened with the library, as the product would
 * after the reboot: plainly, and after the temp-file recovery that the next
 * writer runs.  argv[1] = vap-seal.
 */
#include "powercut_model.h"
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
#include <sodium.h>

#define ROTATE_ITEMS 3

static const char *vap_seal, *shim;
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};
static size_t states_put, states_rotate, states_refresh;

struct env {
    char dir[4096];
    char work[4200];    /* everything the shim watches */
    char keys[4300];
    char keyring[4400];
    char store[4300];
    char snap[4200];    /* the shim's record: outside the watched prefix */
    char states[4200];  /* where the model writes each state */
    char out[8192], err[8192];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    seal_keyring *ring;
    seal_err err;
    test_tmpdir(e->dir, "powercut");
    snprintf(e->work, sizeof e->work, "%s/w", e->dir);
    snprintf(e->keys, sizeof e->keys, "%s/keys", e->work);
    snprintf(e->keyring, sizeof e->keyring, "%s/ring", e->keys);
    snprintf(e->store, sizeof e->store, "%s/store", e->work);
    snprintf(e->snap, sizeof e->snap, "%s/snap", e->dir);
    snprintf(e->states, sizeof e->states, "%s/states", e->dir);
    assert_int_equal(mkdir(e->work, 0700), 0);
    assert_int_equal(mkdir(e->keys, 0700), 0);
    assert_int_equal(mkdir(e->store, 0700), 0);
    assert_int_equal(mkdir(e->snap, 0700), 0);
    assert_int_equal(seal_keyring_new(&ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_add_active(ring, 1700000000, NULL, &err), SEAL_OK);
    assert_int_equal(seal_keyring_save(ring, e->keyring, (uid_t)-1, (gid_t)-1, &err), SEAL_OK);
    seal_keyring_free(ring);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    test_rmrf(e->dir);
    free(e);
    return 0;
}

/* Runs ARGV with stdin INPUT, recorded by the shim when RECORD. */
static int run(struct env *e, int record, const char *input, char *const argv[])
{
    char pre[4200], pfx[4300], snap[4300], asan[1024];
    char *envv[] = {pre, pfx, snap, asan, NULL};
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim);
    /* The trailing slash keeps the record directory out of the prefix. */
    snprintf(pfx, sizeof pfx, "SEAL_SHIM_PREFIX=%s/", e->work);
    snprintf(snap, sizeof snap, "SEAL_SHIM_SNAPDIR=%s", e->snap);
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    return test_run(argv, input, input ? strlen(input) : 0, e->out, sizeof e->out, e->err, sizeof e->err,
                    record ? envv : NULL);
}

static int put(struct env *e, int record, const char *name, const char *value)
{
    char input[1100];
    snprintf(input, sizeof input, "%s\n", value);
    char *argv[] = {(char *)vap_seal, "put",         "--keyring", e->keyring, "--store", e->store, "--issuer",
                    TEST_ISSUER,      "--client-id", TEST_CLIENT, (char *)name, NULL};
    return run(e, record, input, argv);
}

/* A value whose length varies with N, so a mix of two would not open. */
static void value_for(const char *name, unsigned n, char *out, size_t cap)
{
    int len = snprintf(out, cap, "%s-%u-", name, n);
    for (unsigned i = 0; i < 37 * n % 200 && (size_t)len + 1 < cap; i++)
        out[len++] = (char)('a' + (n + i) % 26);
    out[len] = '\0';
}

/* Opens NAME in the state's store with the state's keyring, as a reader
 * after the reboot; with RECOVER first as the next writer would (it holds
 * the lock then; nobody else uses a state). */
static int state_read(const char *store, const char *keyring, const char *name, int recover, char *out, size_t cap,
                      seal_err *err)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    uint64_t recovered = 0;
    int rc = seal_store_open(store, &st, err);
    if (rc == SEAL_OK)
        rc = seal_keyring_load(keyring, (uid_t)-1, &ring, err);
    if (rc == SEAL_OK && recover)
        rc = seal_store_recover(st, ring, name, &recovered, err);
    if (rc == SEAL_OK)
        rc = seal_secret_new(&s, err);
    if (rc == SEAL_OK)
        rc = seal_store_read(st, ring, name, &bind_ok, s, err);
    if (rc == SEAL_OK) {
        size_t n = seal_secret_size(s) < cap - 1 ? seal_secret_size(s) : cap - 1;
        memcpy(out, seal_secret_data(s), n);
        out[n] = '\0';
    }
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

static int why(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- put --------------------------------------------------------------------- */

struct put_case {
    const char *prev_old, *old, *new_value; /* grant.previous before; grant before; grant after */
};

static int check_put(void *ctx, const pc_state *st, char *out, size_t cap)
{
    const struct put_case *c = ctx;
    char keyring[4200], got[1024], prev[1024];
    seal_err err = {0};
    snprintf(keyring, sizeof keyring, "%s/ring", st->dirs[1]);
    for (int recover = 0; recover < 2; recover++) {
        const char *how = recover ? "after the recovery" : "on open";
        if (state_read(st->dirs[0], keyring, "grant", recover, got, sizeof got, &err) != SEAL_OK)
            return why(out, cap, "grant does not open %s: %s", how, err.message);
        int is_new = strcmp(got, c->new_value) == 0;
        if (!is_new && strcmp(got, c->old) != 0)
            return why(out, cap, "grant holds neither the old value nor the new one %s", how);
        if (st->calls == st->total && !is_new)
            return why(out, cap, "put returned, but grant holds the old value %s", how);
        /* The undo copy is on disk before the value it makes undoable. */
        if (state_read(st->dirs[0], keyring, "grant.previous", 0, prev, sizeof prev, &err) != SEAL_OK)
            return why(out, cap, "grant.previous does not open %s: %s", how, err.message);
        if (is_new && strcmp(prev, c->old) != 0)
            return why(out, cap, "grant holds the new value, but grant.previous not the one it replaced %s", how);
        if (!is_new && strcmp(prev, c->old) != 0 && strcmp(prev, c->prev_old) != 0)
            return why(out, cap, "grant.previous holds neither value it may hold %s", how);
    }
    return 0;
}

static void put_leaves_the_old_value_or_the_new_one_at_every_power_cut(void **state)
{
    struct env *e = *state;
    char v0[512], v1[512], v2[512], msg[4096];
    value_for("grant", 1, v0, sizeof v0);
    value_for("grant", 2, v1, sizeof v1);
    value_for("grant", 3, v2, sizeof v2);
    assert_int_equal(put(e, 0, "grant", v0), 0);
    assert_int_equal(put(e, 0, "grant", v1), 0);
    pc_model *m;
    const pc_watch w[] = {{e->store, NULL}, {e->keys, "ring"}};
    if (pc_model_new(w, 2, e->snap, &m, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    if (put(e, 1, "grant", v2) != 0)
        fail_msg("recorded put failed: %s", e->err);
    struct put_case c = {v0, v1, v2};
    size_t states = 0;
    int rc = pc_model_walk(m, e->states, check_put, &c, &states, msg, sizeof msg);
    size_t calls = pc_model_calls(m);
    pc_model_free(m);
    if (rc != 0)
        fail_msg("put: %s", msg);
    if (calls < 8)
        fail_msg("only %zu calls recorded (is the shim in record mode?)", calls);
    states_put += states;
}

/* ---- rotate-key -------------------------------------------------------------- */

struct rotate_case {
    char names[ROTATE_ITEMS][32];
    char values[ROTATE_ITEMS][512];
};

static int check_rotate(void *ctx, const pc_state *st, char *out, size_t cap)
{
    const struct rotate_case *c = ctx;
    char keyring[4200], got[1024];
    seal_err err = {0};
    snprintf(keyring, sizeof keyring, "%s/ring", st->dirs[1]);
    for (int recover = 0; recover < 2; recover++)
        for (size_t i = 0; i < ROTATE_ITEMS; i++) {
            const char *how = recover ? "after the recovery" : "on open";
            if (state_read(st->dirs[0], keyring, c->names[i], recover, got, sizeof got, &err) != SEAL_OK)
                return why(out, cap, "%s does not open %s: %s", c->names[i], how, err.message);
            if (strcmp(got, c->values[i]) != 0)
                return why(out, cap, "%s lost its value %s", c->names[i], how);
        }
    if (st->calls < st->total)
        return 0;
    /* rotate-key returned: one active key, the old ones retired, and every
     * item sealed with the active one. */
    seal_keyring *ring;
    seal_store *s;
    uint8_t active[SEAL_KEY_ID_BYTES];
    size_t nactive = 0, pending = 0;
    if (seal_keyring_load(keyring, (uid_t)-1, &ring, &err) != SEAL_OK)
        return why(out, cap, "keyring does not load: %s", err.message);
    for (size_t i = 0; i < seal_keyring_count(ring); i++) {
        uint8_t id[SEAL_KEY_ID_BYTES];
        int kst;
        uint64_t created;
        seal_keyring_entry(ring, i, id, &kst, &created);
        if (kst == SEAL_KEY_ACTIVE)
            memcpy(active, id, sizeof active), nactive++;
        pending += kst == SEAL_KEY_DECRYPT_ONLY;
    }
    seal_keyring_free(ring);
    if (nactive != 1 || pending != 0)
        return why(out, cap, "rotate-key returned, but the keyring on disk has %zu active and %zu decrypt-only "
                   "keys", nactive, pending);
    if (seal_store_open(st->dirs[0], &s, &err) != SEAL_OK)
        return why(out, cap, "store does not open: %s", err.message);
    for (size_t i = 0; i < ROTATE_ITEMS; i++) {
        seal_header h;
        if (seal_store_header(s, c->names[i], &h, &err) != SEAL_OK ||
            memcmp(h.key_id, active, SEAL_KEY_ID_BYTES) != 0) {
            seal_store_close(s);
            return why(out, cap, "rotate-key returned, but %s on disk is not sealed with the new key",
                       c->names[i]);
        }
    }
    seal_store_close(s);
    return 0;
}

static void rotate_key_leaves_every_item_readable_at_every_power_cut(void **state)
{
    struct env *e = *state;
    char msg[4096];
    struct rotate_case c;
    /* Two puts of grant, so grant.previous is an item too. */
    snprintf(c.names[0], sizeof c.names[0], "client_secret");
    snprintf(c.names[1], sizeof c.names[1], "grant");
    snprintf(c.names[2], sizeof c.names[2], "grant.previous");
    value_for("cs", 4, c.values[0], sizeof c.values[0]);
    value_for("grant", 5, c.values[1], sizeof c.values[1]);
    value_for("grant", 6, c.values[2], sizeof c.values[2]);
    assert_int_equal(put(e, 0, c.names[0], c.values[0]), 0);
    assert_int_equal(put(e, 0, "grant", c.values[2]), 0);
    assert_int_equal(put(e, 0, "grant", c.values[1]), 0);
    pc_model *m;
    const pc_watch w[] = {{e->store, NULL}, {e->keys, "ring"}};
    if (pc_model_new(w, 2, e->snap, &m, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    char *argv[] = {(char *)vap_seal, "rotate-key", "--keyring", e->keyring, "--store", e->store, NULL};
    if (run(e, 1, NULL, argv) != 0)
        fail_msg("recorded rotate-key failed: %s", e->err);
    size_t states = 0;
    int rc = pc_model_walk(m, e->states, check_rotate, &c, &states, msg, sizeof msg);
    size_t calls = pc_model_calls(m);
    pc_model_free(m);
    if (rc != 0)
        fail_msg("rotate-key: %s", msg);
    if (calls < 4 * (ROTATE_ITEMS + 2))
        fail_msg("only %zu calls recorded (is the shim in record mode?)", calls);
    states_rotate += states;
}

/* ---- the refresh seal -------------------------------------------------------- */

/* Child mode (argv[1] = "refresh-helper"): the plugin's refresh seal on the
 * library, in its order (plugin/oauth/refresh_renew.c, secrets.c): the
 * grant's lock, the recovery, the stored generation, the temp file prepared
 * before the token request, then the keyring re-read and the commit. */
static int refresh_helper(const char *store, const char *keyring, const char *value)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL, *fresh = NULL;
    seal_lock lk = {.fd = -1};
    seal_txn *t = NULL;
    seal_header h;
    seal_err err;
    uint64_t recovered = 0;
    int rc = 3;
    if (seal_store_open(store, &st, &err) != SEAL_OK || seal_lock_acquire(st, "grant", 1, &lk, &err) != SEAL_OK ||
        seal_keyring_load(keyring, seal_store_owner(st), &ring, &err) != SEAL_OK ||
        seal_store_recover(st, ring, "grant", &recovered, &err) != SEAL_OK ||
        seal_store_header(st, "grant", &h, &err) != SEAL_OK ||
        seal_txn_prepare(st, "grant", SEAL_FILE_MAX, &t, &err) != SEAL_OK)
        goto out;
    rc = 4; /* the token endpoint would be called here */
    if (seal_keyring_load(keyring, seal_store_owner(st), &fresh, &err) != SEAL_OK ||
        seal_txn_commit(t, fresh, &bind_ok, h.generation + 1, (const uint8_t *)value, strlen(value), &err) !=
            SEAL_OK)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "refresh-helper: %s\n", err.message);
    seal_txn_free(t);
    seal_keyring_free(fresh);
    seal_keyring_free(ring);
    seal_lock_release(&lk);
    seal_store_close(st);
    return rc;
}

struct refresh_case {
    const char *old, *new_value;
};

static int check_refresh(void *ctx, const pc_state *st, char *out, size_t cap)
{
    const struct refresh_case *c = ctx;
    char keyring[4200], got[1024];
    seal_err err = {0};
    snprintf(keyring, sizeof keyring, "%s/ring", st->dirs[1]);
    int was_new = 0;
    for (int recover = 0; recover < 2; recover++) {
        const char *how = recover ? "after the recovery" : "on open";
        if (state_read(st->dirs[0], keyring, "grant", recover, got, sizeof got, &err) != SEAL_OK)
            return why(out, cap, "grant does not open %s: %s", how, err.message);
        int is_new = strcmp(got, c->new_value) == 0;
        if (!is_new && strcmp(got, c->old) != 0)
            return why(out, cap, "grant holds neither the old grant nor the renewed one %s", how);
        if (was_new && !is_new)
            return why(out, cap, "the recovery brought back the revoked grant");
        if (st->calls == st->total && !is_new)
            return why(out, cap, "the seal returned, but the grant on disk is the old one %s", how);
        was_new = is_new;
    }
    return 0;
}

static void refresh_seal_leaves_the_old_grant_or_the_new_one_at_every_power_cut(void **state)
{
    struct env *e = *state;
    char old[512], renewed[512], msg[4096], self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    value_for("grant", 7, old, sizeof old);
    value_for("grant", 8, renewed, sizeof renewed);
    assert_int_equal(put(e, 0, "grant", old), 0);
    pc_model *m;
    const pc_watch w[] = {{e->store, NULL}, {e->keys, "ring"}};
    if (pc_model_new(w, 2, e->snap, &m, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    char *argv[] = {self, "refresh-helper", e->store, e->keyring, renewed, NULL};
    if (run(e, 1, NULL, argv) != 0)
        fail_msg("recorded refresh seal failed: %s", e->err);
    struct refresh_case c = {old, renewed};
    size_t states = 0;
    int rc = pc_model_walk(m, e->states, check_refresh, &c, &states, msg, sizeof msg);
    size_t calls = pc_model_calls(m);
    pc_model_free(m);
    if (rc != 0)
        fail_msg("refresh seal: %s", msg);
    if (calls < 4)
        fail_msg("only %zu calls recorded (is the shim in record mode?)", calls);
    states_refresh += states;
}

/* ---- the model itself -------------------------------------------------------- */

/* The checks above prove nothing unless the model shows the damage of a
 * missing fsync: replayed by hand, each such sequence must leave a state
 * where the item is empty or gone. */
static int check_not_empty(void *ctx, const pc_state *st, char *out, size_t cap)
{
    (void)ctx;
    char path[4300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/x", st->dirs[0]);
    if (stat(path, &sb) != 0)
        return why(out, cap, "x is gone");
    if (sb.st_size == 0)
        return why(out, cap, "x is empty");
    if (st->calls == st->total && sb.st_size != 3)
        return why(out, cap, "x is not the new one after the last call");
    return 0;
}

/* One hand-written record line: KIND, then paths by code (x: the item,
 * t: its temp file, d: the directory; 0: none). */
struct hand_event {
    char kind, a, b;
};

static const char *hand_path(struct env *e, char code, char *buf, size_t cap)
{
    snprintf(buf, cap, code == 'x' ? "%s/x" : code == 't' ? "%s/.x.tmp.1" : "%s", e->store);
    return buf;
}

static void model_finds_the_state_each_missing_fsync_leaves(void **state)
{
    struct env *e = *state;
    char x[4400], snap[4400], msg[4096], path[4400], a[4400], b[4400];
    snprintf(x, sizeof x, "%s/x", e->store);
    test_write_file(x, "old!", 4, 0600);
    static const struct {
        const char *name;
        struct hand_event ev[6];
        int ok;
    } cases[] = {
        {"all steps", {{'C', 't', 0}, {'F', 't', 's'}, {'R', 't', 'x'}, {'D', 'd', 0}}, 1},
        {"no fsync of the file", {{'C', 't', 0}, {'R', 't', 'x'}, {'D', 'd', 0}}, 0},
        {"no fsync of the directory", {{'C', 't', 0}, {'F', 't', 's'}, {'R', 't', 'x'}}, 0},
        {"directory fsync before the rename", {{'C', 't', 0}, {'F', 't', 's'}, {'D', 'd', 0}, {'R', 't', 'x'}}, 0},
        {"unlink, then create", {{'U', 'x', 0}, {'D', 'd', 0}, {'C', 'x', 0}, {'F', 'x', 's'}, {'D', 'd', 0}}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pc_model *m;
        const pc_watch w[] = {{e->store, NULL}};
        if (pc_model_new(w, 1, e->snap, &m, msg, sizeof msg) != 0)
            fail_msg("%s", msg);
        snprintf(snap, sizeof snap, "%s/s1", e->snap);
        test_write_file(snap, "new", 3, 0600);
        snprintf(path, sizeof path, "%s/events", e->snap);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (const struct hand_event *ev = cases[i].ev; ev->kind; ev++)
            fprintf(f, "%c %s%s%s\n", ev->kind, hand_path(e, ev->a, a, sizeof a), ev->b ? " " : "",
                    ev->b == 's' ? "s1" : ev->b ? hand_path(e, ev->b, b, sizeof b) : "");
        fclose(f);
        size_t states = 0;
        int rc = pc_model_walk(m, e->states, check_not_empty, NULL, &states, msg, sizeof msg);
        pc_model_free(m);
        if ((rc == 0) != cases[i].ok)
            fail_msg("%s: the model %s (%s)", cases[i].name, rc == 0 ? "found no bad state" : "failed",
                     rc == 0 ? "" : msg);
    }
}

static void states_checked_are_reported(void **state)
{
    (void)state;
    printf("# power-cut: put %zu states, rotate-key %zu, refresh seal %zu\n", states_put, states_rotate,
           states_refresh);
    assert_true(states_put > 0 && states_rotate > 0 && states_refresh > 0);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "refresh-helper") == 0)
        return sodium_init() < 0 ? 2 : refresh_helper(argv[2], argv[3], argv[4]);
    if (argc < 3)
        return 2;
    vap_seal = argv[1];
    shim = argv[2];
    if (sodium_init() < 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        T(model_finds_the_state_each_missing_fsync_leaves),
        T(put_leaves_the_old_value_or_the_new_one_at_every_power_cut),
        T(rotate_key_leaves_every_item_readable_at_every_power_cut),
        T(refresh_seal_leaves_the_old_grant_or_the_new_one_at_every_power_cut),
        cmocka_unit_test(states_checked_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
