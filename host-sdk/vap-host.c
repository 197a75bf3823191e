/*
 * vap-host.c - the reference host: loads a vap plugin exactly as a voice AI
 * platform does (config -> loader -> entry -> instance_new) and runs one
 * command against it.  One function per command (cmd_*.c); this file holds
 * option parsing, loading, help and error reporting.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <vap/host.h>

#include "exitcodes.h"
#include "vaphost.h"

#define VAPHOST_DEFAULT_CONFIG VAPH_DEFAULT_CONFIG

static const struct vaphost_command vaphost_commands[] = {
    {"authorize", "authorize [--no-listen] [--no-browser] [--wait SECONDS]",
     "authorize this service with OpenEMR (a staff member signs in once)",
     "Listens on the redirect URI's loopback port (127.0.0.1 and ::1), then prints\n"
     "the URL to open in the browser alone on one line of standard output (and\n"
     "opens it with xdg-open where there is a display).  A staff member signs in\n"
     "to OpenEMR and approves; the browser comes back here, the plugin checks the\n"
     "answer, exchanges the code, verifies the id_token and seals the grant.\n"
     "Prints what was granted (never a token).\n"
     "  --no-listen    for a machine without a browser: after approving elsewhere,\n"
     "                 paste the address the browser ended on into standard input\n"
     "  --no-browser   do not run xdg-open\n"
     "  --wait SECONDS how long to wait for the browser (default 600)\n",
     VAP_CAP_AUTHORIZE, cmd_authorize, 0},
    {"refresh", "refresh", "renew the access token now",
     "Renews the access token with the sealed refresh token and prints the\n"
     "renewed grant (never a token).\n",
     VAP_CAP_REFRESH, cmd_refresh, 0},
    {"fetch", "fetch [--all] [--api] [--method M] [--data @FILE] PATH[?QUERY]",
     "fetch a FHIR resource and print its body",
     "PATH is relative to fhir_base (e.g. Patient/123, or Patient?family=Smith);\n"
     "with --api it is relative to OpenEMR's standard API base (/apis/SITE/api).\n"
     "  --all          follow paging and print one merged Bundle: the server's next\n"
     "                 link while it stays under fhir_base, or _count/_offset when\n"
     "                 the Bundle's total says it holds more (nothing is added to\n"
     "                 the first request: some OpenEMR versions empty paged searches)\n"
     "  --method M     GET (default), POST or PUT\n"
     "  --data @FILE   the JSON request body from FILE (@- for standard input);\n"
     "                 implies POST unless --method says PUT\n"
     "Only the response body goes to standard output.\n",
     VAP_CAP_FETCH, cmd_fetch, 0},
    {"status", "status [--json]", "show the stored grant (never a token)",
     "Prints the grant's state, scopes, context and expiry.  Says \"no grant\"\n"
     "and exits 3 when there is none, as when it needs re-authorization.\n"
     "  --json   the same as one JSON object {\"state\",\"scope\",\"patient\",\"encounter\",\n"
     "           \"subject\",\"fhir_user\",\"access_expires\",\"obtained\",\"generation\",\n"
     "           \"refresh_token\"}; {\"state\":\"none\"} when there is no grant\n",
     VAP_CAP_STATUS, cmd_status, 0},
    {"check", "check [--json]", "test the connection: every setting tried against the server",
     "One line per check, a tick, a cross with the fix, or ? for what the server\n"
     "cannot tell yet (never counted as passed), then a summary:\n"
     "  connection    the server is reached over TLS (CA, host name, pin)\n"
     "  discovery     its OpenID configuration is found and its issuer matches\n"
     "  pkce          it offers PKCE S256\n"
     "  scopes        every configured scope is one this server accepts\n"
     "  redirect_uri  OpenEMR accepts the redirect URI for this client\n"
     "  store         the keyring and the store open (owner and permissions)\n"
     "  client        OpenEMR knows client_id and the client is enabled\n"
     "  secret        always ?: OpenEMR checks it only at the first code exchange\n"
     "  fhir          the FHIR API answers /metadata\n"
     "  grant         a grant is stored, with its scopes and expiry\n"
     "With grant=client_credentials, pkce, redirect_uri and grant are skipped, and\n"
     "client and secret give way to a real client_credentials token request\n"
     "(the token is wiped, never kept):\n"
     "  key           a signing key is sealed for this client (its kid)\n"
     "  jwks          the jwks_uri= lists that kid (? when the key went inline)\n"
     "  system_scopes OpenEMR's \"Enable OpenEMR FHIR System Scopes\" is on\n"
     "  token         OpenEMR issues a token: the client is enabled, its key known\n"
     "Nothing else is created or spent on the server.  Exits with the code of the first\n"
     "failed check's class (below), 0 when none failed.\n"
     "  --json   the same as a JSON object {\"ok\",\"failed\",\"warnings\",\"checks\":[...]}\n",
     VAP_CAP_CHECK, cmd_check, 0},
    {"register", "register [--name NAME] [--write-config] [--backend [--jwks-uri URL]]",
     "register this service as a client with OpenEMR",
     "Registers a confidential client (application_type private) at OpenEMR's\n"
     "registration endpoint with the configured redirect_uri and scope.  The client\n"
     "secret goes straight into the sealed store (item client_secret); it is never\n"
     "shown.  Prints the client_id to add to the config line, and, when OpenEMR\n"
     "created the client disabled (user/ scopes), the steps to enable it.\n"
     "  --name NAME      the client name shown in OpenEMR (default: Voice AI Platform)\n"
     "  --write-config   write client_id= into this instance's config line (the old\n"
     "                   file is kept as CONFIG.bak); other lines are not touched\n"
     "  --backend        a backend services client (the line has grant=client_credentials\n"
     "                   client_auth=private_key_jwt): grant_types client_credentials,\n"
     "                   private_key_jwt, the system/ scopes, and the public half of the\n"
     "                   key vap-seal keygen sealed (run it first), inline\n"
     "  --jwks-uri URL   with --backend: register this https URL, which already serves\n"
     "                   the output of vap-seal jwks, instead of the key inline (for\n"
     "                   OpenEMR versions that refuse an inline jwks); written to the\n"
     "                   line as jwks_uri= so check can read it\n",
     VAP_CAP_REGISTER, cmd_register, 0},
    {"db", "db init", "create the table of a grant shared in PostgreSQL (grant_store=)",
     "For an instance with grant_store=postgresql://...: creates the table vap_grant\n"
     "(practice, generation, sealed, updated_at and the renewal lease) if it is not\n"
     "there.  Run it once per database as a role that may create tables (the\n"
     "database's owner: -c a config whose grant_store names that role), then grant\n"
     "the service's role SELECT, INSERT, UPDATE on it.  The table only ever holds\n"
     "the sealed grant (ciphertext); the keyring stays on each machine.\n",
     VAP_CAP_GRANT_STORE_INIT, cmd_db, 0},
    {"note",
     "note --patient ID --encounter ID (--subjective T --objective T --assessment T "
     "--plan T | --json FILE)",
     "write a SOAP note to a patient's encounter",
     "ID are the FHIR ids (UUIDs) of the Patient and Encounter; vap-host resolves the\n"
     "numeric ids OpenEMR's standard API needs, then POSTs the note to\n"
     ".../api/patient/{pid}/encounter/{eid}/soap_note.  --json FILE gives the four\n"
     "fields as a JSON object instead.  Needs the scopes api:oemr and\n"
     "user/soap_note.write, and a staff login with the encounters/notes permission.\n"
     "Prints the server's answer ({\"sid\":..,\"fid\":..}).\n",
     VAP_CAP_FETCH, cmd_note, 0},
    {"demo", "demo [--keep]", "run the demo against the bundled OpenEMR simulator",
     "Starts the bundled simulator on 127.0.0.1 with a throwaway CA, makes a keyring\n"
     "and seals a client secret in a temporary directory, writes a config,\n"
     "authorizes (the simulated staff login approves), finds a caller by name and\n"
     "birth date, reads their record, writes a note, expires the token and shows\n"
     "the transparent refresh, then cleans up.  Needs no config.\n"
     "  --keep   leave the temporary directory (keyring, store, config) behind\n",
     0, cmd_demo, 1},
    {"find-patient",
     "find-patient (--name NAME [--birthdate YYYY-MM-DD] | --phone NUMBER)",
     "find the caller: Patient search by name and birth date, or phone",
     "Searches FHIR Patient and prints the matches as a JSON array of\n"
     "{\"id\",\"name\",\"birthDate\",\"phone\"} on standard output (the id is what\n"
     "fetch and note take).  An empty array means no match.\n",
     VAP_CAP_FETCH, cmd_find_patient, 0},
};
#define VAPHOST_N_COMMANDS (sizeof vaphost_commands / sizeof vaphost_commands[0])

static const char vaphost_exit_help[] =
    "Exit codes (stable; scripts may rely on them):\n"
    "  0  success\n"
    "  1  other failure (including: not implemented yet)\n"
    "  2  usage or configuration error (an unknown command too), or a store or\n"
    "     keyring that cannot be used (owner, mode, missing, another key)\n"
    "  3  re-authorization needed (or no grant yet): run vap-host authorize\n"
    "  4  client rejected by the server: the practice admin must fix the client\n"
    "  5  denied: missing scope, access control or role\n"
    "  6  server unavailable or timed out (after retries)\n";

static void vaphost_log(void *ctx, int level, const char *msg);
static void vaphost_usage(FILE *out);
static void vaphost_command_help(const struct vaphost_command *cmd);
static const struct vaphost_command *vaphost_find_command(const char *name);
static int vaphost_wants_help(int argc, char **argv);
static int vaphost_printable(const char *s, size_t max);
static int vaphost_open(struct vaphost *vh, vap_host_api *host);
static void vaphost_close(struct vaphost *vh);

int main(int argc, char **argv)
{
    static vap_host_api host; /* the plugin keeps it: must outlive everything */
    static struct vaphost vh; /* the host api's ctx: lives as long */
    const char *config = NULL;
    int code;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"instance", required_argument, NULL, 'i'},
        {"verbose", no_argument, NULL, 'v'},      {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};

    /* Tokens, the client secret and the grant pass through this process's
     * ordinary heap (libcurl, Jansson, form bodies): no core file may
     * hold them, and no process of the same user may attach and read them. */
    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "vap-host: cannot turn off core dumps for this process; refusing to handle "
                        "secrets\n");
        return VAPHOST_EXIT_FAILURE;
    }
    vh.verbosity = VAP_LOG_WARN;
    int opt;
    /* '+': stop at the command; its own options follow it. */
    while ((opt = getopt_long(argc, argv, "+c:i:vqhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'i':
            vh.instance_name = optarg;
            break;
        case 'v':
            if (vh.verbosity < VAP_LOG_DEBUG)
                vh.verbosity++;
            break;
        case 'q':
            vh.verbosity = VAP_LOG_ERROR;
            break;
        case 'h':
            vaphost_usage(stdout);
            return VAPHOST_EXIT_OK;
        case 'V':
            printf("vap-host (vap-openemr) %s, plugin ABI %d.%d\n", VAP_VERSION, VAP_ABI_MAJOR,
                   VAP_ABI_MINOR);
            return VAPHOST_EXIT_OK;
        default:
            fprintf(stderr, "vap-host: bad option; run: vap-host --help\n");
            return VAPHOST_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        vaphost_usage(stderr);
        fprintf(stderr, "vap-host: no command given; run: vap-host --help\n");
        return VAPHOST_EXIT_USAGE;
    }
    const struct vaphost_command *cmd = vaphost_find_command(argv[optind]);
    if (cmd == NULL) {
        if (vaphost_printable(argv[optind], 32))
            fprintf(stderr, "vap-host: unknown command '%s'; run vap-host --help for the list "
                            "of commands\n", argv[optind]);
        else
            fprintf(stderr, "vap-host: unknown command; run vap-host --help for the list of "
                            "commands\n");
        return VAPHOST_EXIT_USAGE;
    }
    if (vaphost_wants_help(argc - optind, argv + optind)) {
        vaphost_command_help(cmd);
        return VAPHOST_EXIT_OK;
    }

    vh.host = &host;
    if (cmd->standalone && cmd->run != NULL) {
        code = cmd->run(&vh, argc - optind, argv + optind);
        goto out;
    }
    vh.config_path = config != NULL ? config : vaph_config_path(NULL);
    code = vaphost_open(&vh, &host);
    if (code != VAPHOST_EXIT_OK)
        goto out;

    /* The plugin's capability first: it is what a later release adds. */
    if (cmd->cap != 0 && ((vh.api->caps & cmd->cap) == 0 ||
        (cmd->cap == VAP_CAP_REFRESH && vh.api->refresh == NULL) ||
        (cmd->cap == VAP_CAP_FETCH && vh.api->fetch == NULL) ||
        (cmd->cap == VAP_CAP_STATUS && vh.api->status == NULL) ||
        (cmd->cap == VAP_CAP_CHECK && (!VAP_HAS(vh.api, check) || vh.api->check == NULL)) ||
        (cmd->cap == VAP_CAP_GRANT_STORE_INIT &&
         (!VAP_HAS(vh.api, grant_store_init) || vh.api->grant_store_init == NULL)) ||
        (cmd->cap == VAP_CAP_REGISTER &&
         (!VAP_HAS(vh.api, register_client) || vh.api->register_client == NULL)) ||
        (cmd->cap == VAP_CAP_AUTHORIZE &&
         (vh.api->authorize_begin == NULL || vh.api->authorize_complete == NULL)))) {
        fprintf(stderr, "vap-host: %s is not implemented by this plugin yet\n", cmd->name);
        code = VAPHOST_EXIT_FAILURE;
        goto out;
    }
    if (cmd->run == NULL) {
        fprintf(stderr, "vap-host: %s is not implemented in this vap-host yet\n", cmd->name);
        code = VAPHOST_EXIT_FAILURE;
        goto out;
    }
    code = cmd->run(&vh, argc - optind, argv + optind);
out:
    vaphost_close(&vh);
    return code;
}

int vaphost_report(const struct vaphost *vh, int rc, const vap_error *err)
{
    const char *msg = NULL;
    if (err != NULL && err->message[0] != '\0')
        msg = err->message;
    else if (vh->api != NULL && vh->api->strerror != NULL)
        msg = vh->api->strerror(rc);
    if (msg == NULL)
        msg = "failed";
    if (err != NULL && err->oauth_error[0] != '\0' && strstr(msg, err->oauth_error) == NULL)
        fprintf(stderr, "vap-host: %.*s (OAuth error %.*s)\n", 256, msg,
                (int)sizeof err->oauth_error, err->oauth_error);
    else
        fprintf(stderr, "vap-host: %.*s\n", 256, msg);
    return vaphost_exit_code(rc);
}

int vaphost_load(struct vaphost *vh)
{
    return vaphost_open(vh, vh->host);
}

/* ---- helpers ---------------------------------------------------------------- */

static void vaphost_log(void *ctx, int level, const char *msg)
{
    const struct vaphost *vh = ctx;
    static const char *const prefix[] = {"error", "warning", "info", "debug"};
    if (level > vh->verbosity)
        return;
    if (level < VAP_LOG_ERROR || level > VAP_LOG_DEBUG)
        level = VAP_LOG_DEBUG;
    fprintf(stderr, "%s: %s\n", prefix[level], msg);
}

static void vaphost_usage(FILE *out)
{
    fprintf(out,
            "Usage: vap-host [-c CONFIG] [-i NAME] [-v|-q] COMMAND [ARGS...]\n"
            "       vap-host --version\n"
            "       vap-host COMMAND --help\n\n"
            "The reference host for vap plugins: loads the plugin named in CONFIG as a\n"
            "voice AI platform would, and runs one command.\n\n"
            "  -c CONFIG   the plugin config (default: $VAP_CONFIG, else " VAPHOST_DEFAULT_CONFIG
            ")\n"
            "  -i NAME     the instance (default: the only one in CONFIG)\n"
            "  -v          more log lines (repeat for debug); -q: errors only\n"
            "  -V          print the version (--version)\n\n"
            "Commands:\n");
    for (size_t i = 0; i < VAPHOST_N_COMMANDS; i++)
        fprintf(out, "  %-13s %s\n", vaphost_commands[i].name, vaphost_commands[i].summary);
    fprintf(out, "\n%s", vaphost_exit_help);
}

static void vaphost_command_help(const struct vaphost_command *cmd)
{
    printf("Usage: vap-host [-c CONFIG] [-i NAME] %s\n\n%s.\n%s\n%s", cmd->usage, cmd->summary,
           cmd->help, vaphost_exit_help);
}

static const struct vaphost_command *vaphost_find_command(const char *name)
{
    for (size_t i = 0; i < VAPHOST_N_COMMANDS; i++)
        if (strcmp(vaphost_commands[i].name, name) == 0)
            return &vaphost_commands[i];
    return NULL;
}

static int vaphost_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* Short and printable: safe to echo back in a message. */
static int vaphost_printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= max || (unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0;
}

/* Config -> instance -> module -> instance_new (libvaphost); exit code on
 * failure. */
static int vaphost_open(struct vaphost *vh, vap_host_api *host)
{
    vaph_error err;

    VAP_INIT(vap_host_api, *host);
    host->ctx = vh;
    host->log = vaphost_log;
    int rc = vaph_open(vh->config_path, vh->instance_name, host, &vh->api, &vh->inst,
                       vh->name_buf, sizeof vh->name_buf, &err);
    if (rc == VAP_OK) {
        vh->instance_name = vh->name_buf;
        return VAPHOST_EXIT_OK;
    }
    vh->api = NULL;
    vh->inst = NULL;
    fprintf(stderr, "vap-host: %s\n", err.message);
    if (err.stage == VAPH_STAGE_INSTANCE)
        return rc == VAP_E_CONFIG ? VAPHOST_EXIT_USAGE : vaphost_exit_code(rc);
    return rc == VAP_E_NOMEM ? VAPHOST_EXIT_FAILURE : VAPHOST_EXIT_USAGE;
}

static void vaphost_close(struct vaphost *vh)
{
    if (vh->inst != NULL)
        vh->api->instance_free(vh->inst);
    vh->inst = NULL;
}
