/*
 * testmod.c - tiny modules for the loader tests, one per variant
 * (TESTMOD_GOOD, _NOSYM, _V2, _SMALL, _LARGE, _REFUSE, _FULL, and the
 * linking cases _UNRES_LAZY, _UNRES_NOW, _LAZYDEP), each built with
 * shared_module.  The good ones log through the host on entry and on
 * instance_new so the tests can see the host api travel through the ABI.
 * TESTMOD_FULL also answers status/refresh/fetch as its "mode" option says,
 * so vap-host's output and exit codes can be tested without a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vap/plugin.h>

#if defined(TESTMOD_NOSYM)

int testmod_hello(void);
__attribute__((visibility("default"))) int testmod_hello(void)
{
    return 42;
}

#else

static const vap_host_api *testmod_host;
static int testmod_entry_calls;

struct vap_instance {
    char mode[32];
};

static int testmod_instance_new(const vap_option *opts, size_t n_opts, vap_instance **out,
                                vap_error *err)
{
    char line[128];
    long long now = testmod_host->now_ms ? (long long)testmod_host->now_ms(testmod_host->ctx) : 0;
    snprintf(line, sizeof line, "testmod instance_new options=%zu now=%lld", n_opts, now);
    testmod_host->log(testmod_host->ctx, VAP_LOG_INFO, line);
    if (testmod_host->metric)
        testmod_host->metric(testmod_host->ctx, "testmod.instances", 1.0);
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return VAP_E_NOMEM;
    for (size_t i = 0; i < n_opts; i++)
        if (strcmp(opts[i].key, "mode") == 0)
            snprintf((*out)->mode, sizeof (*out)->mode, "%s", opts[i].value);
    return VAP_OK;
}

#if defined(TESTMOD_UNRES_LAZY) || defined(TESTMOD_UNRES_NOW)
/* Defined nowhere: loading must fail however the module was linked. */
int testmod_no_such_function(void);
#elif defined(TESTMOD_LAZYDEP)
/* In testmod_lazydep_lib, whose other function calls a symbol defined nowhere. */
int testmod_lazydep_answer(void);
#endif

static void testmod_instance_free(vap_instance *inst)
{
#if defined(TESTMOD_UNRES_LAZY) || defined(TESTMOD_UNRES_NOW)
    if (inst == NULL)
        (void)testmod_no_such_function();
#elif defined(TESTMOD_LAZYDEP)
    if (inst == NULL)
        (void)testmod_lazydep_answer();
#endif
    free(inst);
}

static void testmod_release(void *obj)
{
    free(obj);
}

static const char *testmod_strerror(int code)
{
    return code == VAP_OK ? "ok" : "error";
}

