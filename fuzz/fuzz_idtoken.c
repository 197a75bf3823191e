/* fuzz_idtoken.c - an id_token's payload after its signature verified:
 * jose_claims_parse (plugin/jose/jose_claims.c) and then the relying party's
 * rules, idtoken_check (plugin/jose/idtoken.c), as authorize_complete applies
 * them to a first token (nonce) and refresh to a renewed one (same sub).
 * Whatever passes must really satisfy the rules. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/idtoken.h"
#include "jose/jose_claims.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ISS "https://emr.example.org/oauth2/default"
#define FUZZ_CID "LnjqojEEjFYe5niSPGeQBxThLmbJr5DrTbOkGP3ZJxA"
#define FUZZ_NOW INT64_C(1789996400)

static void fuzz_idtoken_passed(const struct jose_claims *c, const struct idtoken_expect *e)
{
    if (c->iss == NULL || strcmp(c->iss, e->issuer) != 0 || c->sub == NULL ||
        c->sub[0] == '\0' || c->n_aud != 1 || strcmp(c->aud[0], e->client_id) != 0 ||
        (c->azp != NULL && strcmp(c->azp, e->client_id) != 0))
        abort();
    if (!(c->has & JOSE_HAS_EXP) || !(c->has & JOSE_HAS_IAT) ||
        e->now_s >= c->exp + e->leeway_s || c->iat > e->now_s + e->leeway_s ||
        c->iat < e->now_s - IDTOKEN_MAX_AGE_S - e->leeway_s)
        abort();
    if (e->nonce != NULL && (c->nonce == NULL || strcmp(c->nonce, e->nonce) != 0))
        abort();
    if (e->orig_sub != NULL && strcmp(c->sub, e->orig_sub) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct idtoken_expect expects[] = {
        /* authorize_complete: a nonce was sent, leeway from the config */
        {FUZZ_ISS, FUZZ_CID, "mZ5q0d8gEw3c1VvH8nq1yQ", NULL, FUZZ_NOW, 120},
        /* refresh: no nonce, the subject must not change; leeway 0 and max */
        {FUZZ_ISS, FUZZ_CID, NULL, "9a1b7a45-2bb7-4a8e-8d5f-06f9d1a3b7c2", FUZZ_NOW, 0},
        {FUZZ_ISS, FUZZ_CID, NULL, "9a1b7a45-2bb7-4a8e-8d5f-06f9d1a3b7c2", FUZZ_NOW, 600},
    };
    struct jose_claims c;
    char why[128];

    if (jose_claims_parse((const char *)data, size, &c, why, sizeof why) != 0) {
        if (memchr(why, '\0', sizeof why) == NULL)
            abort();
        return 0;
    }
    for (size_t i = 0; i < sizeof expects / sizeof expects[0]; i++) {
        vap_error err;
        VAP_INIT(vap_error, err);
        int rc = idtoken_check(&c, &expects[i], &err);
        if (rc == VAP_OK)
            fuzz_idtoken_passed(&c, &expects[i]);
        else if (rc != VAP_E_PROTOCOL || err.code != rc ||
                 memchr(err.message, '\0', sizeof err.message) == NULL)
            abort();
    }
    jose_claims_free(&c);
    return 0;
}
