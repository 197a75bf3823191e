/* sim_oauth_token.c: /token (authorization_code with PKCE, refresh with
 * rotation), /introspect and /logout, with league/oauth2-server 8.5.5's error
 * rows as OPENEMR.md §6 lists them.  Strict by default where OpenEMR is lax
 * (code replay, secrets); openemr_quirks restores the lax behaviour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "sim_internal.h"

#define TOKEN_PATH "/oauth2/default/token"

typedef struct client_auth {
    char *id, *secret;
    int from_header;
} client_auth;

static void code_grant(sim_req *q, sim_resp *r, const sim_client *c, const client_auth *ca);
static void refresh_grant(sim_req *q, sim_resp *r, const sim_client *c, const client_auth *ca);
static void cc_grant(sim_req *q, sim_resp *r, const sim_client *c);
static void issue(sim_req *q, sim_resp *r, const sim_grant *base, const char *scope,
                  const char *nonce, const char *old_refresh);
static int read_client_auth(const sim_req *q, client_auth *ca);
static int verifier_ok(const char *v);
static void invalid_client(sim_resp *r, const client_auth *ca);
static void bad_request(sim_resp *r);
static void bad_refresh(sim_resp *r, const char *hint);
static int idt_sign_fault(sim_srv *s, const char *client_id, int fault, json_t *claims,
                          char **out);
static void clear_auth(client_auth *ca);
static int secret_eq(const char *a, const char *b);

void sim_h_token(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    const char *gt = q->form_ok ? sim_form_get(&q->form, "grant_type") : NULL;
    client_auth ca;
    int g = !gt ? SIM_G_OTHER : strcmp(gt, "authorization_code") == 0 ? SIM_G_CODE
          : strcmp(gt, "refresh_token") == 0 ? SIM_G_REFRESH
          : strcmp(gt, "client_credentials") == 0 ? SIM_G_CC : SIM_G_OTHER;
    __atomic_fetch_add(&s->grant_count[g], 1, __ATOMIC_RELAXED);
    r->no_store = 1;
    if (!gt) {
        bad_request(r);
        return;
    }
    if (g == SIM_G_OTHER) {
        sim_oauth_error(r, 400, "unsupported_grant_type",
                        "The authorization grant type is not supported by the authorization server.",
                        "Check that all required parameters have been provided");
        return;
    }
    if (g == SIM_G_CODE && sim_form_get(&q->form, "code")) {
        /* OpenEMR decrypts the code to restore its session and runs that
         * session's CSRF check before it looks at the client: a code it did
         * not issue is "Bad request" for every client, enabled, disabled,
         * unknown or with a wrong secret (OPENEMR.md §12). */
        pthread_mutex_lock(&s->lock);
        int known = sim_map_get(&s->codes, sim_form_get(&q->form, "code")) != NULL;
        pthread_mutex_unlock(&s->lock);
        if (!known) {
            bad_request(r);
            return;
        }
    }
    int asserted = sim_pkjwt_present(q);
    if (g == SIM_G_CC && !asserted) {
        /* CustomClientCredentialsGrant: only a jwt-bearer assertion. */
        sim_oauth_error(r, 401, "invalid_client", "Client authentication failed",
                        "The client assertion type is not supported");
        return;
    }
    if (asserted) {
        char *id = NULL;
        if (sim_pkjwt_authenticate(q, r, g, &id) != 0)
            return;
        memset(&ca, 0, sizeof(ca));
        ca.id = id;
    } else if (read_client_auth(q, &ca) != 0 || !ca.id) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Check the `client_id` parameter");
        clear_auth(&ca);
        return;
    }
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, ca.id);
    sim_client snap = {0};
    if (c) {
        snap.id = strdup(c->id);
        snap.secret = sim_strdup0(c->secret);
        snap.scope = strdup(c->scope);
        snap.enabled = c->enabled;
        snap.grant_cc = c->grant_cc;
    }
    pthread_mutex_unlock(&s->lock);
    int lax = __atomic_load_n(&s->cfg.openemr_quirks, __ATOMIC_RELAXED);
    int secret_checked = snap.secret && !(lax && g == SIM_G_REFRESH);
    if (!c || !snap.enabled ||
        (!asserted && secret_checked && !(lax && g == SIM_G_CODE && !ca.secret) &&
         !secret_eq(ca.secret, snap.secret))) {
        invalid_client(r, &ca);
    } else if (g == SIM_G_CC) {
        cc_grant(q, r, &snap);
    } else if (g == SIM_G_CODE) {
        code_grant(q, r, &snap, &ca);
    } else {
        refresh_grant(q, r, &snap, &ca);
    }
    free(snap.id);
    if (snap.secret) {
        sodium_memzero(snap.secret, strlen(snap.secret));
        free(snap.secret);
    }
    free(snap.scope);
    clear_auth(&ca);
}

