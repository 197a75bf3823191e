/* entry.c - the plugin's only exported symbol and its descriptor.
 *
 * This is glue: it checks what crosses the ABI (NULL out-pointers, the
 * instance's owner process), clears the caller's vap_error, then hands each
 * call to the file that owns the concern.  Every function the descriptor
 * lists has its caps bit set; a function this plugin lacked would be NULL
 * with its bit clear, so a host says "not implemented" instead of getting a
 * fake success. */
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>
#include <vap/plugin.h>

#include "oauth/authorize.h"
#include "core/cancel.h"
#include "admin/check.h"
#include "core/config.h"
#include "fhir/fetch.h"
#include "fhir/fetch_pages.h"
#include "http/http.h"
#include "core/errors.h"
#include "instance.h"
#include "core/json.h"
#include "core/log.h"
#include "core/object.h"
#include "oauth/refresh.h"
#include "admin/register.h"
#include "core/scope.h"
#include "oauth/status.h"

#define VAP_EXPORT __attribute__((visibility("default")))

VAP_EXPORT int vap_plugin_entry_v1(const vap_host_api *host, const vap_plugin_api **out,
                                   vap_error *err);

static int api_instance_new(const vap_option *opts, size_t n_opts, vap_instance **out,
                            vap_error *err);
static void api_instance_free(vap_instance *inst);
static const char *api_strerror(int code);
static int api_status(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                      vap_error *err);
static int api_reload(vap_instance *inst, const vap_call *call, vap_error *err);
static int api_authorize_begin(vap_instance *inst, const vap_call *call,
                               const vap_authorize_request *req,
                               vap_authorize_begin_result **out, vap_error *err);
static int api_refresh(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                       vap_error *err);
static int api_fetch(vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
                     vap_fetch_response **out, vap_error *err);
static int api_authorize_complete(vap_instance *inst, const vap_call *call,
                                  const char *callback, size_t len, vap_grant_info **out,
                                  vap_error *err);
static int api_register_client(vap_instance *inst, const vap_call *call,
                               const vap_register_request *req, vap_register_result **out,
                               vap_error *err);
static int api_check(vap_instance *inst, const vap_call *call, vap_check_report **out,
                     vap_error *err);
static int api_grant_store_init(vap_instance *inst, const vap_call *call, int *created,
                                vap_error *err);

static const vap_plugin_api plugin_api = {
    .struct_size = sizeof(vap_plugin_api),
    .abi_minor = VAP_ABI_MINOR,
    .name = "openemr",
    .version = "0.1.0",
    .caps = VAP_CAP_AUTHORIZE | VAP_CAP_REFRESH | VAP_CAP_FETCH | VAP_CAP_STATUS |
            VAP_CAP_RELOAD | VAP_CAP_CANCEL | VAP_CAP_REGISTER | VAP_CAP_CHECK |
            VAP_CAP_GRANT_STORE_INIT,
    .instance_new = api_instance_new,
    .instance_free = api_instance_free,
    .authorize_begin = api_authorize_begin,
    .authorize_complete = api_authorize_complete,
    .refresh = api_refresh,
    .fetch = api_fetch,
    .status = api_status,
    .reload = api_reload,
    .release = obj_release,
    .strerror = api_strerror,
    .cancel_new = cancel_new,
    .cancel_fire = cancel_fire,
    .cancel_free = cancel_free,
    .register_client = api_register_client,
    .check = api_check,
    .grant_store_init = api_grant_store_init,
};

static int g_initialised;

int vap_plugin_entry_v1(const vap_host_api *host, const vap_plugin_api **out, vap_error *err)
{
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "vap_plugin_entry_v1: out is NULL");
    *out = NULL;
    if (host == NULL || host->struct_size < offsetof(vap_host_api, log) + sizeof host->log ||
        host->log == NULL)
        return err_set(err, VAP_E_ABI,
                       "the host's vap_host_api is too small or has no log function "
                       "(host built for another ABI?)");
    if (!g_initialised) {
        /* Called once, before the host's worker threads exist (plugin.h):
         * the global initialisers below are not thread-safe. */
        if (sodium_init() < 0)
            return err_set(err, VAP_E_NOMEM, "libsodium failed to initialise");
        if (gnutls_global_init() != GNUTLS_E_SUCCESS)
            return err_set(err, VAP_E_NOMEM, "GnuTLS failed to initialise");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return err_set(err, VAP_E_NOMEM, "libcurl failed to initialise");
        pjson_install_wiping_allocator();
        g_initialised = 1;
    }
    plog_init(host);
    *out = &plugin_api;
    return VAP_OK;
}

