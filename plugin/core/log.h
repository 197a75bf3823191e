/* log.h - the plugin's view of the host's services (log, clock, metrics). */
#ifndef VAP_LOG_H
#define VAP_LOG_H

#include <stdint.h>
#include <vap/plugin.h>

/* Called once by the entry point; host must outlive the process. */
void plog_init(const vap_host_api *host);

/* The VAP_ABI_MINOR the host's vap_host_api was built against. */
uint32_t plog_host_minor(void);

/* One log line through the host (control characters replaced).  Never pass
 * a secret, token, code, verifier or patient data. */
void plog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Host clock in ms since the epoch (the host's now_ms, else CLOCK_REALTIME). */
int64_t plugin_now_ms(void);

/* Log levels per instance.  An instance is counted while it lives
 * (add/remove with its log_level); a line logged outside any instance is
 * held back above the most verbose level of the live instances. */
void plog_instance_add(int level);
void plog_instance_remove(int level);
/* The calling thread works for an instance with LEVEL (-1: none) until
 * plog_leave: its lines are held back above LEVEL.  Returns the level it
 * replaced, for plog_leave. */
int plog_enter(int level);
void plog_leave(int *prev);
/* For the length of the enclosing block. */
#define PLOG_AS(level) \
    int plog_prev_ __attribute__((cleanup(plog_leave), unused)) = plog_enter(level)

/* A metric through the host, if it takes metrics. */
void pmetric(const char *name, double value);
/* A monotonic start time for pmetric_ms; 0 when the host takes no metrics
 * (then pmetric_ms does nothing: no clock is read on the hot path). */
int64_t pmetric_start(void);
/* For the length of the enclosing block the thread's requests are not
 * counted (pmetric_start gives 0): check's and register's probes. */
int pmetric_pause(void);
void pmetric_resume(int *prev);
#define PMETRIC_PAUSED \
    int pmetric_prev_ __attribute__((cleanup(pmetric_resume), unused)) = pmetric_pause()
/* The milliseconds since start as metric name (start 0: nothing). */
void pmetric_ms(const char *name, int64_t start);
/* One fetch: its status-class counter (status 0: no answer) and duration. */
void pmetric_fetch(int status, int64_t start);

#endif
