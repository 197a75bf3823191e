/* sim_server.c: the simulator's HTTPS server: libmicrohttpd with GnuTLS on
 * 127.0.0.1, a thread pool, request bodies, routing to the OpenEMR-shaped
 * handlers, transport faults (latency, 5xx, reset, truncation, drip) and the
 * route counters.  Also sim_start()/sim_stop(), the library's entry points. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "sim_internal.h"

#define BODY_MAX (1u << 20)

typedef struct conn_ctx {
    sim_buf body;
} conn_ctx;

typedef struct slow_body {
    char *data;
    size_t len, limit;      /* limit < len: truncate there */
    int drip_ms;
} slow_body;

static const char *const route_names[] = {
    "openid-configuration", "jwk", "registration", "authorize", "login", "patient-select",
    "consent", "token", "introspect", "logout", "fhir-metadata", "smart-configuration",
    "fhir/Patient", "fhir/Encounter", "fhir/DiagnosticReport", "fhir/MedicationRequest",
    "fhir/Medication", "fhir/Observation", "fhir/Condition", "fhir/AllergyIntolerance",
    "fhir/Appointment", "fhir/Practitioner", "fhir/other", "api/patient", "api/encounter",
    "api/soap_note", "api/other", "control", "not-found", "server-options", NULL};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
static void dispatch(sim_req *q, sim_resp *r);
static enum MHD_Result send_resp(sim_srv *s, struct MHD_Connection *conn, sim_resp *r);
static ssize_t slow_reader(void *cls, uint64_t pos, char *buf, size_t max);
static void slow_free(void *cls);
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value);
static void sleep_ms(int ms);
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static int add_preclient(sim_srv *s, const sim_preclient *pc);
static int write_ca(sim_srv *s, char *err, size_t errlen);

void sim_config_init(sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->access_ttl = 3600;
    cfg->patients = 50;
    cfg->seed = 1;
    cfg->auto_approve_patient = 0;
    cfg->threads = 2;
}