static void code_grant(sim_req *q, sim_resp *r, const sim_client *c, const client_auth *ca)
{
    sim_srv *s = q->srv;
    const char *code = sim_form_get(&q->form, "code");
    const char *redirect = sim_form_get(&q->form, "redirect_uri");
    const char *verifier = sim_form_get(&q->form, "code_verifier");
    const char *hint = NULL;
    sim_note_secret(s, "code_verifier", verifier);
    int pkce_mismatch = 0;
    sim_grant base;
    char *scope = NULL, *nonce = NULL;
    (void)ca;
    if (!code) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Check the `code` parameter");
        return;
    }
    memset(&base, 0, sizeof(base));
    pthread_mutex_lock(&s->lock);
    sim_grant *g = sim_map_get(&s->codes, code);
    if (!g) {
        pthread_mutex_unlock(&s->lock);
        bad_request(r);
        return;
    }
    if (g->used && !__atomic_load_n(&s->cfg.openemr_quirks, __ATOMIC_RELAXED))
        hint = "Authorization code has been revoked";
    else if (g->exp < sim_now(s))
        hint = "Authorization code has expired";
    else if (strcmp(g->client_id, c->id) != 0)
        hint = "Authorization code was not issued to this client";
    else if (g->redirect_uri && !redirect)
        hint = "Check the `redirect_uri` parameter";
    else if (!sim_streq(g->redirect_uri, redirect) && (g->redirect_uri || redirect))
        hint = "Invalid redirect URI";
    else if (!g->had_state)
        hint = "";      /* OpenEMR keeps state as its session CSRF value: "Bad request" */
    else if (g->challenge && !verifier)
        hint = "Check the `code_verifier` parameter";
    else if (g->challenge && !verifier_ok(verifier))
        hint = "Code Verifier must follow the specifications of RFC-7636.";
    else if (!g->challenge && verifier)
        hint = "code_verifier received when no code_challenge is present";
    else if (g->challenge) {
        unsigned char dig[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(dig, (const unsigned char *)verifier, strlen(verifier));
        char *b = sim_b64url(dig, sizeof(dig));
        pkce_mismatch = !b || strcmp(b, g->challenge) != 0;
        free(b);
    }
    if (!hint && !pkce_mismatch) {
        g->used = 1;
        base = *g;
        /* finalizeScopes: scopes the client did not register are silently dropped */
        scope = sim_scope_intersect(g->scope, c->scope);
        nonce = sim_strdup0(g->nonce);
        base.sub = strdup(g->sub);
        base.username = sim_strdup0(g->username);
        base.client_id = strdup(g->client_id);
    }
    pthread_mutex_unlock(&s->lock);
    if (hint && !*hint) {
        bad_request(r);
    } else if (hint) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST, hint);
    } else if (pkce_mismatch) {
        sim_oauth_error(r, 400, "invalid_grant", SIM_DESC_INVALID_GRANT,
                        "Failed to verify `code_verifier`.");
    } else if (!scope || !base.sub || !base.client_id) {
        sim_api_error(r, 500, "out of memory");
    } else {
        issue(q, r, &base, scope, nonce, NULL);
    }
    free(scope);
    free(nonce);
    if (!hint && !pkce_mismatch) {
        free(base.sub);
        free(base.username);
        free(base.client_id);
    }
}

