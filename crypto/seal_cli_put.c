/*
 * seal_cli_put.c - vap-seal put, restore and drop.  put refuses what an admin
 * never means to seal (an item nothing reads, a secret with the spaces or
 * carriage return a copy-paste adds) and keeps the item it replaces as
 * NAME.previous, because the client secret `register` sealed is the only
 * copy anyone has.  The secret itself is never printed, only what was
 * wrong with it and where.
 */
#include "seal_cli.h"

#include <sodium.h>
#include <string.h>

/* The items the plugin reads; anything else would be sealed in vain. */
static const char *const put_items[] = {"client_secret", "grant"};

static int put_name_ok(const char *name);
static int put_secret_ok(const uint8_t *s, size_t n, char *why, size_t cap);
static int put_need_binding(const cli_opts *o);

int cli_put(cli_opts *o)
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    uint8_t *secret = NULL;
    size_t len = 0;
    uint64_t gen = 0;
    int kept = 0;
    seal_err err = {0};
    char why[160];
    int rc = cmd_need("--keyring", o->keyring, "put");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "put");
    if (rc != CLI_EXIT_OK)
        return rc;
    if ((rc = put_name_ok(o->name)) != CLI_EXIT_OK || (rc = put_need_binding(o)) != CLI_EXIT_OK)
        return rc;
    if ((rc = cmd_open_store(o, 1, &st)) != CLI_EXIT_OK)
        return rc;
    /* Check the keyring before asking for the secret, so nobody types it in vain. */
    if (seal_keyring_load(o->keyring, seal_store_owner(st), &ring, &err) != SEAL_OK) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    if ((rc = cli_read_secret("Secret (not echoed): ", 1, &secret, &len)) != CLI_EXIT_OK)
        goto out;
    if (!o->force && !put_secret_ok(secret, len, why, sizeof why)) {
        rc = cli_fail("the secret %s; nothing was changed.  Copy it again; if it really is so, run put "
                      "again with --force", why);
        goto out;
    }
    seal_binding b = {o->issuer, o->client_id};
    int src = seal_store_put_keep(st, o->keyring, o->name, &b, secret, len, o->force, &gen, &kept, &err);
    if (src != SEAL_OK) {
        rc = cli_fail("%s%s", err.message, src == SEAL_E_EXISTS ? ".  To replace it without a copy, run put "
                                                                  "again with --force" : "");
        goto out;
    }
    if (kept)
        printf("sealed %s (generation %llu); the one it replaced is kept as %s" SEAL_PREVIOUS_SUFFIX
               " (vap-seal restore %s brings it back)\n",
               o->name, (unsigned long long)gen, o->name, o->name);
    else
        printf("sealed %s (generation %llu)\n", o->name, (unsigned long long)gen);
out:
    sodium_free(secret);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

