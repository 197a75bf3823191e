/*
 * clientkey.c - the client's signing key set: its sealed record, key
 * generation with GnuTLS, rotation, and the public JWK with its RFC 7638
 * thumbprint (see clientkey.h).
 */
#include "clientkey.h"

#include <gnutls/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define CKEY_MAGIC "VKEY"
#define CKEY_VERSION 1u
#define CKEY_RSA_BITS 3072u
#define CKEY_P384_BYTES 48u

static int b64url(const uint8_t *in, size_t n, char *out, size_t cap);
static int add_entry(struct ckey_set *s, int role, int alg, const uint8_t *der, size_t len);

int ckey_set_parse(const uint8_t *buf, size_t len, struct ckey_set *out)
{
    memset(out, 0, sizeof *out);
    if (buf == NULL || len < 6 || memcmp(buf, CKEY_MAGIC, 4) != 0 || buf[4] != CKEY_VERSION ||
        buf[5] > CKEY_MAX_KEYS)
        return CKEY_E_FORMAT;
    size_t off = 6, count = buf[5];
    for (size_t i = 0; i < count; i++) {
        if (len - off < 4)
            goto bad;
        int role = buf[off], alg = buf[off + 1];
        size_t dlen = (size_t)buf[off + 2] | (size_t)buf[off + 3] << 8;
        off += 4;
        if (role < CKEY_CURRENT || role > CKEY_PREVIOUS || (alg != CKEY_RS384 && alg != CKEY_ES384) ||
            dlen == 0 || dlen > CKEY_DER_MAX || len - off < dlen || ckey_set_find(out, role) != NULL)
            goto bad;
        int rc = add_entry(out, role, alg, buf + off, dlen);
        if (rc != CKEY_OK) {
            ckey_set_clear(out);
            return rc;
        }
        off += dlen;
    }
    if (off != len)
        goto bad;
    return CKEY_OK;
bad:
    ckey_set_clear(out);
    return CKEY_E_FORMAT;
}

int ckey_set_serialize(const struct ckey_set *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t off = 6;
    if (cap < off)
        return CKEY_E_NOMEM;
    memcpy(out, CKEY_MAGIC, 4);
    out[4] = CKEY_VERSION;
    out[5] = (uint8_t)s->n;
    for (size_t i = 0; i < s->n; i++) {
        const struct ckey_entry *e = &s->k[i];
        if (cap - off < 4 + e->der_len)
            return CKEY_E_NOMEM;
        out[off] = (uint8_t)e->role;
        out[off + 1] = (uint8_t)e->alg;
        out[off + 2] = (uint8_t)(e->der_len & 0xff);
        out[off + 3] = (uint8_t)(e->der_len >> 8);
        memcpy(out + off + 4, e->der, e->der_len);
        off += 4 + e->der_len;
    }
    *len = off;
    return CKEY_OK;
}

void ckey_set_clear(struct ckey_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        sodium_free(s->k[i].der); /* sodium_free wipes before it frees */
    memset(s, 0, sizeof *s);
}

const struct ckey_entry *ckey_set_find(const struct ckey_set *s, int role)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->k[i].role == role)
            return &s->k[i];
    return NULL;
}

int ckey_set_generate(struct ckey_set *s, int alg, int role)
{
    if (ckey_set_find(s, role) != NULL || s->n >= CKEY_MAX_KEYS)
        return CKEY_E_FULL;
    if (alg != CKEY_RS384 && alg != CKEY_ES384)
        return CKEY_E_FORMAT;
    gnutls_x509_privkey_t x = NULL;
    uint8_t *der = sodium_malloc(CKEY_DER_MAX);
    size_t dlen = CKEY_DER_MAX;
    int rc = CKEY_E_CRYPTO;
    if (der == NULL)
        return CKEY_E_NOMEM;
    unsigned bits = alg == CKEY_RS384 ? CKEY_RSA_BITS : GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
    /* Exported straight into secure memory: no copy of the key is left in
     * an ordinary heap buffer. */
    if (gnutls_x509_privkey_init(&x) == 0 &&
        gnutls_x509_privkey_generate(x, alg == CKEY_RS384 ? GNUTLS_PK_RSA : GNUTLS_PK_ECDSA, bits, 0) == 0 &&
        gnutls_x509_privkey_export_pkcs8(x, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN, der, &dlen) == 0)
        rc = add_entry(s, role, alg, der, dlen);
    if (x != NULL)
        gnutls_x509_privkey_deinit(x);
    sodium_free(der);
    return rc;
}

int ckey_set_promote(struct ckey_set *s)
{
    if (ckey_set_find(s, CKEY_NEXT) == NULL)
        return CKEY_E_NOENT;
    for (size_t i = 0; i < s->n;) {
        if (s->k[i].role == CKEY_PREVIOUS) {
            sodium_free(s->k[i].der);
            memmove(&s->k[i], &s->k[i + 1], (s->n - i - 1) * sizeof s->k[0]);
            s->n--;
            memset(&s->k[s->n], 0, sizeof s->k[0]);
            continue;
        }
        s->k[i].role = s->k[i].role == CKEY_NEXT ? CKEY_CURRENT : CKEY_PREVIOUS;
        i++;
    }
    return CKEY_OK;
}

int ckey_import(const uint8_t *der, size_t len, gnutls_privkey_t *out)
{
    gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
    *out = NULL;
    if (gnutls_privkey_init(out) != 0)
        return CKEY_E_NOMEM;
    if (gnutls_privkey_import_x509_raw(*out, &d, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN) != 0) {
        gnutls_privkey_deinit(*out);
        *out = NULL;
        return CKEY_E_FORMAT;
    }
    return CKEY_OK;
}

