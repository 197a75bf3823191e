/*
 * fakehost.h - a host for tests: loads a plugin through the real loader and
 * ABI, keeps every log line in memory, records metrics and offers a
 * settable clock.  The plugin keeps the host api for the life of the
 * process, so there is one fake host per process: fakehost_new after
 * fakehost_free hands back the same (cleared) host.
 *
 * Callbacks may arrive on any thread; every function here is thread-safe.
 */
#ifndef VAP_TESTS_FAKEHOST_H
#define VAP_TESTS_FAKEHOST_H

#include <stddef.h>
#include <stdint.h>

#include <vap/plugin.h>

typedef struct fakehost fakehost;

/*
 * Load the module at the absolute path module through vaploader_load.
 * Returns VAP_OK and *out, or the loader's error with its one-line message
 * in errbuf.  Fails with VAP_E_INVAL while another fakehost is live.
 */
int fakehost_new(const char *module, fakehost **out, char *errbuf, size_t errlen);
void fakehost_free(fakehost *fh);

const vap_plugin_api *fakehost_api(const fakehost *fh);
const vap_host_api *fakehost_host_api(const fakehost *fh);

/* Every log line so far, "LEVEL: message\n" each ("error", "warn", "info",
 * "debug").  The returned string is a copy: free() it. */
char *fakehost_log_text(fakehost *fh);
int fakehost_log_contains(fakehost *fh, const char *needle);
size_t fakehost_log_count(fakehost *fh);
void fakehost_log_clear(fakehost *fh);

/* The clock the plugin sees; 0 means the real clock (CLOCK_REALTIME). */
void fakehost_set_now_ms(fakehost *fh, int64_t now_ms);

/* Metrics: how often name was recorded, and the sum of its values. */
size_t fakehost_metric_count(fakehost *fh, const char *name);
double fakehost_metric_sum(fakehost *fh, const char *name);
void fakehost_metric_clear(fakehost *fh);

#endif /* VAP_TESTS_FAKEHOST_H */
