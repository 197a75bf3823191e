/*
 * cmd_admin.c - vap-host register and check: the practice admin's path.
 * register creates the client (its secret goes from the server straight
 * into the sealed store, inside the plugin) and puts client_id into the
 * config only when asked to; check is the guide's "Test Connection".
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admconf.h"
#include "exitcodes.h"
#include "loader.h"
#include "vaphost.h"

static const char *admin_result_name(int result);
static int admin_check_json(const vap_check_report *rep);
static void admin_check_text(const vap_check_report *rep);

/* The instance's value of key in the config file, or NULL (malloc'd). */
static char *register_option(struct vaphost *vh, const char *key)
{
    vapconf *conf = NULL;
    char why[256], *v = NULL;
    if (vaploader_read_config(vh->config_path, &conf, why, sizeof why) != VAP_OK)
        return NULL;
    const vapconf_instance *ci = vapconf_find(conf, vh->instance_name);
    for (size_t i = 0; ci != NULL && i < ci->n_opts && v == NULL; i++)
        if (strcmp(ci->opts[i].key, key) == 0)
            v = strdup(ci->opts[i].value);
    vapconf_free(conf);
    return v;
}

static int register_is(struct vaphost *vh, const char *key, const char *value)
{
    char *v = register_option(vh, key);
    int is = v != NULL && strcmp(v, value) == 0;
    free(v);
    return is;
}

/* Writes key=value into the instance's line, or says to add it by hand;
 * 0 when written (or not asked to). */
static int register_write(struct vaphost *vh, int write_config, const char *key,
                          const char *value)
{
    char backup[4096], why[512];
    if (!write_config) {
        printf("Add this to the line of instance %s in %s (or run register with "
               "--write-config next time):\n    %s=%s\n",
               vh->instance_name, vh->config_path, key, value);
        return 0;
    }
    if (admconf_write(vh->config_path, vh->instance_name, key, value, backup, sizeof backup, why,
                      sizeof why) == 0) {
        printf("Wrote %s into %s (instance %s); the previous file is %s.\n", key,
               vh->config_path, vh->instance_name, backup);
        return 0;
    }
    printf("Add this to the line of instance %s in %s:\n    %s=%s\n", vh->instance_name,
           vh->config_path, key, value);
    fflush(stdout);
    fprintf(stderr, "vap-host: the client is registered and its credential sealed, but the "
                    "config was not changed (%s): add %s=%s by hand\n",
            why, key, value);
    return -1;
}

