/* demo_tools.c - what vap-host demo drives: it finds the simulator, the
 * plugin and vap-seal, starts and stops the simulator, talks to its control
 * API over HTTPS, and runs vap-seal with the secret on standard input. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

static int find_near_exe(const char *rel, const char *installed, const char *env, char *out,
                         size_t cap)
{
    const char *e = getenv(env);
    if (e != NULL && e[0] == '/') {
        snprintf(out, cap, "%s", e);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(out, cap, "%s/../%s", exe, rel);
            if (w < 0 || (size_t)w >= cap)
                return -1;
            char real[PATH_MAX];
            if (realpath(out, real) != NULL && access(real, R_OK) == 0) {
                snprintf(out, cap, "%s", real);
                return 0;
            }
        }
    }
    snprintf(out, cap, "%s", installed);
    return access(out, R_OK) == 0 ? 0 : -1;
}

int demo_locate(struct demo *d)
{
    if (find_near_exe("tests/sim/openemr-sim", VAP_LIBEXECDIR "/openemr-sim", "VAP_DEMO_SIM",
                      d->sim_path, sizeof d->sim_path) != 0 ||
        find_near_exe("plugin/vap_openemr.so", VAP_PLUGINDIR "/vap_openemr.so",
                      "VAP_DEMO_PLUGIN", d->plugin_path, sizeof d->plugin_path) != 0 ||
        find_near_exe("crypto/vap-seal", VAP_BINDIR "/vap-seal", "VAP_DEMO_SEAL", d->seal_path,
                      sizeof d->seal_path) != 0) {
        fprintf(stderr, "vap-host: demo: cannot find the simulator, the plugin or vap-seal "
                        "next to vap-host or where they are installed; build the project "
                        "(scripts/demo does) or set VAP_DEMO_SIM, VAP_DEMO_PLUGIN, "
                        "VAP_DEMO_SEAL\n");
        return -1;
    }
    return 0;
}

int demo_start_sim(struct demo *d)
{
    int pipefd[2];
    demo_say(d, "Start the OpenEMR simulator on 127.0.0.1 with a throwaway CA");
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pipefd[1], 1);
        const char *const argv[] = {d->sim_path,   "--port", "0",       "--state-dir",
                                    d->dir,        "--auto-approve",    "admin",
                                    "--seed",      "7",      "--quiet", NULL};
        execv(d->sim_path, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    d->sim_pid = pid;
    struct pollfd pfd = {pipefd[0], POLLIN, 0};
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1 && poll(&pfd, 1, 15000) > 0) {
        ssize_t r = read(pipefd[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(line, '\n', n))
            break;
    }
    close(pipefd[0]);
    line[n] = '\0';
    char *nl = strchr(line, '\n');
    if (nl == NULL || strncmp(line, "https://127.0.0.1:", 18) != 0) {
        fprintf(stderr, "vap-host: demo: the simulator did not start (%s)\n", d->sim_path);
        return -1;
    }
    *nl = '\0';
    if (strlen(line) >= sizeof d->base) {
        fprintf(stderr, "vap-host: demo: the simulator printed an unexpected address\n");
        return -1;
    }
    memcpy(d->base, line, strlen(line) + 1);
    snprintf(d->ca, sizeof d->ca, "%s/ca.pem", d->dir);
    printf("   %s (issuer %s/oauth2/default)\n", d->base, d->base);
    return 0;
}

void demo_stop_sim(struct demo *d)
{
    if (d->sim_pid <= 0)
        return;
    kill(d->sim_pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(d->sim_pid, NULL, WNOHANG) == d->sim_pid) {
            d->sim_pid = 0;
            return;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(d->sim_pid, SIGKILL);
    waitpid(d->sim_pid, NULL, 0);
    d->sim_pid = 0;
}

static size_t buf_cb(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    if (b == NULL)
        return len;
    char *np = realloc(b->p, b->n + len + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->n, p, len);
    b->p = np;
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static size_t loc_cb(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    if (b != NULL && b->p != NULL && len > 9 && strncasecmp(p, "Location:", 9) == 0) {
        size_t s = 9, e = len;
        while (s < len && p[s] == ' ')
            s++;
        while (e > s && (p[e - 1] == '\r' || p[e - 1] == '\n'))
            e--;
        if (e - s < b->n) {
            memcpy(b->p, p + s, e - s);
            b->p[e - s] = '\0';
        }
    }
    return len;
}

/* The simulated browser and the admin's tools: libcurl trusting only the
 * simulator's CA, never following redirects. */
int demo_http(struct demo *d, const char *method, const char *url, const char *json,
                struct buf *out, long *status, char *location, size_t loc_cap)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct buf loc = {location, loc_cap};
    if (c == NULL)
        return -1;
    if (location && loc_cap)
        location[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, d->ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* the simulator is on loopback */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, loc_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, location ? &loc : NULL);
    if (strcmp(method, "POST") == 0) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "");
    }
    CURLcode cc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

/* Run a tool (argv[0] absolute), feeding stdin_data on its standard input. */
int demo_run_tool(const char *const argv[], const char *stdin_data)
{
    int in[2] = {-1, -1};
    if (stdin_data != NULL && pipe(in) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (stdin_data != NULL) {
            dup2(in[0], 0);
            close(in[0]);
            close(in[1]);
        }
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1); /* the tool's chatter is not the demo's output */
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (stdin_data != NULL) {
        close(in[0]);
        size_t len = strlen(stdin_data), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], stdin_data + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(in[1]);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
