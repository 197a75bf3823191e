/*
 * fakehost.c - the in-memory host for tests (see fakehost.h).  State is one
 * static object because the plugin keeps the host api until exit.
 */
#include "fakehost.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader.h"

#define FAKEHOST_MAX_METRICS 256

struct fakehost_metric {
    char name[64];
    size_t count;
    double sum;
};

struct fakehost {
    pthread_mutex_t lock;
    int live;
    const vap_plugin_api *api;
    vap_host_api host;
    char *log;      /* all lines, NUL-terminated */
    size_t log_len;
    size_t log_cap;
    size_t log_lines;
    int64_t now_ms; /* 0: real clock */
    struct fakehost_metric metrics[FAKEHOST_MAX_METRICS];
    size_t n_metrics;
};

static struct fakehost fakehost_the = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fakehost_on_log(void *ctx, int level, const char *msg);
static int64_t fakehost_on_now(void *ctx);
static void fakehost_on_metric(void *ctx, const char *name, double value);
static void fakehost_append(struct fakehost *fh, const char *s, size_t n);

int fakehost_new(const char *module, fakehost **out, char *errbuf, size_t errlen)
{
    struct fakehost *fh = &fakehost_the;
    *out = NULL;
    pthread_mutex_lock(&fh->lock);
    if (fh->live) {
        pthread_mutex_unlock(&fh->lock);
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "fakehost: one fake host per process; free the first");
        return VAP_E_INVAL;
    }
    fh->live = 1;
    VAP_INIT(vap_host_api, fh->host);
    fh->host.ctx = fh;
    fh->host.log = fakehost_on_log;
    fh->host.now_ms = fakehost_on_now;
    fh->host.metric = fakehost_on_metric;
    pthread_mutex_unlock(&fh->lock);

    /* Unlocked: the entry point logs through us. */
    int rc = vaploader_load(module, &fh->host, &fh->api, errbuf, errlen);
    if (rc != VAP_OK) {
        fakehost_free(fh);
        return rc;
    }
    *out = fh;
    return VAP_OK;
}

void fakehost_free(fakehost *fh)
{
    if (fh == NULL)
        return;
    pthread_mutex_lock(&fh->lock);
    free(fh->log);
    fh->log = NULL;
    fh->log_len = fh->log_cap = fh->log_lines = 0;
    fh->n_metrics = 0;
    fh->now_ms = 0;
    fh->api = NULL;
    fh->live = 0;
    pthread_mutex_unlock(&fh->lock);
}

const vap_plugin_api *fakehost_api(const fakehost *fh)
{
    return fh->api;
}

const vap_host_api *fakehost_host_api(const fakehost *fh)
{
    return &fh->host;
}

char *fakehost_log_text(fakehost *fh)
{
    pthread_mutex_lock(&fh->lock);
    char *copy = malloc(fh->log_len + 1);
    if (copy != NULL) {
        if (fh->log_len > 0)
            memcpy(copy, fh->log, fh->log_len);
        copy[fh->log_len] = '\0';
    }
    pthread_mutex_unlock(&fh->lock);
    return copy;
}

int fakehost_log_contains(fakehost *fh, const char *needle)
{
    pthread_mutex_lock(&fh->lock);
    int found = fh->log != NULL && strstr(fh->log, needle) != NULL;
    pthread_mutex_unlock(&fh->lock);
    return found;
}

size_t fakehost_log_count(fakehost *fh)
{
    pthread_mutex_lock(&fh->lock);
    size_t n = fh->log_lines;
    pthread_mutex_unlock(&fh->lock);
    return n;
}

void fakehost_log_clear(fakehost *fh)
{
    pthread_mutex_lock(&fh->lock);
    fh->log_len = 0;
    fh->log_lines = 0;
    if (fh->log != NULL)
        fh->log[0] = '\0';
    pthread_mutex_unlock(&fh->lock);
}

void fakehost_set_now_ms(fakehost *fh, int64_t now_ms)
{
    pthread_mutex_lock(&fh->lock);
    fh->now_ms = now_ms;
    pthread_mutex_unlock(&fh->lock);
}

size_t fakehost_metric_count(fakehost *fh, const char *name)
{
    size_t n = 0;
    pthread_mutex_lock(&fh->lock);
    for (size_t i = 0; i < fh->n_metrics; i++)
        if (strcmp(fh->metrics[i].name, name) == 0)
            n = fh->metrics[i].count;
    pthread_mutex_unlock(&fh->lock);
    return n;
}

double fakehost_metric_sum(fakehost *fh, const char *name)
{
    double sum = 0;
    pthread_mutex_lock(&fh->lock);
    for (size_t i = 0; i < fh->n_metrics; i++)
        if (strcmp(fh->metrics[i].name, name) == 0)
            sum = fh->metrics[i].sum;
    pthread_mutex_unlock(&fh->lock);
    return sum;
}

void fakehost_metric_clear(fakehost *fh)
{
    pthread_mutex_lock(&fh->lock);
    fh->n_metrics = 0;
    pthread_mutex_unlock(&fh->lock);
}

/* ---- callbacks ---------------------------------------------------------------- */

static void fakehost_on_log(void *ctx, int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct fakehost *fh = ctx;
    const char *name = (level >= VAP_LOG_ERROR && level <= VAP_LOG_DEBUG) ? names[level] : "?";
    pthread_mutex_lock(&fh->lock);
    if (fh->live) {
        fakehost_append(fh, name, strlen(name));
        fakehost_append(fh, ": ", 2);
        fakehost_append(fh, msg ? msg : "(null)", msg ? strlen(msg) : 6);
        fakehost_append(fh, "\n", 1);
        fh->log_lines++;
    }
    pthread_mutex_unlock(&fh->lock);
}

static int64_t fakehost_on_now(void *ctx)
{
    struct fakehost *fh = ctx;
    pthread_mutex_lock(&fh->lock);
    int64_t now = fh->now_ms;
    pthread_mutex_unlock(&fh->lock);
    if (now != 0)
        return now;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fakehost_on_metric(void *ctx, const char *name, double value)
{
    struct fakehost *fh = ctx;
    if (name == NULL)
        return;
    pthread_mutex_lock(&fh->lock);
    struct fakehost_metric *m = NULL;
    for (size_t i = 0; i < fh->n_metrics && m == NULL; i++)
        if (strcmp(fh->metrics[i].name, name) == 0)
            m = &fh->metrics[i];
    if (m == NULL && fh->live && fh->n_metrics < FAKEHOST_MAX_METRICS) {
        m = &fh->metrics[fh->n_metrics++];
        memset(m, 0, sizeof *m);
        size_t n = strlen(name);
        if (n >= sizeof m->name)
            n = sizeof m->name - 1;
        memcpy(m->name, name, n);
    }
    if (m != NULL) {
        m->count++;
        m->sum += value;
    }
    pthread_mutex_unlock(&fh->lock);
}

/* Called with the lock held; on out of memory the line is dropped. */
static void fakehost_append(struct fakehost *fh, const char *s, size_t n)
{
    if (fh->log_len + n + 1 > fh->log_cap) {
        size_t cap = fh->log_cap ? fh->log_cap : 4096;
        while (cap < fh->log_len + n + 1)
            cap *= 2;
        char *grown = realloc(fh->log, cap);
        if (grown == NULL)
            return;
        fh->log = grown;
        fh->log_cap = cap;
    }
    memcpy(fh->log + fh->log_len, s, n);
    fh->log_len += n;
    fh->log[fh->log_len] = '\0';
}
