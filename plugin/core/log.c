/* log.c - the host's log, clock and metric callbacks, with safe defaults. */
#include "core/log.h"

#include "core/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const vap_host_api *g_host;

void plog_init(const vap_host_api *host)
{
    g_host = host;
}

void plog(int level, const char *fmt, ...)
{
    if (g_host == NULL || !VAP_HAS(g_host, log) || g_host->log == NULL)
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
