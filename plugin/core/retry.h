/* retry.h - bounded, jittered backoff inside a call's deadline (DESIGN.md
 * rule 8): transient failures are retried, nothing else. */
#ifndef VAP_RETRY_H
#define VAP_RETRY_H

#include <stdint.h>
#include <vap/plugin.h>

#define RETRY_MAX_ATTEMPTS 4
#define RETRY_BASE_MS 100
#define RETRY_CAP_MS 2000

/* 1 when a result is worth another try: connection refused/reset, 5xx, 429. */
int retry_is_transient(int rc, int http_status);

/* Sleep before attempt `attempt` (1-based retry count): full jitter over
 * min(cap, base * 2^attempt), never past deadline_ms, waking early when
 * cancel fires.  A server's Retry-After (seconds, 0 none) is honoured when
 * it fits the deadline.  Returns 0 to go on, or VAP_E_TIMEOUT /
 * VAP_E_CANCELLED when there is no time (or reason) left. */
int retry_wait(int attempt, int retry_after_s, int64_t deadline_ms, vap_cancel *cancel);

#endif
