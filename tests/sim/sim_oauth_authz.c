/* sim_oauth_authz.c: /authorize and the browser sequence behind it (login,
 * patient picker, consent) as OpenEMR runs it (OPENEMR.md §5, §7), plus the
 * auto-approve shortcut for headless tests and the demo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define OAUTH_PATH "/oauth2/default"

static int redirect_matches(const char *registered, const char *given);
static const char *effective_redirect(const sim_client *c, const char *given);
static int challenge_ok(const char *s);
static const char *arg(const sim_req *q, const char *k);
static sim_session *session_of(sim_req *q);
static char *html_escape(const char *s);
static void page(sim_resp *r, int status, const char *title, const char *body);

void sim_h_authorize(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    const char *client_id = arg(q, "client_id"), *redirect = arg(q, "redirect_uri");
    const char *rtype = arg(q, "response_type"), *scope = arg(q, "scope");
    const char *aud = arg(q, "aud"), *launch = arg(q, "launch");
    const char *challenge = arg(q, "code_challenge"), *method = arg(q, "code_challenge_method");
    char target[512], bad[200], hint[300];
    int confidential;

    /* What may stand in front of OpenEMR answers first (fault switches). */
    int front = sim_fault_take(s, OAUTH_PATH "/authorize", SIM_F_AUTHZ_BARE_401,
                               SIM_F_AUTHZ_LOGIN_ABSOLUTE, NULL, NULL);
    if (front == SIM_F_AUTHZ_BARE_401) {
        r->status = 401;
        r->www_basic = 1;
        r->body = strdup("");
        r->len = 0;
        r->ctype = "text/html";
        return;
    }
    if (front != 0) {
        char login[600];
        if (front == SIM_F_AUTHZ_LOGIN_ELSEWHERE)
            snprintf(login, sizeof login, "https://sso.example.invalid/login?app=openemr");
        else
            snprintf(login, sizeof login, "%s%s/provider/login",
                     front == SIM_F_AUTHZ_LOGIN_HTTP ? "http" : "https",
                     strchr(s->issuer, ':'));
        sim_resp_redirect(r, 302, strdup(login));
        return;
    }

    if (!rtype || strcmp(rtype, "code") != 0) {
        sim_oauth_error(r, 400, "unsupported_grant_type",
                        "The authorization grant type is not supported by the authorization server.",
                        "Check that all required parameters have been provided");
        return;
    }
    if (challenge && (!method || strcmp(method, "S256") != 0)) {
        /* checked before the client and the redirect URI (OPENEMR.md §12):
         * plain, or no method (= plain), is refused for any client_id */
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Code challenge method must be one of `S256`");
        return;
    }
    if (!client_id || !*client_id) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Check the `client_id` parameter");
        return;
    }
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, client_id);
    const char *eff = c ? effective_redirect(c, redirect) : NULL;
    snprintf(target, sizeof(target), "%s", eff ? eff : "");
    confidential = c && c->secret;
    pthread_mutex_unlock(&s->lock);
    if (!c || !eff) {
        /* unknown client or redirect mismatch: 401 JSON, never a redirect */
        sim_oauth_error(r, 401, "invalid_client", "Client authentication failed", NULL);
        return;
    }
    if ((aud && strcmp(aud, s->fhir_base) != 0 && strcmp(aud, s->api_base) != 0) ||
        (launch && !aud)) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Aud parameter did not match authorized server");
        return;
    }
    if (!scope || !*scope) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Check the `scope` parameter");
        return;
    }
    if (sim_scope_check(scope, bad, sizeof(bad)) != 0) {
        /* the first unknown scope: a redirect without state (league's invalidScope) */
        sim_buf u;
        char *d = sim_url_encode(SIM_DESC_INVALID_SCOPE), *h;
        snprintf(hint, sizeof(hint), "Check the `%s` scope", bad);
        h = sim_url_encode(hint);
        sim_buf_init(&u, 8192);
        sim_buf_addf(&u, "%s%serror=invalid_scope&error_description=%s&hint=%s&message=%s",
                     target, strchr(target, '?') ? "&" : "?", d ? d : "", h ? h : "", d ? d : "");
        free(d);
        free(h);
        sim_resp_redirect(r, 302, sim_buf_steal(&u));
        return;
    }
    if (challenge) {
        if (!challenge_ok(challenge)) {
            sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                            "Code challenge must follow the specifications of RFC-7636.");
            return;
        }
    } else if (!confidential) {
        sim_oauth_error(r, 400, "invalid_request", SIM_DESC_INVALID_REQUEST,
                        "Code challenge must be provided for public clients");
        return;
    }

    sim_session *x = calloc(1, sizeof(*x));
    if (!x) {
        sim_api_error(r, 500, "out of memory");
        return;
    }
    x->client_id = strdup(client_id);
    x->redirect_uri = sim_strdup0(redirect);
    x->scope = strdup(scope);
    x->state = sim_strdup0(arg(q, "state"));
    x->nonce = sim_strdup0(arg(q, "nonce"));
    x->challenge = sim_strdup0(challenge);
    x->aud = sim_strdup0(aud);
    x->launch = sim_strdup0(launch);
    x->csrf = sim_random_b64url(24);
    x->patient = -1;
    x->created = sim_now(s);

    char auto_user[128];
    long auto_patient;
    pthread_mutex_lock(&s->lock);
    snprintf(auto_user, sizeof(auto_user), "%s", s->auto_user);
    auto_patient = s->cfg.auto_approve_patient;
    pthread_mutex_unlock(&s->lock);
    if (auto_user[0]) {
        char sub[40];
        sim_staff_sub(s, auto_user, sub, sizeof(sub));
        x->username = strdup(auto_user);
        x->sub = strdup(sub);
        x->logged_in = 1;
        if (sim_scope_has(scope, "launch/patient")) {
            long p = auto_patient;
            x->patient = p >= 0 && (unsigned long)p < s->data.n ? p : 0;
        }
        sim_finish_authorize(q, r, x);
        sim_session_free(x);
        return;
    }
    char *sid = sim_random_b64url(32);
    if (!sid) {
        sim_session_free(x);
        sim_api_error(r, 500, "out of memory");
        return;
    }
    pthread_mutex_lock(&s->lock);
    sim_store_prune_locked(s);
    sim_map_put(&s->sessions, sid, x);
    pthread_mutex_unlock(&s->lock);
    char cookie[256];
    snprintf(cookie, sizeof(cookie),
             "authserverOpenEMR=%s; Path=/oauth2/; Secure; HttpOnly; SameSite=None", sid);
    free(sid);
    r->set_cookie = strdup(cookie);
    sim_resp_redirect(r, 307, strdup(OAUTH_PATH "/provider/login"));
}

