/* test_flow_many.c - many instances in one process, as a host serving many
 * practices runs them.  An instance costs no thread of its own (warming is
 * a job on the process's one warm-up thread), and one that has not fetched
 * holds no descriptor beyond its warm connections: none at all with
 * warm_connections=0.  Counts only, never times. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    check(tasks2 - tasks0 <= 1, "warming_instances_share_one_thread");
    /* A warm connection is its socket, libcurl's wake-up pair for its
     * handle and, here, the simulator's end of it (same process). */
    printf("# %d warm instances: %d threads, %d descriptors added\n", WARMED, tasks2 - tasks0,
           fds2 - fds0);
    check(fds2 - fds0 <= WARMED * (2 * 4 + 2), "warm_instances_hold_only_their_connections");
    for (int i = 0; i < made; i++)
        k.api->instance_free(insts[i]);
    check(count_dir("/proc/self/task") <= tasks0 + 1, "freeing_warm_instances_leaves_no_thread");
    flowkit_stop(&k);
    return check_summary();
}
