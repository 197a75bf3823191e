/* tls_server.c - see tls_server.h.  Test support code, not product code. */
#include "tls_server.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ts_cert {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
};

static int ts_make_ca(struct ts_cert *ca, const char *cn);
static int ts_make_server(struct ts_cert *srv, struct ts_cert *ca);
static int ts_write_pem(const char *path, gnutls_x509_crt_t crt);
static int ts_pin(gnutls_x509_crt_t crt, char *out, size_t cap);
static enum MHD_Result ts_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx);
static void ts_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
static ssize_t ts_big_reader(void *cls, uint64_t pos, char *buf, size_t max);
static enum MHD_Result ts_reply(struct MHD_Connection *c, unsigned status,
                                const char *body, const char *h1, const char *v1);

int ts_start(struct ts_server *s)
{
    int rc = -1;
    struct ts_cert ca = {0}, other = {0}, srv = {0};
    gnutls_datum_t cert_pem = {0}, key_pem = {0};
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    snprintf(s->dir, sizeof s->dir, "/tmp/vap-core-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->ca_file, sizeof s->ca_file, "%s/ca.pem", s->dir);
    snprintf(s->other_ca_file, sizeof s->other_ca_file, "%s/other-ca.pem", s->dir);
    if (ts_make_ca(&ca, "vap test CA") || ts_make_ca(&other, "unrelated CA") ||
        ts_make_server(&srv, &ca) || ts_write_pem(s->ca_file, ca.crt) ||
        ts_write_pem(s->other_ca_file, other.crt) || ts_pin(srv.crt, s->pin, sizeof s->pin))
        goto out;
    if (gnutls_x509_crt_export2(srv.crt, GNUTLS_X509_FMT_PEM, &cert_pem) < 0 ||
        gnutls_x509_privkey_export2(srv.key, GNUTLS_X509_FMT_PEM, &key_pem) < 0)
        goto out;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_TLS,
                            0, NULL, NULL, ts_handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_HTTPS_MEM_KEY, (const char *)key_pem.data,
                            MHD_OPTION_HTTPS_MEM_CERT, (const char *)cert_pem.data,
                            MHD_OPTION_NOTIFY_CONNECTION, ts_notify, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_END);
    if (s->d == NULL)
        goto out;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        goto out;
    s->port = info->port;
    rc = 0;
out:
    gnutls_free(cert_pem.data);
    if (key_pem.data != NULL) {
        sodium_memzero(key_pem.data, key_pem.size);
        gnutls_free(key_pem.data);
    }
    struct ts_cert *all[] = {&ca, &other, &srv};
    for (size_t i = 0; i < 3; i++) {
        if (all[i]->key)
            gnutls_x509_privkey_deinit(all[i]->key);
        if (all[i]->crt)
            gnutls_x509_crt_deinit(all[i]->crt);
    }
    if (rc != 0)
        ts_stop(s);
    return rc;
}

void ts_stop(struct ts_server *s)
{
    ts_release(s);
    if (s->d != NULL)
        MHD_stop_daemon(s->d);
    s->d = NULL;
    unlink(s->ca_file);
    unlink(s->other_ca_file);
    if (s->dir[0])
        rmdir(s->dir);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

int ts_wait_hanging(struct ts_server *s, int n)
{
    int rc = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&s->mu);
    while (s->hanging < n && rc == 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            rc = -1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void ts_release(struct ts_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->release = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void ts_url(const struct ts_server *s, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "https://127.0.0.1:%u%s", s->port, path);
}

static enum MHD_Result ts_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx)
{
    struct ts_server *s = cls;
    static int first_call_marker;
    if (*ctx == NULL) {
        *ctx = &first_call_marker; /* headers seen; body (if any) comes next */
        if (strcmp(url, "/echo") == 0) {
            const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
            const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_USER_AGENT);
            pthread_mutex_lock(&s->mu);
            snprintf(s->last_auth, sizeof s->last_auth, "%s", a ? a : "");
            snprintf(s->last_ua, sizeof s->last_ua, "%s", ua ? ua : "");
            s->last_body[0] = '\0';
            pthread_mutex_unlock(&s->mu);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        pthread_mutex_lock(&s->mu);
        size_t cur = strlen(s->last_body), n = *upload_size;
        if (cur + n >= sizeof s->last_body)
            n = sizeof s->last_body - cur - 1;
        memcpy(s->last_body + cur, upload, n);
        s->last_body[cur + n] = '\0';
        pthread_mutex_unlock(&s->mu);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "*") == 0 && strcmp(method, "OPTIONS") == 0) {
        const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_USER_AGENT);
        pthread_mutex_lock(&s->mu);
        s->hits_options++;
        snprintf(s->last_ua, sizeof s->last_ua, "%s", ua ? ua : "");
        int refuse = s->options_refuse;
        pthread_mutex_unlock(&s->mu);
        if (refuse)
            return ts_reply(c, 400, "bad request", "Connection", "close");
        return ts_reply(c, 200, "", "Allow", "GET,HEAD,POST,OPTIONS");
    }
    if (strcmp(url, "/ok") == 0) {
        pthread_mutex_lock(&s->mu);
        s->hits_ok++;
        pthread_mutex_unlock(&s->mu);
        return ts_reply(c, 200, "hello", "Content-Type", "text/plain");
    }
    if (strcmp(url, "/echo") == 0)
        return ts_reply(c, 200, method, "Content-Type", "text/plain");
    if (strcmp(url, "/redirect") == 0) {
        char loc[128];
        ts_url(s, "/ok", loc, sizeof loc);
        return ts_reply(c, 302, "", "Location", loc);
    }
    if (strcmp(url, "/busy") == 0)
        return ts_reply(c, 503, "{\"error\":\"busy\"}", "Retry-After", "7");
    if (strcmp(url, "/link") == 0)
        return ts_reply(c, 200, "{}", "Link",
                        "<https://127.0.0.1/fhir/Patient?page=2>; rel=\"next\"");
    if (strcmp(url, "/hang") == 0) {
        pthread_mutex_lock(&s->mu);
        s->hanging++;
        pthread_cond_broadcast(&s->cv);
        while (!s->release)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        return ts_reply(c, 200, "late", NULL, NULL);
    }
    if (strcmp(url, "/big") == 0) {
        struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, 64 * 1024, ts_big_reader, s, NULL);
        if (r == NULL)
            return MHD_NO;
        enum MHD_Result q = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return q;
    }
    return ts_reply(c, 404, "not found", NULL, NULL);
}

