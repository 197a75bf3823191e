/* log.c - the host's log, clock and metric callbacks, with safe defaults. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const vap_host_api *g_host;
/* -1: no instance has said yet, so nothing is held back (unit tests). */
static int g_level = -1;

void plog_init(const vap_host_api *host)
{
    g_host = host;
}

uint32_t plog_host_minor(void)
{
    return g_host != NULL ? g_host->abi_minor : VAP_ABI_MINOR;
}

void plog_allow(int level)
{
    /* A benign race at worst: instances are created before they log. */
    if (level > __atomic_load_n(&g_level, __ATOMIC_RELAXED))
        __atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
}

void plog(int level, const char *fmt, ...)
{
    int allowed = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (g_host == NULL || !VAP_HAS(g_host, log) || g_host->log == NULL ||
        (allowed >= 0 && level > allowed))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Whatever reached the line (server text included) stays one line. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
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

int64_t pmetric_start(void)
{
    if (g_host == NULL || !VAP_HAS(g_host, metric) || g_host->metric == NULL)
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
