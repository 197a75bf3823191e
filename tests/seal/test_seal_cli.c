/*
 * test_seal_cli.c - the vap-seal commands as an admin or a script uses them
 * (argv[2] = the vap-seal binary).  Values are checked by opening the store
 * with the library.
 */
#include "seal_test_util.h"

#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

static const char *vap_seal;
static const seal_binding bind_ok = {TEST_ISSUER, TEST_CLIENT};

struct env {
    char dir[4096];
    char keyring[4200];
    char store[4200];
    char out[16384];
    char err[16384];
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    test_tmpdir(e->dir, "cli");
    snprintf(e->keyring, sizeof e->keyring, "%s/keys/ring", e->dir);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
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

/* Runs vap-seal with up to 15 arguments (NULL-terminated) and INPUT on stdin. */
static int vs(struct env *e, const char *input, ...)
{
    char *argv[20];
    va_list ap;
    int n = 0;
    argv[n++] = (char *)vap_seal;
    va_start(ap, input);
    for (const char *a; n < 19 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return test_run(argv, input, input ? strlen(input) : 0, e->out, sizeof e->out, e->err, sizeof e->err, NULL);
}

static int put(struct env *e, const char *name, const char *input)
{
    return vs(e, input, "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER, "--client-id",
              TEST_CLIENT, name, NULL);
}

/* Opens NAME with the library; copies the value to OUT (NUL-terminated). */
static int open_item(struct env *e, const char *name, char *out, size_t cap, uint64_t *gen)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_err err;
    int rc = seal_store_open(e->store, &st, &err);
    if (rc == SEAL_OK)
        rc = seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err);
    if (rc == SEAL_OK)
        rc = seal_secret_new(&s, &err);
    if (rc == SEAL_OK)
        rc = seal_store_read(st, ring, name, &bind_ok, s, &err);
    if (rc == SEAL_OK) {
        size_t n = seal_secret_size(s) < cap - 1 ? seal_secret_size(s) : cap - 1;
        memcpy(out, seal_secret_data(s), n);
        out[n] = '\0';
        if (gen != NULL)
            *gen = seal_secret_generation(s);
    }
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

static void init(struct env *e)
{
    assert_int_equal(vs(e, NULL, "init", "--keyring", e->keyring, NULL), 0);
}

static void init_creates_a_0600_keyring_in_a_new_0700_directory(void **state)
{
    struct env *e = *state;
    struct stat sb;
    char dir[4300];
    init(e);
    assert_int_equal(stat(e->keyring, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    snprintf(dir, sizeof dir, "%s/keys", e->dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
}

static void init_refuses_to_overwrite_an_existing_keyring(void **state)
{
    struct env *e = *state;
    size_t l1, l2;
    init(e);
    uint8_t *before = test_read_file(e->keyring, &l1);
    assert_int_equal(vs(e, NULL, "init", "--keyring", e->keyring, NULL), 1);
    assert_non_null(strstr(e->err, "already exists"));
    uint8_t *after = test_read_file(e->keyring, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(before, after, l1);
    free(before);
    free(after);
}

static void put_strips_exactly_one_trailing_newline(void **state)
{
    struct env *e = *state;
    char v[64];
    init(e);
    assert_int_equal(put(e, "client_secret", "abc\n"), 0);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "abc");
    assert_int_equal(put(e, "client_secret", "abc"), 0);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "abc");
    /* A second newline is part of the secret: refused unless --force. */
    assert_int_equal(put(e, "client_secret", "abc\n\n"), 1);
    assert_int_equal(vs(e, "abc\n\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer",
                        TEST_ISSUER, "--client-id", TEST_CLIENT, "--force", "client_secret", NULL),
                     0);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "abc\n");
}

/* What a copy-paste adds is refused, saying what and where (never the
 * secret); --force seals it as given. */
static void put_refuses_spaces_cr_and_control_characters_saying_what_was_found(void **state)
{
    struct env *e = *state;
    static const struct {
        const char *input, *found;
    } cases[] = {
        {" s3cret\n", "starts with 1 space"},
        {"s3cret  \n", "ends with 2 spaces"},
        {"s3cret\r\n", "has a carriage return (\\r) at byte 7 of 7 (a file saved on Windows?)"},
        {"s3c\tret\n", "has a tab (0x09) at byte 4 of 7"},
        {"s3c\033ret\n", "has a control character (0x1b) at byte 4 of 7"},
    };
    char v[64], want[400];
    init(e);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(put(e, "client_secret", cases[i].input), 1);
        snprintf(want, sizeof want,
                 "vap-seal: the secret %s; nothing was changed.  Copy it again; if it really is so, run put "
                 "again with --force\n", cases[i].found);
        assert_string_equal(e->err, want);
        assert_null(strstr(e->err, "s3c"));
        assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_E_NOENT);
    }
    assert_int_equal(vs(e, "s3cret \n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer",
                        TEST_ISSUER, "--client-id", TEST_CLIENT, "--force", "client_secret", NULL),
                     0);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "s3cret ");
}

