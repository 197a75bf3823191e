/* test_flow_many.c - many instances in one process, as a host serving many
 * practices runs them.  An instance costs no thread of its own (warming is
 * a job on the process's one warm-up thread), and one that has not fetched
 * holds no descriptor beyond its warm connections: none at all with
 * warm_connections=0; one that has fetched locks no unseal buffer of its
 * own.  Counts only, never times. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "procstatus.h"
#include "testcheck.h"
#include "flowkit.h"

#define MANY 1000
#define WARMED 50

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    while (d != NULL && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    /* opendir's own descriptor is in /proc/self/fd while it is read */
    return strcmp(path, "/proc/self/fd") == 0 ? n - 1 : n;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A warm-up stalled on a server that never answers its TLS handshake must
 * not delay another instance's renewal: the renewal must end while the
 * stalled connection is still open (before the warm-up's own deadline gives
 * up and closes it).  Ordering, not time: the connection's state when the
 * renewal returns tells which ran first. */
static void stalled_warm_up_does_not_delay_a_renewal(struct flowkit *k)
{
    vap_instance *renewing = NULL, *stalled = NULL;
    vap_grant_info *gi = NULL;
    vap_error err;
    int bh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int ready = bh >= 0 && bind(bh, (struct sockaddr *)&a, sizeof a) == 0 && listen(bh, 4) == 0 &&
                getsockname(bh, (struct sockaddr *)&a, &al) == 0;
    check(ready, "a_server_that_never_answers_listens");
    check(flowkit_instance(k, &renewing, &err, "warm_connections", "0", NULL) == VAP_OK &&
              flowkit_authorize(k, renewing, &gi, &err, NULL, 0) == VAP_OK,
          "an_authorized_instance");
    k->api->release(gi);
    flowkit_control(k, "expire-access-tokens", "{}", NULL, 0);
    char base[128];
    snprintf(base, sizeof base, "https://127.0.0.1:%d/apis/default/fhir", ntohs(a.sin_port));
    check(flowkit_instance(k, &stalled, &err, "fhir_base", base, "warm_connections", "1", NULL) ==
              VAP_OK,
          "an_instance_warming_towards_it");
    /* The warm-up has connected: its handshake now waits for an answer. */
    struct pollfd pf = {.fd = bh, .events = POLLIN};
    check(ready && poll(&pf, 1, 60000) == 1, "the_warm_up_connected");
    int conn = ready ? accept4(bh, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
    long r0 = flowkit_counter(k, "token_requests.refresh_token");
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_get_req(&req, "Patient", NULL);
    VAP_INIT(vap_error, err);
    int rc = renewing != NULL ? k->api->fetch(renewing, NULL, &req, &resp, &err) : -1;
    k->api->release(resp);
    /* Drain the ClientHello; EOF means the warm-up already gave up. */
    char buf[4096];
    ssize_t got;
    while (conn >= 0 && (got = recv(conn, buf, sizeof buf, 0)) > 0)
        ;
    int still_open = conn >= 0 && got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    check(rc == VAP_OK && flowkit_counter(k, "token_requests.refresh_token") == r0 + 1,
          "the_expired_instance_renews");
    check(still_open, "the_renewal_did_not_wait_for_the_stalled_warm_up");
    k->api->instance_free(stalled);
    k->api->instance_free(renewing);
    if (conn >= 0)
        close(conn);
    if (bh >= 0)
        close(bh);
}

/* CAP_IPC_LOCK in the effective set (root's): mlock ignores the limit. */
static int has_ipc_lock(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long eff = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "CapEff:", 7) == 0)
            eff = strtoull(line + 7, NULL, 16);
    if (f != NULL)
        fclose(f);
    return (eff >> 14) & 1; /* CAP_IPC_LOCK */
}

/* Instances that have unsealed their grant hold no unseal or serialization
 * buffer of their own (116 KiB of locked memory between them): the
 * process's instances share a few, so a thousand used ones do not lock a
 * thousand times that.  Counts, not times. */
