/* log.c - the host's log, clock and metric callbacks, with safe defaults. */
#include "core/log.h"

#include <pthread.h>
#include "core/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const vap_host_api *g_host;

/* Each instance filters its own lines by its own log_level: the calling
 * thread carries that level while it works for an instance (plog_enter).
 * A line logged outside any instance uses the most verbose level of the
 * live instances, kept in g_level and recomputed under g_mu whenever an
 * instance comes or goes; -1 (no live instance: unit tests, or before the
 * first) holds nothing back. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_live[VAP_LOG_DEBUG + 1];
static int g_level = -1;
static __thread int t_level = -1;
/* Set while the thread probes the server for check/register: those
 * requests are questions, not the product's traffic, and are not counted. */
static __thread int t_metrics_off;

void plog_init(const vap_host_api *host)
{
    g_host = host;
}

uint32_t plog_host_minor(void)
{
    return g_host != NULL ? g_host->abi_minor : VAP_ABI_MINOR;
}

static int log_clamp(int level)
{
    return level < VAP_LOG_ERROR ? VAP_LOG_ERROR : level > VAP_LOG_DEBUG ? VAP_LOG_DEBUG : level;
}

static void log_recompute(void)
{
    int most = -1;
    for (int l = 0; l <= VAP_LOG_DEBUG; l++)
        if (g_live[l] > 0)
            most = l;
    __atomic_store_n(&g_level, most, __ATOMIC_RELEASE);
}

void plog_instance_add(int level)
{
    pthread_mutex_lock(&g_mu);
    g_live[log_clamp(level)]++;
    log_recompute();
    pthread_mutex_unlock(&g_mu);
}

void plog_instance_remove(int level)
{
    pthread_mutex_lock(&g_mu);
    if (g_live[log_clamp(level)] > 0)
        g_live[log_clamp(level)]--;
    log_recompute();
    pthread_mutex_unlock(&g_mu);
}

int plog_enter(int level)
{
    int prev = t_level;
    t_level = level < 0 ? -1 : log_clamp(level);
    return prev;
}

void plog_leave(int *prev)
{
    t_level = *prev;
}

void plog(int level, const char *fmt, ...)
{
    int allowed = t_level >= 0 ? t_level : __atomic_load_n(&g_level, __ATOMIC_ACQUIRE);
    if (g_host == NULL || !VAP_HAS(g_host, log) || g_host->log == NULL ||
        (allowed >= 0 && level > allowed))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Whatever reached the line (server text included) stays one line. */
    err_clean_line(line);
    g_host->log(g_host->ctx, level, line);
}

int64_t plugin_now_ms(void)
{
    if (g_host != NULL && VAP_HAS(g_host, now_ms) && g_host->now_ms != NULL)
        return g_host->now_ms(g_host->ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pmetric(const char *name, double value)
{
    if (g_host != NULL && VAP_HAS(g_host, metric) && g_host->metric != NULL)
        g_host->metric(g_host->ctx, name, value);
}

int pmetric_pause(void)
{
    int prev = t_metrics_off;
    t_metrics_off = 1;
    return prev;
}

void pmetric_resume(int *prev) { t_metrics_off = *prev; }

int64_t pmetric_start(void)
{
    if (t_metrics_off || g_host == NULL || !VAP_HAS(g_host, metric) || g_host->metric == NULL)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return us > 0 ? us : 1;
}

void pmetric_ms(const char *name, int64_t start)
{
    if (start == 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    pmetric(name, (double)(us - start) / 1000.0);
}

void pmetric_fetch(int status, int64_t start)
{
    static const char *const by_class[] = {VAP_METRIC_FETCH_NONE, VAP_METRIC_FETCH_NONE,
                                           VAP_METRIC_FETCH_2XX,  VAP_METRIC_FETCH_3XX,
                                           VAP_METRIC_FETCH_4XX,  VAP_METRIC_FETCH_5XX};
    if (start == 0)
        return;
    int c = status >= 100 && status <= 599 ? status / 100 : 0;
    pmetric(by_class[c], 1);
    pmetric_ms(VAP_METRIC_FETCH_MS, start);
}
