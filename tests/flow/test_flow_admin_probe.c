/* test_flow_admin_probe.c - check and authorize against what may stand in
 * front of OpenEMR's authorization endpoint (a reverse proxy's Basic-auth
 * 401, a login service on another host, an http:// login page: never taken
 * for OpenEMR's verdict on the client), and what a host built before
 * VAP_CHECK_UNKNOWN sees.
 *
 * Usage: test-flow-admin-probe PLUGIN.so [CASE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_kit.h"

/* The next request to /authorize (the probe) gets this front-end fault. */
static int front_fault(const char *kind)
{
    char body[200];
    snprintf(body, sizeof body,
             "{\"route\":\"/oauth2/default/authorize\",\"kind\":\"%s\",\"count\":1}", kind);
    return flowkit_control(&k, "faults", body, NULL, 0) == 200 ? 0 : -1;
}

/* check() with the probe answered by kind; the report, or NULL. */
static vap_check_report *check_behind(const char *kind)
{
    vap_instance *in = NULL;
    vap_check_report *rep = NULL;
    vap_error err;
    if (front_fault(kind) != 0 || flowkit_instance(&k, &in, &err, NULL) != VAP_OK)
        return NULL;
    VAP_INIT(vap_error, err);
    if (k.api->check(in, NULL, &rep, &err) != VAP_OK)
        printf("  check failed: %s\n", err.message);
    k.api->instance_free(in);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    return rep;
}

/* ---- a 401 that is not OpenEMR's invalid_client ------------------------------ */

static int proxy_basic_401_is_unknown_in_check(void)
{
    vap_check_report *rep = check_behind("authorize_bare_401");
    EXPECT(rep != NULL, "no report");
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_UNKNOWN, 0, "HTTP 401");
    k.api->release(rep);
    EXPECT(ok, "a proxy's 401 was taken for OpenEMR's invalid_client");
    return 0;
}

static int proxy_basic_401_lets_authorize_go_on(void)
{
    vap_instance *in = NULL;
    vap_authorize_begin_result *b = NULL;
    vap_error err;
    EXPECT(front_fault("authorize_bare_401") == 0 &&
               flowkit_instance(&k, &in, &err, NULL) == VAP_OK, "setup");
    VAP_INIT(vap_error, err);
    int rc = k.api->authorize_begin(in, NULL, NULL, &b, &err);
    int have_url = rc == VAP_OK && b != NULL && strstr(b->url, "/authorize?") != NULL;
    k.api->release(b);
    k.api->instance_free(in);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    EXPECT(have_url, "authorize_begin: rc %d: %s", rc, err.message);
    return 0;
}

/* ---- a redirect that is not to OpenEMR's own login page --------------------- */

static int login_on_another_host_is_unknown(void)
{
    vap_check_report *rep = check_behind("authorize_login_elsewhere");
    EXPECT(rep != NULL, "no report");
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_UNKNOWN, 0, "sso.example.invalid");
    k.api->release(rep);
    EXPECT(ok, "a login page on another host passed the redirect URI");
    return 0;
}

static int login_over_http_is_unknown(void)
{
    vap_check_report *rep = check_behind("authorize_login_http");
    EXPECT(rep != NULL, "no report");
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_UNKNOWN, 0, "http://127.0.0.1");
    k.api->release(rep);
    EXPECT(ok, "a login page over http:// passed the redirect URI");
    return 0;
}

/* An absolute Location on the endpoint's own origin is its login page. */
static int login_absolute_on_same_origin_passes(void)
{
    vap_check_report *rep = check_behind("authorize_login_absolute");
    EXPECT(rep != NULL, "no report");
    int ok = item_is(rep, "redirect_uri", VAP_CHECK_PASS, 0, "accepts it");
    k.api->release(rep);
    EXPECT(ok, "the login page on the same origin was not accepted");
    return 0;
}

/* A host built before VAP_CHECK_UNKNOWN (minor 1) would not know it: it gets
 * a warning with the same message, whether it says so in its vap_call or,
 * passing no vap_call, in its vap_host_api. */
static int check_minor1_host_gets_warn_not_unknown(void)
{
    vap_instance *in = NULL;
    vap_grant_info *gi = NULL;
    vap_check_report *now = NULL, *old_call = NULL, *old_host = NULL;
    vap_error err;
    const char *store = new_store("s-minor1", FLOW_CLIENT_ID, FLOW_SECRET);
    EXPECT(store && flowkit_instance(&k, &in, &err, "store", store, NULL) == VAP_OK, "setup");
    int rc = flowkit_authorize(&k, in, &gi, &err, NULL, 0);
    k.api->release(gi);
    EXPECT(rc == VAP_OK, "authorize: %s", err.message);
    vap_call call;
    VAP_INIT(vap_call, call);
    VAP_INIT(vap_error, err);
    int rc1 = k.api->check(in, &call, &now, &err);
    call.abi_minor = 1;
    int rc2 = k.api->check(in, &call, &old_call, &err);
    vap_host_api *host = (vap_host_api *)fakehost_host_api(k.fh);
    host->abi_minor = 1;
    int rc3 = k.api->check(in, NULL, &old_host, &err);
    host->abi_minor = VAP_ABI_MINOR;
    k.api->instance_free(in);
    int ok = rc1 == VAP_OK && rc2 == VAP_OK && rc3 == VAP_OK;
    ok = ok && item_is(now, "secret", VAP_CHECK_UNKNOWN, 0, "first code exchange") &&
         now->n_unknown == 1 && now->n_warnings == 0;
    ok = ok && item_is(old_call, "secret", VAP_CHECK_WARN, 0, "first code exchange") &&
         old_call->n_warnings == 1 && old_call->n_unknown == 0;
    ok = ok && item_is(old_host, "secret", VAP_CHECK_WARN, 0, "first code exchange") &&
         old_host->n_warnings == 1 && old_host->n_unknown == 0;
    k.api->release(now);
    k.api->release(old_call);
    k.api->release(old_host);
    EXPECT(ok, "a minor-1 caller was handed VAP_CHECK_UNKNOWN (or a minor-2 one lost it)");
    return 0;
}

static const struct admin_case cases[] = {
    ADMIN_CASE(proxy_basic_401_is_unknown_in_check),
    ADMIN_CASE(proxy_basic_401_lets_authorize_go_on),
    ADMIN_CASE(login_on_another_host_is_unknown),
    ADMIN_CASE(login_over_http_is_unknown),
    ADMIN_CASE(login_absolute_on_same_origin_passes),
    ADMIN_CASE(check_minor1_host_gets_warn_not_unknown),
};

int main(int argc, char **argv)
{
    return admin_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