static void refresh_grant(sim_req *q, sim_resp *r, const sim_client *c, const client_auth *ca)
{
    sim_srv *s = q->srv;
    const char *rt = sim_form_get(&q->form, "refresh_token");
    const char *want = sim_form_get(&q->form, "scope");
    const char *hint = NULL;
    char bad[200], shint[300];
    char *scope = NULL;
    sim_grant base;
    (void)ca;
    if (!rt) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Check the `refresh_token` parameter");
        return;
    }
    memset(&base, 0, sizeof(base));
    shint[0] = '\0';
    char fault_scope[200] = "";
    if (want && sim_fault_take(s, TOKEN_PATH, SIM_F_REFRESH_INVALID_SCOPE,
                               SIM_F_REFRESH_INVALID_SCOPE, NULL, NULL)) {
        /* names the first context scope asked for (or the first scope) */
        const char *w = strchr(want, '/');
        while (w && w > want && w[-1] != ' ')
            w--;
        w = w ? w : want;
        snprintf(fault_scope, sizeof(fault_scope), "%.*s", (int)strcspn(w, " "), w);
    }
    pthread_mutex_lock(&s->lock);
    sim_grant *g = sim_map_get(&s->refresh, rt);
    if (!g)
        hint = "Cannot decrypt the refresh token";
    else if (strcmp(g->client_id, c->id) != 0)
        hint = "Token is not linked to client";
    else if (g->exp < sim_now(s))
        hint = "Token has expired";
    else if (g->revoked || g->logged_out) {
        hint = "Token has been revoked";
        if (g->revoked)
            __atomic_fetch_add(&s->refresh_reuse, 1, __ATOMIC_RELAXED);
    } else if (want) {
        const char *p = want;
        if (sim_scope_check(want, bad, sizeof(bad)) != 0 && *bad) {
            snprintf(shint, sizeof(shint), "Check the `%s` scope", bad);
        } else {
            while (*p) {
                while (*p == ' ')
                    p++;
                const char *e = p;
                while (*e && *e != ' ')
                    e++;
                size_t n = (size_t)(e - p);
                if (n && n < sizeof(bad)) {
                    memcpy(bad, p, n);
                    bad[n] = '\0';
                    if (!sim_scope_has(g->scope, bad)) {
                        snprintf(shint, sizeof(shint), "Check the `%s` scope", bad);
                        break;
                    }
                }
                p = e;
            }
            /* The scope list is re-validated as a whole: a standard-API scope
             * without api:oemr is refused even though both were granted. */
            if (!shint[0] && sim_scope_api_without_oemr(want, bad, sizeof(bad)))
                snprintf(shint, sizeof(shint), "Check the `%s` scope", bad);
        }
    }
    if (!hint && !shint[0] && fault_scope[0])
        snprintf(shint, sizeof(shint), "Check the `%s` scope", fault_scope);
    if (!hint && !shint[0]) {
        base = *g;
        base.sub = strdup(g->sub);
        base.username = sim_strdup0(g->username);
        base.client_id = strdup(g->client_id);
        scope = strdup(want && *want ? want : g->scope);
    }
    pthread_mutex_unlock(&s->lock);
    if (hint) {
        bad_refresh(r, hint);
    } else if (shint[0]) {
        sim_oauth_error(r, 400, "invalid_scope", SIM_DESC_INVALID_SCOPE, shint);
    } else {
        if (base.sub && base.client_id && scope)
            issue(q, r, &base, scope, NULL, rt);
        else
            sim_api_error(r, 500, "out of memory");
        free(base.sub);
        free(base.username);
        free(base.client_id);
        free(scope);
    }
}

/* Makes access (+ refresh, + id_token) for a grant and answers 200 like
 * OpenEMR's IdTokenSMARTResponse.  old_refresh (refresh grant) is revoked
 * together with its access token, with no grace period. */
/* SMART Backend Services (CustomClientCredentialsGrant,
 * ClientGrantTypePolicy): a client registered for it, system/ scopes only
 * (user/ and patient/ ones are dropped), each known to the server (so
 * none while rest_system_scopes_api is off) and registered; no refresh
 * token, no id_token; the token acts as the API system user. */