int ckey_public_jwk(gnutls_privkey_t key, int alg, char *jwk, size_t jwk_cap, char kid[CKEY_KID_MAX])
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    char ea[700], eb[700];
    int rc = CKEY_E_CRYPTO, pk = gnutls_privkey_get_pk_algorithm(key, NULL);
    if ((alg == CKEY_RS384) != (pk == GNUTLS_PK_RSA) || (alg == CKEY_ES384) != (pk == GNUTLS_PK_ECDSA))
        return CKEY_E_FORMAT;
    if (gnutls_pubkey_init(&pub) != 0 || gnutls_pubkey_import_privkey(pub, key, 0, 0) != 0)
        goto out;
    int n;
    if (pk == GNUTLS_PK_RSA) {
        if (gnutls_pubkey_export_rsa_raw2(pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ) != 0 ||
            ckey_thumbprint_rsa(a.data, a.size, b.data, b.size, kid) != CKEY_OK ||
            b64url(a.data, a.size, ea, sizeof ea) != 0 || b64url(b.data, b.size, eb, sizeof eb) != 0)
            goto out;
        n = snprintf(jwk, jwk_cap, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"RS384\","
                                   "\"n\":\"%s\",\"e\":\"%s\"}", kid, ea, eb);
    } else {
        uint8_t x[CKEY_P384_BYTES] = {0}, y[CKEY_P384_BYTES] = {0};
        if (gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ) != 0 ||
            curve != GNUTLS_ECC_CURVE_SECP384R1 || a.size > sizeof x || b.size > sizeof y)
            goto out;
        /* RFC 7518 §6.2.1.2: x and y are the full field size, left-padded. */
        memcpy(x + sizeof x - a.size, a.data, a.size);
        memcpy(y + sizeof y - b.size, b.data, b.size);
        if (ckey_thumbprint_p384(x, y, kid) != CKEY_OK || b64url(x, sizeof x, ea, sizeof ea) != 0 ||
            b64url(y, sizeof y, eb, sizeof eb) != 0)
            goto out;
        n = snprintf(jwk, jwk_cap, "{\"kty\":\"EC\",\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"ES384\","
                                   "\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", kid, ea, eb);
    }
    rc = n > 0 && (size_t)n < jwk_cap ? CKEY_OK : CKEY_E_NOMEM;
out:
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (pub != NULL)
        gnutls_pubkey_deinit(pub);
    return rc;
}

/* RFC 7638 §3: SHA-256 over the required members, sorted, no whitespace. */
static int thumbprint(const char *json, size_t len, char kid[CKEY_KID_MAX])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)json, len);
    return b64url(h, sizeof h, kid, CKEY_KID_MAX) == 0 ? CKEY_OK : CKEY_E_NOMEM;
}

int ckey_thumbprint_rsa(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len,
                        char kid[CKEY_KID_MAX])
{
    char en[1400], ee[64], json[1500];
    while (n_len > 1 && n[0] == 0)
        n++, n_len--;
    while (e_len > 1 && e[0] == 0)
        e++, e_len--;
    if (b64url(n, n_len, en, sizeof en) != 0 || b64url(e, e_len, ee, sizeof ee) != 0)
        return CKEY_E_NOMEM;
    int len = snprintf(json, sizeof json, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", ee, en);
    if (len <= 0 || (size_t)len >= sizeof json)
        return CKEY_E_NOMEM;
    return thumbprint(json, (size_t)len, kid);
}

int ckey_thumbprint_p384(const uint8_t x[48], const uint8_t y[48], char kid[CKEY_KID_MAX])
{
    char ex[80], ey[80], json[256];
    if (b64url(x, CKEY_P384_BYTES, ex, sizeof ex) != 0 || b64url(y, CKEY_P384_BYTES, ey, sizeof ey) != 0)
        return CKEY_E_NOMEM;
    int len = snprintf(json, sizeof json, "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", ex, ey);
    if (len <= 0 || (size_t)len >= sizeof json)
        return CKEY_E_NOMEM;
    return thumbprint(json, (size_t)len, kid);
}

const char *ckey_alg_name(int alg)
{
    return alg == CKEY_RS384 ? "RS384" : alg == CKEY_ES384 ? "ES384" : "?";
}

int ckey_alg_from_name(const char *s)
{
    if (s != NULL && strcmp(s, "RS384") == 0)
        return CKEY_RS384;
    if (s != NULL && strcmp(s, "ES384") == 0)
        return CKEY_ES384;
    return 0;
}

const char *ckey_role_name(int role)
{
    return role == CKEY_CURRENT ? "current" : role == CKEY_NEXT ? "next" : role == CKEY_PREVIOUS ? "previous" : "?";
}

static int b64url(const uint8_t *in, size_t n, char *out, size_t cap)
{
    if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return -1;
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

static int add_entry(struct ckey_set *s, int role, int alg, const uint8_t *der, size_t len)
{
    if (s->n >= CKEY_MAX_KEYS)
        return CKEY_E_FULL;
    uint8_t *copy = sodium_malloc(len);
    if (copy == NULL)
        return CKEY_E_NOMEM;
    memcpy(copy, der, len);
    s->k[s->n++] = (struct ckey_entry){role, alg, copy, len};
    return CKEY_OK;
}
