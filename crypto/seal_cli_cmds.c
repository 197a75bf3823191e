/*
 * seal_cli_cmds.c - the vap-seal commands: init, put, list, verify,
 * rotate-key, export, import.  Each returns a process exit code and prints
 * one line per failure on stderr saying what is wrong and what to do.
 */
#include "seal_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLI_MAX_ITEMS 256u

typedef char cli_name[SEAL_NAME_MAX + 1];

static int cmd_owner(const char *owner, uid_t *uid, gid_t *gid);
static int cmd_ensure_dir(const char *path, uid_t uid, gid_t gid);
static int cmd_keyring_dir(const char *keyring, char *dir, size_t cap, uid_t uid, gid_t gid);
static void cmd_time(uint64_t t, char *out, size_t cap);

int cli_init(cli_opts *o)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    seal_keyring *ring = NULL;
    seal_err err = {0};
    uint8_t id[SEAL_KEY_ID_BYTES];
    char hex[2 * SEAL_KEY_ID_BYTES + 1], dir[4096];
    struct stat sb;
    int rc = cmd_need("--keyring", o->keyring, "init");
    if (rc != CLI_EXIT_OK || (rc = cmd_owner(o->owner, &uid, &gid)) != CLI_EXIT_OK)
        return rc;
    if ((rc = cmd_keyring_dir(o->keyring, dir, sizeof dir, uid, gid)) != CLI_EXIT_OK)
        return rc;
    /* Root without --owner gives the keyring to the directory's owner. */
    if (geteuid() == 0 && o->owner == NULL && stat(dir, &sb) == 0 && sb.st_uid != 0) {
        uid = sb.st_uid;
        gid = sb.st_gid;
    }
    if (lstat(o->keyring, &sb) == 0)
        return cli_fail("keyring %s already exists; nothing was changed (rotate-key adds a new key to it)",
                        o->keyring);
    if (seal_keyring_new(&ring, &err) != SEAL_OK || seal_keyring_add_active(ring, (uint64_t)time(NULL), id, &err) ||
        seal_keyring_save(ring, o->keyring, uid, gid, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    seal_key_id_hex(id, hex);
    printf("created keyring %s with active key %s\n", o->keyring, hex);
out:
    seal_keyring_free(ring);
    return rc;
}

int cli_list(cli_opts *o)
{
    seal_store *st = NULL;
    seal_err err = {0};
    cli_name *names = NULL;
    size_t n = 0;
    int rc = cmd_need("--store", o->store, "list");
    if (rc != CLI_EXIT_OK || (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    names = calloc(CLI_MAX_ITEMS, sizeof *names);
    if (names == NULL || seal_store_list(st, names, CLI_MAX_ITEMS, &n, &err) != SEAL_OK) {
        rc = cli_fail("%s", names == NULL ? "out of memory" : err.message);
        goto out;
    }
    if (o->json)
        fputs("[", stdout);
    for (size_t i = 0; i < n; i++) {
        seal_header h;
        char hex[2 * SEAL_KEY_ID_BYTES + 1] = "", when[32] = "";
        int ok = seal_store_header(st, names[i], &h, &err) == SEAL_OK;
        if (ok) {
            seal_key_id_hex(h.key_id, hex);
            cmd_time(h.created, when, sizeof when);
        }
        if (o->json) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, names[i]);
            if (ok)
                printf(",\"key_id\":\"%s\",\"generation\":%llu,\"created\":\"%s\"}", hex,
                       (unsigned long long)h.generation, when);
            else {
                fputs(",\"error\":", stdout);
                cli_json_string(stdout, err.message);
                fputs("}", stdout);
            }
        } else if (ok) {
            printf("%-16s key %s  generation %llu  created %s\n", names[i], hex, (unsigned long long)h.generation,
                   when);
        } else {
            printf("%-16s unreadable: %s\n", names[i], err.message);
        }
    }
    if (o->json)
        fputs("]\n", stdout);
out:
    free(names);
    seal_store_close(st);
    return rc;
}

int cli_verify(cli_opts *o)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_err err = {0};
    cli_name *names = NULL;
    size_t n = 0, failed = 0;
    int rc = cmd_need("--keyring", o->keyring, "verify");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "verify");
    if (rc != CLI_EXIT_OK || (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    names = calloc(CLI_MAX_ITEMS, sizeof *names);
    if (names == NULL || seal_keyring_load(o->keyring, seal_store_owner(st), &ring, &err) != SEAL_OK ||
        seal_secret_new(&s, &err) != SEAL_OK || seal_store_list(st, names, CLI_MAX_ITEMS, &n, &err) != SEAL_OK) {
        rc = cli_fail("%s", names == NULL ? "out of memory" : err.message);
        goto out;
    }
    seal_binding b = {o->issuer, o->client_id};
    size_t live = 0;
    if (o->json)
        fputs("{\"items\":[", stdout);
    /* Pass 0: the live items; pass 1: kept copies, which may belong to an
     * earlier client_id, so only their authenticity is checked. */
    for (int pass = 0; pass < 2; pass++) {
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
            size_t nl = strlen(names[i]), sl = sizeof SEAL_PREVIOUS_SUFFIX - 1;
            int kept = nl > sl && strcmp(names[i] + nl - sl, SEAL_PREVIOUS_SUFFIX) == 0;
            if (kept != pass)
                continue;
            char base[SEAL_NAME_MAX + 1];
            snprintf(base, sizeof base, "%.*s", (int)(kept ? nl - sl : nl), names[i]);
            seal_lock lk = {.fd = -1};
            int r = seal_lock_acquire(st, base, 0, &lk, &err);
            if (r == SEAL_OK)
                r = seal_store_read(st, ring, names[i], kept ? NULL : &b, s, &err);
            uint64_t gen = seal_secret_generation(s);
            seal_secret_clear(s);
            seal_lock_release(&lk);
            if (r != SEAL_OK && !kept)
                failed++;
            live += !kept;
            if (o->json) {
                printf("%s{\"name\":", shown ? "," : "");
                cli_json_string(stdout, names[i]);
                if (r == SEAL_OK) {
                    printf(",\"ok\":true,\"generation\":%llu}", (unsigned long long)gen);
                } else {
                    fputs(",\"ok\":false,\"error\":", stdout);
                    cli_json_string(stdout, err.message);
                    fputs("}", stdout);
                }
            } else if (kept && shown == 0) {
                printf("kept copies (vap-seal restore NAME brings one back, vap-seal drop NAME.previous "
                       "deletes it):\n");
            }
            if (!o->json && r == SEAL_OK)
                printf("%-16s ok (generation %llu)\n", names[i], (unsigned long long)gen);
            else if (!o->json && !kept)
                printf("%-16s FAILED\n", names[i]);
            else if (!o->json)
                printf("%-16s cannot be opened (%s)\n", names[i], err.message);
            if (!o->json && !kept && r != SEAL_OK)
                fprintf(stderr, "vap-seal: %s\n", err.message);
            shown++;
        }
        if (o->json && pass == 0)
            fputs("],\"kept\":[", stdout);
    }
    if (o->json)
        printf("],\"ok\":%s}\n", failed ? "false" : "true");
    if (failed)
        rc = cli_fail("%zu of %zu items failed verification", failed, live);
out:
    free(names);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

int cli_rotate_key(cli_opts *o)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_err err = {0};
    cli_name *names = NULL;
    cli_pg *pg = NULL;
    size_t n = 0, resealed = 0;
    uint64_t row_gen = 0;
    int row_changed = 0;
    uint8_t id[SEAL_KEY_ID_BYTES];
    char hex[2 * SEAL_KEY_ID_BYTES + 1];
    int rc = cmd_need("--keyring", o->keyring, "rotate-key");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "rotate-key");
    /* As the plugin: without a client_id (not registered yet) there is no row. */
    int shared = o->grant_store != NULL && o->client_id != NULL;
    if (rc == CLI_EXIT_OK && shared)
        rc = cmd_need("--issuer", o->issuer, "rotate-key");
    if (rc != CLI_EXIT_OK || (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    uid_t uid = geteuid() == 0 ? seal_store_owner(st) : (uid_t)-1;
    gid_t gid = (gid_t)-1;
    struct stat sb;
    if (uid != (uid_t)-1 && stat(o->store, &sb) == 0)
        gid = sb.st_gid;
    names = calloc(CLI_MAX_ITEMS, sizeof *names);
    if (names == NULL || seal_keyring_load(o->keyring, seal_store_owner(st), &ring, &err) != SEAL_OK) {
        rc = cli_fail("%s", names == NULL ? "out of memory" : err.message);
        goto out;
    }
    /* 0. A fleet's grant lives in PostgreSQL: the database must answer and
     *    the row open before the keyring changes, or the old key would be
     *    retired with the row still sealed under it. */
    if (shared && (rc = cli_pg_open(o, ring, &pg)) != CLI_EXIT_OK)
        goto out;
    /* 1. The new key becomes active (the old one decrypt-only) and is on
     *    disk before any item is sealed with it. */
    if (seal_keyring_add_active(ring, (uint64_t)time(NULL), id, &err) != SEAL_OK ||
        seal_keyring_save(ring, o->keyring, uid, gid, &err) != SEAL_OK ||
        seal_store_list(st, names, CLI_MAX_ITEMS, &n, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    /* 2. Every item re-sealed under its lock (with the ring re-read there).
     * 3. Checked: every item opens and is on the new key. */
    for (size_t i = 0; i < n; i++) {
        int changed = 0;
        seal_header h;
        if (seal_store_reseal(st, o->keyring, names[i], &changed, &err) != SEAL_OK ||
            seal_store_header(st, names[i], &h, &err) != SEAL_OK) {
            rc = cli_fail("%s; the old key was kept, so nothing is lost: fix this item and run rotate-key again",
                          err.message);
            goto out;
        }
        if (sodium_memcmp(h.key_id, id, SEAL_KEY_ID_BYTES) != 0) {
            rc = cli_fail("%s was sealed again by another key during the rotation; run rotate-key again",
                          names[i]);
            goto out;
        }
        resealed += (size_t)changed;
    }
    seal_keyring_free(ring);
    ring = NULL;
    if (seal_keyring_load(o->keyring, seal_store_owner(st), &ring, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    /* 2b. The shared row, likewise, committed and read back on the new key. */
    if (pg != NULL && ((rc = cli_pg_reseal(pg, ring, o->keyring, id, &row_gen, &row_changed)) != CLI_EXIT_OK ||
                       (rc = cli_pg_check(pg, id)) != CLI_EXIT_OK))
        goto out;
    /* 4. Only now is the old key retired. */
    seal_keyring_retire_decrypt_only(ring);
    if (seal_keyring_save(ring, o->keyring, uid, gid, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    seal_key_id_hex(id, hex);
    printf("new active key %s; %zu of %zu items re-sealed; old keys retired\n", hex, resealed, n);
    if (pg != NULL) {
        if (row_gen != 0)
            printf("the shared grant in %s %s (generation %llu)\n", cli_pg_where(pg),
                   row_changed ? "re-sealed" : "was already on the new key", (unsigned long long)row_gen);
        else
            printf("no shared grant in %s yet: nothing to re-seal there\n", cli_pg_where(pg));
        printf("now give every other machine this keyring (vap-seal export here, vap-seal import --force "
               "there): until then they cannot open the shared grant\n");
    }
out:
    cli_pg_close(pg);
    free(names);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

int cli_export(cli_opts *o)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_err err = {0};
    cli_name *names = NULL;
    uint8_t *plain = NULL, *ring_img = NULL, *item = NULL, *out_buf = NULL;
    char *pass = NULL;
    size_t n = 0, used = 0, ring_len = 0, pass_len = 0, out_len = 0;
    int fd = -1;
    int rc = cmd_need("--keyring", o->keyring, "export");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "export");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--output", o->output, "export");
    if (rc != CLI_EXIT_OK || (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    names = calloc(CLI_MAX_ITEMS, sizeof *names);
    plain = sodium_malloc(SEAL_BACKUP_MAX);
    item = malloc(SEAL_FILE_MAX);
    if (names == NULL || plain == NULL || item == NULL) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if (seal_keyring_load(o->keyring, seal_store_owner(st), &ring, &err) != SEAL_OK ||
        seal_keyring_serialize(ring, &ring_img, &ring_len, &err) != SEAL_OK ||
        seal_store_list(st, names, CLI_MAX_ITEMS, &n, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    if (seal_backup_chunk_put(plain, SEAL_BACKUP_MAX, &used, ring_img, ring_len) != SEAL_OK)
        goto too_big;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        seal_lock lk = {.fd = -1};
        int r = seal_lock_acquire(st, names[i], 0, &lk, &err);
        if (r == SEAL_OK)
            r = seal_store_read_raw(st, names[i], item, SEAL_FILE_MAX, &len, &err);
        seal_lock_release(&lk);
        if (r != SEAL_OK) {
            rc = cli_fail("%s", err.message);
            goto out;
        }
        if (seal_backup_chunk_put(plain, SEAL_BACKUP_MAX, &used, (const uint8_t *)names[i], strlen(names[i])) ||
            seal_backup_chunk_put(plain, SEAL_BACKUP_MAX, &used, item, len))
            goto too_big;
    }
    if ((rc = cli_read_passphrase(1, &pass, &pass_len)) != CLI_EXIT_OK)
        goto out;
    if (seal_backup_seal(pass, pass_len, o->kdf_ops, o->kdf_mem, plain, used, &out_buf, &out_len, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    fd = open(o->output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = cli_fail("cannot create %s: %s (the backup is never written over an existing file)", o->output,
                      strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < out_len;) {
        ssize_t w = write(fd, out_buf + off, out_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = cli_fail("cannot write %s: %s", o->output, strerror(errno));
            unlink(o->output);
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = cli_fail("cannot flush %s to disk: %s", o->output, strerror(errno));
        unlink(o->output);
        goto out;
    }
    printf("exported the keyring and %zu items to %s\n", n, o->output);
    goto out;
too_big:
    rc = cli_fail("the store is too large for one backup (limit %u bytes)", SEAL_BACKUP_MAX);
out:
    if (fd >= 0)
        close(fd);
    free(out_buf);
    sodium_free(pass);
    free(item);
    sodium_free(ring_img);
    sodium_free(plain);
    free(names);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

int cli_import(cli_opts *o)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_err err = {0};
    uint8_t *file = NULL, *plain = NULL;
    char *pass = NULL;
    size_t flen = 0, plen = 0, pass_len = 0, off = 0, items = 0, dlen, nlen;
    const uint8_t *data, *name;
    struct stat sb;
    int fd = -1;
    int rc = cmd_need("--keyring", o->keyring, "import");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "import");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--input", o->input, "import");
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!o->force && lstat(o->keyring, &sb) == 0)
        return cli_fail("keyring %s already exists; nothing was changed (use --force to replace it)", o->keyring);
    fd = open(o->input, O_RDONLY | O_CLOEXEC);
    file = malloc(SEAL_BACKUP_MAX + 1);
    if (fd < 0 || file == NULL) {
        rc = cli_fail("cannot open %s: %s", o->input, file == NULL ? "out of memory" : strerror(errno));
        goto out;
    }
    for (ssize_t r; flen <= SEAL_BACKUP_MAX && (r = read(fd, file + flen, SEAL_BACKUP_MAX + 1 - flen)) != 0;) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = cli_fail("cannot read %s: %s", o->input, strerror(errno));
            goto out;
        }
        flen += (size_t)r;
    }
    if ((rc = cli_read_passphrase(0, &pass, &pass_len)) != CLI_EXIT_OK)
        goto out;
    size_t want = 0;
    if (seal_backup_open(pass, pass_len, file, flen, &plain, &plen, &err) != SEAL_OK ||
        seal_keyring_new(&ring, &err) != SEAL_OK || seal_backup_check(plain, plen, ring, &want, &err) != SEAL_OK ||
        seal_backup_chunk_next(plain, plen, &off, &data, &dlen) != SEAL_OK) {
        rc = cli_fail("%s: %s", o->input, err.message[0] ? err.message : "backup is malformed");
        goto out;
    }
    if ((rc = cmd_open_store(o, 1, &st)) != CLI_EXIT_OK)
        goto out;
    uid_t uid = geteuid() == 0 ? seal_store_owner(st) : (uid_t)-1;
    gid_t gid = (gid_t)-1;
    if (uid != (uid_t)-1 && stat(o->store, &sb) == 0)
        gid = sb.st_gid;
    char kdir[4096];
    if ((rc = cmd_keyring_dir(o->keyring, kdir, sizeof kdir, uid, gid)) != CLI_EXIT_OK)
        goto out;
    if (seal_keyring_save(ring, o->keyring, uid, gid, &err) != SEAL_OK || seal_secret_new(&s, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    for (;;) {
        char nm[SEAL_NAME_MAX + 1];
        int r = seal_backup_chunk_next(plain, plen, &off, &name, &nlen);
        if (r == SEAL_E_NOENT)
            break;
        if (r != SEAL_OK || nlen == 0 || nlen > SEAL_NAME_MAX ||
            seal_backup_chunk_next(plain, plen, &off, &data, &dlen) != SEAL_OK) {
            rc = cli_fail("%s: backup is malformed", o->input);
            goto out;
        }
        memcpy(nm, name, nlen);
        nm[nlen] = '\0';
        if (!seal_name_valid(nm) || seal_store_write_raw(st, nm, data, dlen, &err) != SEAL_OK ||
            seal_store_read(st, ring, nm, NULL, s, &err) != SEAL_OK) {
            rc = cli_fail("%s: item %s: %s", o->input, nm, seal_name_valid(nm) ? err.message : "bad name");
            goto out;
        }
        seal_secret_clear(s);
        items++;
    }
    printf("imported the keyring and %zu items\n", items);
out:
    if (fd >= 0)
        close(fd);
    free(file);
    sodium_free(plain);
    sodium_free(pass);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

const char *cli_config_path;

int cmd_need(const char *what, const char *value, const char *cmd)
{
    if (value != NULL && *value != '\0')
        return CLI_EXIT_OK;
    /* With -c the admin expected the config line to say it: name its key. */
    const char *key = strcmp(what, "--keyring") == 0 ? "keyring" : strcmp(what, "--store") == 0 ? "store" : NULL;
    if (cli_config_path != NULL && key != NULL)
        fprintf(stderr, "vap-seal: %s needs %s: config %s has no %s= on the instance's line; add %s=PATH there, "
                        "or give %s PATH\n", cmd, what, cli_config_path, key, key, what);
    else
        fprintf(stderr, "vap-seal: %s needs %s (see vap-seal %s --help)\n", cmd, what, cmd);
    return CLI_EXIT_USAGE;
}

/* --owner USER (or uid); only root may give files away. */
static int cmd_owner(const char *owner, uid_t *uid, gid_t *gid)
{
    if (owner == NULL)
        return CLI_EXIT_OK;
    if (geteuid() != 0)
        return cli_fail("--owner needs root: run vap-seal as the service user instead");
    struct passwd pw, *res = NULL;
    char tmp[2048];
    if (getpwnam_r(owner, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL) {
        *uid = res->pw_uid;
        *gid = res->pw_gid;
        return CLI_EXIT_OK;
    }
    char *end;
    unsigned long v = strtoul(owner, &end, 10);
    if (*owner != '\0' && *end == '\0' && getpwuid_r((uid_t)v, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL) {
        *uid = res->pw_uid;
        *gid = res->pw_gid;
        return CLI_EXIT_OK;
    }
    return cli_fail("--owner %s: no such user", owner);
}

static int cmd_ensure_dir(const char *path, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0700) == 0) {
        if (uid != (uid_t)-1 && chown(path, uid, gid) != 0)
            return cli_fail("cannot give %s to uid %u: %s", path, (unsigned)uid, strerror(errno));
        return CLI_EXIT_OK;
    }
    if (errno == EEXIST)
        return CLI_EXIT_OK;
    return cli_fail("cannot create directory %s: %s", path, strerror(errno));
}

/* The keyring's directory, created 0700 when new (one level). */
static int cmd_keyring_dir(const char *keyring, char *dir, size_t cap, uid_t uid, gid_t gid)
{
    const char *slash = strrchr(keyring, '/');
    size_t dlen = slash == NULL ? 1 : (slash == keyring ? 1 : (size_t)(slash - keyring));
    if (dlen >= cap)
        return cli_fail("keyring path is too long");
    memcpy(dir, slash == NULL ? "." : keyring, dlen);
    dir[dlen] = '\0';
    return cmd_ensure_dir(dir, uid, gid);
}

int cmd_open_store(cli_opts *o, int create, seal_store **st)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    seal_err err = {0};
    int rc = cmd_owner(o->owner, &uid, &gid);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (create && (rc = cmd_ensure_dir(o->store, uid, gid)) != CLI_EXIT_OK)
        return rc;
    if (seal_store_open(o->store, st, &err) != SEAL_OK)
        return cli_fail("%s", err.message);
    if (uid != (uid_t)-1)
        seal_store_set_owner(*st, uid, gid);
    return CLI_EXIT_OK;
}

static void cmd_time(uint64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%llu", (unsigned long long)t);
}
