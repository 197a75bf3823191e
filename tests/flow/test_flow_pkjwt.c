/* test_flow_pkjwt.c - no shared secret: the code flow and the refresh with
 * client_auth=private_key_jwt against the simulator, with no client secret
 * in the store.  The key is made by the real vap-seal (argv[2]), registered
 * with the simulator through dynamic registration (inline jwks, or a
 * jwks_uri), and rotated with overlap (keygen --next, promote).  Refusals
 * (expired assertion, wrong kid, unknown key, replayed jti) come back as
 * VAP_E_CLIENT naming the server's reason. */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clientkey.h"
#include "flowkit.h"
#include "jose/jose.h"
#include "jose/jws_sign.h"
#include "testcheck.h"
#include "vapseal.h"

#define PK_SCOPE "openid offline_access api:fhir user/Patient.read"

static const char *vap_seal;
static struct flowkit k;
static char secrets_log[256];

/* Runs vap-seal ARGS... with the flow store; its stdout into out. */
static int seal_cmd(const char *client_id, char *out, size_t cap, const char *cmd, ...)
{
    const char *argv[20];
    int n = 0, fds[2];
    argv[n++] = vap_seal;
    argv[n++] = cmd;
    argv[n++] = "--keyring";
    argv[n++] = k.keyring;
    argv[n++] = "--store";
    argv[n++] = k.store;
    argv[n++] = "--issuer";
    argv[n++] = k.issuer;
    argv[n++] = "--client-id";
    argv[n++] = client_id;
    va_list ap;
    va_start(ap, cmd);
    for (const char *a; n < 18 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(vap_seal, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    for (ssize_t r; len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0;)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = sz * n;
    if (have + add >= 16384)
        add = 16383 - have;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return sz * n;
}

/* POST body to base+path; the answer's body into out (16 KiB). */
static long post(const char *path, const char *ctype, const char *body, char *out)
{
    char url[512], hdr[128];
    long status = -1;
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s%s", k.base, path);
    snprintf(hdr, sizeof hdr, "Content-Type: %s", ctype);
    h = curl_slist_append(h, hdr);
    out[0] = '\0';
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, sim_ca_path(k.sim));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

/* Dynamic registration of a confidential private_key_jwt client; its
 * client_id into id.  KEYS is "jwks":{...} or "jwks_uri":"...". */
static int register_client(const char *keys, char *id, size_t cap)
{
    char body[16384], out[16384];
    snprintf(
        body, sizeof body,
        "{\"application_type\":\"private\",\"client_name\":\"pkjwt\",\"redirect_uris\":[\"%s\"],"
        "\"token_endpoint_auth_method\":\"private_key_jwt\",\"scope\":\"%s\",%s}",
        FLOW_REDIRECT, PK_SCOPE, keys);
    if (post("/oauth2/default/registration", "application/json", body, out) != 200)
        return -1;
    json_t *r = json_loads(out, 0, NULL);
    const char *cid = json_string_value(json_object_get(r, "client_id"));
    int rc = cid && strlen(cid) < cap ? 0 : -1;
    if (rc == 0)
        snprintf(id, cap, "%s", cid);
    json_decref(r);
    char en[256];
    snprintf(en, sizeof en, "{\"client_id\":\"%s\",\"enabled\":true}", id);
    return rc == 0 && flowkit_control(&k, "clients/enable", en, NULL, 0) == 200 ? 0 : -1;
}

static int set_client_jwks(const char *id, const char *jwks)
{
    char body[16384];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"jwks\":%s}", id, jwks);
    return flowkit_control(&k, "client-jwks", body, NULL, 0) == 200 ? 0 : -1;
}

static int new_instance(const char *id, vap_instance **inst, vap_error *err)
{
    return flowkit_instance(&k, inst, err, "client_id", id, "client_auth", "private_key_jwt",
                            "scope", PK_SCOPE, NULL);
}

static int authorize(vap_instance *inst, vap_error *err)
{
    vap_grant_info *gi = NULL;
    int rc = flowkit_authorize(&k, inst, &gi, err, NULL, 0);
    k.api->release(gi);
    return rc;
}

static int fetch_after_expiry(vap_instance *inst, vap_error *err)
{
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_control(&k, "expire-access-tokens", "{}", NULL, 0);
    flowkit_get_req(&req, "Patient", "_count=1");
    VAP_INIT(vap_error, *err);
    int rc = k.api->fetch(inst, NULL, &req, &resp, err);
    if (rc == VAP_OK && resp->status != 200)
        rc = -1;
    k.api->release(resp);
    return rc;
}

/* An assertion signed in the test with the sealed key of ROLE, for a token
 * request the test sends itself. */
static int sign_with_aud(const char *id, int role, const char *aud, char *out, size_t cap,
                         char kid[CKEY_KID_MAX]);

static int sign_with(const char *id, int role, char *out, size_t cap, char kid[CKEY_KID_MAX])
{
    char tok[256];
    snprintf(tok, sizeof tok, "%s/token", k.issuer);
    return sign_with_aud(id, role, tok, out, cap, kid);
}

static int sign_with_aud(const char *id, int role, const char *aud, char *out, size_t cap,
                         char kid[CKEY_KID_MAX])
{
    seal_store *st = NULL;
    seal_keyring *ring = NULL;
    seal_secret *s = NULL;
    seal_err se;
    struct ckey_set set = {0};
    gnutls_privkey_t key = NULL;
    char jwk[CKEY_JWK_MAX];
    seal_binding b = {k.issuer, id};
    int rc = -1;
    if (seal_store_open(k.store, &st, &se) == 0 &&
        seal_keyring_load(k.keyring, (uid_t)-1, &ring, &se) == 0 && seal_secret_new(&s, &se) == 0 &&
        seal_store_read(st, ring, CKEY_ITEM, &b, s, &se) == 0 &&
        ckey_set_parse(seal_secret_data(s), seal_secret_size(s), &set) == 0) {
        const struct ckey_entry *e = ckey_set_find(&set, role);
        if (e && ckey_import(e->der, e->der_len, &key) == 0 &&
            ckey_public_jwk(key, e->alg, jwk, sizeof jwk, kid) == 0)
            rc = jose_client_assertion(key, e->alg == CKEY_RS384 ? JOSE_RS384 : JOSE_ES384, kid, id,
                                       aud, (int64_t)time(NULL), out, cap);
    }
    if (key)
        gnutls_privkey_deinit(key);
    ckey_set_clear(&set);
    seal_secret_free(s);
    seal_keyring_free(ring);
    seal_store_close(st);
    return rc;
}

/* POSTs a refresh with an assertion; "invalid_client" means the assertion
 * was refused, anything else that it was accepted (the refresh token is a
 * dummy). */
static int assertion_accepted(const char *assertion, char *why, size_t cap)
{
    char body[8192], out[16384];
    snprintf(
        body, sizeof body,
        "grant_type=refresh_token&refresh_token=def502-dummy&client_assertion_type="
        "urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s",
        assertion);
    post("/oauth2/default/token", "application/x-www-form-urlencoded", body, out);
    json_t *r = json_loads(out, 0, NULL);
    const char *e = json_string_value(json_object_get(r, "error"));
    const char *d = json_string_value(json_object_get(r, "error_description"));
    snprintf(why, cap, "%s", d ? d : "");
    int ok = e && strcmp(e, "invalid_client") != 0;
    json_decref(r);
    return ok;
}

/* check()'s "client" item: its result and code, and a word of its message. */
static int client_item_is(vap_instance *inst, int result, int code, const char *word)
{
    vap_check_report *rep = NULL;
    vap_error err;
    int ok = 0;
    VAP_INIT(vap_error, err);
    if ((k.api->check)(inst, NULL, &rep, &err) == VAP_OK)
        for (size_t i = 0; i < rep->n_items; i++) {
            const vap_check_item *it = rep->items[i];
            if (strcmp(it->name, "client") != 0)
                continue;
            ok = it->result == result && (result != VAP_CHECK_FAIL || it->code == code) &&
                 strstr(it->message, word) != NULL;
            if (!ok)
                printf("  client item: %d/%d: %s\n", it->result, it->code, it->message);
        }
    k.api->release(rep);
    return ok;
}

static void code_flow_and_refresh_with_no_secret(void)
{
    char out[16384], id[128];
    vap_instance *inst = NULL;
    vap_error err;
    /* the store flowkit made holds a client secret for another client: gone */
    char path[256];
    snprintf(path, sizeof path, "%s/client_secret", k.store);
    unlink(path);
    check(access(path, F_OK) != 0, "store_holds_no_client_secret");
    char jwks[8192];
    int rc;
    /* keygen binds the key to the client_id OpenEMR issues: register with
     * an empty JWKS first, then give the real one (what an admin does in
     * API Clients) */
    check(register_client("\"jwks\":{\"keys\":[]}", id, sizeof id) == 0,
          "register_private_key_jwt_client");
    check(seal_cmd(id, out, sizeof out, "keygen", NULL) == 0, "keygen_seals_the_key");
    check(seal_cmd(id, jwks, sizeof jwks, "jwks", NULL) == 0 && strstr(jwks, "\"RS384\"") != NULL,
          "jwks_prints_rs384_key");
    check(strstr(jwks, "\"d\"") == NULL && strstr(jwks, "PRIVATE") == NULL,
          "jwks_has_no_private_member");
    check(set_client_jwks(id, jwks) == 0, "admin_sets_the_jwks");
    /* OpenEMR's OpenID configuration does not list private_key_jwt: auto says what to set */
    vap_instance *autoi = NULL;
    vap_authorize_begin_result *begin = NULL;
    check(flowkit_instance(&k, &autoi, &err, "client_id", id, "scope", PK_SCOPE, NULL) == VAP_OK,
          "instance_with_client_auth_auto");
    VAP_INIT(vap_error, err);
    rc = k.api->authorize_begin(autoi, NULL, NULL, &begin, &err);
    check(rc == VAP_E_CONFIG && strstr(err.message, "client_auth=private_key_jwt"),
          "auto_with_a_key_and_no_secret_says_to_set_private_key_jwt");
    k.api->release(begin);
    k.api->instance_free(autoi);
    check(new_instance(id, &inst, &err) == VAP_OK, "instance_with_private_key_jwt");
    check(client_item_is(inst, VAP_CHECK_PASS, VAP_OK, "sealed key"),
          "check_passes_with_the_sealed_key");
    long codes = flowkit_counter(&k, "token_requests.authorization_code");
    rc = authorize(inst, &err);
    check(rc == VAP_OK, "code_exchange_with_private_key_jwt_and_no_secret");
    if (rc != VAP_OK)
        printf("  authorize: %s\n", err.message);
    check(flowkit_counter(&k, "token_requests.authorization_code") == codes + 1,
          "one_code_exchange");
    long refreshes = flowkit_counter(&k, "token_requests.refresh_token");
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_OK && flowkit_counter(&k, "token_requests.refresh_token") == refreshes + 1,
          "refresh_with_private_key_jwt");
    if (rc != VAP_OK)
        printf("  refresh: %s\n", err.message);
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_OK, "second_refresh_signs_a_fresh_assertion");

    /* replay: the last assertion the server accepted, sent again */
    char line[8192] = "", last[8192] = "";
    FILE *f = fopen(secrets_log, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "client_assertion ", 17) == 0)
            snprintf(last, sizeof last, "%s", line + 17);
    if (f)
        fclose(f);
    last[strcspn(last, "\n")] = '\0';
    char why[256];
    check(*last && !assertion_accepted(last, why, sizeof why) && strstr(why, "jti"),
          "replayed_jti_is_refused");

    /* the server's answer to a replay, as the plugin reports it */
    flowkit_control(&k, "pkjwt-replay-next", "{}", NULL, 0);
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_E_CLIENT && strstr(err.message, "jti") &&
              strstr(err.message, "signed assertion"),
          "replayed_jti_answer_is_client_error_naming_it");
    check(fetch_after_expiry(inst, &err) == VAP_OK, "the_next_request_signs_a_new_jti_and_passes");
    /* expired: the server's clock runs 5 minutes ahead of the assertion */
    flowkit_control(&k, "skew", "{\"seconds\":300}", NULL, 0);
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_E_CLIENT && strstr(err.message, "expired") &&
              strstr(err.message, "signed assertion"),
          "expired_assertion_is_client_error_naming_it");
    flowkit_control(&k, "skew", "{\"seconds\":0}", NULL, 0);

    /* wrong kid: the registered JWKS holds another key */
    char saved[8192];
    snprintf(saved, sizeof saved, "%s", jwks);
    check(seal_cmd(id, out, sizeof out, "keygen", "--next", NULL) == 0 &&
              seal_cmd(id, jwks, sizeof jwks, "jwks", NULL) == 0,
          "keygen_next");
    json_t *set = json_loads(jwks, 0, NULL),
           *other = json_array_get(json_object_get(set, "keys"), 1);
    char only_other[4096];
    char *o = json_dumps(other, JSON_COMPACT);
    snprintf(only_other, sizeof only_other, "{\"keys\":[%s]}", o ? o : "");
    check(set_client_jwks(id, only_other) == 0, "register_only_the_other_key");
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_E_CLIENT && strstr(err.message, "kid"), "wrong_kid_is_client_error_naming_kid");
    check(client_item_is(inst, VAP_CHECK_FAIL, VAP_E_CLIENT, "vap-seal jwks"),
          "check_fails_naming_the_jwks_when_the_key_is_not_registered");
    /* unknown key: the kid is ours, the key under it is not */
    json_t *saved_set = json_loads(saved, 0, NULL);
    json_t *cur = json_array_get(json_object_get(saved_set, "keys"), 0);
    json_t *forged = json_deep_copy(other);
    json_object_set(forged, "kid", json_object_get(cur, "kid"));
    json_object_set_new(forged, "kty", json_string("RSA"));
    char *fj = json_dumps(forged, JSON_COMPACT);
    char forged_set[4096];
    snprintf(forged_set, sizeof forged_set, "{\"keys\":[%s]}", fj ? fj : "");
    /* the next key is RS384 too, so the forged entry is a well-formed RSA key */
    check(set_client_jwks(id, forged_set) == 0, "register_another_key_under_our_kid");
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_E_CLIENT && strstr(err.message, "signature"),
          "unknown_key_is_client_error_naming_signature");
    free(fj);
    free(o);
    json_decref(forged);
    json_decref(saved_set);
    json_decref(set);

    /* rotation with overlap: both keys registered, old signs, then new */
    check(set_client_jwks(id, jwks) == 0, "register_current_and_next");
    char a[JOSE_ASSERTION_MAX], kid_old[CKEY_KID_MAX], kid_new[CKEY_KID_MAX];
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_OK, "before_promote_the_current_key_signs");
    check(seal_cmd(id, out, sizeof out, "promote", NULL) == 0, "promote");
    check(seal_cmd(id, jwks, sizeof jwks, "jwks", NULL) == 0, "jwks_after_promote");
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_OK, "after_promote_the_new_key_signs");
    check(sign_with(id, CKEY_PREVIOUS, a, sizeof a, kid_old) == 0 &&
              assertion_accepted(a, why, sizeof why),
          "during_overlap_the_old_kid_is_accepted");
    check(sign_with(id, CKEY_CURRENT, a, sizeof a, kid_new) == 0 &&
              assertion_accepted(a, why, sizeof why),
          "during_overlap_the_new_kid_is_accepted");
    check(strstr(jwks, kid_old) && strstr(jwks, kid_new), "jwks_publishes_both_during_overlap");
    check(sign_with_aud(id, CKEY_CURRENT, k.issuer, a, sizeof a, kid_new) == 0 &&
              !assertion_accepted(a, why, sizeof why) && strstr(why, "aud"),
          "assertion_for_another_audience_is_refused");
    /* the next rotation: the old key leaves the JWKS the admin registers */
    check(seal_cmd(id, out, sizeof out, "keygen", "--next", NULL) == 0 &&
              seal_cmd(id, out, sizeof out, "promote", NULL) == 0 &&
              seal_cmd(id, jwks, sizeof jwks, "jwks", NULL) == 0 && set_client_jwks(id, jwks) == 0,
          "second_rotation");
    check(strstr(jwks, kid_old) == NULL && strstr(jwks, kid_new) != NULL, "old_kid_left_the_jwks");
    check(sign_with(id, CKEY_PREVIOUS, a, sizeof a, kid_new) == 0 &&
              assertion_accepted(a, why, sizeof why),
          "after_overlap_the_previous_new_kid_is_accepted");
    rc = fetch_after_expiry(inst, &err);
    check(rc == VAP_OK, "after_second_promote_the_newest_key_signs");
    k.api->instance_free(inst);
}