static void used_instances_share_the_unseal_buffers(struct flowkit *k)
{
    enum { USED = 16 };
    vap_instance *v[USED] = {0};
    vap_error err;
    int made = 0, fetched = 0;
    while (made < USED &&
           flowkit_instance(k, &v[made], &err, "warm_connections", "0", NULL) == VAP_OK)
        made++;
    /* libsodium carries on unlocked past RLIMIT_MEMLOCK, where VmLck would
     * not show a per-instance buffer: the figure is only read where every
     * such buffer would be locked (CAP_IPC_LOCK, or room for them all). */
    long before = status_kib("VmLck:");
    struct rlimit rl = {0};
    int room = getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
               (rl.rlim_cur == RLIM_INFINITY ||
                (long)(rl.rlim_cur / 1024) >= before + USED * 160L);
    check(room || has_ipc_lock(),
          "locked_memory_shows_here (run as root, or with ulimit -l of a few MiB more)");
    for (int i = 0; i < made; i++) {
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        flowkit_get_req(&req, "Patient", NULL);
        VAP_INIT(vap_error, err);
        fetched += k->api->fetch(v[i], NULL, &req, &resp, &err) == VAP_OK;
        k->api->release(resp);
    }
    long after = status_kib("VmLck:");
    check(made == USED && fetched == USED, "sixteen_instances_each_fetch_over_the_sealed_grant");
    long per = (after - before) / USED;
    printf("# locked memory per instance after its first fetch: %ld KiB\n", per);
    check(before >= 0 && per < 48, "a_used_instance_locks_no_unseal_buffer_of_its_own");
    for (int i = 0; i < made; i++)
        k->api->instance_free(v[i]);
}

int main(int argc, char **argv)
{
    struct flowkit k;
    static vap_instance *insts[MANY];
    vap_error err;
    if (argc != 2 || flowkit_start(&k, argv[1], NULL) != 0)
        return 1;

    int tasks0 = count_dir("/proc/self/task"), fds0 = count_dir("/proc/self/fd");
    int made = 0;
    while (made < MANY &&
           flowkit_instance(&k, &insts[made], &err, "warm_connections", "0", NULL) == VAP_OK)
        made++;
    check(made == MANY, "a_thousand_instances_are_made");
    int tasks1 = count_dir("/proc/self/task"), fds1 = count_dir("/proc/self/fd");
    check(tasks1 - tasks0 <= 1, "a_thousand_cold_instances_add_no_thread_each");
    check(fds1 == fds0, "a_thousand_cold_instances_hold_no_descriptor");
    for (int i = 0; i < made; i++)
        k.api->instance_free(insts[i]);
    check(count_dir("/proc/self/task") <= tasks0 + 1, "freeing_them_leaves_no_thread");

    /* With the default warm_connections (2) the simulator keeps the
     * connections "OPTIONS *" opens, as Apache does. */
    long opts0 = flowkit_counter(&k, "routes.server-options");
    made = 0;
    while (made < WARMED && flowkit_instance(&k, &insts[made], &err, NULL) == VAP_OK)
        made++;
    check(made == WARMED, "instances_with_warm_connections_are_made");
    /* Wait for every warm-up (bounded only by the test's own timeout). */
    for (int i = 0; i < 60000 && flowkit_counter(&k, "routes.server-options") - opts0 < 2 * WARMED;
         i++)
        nap_ms(10);
    check(flowkit_counter(&k, "routes.server-options") - opts0 >= 2 * WARMED,
          "every_instance_warmed_two_connections");
    int tasks2 = count_dir("/proc/self/task"), fds2 = count_dir("/proc/self/fd");
    /* the process's two renewer lanes (token requests, where each first
     * warm-up is queued, and warm-ups): none per instance */
    check(tasks2 - tasks0 <= 2, "warming_instances_share_the_process_renewer_threads");
    /* A warm connection is its socket, libcurl's wake-up pair for its
     * handle and, here, the simulator's end of it (same process). */
    printf("# %d warm instances: %d threads, %d descriptors added\n", WARMED, tasks2 - tasks0,
           fds2 - fds0);
    check(fds2 - fds0 <= WARMED * (2 * 4 + 2), "warm_instances_hold_only_their_connections");
    for (int i = 0; i < made; i++)
        k.api->instance_free(insts[i]);
    check(count_dir("/proc/self/task") <= tasks0 + 1, "freeing_warm_instances_leaves_no_thread");
    stalled_warm_up_does_not_delay_a_renewal(&k);
    used_instances_share_the_unseal_buffers(&k);
    flowkit_stop(&k);
    return check_summary();
}
