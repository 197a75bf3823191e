/*
 * seal_cli.h - what the files of the vap-seal tool share: parsed options,
 * the commands, and terminal/stdin/config input helpers.  Not a library API.
 */
#ifndef SEAL_CLI_H
#define SEAL_CLI_H

#include "vapseal.h"

#include <stdio.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

typedef struct cli_opts {
    const char *keyring;
    const char *store;
    const char *issuer;
    const char *client_id;
    const char *config;
    const char *instance;
    const char *owner;
    const char *output;
    const char *input;
    const char *name; /* put: the item */
    int json;
    int force;
    const char *alg; /* keygen: RS384 or ES384 */
    int next;        /* keygen --next */
    unsigned long long kdf_ops;
    size_t kdf_mem;
    /* Filled from -c CONFIG: owned here, freed by cli_opts_free. */
    char *cfg_issuer, *cfg_client_id, *cfg_store, *cfg_keyring, *cfg_grant_store;
    /* The config's grant_store= when it names PostgreSQL (NULL for files). */
    const char *grant_store;
} cli_opts;

int cli_init(cli_opts *o);
int cli_put(cli_opts *o);
int cli_restore(cli_opts *o);
int cli_drop(cli_opts *o);
int cli_list(cli_opts *o);
int cli_verify(cli_opts *o);
int cli_rotate_key(cli_opts *o);
int cli_export(cli_opts *o);
int cli_import(cli_opts *o);
/* seal_cli_keys.c: the client's private_key_jwt signing keys */
int cli_keygen(cli_opts *o);
int cli_jwks(cli_opts *o);
int cli_promote(cli_opts *o);

/* seal_cli_pg.c: rotate-key and the grant's row in PostgreSQL (the config's
 * grant_store=).  Each prints its own failure and returns CLI_EXIT_FAIL. */
typedef struct cli_pg cli_pg;
/* Connects and checks, before anything changes: the database answers, the
 * role may update the table, and the row (if any) opens with RING. */
int cli_pg_open(cli_opts *o, const seal_keyring *ring, cli_pg **out);
/* In one transaction: the row locked (a live renewal lease waited out),
 * opened with RING, sealed again under its active key ID with the next
 * generation, committed durably.  *changed is 0 when there was nothing to
 * do. */
int cli_pg_reseal(cli_pg *pg, const seal_keyring *ring, const char *keyring_path,
                  const uint8_t id[SEAL_KEY_ID_BYTES], uint64_t *generation, int *changed);
/* The row, read back, is on key ID. */
int cli_pg_check(cli_pg *pg, const uint8_t id[SEAL_KEY_ID_BYTES]);
/* "database D on HOST:PORT as ROLE", for messages. */
const char *cli_pg_where(const cli_pg *pg);
void cli_pg_close(cli_pg *pg);

/* "put needs --keyring ..." unless VALUE is set; CLI_EXIT_USAGE or OK.
 * With -c, the message names the config key that was missing. */
int cmd_need(const char *what, const char *value, const char *cmd);
/* Opens o->store (created 0700 with CREATE), honouring --owner. */
int cmd_open_store(cli_opts *o, int create, seal_store **st);
/* The config file given with -c, for messages naming its keys (NULL: none). */
extern const char *cli_config_path;

/* Prints "vap-seal: MESSAGE" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads the secret: no-echo prompt when stdin is a tty, else all of stdin
 * with exactly one trailing newline stripped.  *out is sodium_malloc'd. */
int cli_read_secret(const char *prompt, int confirm, uint8_t **out, size_t *len);
/* Reads a passphrase the same way, but only the first line of stdin. */
int cli_read_passphrase(int confirm, char **out, size_t *len);
/* Minimal reader of a PAM-style config line (NAME MODULE key=value ...)
 * for issuer=, client_id=, store=, keyring= and grant_store=; INSTANCE may be NULL when
 * the file has one line. */
int cli_read_config(const char *path, const char *instance, cli_opts *o);
/* Parses the config text (pure; exposed for tests). */
int cli_parse_config(const char *buf, size_t len, const char *instance, cli_opts *o, char *why, size_t why_cap);
void cli_opts_free(cli_opts *o);
/* Writes S as a JSON string (with quotes) to F. */
void cli_json_string(FILE *f, const char *s);

#endif