int sim_start(const sim_config *cfg, sim_server **out, char *err, size_t errlen)
{
    sim_srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa;
    if (!s) {
        snprintf(err, errlen, "out of memory starting the simulator");
        return -1;
    }
    s->cfg = *cfg;
    if (s->cfg.patients == 0)
        s->cfg.patients = 50;
    if (s->cfg.patients > 100000) {
        snprintf(err, errlen, "--patients must be at most 100000 (got %lu)", s->cfg.patients);
        free(s);
        return -1;
    }
    if (s->cfg.threads <= 0)
        s->cfg.threads = 2;
    s->access_ttl = s->cfg.access_ttl > 0 ? s->cfg.access_ttl : 3600;
    /* Backend Services tokens live 60 s unless a lifetime other than the
     * default was asked for. */
    s->cc_ttl = s->cfg.access_ttl > 0 && s->cfg.access_ttl != 3600 ? s->cfg.access_ttl : 60;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->cache_lock, NULL);
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise (no entropy source?)");
        goto fail;
    }
    if (sim_map_init(&s->clients, 64, sim_client_free) || sim_map_init(&s->codes, 1024, sim_grant_free) ||
        sim_map_init(&s->access, 4096, sim_grant_free) ||
        sim_map_init(&s->refresh, 4096, sim_grant_free) ||
        sim_map_init(&s->sessions, 256, sim_session_free) || sim_map_init(&s->jtis, 256, free) ||
        !(s->hosted = json_object())) {
        snprintf(err, errlen, "out of memory starting the simulator");
        goto fail;
    }
    if (sim_data_init(&s->data, s->cfg.patients, s->cfg.seed) != 0) {
        snprintf(err, errlen, "out of memory generating %lu patients", s->cfg.patients);
        goto fail;
    }
    if (sim_tls_make(&s->tls, s->cfg.tls_ip_only, err, errlen) != 0)
        goto fail;
    if (sim_rsa_new(&s->keys[0]) != 0) {
        snprintf(err, errlen, "could not generate the RSA signing key (GnuTLS failed)");
        goto fail;
    }
    s->nkeys = 1;
    for (size_t i = 0; i < s->cfg.n_preclients && i < SIM_MAX_PRECLIENTS; i++) {
        if (add_preclient(s, &s->cfg.preclients[i]) != 0) {
            snprintf(err, errlen, "pre-registered client %zu is incomplete: it needs an id, "
                     "a redirect URI and scopes (ID:SECRET:REDIRECT_URI:SCOPES)", i + 1);
            goto fail;
        }
    }
    memset(&s->cfg.preclients, 0, sizeof(s->cfg.preclients));
    s->cfg.n_preclients = 0;
    /* the caller's string is copied: auto_user (guarded by lock) is the live value */
    s->cfg.auto_approve_user = NULL;
    if (cfg->auto_approve_user)
        snprintf(s->auto_user, sizeof(s->auto_user), "%s", cfg->auto_approve_user);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(s->cfg.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
        MHD_OPTION_HTTPS_MEM_CERT, s->tls.cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, s->tls.key_pem,
        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "could not listen on 127.0.0.1:%u (port in use? try --port 0)",
                 (unsigned)s->cfg.port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    snprintf(s->base_url, sizeof(s->base_url), "https://127.0.0.1:%u", (unsigned)s->port);
    snprintf(s->issuer, sizeof(s->issuer), "%s/oauth2/default", s->base_url);
    snprintf(s->fhir_base, sizeof(s->fhir_base), "%s/apis/default/fhir", s->base_url);
    snprintf(s->api_base, sizeof(s->api_base), "%s/apis/default/api", s->base_url);
    if (write_ca(s, err, errlen) != 0)
        goto fail;
    s->cfg.state_dir = NULL;    /* the caller's string; state_dir[] holds the copy */
    *out = s;
    return 0;
fail:
    sim_stop(s);
    return -1;
}

const char *sim_base_url(const sim_server *s) { return s->base_url; }
const char *sim_ca_path(const sim_server *s) { return s->ca_path; }
unsigned short sim_port(const sim_server *s) { return s->port; }

