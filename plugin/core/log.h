/* log.h - the plugin's view of the host's services (log, clock, metrics). */
#ifndef VAP_LOG_H
#define VAP_LOG_H

#include <stdint.h>
#include <vap/plugin.h>

/* Called once by the entry point; host must outlive the process. */
void plog_init(const vap_host_api *host);

/* One log line through the host (control characters replaced).  Never pass
 * a secret, token, code, verifier or patient data. */
void plog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Host clock in ms since the epoch (the host's now_ms, else CLOCK_REALTIME). */
int64_t plugin_now_ms(void);

/* A metric through the host, if it takes metrics. */
void pmetric(const char *name, double value);

#endif
