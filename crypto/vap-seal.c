/*
 * vap-seal.c - the admin tool for the sealed secret store: command-line
 * parsing, --help for each command, and dispatch.  The commands themselves
 * are in seal_cli_cmds.c.  See doc/vap-seal.1.
 */
#include "seal_cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

enum { OPT_KEYRING = 'k', OPT_STORE = 's', OPT_CONFIG = 'c', OPT_INSTANCE = 'i', OPT_HELP = 'h',
       OPT_ISSUER = 256, OPT_CLIENT_ID, OPT_OWNER, OPT_JSON, OPT_OUTPUT, OPT_INPUT, OPT_FORCE, OPT_KDF_OPS,
       OPT_KDF_MEM, OPT_ALG, OPT_NEXT };

struct cli_command {
    const char *name;
    int (*run)(cli_opts *o);
    const char *usage;
    const char *help;
    int takes_name;
};

static const struct cli_command commands[] = {
    {"init", cli_init, "init --keyring K [--owner USER]",
     "Create a new keyring K with one active key (mode 0600; its directory is created 0700 if missing).\n"
     "Refuses to overwrite an existing keyring.",
     0},
    {"put", cli_put,
     "put --keyring K --store S (--issuer URL --client-id ID | -c CONFIG [-i NAME]) [--owner USER] [--force] NAME",
     "Seal a secret as item NAME (client_secret or grant), bound to the issuer and client_id.\n"
     "The secret is read from stdin (one trailing newline stripped) or from a no-echo prompt on a\n"
     "terminal; never from the command line.  A secret with leading or trailing spaces, a carriage\n"
     "return or another control character is refused (a copy-paste accident) unless --force.\n"
     "Replaces the item atomically and bumps its generation; the item replaced is kept sealed as\n"
     "NAME.previous (vap-seal restore NAME brings it back).  An item that is there but cannot be\n"
     "opened (another keyring, a retired key, corrupt) is not replaced unless --force.\n"
     "With -c, store= and keyring= are also taken from the config line when not given.",
     1},
    {"restore", cli_restore,
     "restore (--keyring K --store S | -c CONFIG [-i NAME]) [--force] NAME",
     "Bring back the item NAME that the last put (or register) replaced: every put keeps the\n"
     "item it replaces sealed as NAME.previous.  The replaced NAME becomes NAME.previous in turn,\n"
     "so a restore can itself be undone.  Both files are written before either is replaced; a NAME\n"
     "that cannot be opened is not replaced unless --force.",
     1},
    {"drop", cli_drop, "drop (--store S | -c CONFIG [-i NAME]) NAME.previous",
     "Delete the kept copy NAME.previous (for instance once a new client secret is known to work).\n"
     "Only a kept copy can be dropped.",
     1},
    {"list", cli_list, "list --store S [--json]",
     "List the sealed items: name, key id, generation, creation time.  Never prints values.", 0},
    {"verify", cli_verify,
     "verify --keyring K --store S [--issuer URL --client-id ID | -c CONFIG [-i NAME]] [--json]",
     "Authenticate every sealed item (and check its binding when an issuer/client_id is given).\n"
     "Exits 1 naming each item that fails.  Kept copies (NAME.previous) are listed apart and checked\n"
     "for authenticity only (they may belong to an earlier client); they never fail verify.",
     0},
    {"rotate-key", cli_rotate_key, "rotate-key (--keyring K --store S | -c CONFIG [-i NAME])",
     "Add a new active key, re-seal every item under its lock, then retire the old key.\n"
     "Safe to interrupt and run again.  When the config line names grant_store=postgresql://...,\n"
     "the fleet's grant row there is re-sealed too (under its row lock, a renewal in flight waited\n"
     "out) before the old key is retired; if the database cannot be reached nothing is changed.\n"
     "Then give the other machines the new keyring (export here, import --force there).",
     0},
    {"export", cli_export,
     "export --keyring K --store S --output FILE [--kdf-ops N] [--kdf-mem MIB]",
     "Write a passphrase-protected backup (Argon2id) of the keyring and every item to FILE (0600).\n"
     "The passphrase is prompted twice on a terminal, or read from the first line of stdin.\n"
     "Defaults: --kdf-ops 4 --kdf-mem 1024 (libsodium's SENSITIVE preset).",
     0},
    {"import", cli_import, "import --keyring K --store S --input FILE [--force] [--owner USER]",
     "Restore a backup: writes the keyring K (refused if it exists, unless --force) and the items.", 0},
    {"keygen", cli_keygen,
     "keygen --keyring K --store S (--issuer URL --client-id ID | -c CONFIG [-i NAME]) [--alg RS384|ES384] "
     "[--next] [--json]",
     "Create the client's signing key for private_key_jwt with GnuTLS (RSA 3072 for RS384, the default and\n"
     "what OpenEMR accepts; P-384 for ES384) and seal its private half as item client_key, bound to the\n"
     "issuer and client_id.  The private key is never shown.  With --next, add a second key that vap-seal\n"
     "jwks publishes beside the current one, for a rotation with overlap; vap-seal promote then makes it\n"
     "the signing key.  Without a client_id (a config line not registered yet), the key is sealed for\n"
     "the issuer alone; vap-host register --backend registers it and ties it to the new client_id.",
     0},
    {"jwks", cli_jwks, "jwks --keyring K --store S [-c CONFIG [-i NAME]]",
     "Print the public JWKS of the sealed signing keys (current, next and the key the last promote\n"
     "replaced), each with kid (its RFC 7638 thumbprint), alg and use \"sig\": what OpenEMR registers as\n"
     "the client's jwks, or what a jwks_uri serves.",
     0},
    {"promote", cli_promote,
     "promote --keyring K --store S (--issuer URL --client-id ID | -c CONFIG [-i NAME]) [--json]",
     "Make the next key the signing key.  The key it replaces stays in the JWKS until the next promote,\n"
     "so token requests signed just before still verify.",
     0},
};