void sim_stop(sim_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->made_dir) {
        unlink(s->ca_path);
        rmdir(s->state_dir);
    }
    sim_map_free(&s->clients);
    sim_map_free(&s->codes);
    sim_map_free(&s->access);
    sim_map_free(&s->refresh);
    sim_map_free(&s->sessions);
    sim_map_free(&s->jtis);
    json_decref(s->hosted);
    for (int i = 0; i < s->nkeys; i++)
        gnutls_privkey_deinit(s->keys[i]);
    sim_tls_free(&s->tls);
    sim_data_free(&s->data);
    for (int i = 0; i < SIM_CACHE_SLOTS; i++)
        free(s->cache[i].body);
    pthread_mutex_destroy(&s->cache_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

long long sim_now(sim_srv *s)
{
    return (long long)time(NULL) + __atomic_load_n(&s->skew, __ATOMIC_RELAXED);
}

int sim_route_index(const char *name)
{
    for (int i = 0; route_names[i]; i++)
        if (strcmp(route_names[i], name) == 0)
            return i;
    return -1;
}

const char *sim_route_name(int i)
{
    return i >= 0 && i < (int)(sizeof(route_names) / sizeof(route_names[0])) ? route_names[i] : NULL;
}

void sim_count_route(sim_srv *s, const char *name)
{
    int i = sim_route_index(name);
    if (i >= 0 && i < SIM_MAX_ROUTES)
        __atomic_fetch_add(&s->route_count[i], 1, __ATOMIC_RELAXED);
}

int sim_fault_take(sim_srv *s, const char *path, int lo, int hi, int *status, int *ms)
{
    int kind = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < SIM_MAX_FAULTS; i++) {
        sim_fault *f = &s->faults[i];
        if (f->remaining <= 0 || f->kind < lo || f->kind > hi)
            continue;
        size_t rl = strlen(f->route);
        int match = (rl > 0 && f->route[rl - 1] == '*') ? strncmp(path, f->route, rl - 1) == 0
                                                        : strcmp(path, f->route) == 0;
        if (!match)
            continue;
        kind = f->kind;
        if (status)
            *status = f->status;
        if (ms)
            *ms = f->ms;
        f->remaining--;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return kind;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    sim_srv *s = cls;
    conn_ctx *cc = *con_cls;
    (void)version;
    if (!cc) {
        cc = calloc(1, sizeof(*cc));
        if (!cc)
            return MHD_NO;
        sim_buf_init(&cc->body, BODY_MAX);
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        sim_buf_add(&cc->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }

    sim_req q;
    sim_resp r;
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.srv = s;
    q.conn = conn;
    q.method = method;
    q.path = url;
    q.body = cc->body.p ? cc->body.p : "";
    q.body_len = cc->body.len;
    q.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    q.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    q.cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "authserverOpenEMR");
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q.query);
    if (q.content_type &&
        strncasecmp(q.content_type, "application/x-www-form-urlencoded", 33) == 0)
        q.form_ok = sim_form_parse(q.body, q.body_len, &q.form) == 0;

    int fstatus = 0, fms = 0;
    int fault = sim_fault_take(s, url, SIM_F_LATENCY, SIM_F_DRIP, &fstatus, &fms);
    enum MHD_Result ret;
    if (cc->body.oom) {
        sim_api_error(&r, 413, "Request body too large");
    } else if (fault == SIM_F_5XX) {
        char msg[96];
        int st = fstatus >= 500 && fstatus <= 599 ? fstatus : 503;
        snprintf(msg, sizeof(msg), "{\"internalErrors\":\"simulated fault: HTTP %d\"}", st);
        r.status = st;
        r.body = strdup(msg);
        r.len = r.body ? strlen(r.body) : 0;
        r.ctype = "application/json";
    } else if (fault == SIM_F_RESET) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
            /* linger 0: close() sends a TCP RST instead of a FIN */
            struct linger lg = {1, 0};
            setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        sim_form_free(&q.query);
        sim_form_free(&q.form);
        return MHD_NO;
    } else {
        if (fault == SIM_F_LATENCY)
            sleep_ms(fms > 0 ? fms : 1000);
        dispatch(&q, &r);
        if (fault == SIM_F_TRUNCATED || fault == SIM_F_DRIP) {
            r.fault = fault;
            r.fault_ms = fms > 0 ? fms : 50;
        }
    }
    if (!s->cfg.quiet)
        fprintf(stderr, "openemr-sim: %s %s -> %d\n", method, url, r.status);
    ret = send_resp(s, conn, &r);
    sim_resp_free(&r);
    sim_form_free(&q.query);
    sim_form_free(&q.form);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_ctx *cc = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (cc) {
        sim_buf_free(&cc->body);
        free(cc);
        *con_cls = NULL;
    }
}

#define OAUTH "/oauth2/default"
#define FHIR "/apis/default/fhir"
#define API "/apis/default/api"

static int is_path(const char *p, const char *prefix, const char *tail)
{
    size_t n = strlen(prefix);
    return strncmp(p, prefix, n) == 0 && strcmp(p + n, tail) == 0;
}