static void cc_grant(sim_req *q, sim_resp *r, const sim_client *c)
{
    const char *want = sim_form_get(&q->form, "scope");
    char bad[200], hint[300], *scope = NULL;
    size_t cap;
    if (!c->grant_cc) {
        sim_oauth_error(r, 400, "unauthorized_client",
                        "The authenticated client is not authorized to use this authorization "
                        "grant type.", "Check the client's grant_types");
        return;
    }
    if (!want || !*want)
        want = c->scope;
    cap = strlen(want) + 1;
    if (!(scope = calloc(1, cap))) {
        sim_api_error(r, 500, "out of memory");
        return;
    }
    hint[0] = '\0';
    for (const char *p = want; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (n >= sizeof bad) {
            snprintf(hint, sizeof hint, "Check the requested scope");
            break;
        }
        memcpy(bad, p, n);
        bad[n] = '\0';
        p += n;
        if (strncmp(bad, "user/", 5) == 0 || strncmp(bad, "patient/", 8) == 0)
            continue;
        if (!sim_scope_known(bad, n) || !sim_scope_has(c->scope, bad)) {
            snprintf(hint, sizeof hint, "Check the `%s` scope", bad);
            break;
        }
        if (strncmp(bad, "system/", 7) == 0 || strncmp(bad, "api:", 4) == 0) {
            if (*scope)
                strcat(scope, " ");
            strcat(scope, bad);
        }
    }
    if (!hint[0] && !sim_scope_has_prefix(scope, "system/"))
        snprintf(hint, sizeof hint, "Check the `scope` parameter: system/ scopes are required");
    if (hint[0]) {
        sim_oauth_error(r, 400, "invalid_scope", SIM_DESC_INVALID_SCOPE, hint);
    } else {
        sim_grant base;
        memset(&base, 0, sizeof base);
        base.client_id = c->id;
        base.sub = "9a0d7f5e-5c3b-4e8e-9f3a-0e5e7a1c0001"; /* the API system user */
        base.patient = -1;
        base.system = 1;
        issue(q, r, &base, scope, NULL, NULL);
    }
    free(scope);
}