#if defined(TESTMOD_FULL)
static int testmod_fail(vap_error *err, int code, const char *oauth, const char *msg)
{
    if (err != NULL) {
        err->code = code;
        snprintf(err->oauth_error, sizeof err->oauth_error, "%s", oauth);
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return code;
}

static vap_grant_info *testmod_grant(int state)
{
    vap_grant_info *gi = calloc(1, sizeof *gi);
    if (gi == NULL)
        return NULL;
    VAP_INIT(vap_grant_info, *gi);
    gi->state = state;
    gi->scope = "openid offline_access user/Patient.read";
    gi->patient = "";
    gi->encounter = "";
    gi->subject = "staff-1";
    gi->fhir_user = "Practitioner/7";
    gi->access_expires_at_ms = INT64_C(4102444800000); /* 2100-01-01 */
    gi->obtained_at_ms = INT64_C(4102441200000);
    gi->generation = 3;
    gi->has_refresh_token = 1;
    return gi;
}

static int testmod_status(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                          vap_error *err)
{
    if (strcmp(inst->mode, "nogrant") == 0)
        *out = testmod_grant(VAP_GRANT_NONE);
    else if (strcmp(inst->mode, "reauth") == 0)
        *out = testmod_grant(VAP_GRANT_REAUTH_REQUIRED);
    else
        *out = testmod_grant(VAP_GRANT_VALID);
    return *out ? VAP_OK : VAP_E_NOMEM;
}

static int testmod_refresh(vap_instance *inst, const vap_call *call, vap_grant_info **out,
                           vap_error *err)
{
    *out = NULL;
    if (strcmp(inst->mode, "client") == 0)
        return testmod_fail(err, VAP_E_CLIENT, "invalid_client",
                            "the server rejected the client; ask the practice admin to enable it");
    if (strcmp(inst->mode, "reauth") == 0)
        return testmod_fail(err, VAP_E_REAUTH_REQUIRED, "invalid_grant",
                            "the grant was revoked (invalid_grant); authorize again");
    *out = testmod_grant(VAP_GRANT_VALID);
    return *out ? VAP_OK : VAP_E_NOMEM;
}

static int testmod_fetch(vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
                         vap_fetch_response **out, vap_error *err)
{
    *out = NULL;
    if (strcmp(inst->mode, "denied") == 0)
        return testmod_fail(err, VAP_E_DENIED, "", "denied: the grant lacks user/Patient.read");
    if (strcmp(inst->mode, "unavailable") == 0)
        return testmod_fail(err, VAP_E_UNAVAILABLE, "", "the server is unavailable; try later");
    /* One allocation: the struct, then the body. */
    size_t cap = 64 + strlen(req->path) + (req->query ? strlen(req->query) : 0);
    vap_fetch_response *r = calloc(1, sizeof *r + cap);
    if (r == NULL)
        return VAP_E_NOMEM;
    char *body = (char *)(r + 1);
    int n = snprintf(body, cap, "{\"path\":\"%s\",\"query\":\"%s\",\"flags\":%u}", req->path,
                     req->query ? req->query : "", (unsigned)req->flags);
    VAP_INIT(vap_fetch_response, *r);
    r->status = 200;
    r->content_type = "application/fhir+json";
    r->body = body;
    r->body_len = (size_t)n;
    r->pages = 1;
    *out = r;
    return VAP_OK;
}
#define TESTMOD_CAPS (VAP_CAP_STATUS | VAP_CAP_REFRESH | VAP_CAP_FETCH)
#else
#define testmod_status NULL
#define testmod_refresh NULL
#define testmod_fetch NULL
#define TESTMOD_CAPS 0
#endif

#if defined(TESTMOD_LARGE)
/* A newer plugin: the descriptor has grown beyond what this host knows. */
static const struct {
    vap_plugin_api base;
    void *future[4];
} testmod_large = {
    .base = {.struct_size = sizeof testmod_large, .abi_minor = VAP_ABI_MINOR + 1,
             .name = "testmod-large", .version = "9.9", .caps = 0,
             .instance_new = testmod_instance_new, .instance_free = testmod_instance_free,
             .release = testmod_release, .strerror = testmod_strerror},
};
#define TESTMOD_API (&testmod_large.base)
#else
static const vap_plugin_api testmod_api = {
#if defined(TESTMOD_SMALL)
    /* An ABI that stops before release/strerror: too small for this host. */
    .struct_size = offsetof(vap_plugin_api, release),
#else
    .struct_size = sizeof(vap_plugin_api),
#endif
    .abi_minor = VAP_ABI_MINOR,
    .name = "testmod",
    .version = "0.0",
    .caps = TESTMOD_CAPS,
    .instance_new = testmod_instance_new,
    .instance_free = testmod_instance_free,
    .refresh = testmod_refresh,
    .fetch = testmod_fetch,
    .status = testmod_status,
    .release = testmod_release,
    .strerror = testmod_strerror,
};
#define TESTMOD_API (&testmod_api)
#endif

#if defined(TESTMOD_V2)
#define TESTMOD_ENTRY vap_plugin_entry_v2
#else
#define TESTMOD_ENTRY vap_plugin_entry_v1
#endif

int TESTMOD_ENTRY(const vap_host_api *host, const vap_plugin_api **out, vap_error *err);
__attribute__((visibility("default"))) int TESTMOD_ENTRY(const vap_host_api *host,
                                                         const vap_plugin_api **out,
                                                         vap_error *err)
{
    char line[64];
    testmod_entry_calls++;
#if defined(TESTMOD_REFUSE)
    if (err != NULL) {
        err->code = VAP_E_ABI;
        snprintf(err->message, sizeof err->message, "host api too old for testmod");
    }
    return VAP_E_ABI;
#endif
    testmod_host = host;
    snprintf(line, sizeof line, "testmod entry call %d", testmod_entry_calls);
    host->log(host->ctx, VAP_LOG_INFO, line);
    if (host->metric)
        host->metric(host->ctx, "testmod.entry", 1.0);
    *out = TESTMOD_API;
    return VAP_OK;
}

#endif
