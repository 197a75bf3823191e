/* sim_pkjwt.c: private_key_jwt client authentication at /token, checked as
 * OpenEMR's JWTClientAuthenticationService does (OPENEMR.md §11): the
 * jwt-bearer assertion type, RS384 only (ES384 only when the test asks for
 * it), a kid looked up in the client's registered JWKS (inline, or fetched
 * from its jwks_uri on every request, as older OpenEMR did), iss = sub =
 * client_id, aud = the token endpoint URL, exp with a minute of clock drift,
 * and a jti never seen before.  Also the registration of the keys, and the
 * documents a test serves as a jwks_uri (/_sim/hosted/NAME). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>

#include "sim_internal.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define DRIFT_S 60
#define JWKS_FETCH_MAX (64 * 1024)

static json_t *client_jwks(sim_srv *s, const char *client_id, char *why, size_t wl);
static int verify_sig(const json_t *jwk, const char *alg, const char *input, size_t ilen,
                      const unsigned char *sig, size_t slen);
static int jti_seen(sim_srv *s, const char *jti, long long exp);
static void refuse(sim_resp *r, const char *desc);

int sim_pkjwt_present(const sim_req *q)
{
    return q->form_ok && (sim_form_get(&q->form, "client_assertion_type") ||
                          sim_form_get(&q->form, "client_assertion"));
}

int sim_pkjwt_authenticate(sim_req *q, sim_resp *r, int grant, char **client_id)
{
    sim_srv *s = q->srv;
    const char *type = sim_form_get(&q->form, "client_assertion_type");
    const char *tok = sim_form_get(&q->form, "client_assertion");
    const char *form_id = sim_form_get(&q->form, "client_id");
    json_t *hdr = NULL, *claims = NULL, *jwks = NULL;
    unsigned char *raw = NULL, *sig = NULL;
    size_t rawlen = 0, siglen = 0;
    char why[200] = "";
    int ok = 0;
    *client_id = NULL;
    (void)grant; /* the same rules for every grant type */
    sim_note_secret(s, "client_assertion", tok);
    if (!sim_streq(type, ASSERTION_TYPE) || !tok) {
        refuse(r, "The client assertion type is not supported");
        return -1;
    }
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.') ||
        sim_b64url_decode(tok, (size_t)(d1 - tok), &raw, &rawlen) != 0 ||
        !(hdr = json_loadb((char *)raw, rawlen, 0, NULL))) {
        refuse(r, "The client assertion is not a signed JWT");
        goto out;
    }
    free(raw);
    raw = NULL;
    if (sim_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw, &rawlen) != 0 ||
        !(claims = json_loadb((char *)raw, rawlen, 0, NULL)) || !json_is_object(claims) ||
        sim_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &siglen) != 0) {
        refuse(r, "The client assertion is not a signed JWT");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    int es384 = __atomic_load_n(&s->cfg.pkjwt_es384, __ATOMIC_RELAXED);
    if (!sim_streq(alg, "RS384") && !(es384 && sim_streq(alg, "ES384"))) {
        refuse(r, "The client assertion must be signed with RS384");
        goto out;
    }
    if (!kid || !*kid) {
        refuse(r, "The client assertion has no kid header");
        goto out;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!iss || !sim_streq(iss, sub) || (form_id && !sim_streq(form_id, iss))) {
        refuse(r, "The client assertion's iss and sub must both be the client_id");
        goto out;
    }
    if (!(jwks = client_jwks(s, iss, why, sizeof why))) {
        refuse(r, why);
        goto out;
    }
    const json_t *key = NULL, *k;
    size_t i;
    json_array_foreach(json_object_get(jwks, "keys"), i,
                       k) if (sim_streq(json_string_value(json_object_get(k, "kid")), kid)) key = k;
    if (!key) {
        snprintf(why, sizeof why, "No key with kid %.64s is registered for this client", kid);
        refuse(r, why);
        goto out;
    }
    if (verify_sig(key, alg, tok, (size_t)(d2 - tok), sig, siglen) != 0) {
        refuse(r, "The client assertion's signature does not verify with the registered key");
        goto out;
    }
    char aud[128];
    snprintf(aud, sizeof aud, "%s/token", s->issuer);
    const json_t *ja = json_object_get(claims, "aud");
    int aud_ok = sim_streq(json_string_value(ja), aud);
    json_array_foreach(ja, i, k) aud_ok |= sim_streq(json_string_value(k), aud);
    if (!aud_ok) {
        refuse(r, "The client assertion's aud is not the token endpoint");
        goto out;
    }
    long long now = sim_now(s);
    const json_t *je = json_object_get(claims, "exp"), *jn = json_object_get(claims, "nbf");
    const json_t *jt = json_object_get(claims, "iat");
    if (!json_is_integer(je) || json_integer_value(je) + DRIFT_S < now) {
        refuse(r, "The client assertion has expired");
        goto out;
    }
    if ((json_is_integer(jn) && json_integer_value(jn) > now + DRIFT_S) ||
        (json_is_integer(jt) && json_integer_value(jt) > now + DRIFT_S)) {
        refuse(r, "The client assertion is not valid yet");
        goto out;
    }
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    if (!jti || !*jti) {
        refuse(r, "The client assertion has no jti");
        goto out;
    }
    if (jti_seen(s, jti, json_integer_value(je) + DRIFT_S) ||
        __atomic_exchange_n(&s->pkjwt_replay_next, 0, __ATOMIC_RELAXED)) {
        refuse(r, "The client assertion's jti has already been used");
        goto out;
    }
    *client_id = strdup(iss);
    ok = *client_id != NULL;
    if (!ok)
        sim_api_error(r, 500, "out of memory");
out:
    json_decref(hdr);
    json_decref(claims);
    json_decref(jwks);
    free(raw);
    free(sig);
    return ok ? 0 : -1;
}

