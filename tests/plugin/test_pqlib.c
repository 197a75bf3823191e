/* test_pqlib.c - libpq is loaded only for a PostgreSQL grant_store: an
 * instance keeping its grant in files leaves it unmapped (so a host needs
 * no libpq5, and its start does not pay for it), one naming PostgreSQL
 * loads it, and a libpq that cannot be used is an error that says what to
 * install.  This program links the loader only, as a host would.
 * Usage: test-pqlib PLUGIN FAKE_LIBPQ_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "testcheck.h"

static const vap_plugin_api *api;
static char store[128], keyring[128];

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static int libpq_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        found |= strstr(line, "/libpq.so") != NULL;
    if (f != NULL)
        fclose(f);
    return found;
}

static int instance(const char *grant_store, vap_error *err)
{
    vap_option o[] = {{"issuer", "https://emr.example.org/oauth2/default"},
                      {"fhir_base", "https://emr.example.org/apis/default/fhir"},
                      {"client_id", "client-abc"},
                      {"store", store},
                      {"keyring", keyring}, /* read at the first call, not here */
                      {"warm_connections", "0"}, /* emr.example.org is not contacted */
                      {"grant_store", grant_store}};
    vap_instance *inst = NULL;
    VAP_INIT(vap_error, *err);
    int rc = api->instance_new(o, sizeof o / sizeof o[0], &inst, err);
    if (inst != NULL)
        api->instance_free(inst);
    return rc;
}

#define PG "postgresql://vap@127.0.0.1:1/vap"

int main(int argc, char **argv)
{
    static vap_host_api host;
    char why[512], dir[] = "/tmp/vap-pqlib-XXXXXX";
    vap_error err;
    if (argc != 3) {
        fprintf(stderr, "usage: test-pqlib PLUGIN FAKE_LIBPQ_DIR\n");
        return 2;
    }
    VAP_INIT(vap_host_api, host);
    host.log = host_log;
    if (vaploader_load(argv[1], &host, &api, why, sizeof why) != VAP_OK) {
        printf("load: %s\n", why);
        return 1;
    }
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(keyring, sizeof keyring, "%s/keyring", dir);
    mkdir(store, 0700);

    if (getenv("TEST_PQLIB_CHILD") != NULL) {
        /* LD_LIBRARY_PATH finds a libpq.so.5 without libpq's functions */
        int rc = instance(PG, &err);
        check(rc == VAP_E_CONFIG, "an_unusable_libpq_fails_the_instance_as_a_config_error");
        check(strstr(err.message, "grant_store") != NULL &&
                  strstr(err.message, "PostgreSQL 10 or later") != NULL,
              "the_error_names_grant_store_and_what_to_install");
        if (rc != VAP_E_CONFIG)
            printf("# instance_new: %d %s\n", rc, err.message);
        rmdir(store);
        rmdir(dir);
        return check_summary();
    }

    check(instance("file", &err) == VAP_OK, "a_file_store_instance_starts");
    check(!libpq_mapped(), "a_file_store_instance_leaves_libpq_unmapped");
    int rc = instance(PG, &err);
    /* the URL is checked, not connected to: instance_new makes no I/O */
    check(rc == VAP_OK, "a_postgresql_store_instance_starts");
    if (rc != VAP_OK)
        printf("# instance_new: %s\n", err.message);
    check(libpq_mapped(), "a_postgresql_store_instance_loads_libpq");

    /* the path read back, not /proc/self/exe itself: under valgrind that
     * names valgrind, while the link read names this program */
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_LIBRARY_PATH", argv[2], 1);
        setenv("TEST_PQLIB_CHILD", "1", 1);
        execv(self, argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the_child_with_an_unusable_libpq_passed");
    rmdir(store);
    rmdir(dir);
    return check_summary();
}
