/* idtoken.c - validating an id_token's claims: the rules a relying party
 * must apply before it trusts who authorized (SECURITY.md §5). */
#include "jose/idtoken.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"

/* Who issued it, for whom, about whom: never relaxed. */
static int check_identity(const struct jose_claims *c, const struct idtoken_expect *e,
                          vap_error *err)
{
    if (c->iss == NULL || strcmp(c->iss, e->issuer) != 0)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token was issued by '%.100s', not by the configured issuer %.100s: "
                       "refused (a mix-up or a misconfigured server)",
                       c->iss ? c->iss : "(none)", e->issuer);
    if (c->sub == NULL || c->sub[0] == '\0')
        return err_set(err, VAP_E_PROTOCOL, "the id_token has no subject (sub): refused");
    if (c->n_aud == 0 || !jose_claims_has_aud(c, e->client_id))
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token is not meant for this client (aud does not name client_id): "
                       "refused");
    if (c->n_aud > 1)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token also names other audiences than this client: refused");
    if (c->azp != NULL && strcmp(c->azp, e->client_id) != 0)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token's authorized party (azp) is another client: refused");
    return VAP_OK;
}

/* When it was issued and until when it holds. */
static int check_times(const struct jose_claims *c, const struct idtoken_expect *e,
                       vap_error *err)
{
    if (!(c->has & JOSE_HAS_EXP))
        return err_set(err, VAP_E_PROTOCOL, "the id_token has no expiry (exp): refused");
    if (e->now_s >= c->exp + e->leeway_s)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token has expired (exp is %lld s ago, beyond the %lld s leeway): "
                       "check this machine's clock and the server's, then authorize again",
                       (long long)(e->now_s - c->exp), (long long)e->leeway_s);
    if (!(c->has & JOSE_HAS_IAT))
        return err_set(err, VAP_E_PROTOCOL, "the id_token has no issue time (iat): refused");
    if (c->iat > e->now_s + e->leeway_s)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token claims to be issued %lld s in the future (leeway %lld s): "
                       "check this machine's clock and the server's",
                       (long long)(c->iat - e->now_s), (long long)e->leeway_s);
    if (c->iat < e->now_s - IDTOKEN_MAX_AGE_S - e->leeway_s)
        return err_set(err, VAP_E_PROTOCOL,
                       "the id_token was issued %lld s ago, too long ago for a token just "
                       "received: refused (replayed, or a clock far off)",
                       (long long)(e->now_s - c->iat));
    return VAP_OK;
}

int idtoken_check(const struct jose_claims *c, const struct idtoken_expect *e, vap_error *err)
{
    int rc;
    if ((rc = check_identity(c, e, err)) != VAP_OK || (rc = check_times(c, e, err)) != VAP_OK)
        return rc;
    if (e->nonce != NULL) {
        size_t n = strlen(e->nonce);
        if (c->nonce == NULL || strlen(c->nonce) != n ||
            sodium_memcmp(c->nonce, e->nonce, n) != 0)
            return err_set(err, VAP_E_PROTOCOL,
                           "the id_token's nonce %s the one this authorization sent: refused "
                           "(a replayed or injected response)",
                           c->nonce ? "does not match" : "is missing, unlike");
    }
    if (e->orig_sub != NULL && strcmp(c->sub, e->orig_sub) != 0)
        return err_set(err, VAP_E_PROTOCOL,
                       "the refreshed id_token names another user (sub changed): refused");
    return VAP_OK;
}

int idtoken_check_refreshed(const struct jose_claims *c, const struct idtoken_expect *e,
                            char *warn, size_t warn_cap, vap_error *err)
{
    int rc = check_identity(c, e, err);
    if (rc != VAP_OK)
        return rc;
    if (e->orig_sub != NULL && strcmp(c->sub, e->orig_sub) != 0)
        return err_set(err, VAP_E_PROTOCOL,
                       "the refreshed id_token names another user (sub changed): refused");
    if (warn_cap > 0)
        warn[0] = '\0';
    vap_error terr;
    VAP_INIT(vap_error, terr);
    if (check_times(c, e, &terr) != VAP_OK && warn_cap > 0)
        snprintf(warn, warn_cap, "%s", terr.message);
    return VAP_OK;
}