int cmd_register(struct vaphost *vh, int argc, char **argv)
{
    static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
                                             {"write-config", no_argument, NULL, 'w'},
                                             {"backend", no_argument, NULL, 'b'},
                                             {"jwks-uri", required_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    const char *name = NULL, *jwks_uri = NULL;
    int write_config = 0, backend_flag = 0, opt;
    vap_register_request req;
    vap_register_result *res = NULL;
    vap_error err;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'n')
            name = optarg;
        else if (opt == 'w')
            write_config = 1;
        else if (opt == 'b')
            backend_flag = 1;
        else if (opt == 'j')
            jwks_uri = optarg;
        else {
            fprintf(stderr, "vap-host: register: bad option; run: vap-host register --help\n");
            return VAPHOST_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vap-host: register takes no arguments besides --name, --write-config, "
                        "--backend and --jwks-uri\n");
        return VAPHOST_EXIT_USAGE;
    }
    if (jwks_uri != NULL && !backend_flag) {
        fprintf(stderr, "vap-host: --jwks-uri goes with --backend (a backend services client "
                        "publishes its key there); run: vap-host register --backend --jwks-uri "
                        "URL\n");
        return VAPHOST_EXIT_USAGE;
    }
    /* The config was read by vaph_open; read it again for the options that
     * decide what is registered and sealed. */
    int backend = register_is(vh, "grant", "client_credentials");
    if (backend_flag && !backend) {
        fprintf(stderr, "vap-host: register --backend registers a backend services client, but "
                        "instance %s is not one: add grant=client_credentials "
                        "client_auth=private_key_jwt to its line in %s (with system/ scopes in "
                        "scope=, or no scope= for the system/ read scopes), run vap-seal keygen "
                        "-c %s -i %s, then register --backend again\n",
                vh->instance_name, vh->config_path, vh->config_path, vh->instance_name);
        return VAPHOST_EXIT_USAGE;
    }
    VAP_INIT(vap_register_request, req);
    req.client_name = name;
    req.jwks_uri = jwks_uri;
    VAP_INIT(vap_error, err);
    int rc = vh->api->register_client(vh->inst, NULL, &req, &res, &err);
    if (rc != VAP_OK) {
        vh->api->release(res);
        return vaphost_report(vh, rc, &err);
    }
    const char *client_name = name ? name : "Voice AI Platform";
    const char *kid = VAP_HAS(res, key_id) && res->key_id != NULL ? res->key_id : "";
    if (backend)
        printf("Registered \"%s\" with OpenEMR as a backend services client "
               "(client_credentials, private_key_jwt).\n", client_name);
    else
        printf("Registered \"%s\" with OpenEMR as a confidential client.\n", client_name);
    printf("client_id: %s\n", res->client_id);
    if (backend && jwks_uri != NULL)
        printf("OpenEMR reads its public key (kid %s) from %s, which serves it now: "
               "registering by jwks_uri worked. No client secret is kept.\n", kid, jwks_uri);
    else if (backend)
        printf("Its public key (kid %s) was registered inline: OpenEMR accepted the inline "
               "jwks. No client secret is kept.\n", kid);
    else if (register_is(vh, "client_auth", "private_key_jwt"))
        printf("Its signing key is sealed in the store (item client_key) and its public JWKS was "
               "registered; no client secret is kept.\n");
    else
        printf("The client secret is sealed in the store (item client_secret); it is never "
               "shown.\n");
    int code = VAPHOST_EXIT_OK;
    if (register_write(vh, write_config, "client_id", res->client_id) != 0 ||
        (jwks_uri != NULL && register_write(vh, write_config, "jwks_uri", jwks_uri) != 0))
        code = VAPHOST_EXIT_FAILURE;
    if (res->enabled == 0)
        printf("\nThe client is DISABLED until an administrator enables it.\n%s\n",
               res->next_steps);
    else if (res->enabled < 0)
        printf("\n%s\n", res->next_steps);
    else
        printf("\nThe client is enabled.\n");
    if (backend)
        printf("\nNext: once it is enabled, run vap-host check: it asks OpenEMR for a real "
               "token. No staff member authorizes a backend services client.\n");
    else
        printf("\nNext: a staff member runs vap-host authorize; then run vap-host check.\n");
    fflush(stdout);
    vh->api->release(res);
    return code;
}

int cmd_check(struct vaphost *vh, int argc, char **argv)
{
    int json = 0;
    vap_check_report *rep = NULL;
    vap_error err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            fprintf(stderr, "vap-host: check takes only --json; run: vap-host check --help\n");
            return VAPHOST_EXIT_USAGE;
        }
    }
    VAP_INIT(vap_error, err);
    int rc = vh->api->check(vh->inst, NULL, &rep, &err);
    if (rc != VAP_OK || rep == NULL) {
        vh->api->release(rep);
        return vaphost_report(vh, rc != VAP_OK ? rc : VAP_E_PROTOCOL, &err);
    }
    if (json) {
        if (admin_check_json(rep) != 0) {
            vh->api->release(rep);
            fprintf(stderr, "vap-host: out of memory writing the JSON report\n");
            return VAPHOST_EXIT_FAILURE;
        }
    } else {
        admin_check_text(rep);
    }
    fflush(stdout);
    int code = VAPHOST_EXIT_OK;
    if (rep->n_failed > 0) {
        const vap_check_item *first = NULL;
        for (size_t i = 0; i < rep->n_items && first == NULL; i++)
            if (rep->items[i]->result == VAP_CHECK_FAIL)
                first = rep->items[i];
        if (first == NULL) { /* a report counting failures it does not list */
            vh->api->release(rep);
            fprintf(stderr, "vap-host: the plugin reported failed checks without naming them: "
                            "upgrade the plugin\n");
            return VAPHOST_EXIT_FAILURE;
        }
        code = vaphost_exit_code(first->code);
        if (code == VAPHOST_EXIT_OK)
            code = VAPHOST_EXIT_FAILURE;
        fprintf(stderr, "vap-host: %zu of %zu checks failed (first: %s): fix the lines marked "
                        "with a cross, then run vap-host check again\n",
                rep->n_failed, rep->n_items, first->name);
    }
    vh->api->release(rep);
    return code;
}