static void put_refuses_an_item_name_nothing_reads(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(put(e, "client-secret", "x\n"), 1);
    assert_string_equal(e->err, "vap-seal: \"client-secret\": nothing reads an item by that name: the plugin "
                                "reads client_secret (the OAuth client secret) and grant (written by vap-host "
                                "authorize)\n");
    assert_int_equal(put(e, "client_secret.previous", "x\n"), 1);
    assert_string_equal(e->err, "vap-seal: client_secret.previous is kept by vap-seal itself: run vap-seal "
                                "restore client_secret to bring it back\n");
    struct stat sb;
    assert_int_not_equal(stat(e->store, &sb) == 0 && sb.st_nlink > 2, 1);
}

/* The secret register sealed is the only copy: a put over it keeps it, and
 * restore brings it back (and can itself be undone). */
static void put_keeps_the_replaced_item_and_restore_brings_it_back(void **state)
{
    struct env *e = *state;
    char v[64];
    uint64_t gen = 0;
    init(e);
    assert_int_equal(put(e, "client_secret", "first\n"), 0);
    assert_string_equal(e->out, "sealed client_secret (generation 1)\n");
    assert_int_equal(put(e, "client_secret", "second\n"), 0);
    assert_string_equal(e->out, "sealed client_secret (generation 2); the one it replaced is kept as "
                                "client_secret.previous (vap-seal restore client_secret brings it back)\n");
    assert_int_equal(open_item(e, "client_secret.previous", v, sizeof v, &gen), SEAL_OK);
    assert_string_equal(v, "first");
    assert_int_equal(gen, 1);

    assert_int_equal(vs(e, NULL, "restore", "--keyring", e->keyring, "--store", e->store, "client_secret", NULL),
                     0);
    assert_string_equal(e->out, "restored client_secret from client_secret.previous (generation 3); the one it "
                                "replaced is now client_secret.previous\n");
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, &gen), SEAL_OK);
    assert_string_equal(v, "first");
    assert_int_equal(gen, 3);
    assert_int_equal(open_item(e, "client_secret.previous", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "second");

    /* Listed, and re-sealed by rotate-key like every item. */
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, NULL), 0);
    assert_non_null(strstr(e->out, "client_secret.previous"));
    assert_int_equal(vs(e, NULL, "rotate-key", "--keyring", e->keyring, "--store", e->store, NULL), 0);
    assert_int_equal(open_item(e, "client_secret.previous", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "second");
}

static void restore_without_a_previous_item_says_so(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(put(e, "grant", "g\n"), 0);
    assert_int_equal(vs(e, NULL, "restore", "--keyring", e->keyring, "--store", e->store, "grant", NULL), 1);
    char want[9000];
    snprintf(want, sizeof want, "vap-seal: there is no grant.previous in %s: nothing was kept to restore\n",
             e->store);
    assert_string_equal(e->err, want);
}

