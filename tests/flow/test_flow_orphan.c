/* test_flow_orphan.c - nothing deletes a newer renewal (DESIGN.md, Keeping
 * the grant alive, rule 11), against the simulator.
 *
 * The state a writer leaves when it is killed after fsyncing its temp file
 * and before renaming it: the stored grant holds the refresh token the
 * server has revoked, the temp file the live one.  It is built here by
 * renewing, then moving the new sealed file to a temp name and putting the
 * old one back.  Then:
 *   - vap-seal rotate-key must install the temp file's grant and re-seal
 *     that, not the revoked one (a fresh instance then renews with no
 *     revoked token reused and no re-authorization);
 *   - a FHIR 400 "logged out" for the old access token must not mark the
 *     old grant over the newer one: the temp file's grant is installed and
 *     the fetch succeeds with it;
 *   - a renewal by a fresh instance recovers it too.
 * Usage: test-flow-orphan MODULE VAP_SEAL rotate|mark|renew */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testcheck.h"
#include "flowkit.h"
#include "vapseal.h"

#define TEMP_NAME ".grant.tmp.0a1b2c3d4e5f"

static struct flowkit K;
static const char *vap_seal;

static long counter(const char *path) { return flowkit_counter(&K, path); }

static int write_file(const char *name, const uint8_t *buf, size_t len)
{
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/%s", K.store, name);
    snprintf(tmp, sizeof tmp, "%s/.write-%s", K.store, name[0] == '.' ? name + 1 : name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static size_t grant_bytes(uint8_t *buf, size_t cap)
{
    seal_store *st = NULL;
    seal_err se = {0};
    size_t len = 0;
    if (seal_store_open(K.store, &st, &se) != 0 ||
        seal_store_read_raw(st, "grant", buf, cap, &len, &se) != 0)
        len = 0;
    seal_store_close(st);
    return len;
}

static int temp_exists(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", K.store, TEMP_NAME);
    return access(path, F_OK) == 0;
}

static int status_of(vap_instance *inst, vap_grant_info *out)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = inst ? K.api->status(inst, NULL, &gi, &err) : -1;
    if (rc == VAP_OK && gi)
        *out = *gi;
    K.api->release(gi);
    return rc == VAP_OK && gi ? 0 : -1;
}

/* Renew with inst, then leave the renewal in a temp file and the revoked
 * grant in place.  Returns the generation of the renewal. */
static uint64_t make_orphan(vap_instance *inst)
{
    static uint8_t b0[SEAL_FILE_MAX], b1[SEAL_FILE_MAX];
    vap_grant_info *gi = NULL, st;
    vap_error err;
    size_t n0 = grant_bytes(b0, sizeof b0);
    VAP_INIT(vap_error, err);
    check(K.api->refresh(inst, NULL, &gi, &err) == VAP_OK, "renewal_to_orphan");
    K.api->release(gi);
    check(status_of(inst, &st) == 0, "status_of_the_renewal");
    size_t n1 = grant_bytes(b1, sizeof b1);
    check(n0 > 0 && n1 > 0 && write_file(TEMP_NAME, b1, n1) == 0 && write_file("grant", b0, n0) == 0,
          "orphaned_temp_file_built");
    return st.generation;
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fresh process's view: a new instance renews from what is stored. */
static void fresh_instance_renews(const char *name)
{
    vap_instance *inst = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    char label[128];
    long u0 = counter("revoked_refresh_reuse");
    check(flowkit_instance(&K, &inst, &err, NULL) == VAP_OK, "fresh_instance");
    VAP_INIT(vap_error, err);
    int rc = K.api->refresh(inst, NULL, &gi, &err);
    K.api->release(gi);
    snprintf(label, sizeof label, "%s_then_renewal_succeeds", name);
    check(rc == VAP_OK, label);
    if (rc != VAP_OK)
        printf("  %s: rc=%d %s\n", name, rc, err.message);
    snprintf(label, sizeof label, "%s_reuses_no_revoked_refresh_token", name);
    check(counter("revoked_refresh_reuse") == u0, label);
    K.api->instance_free(inst);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test-flow-orphan MODULE VAP_SEAL rotate|mark|renew\n");
        return 2;
    }
    vap_seal = argv[2];
    const char *mode = argv[3];
    if (flowkit_start(&K, argv[1], NULL) != 0)
        return 1;
    vap_instance *I = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    check(flowkit_instance(&K, &I, &err, NULL) == VAP_OK, "instance_created");
    check(flowkit_authorize(&K, I, &gi, &err, NULL, 0) == VAP_OK, "authorized");
    K.api->release(gi);
    uint64_t orphan_gen = make_orphan(I);
    K.api->instance_free(I);

    if (strcmp(mode, "rotate") == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "'%s' rotate-key --keyring '%s' --store '%s' >/dev/null 2>&1",
                 vap_seal, K.keyring, K.store);
        check(run(cmd) == 0, "rotate_key_over_an_orphaned_renewal");
        check(!temp_exists(), "rotate_key_consumed_the_temp_file");
        vap_instance *J = NULL;
        vap_grant_info st;
        check(flowkit_instance(&K, &J, &err, NULL) == VAP_OK && status_of(J, &st) == 0 &&
                  st.generation == orphan_gen + 1,
              "rotate_key_re_sealed_the_recovered_renewal");
        K.api->instance_free(J);
        fresh_instance_renews("rotate_key");
    } else if (strcmp(mode, "mark") == 0) {
        vap_instance *J = NULL;
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        vap_grant_info st;
        check(flowkit_instance(&K, &J, &err, NULL) == VAP_OK, "instance_with_the_old_grant");
        check(status_of(J, &st) == 0 && st.generation == orphan_gen - 1,
              "old_grant_is_the_stored_one");
        flowkit_control(&K, "faults",
                        "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"fhir_logged_out\","
                        "\"count\":1}", NULL, 0);
        flowkit_get_req(&req, "Patient", "_count=1");
        VAP_INIT(vap_error, err);
        int rc = K.api->fetch(J, NULL, &req, &resp, &err);
        check(rc == VAP_OK && resp && resp->status == 200,
              "logged_out_answer_does_not_mark_over_a_newer_renewal");
        if (rc != VAP_OK)
            printf("  rc=%d %s\n", rc, err.message);
        K.api->release(resp);
        check(status_of(J, &st) == 0 && st.state == VAP_GRANT_VALID && st.generation == orphan_gen,
              "the_temp_file_s_renewal_is_installed");
        check(!temp_exists(), "mark_consumed_the_temp_file");
        K.api->instance_free(J);
        fresh_instance_renews("mark");
    } else {
        fresh_instance_renews("renew");
        check(!temp_exists(), "renewal_consumed_the_temp_file");
    }
    flowkit_stop(&K);
    return check_summary();
}
