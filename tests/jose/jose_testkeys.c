/* jose_testkeys.c - see jose_testkeys.h. */
#include "jose_testkeys.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>

#include "jose/b64url.h"
#include "jose/jose.h"

static int tk_b64(const unsigned char *d, size_t n, size_t pad_to, char *out, size_t cap)
{
    unsigned char buf[1100];
    if (n > sizeof buf || pad_to > sizeof buf)
        return -1;
    size_t lead = pad_to > n ? pad_to - n : 0;
    memset(buf, 0, lead);
    memcpy(buf + lead, d, n);
    return b64url_encode(buf, lead + n, out, cap);
}

int tk_generate(struct tk_key *k, unsigned rsa_bits, gnutls_ecc_curve_t curve,
                const char *kid, const char *extra)
{
    char kidm[160] = "";
    memset(k, 0, sizeof *k);
    if (kid != NULL)
        snprintf(kidm, sizeof kidm, ",\"kid\":\"%s\"", kid);
    if (gnutls_privkey_init(&k->priv) < 0)
        return -1;
    if (curve != 0) {
        gnutls_datum_t x, y;
        gnutls_ecc_curve_t got;
        char xs[100], ys[100];
        size_t n = curve == GNUTLS_ECC_CURVE_SECP384R1 ? 48
                 : curve == GNUTLS_ECC_CURVE_SECP521R1 ? 66 : 32;
        k->is_ec = 1;
        k->curve = curve;
        if (gnutls_privkey_generate(k->priv, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(curve), 0) < 0 ||
            gnutls_privkey_export_ecc_raw2(k->priv, &got, &x, &y, NULL,
                                           GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
            return -1;
        int rc = tk_b64(x.data, x.size, n, xs, sizeof xs) | tk_b64(y.data, y.size, n, ys, sizeof ys);
        gnutls_free(x.data);
        gnutls_free(y.data);
        if (rc != 0)
            return -1;
        const char *crv = curve == GNUTLS_ECC_CURVE_SECP384R1 ? "P-384"
                        : curve == GNUTLS_ECC_CURVE_SECP521R1 ? "P-521" : "P-256";
        snprintf(k->jwk, sizeof k->jwk,
                 "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s%s}", crv, xs,
                 ys, kidm, extra ? extra : "");
        return 0;
    }
    gnutls_datum_t m, e;
    char ms[1500], es[16];
    if (gnutls_privkey_generate(k->priv, GNUTLS_PK_RSA, rsa_bits, 0) < 0 ||
        gnutls_privkey_export_rsa_raw2(k->priv, &m, &e, NULL, NULL, NULL, NULL, NULL, NULL,
                                       GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
        return -1;
    int rc = tk_b64(m.data, m.size, 0, ms, sizeof ms) | tk_b64(e.data, e.size, 0, es, sizeof es);
    gnutls_free(m.data);
    gnutls_free(e.data);
    if (rc != 0)
        return -1;
    snprintf(k->jwk, sizeof k->jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s%s}", ms,
             es, kidm, extra ? extra : "");
    return 0;
}

void tk_free(struct tk_key *k)
{
    if (k->priv != NULL)
        gnutls_privkey_deinit(k->priv);
    memset(k, 0, sizeof *k);
}

int tk_sign(const struct tk_key *k, const char *sign_alg, const char *header_json,
            const char *payload, char *out, size_t cap)
{
    size_t hl = strlen(header_json), pl = strlen(payload);
    size_t need = B64URL_ENCODED_LEN(hl) + B64URL_ENCODED_LEN(pl) + 2;
    if (need + 800 > cap)
        return -1;
    if (b64url_encode((const unsigned char *)header_json, hl, out, cap) != 0)
        return -1;
    size_t o = strlen(out);
    out[o++] = '.';
    if (b64url_encode((const unsigned char *)payload, pl, out + o, cap - o) != 0)
        return -1;
    o += strlen(out + o);
    gnutls_datum_t data = {(unsigned char *)out, (unsigned)o}, sig;
    int alg = jose_alg_from_name(sign_alg);
    gnutls_sign_algorithm_t sa =
        alg == JOSE_RS256 ? GNUTLS_SIGN_RSA_SHA256 : alg == JOSE_RS384 ? GNUTLS_SIGN_RSA_SHA384
        : alg == JOSE_ES256 ? GNUTLS_SIGN_ECDSA_SHA256 : GNUTLS_SIGN_ECDSA_SHA384;
    if (gnutls_privkey_sign_data2(k->priv, sa, 0, &data, &sig) < 0)
        return -1;
    out[o++] = '.';
    int rc = 0;
    if (k->is_ec) {
        gnutls_datum_t r, s;
        size_t n = k->curve == GNUTLS_ECC_CURVE_SECP384R1 ? 48
                 : k->curve == GNUTLS_ECC_CURVE_SECP521R1 ? 66 : 32;
        unsigned char raw[132];
        if (gnutls_decode_rs_value(&sig, &r, &s) < 0) {
            gnutls_free(sig.data);
            return -1;
        }
        /* DER integers may carry a sign byte or be short: fit to n bytes */
        const unsigned char *rp = r.data, *sp = s.data;
        size_t rl = r.size, sl = s.size;
        while (rl > n && *rp == 0) { rp++; rl--; }
        while (sl > n && *sp == 0) { sp++; sl--; }
        memset(raw, 0, sizeof raw);
        memcpy(raw + n - rl, rp, rl);
        memcpy(raw + 2 * n - sl, sp, sl);
        rc = b64url_encode(raw, 2 * n, out + o, cap - o);
        gnutls_free(r.data);
        gnutls_free(s.data);
    } else {
        rc = b64url_encode(sig.data, sig.size, out + o, cap - o);
    }
    gnutls_free(sig.data);
    return rc;
}

int tk_jwks(const struct tk_key *const *keys, size_t n, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "{\"keys\":[");
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", keys[i]->jwk);
    if (o < cap)
        o += (size_t)snprintf(out + o, cap - o, "]}");
    return o < cap ? 0 : -1;
}