void sim_h_login_page(sim_req *q, sim_resp *r)
{
    sim_session *x = session_of(q);
    if (!x) {
        page(r, 400, "Session expired", "<p>Start again from the application: the sign-in "
             "session is missing or expired.</p>");
        return;
    }
    char body[1024];
    snprintf(body, sizeof(body),
             "<form method=\"post\" action=\"" OAUTH_PATH "/login\">"
             "<input type=\"hidden\" name=\"csrf_token_form\" value=\"%s\">"
             "<label>Username <input name=\"username\"></label>"
             "<label>Password <input type=\"password\" name=\"password\"></label>"
             "<label>Email <input name=\"email\"></label>"
             "<select name=\"user_role\"><option value=\"api\">OpenEMR user</option>"
             "<option value=\"portal-api\">Patient portal</option></select>"
             "<button type=\"submit\">Sign in</button></form>", x->csrf);
    page(r, 200, "OpenEMR sign in", body);
}

void sim_h_login(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    sim_session *x = session_of(q);
    const char *user = sim_form_get(&q->form, "username");
    const char *pass = sim_form_get(&q->form, "password");
    const char *role = sim_form_get(&q->form, "user_role");
    const char *csrf = sim_form_get(&q->form, "csrf_token_form");
    if (!x || !sim_streq(csrf, x->csrf)) {
        page(r, 400, "Session expired", "<p>The sign-in form is stale; start again.</p>");
        return;
    }
    int portal = sim_streq(role, "portal-api");
    int ok = user && sim_streq(pass, "pass");
    long patient = -1;
    if (ok && portal) {
        /* portal users are portal1..portalN, bound to patient index N-1 */
        char *end = NULL;
        unsigned long n = strncmp(user, "portal", 6) == 0 ? strtoul(user + 6, &end, 10) : 0;
        ok = n >= 1 && n <= s->data.n && end && *end == '\0';
        patient = ok ? (long)n - 1 : -1;
    } else if (ok) {
        pthread_mutex_lock(&s->lock);
        ok = strcmp(user, "admin") == 0 || (s->auto_user[0] && strcmp(user, s->auto_user) == 0);
        pthread_mutex_unlock(&s->lock);
    }
    if (!ok) {
        page(r, 401, "Sign-in failed", "<p>Invalid username or password.</p>");
        return;
    }
    pthread_mutex_lock(&s->lock);
    char sub[40];
    if (portal)
        sim_uuid(&s->data, SIM_R_PATIENT, (unsigned long)patient, 0, sub);
    else
        sim_staff_sub(s, user, sub, sizeof(sub));
    free(x->username);
    free(x->sub);
    x->username = strdup(user);
    x->sub = strdup(sub);
    x->logged_in = 1;
    x->patient_user = portal;
    x->patient = patient;
    int pick = !portal && sim_scope_has(x->scope, "launch/patient");
    pthread_mutex_unlock(&s->lock);
    sim_resp_redirect(r, 302, strdup(pick ? OAUTH_PATH "/smart/patient-select"
                                          : OAUTH_PATH "/scope-authorize-confirm"));
}