/* Registration: an inline jwks ({"keys": [...]}) or a jwks_uri (https). */
int sim_pkjwt_register(sim_client *c, const json_t *in, char *why, size_t wl)
{
    const json_t *jwks = json_object_get(in, "jwks");
    const char *uri = json_string_value(json_object_get(in, "jwks_uri"));
    if (jwks && (!json_is_object(jwks) || !json_is_array(json_object_get(jwks, "keys")))) {
        snprintf(why, wl, "jwks must be a JSON Web Key Set object with a keys array");
        return -1;
    }
    if (json_object_get(in, "jwks_uri") && (!uri || strncmp(uri, "https://", 8) != 0)) {
        snprintf(why, wl, "jwks_uri must be an https URL");
        return -1;
    }
    /* ClientGrantTypePolicy: client_credentials needs a confidential
     * client with keys and system/ scopes. */
    const json_t *gts = json_object_get(in, "grant_types"), *gt;
    size_t i;
    json_array_foreach(gts, i, gt) if (sim_streq(json_string_value(gt), "client_credentials"))
        c->grant_cc = 1;
    if (c->grant_cc && (!c->secret || (!jwks && !uri) || !sim_scope_has_prefix(c->scope, "system/"))) {
        snprintf(why, wl, "client_credentials needs a confidential client (application_type "
                          "private), a jwks or jwks_uri, and system/ scopes");
        return -1;
    }
    c->jwks = jwks ? json_deep_copy(jwks) : NULL;
    c->jwks_uri = uri ? strdup(uri) : NULL;
    return 0;
}

/* /_sim/host {"name", "body"} and GET /_sim/hosted/NAME.  1 when handled. */
int sim_pkjwt_control(sim_req *q, sim_resp *r, const char *rest, json_t *in)
{
    sim_srv *s = q->srv;
    if (strcmp(q->method, "GET") == 0 && strncmp(rest, "hosted/", 7) == 0) {
        pthread_mutex_lock(&s->lock);
        json_t *doc = json_object_get(s->hosted, rest + 7);
        json_t *copy = doc ? json_deep_copy(doc) : NULL;
        pthread_mutex_unlock(&s->lock);
        if (copy)
            sim_resp_json(r, 200, copy);
        else
            sim_api_error(r, 404, "nothing is hosted under that name");
        return 1;
    }
    if (in != NULL && strcmp(rest, "pkjwt-replay-next") == 0) {
        /* what the server answers when it has seen a jti before */
        __atomic_store_n(&s->pkjwt_replay_next, 1, __ATOMIC_RELAXED);
        sim_resp_json(r, 200, json_pack("{s:b}", "armed", 1));
        return 1;
    }
    if (in != NULL && strcmp(rest, "client-jwks") == 0) {
        /* what an admin does in API Clients when the client's keys rotate */
        const char *id = json_string_value(json_object_get(in, "client_id"));
        json_t *jwks = json_object_get(in, "jwks");
        if (!id || !json_is_object(jwks) || !json_is_array(json_object_get(jwks, "keys"))) {
            sim_api_error(r, 400, "client-jwks needs {\"client_id\", \"jwks\": {\"keys\": [...]}}");
            return 1;
        }
        pthread_mutex_lock(&s->lock);
        sim_client *c = sim_map_get(&s->clients, id);
        if (c) {
            json_decref(c->jwks);
            c->jwks = json_deep_copy(jwks);
        }
        pthread_mutex_unlock(&s->lock);
        if (c)
            sim_resp_json(r, 200,
                          json_pack("{s:s,s:I}", "client_id", id, "keys",
                                    (json_int_t)json_array_size(json_object_get(jwks, "keys"))));
        else
            sim_api_error(r, 404, "no such client");
        return 1;
    }
    if (in == NULL || strcmp(rest, "host") != 0)
        return 0;
    const char *name = json_string_value(json_object_get(in, "name"));
    json_t *body = json_object_get(in, "body");
    if (!name || !*name || !body) {
        sim_api_error(r, 400, "host needs {\"name\", \"body\"}");
        return 1;
    }
    pthread_mutex_lock(&s->lock);
    json_object_set(s->hosted, name, body);
    pthread_mutex_unlock(&s->lock);
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/hosted/%s", s->base_url, name);
    sim_resp_json(r, 200, json_pack("{s:s}", "url", url));
    return 1;
}