static void dispatch(sim_req *q, sim_resp *r)
{
    const char *p = q->path;
    sim_srv *s = q->srv;
    int get = strcmp(q->method, "GET") == 0, post = strcmp(q->method, "POST") == 0;
    if (strcmp(p, "*") == 0) {
        /* "OPTIONS *": the web server's own answer (Apache: 200 and Allow);
         * no OpenEMR code runs. */
        sim_count_route(s, "server-options");
        if (strcmp(q->method, "OPTIONS") == 0) {
            r->status = 200;
            r->allow = "GET,HEAD,POST,OPTIONS";
        } else {
            sim_api_error(r, 400, "Bad request");
        }
        return;
    }
    struct { const char *tail; int get, post; const char *route; void (*fn)(sim_req *, sim_resp *); } oauth[] = {
        {"/.well-known/openid-configuration", 1, 0, "openid-configuration", sim_h_openid_config},
        {"/jwk", 1, 0, "jwk", sim_h_jwk},
        {"/registration", 0, 1, "registration", sim_h_registration},
        {"/authorize", 1, 1, "authorize", sim_h_authorize},
        {"/provider/login", 1, 0, "login", sim_h_login_page},
        {"/login", 0, 1, "login", sim_h_login},
        {"/smart/patient-select", 1, 0, "patient-select", sim_h_patient_select},
        {"/smart/patient-select-confirm", 0, 1, "patient-select", sim_h_patient_select_confirm},
        {"/scope-authorize-confirm", 1, 0, "consent", sim_h_consent_page},
        {"/device/code", 0, 1, "consent", sim_h_device_code},
        {"/token", 0, 1, "token", sim_h_token},
        {"/introspect", 0, 1, "introspect", sim_h_introspect},
        {"/logout", 1, 0, "logout", sim_h_logout},
    };
    for (size_t i = 0; i < sizeof(oauth) / sizeof(oauth[0]); i++) {
        if (is_path(p, OAUTH, oauth[i].tail) && ((get && oauth[i].get) || (post && oauth[i].post))) {
            sim_count_route(s, oauth[i].route);
            oauth[i].fn(q, r);
            return;
        }
    }
    if (strncmp(p, OAUTH "/client/", sizeof(OAUTH "/client/") - 1) == 0) {
        /* registration_client_uri: OpenEMR's read-back compares against a
         * column that does not exist, so it answers 403 (OPENEMR.md §3, code) */
        sim_count_route(s, "registration");
        sim_oauth_error(r, 403, "access_denied", SIM_DESC_ACCESS_DENIED, NULL);
        return;
    }
    if (strncmp(p, FHIR "/", sizeof(FHIR)) == 0) {
        q->path = p;
        sim_h_fhir(q, r, p + sizeof(FHIR));
        return;
    }
    if (strncmp(p, API "/", sizeof(API)) == 0) {
        sim_h_api(q, r, p + sizeof(API));
        return;
    }
    if (strncmp(p, "/_sim/", 6) == 0) {
        sim_count_route(s, "control");
        sim_h_control(q, r, p + 6);
        return;
    }
    sim_count_route(s, "not-found");
    if ((strncmp(p, "/oauth2/", 8) == 0 && strncmp(p, OAUTH "/", sizeof(OAUTH)) != 0) ||
        (strncmp(p, "/apis/", 6) == 0 && strncmp(p, "/apis/default/", 14) != 0)) {
        /* an unknown multisite directory (SiteSetupListener) */
        sim_api_error(r, 400, "Invalid site");
        return;
    }
    sim_api_error(r, 404, "Route not found");
}