void sim_h_patient_select(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    sim_session *x = session_of(q);
    if (!x || !x->logged_in) {
        page(r, 400, "Session expired", "<p>Sign in first.</p>");
        return;
    }
    sim_buf b;
    sim_buf_init(&b, 1 << 16);
    for (unsigned long i = 0; i < s->data.n && i < 20; i++) {
        char id[40];
        sim_uuid(&s->data, SIM_R_PATIENT, i, 0, id);
        sim_buf_addf(&b, "<form method=\"post\" action=\"" OAUTH_PATH
                     "/smart/patient-select-confirm\"><input type=\"hidden\" name=\"csrf_token_form\""
                     " value=\"%s\"><input type=\"hidden\" name=\"patient_id\" value=\"%s\">"
                     "<button>%s %s (%04u-%02u-%02u)</button></form>", x->csrf, id,
                     sim_given_name(&s->data.p[i]), sim_family_name(&s->data.p[i]),
                     s->data.p[i].year, s->data.p[i].month, s->data.p[i].day);
    }
    char *body = sim_buf_steal(&b);
    page(r, 200, "Select a patient", body ? body : "");
    free(body);
}

void sim_h_patient_select_confirm(sim_req *q, sim_resp *r)
{
    sim_srv *s = q->srv;
    sim_session *x = session_of(q);
    const char *pid = sim_form_get(&q->form, "patient_id");
    int t;
    unsigned long idx;
    unsigned k;
    if (!x || !x->logged_in || !sim_streq(sim_form_get(&q->form, "csrf_token_form"), x->csrf)) {
        page(r, 400, "Session expired", "<p>Sign in first.</p>");
        return;
    }
    if (!pid || sim_uuid_parse(&s->data, pid, &t, &idx, &k) != 0 || t != SIM_R_PATIENT) {
        page(r, 400, "Unknown patient", "<p>That patient does not exist; pick one from the list.</p>");
        return;
    }
    x->patient = (long)idx;
    sim_resp_redirect(r, 302, strdup(OAUTH_PATH "/scope-authorize-confirm"));
}

