/*
 * vaph.c - libvaphost: config lookup, instance choice, checked load and
 * instance_new behind two calls (vap/host.h).  The messages are the ones
 * vap-host prints after "vap-host: ".
 */
#include <vap/host.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define VAPH_API __attribute__((visibility("default")))

static int vaph_fail(vaph_error *err, int code, int stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void vaph_log(void *ctx, int level, const char *msg);
static int vaph_instance(const char *where, const char *name, const vap_option *opts,
                         size_t n_opts, const vap_host_api *host, const vap_plugin_api **api,
                         vap_instance **inst, vaph_error *err);

VAPH_API const char *vaph_config_path(const char *config)
{
    if (config != NULL && config[0] != '\0')
        return config;
    const char *env = getenv("VAP_CONFIG");
    return (env != NULL && env[0] != '\0') ? env : VAPH_DEFAULT_CONFIG;
}

VAPH_API const vap_host_api *vaph_stderr_host(int verbosity)
{
    static vap_host_api hosts[VAP_LOG_DEBUG + 1];
    static int levels[VAP_LOG_DEBUG + 1] = {VAP_LOG_ERROR, VAP_LOG_WARN, VAP_LOG_INFO,
                                            VAP_LOG_DEBUG};
    if (verbosity < VAP_LOG_ERROR)
        verbosity = VAP_LOG_ERROR;
    if (verbosity > VAP_LOG_DEBUG)
        verbosity = VAP_LOG_DEBUG;
    vap_host_api *h = &hosts[verbosity];
    /* Filled the same way by every caller: a race writes identical bytes. */
    if (__atomic_load_n(&h->log, __ATOMIC_ACQUIRE) == NULL) {
        h->struct_size = (uint32_t)sizeof *h;
        h->abi_minor = VAP_ABI_MINOR;
        h->ctx = &levels[verbosity];
        __atomic_store_n(&h->log, vaph_log, __ATOMIC_RELEASE);
    }
    return h;
}

/* A name shown back in an error: printable ASCII, no spaces, at most max. */
static int vaph_printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= max || (unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0;
}

VAPH_API int vaph_open(const char *config, const char *instance, const vap_host_api *host,
                       const vap_plugin_api **api, vap_instance **inst, char *name,
                       size_t name_len, vaph_error *err)
{
    char why[512], where[1024];
    vapconf *conf = NULL;
    const vapconf_instance *ci;
    const char *path = config != NULL ? config : vaph_config_path(NULL);

    *api = NULL;
    *inst = NULL;
    if (name != NULL && name_len > 0)
        name[0] = '\0';
    int rc = vaploader_read_config(path, &conf, why, sizeof why);
    if (rc != VAP_OK) {
        if (rc == VAP_E_IO)
            return vaph_fail(err, rc, VAPH_STAGE_CONFIG,
                             "%s (name the config with -c CONFIG or VAP_CONFIG)", why);
        return vaph_fail(err, rc, VAPH_STAGE_CONFIG, "%s", why);
    }
    if (instance != NULL) {
        ci = vapconf_find(conf, instance);
        if (ci == NULL) {
            char names[256] = "";
            size_t used = 0;
            for (size_t i = 0; i < conf->n_inst && used < sizeof names; i++) {
                int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 conf->inst[i].name);
                used = w < 0 ? sizeof names : used + (size_t)w;
            }
            const char *shown = vaph_printable(instance, 64) ? instance : "(that name)";
            if (conf->n_inst == 0)
                rc = vaph_fail(err, VAP_E_CONFIG, VAPH_STAGE_CONFIG,
                               "%s has no instance named %s: it configures none", path, shown);
            else
                rc = vaph_fail(err, VAP_E_CONFIG, VAPH_STAGE_CONFIG,
                               "%s has no instance named %s; its instances are: %s; choose one "
                               "with -i NAME (e.g. -i %s)", path, shown, names,
                               conf->inst[0].name);
            goto out;
        }
    } else if (conf->n_inst == 0) {
        rc = vaph_fail(err, VAP_E_CONFIG, VAPH_STAGE_CONFIG,
                       "%s configures no instance; add a line NAME MODULE key=value ... "
                       "(see vap-plugins.conf(5))", path);
        goto out;
    } else if (conf->n_inst > 1) {
        rc = vaph_fail(err, VAP_E_CONFIG, VAPH_STAGE_CONFIG,
                       "%s configures %zu instances; choose one with -i NAME (e.g. -i %s)",
                       path, conf->n_inst, conf->inst[0].name);
        goto out;
    } else {
        ci = &conf->inst[0];
    }
    if (name != NULL && name_len > 0)
        snprintf(name, name_len, "%s", ci->name);
    snprintf(where, sizeof where, "%s:%u", path, ci->line);
    if (host == NULL)
        host = vaph_stderr_host(VAP_LOG_WARN);
    rc = vaploader_load(ci->module, host, api, why, sizeof why);
    if (rc != VAP_OK) {
        *api = NULL;
        rc = vaph_fail(err, rc, VAPH_STAGE_LOAD, "%s: %s", where, why);
        goto out;
    }
    rc = vaph_instance(where, ci->name, ci->opts, ci->n_opts, host, api, inst, err);
out:
    vapconf_free(conf);
    return rc;
}

