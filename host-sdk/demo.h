/* demo.h - vap-host demo's state, and the helpers (demo_tools.c) that find
 * and drive the bundled simulator and the other tools. */
#ifndef VAP_DEMO_H
#define VAP_DEMO_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct demo {
    char dir[64];
    char base[128];   /* https://127.0.0.1:PORT */
    char ca[128];
    char sim_path[PATH_MAX], plugin_path[PATH_MAX], seal_path[PATH_MAX];
    pid_t sim_pid;
    char client_id[128];
    int step;
};

struct buf {
    char *p;
    size_t n;
};

/* Finds the simulator, the plugin and vap-seal next to vap-host (a build
 * tree) or where they are installed; -1 with the message printed. */
int demo_locate(struct demo *d);
/* Starts the simulator on 127.0.0.1 and reads its address and CA. */
int demo_start_sim(struct demo *d);
void demo_stop_sim(struct demo *d);
/* One request to the simulator (its control API or registration). */
int demo_http(struct demo *d, const char *method, const char *url, const char *json,
                struct buf *out, long *status, char *location, size_t loc_cap);
/* Runs argv (a path, no shell), stdin_data on its standard input. */
int demo_run_tool(const char *const argv[], const char *stdin_data);
/* Prints the next numbered step. */
void demo_say(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