static int api_instance_new(const vap_option *opts, size_t n_opts, vap_instance **out,
                            vap_error *err)
{
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "instance_new: out is NULL");
    *out = NULL;
    err_clear(err);
    vap_instance *inst = calloc(1, sizeof *inst);
    if (inst == NULL)
        return err_set(err, VAP_E_NOMEM, "out of memory creating the instance");
    int rc = config_from_options(opts, n_opts, &inst->cfg, err);
    if (rc != VAP_OK) {
        free(inst);
        return rc;
    }
    if ((rc = secrets_init(&inst->secrets, err)) != VAP_OK) {
        config_free(&inst->cfg);
        free(inst);
        return rc;
    }
    if (pthread_mutex_init(&inst->scratch_mu, NULL) != 0) {
        secrets_destroy(&inst->secrets);
        config_free(&inst->cfg);
        free(inst);
        return err_set(err, VAP_E_NOMEM, "out of memory creating the instance");
    }
    struct http_client_opts hopts = {
        .ca_file = inst->cfg.ca_file,
        .pin_sha256 = inst->cfg.pin_sha256,
        .pool_size = (unsigned)inst->cfg.connections,
        .proxy = inst->cfg.proxy,
        .log_debug = inst->cfg.log_level >= VAP_LOG_DEBUG,
    };
    plog_instance_add(inst->cfg.log_level);
    PLOG_AS(inst->cfg.log_level);
    if ((rc = authz_init(&inst->authz, err)) != VAP_OK ||
        (rc = refresher_init(&inst->refresher, err)) != VAP_OK ||
        (rc = http_client_new(&hopts, &inst->http, err)) != VAP_OK) {
        api_instance_free(inst);
        return rc;
    }
    for (unsigned bit = 1; bit != 0 && bit <= SCOPE_WARN_LAST; bit <<= 1)
        if (inst->cfg.scope_warnings & bit)
            plog(VAP_LOG_WARN, "%s", config_scope_warning_text(bit));
    if (inst->cfg.client_id == NULL)
        plog(VAP_LOG_INFO, "no client_id configured yet: register the client first "
                           "(vap-host register, or copy it from Administration > System > "
                           "API Clients)");
    inst->pid = instance_pid();
    renewer_attach();
    inst->attached = 1;
    warmer_start(inst);
    *out = inst;
    return VAP_OK;
}

static void api_instance_free(vap_instance *inst)
{
    if (inst == NULL)
        return;
    int level = inst->cfg.log_level;
    PLOG_AS(level);
    if (inst->http != NULL)
        warmer_stop(inst);
    /* A renewal in flight is waited for and sealed before the HTTP client
     * it uses goes (bounded by renew_timeout_ms). */
    if (inst->authz.tx != NULL)
        authz_settle(inst);
    if (inst->refresher.cur != NULL) {
        refresh_shutdown(inst);
        refresh_flush_pending(inst);
    }
    http_client_free(inst->http);
    if (inst->refresher.cur != NULL)
        refresher_destroy(&inst->refresher);
    if (inst->attached)
        renewer_detach();
    if (inst->authz.tx != NULL)
        authz_destroy(&inst->authz);
    grant_free(inst->scratch);
    pthread_mutex_destroy(&inst->scratch_mu);
    secrets_destroy(&inst->secrets);
    config_free(&inst->cfg);
    free(inst);
    plog_instance_remove(level);
}

