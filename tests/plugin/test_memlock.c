/* test_memlock.c - a process that may lock little memory (a service user's
 * RLIMIT_MEMLOCK, without CAP_IPC_LOCK) is told once, with the fix, when
 * its instances' secrets can no longer be kept out of swap; none is told
 * while they still can.  Runs as root or not: the capability is dropped
 * from this process's effective set first. */
#include <ftw.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procstatus.h"
#include "testcheck.h"
#include "fakehost.h"
#include "vapseal.h"

#define INSTANCES 64

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int drop_ipc_lock(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return -1;
    d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
    return (int)syscall(SYS_capset, &h, d);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/vap-memlock-XXXXXX", store[64], keyring[64];
    fakehost *fh = NULL;
    char why[512];
    seal_err se = {0};
    seal_keyring *ring = NULL;
    if (argc != 2 || mkdtemp(dir) == NULL)
        return 2;
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's interceptor makes mlock a no-op that succeeds: no
     * page can be seen to fail to lock (meson counts 77 as a skip) */
    printf("SKIP: under AddressSanitizer mlock never fails\n");
    rmdir(dir);
    return 77;
#endif
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(keyring, sizeof keyring, "%s/keyring", dir);
    if (mkdir(store, 0700) != 0 || seal_init(&se) != 0 || seal_keyring_new(&ring, &se) != 0 ||
        seal_keyring_add_active(ring, 1700000000, NULL, &se) != 0 ||
        seal_keyring_save(ring, keyring, (uid_t)-1, (gid_t)-1, &se) != 0)
        return 2;
    seal_keyring_free(ring);
    if (fakehost_new(argv[1], &fh, why, sizeof why) != 0) {
        printf("fakehost: %s\n", why);
        return 2;
    }
    const vap_plugin_api *api = fakehost_api(fh);
    vap_option o[] = {{"issuer", "https://emr.example.org/oauth2/default"},
                      {"fhir_base", "https://emr.example.org/apis/default/fhir"},
                      {"client_id", "client-abc"},
                      {"store", store},
                      {"keyring", keyring},
                      {"warm_connections", "0"}};
    vap_instance *v[INSTANCES] = {0};
    vap_error err;

    /* Room for a few instances' grants beyond what is locked already. */
    long locked = status_kib("VmLck:");
    struct rlimit rl = {(rlim_t)(locked + 256) * 1024, (rlim_t)(locked + 256) * 1024};
    check(locked >= 0 && drop_ipc_lock() == 0 && setrlimit(RLIMIT_MEMLOCK, &rl) == 0,
          "the_process_may_lock_little_memory");

    VAP_INIT(vap_error, err);
    check(api->instance_new(o, sizeof o / sizeof o[0], &v[0], &err) == VAP_OK,
          "an_instance_is_made");
    check(!fakehost_log_contains(fh, "swap"), "nothing_is_said_while_secrets_are_locked");
    int made = 1;
    for (; made < INSTANCES; made++) {
        VAP_INIT(vap_error, err);
        if (api->instance_new(o, sizeof o / sizeof o[0], &v[made], &err) != VAP_OK)
            break;
    }
    check(made == INSTANCES, "instances_are_still_made_past_the_limit");
    check(fakehost_log_contains(fh, "warn: secrets can no longer be kept out of swap") &&
              fakehost_log_contains(fh, "ulimit -l") && fakehost_log_contains(fh, "LimitMEMLOCK="),
          "the_host_log_says_so_with_the_fix");
    size_t lines = fakehost_log_count(fh);
    for (int i = 0; i < 4; i++) {
        vap_instance *more = NULL;
        VAP_INIT(vap_error, err);
        if (api->instance_new(o, sizeof o / sizeof o[0], &more, &err) == VAP_OK)
            api->instance_free(more);
    }
    check(fakehost_log_count(fh) == lines, "it_is_said_once");
    for (int i = 0; i < made; i++)
        api->instance_free(v[i]);
    fakehost_free(fh);
    check(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "the_scratch_directory_is_removed");
    return check_summary();
}