static void jwks_uri_registration(void)
{
    char out[16384], id[128], jwks[8192], body[9000], keys[512];
    vap_instance *inst = NULL;
    vap_error err;
    char path[256];
    snprintf(path, sizeof path, "%s/%s", k.store, CKEY_ITEM);
    unlink(path);
    /* the URL exists before the key: the client_id comes from registering */
    check(flowkit_control(&k, "host", "{\"name\":\"pk\",\"body\":{\"keys\":[]}}", out,
                          sizeof out) == 200,
          "host_an_empty_jwks");
    json_t *r = json_loads(out, 0, NULL);
    snprintf(keys, sizeof keys, "\"jwks_uri\":\"%s\"",
             json_string_value(json_object_get(r, "url")));
    json_decref(r);
    check(register_client(keys, id, sizeof id) == 0, "register_with_jwks_uri");
    check(seal_cmd(id, out, sizeof out, "keygen", "--alg", "ES384", NULL) == 0 &&
              seal_cmd(id, jwks, sizeof jwks, "jwks", NULL) == 0 && strstr(jwks, "\"P-384\""),
          "keygen_es384");
    snprintf(body, sizeof body, "{\"name\":\"pk\",\"body\":%s}", jwks);
    check(flowkit_control(&k, "host", body, out, sizeof out) == 200, "serve_the_jwks_at_the_uri");
    check(new_instance(id, &inst, &err) == VAP_OK, "instance");
    int rc = authorize(inst, &err);
    check(rc == VAP_OK, "code_flow_es384_key_from_jwks_uri");
    if (rc != VAP_OK)
        printf("  authorize: %s\n", err.message);
    check(fetch_after_expiry(inst, &err) == VAP_OK, "refresh_es384_key_from_jwks_uri");
    k.api->instance_free(inst);
}