static void ts_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    struct ts_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&s->mu);
        s->connections++;
        pthread_mutex_unlock(&s->mu);
    }
}

static ssize_t ts_big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct ts_server *s = cls;
    if (pos >= TS_BIG_BYTES)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max;
    if (n > TS_BIG_BYTES - pos)
        n = (size_t)(TS_BIG_BYTES - pos);
    memset(buf, 'x', n);
    pthread_mutex_lock(&s->mu);
    s->big_sent = pos + n;
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
}

static enum MHD_Result ts_reply(struct MHD_Connection *c, unsigned status,
                                const char *body, const char *h1, const char *v1)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (h1 != NULL)
        MHD_add_response_header(r, h1, v1);
    enum MHD_Result q = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return q;
}

static int ts_make_ca(struct ts_cert *ca, const char *cn)
{
    time_t now = time(NULL);
    unsigned char serial[8];
    randombytes_buf(serial, sizeof serial);
    serial[0] &= 0x7f;
    if (gnutls_x509_privkey_init(&ca->key) < 0 ||
        gnutls_x509_privkey_generate(ca->key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        gnutls_x509_crt_init(&ca->crt) < 0 || gnutls_x509_crt_set_version(ca->crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(ca->crt, serial, sizeof serial) < 0 ||
        gnutls_x509_crt_set_activation_time(ca->crt, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(ca->crt, now + 86400) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(ca->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_key(ca->crt, ca->key) < 0 ||
        gnutls_x509_crt_set_basic_constraints(ca->crt, 1, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(ca->crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                                   GNUTLS_KEY_CRL_SIGN) < 0)
        return -1;
    unsigned char kid[64];
    size_t kl = sizeof kid;
    if (gnutls_x509_crt_get_key_id(ca->crt, 0, kid, &kl) < 0 ||
        gnutls_x509_crt_set_subject_key_id(ca->crt, kid, kl) < 0 ||
        gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0) < 0)
        return -1;
    return 0;
}

static int ts_make_server(struct ts_cert *srv, struct ts_cert *ca)
{
    time_t now = time(NULL);
    unsigned char serial[8], ip[4] = {127, 0, 0, 1};
    randombytes_buf(serial, sizeof serial);
    serial[0] &= 0x7f;
    /* Only the IP address is named: https://localhost/ is the wrong host. */
    if (gnutls_x509_privkey_init(&srv->key) < 0 ||
        gnutls_x509_privkey_generate(srv->key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        gnutls_x509_crt_init(&srv->crt) < 0 || gnutls_x509_crt_set_version(srv->crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(srv->crt, serial, sizeof serial) < 0 ||
        gnutls_x509_crt_set_activation_time(srv->crt, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(srv->crt, now + 86400) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(srv->crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                      "127.0.0.1", 9) < 0 ||
        gnutls_x509_crt_set_key(srv->crt, srv->key) < 0 ||
        gnutls_x509_crt_set_subject_alt_name(srv->crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                             GNUTLS_FSAN_APPEND) < 0 ||
        gnutls_x509_crt_set_basic_constraints(srv->crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(srv->crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(srv->crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
        return -1;
    unsigned char kid[64];
    size_t kl = sizeof kid;
    if (gnutls_x509_crt_get_key_id(ca->crt, 0, kid, &kl) < 0 ||
        gnutls_x509_crt_set_authority_key_id(srv->crt, kid, kl) < 0 ||
        gnutls_x509_crt_sign2(srv->crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0) < 0)
        return -1;
    return 0;
}

static int ts_write_pem(const char *path, gnutls_x509_crt_t crt)
{
    gnutls_datum_t pem;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0)
        return -1;
    FILE *f = fopen(path, "w");
    int rc = f != NULL && fwrite(pem.data, 1, pem.size, f) == pem.size ? 0 : -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    gnutls_free(pem.data);
    return rc;
}

static int ts_pin(gnutls_x509_crt_t crt, char *out, size_t cap)
{
    gnutls_pubkey_t pub;
    gnutls_datum_t der;
    unsigned char h[32];
    if (gnutls_pubkey_init(&pub) < 0)
        return -1;
    int rc = -1;
    if (gnutls_pubkey_import_x509(pub, crt, 0) >= 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) >= 0) {
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, h) >= 0 &&
            cap > 8 + sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)) {
            memcpy(out, "sha256//", 8);
            sodium_bin2base64(out + 8, cap - 8, h, 32, sodium_base64_VARIANT_ORIGINAL);
            rc = 0;
        }
        gnutls_free(der.data);
    }
    gnutls_pubkey_deinit(pub);
    return rc;
}