VAPH_API int vaph_load(const char *module, const vap_option *opts, size_t n_opts,
                       const vap_host_api *host, const vap_plugin_api **api,
                       vap_instance **inst, vaph_error *err)
{
    char why[512];

    *api = NULL;
    *inst = NULL;
    if (opts == NULL && n_opts > 0)
        return vaph_fail(err, VAP_E_INVAL, VAPH_STAGE_LOAD, "options missing (a host bug)");
    if (host == NULL)
        host = vaph_stderr_host(VAP_LOG_WARN);
    int rc = vaploader_load(module, host, api, why, sizeof why);
    if (rc != VAP_OK) {
        *api = NULL;
        return vaph_fail(err, rc, VAPH_STAGE_LOAD, "%s", why);
    }
    return vaph_instance(module, NULL, opts, n_opts, host, api, inst, err);
}

/* ---- helpers ---------------------------------------------------------------- */

static int vaph_instance(const char *where, const char *name, const vap_option *opts,
                         size_t n_opts, const vap_host_api *host, const vap_plugin_api **api,
                         vap_instance **inst, vaph_error *err)
{
    vap_error perr;
    (void)host;
    VAP_INIT(vap_error, perr);
    int rc = (*api)->instance_new(opts, n_opts, inst, &perr);
    if (rc == VAP_OK)
        return VAP_OK;
    *inst = NULL;
    perr.message[sizeof perr.message - 1] = '\0';
    perr.oauth_error[sizeof perr.oauth_error - 1] = '\0';
    const char *msg = perr.message[0] ? perr.message
                                      : ((*api)->strerror ? (*api)->strerror(rc) : "refused");
    if (name != NULL)
        vaph_fail(err, rc, VAPH_STAGE_INSTANCE, "%s: instance %s: %.*s", where, name,
                  (int)sizeof perr.message, msg);
    else
        vaph_fail(err, rc, VAPH_STAGE_INSTANCE, "%s: %.*s", where, (int)sizeof perr.message,
                  msg);
    if (err != NULL)
        err->plugin = perr;
    *api = NULL;
    return rc;
}

static int vaph_fail(vaph_error *err, int code, int stage, const char *fmt, ...)
{
    if (err != NULL) {
        memset(err, 0, sizeof *err);
        err->code = code;
        err->stage = stage;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void vaph_log(void *ctx, int level, const char *msg)
{
    static const char *const prefix[] = {"error", "warning", "info", "debug"};
    if (level > *(const int *)ctx)
        return;
    if (level < VAP_LOG_ERROR || level > VAP_LOG_DEBUG)
        level = VAP_LOG_DEBUG;
    fprintf(stderr, "%s: %s\n", prefix[level], msg);
}