/* vap-host register with client_auth=private_key_jwt: the key is made and
 * registered in one step, and only the key is sealed. */
static void register_with_a_key(void)
{
    char store[256], path[300];
    vap_instance *reg = NULL, *inst = NULL;
    vap_register_result *res = NULL;
    vap_error err;
    snprintf(store, sizeof store, "%s/store-register", k.dir);
    mkdir(store, 0700);
    /* register makes an RSA 3072 key: seconds under valgrind on a busy machine */
    check(flowkit_instance(&k, &reg, &err, "client_id", NULL, "client_auth", "private_key_jwt",
                           "scope", PK_SCOPE, "store", store, "timeout_ms", "120000", NULL) == VAP_OK,
          "unregistered_instance");
    VAP_INIT(vap_error, err);
    int rc = k.api->register_client(reg, NULL, NULL, &res, &err);
    check(rc == VAP_OK && res && res->client_id, "register_with_private_key_jwt");
    if (rc != VAP_OK)
        printf("  register: %s\n", err.message);
    snprintf(path, sizeof path, "%s/%s", store, CKEY_ITEM);
    check(access(path, F_OK) == 0, "register_seals_the_key");
    snprintf(path, sizeof path, "%s/client_secret", store);
    check(access(path, F_OK) != 0, "register_seals_no_secret");
    char id[128] = "", en[256];
    if (res && res->client_id)
        snprintf(id, sizeof id, "%s", res->client_id);
    k.api->release(res);
    k.api->instance_free(reg);
    snprintf(en, sizeof en, "{\"client_id\":\"%s\",\"enabled\":true}", id);
    flowkit_control(&k, "clients/enable", en, NULL, 0);
    check(flowkit_instance(&k, &inst, &err, "client_id", id, "client_auth", "private_key_jwt",
                           "scope", PK_SCOPE, "store", store, NULL) == VAP_OK,
          "registered_instance");
    rc = authorize(inst, &err);
    check(rc == VAP_OK, "registered_key_authorizes_with_no_secret");
    if (rc != VAP_OK)
        printf("  authorize: %s\n", err.message);
    check(fetch_after_expiry(inst, &err) == VAP_OK, "registered_key_refreshes");
    k.api->instance_free(inst);
}

int main(int argc, char **argv)
{
    sim_config cfg;
    if (argc != 3)
        return 2;
    vap_seal = argv[2];
    flowkit_sim_defaults(&cfg);
    snprintf(secrets_log, sizeof secrets_log, "/tmp/vap-pkjwt-log-%d", (int)getpid());
    cfg.secrets_log = secrets_log;
    cfg.pkjwt_es384 = 1; /* OpenEMR takes RS384 only; ES384 is the plugin's to prove here */
    if (flowkit_start(&k, argv[1], &cfg) != 0)
        return 1;
    code_flow_and_refresh_with_no_secret();
    jwks_uri_registration();
    register_with_a_key();
    flowkit_stop(&k);
    unlink(secrets_log);
    return check_summary();
}