/* ---- helpers ---------------------------------------------------------------- */

static int admin_result_is_unknown(int r)
{
    return r != VAP_CHECK_PASS && r != VAP_CHECK_WARN && r != VAP_CHECK_FAIL &&
           r != VAP_CHECK_SKIP;
}

static const char *admin_result_name(int result)
{
    switch (result) {
    case VAP_CHECK_PASS: return "pass";
    case VAP_CHECK_WARN: return "warn";
    case VAP_CHECK_FAIL: return "fail";
    case VAP_CHECK_SKIP: return "skip";
    default: return "unknown";
    }
}

static void admin_check_text(const vap_check_report *rep)
{
    size_t skipped = 0, unknown = 0;
    for (size_t i = 0; i < rep->n_items; i++) {
        const vap_check_item *it = rep->items[i];
        int r = it->result;
        /* A result this host does not know is never shown as passed. */
        int is_unknown = admin_result_is_unknown(r);
        const char *mark = r == VAP_CHECK_FAIL ? "\u2717"
                           : r == VAP_CHECK_SKIP ? "-"
                           : is_unknown          ? "?"
                                                 : "\u2713";
        skipped += r == VAP_CHECK_SKIP;
        unknown += is_unknown;
        char msg[1024];
        printf("%s %-12s %s%s\n", mark, it->name,
               r == VAP_CHECK_WARN ? "warning: " : is_unknown ? "unknown: " : "",
               vaphost_clean(it->message, msg, sizeof msg));
    }
    printf("%zu checks: %zu passed, %zu with warnings, %zu failed, %zu unknown, %zu not run\n",
           rep->n_items, rep->n_items - rep->n_failed - rep->n_warnings - skipped - unknown,
           rep->n_warnings, rep->n_failed, unknown, skipped);
}

static int admin_check_json(const vap_check_report *rep)
{
    json_t *root = json_object(), *arr = json_array();
    int rc = -1;
    if (root == NULL || arr == NULL)
        goto out;
    size_t unknown = 0;
    for (size_t i = 0; i < rep->n_items; i++) {
        const vap_check_item *it = rep->items[i];
        /* Unknown (or a result this host does not know) is never "ok". */
        int is_unknown = admin_result_is_unknown(it->result);
        unknown += is_unknown;
        json_t *o = json_pack("{s:s,s:s,s:b,s:i,s:s}", "name", it->name, "result",
                              admin_result_name(it->result), "ok",
                              it->result != VAP_CHECK_FAIL && !is_unknown, "code", it->code,
                              "message", it->message);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            goto out;
    }
    if (json_object_set_new(root, "ok", json_boolean(rep->n_failed == 0)) != 0 ||
        json_object_set_new(root, "failed", json_integer((json_int_t)rep->n_failed)) != 0 ||
        json_object_set_new(root, "warnings", json_integer((json_int_t)rep->n_warnings)) != 0 ||
        json_object_set_new(root, "unknown", json_integer((json_int_t)unknown)) != 0 ||
        json_object_set(root, "checks", arr) != 0)
        goto out;
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    if (s == NULL)
        goto out;
    printf("%s\n", s);
    free(s);
    rc = 0;
out:
    json_decref(arr);
    json_decref(root);
    return rc;
}

/* vap-host db init: the shared grant's table, made once per database by a
 * role that may create it (the service's role may then only need rows). */
int cmd_db(struct vaphost *vh, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "init") != 0) {
        fprintf(stderr, "vap-host: db takes one subcommand, init; run: vap-host db --help\n");
        return VAPHOST_EXIT_USAGE;
    }
    vap_error err;
    int created = 0;
    VAP_INIT(vap_error, err);
    int rc = vh->api->grant_store_init(vh->inst, NULL, &created, &err);
    if (rc != VAP_OK)
        return vaphost_report(vh, rc, &err);
    printf("%s\n", created ? "created the table vap_grant for the shared grant"
                           : "the table vap_grant is already there; nothing changed");
    printf("The service's database role needs: GRANT SELECT, INSERT, UPDATE ON vap_grant TO "
           "ROLE;\nthen a staff member runs vap-host authorize once, on any machine.\n");
    return VAPHOST_EXIT_OK;
}