static void issue(sim_req *q, sim_resp *r, const sim_grant *base, const char *scope,
                  const char *nonce, const char *old_refresh)
{
    sim_srv *s = q->srv;
    long long now = sim_now(s);
    char *access = NULL, *refresh = NULL, *idt = NULL, *jti = sim_random_hex("", 40);
    char *pub = sim_scope_public(scope);
    char puuid[40] = "";
    json_t *claims = NULL, *scopes = json_array(), *out = NULL;
    sim_grant *ag = NULL, *rg = NULL;
    int ttl = __atomic_load_n(base->system ? &s->cc_ttl : &s->access_ttl, __ATOMIC_RELAXED);
    int fst = 0, fms = 0;
    int idfault = sim_fault_take(s, TOKEN_PATH, SIM_F_IDT_FIRST, SIM_F_IDT_LAST, &fst, &fms);
    int odd = sim_fault_take(s, TOKEN_PATH, SIM_F_TOKEN_ODD_FIRST, SIM_F_TOKEN_ODD_LAST, NULL, NULL);

    const char *p = scope;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p)
            json_array_append_new(scopes, json_stringn(p, (size_t)(e - p)));
        p = e;
    }
    if (base->patient >= 0)
        sim_uuid(&s->data, SIM_R_PATIENT, (unsigned long)base->patient, 0, puuid);
    claims = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:O,s:s}", "aud", base->client_id,
                       "jti", jti ? jti : "", "iat", (json_int_t)now, "nbf", (json_int_t)now,
                       "exp", (json_int_t)(now + ttl), "sub", base->sub, "scopes", scopes,
                       "iss", s->issuer);
    pthread_mutex_lock(&s->lock);
    gnutls_privkey_t key = s->keys[s->nkeys - 1];
    pthread_mutex_unlock(&s->lock);
    if (!claims || sim_jwt_sign(key, claims, &access) != 0)
        goto oom;
    json_decref(claims);
    claims = NULL;

    if (sim_scope_has(scope, "openid")) {
        const char *iss = idfault == SIM_F_IDT_WRONG_ISS ? "https://127.0.0.1/oauth2/wrong-issuer"
                                                          : s->issuer;
        const char *aud = idfault == SIM_F_IDT_WRONG_AUD ? "some-other-client" : base->client_id;
        long long iat = idfault == SIM_F_IDT_EXPIRED ? now - 7200
                        : idfault == SIM_F_IDT_IAT_FUTURE ? now + 3600 : now;
        long long exp = idfault == SIM_F_IDT_EXPIRED ? now - 3600 : iat + ttl;
        claims = json_pack("{s:s,s:s,s:I,s:I,s:s}", "iss", iss, "aud", aud, "iat",
                           (json_int_t)iat, "exp", (json_int_t)exp, "sub",
                           sim_token_odd_sub(odd, base->sub));
        if (!claims)
            goto oom;
        if (idfault == SIM_F_IDT_NO_AUD)
            json_object_del(claims, "aud");
        if (idfault == SIM_F_IDT_WRONG_NONCE)
            json_object_set_new(claims, "nonce", json_string("not-the-nonce-you-sent"));
        else if (nonce && idfault != SIM_F_IDT_NO_NONCE)
            json_object_set_new(claims, "nonce", json_string(nonce));
        size_t i;
        json_t *v;
        json_array_foreach(scopes, i, v) {
            const char *sv = json_string_value(v);
            if (strncmp(sv, "api:", 4) == 0)
                json_object_set_new(claims, sv, json_true());
        }
        if (sim_scope_has(scope, "fhirUser")) {
            char fu[200];
            snprintf(fu, sizeof(fu), "%s/%s/%s", s->fhir_base,
                     base->patient_user ? "Patient" : "Practitioner", base->sub);
            json_object_set_new(claims, "fhirUser", json_string(fu));
        }
        if (idfault == SIM_F_IDT_ALG_NONE || idfault == SIM_F_IDT_HS256) {
            if (idt_sign_fault(s, base->client_id, idfault, claims, &idt) != 0)
                goto oom;
        } else if (sim_jwt_sign(key, claims, &idt) != 0) {
            goto oom;
        }
        if (idfault == SIM_F_IDT_BAD_SIG) {
            /* flip one bit inside the signature, keeping it valid base64url */
            size_t n = strlen(idt);
            idt[n - 10] = idt[n - 10] == 'A' ? 'B' : 'A';
        }
    }

    ag = calloc(1, sizeof(*ag));
    if (!ag)
        goto oom;
    ag->kind = SIM_ACCESS;
    ag->client_id = strdup(base->client_id);
    ag->sub = strdup(base->sub);
    ag->username = sim_strdup0(base->username);
    ag->patient_user = base->patient_user;
    ag->patient = base->patient;
    ag->system = base->system;
    ag->scope = strdup(scope);
    ag->iat = now;
    ag->exp = now + ttl;
    if (sim_scope_has(scope, "offline_access")) {
        refresh = sim_random_hex("def50200", 384);
        rg = calloc(1, sizeof(*rg));
        if (!refresh || !rg)
            goto oom;
        *rg = *ag;
        rg->kind = SIM_REFRESH;
        rg->client_id = strdup(base->client_id);
        rg->sub = strdup(base->sub);
        rg->username = sim_strdup0(base->username);
        rg->scope = strdup(scope);
        rg->exp = now + 90LL * 86400;
        rg->access_token = strdup(access);
    }
    pthread_mutex_lock(&s->lock);
    sim_store_prune_locked(s);
    if (old_refresh) {
        sim_grant *old = sim_map_get(&s->refresh, old_refresh);
        if (old) {
            old->revoked = 1;
            sim_grant *oa = old->access_token ? sim_map_get(&s->access, old->access_token) : NULL;
            if (oa)
                oa->revoked = 1;
            /* From here on only the answer about to be sent holds a live
             * refresh token: a test measures how long the client takes to
             * make it durable. */
            if (refresh) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                s->rotation_ns[s->rotations_total % SIM_ROTATIONS_KEPT] =
                    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
                s->rotations_total++;
            }
        }
    }
    sim_note_secret(s, "access_token", access);
    sim_note_secret(s, "refresh_token", refresh);
    sim_note_secret(s, "id_token", idt);
    sim_map_put(&s->access, access, ag);
    ag = NULL;
    if (rg) {
        sim_map_put(&s->refresh, refresh, rg);
        rg = NULL;
    }
    pthread_mutex_unlock(&s->lock);

    out = json_object();
    if (idt)
        json_object_set_new(out, "id_token", json_string(idt));
    json_object_set_new(out, "token_type", json_string("Bearer"));
    json_object_set_new(out, "expires_in", json_integer(ttl));
    json_object_set_new(out, "access_token", json_string(access));
    if (refresh)
        json_object_set_new(out, "refresh_token", json_string(refresh));
    if (nonce && pub) {
        /* IdTokenSMARTResponse echoes a nonce sent at /authorize among the
         * scopes (OPENEMR.md §6); a client must not take it for one. */
        size_t wl = strlen(pub) + 7;
        char *withn = malloc(wl);
        if (withn) {
            snprintf(withn, wl, "%s%snonce", pub, *pub ? " " : "");
            free(pub);
            pub = withn;
        }
    }
    json_object_set_new(out, "scope", json_string(pub ? pub : ""));
    if (puuid[0]) {
        char style[160];
        snprintf(style, sizeof(style), "%s/public/smart-styles/smart-light.json", s->base_url);
        json_object_set_new(out, "patient", json_string(puuid));
        json_object_set_new(out, "need_patient_banner", json_true());
        json_object_set_new(out, "smart_style_url", json_string(style));
    }
    sim_token_odd_apply(odd, out);
    sim_resp_json(r, 200, out);
    r->ctype = "application/json; charset=UTF-8";
    r->no_store = 1;
    goto out;
