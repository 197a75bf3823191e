/* sim_tls.c: the simulator's throwaway key material: a CA and a server
 * certificate for 127.0.0.1 (made fresh at every start, ECDSA P-256), and the
 * RSA keys that sign id_tokens and access tokens, exported as a JWK. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>
#include <sodium.h>

#include "sim_internal.h"

static int new_ec_key(gnutls_x509_privkey_t *k);
static char *export_crt(gnutls_x509_crt_t c);
static char *export_key(gnutls_x509_privkey_t k);
static json_t *b64_datum(const gnutls_datum_t *d);

int sim_tls_make(sim_tls *t, int ip_only, char *err, size_t errlen)
{
    gnutls_x509_privkey_t cakey = NULL, srvkey = NULL;
    gnutls_x509_crt_t ca = NULL, srv = NULL;
    int rc = -1, gr;
    time_t now = time(NULL);
    unsigned char serial[16];
    unsigned char ip[4];

    memset(t, 0, sizeof(*t));
    if (new_ec_key(&cakey) || new_ec_key(&srvkey))
        goto out;
    if (gnutls_x509_crt_init(&ca) < 0 || gnutls_x509_crt_init(&srv) < 0)
        goto out;

    randombytes_buf(serial, sizeof(serial));
    serial[0] &= 0x7f;
    gr = gnutls_x509_crt_set_version(ca, 3);
    gr |= gnutls_x509_crt_set_serial(ca, serial, sizeof(serial));
    gr |= gnutls_x509_crt_set_dn(ca, "CN=openemr-sim throwaway CA", NULL);
    gr |= gnutls_x509_crt_set_activation_time(ca, now - 3600);
    gr |= gnutls_x509_crt_set_expiration_time(ca, now + 30 * 86400);
    gr |= gnutls_x509_crt_set_basic_constraints(ca, 1, -1);
    gr |= gnutls_x509_crt_set_key_usage(ca, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
    gr |= gnutls_x509_crt_set_key(ca, cakey);
    if (gr < 0)
        goto out;
    {
        unsigned char kid[64];
        size_t kidlen = sizeof(kid);
        if (gnutls_x509_crt_get_key_id(ca, 0, kid, &kidlen) < 0 ||
            gnutls_x509_crt_set_subject_key_id(ca, kid, kidlen) < 0)
            goto out;
    }
    if (gnutls_x509_crt_sign2(ca, ca, cakey, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;

    randombytes_buf(serial, sizeof(serial));
    serial[0] &= 0x7f;
    inet_pton(AF_INET, "127.0.0.1", ip);
    gr = gnutls_x509_crt_set_version(srv, 3);
    gr |= gnutls_x509_crt_set_serial(srv, serial, sizeof(serial));
    gr |= gnutls_x509_crt_set_dn(srv, "CN=127.0.0.1", NULL);
    gr |= gnutls_x509_crt_set_activation_time(srv, now - 3600);
    gr |= gnutls_x509_crt_set_expiration_time(srv, now + 30 * 86400);
    gr |= gnutls_x509_crt_set_basic_constraints(srv, 0, -1);
    gr |= gnutls_x509_crt_set_key_usage(srv, GNUTLS_KEY_DIGITAL_SIGNATURE);
    gr |= gnutls_x509_crt_set_key_purpose_oid(srv, GNUTLS_KP_TLS_WWW_SERVER, 0);
    gr |= gnutls_x509_crt_set_subject_alt_name(srv, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
    if (!ip_only)
        gr |= gnutls_x509_crt_set_subject_alt_name(srv, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                                   GNUTLS_FSAN_APPEND);
    gr |= gnutls_x509_crt_set_key(srv, srvkey);
    if (gr < 0)
        goto out;
    if (gnutls_x509_crt_sign2(srv, ca, cakey, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;

    t->ca_pem = export_crt(ca);
    t->cert_pem = export_crt(srv);
    t->key_pem = export_key(srvkey);
    if (t->ca_pem && t->cert_pem && t->key_pem)
        rc = 0;
out:
    if (rc != 0) {
        snprintf(err, errlen, "could not make the simulator's test certificates (GnuTLS failed); "
                 "check that GnuTLS works on this machine");
        sim_tls_free(t);
    }
    if (ca)
        gnutls_x509_crt_deinit(ca);
    if (srv)
        gnutls_x509_crt_deinit(srv);
    if (cakey)
        gnutls_x509_privkey_deinit(cakey);
    if (srvkey)
        gnutls_x509_privkey_deinit(srvkey);
    return rc;
}

void sim_tls_free(sim_tls *t)
{
    free(t->ca_pem);
    free(t->cert_pem);
    if (t->key_pem) {
        sodium_memzero(t->key_pem, strlen(t->key_pem));
        free(t->key_pem);
    }
    memset(t, 0, sizeof(*t));
}

int sim_rsa_new(gnutls_privkey_t *out)
{
    gnutls_privkey_t k;
    if (gnutls_privkey_init(&k) < 0)
        return -1;
    if (gnutls_privkey_generate(k, GNUTLS_PK_RSA, 2048, 0) < 0) {
        gnutls_privkey_deinit(k);
        return -1;
    }
    *out = k;
    return 0;
}

/* OpenEMR's /jwk key: kty, n, e, use; no kid, no alg (OPENEMR.md §8). */
json_t *sim_jwk_of(gnutls_privkey_t key)
{
    gnutls_datum_t m = {NULL, 0}, e = {NULL, 0};
    json_t *o = NULL;
    if (gnutls_privkey_export_rsa_raw(key, &m, &e, NULL, NULL, NULL, NULL, NULL, NULL) < 0)
        return NULL;
    o = json_object();
    json_object_set_new(o, "kty", json_string("RSA"));
    json_object_set_new(o, "n", b64_datum(&m));
    json_object_set_new(o, "e", b64_datum(&e));
    json_object_set_new(o, "use", json_string("sig"));
    gnutls_free(m.data);
    gnutls_free(e.data);
    return o;
}

/* JWK integers are unsigned big-endian without leading zero bytes. */
static json_t *b64_datum(const gnutls_datum_t *d)
{
    size_t off = 0;
    while (off + 1 < d->size && d->data[off] == 0)
        off++;
    char *s = sim_b64url(d->data + off, d->size - off);
    json_t *j = json_string(s ? s : "");
    free(s);
    return j;
}

static int new_ec_key(gnutls_x509_privkey_t *k)
{
    if (gnutls_x509_privkey_init(k) < 0)
        return -1;
    if (gnutls_x509_privkey_generate(*k, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        return -1;
    return 0;
}

static char *export_crt(gnutls_x509_crt_t c)
{
    gnutls_datum_t d = {NULL, 0};
    if (gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    char *s = strndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    return s;
}

static char *export_key(gnutls_x509_privkey_t k)
{
    gnutls_datum_t d = {NULL, 0};
    if (gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    char *s = strndup((const char *)d.data, d.size);
    gnutls_memset(d.data, 0, d.size);
    gnutls_free(d.data);
    return s;
}
