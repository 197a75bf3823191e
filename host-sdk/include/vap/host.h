/*
 * vap/host.h - libvaphost: load a vap plugin the way vap-host does, from any
 * language that can call C (the Python and Node bindings use it).
 *
 * It finds the config (the path given, else $VAP_CONFIG, else
 * /etc/vap/plugins.conf), refuses a config, module or ancestor directory an
 * unprivileged user could swap (group/other-writable, owned by someone other
 * than root and this user, a symbolic link), loads the very file it checked
 * through /proc/self/fd/N, calls the plugin's entry point once per process
 * and file, and creates the instance.  What it hands back is plain ABI
 * (vap/plugin.h): the plugin's descriptor and an instance the caller frees
 * with api->instance_free().
 *
 * Link with pkg-config vaphost.  Every function is thread-safe.
 */
#ifndef VAP_HOST_H
#define VAP_HOST_H

#include <stddef.h>

#include <vap/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VAPH_DEFAULT_CONFIG "/etc/vap/plugins.conf"

/* Where a failure happened: what a CLI maps to its exit code. */
enum vaph_stage {
    VAPH_STAGE_NONE = 0,     /* success                                       */
    VAPH_STAGE_CONFIG = 1,   /* reading or parsing the config, or no such instance */
    VAPH_STAGE_LOAD = 2,     /* checking or loading the module, its entry point */
    VAPH_STAGE_INSTANCE = 3  /* the plugin's instance_new refused the options  */
};

/* Filled on failure.  message: one line naming the file (and line) and the
 * fix, never a secret.  plugin: instance_new's own error (http_status,
 * oauth_error) when stage is VAPH_STAGE_INSTANCE, else zeroed. */
typedef struct vaph_error {
    int code;  /* the vap_status returned                    */
    int stage; /* enum vaph_stage                            */
    vap_error plugin;
    char message[1024];
} vaph_error;

/* The config file to read: config when given (non-NULL, non-empty), else
 * $VAP_CONFIG when set and non-empty, else VAPH_DEFAULT_CONFIG. */
const char *vaph_config_path(const char *config);

/* A host api that writes each log line at level <= verbosity to standard
 * error as "LEVEL: message".  Static: valid for the life of the process.
 * verbosity is clamped to VAP_LOG_ERROR..VAP_LOG_DEBUG; one api per level. */
const vap_host_api *vaph_stderr_host(int verbosity);

/*
 * Read config (NULL: vaph_config_path(NULL)), pick the instance called instance
 * (NULL: the only one in the file), load its module with host (NULL:
 * vaph_stderr_host(VAP_LOG_WARN)) and create the instance with its options.
 * On success returns VAP_OK with *api, *inst and, when name is non-NULL, the
 * chosen instance's name in name (name_len bytes).  On failure returns a
 * negative vap_status, sets *api and *inst to NULL and fills *err.
 */
int vaph_open(const char *config, const char *instance, const vap_host_api *host,
              const vap_plugin_api **api, vap_instance **inst, char *name, size_t name_len,
              vaph_error *err);

/*
 * Load the module at the absolute path module (same checks) and create an
 * instance with opts (n_opts key=value pairs, borrowed for the call).
 */
int vaph_load(const char *module, const vap_option *opts, size_t n_opts,
              const vap_host_api *host, const vap_plugin_api **api, vap_instance **inst,
              vaph_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VAP_HOST_H */