/* -c: a key missing from (or broken on) the config line is named. */
static void put_with_a_config_names_the_key_it_could_not_read(void **state)
{
    struct env *e = *state;
    char cfg[4300], text[12000], want[12000];
    init(e);
    snprintf(cfg, sizeof cfg, "%s/vap.conf", e->dir);
    int n = snprintf(text, sizeof text, "openemr /m.so issuer=%s store=%s keyring=%s\n", TEST_ISSUER, e->store,
                     e->keyring);
    test_write_file(cfg, text, (size_t)n, 0600);
    assert_int_equal(vs(e, "x\n", "put", "-c", cfg, "client_secret", NULL), 1);
    snprintf(want, sizeof want,
             "vap-seal: put needs the issuer and client_id the secret belongs to: config %s has no client_id= on "
             "the instance's line; add client_id=ID there (vap-host register --write-config does), or give "
             "--client-id ID\n", cfg);
    assert_string_equal(e->err, want);

    n = snprintf(text, sizeof text, "openemr /m.so issuer=%s client_id=%s store=%s\n", TEST_ISSUER, TEST_CLIENT,
                 e->store);
    test_write_file(cfg, text, (size_t)n, 0600);
    assert_int_equal(vs(e, "x\n", "put", "-c", cfg, "client_secret", NULL), 2);
    snprintf(want, sizeof want,
             "vap-seal: put needs --keyring: config %s has no keyring= on the instance's line; add keyring=PATH "
             "there, or give --keyring PATH\n", cfg);
    assert_string_equal(e->err, want);

    n = snprintf(text, sizeof text, "openemr /m.so issuer=%s \\\n  scope=\"openid fhirUser\n", TEST_ISSUER);
    test_write_file(cfg, text, (size_t)n, 0600);
    assert_int_equal(vs(e, "x\n", "put", "-c", cfg, "client_secret", NULL), 1);
    snprintf(want, sizeof want,
             "vap-seal: config %s: the value of scope= on line 1 is too long or its quote is not closed: end it "
             "with \"\n", cfg);
    assert_string_equal(e->err, want);
}

static void put_refuses_empty_input(void **state)
{
    struct env *e = *state;
    static const char *inputs[] = {"", "\n"};
    char v[64];
    init(e);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(put(e, "client_secret", inputs[i]), 1);
        assert_non_null(strstr(e->err, "empty"));
        assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_E_NOENT);
    }
}

static void put_refuses_without_issuer_and_client_id(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(vs(e, "x", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                        "client_secret", NULL),
                     1);
    assert_non_null(strstr(e->err, "--client-id"));
    assert_int_equal(vs(e, "x", "put", "--keyring", e->keyring, "--store", e->store, "--client-id", TEST_CLIENT,
                        "client_secret", NULL),
                     1);
}

static void put_refuses_a_secret_on_the_command_line(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(vs(e, "x", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                        "--client-id", TEST_CLIENT, "client_secret", "hunter2", NULL),
                     2);
    assert_non_null(strstr(e->err, "stdin"));
}

static void put_bumps_the_generation_each_time(void **state)
{
    struct env *e = *state;
    char v[64];
    uint64_t gen = 0;
    init(e);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(put(e, "grant", "g"), 0);
        assert_int_equal(open_item(e, "grant", v, sizeof v, &gen), SEAL_OK);
        assert_int_equal(gen, (uint64_t)i);
    }
}

static void put_reads_issuer_client_id_store_and_keyring_from_the_config(void **state)
{
    struct env *e = *state;
    char cfg[4300], text[12000], v[64];
    init(e);
    snprintf(cfg, sizeof cfg, "%s/vap.conf", e->dir);
    int n = snprintf(text, sizeof text,
                     "# two instances\n"
                     "other  /usr/lib/vap/vap_openemr.so issuer=https://wrong.example/oauth2/default client_id=no\n"
                     "openemr /usr/lib/vap/vap_openemr.so issuer=%s \\\n"
                     "    client_id=\"%s\" scope=\"openid fhirUser # not a comment\" \\\n"
                     "    store=%s keyring=%s\n",
                     TEST_ISSUER, TEST_CLIENT, e->store, e->keyring);
    test_write_file(cfg, text, (size_t)n, 0600);
    assert_int_equal(vs(e, "from-config\n", "put", "-c", cfg, "-i", "openemr", "client_secret", NULL), 0);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "from-config");
    /* Two instance lines and no -i: refused rather than guessed. */
    assert_int_equal(vs(e, "x\n", "put", "-c", cfg, "client_secret", NULL), 1);
    assert_non_null(strstr(e->err, "-i NAME"));
}

/* Reads from the pty master until NEEDLE has been seen (or 10 s pass);
 * appends everything to SEEN. */