static void usage_all(FILE *f);
static const struct cli_command *find_command(const char *name);

int main(int argc, char **argv)
{
    /* Secrets pass through this process: never leave them in a core file. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* and no ptrace attach by the same user */

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_all(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vap-seal (vap-openemr) %s, sealed file format %u\n", VAP_VERSION, 1u);
        return CLI_EXIT_OK;
    }
    const struct cli_command *cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "vap-seal: unknown command \"%s\"\n", argv[1]);
        usage_all(stderr);
        return CLI_EXIT_USAGE;
    }
    static const struct option longopts[] = {
        {"keyring", required_argument, NULL, OPT_KEYRING},
        {"store", required_argument, NULL, OPT_STORE},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"instance", required_argument, NULL, OPT_INSTANCE},
        {"issuer", required_argument, NULL, OPT_ISSUER},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"owner", required_argument, NULL, OPT_OWNER},
        {"json", no_argument, NULL, OPT_JSON},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"input", required_argument, NULL, OPT_INPUT},
        {"force", no_argument, NULL, OPT_FORCE},
        {"kdf-ops", required_argument, NULL, OPT_KDF_OPS},
        {"kdf-mem", required_argument, NULL, OPT_KDF_MEM},
        {"alg", required_argument, NULL, OPT_ALG},
        {"next", no_argument, NULL, OPT_NEXT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    cli_opts o = {.kdf_ops = crypto_pwhash_OPSLIMIT_SENSITIVE, .kdf_mem = crypto_pwhash_MEMLIMIT_SENSITIVE};
    int c, rc;
    char *end;
    optind = 2;
    while ((c = getopt_long(argc, argv, "k:s:c:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KEYRING: o.keyring = optarg; break;
        case OPT_STORE: o.store = optarg; break;
        case OPT_CONFIG: o.config = optarg; break;
        case OPT_INSTANCE: o.instance = optarg; break;
        case OPT_ISSUER: o.issuer = optarg; break;
        case OPT_CLIENT_ID: o.client_id = optarg; break;
        case OPT_OWNER: o.owner = optarg; break;
        case OPT_JSON: o.json = 1; break;
        case OPT_OUTPUT: o.output = optarg; break;
        case OPT_INPUT: o.input = optarg; break;
        case OPT_FORCE: o.force = 1; break;
        case OPT_ALG: o.alg = optarg; break;
        case OPT_NEXT: o.next = 1; break;
        case OPT_KDF_OPS:
            o.kdf_ops = strtoull(optarg, &end, 10);
            if (*end != '\0' || o.kdf_ops < 1 || o.kdf_ops > SEAL_BACKUP_OPSLIMIT_MAX)
                return cli_fail("--kdf-ops must be a number from 1 to %u", SEAL_BACKUP_OPSLIMIT_MAX);
            break;
        case OPT_KDF_MEM: {
            unsigned long long mib = strtoull(optarg, &end, 10);
            if (*end != '\0' || mib < 1 || mib > (SEAL_BACKUP_MEMLIMIT_MAX >> 20))
                return cli_fail("--kdf-mem must be a number of MiB from 1 to %u", SEAL_BACKUP_MEMLIMIT_MAX >> 20);
            o.kdf_mem = (size_t)mib << 20;
            break;
        }
        case OPT_HELP:
            printf("usage: vap-seal %s\n\n%s\n", cmd->usage, cmd->help);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "usage: vap-seal %s\n", cmd->usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (cmd->takes_name) {
        if (optind != argc - 1) {
            fprintf(stderr, "vap-seal: %s needs exactly one item name (the secret itself is read from stdin)\n"
                            "usage: vap-seal %s\n", cmd->name, cmd->usage);
            return CLI_EXIT_USAGE;
        }
        o.name = argv[optind];
    } else if (optind != argc) {
        fprintf(stderr, "vap-seal: unexpected argument \"%s\"\nusage: vap-seal %s\n", argv[optind], cmd->usage);
        return CLI_EXIT_USAGE;
    }
    seal_err err = {0};
    if (seal_init(&err) != SEAL_OK)
        return cli_fail("%s", err.message);
    cli_config_path = o.config;
    if (o.config != NULL && (rc = cli_read_config(o.config, o.instance, &o)) != CLI_EXIT_OK) {
        cli_opts_free(&o);
        return rc;
    }
    rc = cmd->run(&o);
    cli_opts_free(&o);
    return rc;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vap-seal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

static void usage_all(FILE *f)
{
    fputs("usage: vap-seal COMMAND [OPTIONS]   (vap-seal COMMAND --help for details; vap-seal --version)\n\n"
          "commands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].usage);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}