static int api_status(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                      vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "status: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    if (inst->cfg.client_id == NULL)
        return err_set(err, VAP_E_CONFIG,
                       "no client_id in the config: register the client first (vap-host "
                       "register), or add client_id=... from Administration > System > API "
                       "Clients");
    if (refresh_backend(&inst->cfg))
        return refresh_backend_status(inst, out, err);
    int64_t now = plugin_now_ms(); /* the host's clock, read with no lock held */
    pthread_mutex_lock(&inst->scratch_mu);
    if (instance_scratch(inst) == NULL) {
        pthread_mutex_unlock(&inst->scratch_mu);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    /* While this process renews (it holds the grant's exclusive lock), or
     * holds a renewed grant it could not seal yet, the grant in memory is the
     * newest: report it instead of waiting for our own lock. */
    struct refresher *r = &inst->refresher;
    int from_memory = 0;
    pthread_mutex_lock(&r->mu);
    if (r->loaded && (r->refreshing || r->pending.active)) {
        grant_copy(inst->scratch, r->cur);
        from_memory = 1;
    }
    pthread_mutex_unlock(&r->mu);
    rc = from_memory ? VAP_OK : secrets_grant_read(&inst->secrets, &inst->cfg, inst->scratch, err);
    if (rc >= 0) {
        *out = status_info_new(rc == 1 ? NULL : inst->scratch, now);
        if (*out != NULL && rc != 1)
            (*out)->renew_due_at_ms = refresh_due_ms(&inst->cfg, inst->scratch);
        rc = *out ? VAP_OK : err_set(err, VAP_E_NOMEM, "out of memory");
    }
    grant_clear(inst->scratch);
    pthread_mutex_unlock(&inst->scratch_mu);
    return rc;
}

static int api_reload(vap_instance *inst, const vap_call *call, vap_error *err)
{
    int rc;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    rc = secrets_reload(&inst->secrets, &inst->cfg, err);
    if (rc == VAP_OK)
        refresh_invalidate(inst); /* an admin may have replaced the grant too */
    return rc;
}

static int api_refresh(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                       vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "refresh: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    return refresh_now(inst, call, out, err);
}

static int api_fetch(vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
                     vap_fetch_response **out, vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "fetch: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    warmer_fetch_begin(inst);
    if (req != NULL && VAP_HAS(req, flags) && (req->flags & VAP_FETCH_ALL_PAGES))
        rc = fetch_all_pages(inst, call, req, out, err);
    else
        rc = fetch_do(inst, call, req, out, err);
    warmer_fetch_end(inst);
    return rc;
}

static const char *api_strerror(int code)
{
    return err_name(code);
}

static int api_authorize_begin(vap_instance *inst, const vap_call *call,
                               const vap_authorize_request *req,
                               vap_authorize_begin_result **out, vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "authorize_begin: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    return authorize_begin(inst, call, req, out, err);
}

static int api_authorize_complete(vap_instance *inst, const vap_call *call,
                                  const char *callback, size_t len, vap_grant_info **out,
                                  vap_error *err)
{
    int rc;
    if (out == NULL || callback == NULL)
        return err_set(err, VAP_E_INVAL, "authorize_complete: callback or out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    return authorize_complete(inst, call, callback, len, out, err);
}

static int api_register_client(vap_instance *inst, const vap_call *call,
                               const vap_register_request *req, vap_register_result **out,
                               vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "register_client: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    return register_client(inst, call, req, out, err);
}

static int api_check(vap_instance *inst, const vap_call *call, vap_check_report **out,
                     vap_error *err)
{
    int rc;
    if (out == NULL)
        return err_set(err, VAP_E_INVAL, "check: out is NULL");
    *out = NULL;
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    return check_run(inst, call, out, err);
}

static int api_grant_store_init(vap_instance *inst, const vap_call *call, int *created,
                                vap_error *err)
{
    int rc, made = 0;
    (void)call; /* one statement, bounded by the instance's timeout_ms */
    err_clear(err);
    if ((rc = instance_usable(inst, err)) != VAP_OK)
        return rc;
    PLOG_AS(inst->cfg.log_level);
    if (inst->cfg.grant_store == NULL)
        return err_set(err, VAP_E_CONFIG,
                       "this instance keeps its grant in a file (%s): there is no table to "
                       "create; add grant_store=postgresql://... to share it", inst->cfg.store);
    if (inst->cfg.client_id == NULL)
        return err_set(err, VAP_E_CONFIG, "no client_id in the config: register the client first");
    rc = secrets_pg_init(&inst->secrets, &inst->cfg, &made, err);
    if (created != NULL)
        *created = made;
    return rc;
}