static int pty_expect(int fd, const char *needle, char *seen, size_t cap)
{
    size_t n = strlen(seen);
    for (int waited = 0; strstr(seen, needle) == NULL && waited < 100; waited++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, seen + n, cap - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        seen[n] = '\0';
    }
    return strstr(seen, needle) != NULL ? 0 : -1;
}

static void put_on_a_terminal_prompts_twice_without_echo(void **state)
{
    struct env *e = *state;
    char seen[8192] = "", v[64];
    init(e);
    int master;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(vap_seal, vap_seal, "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
              "--client-id", TEST_CLIENT, "client_secret", (char *)NULL);
        _exit(127);
    }
    assert_int_equal(pty_expect(master, "Secret", seen, sizeof seen), 0);
    assert_int_equal(write(master, "tty-secret-42\n", 14), 14);
    assert_int_equal(pty_expect(master, "Again", seen, sizeof seen), 0);
    assert_int_equal(write(master, "tty-secret-42\n", 14), 14);
    assert_int_equal(pty_expect(master, "sealed client_secret", seen, sizeof seen), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(master);
    assert_null(strstr(seen, "tty-secret")); /* never echoed */
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "tty-secret-42");
}

static void list_shows_names_key_ids_and_generations_never_values(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(put(e, "client_secret", "very-secret-1"), 0);
    assert_int_equal(put(e, "grant", "very-secret-2"), 0);
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, NULL), 0);
    assert_non_null(strstr(e->out, "client_secret"));
    assert_non_null(strstr(e->out, "grant"));
    assert_non_null(strstr(e->out, "generation 1"));
    assert_null(strstr(e->out, "very-secret"));
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, "--json", NULL), 0);
    assert_true(e->out[0] == '[');
    assert_non_null(strstr(e->out, "{\"name\":\"client_secret\",\"key_id\":\""));
    assert_non_null(strstr(e->out, "\"generation\":1"));
    assert_null(strstr(e->out, "very-secret"));
}

static void verify_names_each_failing_item_and_exits_nonzero(void **state)
{
    struct env *e = *state;
    char p[4300];
    size_t len;
    init(e);
    assert_int_equal(put(e, "client_secret", "a"), 0);
    assert_int_equal(put(e, "grant", "b"), 0);
    assert_int_equal(vs(e, NULL, "verify", "--keyring", e->keyring, "--store", e->store, NULL), 0);
    snprintf(p, sizeof p, "%s/grant", e->store);
    uint8_t *buf = test_read_file(p, &len);
    buf[len - 1] ^= 1;
    test_write_file(p, buf, len, 0600);
    free(buf);
    assert_int_equal(vs(e, NULL, "verify", "--keyring", e->keyring, "--store", e->store, NULL), 1);
    assert_non_null(strstr(e->out, "client_secret    ok"));
    assert_non_null(strstr(e->out, "grant            FAILED"));
    assert_non_null(strstr(e->err, "grant: sealed file failed authentication"));
    assert_int_equal(vs(e, NULL, "verify", "--keyring", e->keyring, "--store", e->store, "--json", NULL), 1);
    assert_non_null(strstr(e->out, "{\"name\":\"grant\",\"ok\":false,\"error\":"));
    assert_non_null(strstr(e->out, "\"ok\":false}"));
}

static void verify_checks_the_binding_when_given(void **state)
{
    struct env *e = *state;
    init(e);
    assert_int_equal(put(e, "client_secret", "a"), 0);
    assert_int_equal(vs(e, NULL, "verify", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                        "--client-id", "someone-else", NULL),
                     1);
    assert_non_null(strstr(e->err, "another client_id"));
}

