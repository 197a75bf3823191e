/* mpkit.c - worker processes for the multi-process refresh tests (see
 * mpkit.h). */
#include "mpkit.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vapseal.h"

extern char **environ;


int proc_start(struct mp *m, struct proc *p, const char *const *env_extra,
                      const char *const *opts)
{
    int to[2], from[2];
    char reply[64];
    memset(p, 0, sizeof *p);
    if (pipe2(to, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(from, O_CLOEXEC) != 0) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    const char *args[24];
    size_t n = 0;
    args[n++] = m->worker;
    args[n++] = m->k.module;
    args[n++] = m->k.issuer;
    args[n++] = m->k.fhir_base;
    args[n++] = sim_ca_path(m->k.sim);
    args[n++] = m->store ? m->store : m->k.store;
    args[n++] = m->keyring ? m->keyring : m->k.keyring;
    args[n++] = m->client_id ? m->client_id : FLOW_CLIENT_ID;
    args[n++] = m->scope ? m->scope : FLOW_SCOPE;
    for (size_t i = 0; opts && opts[i] && n < 23; i++)
        args[n++] = opts[i];
    args[n] = NULL;
    const char *env[256];
    size_t ne = 0;
    for (char **e = environ; *e && ne < 240; e++) {
        int replaced = 0;
        for (size_t i = 0; env_extra && env_extra[i]; i++) {
            size_t kl = strcspn(env_extra[i], "=");
            if (strncmp(*e, env_extra[i], kl + 1) == 0)
                replaced = 1;
        }
        if (!replaced)
            env[ne++] = *e;
    }
    for (size_t i = 0; env_extra && env_extra[i] && ne < 255; i++)
        env[ne++] = env_extra[i];
    env[ne] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        execve(m->worker, (char *const *)args, (char *const *)env);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->pid = pid;
    p->in = fdopen(to[1], "w");
    p->out = fdopen(from[0], "r");
    if (p->in == NULL || p->out == NULL || fgets(reply, sizeof reply, p->out) == NULL ||
        strncmp(reply, "ready", 5) != 0) {
        char ignore[8];
        proc_kill(p, ignore, sizeof ignore);
        return -1;
    }
    return 0;
}

int proc_cmd(struct proc *p, const char *cmd, char *reply, size_t cap)
{
    if (fprintf(p->in, "%s\n", cmd) < 0 || fflush(p->in) != 0)
        return -1;
    return fgets(reply, (int)cap, p->out) != NULL ? 0 : -1;
}

/* Returns 0 when the worker exited 0 (under ASan: no error, no leak). */
int proc_stop(struct proc *p)
{
    int st = -1;
    if (p->in) {
        fprintf(p->in, "quit\n");
        fclose(p->in);
    }
    if (p->pid > 0)
        waitpid(p->pid, &st, 0);
    if (p->out)
        fclose(p->out);
    memset(p, 0, sizeof *p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* SIGKILL; returns 0 when the worker had answered its command before dying. */
int proc_kill(struct proc *p, char *reply, size_t cap)
{
    int st, answered = -1;
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
    }
    if (p->out && fgets(reply, (int)cap, p->out) != NULL)
        answered = 0;
    if (p->in)
        fclose(p->in);
    if (p->out)
        fclose(p->out);
    memset(p, 0, sizeof *p);
    return answered;
}

int proc_reap(struct proc *p, char *reply, size_t cap)
{
    int st, answered = -1;
    if (p->out && fgets(reply, (int)cap, p->out) != NULL)
        answered = 0;
    if (p->pid > 0)
        waitpid(p->pid, &st, 0);
    if (p->in)
        fclose(p->in);
    if (p->out)
        fclose(p->out);
    memset(p, 0, sizeof *p);
    return answered;
}

long reply_int(const char *reply, const char *key)
{
    const char *s = strstr(reply, key);
    return s ? strtol(s + strlen(key), NULL, 10) : -99999;
}

int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The sealed grant's generation from its header, without any lock (a parked
 * writer holds the exclusive one). */
long disk_generation(struct mp *m)
{
    seal_store *st = NULL;
    seal_header h;
    seal_err se = {0};
    long gen = -1;
    if (seal_store_open(m->k.store, &st, &se) == 0 &&
        seal_store_header(st, "grant", &h, &se) == 0)
        gen = (long)h.generation;
    seal_store_close(st);
    return gen;
}

int count_temp_files(struct mp *m)
{
    DIR *d = opendir(m->k.store);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, ".grant.tmp.", 11) == 0)
            n++;
    closedir(d);
    return n;
}

/* The parent's check that the stored grant is alive: reload (forget the
 * in-memory grant), then renew. */
int check_refresh(struct mp *m, vap_error *err)
{
    vap_grant_info *gi = NULL;
    VAP_INIT(vap_error, *err);
    int rc = m->k.api->reload(m->inst, NULL, err);
    /* Twice: the first may only adopt what another process stored (or left
     * in a temp file); the second always spends the stored refresh token. */
    for (int i = 0; i < 2 && rc == VAP_OK; i++) {
        VAP_INIT(vap_error, *err);
        rc = m->k.api->refresh(m->inst, NULL, &gi, err);
        m->k.api->release(gi);
        gi = NULL;
    }
    return rc;
}
