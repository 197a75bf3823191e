/* admin_kit.c - the admin-path tests' shared helpers (admin_kit.h). */
#include "admin_kit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vapseal.h"

struct flowkit k;

/* A new 0700 store under the kit's dir; with secret, seal it for issuer and
 * client_id. */
const char *new_store_for(const char *issuer, const char *name, const char *client_id,
                          const char *secret)
{
    static char path[8][160];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 160, "%s/%s", k.dir, name);
    if (mkdir(p, 0700) != 0)
        return NULL;
    if (secret != NULL) {
        seal_err se = {0};
        seal_store *st = NULL;
        seal_binding bind = {issuer, client_id};
        int rc = seal_store_open(p, &st, &se) != 0 ||
                 seal_store_put(st, k.keyring, "client_secret", &bind,
                                (const uint8_t *)secret, strlen(secret), NULL, &se) != 0;
        seal_store_close(st);
        if (rc)
            return NULL;
    }
    return p;
}

const char *new_store(const char *name, const char *client_id, const char *secret)
{
    return new_store_for(k.issuer, name, client_id, secret);
}

vap_check_report *run_check(vap_instance *in)
{
    vap_check_report *rep = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    if (k.api->check(in, NULL, &rep, &err) != VAP_OK) {
        printf("  check failed: %s\n", err.message);
        return NULL;
    }
    return rep;
}

const vap_check_item *item(const vap_check_report *rep, const char *name)
{
    for (size_t i = 0; rep && i < rep->n_items; i++)
        if (strcmp(rep->items[i]->name, name) == 0)
            return rep->items[i];
    static const vap_check_item missing = {sizeof missing, 0, "missing", -1, 0, "(no such item)"};
    return &missing;
}

/* The item has result (and, with FAIL, code) and its message carries word. */
int item_is(const vap_check_report *rep, const char *name, int result, int code,
            const char *word)
{
    const vap_check_item *it = item(rep, name);
    int ok = it->result == result && (result != VAP_CHECK_FAIL || it->code == code) &&
             (word == NULL || strstr(it->message, word) != NULL);
    if (!ok)
        printf("  %s: result %d code %d (want %d/%d, \"%s\"): %s\n", name, it->result,
               it->code, result, code, word ? word : "", it->message);
    return ok;
}

int enable_client(const char *id, int enabled)
{
    char body[256];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"enabled\":%s}", id,
             enabled ? "true" : "false");
    return flowkit_control(&k, "clients/enable", body, NULL, 0) == 200 ? 0 : -1;
}

int do_register(vap_instance *in, vap_register_result **res, vap_error *err)
{
    vap_register_request req;
    VAP_INIT(vap_register_request, req);
    req.client_name = "Front desk phone";
    VAP_INIT(vap_error, *err);
    return k.api->register_client(in, NULL, &req, res, err);
}

int admin_run(const struct admin_case *cases, size_t n, int argc, char **argv)
{
    int failures = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [CASE | PREFIX*]\n", argv[0]);
        return 2;
    }
    if (flowkit_start(&k, argv[1], NULL) != 0)
        return 1;
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = argc > 2 ? strlen(argv[2]) : 0;
        if (argc > 2 && (plen > 0 && argv[2][plen - 1] == '*'
                             ? strncmp(argv[2], cases[i].name, plen - 1) != 0
                             : strcmp(argv[2], cases[i].name) != 0))
            continue;
        ran++;
        int rc = cases[i].fn();
        printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", cases[i].name);
        failures += rc != 0;
    }
    flowkit_stop(&k);
    printf("%zu passed, %d failed\n", ran - (size_t)failures, failures);
    return failures || ran == 0 ? 1 : 0;
}