static void rotate_key_reseals_every_item_and_retires_the_old_key(void **state)
{
    struct env *e = *state;
    char v[64], before[SEAL_NAME_MAX + 40];
    seal_keyring *ring;
    seal_err err;
    init(e);
    assert_int_equal(put(e, "client_secret", "cs-value"), 0);
    assert_int_equal(put(e, "grant", "grant-value"), 0);
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, NULL), 0);
    snprintf(before, sizeof before, "%.40s", strstr(e->out, "key "));
    assert_int_equal(vs(e, NULL, "rotate-key", "--keyring", e->keyring, "--store", e->store, NULL), 0);
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, NULL), 0);
    assert_null(strstr(e->out, before));
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "cs-value");
    assert_int_equal(open_item(e, "grant", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "grant-value");
    assert_int_equal(seal_keyring_load(e->keyring, (uid_t)-1, &ring, &err), SEAL_OK);
    assert_int_equal(seal_keyring_count(ring), 2);
    uint8_t id[SEAL_KEY_ID_BYTES];
    int st0, st1;
    uint64_t created;
    assert_int_equal(seal_keyring_entry(ring, 0, id, &st0, &created), SEAL_OK);
    assert_int_equal(seal_keyring_entry(ring, 1, id, &st1, &created), SEAL_OK);
    assert_int_equal(st0, SEAL_KEY_RETIRED);
    assert_int_equal(st1, SEAL_KEY_ACTIVE);
    seal_keyring_free(ring);
}

/* A fleet's config line (grant_store=postgresql://...) whose database does
 * not answer: refused before the keyring changes, naming the database and
 * never the password its conninfo holds. */