static enum MHD_Result send_resp(sim_srv *s, struct MHD_Connection *conn, sim_resp *r)
{
    struct MHD_Response *m;
    (void)s;
    if (!r->body) {
        r->body = strdup("");
        r->len = 0;
    }
    if (r->fault == SIM_F_TRUNCATED || r->fault == SIM_F_DRIP) {
        slow_body *sb = calloc(1, sizeof(*sb));
        if (!sb)
            return MHD_NO;
        sb->data = r->body;
        sb->len = r->len;
        sb->limit = r->fault == SIM_F_TRUNCATED ? r->len / 2 : r->len;
        sb->drip_ms = r->fault == SIM_F_DRIP ? r->fault_ms : 0;
        r->body = NULL;
        m = MHD_create_response_from_callback(sb->len, 64, slow_reader, sb, slow_free);
    } else {
        /* MHD takes the body and free()s it */
        m = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        if (m)
            r->body = NULL;
    }
    if (!m)
        return MHD_NO;
    if (r->ctype)
        MHD_add_response_header(m, "Content-Type", r->ctype);
    if (r->no_store) {
        MHD_add_response_header(m, "Cache-Control", "no-store");
        MHD_add_response_header(m, "Pragma", "no-cache");
    }
    if (r->location)
        MHD_add_response_header(m, "Location", r->location);
    if (r->set_cookie)
        MHD_add_response_header(m, "Set-Cookie", r->set_cookie);
    if (r->www_basic)
        MHD_add_response_header(m, "WWW-Authenticate", "Basic realm=\"OAuth\"");
    if (r->allow)
        MHD_add_response_header(m, "Allow", r->allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)(r->status ? r->status : 500), m);
    MHD_destroy_response(m);
    return ret;
}

static ssize_t slow_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    slow_body *sb = cls;
    if (pos >= sb->limit)
        return sb->limit < sb->len ? MHD_CONTENT_READER_END_WITH_ERROR
                                   : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = sb->limit - (size_t)pos;
    if (sb->drip_ms && n > 16)
        n = 16;
    if (n > max)
        n = max;
    if (sb->drip_ms)
        sleep_ms(sb->drip_ms);
    memcpy(buf, sb->data + pos, n);
    return (ssize_t)n;
}

static void slow_free(void *cls)
{
    slow_body *sb = cls;
    free(sb->data);
    free(sb);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    sim_form_add(cls, key, value ? value : "");
    return MHD_YES;
}

/* libmicrohttpd's own messages (client hang-ups, TLS alerts): noise in --quiet. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    const sim_srv *s = cls;
    if (s->cfg.quiet)
        return;
    fputs("openemr-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int add_preclient(sim_srv *s, const sim_preclient *pc)
{
    if (!pc->client_id || !*pc->client_id || !pc->redirect_uri || !*pc->redirect_uri ||
        !pc->scope || !*pc->scope)
        return -1;
    sim_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->id = strdup(pc->client_id);
    c->secret = pc->client_secret && *pc->client_secret ? strdup(pc->client_secret) : NULL;
    c->redirect_uris = json_pack("[s]", pc->redirect_uri);
    c->post_logout_uris = json_array();
    c->scope = strdup(pc->scope);
    c->name = strdup("pre-registered client");
    c->enabled = !pc->disabled;
    return sim_client_add_locked(s, c);
}

static int write_ca(sim_srv *s, char *err, size_t errlen)
{
    if (s->cfg.state_dir) {
        snprintf(s->state_dir, sizeof(s->state_dir), "%s", s->cfg.state_dir);
        if (mkdir(s->state_dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create the state dir %s (%s); pass a writable --state-dir",
                     s->state_dir, strerror(errno));
            return -1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->state_dir, sizeof(s->state_dir), "%s/openemr-sim-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s->state_dir)) {
            snprintf(err, errlen, "cannot create a temp dir under %s (%s); set TMPDIR or pass "
                     "--state-dir", tmp && *tmp ? tmp : "/tmp", strerror(errno));
            return -1;
        }
        chmod(s->state_dir, 0755);
        s->made_dir = 1;
    }
    snprintf(s->ca_path, sizeof(s->ca_path), "%s/ca.pem", s->state_dir);
    char tmpf[600];
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", s->ca_path);
    FILE *f = fopen(tmpf, "w");
    if (!f || fputs(s->tls.ca_pem, f) < 0 || fclose(f) != 0 || rename(tmpf, s->ca_path) != 0) {
        snprintf(err, errlen, "cannot write %s (%s); pass a writable --state-dir", s->ca_path,
                 strerror(errno));
        return -1;
    }
    chmod(s->ca_path, 0644);
    return 0;
}
