/* test_abi.c - the plugin driven through the real loader and ABI by the fake
 * host: option validation as a host sees it, warnings in the host's log,
 * old (smaller) structs, status on an empty and on a filled store, fork. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testcheck.h"
#include "fakehost.h"
#include "oauth/grant.h"
#include "oauth/secrets.h"
#include "seal_internal.h" /* the unseal buffer's bytes, to see them wiped */
#include "vapseal.h"

static fakehost *fh;
static const vap_plugin_api *api;
static char dir[64];
static char store[128], keyring[128];

#define ISSUER "https://emr.example.org/oauth2/default"
#define CLIENT "client-abc"

static int make_store(void)
{
    snprintf(dir, sizeof dir, "/tmp/vap-abi-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(keyring, sizeof keyring, "%s/keyring", dir);
    if (mkdir(store, 0700) != 0)
        return -1;
    seal_err se = {0};
    seal_keyring *ring = NULL;
    if (seal_init(&se) != 0 || seal_keyring_new(&ring, &se) != 0 ||
        seal_keyring_add_active(ring, 1700000000, NULL, &se) != 0 ||
        seal_keyring_save(ring, keyring, (uid_t)-1, (gid_t)-1, &se) != 0) {
        printf("setup: %s\n", se.message);
        return -1;
    }
    seal_keyring_free(ring);
    return 0;
}

static int new_instance(const vap_option *extra, size_t n_extra, vap_instance **inst,
                        vap_error *err)
{
    vap_option opts[12] = {
        {"issuer", ISSUER},
        {"fhir_base", "https://emr.example.org/apis/default/fhir"},
        {"store", store},
        {"keyring", keyring},
        {"warm_connections", "0"}, /* emr.example.org is not to be contacted */
    };
    size_t n = 5;
    for (size_t i = 0; i < n_extra; i++)
        opts[n++] = extra[i];
    VAP_INIT(vap_error, *err);
    return api->instance_new(opts, n, inst, err);
}

static void test_guide_scope_is_config_error_with_corrected_line(void)
{
    vap_option o[] = {{"scope", "openid fhirUser patient/*.read Patient.read"}};
    vap_instance *inst = NULL;
    vap_error err;
    int rc = new_instance(o, 1, &inst, &err);
    check(rc == VAP_E_CONFIG && err.code == VAP_E_CONFIG && inst == NULL,
          "guide_scope_is_config_error");
    check(strstr(err.message, "use, practice-wide (all patients): scope=\"openid fhirUser "
                              "user/Patient.read") != NULL,
          "guide_scope_message_says_the_line_reaches_all_patients");
    check(fakehost_log_contains(fh, "error: or, for a grant bound to the one patient picked at "
                                    "consent: scope=\"openid fhirUser patient/Patient.read"),
          "guide_scope_patient_line_is_logged_as_the_alternative");
    check(!fakehost_log_contains(fh, "rejects"), "guide_scope_error_is_not_repeated_in_the_log");
}

/* The lines to paste are logged whatever log_level is in force: with only
 * log_level=error instances alive, they still reach the host's log. */
static void test_scope_paste_lines_pass_any_log_level(void)
{
    vap_option quiet[] = {{"log_level", "error"}, {"client_id", CLIENT}};
    vap_instance *keep = NULL, *inst = NULL;
    vap_error err;
    check(new_instance(quiet, 2, &keep, &err) == VAP_OK, "log_level_error_instance_is_made");
    fakehost_log_clear(fh);
    vap_option o[] = {{"log_level", "error"}, {"scope", "openid fhirUser patient/*.read Patient.read"}};
    check(new_instance(o, 2, &inst, &err) == VAP_E_CONFIG, "guide_scope_refused_at_log_level_error");
    check(fakehost_log_contains(fh, "or, for a grant bound to the one patient picked at consent: "
                                    "scope=\"openid fhirUser patient/Patient.read"),
          "scope_paste_line_is_logged_at_log_level_error");
    api->instance_free(keep);
}

/* Each instance's lines are filtered by its own log_level: a quiet
 * instance made after a chatty one stays quiet. */
static void test_log_level_is_per_instance(void)
{
    vap_option chatty[] = {{"log_level", "info"}}, quiet[] = {{"log_level", "error"}};
    vap_instance *a = NULL, *b = NULL;
    vap_error err;
    fakehost_log_clear(fh);
    check(new_instance(chatty, 1, &a, &err) == VAP_OK &&
              fakehost_log_contains(fh, "info: no client_id configured yet"),
          "info_instance_logs_info");
    fakehost_log_clear(fh);
    check(new_instance(quiet, 1, &b, &err) == VAP_OK && !fakehost_log_contains(fh, "no client_id"),
          "error_instance_made_after_an_info_one_does_not_log_info");
    api->instance_free(b);
    fakehost_log_clear(fh);
    vap_instance *c = NULL;
    check(new_instance(chatty, 1, &c, &err) == VAP_OK &&
              fakehost_log_contains(fh, "info: no client_id configured yet"),
          "info_instance_made_after_an_error_one_logs_info");
    api->instance_free(c);
    api->instance_free(a);
}

static void test_missing_offline_access_warns_in_host_log(void)
{
    vap_option o[] = {{"client_id", CLIENT}, {"scope", "openid api:fhir user/Patient.read"}};
    vap_instance *inst = NULL;
    vap_error err;
    fakehost_log_clear(fh);
    check(new_instance(o, 2, &inst, &err) == VAP_OK, "no_offline_access_is_accepted");
    check(fakehost_log_contains(fh, "warn: scope has no offline_access"),
          "no_offline_access_warns_in_host_log");
    api->instance_free(inst);
}

static void test_patient_scopes_warn_bound_to_one_patient(void)
{
    vap_option o[] = {{"client_id", CLIENT},
                      {"scope", "openid offline_access api:fhir launch/patient patient/Patient.read"}};
    vap_instance *inst = NULL;
    vap_error err;
    fakehost_log_clear(fh);
    check(new_instance(o, 2, &inst, &err) == VAP_OK, "patient_scopes_accepted");
    check(fakehost_log_contains(fh, "bound to the one patient"), "patient_scopes_warn_bound");
    api->instance_free(inst);
}

static void test_unknown_key_named_through_abi(void)
{
    vap_option o[] = {{"client_secret", "x"}};
    vap_instance *inst = NULL;
    vap_error err;
    check(new_instance(o, 1, &inst, &err) == VAP_E_CONFIG &&
              strstr(err.message, "option 'client_secret' is not taken: a secret never goes on "
                                  "the config line") != NULL,
          "client_secret_option_refused_through_abi");
}

/* A host built against an older, smaller vap_error: nothing past its end is
 * written. */
static void test_small_error_struct_is_not_overrun(void)
{
    struct {
        vap_error e;
        unsigned char guard[64];
    } small;
    memset(&small, 0xAB, sizeof small);
    small.e.struct_size = (uint32_t)offsetof(vap_error, oauth_error); /* no strings */
    small.e.abi_minor = 0;
    vap_option o[] = {{"issuer", "nope"}, {"fhir_base", "x"}, {"store", "/s"}, {"keyring", "/k"}};
    vap_instance *inst = NULL;
    int rc = api->instance_new(o, 4, &inst, &small.e);
    unsigned char *tail = (unsigned char *)&small.e + offsetof(vap_error, oauth_error);
    int untouched = 1;
    for (size_t i = 0; i < sizeof small - offsetof(vap_error, oauth_error); i++)
        if (tail[i] != 0xAB)
            untouched = 0;
    check(rc == VAP_E_CONFIG && small.e.code == VAP_E_CONFIG, "small_error_gets_code");
    check(untouched, "small_error_struct_is_not_overrun");
}

static void test_status_without_client_id_is_config_error(void)
{
    vap_instance *inst = NULL;
    vap_error err;
    check(new_instance(NULL, 0, &inst, &err) == VAP_OK, "instance_without_client_id_accepted");
    vap_grant_info *info = NULL;
    int rc = api->status(inst, NULL, &info, &err);
    check(rc == VAP_E_CONFIG && info == NULL && strstr(err.message, "register") != NULL,
          "status_without_client_id_is_config_error");
    api->instance_free(inst);
}

static void test_status_no_grant_then_grant(void)
{
    vap_option o[] = {{"client_id", CLIENT}};
    vap_instance *inst = NULL;
    vap_error err;
    check(new_instance(o, 1, &inst, &err) == VAP_OK, "instance_ok");
    vap_grant_info *info = NULL;
    int rc = api->status(inst, NULL, &info, &err);
    check(rc == VAP_OK && info && info->state == VAP_GRANT_NONE, "status_reports_no_grant");
    api->release(info);

    /* Seal a grant as authorize would (setup through the library). */
    struct config cfg = {0};
    cfg.issuer = (char *)ISSUER;
    cfg.client_id = (char *)CLIENT;
    cfg.store = store;
    cfg.keyring = keyring;
    struct secrets s;
    struct grant *g = grant_new();
    vap_error e2;
    VAP_INIT(vap_error, e2);
    snprintf(g->access_token, sizeof g->access_token, "AT-SECRET-VALUE");
    snprintf(g->refresh_token, sizeof g->refresh_token, "RT-SECRET-VALUE");
    snprintf(g->scope, sizeof g->scope, "openid offline_access user/Patient.read");
    snprintf(g->sub, sizeof g->sub, "user-uuid-1");
    g->access_expires_at_ms = 4102444800000; /* 2100 */
    g->obtained_at_ms = 4102441200000;
    g->lifetime_s = 3600;
    int w = secrets_init(&s, &e2) == VAP_OK ? secrets_grant_write(&s, &cfg, g, &e2) : -1;
    check(w == VAP_OK && g->generation == 1, "setup_grant_sealed_generation_1");
    secrets_destroy(&s);
    grant_free(g);

    /* The process's instances share the unseal buffer: one given back
     * holds nothing of the grant the last instance opened in it. */
    struct secrets a, b;
    struct grant *got = grant_new();
    VAP_INIT(vap_error, e2);
    int ra = secrets_init(&a, &e2) == VAP_OK ? secrets_grant_read(&a, &cfg, got, &e2) : -1;
    check(ra == VAP_OK && strcmp(got->access_token, "AT-SECRET-VALUE") == 0,
          "one_instance_unseals_the_grant");
    int rb = secrets_init(&b, &e2) == VAP_OK ? secrets_plain_take(&b, &e2) : -1;
    const seal_secret *lent = b.plain;
    check(rb == VAP_OK && lent != NULL && seal_secret_data(lent) == NULL &&
              memmem(lent->buf, SEAL_FILE_MAX + SEAL_SECRET_TAIL, "SECRET-VALUE", 12) == NULL,
          "the_unseal_buffer_lent_to_another_holds_none_of_it");
    secrets_plain_give(&b);
    secrets_destroy(&b);
    secrets_destroy(&a);
    grant_free(got);

    rc = api->status(inst, NULL, &info, &err);
    check(rc == VAP_OK && info && info->state == VAP_GRANT_VALID && info->generation == 1 &&
              info->has_refresh_token && strcmp(info->subject, "user-uuid-1") == 0 &&
              strcmp(info->scope, "openid offline_access user/Patient.read") == 0,
          "status_reports_sealed_grant");
    api->release(info);

    fakehost_set_now_ms(fh, 4102444800000 + 1);
    rc = api->status(inst, NULL, &info, &err);
    check(rc == VAP_OK && info && info->state == VAP_GRANT_EXPIRED, "status_uses_host_clock");
    api->release(info);
    fakehost_set_now_ms(fh, 0);

    /* A store from another practice (other client_id) is refused. */
    vap_option other[] = {{"client_id", "someone-else"}};
    vap_instance *inst2 = NULL;
    check(new_instance(other, 1, &inst2, &err) == VAP_OK, "instance2_ok");
    rc = api->status(inst2, NULL, &info, &err);
    check(rc == VAP_E_SEAL && info == NULL, "status_refuses_grant_bound_to_other_client");
    api->instance_free(inst2);

    /* No token value ever reaches the host's log. */
    check(!fakehost_log_contains(fh, "SECRET-VALUE"), "no_token_in_host_log");

    /* A forked child must not use the parent's instance. */
    pid_t pid = fork();
    if (pid == 0) {
        vap_error ce;
        VAP_INIT(vap_error, ce);
        vap_grant_info *ci = NULL;
        int crc = api->status(inst, NULL, &ci, &ce);
        _exit(crc == VAP_E_INVAL && strstr(ce.message, "fork") != NULL ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked_child_is_refused");
    api->instance_free(inst);
}

static void test_release_and_strerror(void)
{
    api->release(NULL);
    check(strcmp(api->strerror(VAP_E_REAUTH_REQUIRED), "re-authorization required") == 0,
          "strerror_names_codes");
    check((api->caps & VAP_CAP_STATUS) && api->status != NULL, "status_cap_matches_pointer");
    check(!(api->caps & VAP_CAP_FETCH) == (api->fetch == NULL), "fetch_cap_matches_pointer");
}

int main(int argc, char **argv)
{
    char errbuf[512];
    if (argc != 2 || sodium_init() < 0 || make_store() != 0) {
        fprintf(stderr, "usage: test-abi /abs/path/vap_openemr.so (and a writable /tmp)\n");
        return 1;
    }
    if (fakehost_new(argv[1], &fh, errbuf, sizeof errbuf) != VAP_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], errbuf);
        return 1;
    }
    api = fakehost_api(fh);
    test_guide_scope_is_config_error_with_corrected_line();
    test_scope_paste_lines_pass_any_log_level();
    test_log_level_is_per_instance();
    test_missing_offline_access_warns_in_host_log();
    test_patient_scopes_warn_bound_to_one_patient();
    test_unknown_key_named_through_abi();
    test_small_error_struct_is_not_overrun();
    test_status_without_client_id_is_config_error();
    test_status_no_grant_then_grant();
    test_release_and_strerror();
    fakehost_free(fh);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