void sim_h_consent_page(sim_req *q, sim_resp *r)
{
    sim_session *x = session_of(q);
    if (!x || !x->logged_in) {
        page(r, 400, "Session expired", "<p>Sign in first.</p>");
        return;
    }
    sim_buf b;
    sim_buf_init(&b, 1 << 16);
    sim_buf_addf(&b, "<form method=\"post\" action=\"" OAUTH_PATH "/device/code\">"
                 "<input type=\"hidden\" name=\"csrf_token_form\" value=\"%s\">", x->csrf);
    const char *p = x->scope;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            char w[200];
            size_t n = (size_t)(e - p) < sizeof(w) - 1 ? (size_t)(e - p) : sizeof(w) - 1;
            memcpy(w, p, n);
            w[n] = '\0';
            char *h = html_escape(w);
            sim_buf_addf(&b, "<label><input type=\"checkbox\" name=\"scope[%s]\" value=\"%s\" "
                         "checked> %s</label>", h ? h : "", h ? h : "", h ? h : "");
            free(h);
        }
        p = e;
    }
    /* no deny button, as in OpenEMR: Cancel is browser history-back */
    sim_buf_add(&b, "<button name=\"proceed\" value=\"1\">Authorize</button></form>", 57);
    char *body = sim_buf_steal(&b);
    page(r, 200, "Authorize access", body ? body : "");
    free(body);
}

void sim_h_device_code(sim_req *q, sim_resp *r)
{
    sim_session *x = session_of(q);
    if (!x || !x->logged_in || !sim_streq(sim_form_get(&q->form, "csrf_token_form"), x->csrf) ||
        !sim_form_get(&q->form, "proceed")) {
        page(r, 400, "Session expired", "<p>Sign in first.</p>");
        return;
    }
    /* the user may untick any scope: grant only the ticked ones */
    sim_buf ticked;
    sim_buf_init(&ticked, 1 << 16);
    for (size_t i = 0; i < q->form.n; i++) {
        const char *k = q->form.key[i];
        size_t kl = strlen(k);
        if (kl > 7 && strncmp(k, "scope[", 6) == 0 && k[kl - 1] == ']') {
            if (ticked.len)
                sim_buf_add(&ticked, " ", 1);
            sim_buf_add(&ticked, k + 6, kl - 7);
        }
    }
    char *t = sim_buf_steal(&ticked);
    char *granted = t ? sim_scope_intersect(x->scope, t) : NULL;
    free(t);
    if (!granted) {
        sim_api_error(r, 500, "out of memory");
        return;
    }
    /* the session stays in the map (freed when it ages out); work on a copy of scope */
    sim_session copy = *x;
    copy.scope = granted;
    if (copy.patient_user)
        copy.patient = x->patient;
    sim_finish_authorize(q, r, &copy);
    free(granted);
}

void sim_finish_authorize(sim_req *q, sim_resp *r, const sim_session *x)
{
    sim_srv *s = q->srv;
    sim_grant *g = calloc(1, sizeof(*g));
    char *code = sim_random_hex("def50200", 320);
    if (!g || !code) {
        free(g);
        free(code);
        sim_api_error(r, 500, "out of memory");
        return;
    }
    g->kind = SIM_CODE;
    sim_note_secret(s, "code", code);
    g->client_id = strdup(x->client_id);
    g->sub = strdup(x->sub);
    g->username = sim_strdup0(x->username);
    g->patient_user = x->patient_user;
    g->patient = x->patient;
    g->scope = strdup(x->scope);
    g->nonce = sim_strdup0(x->nonce);
    g->redirect_uri = sim_strdup0(x->redirect_uri);
    g->challenge = sim_strdup0(x->challenge);
    g->had_state = x->state != NULL;
    g->iat = sim_now(s);
    g->exp = g->iat + 60;
    char target[512];
    pthread_mutex_lock(&s->lock);
    sim_client *c = sim_map_get(&s->clients, x->client_id);
    const char *eff = c ? effective_redirect(c, x->redirect_uri) : NULL;
    snprintf(target, sizeof(target), "%s", eff ? eff : "");
    sim_store_prune_locked(s);
    sim_map_put(&s->codes, code, g);
    pthread_mutex_unlock(&s->lock);
    sim_buf u;
    sim_buf_init(&u, 16384);
    sim_buf_addf(&u, "%s%scode=%s", target, strchr(target, '?') ? "&" : "?", code);
    if (x->state) {
        char *st = sim_url_encode(x->state);
        sim_buf_addf(&u, "&state=%s", st ? st : "");
        free(st);
    }
    /* OpenEMR sends no iss; the faults stand for an RFC 9207 server (or a mix-up) */
    int issf = sim_fault_take(s, OAUTH_PATH "/authorize", SIM_F_AUTHZ_ISS, SIM_F_AUTHZ_ISS_WRONG,
                              NULL, NULL);
    if (issf) {
        char *is = sim_url_encode(issf == SIM_F_AUTHZ_ISS ? s->issuer
                                                          : "https://127.0.0.1/oauth2/other");
        sim_buf_addf(&u, "&iss=%s", is ? is : "");
        free(is);
    }
    free(code);
    sim_resp_redirect(r, 302, sim_buf_steal(&u));
}