oom:
    sim_api_error(r, 500, "could not sign the token (out of memory or GnuTLS failure)");
out:
    json_decref(claims);
    json_decref(scopes);
    sim_grant_free(ag);
    sim_grant_free(rg);
    free(access);
    free(refresh);
    free(idt);
    free(jti);
    free(pub);
}

/* Body credentials win over HTTP Basic; Basic is base64-decoded only (not
 * URL-decoded), as in OpenEMR. */
static int read_client_auth(const sim_req *q, client_auth *ca)
{
    memset(ca, 0, sizeof(*ca));
    const char *bid = sim_form_get(&q->form, "client_id");
    const char *bsec = sim_form_get(&q->form, "client_secret");
    if (q->authorization && strncasecmp(q->authorization, "Basic ", 6) == 0) {
        unsigned char *raw = NULL;
        size_t n = 0;
        const char *b = q->authorization + 6;
        ca->from_header = 1;
        if (sim_b64_decode(b, strlen(b), &raw, &n) == 0) {
            unsigned char *colon = memchr(raw, ':', n);
            if (colon) {
                ca->id = strndup((char *)raw, (size_t)(colon - raw));
                ca->secret = strndup((char *)colon + 1, n - (size_t)(colon - raw) - 1);
            }
            sodium_memzero(raw, n);
            free(raw);
        }
    } else if (q->authorization) {
        ca->from_header = 1;
    }
    if (bid) {
        free(ca->id);
        ca->id = strdup(bid);
    }
    if (bsec) {
        if (ca->secret) {
            sodium_memzero(ca->secret, strlen(ca->secret));
            free(ca->secret);
        }
        ca->secret = strdup(bsec);
    }
    return 0;
}

static int verifier_ok(const char *v)
{
    size_t n = strnlen(v, 129);
    if (n < 43 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return 0;
    }
    return 1;
}

static void invalid_client(sim_resp *r, const client_auth *ca)
{
    sim_oauth_error(r, 401, "invalid_client", "Client authentication failed", NULL);
    r->www_basic = ca->from_header;
    r->no_store = 1;
}

static void bad_request(sim_resp *r)
{
    sim_oauth_error(r, 400, "invalid_request", "Bad request", NULL);
    r->no_store = 1;
}

/* alg none, or HS256 keyed with the client's secret: what a forger who knows
 * the secret (or nothing) could mint; a client must refuse both. */
static int idt_sign_fault(sim_srv *s, const char *client_id, int fault, json_t *claims,
                          char **out)
{
    char *secret = NULL;
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, client_id);
    secret = c ? sim_strdup0(c->secret) : NULL;
    pthread_mutex_unlock(&s->lock);
    const char *k = fault == SIM_F_IDT_HS256 ? (secret ? secret : "") : NULL;
    int rc = sim_jwt_sign_fault((const unsigned char *)k, k ? strlen(k) : 0, claims, out);
    if (secret) {
        sodium_memzero(secret, strlen(secret));
        free(secret);
    }
    return rc;
}

static void bad_refresh(sim_resp *r, const char *hint)
{
    sim_oauth_error(r, 401, "invalid_request", "The refresh token is invalid.", hint);
    r->no_store = 1;
}

static void clear_auth(client_auth *ca)
{
    free(ca->id);
    if (ca->secret) {
        sodium_memzero(ca->secret, strlen(ca->secret));
        free(ca->secret);
    }
    memset(ca, 0, sizeof(*ca));
}

static int secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return sodium_memcmp(a, b, la) == 0;
}