int cli_restore(cli_opts *o)
{
    seal_store *st = NULL;
    seal_err err = {0};
    uint64_t gen = 0;
    int rc = cmd_need("--keyring", o->keyring, "restore");
    if (rc == CLI_EXIT_OK)
        rc = cmd_need("--store", o->store, "restore");
    if (rc != CLI_EXIT_OK || (rc = put_name_ok(o->name)) != CLI_EXIT_OK ||
        (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    int kept = 0, src = seal_store_restore_previous(st, o->keyring, o->name, o->force, &gen, &kept, &err);
    if (src != SEAL_OK)
        rc = cli_fail("%s%s", err.message, src == SEAL_E_EXISTS ? ".  To replace it without a copy, run restore "
                                                                  "again with --force" : "");
    else if (kept)
        printf("restored %s from %s" SEAL_PREVIOUS_SUFFIX " (generation %llu); the one it replaced is now %s"
               SEAL_PREVIOUS_SUFFIX "\n", o->name, o->name, (unsigned long long)gen, o->name);
    else
        printf("restored %s from %s" SEAL_PREVIOUS_SUFFIX " (generation %llu)\n", o->name, o->name,
               (unsigned long long)gen);
    seal_store_close(st);
    return rc;
}

int cli_drop(cli_opts *o)
{
    seal_store *st = NULL;
    seal_err err = {0};
    size_t n = strlen(o->name), sl = sizeof SEAL_PREVIOUS_SUFFIX - 1;
    int rc = cmd_need("--store", o->store, "drop");
    if (rc != CLI_EXIT_OK)
        return rc;
    if (n <= sl || strcmp(o->name + n - sl, SEAL_PREVIOUS_SUFFIX) != 0)
        return cli_fail("drop deletes only a kept copy (NAME" SEAL_PREVIOUS_SUFFIX "), such as client_secret"
                        SEAL_PREVIOUS_SUFFIX "; put replaces a live item");
    char base[SEAL_NAME_MAX + 1];
    snprintf(base, sizeof base, "%.*s", (int)(n - sl), o->name);
    if ((rc = put_name_ok(base)) != CLI_EXIT_OK || (rc = cmd_open_store(o, 0, &st)) != CLI_EXIT_OK)
        return rc;
    if (seal_store_drop_previous(st, base, &err) != SEAL_OK)
        rc = cli_fail("%s", err.message);
    else
        printf("deleted %s%s\n", base, SEAL_PREVIOUS_SUFFIX);
    seal_store_close(st);
    return rc;
}

static int put_name_ok(const char *name)
{
    for (size_t i = 0; i < sizeof put_items / sizeof put_items[0]; i++)
        if (strcmp(name, put_items[i]) == 0)
            return CLI_EXIT_OK;
    size_t n = strlen(name), sl = sizeof SEAL_PREVIOUS_SUFFIX - 1;
    if (n > sl && strcmp(name + n - sl, SEAL_PREVIOUS_SUFFIX) == 0)
        return cli_fail("%.*s is kept by vap-seal itself: run vap-seal restore %.*s to bring it back",
                        (int)(n > 80 ? 80 : n), name, (int)(n - sl > 64 ? 64 : n - sl), name);
    int printable = n > 0 && n <= 64;
    for (size_t i = 0; printable && i < n; i++)
        printable = name[i] > 0x20 && name[i] < 0x7f;
    return cli_fail("%s%s%snothing reads an item by that name: the plugin reads client_secret (the OAuth "
                    "client secret) and grant (written by vap-host authorize)",
                    printable ? "\"" : "", printable ? name : "", printable ? "\": " : "");
}

/* What a copy-paste adds: spaces at either end, a CR, a tab or another
 * control character inside.  Says what and where, never the secret. */
static int put_secret_ok(const uint8_t *s, size_t n, char *why, size_t cap)
{
    size_t lead = 0, trail = 0;
    while (lead < n && s[lead] == ' ')
        lead++;
    while (trail < n - lead && s[n - 1 - trail] == ' ')
        trail++;
    if (lead > 0) {
        snprintf(why, cap, "starts with %zu space%s", lead, lead > 1 ? "s" : "");
        return 0;
    }
    if (trail > 0) {
        snprintf(why, cap, "ends with %zu space%s", trail, trail > 1 ? "s" : "");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c == '\r') {
            snprintf(why, cap, "has a carriage return (\\r) at byte %zu of %zu (a file saved on Windows?)",
                     i + 1, n);
            return 0;
        }
        if (c == '\n' || c == '\t' || c < 0x20 || c == 0x7f) {
            const char *what = c == '\n' ? "a line break" : c == '\t' ? "a tab" : "a control character";
            snprintf(why, cap, "has %s (0x%02x) at byte %zu of %zu", what, c, i + 1, n);
            return 0;
        }
    }
    return 1;
}

static int put_need_binding(const cli_opts *o)
{
    int no_issuer = o->issuer == NULL || !*o->issuer, no_client = o->client_id == NULL || !*o->client_id;
    if (!no_issuer && !no_client)
        return CLI_EXIT_OK;
    if (o->config != NULL)
        return cli_fail("put needs the issuer and client_id the secret belongs to: config %s has no %s= on the "
                        "instance's line; %s", o->config, no_issuer ? "issuer" : "client_id",
                        no_issuer ? "add issuer=https://HOST/oauth2/SITE there, or give --issuer URL"
                                  : "add client_id=ID there (vap-host register --write-config does), or give "
                                    "--client-id ID");
    return cli_fail("put needs the issuer and client_id the secret belongs to: --issuer URL --client-id ID, "
                    "or -c CONFIG [-i NAME]");
}
