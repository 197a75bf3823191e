/*
 * loader.h - how a host finds, checks and loads a vap plugin.
 *
 * The loader refuses anything an unprivileged local user could have swapped:
 * a config file, a module, or any ancestor directory of either that is
 * writable by group or others (a root-owned sticky directory such as /tmp
 * excepted) or owned by a user other than root and the effective user.  It
 * opens the module with O_NOFOLLOW, checks it with fstat and loads that very
 * file through /proc/self/fd/N, so nothing can be swapped in between.
 *
 * Every failure writes one line to errbuf naming the file and the cause.
 * Functions are thread-safe; a module's entry point is called at most once
 * per process (a second load of the same file returns the first descriptor,
 * bound to the first host api: the host api must outlive the process).
 */
#ifndef VAP_HOST_LOADER_H
#define VAP_HOST_LOADER_H

#include <stddef.h>

#include <vap/plugin.h>

#include "config.h"

/* The descriptor must reach at least this far (through strerror). */
#define VAPLOADER_MIN_API_SIZE                                                 \
    (offsetof(vap_plugin_api, strerror) + sizeof(((vap_plugin_api *)0)->strerror))

/*
 * Check that path and every directory above it are safe to trust (see
 * above).  Returns VAP_OK, VAP_E_CONFIG (unsafe: errbuf says what to run),
 * or VAP_E_IO (missing, unreadable).
 */
int vaploader_check_path(const char *path, char *errbuf, size_t errlen);

/*
 * Check, read and parse a config file.  Messages use path as given.  On
 * success *out is owned by the caller (vapconf_free).  Returns VAP_OK,
 * VAP_E_CONFIG (unsafe or malformed), VAP_E_IO or VAP_E_NOMEM.
 */
int vaploader_read_config(const char *path, vapconf **out, char *errbuf, size_t errlen);

/*
 * Load the module at the absolute path module, call its entry point with
 * host (once per process and file) and check the descriptor.  On success
 * *out is the plugin's static descriptor.  Returns VAP_OK, VAP_E_CONFIG
 * (relative path, unsafe permissions, symbolic link), VAP_E_IO (missing,
 * unreadable), VAP_E_ABI (not a plugin, wrong ABI, descriptor too small),
 * or the entry point's own error.
 */
int vaploader_load(const char *module, const vap_host_api *host,
                   const vap_plugin_api **out, char *errbuf, size_t errlen);

#endif /* VAP_HOST_LOADER_H */