/* Exact match, except that http://127.0.0.1 and http://[::1] may change port. */
static int redirect_matches(const char *reg, const char *given)
{
    static const char *const loops[] = {"http://127.0.0.1", "http://[::1]"};
    if (strcmp(reg, given) == 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(loops[i]);
        if (strncmp(reg, loops[i], n) != 0 || strncmp(given, loops[i], n) != 0)
            continue;
        const char *a = reg + n, *b = given + n;
        if (*a == ':')
            for (a++; *a >= '0' && *a <= '9'; a++)
                ;
        if (*b == ':')
            for (b++; *b >= '0' && *b <= '9'; b++)
                ;
        return strcmp(a, b) == 0;
    }
    return 0;
}

static const char *effective_redirect(const sim_client *c, const char *given)
{
    size_t i;
    json_t *v;
    if (!given)
        return json_array_size(c->redirect_uris) == 1
                   ? json_string_value(json_array_get(c->redirect_uris, 0)) : NULL;
    json_array_foreach(c->redirect_uris, i, v)
        if (redirect_matches(json_string_value(v), given))
            return given;
    return NULL;
}

static int challenge_ok(const char *s)
{
    size_t n = strnlen(s, 129);
    if (n < 43 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return 0;
    }
    return 1;
}

/* POST /authorize is accepted (7.0.4+): form fields win over the query. */
static const char *arg(const sim_req *q, const char *k)
{
    const char *v = q->form_ok ? sim_form_get(&q->form, k) : NULL;
    return v ? v : sim_form_get(&q->query, k);
}

/* Sessions live in the map until pruned; the pointer stays valid for this
 * request because only the pruner frees sessions, and it runs at most once
 * per 512 inserts, on sessions idle for an hour. */
static sim_session *session_of(sim_req *q)
{
    if (!q->cookie)
        return NULL;
    pthread_mutex_lock(&q->srv->lock);
    sim_session *x = sim_map_get(&q->srv->sessions, q->cookie);
    pthread_mutex_unlock(&q->srv->lock);
    return x;
}

static char *html_escape(const char *s)
{
    sim_buf b;
    sim_buf_init(&b, 1 << 16);
    for (; *s; s++) {
        switch (*s) {
        case '<': sim_buf_add(&b, "&lt;", 4); break;
        case '>': sim_buf_add(&b, "&gt;", 4); break;
        case '&': sim_buf_add(&b, "&amp;", 5); break;
        case '"': sim_buf_add(&b, "&quot;", 6); break;
        default: sim_buf_add(&b, s, 1);
        }
    }
    return sim_buf_steal(&b);
}

static void page(sim_resp *r, int status, const char *title, const char *body)
{
    sim_buf b;
    sim_buf_init(&b, 1 << 17);
    sim_buf_addf(&b, "<!DOCTYPE html><html><head><title>%s</title></head><body><h1>%s</h1>",
                 title, title);
    sim_buf_add(&b, body, strlen(body));
    sim_buf_add(&b, "</body></html>", 14);
    sim_resp_html(r, status, sim_buf_steal(&b));
}
