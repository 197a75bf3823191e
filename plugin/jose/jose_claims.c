/* jose_claims.c - typed access to a JWT's registered claims. */
#include "jose/jose_claims.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"

static int claims_str(const json_t *root, const char *name, const char **out);
static int claims_date(const json_t *root, const char *name, int64_t *out,
                       unsigned bit, unsigned *has);

int jose_claims_parse(const char *buf, size_t len, struct jose_claims *out,
                      char *why, size_t why_len)
{
    char jwhy[96];
    memset(out, 0, sizeof *out);
    out->root = pjson_parse(buf, len, JOSE_CLAIMS_MAX, jwhy, sizeof jwhy);
    if (!json_is_object(out->root)) {
        snprintf(why, why_len, "the token's claims are not a JSON object (%s)",
                 jwhy[0] ? jwhy : "wrong type");
        goto fail;
    }
    const json_t *r = out->root;
    if (claims_str(r, "iss", &out->iss) || claims_str(r, "sub", &out->sub) ||
        claims_str(r, "azp", &out->azp) || claims_str(r, "nonce", &out->nonce) ||
        claims_str(r, "fhirUser", &out->fhir_user)) {
        snprintf(why, why_len, "a string claim (iss, sub, azp, nonce, fhirUser) has "
                 "the wrong type");
        goto fail;
    }
    const json_t *aud = json_object_get(r, "aud");
    if (json_is_string(aud)) {
        out->aud[0] = json_string_value(aud);
        out->n_aud = 1;
    } else if (json_is_array(aud)) {
        size_t n = json_array_size(aud);
        if (n == 0 || n > JOSE_CLAIMS_MAX_AUD) {
            snprintf(why, why_len, "the \"aud\" claim lists %zu audiences", n);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *a = json_array_get(aud, i);
            if (!json_is_string(a)) {
                snprintf(why, why_len, "an \"aud\" entry is not a string");
                goto fail;
            }
            out->aud[out->n_aud++] = json_string_value(a);
        }
    } else if (aud != NULL) {
        snprintf(why, why_len, "the \"aud\" claim has the wrong type");
        goto fail;
    }
    if (claims_date(r, "exp", &out->exp, JOSE_HAS_EXP, &out->has) ||
        claims_date(r, "iat", &out->iat, JOSE_HAS_IAT, &out->has) ||
        claims_date(r, "nbf", &out->nbf, JOSE_HAS_NBF, &out->has)) {
        snprintf(why, why_len, "a date claim (exp, iat, nbf) is not a valid time");
        goto fail;
    }
    return 0;
fail:
    jose_claims_free(out);
    return -1;
}

void jose_claims_free(struct jose_claims *c)
{
    json_decref(c->root);
    memset(c, 0, sizeof *c);
}

int jose_claims_has_aud(const struct jose_claims *c, const char *client_id)
{
    for (size_t i = 0; i < c->n_aud; i++)
        if (strcmp(c->aud[i], client_id) == 0)
            return 1;
    return 0;
}

/* Absent is fine (0); present must be a string without embedded NUL. */
static int claims_str(const json_t *root, const char *name, const char **out)
{
    const json_t *v = json_object_get(root, name);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

static int claims_date(const json_t *root, const char *name, int64_t *out,
                       unsigned bit, unsigned *has)
{
    const json_t *v = json_object_get(root, name);
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > INT64_C(253402300799)) /* year 9999 */
            return -1;
        *out = (int64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= 253402300799.0))
            return -1;
        *out = (int64_t)d; /* non-negative: truncation is floor */
    } else {
        return -1;
    }
    *has |= bit;
    return 0;
}