static void rotate_key_with_an_unreachable_grant_store_changes_nothing(void **state)
{
    struct env *e = *state;
    char cfg[4300], text[12000];
    size_t before_len = 0, after_len = 0, item_len = 0, item_after_len = 0;
    init(e);
    assert_int_equal(put(e, "client_secret", "cs-value"), 0);
    snprintf(cfg, sizeof cfg, "%s/vap.conf", e->dir);
    int n = snprintf(text, sizeof text,
                     "openemr vap_openemr.so issuer=%s client_id=%s store=%s keyring=%s "
                     "grant_store=postgresql://vap:pw-in-conninfo-77@127.0.0.1:1/fleetdb\n",
                     TEST_ISSUER, TEST_CLIENT, e->store, e->keyring);
    test_write_file(cfg, text, (size_t)n, 0600);
    char item[4300];
    snprintf(item, sizeof item, "%s/client_secret", e->store);
    uint8_t *ring0 = test_read_file(e->keyring, &before_len);
    uint8_t *item0 = test_read_file(item, &item_len);
    assert_int_equal(vs(e, NULL, "rotate-key", "-c", cfg, NULL), 1);
    assert_non_null(strstr(e->err, "database fleetdb on 127.0.0.1:1 as vap"));
    assert_non_null(strstr(e->err, "cannot be reached"));
    assert_non_null(strstr(e->err, "nothing was changed"));
    assert_null(strstr(e->err, "pw-in-conninfo-77"));
    uint8_t *ring1 = test_read_file(e->keyring, &after_len);
    uint8_t *item1 = test_read_file(item, &item_after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(ring1, ring0, before_len);
    assert_int_equal(item_after_len, item_len);
    assert_memory_equal(item1, item0, item_len);
    free(ring0);
    free(ring1);
    free(item0);
    free(item1);
}

/* grant_store=file is the file store: rotate-key rotates the files alone. */
static void rotate_key_with_grant_store_file_needs_no_database(void **state)
{
    struct env *e = *state;
    char cfg[4300], text[12000];
    init(e);
    assert_int_equal(put(e, "client_secret", "cs-value"), 0);
    snprintf(cfg, sizeof cfg, "%s/vap.conf", e->dir);
    int n = snprintf(text, sizeof text,
                     "openemr vap_openemr.so issuer=%s client_id=%s store=%s keyring=%s "
                     "grant_store=file\n", TEST_ISSUER, TEST_CLIENT, e->store, e->keyring);
    test_write_file(cfg, text, (size_t)n, 0600);
    assert_int_equal(vs(e, NULL, "rotate-key", "-c", cfg, NULL), 0);
    assert_null(strstr(e->out, "shared grant"));
}

static void export_then_import_restores_the_keyring_and_every_item(void **state)
{
    struct env *e = *state;
    char bak[4300], k2[4300], s2[4300], v[64];
    init(e);
    assert_int_equal(put(e, "client_secret", "cs-value"), 0);
    assert_int_equal(put(e, "grant", "grant-value"), 0);
    snprintf(bak, sizeof bak, "%s/backup.vsb", e->dir);
    assert_int_equal(vs(e, "correct horse\n", "export", "--keyring", e->keyring, "--store", e->store, "--output", bak,
                        "--kdf-ops", "1", "--kdf-mem", "8", NULL),
                     0);
    struct stat sb;
    assert_int_equal(stat(bak, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    snprintf(k2, sizeof k2, "%s/keys2/ring", e->dir);
    snprintf(s2, sizeof s2, "%s/store2", e->dir);
    assert_int_equal(vs(e, "correct horse\n", "import", "--keyring", k2, "--store", s2, "--input", bak, NULL), 0);
    memcpy(e->keyring, k2, strlen(k2) + 1);
    memcpy(e->store, s2, strlen(s2) + 1);
    assert_int_equal(open_item(e, "client_secret", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "cs-value");
    assert_int_equal(open_item(e, "grant", v, sizeof v, NULL), SEAL_OK);
    assert_string_equal(v, "grant-value");
}

static void import_with_a_wrong_passphrase_is_refused_and_writes_nothing(void **state)
{
    struct env *e = *state;
    char bak[4300], k2[4300];
    init(e);
    assert_int_equal(put(e, "grant", "g"), 0);
    snprintf(bak, sizeof bak, "%s/backup.vsb", e->dir);
    snprintf(k2, sizeof k2, "%s/keys2/ring", e->dir);
    assert_int_equal(vs(e, "right\n", "export", "--keyring", e->keyring, "--store", e->store, "--output", bak,
                        "--kdf-ops", "1", "--kdf-mem", "8", NULL),
                     0);
    assert_int_equal(vs(e, "wrong\n", "import", "--keyring", k2, "--store", e->store, "--input", bak, NULL), 1);
    assert_non_null(strstr(e->err, "wrong passphrase"));
    assert_int_equal(access(k2, F_OK), -1);
}

/* A backup whose last item is not a sealed file: vap-seal import must
 * refuse it before writing the keyring or any item. */
static void import_of_a_backup_with_a_bad_item_writes_nothing(void **state)
{
    struct env *e = *state;
    static const uint8_t fill[] = {0x42};
    static const int active[] = {SEAL_KEY_ACTIVE};
    static uint8_t plain[SEAL_FILE_MAX * 2], item[SEAL_FILE_MAX];
    uint8_t ring_img[16 + 64];
    size_t ring_len = test_ring_image(fill, active, 1, ring_img), item_len = 0, used = 0;
    seal_keyring *ring = test_ring(fill, active, 1);
    seal_err err;
    assert_int_equal(seal_format_seal(ring, "client_secret", &bind_ok, 1, 1, (const uint8_t *)"cs", 2, item,
                                      sizeof item, &item_len, &err),
                     SEAL_OK);
    seal_keyring_free(ring);
    assert_int_equal(seal_backup_chunk_put(plain, sizeof plain, &used, ring_img, ring_len), SEAL_OK);
    assert_int_equal(seal_backup_chunk_put(plain, sizeof plain, &used, (const uint8_t *)"client_secret", 13), SEAL_OK);
    assert_int_equal(seal_backup_chunk_put(plain, sizeof plain, &used, item, item_len), SEAL_OK);
    assert_int_equal(seal_backup_chunk_put(plain, sizeof plain, &used, (const uint8_t *)"grant", 5), SEAL_OK);
    assert_int_equal(seal_backup_chunk_put(plain, sizeof plain, &used, (const uint8_t *)"not sealed", 10), SEAL_OK);
    uint8_t *bak_img = NULL;
    size_t bak_len = 0;
    assert_int_equal(seal_backup_seal("pw", 2, 1, 8u << 20, plain, used, &bak_img, &bak_len, &err), SEAL_OK);
    char bak[4300], k2[4300], s2[4300], cs[4400];
    snprintf(bak, sizeof bak, "%s/bad.vsb", e->dir);
    snprintf(k2, sizeof k2, "%s/keys2/ring", e->dir);
    snprintf(s2, sizeof s2, "%s/store2", e->dir);
    snprintf(cs, sizeof cs, "%s/client_secret", s2);
    test_write_file(bak, bak_img, bak_len, 0600);
    free(bak_img);
    assert_int_equal(vs(e, "pw\n", "import", "--keyring", k2, "--store", s2, "--input", bak, NULL), 1);
    assert_non_null(strstr(e->err, "grant"));
    assert_int_equal(access(k2, F_OK), -1);
    assert_int_equal(access(cs, F_OK), -1);
}

/* Each mistake is named, with its fix, before the secret is asked for. */
static void put_refusals_name_the_fix_before_asking_for_the_secret(void **state)
{
    struct env *e = *state;
    char missing[4300];
    init(e);
    assert_int_equal(vs(e, "x\n", "put", "--keyring", e->keyring, "client_secret", NULL), 2);
    assert_non_null(strstr(e->err, "--store"));
    assert_int_equal(vs(e, "x\n", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                        "--client-id", TEST_CLIENT, "Client.Secret", NULL),
                     1);
    assert_non_null(strstr(e->err, "nothing reads an item by that name"));
    assert_int_equal(vs(e, "x\n", "put", "--keyring", e->keyring, "--store", e->store, "client_secret", NULL), 1);
    assert_non_null(strstr(e->err, "--issuer URL --client-id ID"));
    snprintf(missing, sizeof missing, "%s/no-such-keyring", e->dir);
    assert_int_equal(vs(e, "x\n", "put", "--keyring", missing, "--store", e->store, "--issuer", TEST_ISSUER,
                        "--client-id", TEST_CLIENT, "client_secret", NULL),
                     1);
    assert_non_null(strstr(e->err, "does not exist"));
    assert_null(strstr(e->out, "sealed"));
}

/* An item that does not open is listed as unreadable, in text and JSON. */
static void list_marks_an_item_that_is_not_a_sealed_file(void **state)
{
    struct env *e = *state;
    char bad[4400];
    init(e);
    assert_int_equal(put(e, "grant", "g"), 0);
    snprintf(bad, sizeof bad, "%s/client_secret", e->store);
    test_write_file(bad, "not sealed at all", 17, 0600);
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, NULL), 0);
    assert_non_null(strstr(e->out, "client_secret"));
    assert_non_null(strstr(e->out, "unreadable"));
    assert_int_equal(vs(e, NULL, "list", "--store", e->store, "--json", NULL), 0);
    assert_non_null(strstr(e->out, "\"error\":"));
    assert_non_null(strstr(e->out, "\"name\":\"grant\",\"key_id\""));
    assert_int_equal(vs(e, NULL, "list", NULL), 2);
}

static void every_command_has_help(void **state)
{
    struct env *e = *state;
    static const char *cmds[] = {"init", "put", "list", "verify", "rotate-key", "export", "import"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        assert_int_equal(vs(e, NULL, cmds[i], "--help", NULL), 0);
        assert_non_null(strstr(e->out, "usage: vap-seal "));
        assert_non_null(strstr(e->out, cmds[i]));
    }
}

static void unknown_command_is_a_usage_error(void **state)
{
    struct env *e = *state;
    assert_int_equal(vs(e, NULL, "frobnicate", NULL), 2);
    assert_non_null(strstr(e->err, "unknown command"));
}

static void root_put_with_owner_gives_the_files_to_that_user(void **state)
{
    struct env *e = *state;
    struct stat sb;
    char p[4300];
    init(e);
    assert_int_equal(vs(e, "x", "put", "--keyring", e->keyring, "--store", e->store, "--issuer", TEST_ISSUER,
                        "--client-id", TEST_CLIENT, "--owner", "nobody", "grant", NULL),
                     0);
    assert_int_equal(stat(e->store, &sb), 0);
    assert_int_equal(sb.st_uid, TEST_NOBODY);
    snprintf(p, sizeof p, "%s/grant", e->store);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_uid, TEST_NOBODY);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

/* Whether PID sits in read(0, ...): by then vap-seal's start-up is done. */
static int reads_stdin(pid_t pid)
{
    char p[64], line[256];
    long nr = -1;
    unsigned long fd = 1;
    snprintf(p, sizeof p, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return 0;
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    return ok && sscanf(line, "%ld 0x%lx", &nr, &fd) == 2 && nr == SYS_read && fd == 0;
}

/* The secret passes through vap-seal: while put waits for it, the core limit
 * is 0 and the process is not dumpable, which shows from outside as
 * /proc/PID/status belonging to root although vap-seal runs as nobody. */
static void put_waits_for_the_secret_with_core_dumps_and_ptrace_off(void **state)
{
    struct env *e = *state;
    if (geteuid() != 0)
        skip(); /* dumpable shows only in a process of another user */
    init(e);
    /* A copy nobody may run (the build tree may be closed to it), started
     * through /usr/bin/env so that a valgrind pass, which skips system
     * tools' children, measures vap-seal itself rather than valgrind. */
    char copy[sizeof e->dir + 16];
    snprintf(copy, sizeof copy, "%s/vap-seal", e->dir);
    char *cp_argv[] = {"/bin/cp", (char *)vap_seal, copy, NULL};
    assert_int_equal(test_run(cp_argv, NULL, 0, e->out, sizeof e->out, e->err, sizeof e->err, NULL), 0);
    char *chown_argv[] = {"/bin/chown", "-R", "65534:65534", e->dir, NULL};
    assert_int_equal(test_run(chown_argv, NULL, 0, e->out, sizeof e->out, e->err, sizeof e->err, NULL), 0);
    int in[2];
    assert_int_equal(pipe(in), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A core limit of 0 inherited would hide a vap-seal that never sets it. */
        struct rlimit all = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_CORE, &all) != 0)
            _exit(126);
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        test_become_nobody();
        execl("/usr/bin/env", "env", copy, "put", "--keyring", e->keyring, "--store", e->store, "--issuer",
              TEST_ISSUER, "--client-id", TEST_CLIENT, "client_secret", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    int waited = 0, st = 0;
    while (!reads_stdin(pid) && waited++ < 3000 && waitpid(pid, &st, WNOHANG) == 0)
        usleep(10000);
    char p[64], limits[4096] = "";
    snprintf(p, sizeof p, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(limits, 1, sizeof limits - 1, f) : 0;
    limits[n] = '\0';
    if (f)
        fclose(f);
    struct stat sb;
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    int have_status = stat(p, &sb) == 0;
    assert_int_equal(write(in[1], "proc-secret\n", 12), 12);
    close(in[1]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *core = strstr(limits, "Max core file size");
    char soft[32] = "", hard[32] = "";
    assert_non_null(core);
    assert_int_equal(sscanf(core, "Max core file size %31s %31s", soft, hard), 2);
    assert_string_equal(soft, "0");
    assert_string_equal(hard, "0");
    assert_true(have_status);
    assert_int_equal(sb.st_uid, 0); /* not nobody's: not dumpable */
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    vap_seal = argv[2];
    if (sodium_init() < 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        T(init_creates_a_0600_keyring_in_a_new_0700_directory),
        T(init_refuses_to_overwrite_an_existing_keyring),
        T(put_strips_exactly_one_trailing_newline),
        T(put_refuses_empty_input),
        T(put_refuses_spaces_cr_and_control_characters_saying_what_was_found),
        T(put_refuses_an_item_name_nothing_reads),
        T(put_keeps_the_replaced_item_and_restore_brings_it_back),
        T(restore_without_a_previous_item_says_so),
        T(put_with_a_config_names_the_key_it_could_not_read),
        T(put_refuses_without_issuer_and_client_id),
        T(put_refuses_a_secret_on_the_command_line),
        T(put_bumps_the_generation_each_time),
        T(put_reads_issuer_client_id_store_and_keyring_from_the_config),
        T(put_on_a_terminal_prompts_twice_without_echo),
        T(list_shows_names_key_ids_and_generations_never_values),
        T(verify_names_each_failing_item_and_exits_nonzero),
        T(verify_checks_the_binding_when_given),
        T(rotate_key_reseals_every_item_and_retires_the_old_key),
        T(rotate_key_with_an_unreachable_grant_store_changes_nothing),
        T(rotate_key_with_grant_store_file_needs_no_database),
        T(export_then_import_restores_the_keyring_and_every_item),
        T(import_with_a_wrong_passphrase_is_refused_and_writes_nothing),
        T(import_of_a_backup_with_a_bad_item_writes_nothing),
        T(put_refusals_name_the_fix_before_asking_for_the_secret),
        T(list_marks_an_item_that_is_not_a_sealed_file),
        T(every_command_has_help),
        T(unknown_command_is_a_usage_error),
        T(root_put_with_owner_gives_the_files_to_that_user),
        T(put_waits_for_the_secret_with_core_dumps_and_ptrace_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