static void refuse(sim_resp *r, const char *desc)
{
    sim_oauth_error(r, 401, "invalid_client", desc, NULL);
    r->no_store = 1;
}

static void curl_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* a no-op when the process did it already */
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    sim_buf *b = ud;
    return sim_buf_add(b, p, sz * n) == 0 ? sz * n : 0;
}

/* The client's registered keys: a copy of the inline set, or the jwks_uri's
 * document fetched now (trusting the simulator's own CA). */
static json_t *client_jwks(sim_srv *s, const char *client_id, char *why, size_t wl)
{
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, client_id);
    json_t *inline_set = c && c->jwks ? json_deep_copy(c->jwks) : NULL;
    char *uri = c ? sim_strdup0(c->jwks_uri) : NULL;
    int known = c != NULL;
    pthread_mutex_unlock(&s->lock);
    if (!known) {
        snprintf(why, wl, "Client authentication failed");
        return NULL;
    }
    if (inline_set || !uri) {
        if (!inline_set)
            snprintf(why, wl, "The client has no registered jwks or jwks_uri");
        free(uri);
        return inline_set;
    }
    sim_buf b;
    sim_buf_init(&b, JWKS_FETCH_MAX);
    long status = 0;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_once);
    CURL *h = curl_easy_init();
    CURLcode cc = CURLE_FAILED_INIT;
    if (h) {
        curl_easy_setopt(h, CURLOPT_URL, uri);
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_path);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
    }
    json_t *set =
        cc == CURLE_OK && status == 200 && !b.oom ? json_loadb(b.p, b.len, 0, NULL) : NULL;
    if (!json_is_object(set) || !json_is_array(json_object_get(set, "keys"))) {
        json_decref(set);
        set = NULL;
        snprintf(why, wl, "The client's jwks_uri could not be fetched as a JWKS");
    }
    sim_buf_free(&b);
    free(uri);
    return set;
}

static int b64_member(const json_t *jwk, const char *name, gnutls_datum_t *d)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    size_t n = 0;
    d->data = NULL;
    if (!v || sim_b64url_decode(v, strlen(v), &d->data, &n) != 0)
        return -1;
    d->size = (unsigned)n;
    return 0;
}

static int verify_sig(const json_t *jwk, const char *alg, const char *input, size_t ilen,
                      const unsigned char *sig, size_t slen)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0}, der = {NULL, 0};
    gnutls_datum_t data = {(unsigned char *)input, (unsigned)ilen},
                   sg = {(unsigned char *)sig, (unsigned)slen};
    int rc = -1, es = strcmp(alg, "ES384") == 0;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (gnutls_pubkey_init(&pub) != 0)
        return -1;
    if (!es && sim_streq(kty, "RSA") && b64_member(jwk, "n", &a) == 0 &&
        b64_member(jwk, "e", &b) == 0 && gnutls_pubkey_import_rsa_raw(pub, &a, &b) == 0)
        rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA384, 0, &data, &sg) >= 0 ? 0 : -1;
    else if (es && sim_streq(kty, "EC") &&
             sim_streq(json_string_value(json_object_get(jwk, "crv")), "P-384") && slen == 96 &&
             b64_member(jwk, "x", &a) == 0 && b64_member(jwk, "y", &b) == 0 &&
             gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_SECP384R1, &a, &b) == 0) {
        gnutls_datum_t r = {(unsigned char *)sig, 48}, s = {(unsigned char *)sig + 48, 48};
        if (gnutls_encode_rs_value(&der, &r, &s) == 0)
            rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &der) >= 0
                     ? 0
                     : -1;
    }
    free(a.data);
    free(b.data);
    gnutls_free(der.data);
    gnutls_pubkey_deinit(pub);
    return rc;
}

static int jti_expired(void *val, void *ctx)
{
    return *(long long *)val < *(long long *)ctx;
}

/* Remembers jti until the assertion could no longer be accepted anyway. */
static int jti_seen(sim_srv *s, const char *jti, long long until)
{
    long long now = sim_now(s);
    pthread_mutex_lock(&s->lock);
    sim_map_sweep(&s->jtis, jti_expired, &now);
    int seen = sim_map_get(&s->jtis, jti) != NULL;
    long long *v = seen ? NULL : malloc(sizeof *v);
    if (v) {
        *v = until;
        if (sim_map_put(&s->jtis, jti, v) != 0)
            free(v);
    }
    pthread_mutex_unlock(&s->lock);
    return seen;
}
