/* retry.c - backoff between attempts. */
#include "core/retry.h"

#include <sodium.h>
#include <time.h>

#include "core/cancel.h"
#include "core/log.h"

int retry_is_transient(int rc, int http_status)
{
    if (rc == VAP_E_UNAVAILABLE)
        return 1;
    if (rc == VAP_OK && (http_status == 429 || (http_status >= 500 && http_status <= 599)))
        return 1;
    return 0;
}

int retry_wait(int attempt, int retry_after_s, int64_t deadline_ms, vap_cancel *cancel)
{
    if (attempt >= RETRY_MAX_ATTEMPTS)
        return VAP_E_UNAVAILABLE;
    int64_t window = RETRY_BASE_MS << (attempt < 10 ? attempt : 10);
    if (window > RETRY_CAP_MS)
        window = RETRY_CAP_MS;
    int64_t wait = (int64_t)randombytes_uniform((uint32_t)window + 1);
    if (retry_after_s > 0)
        wait = (int64_t)retry_after_s * 1000;
    int64_t now = plugin_now_ms();
    if (now + wait >= deadline_ms)
        return retry_after_s > 0 ? VAP_E_UNAVAILABLE : VAP_E_TIMEOUT;
    /* Sleep in short slices so a cancel is seen promptly. */
    while (wait > 0) {
        if (cancel != NULL && cancel_fired(cancel))
            return VAP_E_CANCELLED;
        int64_t slice = wait < 20 ? wait : 20;
        struct timespec ts = {0, (long)slice * 1000000L};
        nanosleep(&ts, NULL);
        wait -= slice;
    }
    return VAP_OK;
}
