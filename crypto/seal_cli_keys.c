/*
 * seal_cli_keys.c - the vap-seal commands for the client's own signing keys
 * (private_key_jwt): keygen, jwks, promote.  The key set is the sealed item
 * client_key; each change is read, edited and replaced under the item's
 * exclusive lock, durably.  Private keys are never printed: jwks prints the
 * public halves only.
 */
#include "seal_cli.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "clientkey.h"

#define KEYS_IMAGE_MAX (6u + CKEY_MAX_KEYS * (4u + CKEY_DER_MAX))

struct keys_ctx {
    seal_store *st;
    seal_keyring *ring;
    seal_secret *plain;
    seal_lock lk;
    struct ckey_set set;
    uint64_t generation; /* 0: no item yet */
};

static int keys_open(cli_opts *o, const char *cmd, int exclusive, int need_bind, struct keys_ctx *c);
static int keys_save(cli_opts *o, struct keys_ctx *c);
static void keys_close(struct keys_ctx *c);
static int keys_kid(const struct ckey_entry *e, char kid[CKEY_KID_MAX], char *jwk, size_t jwk_cap);

int cli_keygen(cli_opts *o)
{
    struct keys_ctx c;
    char kid[CKEY_KID_MAX];
    int alg = ckey_alg_from_name(o->alg ? o->alg : "RS384");
    if (alg == 0)
        return cli_fail("--alg %s is not known: use --alg RS384 (the default, what OpenEMR accepts) or --alg ES384",
                        o->alg);
    int role = o->next ? CKEY_NEXT : CKEY_CURRENT;
    int unbound = role == CKEY_CURRENT && o->issuer != NULL && *o->issuer &&
                  (o->client_id == NULL || !*o->client_id);
    if (unbound)
        o->client_id = CKEY_UNREGISTERED;
    int rc = keys_open(o, "keygen", 1, 1, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (role == CKEY_NEXT && ckey_set_find(&c.set, CKEY_CURRENT) == NULL) {
        rc = cli_fail("there is no signing key yet: run vap-seal keygen (without --next) first");
        goto out;
    }
    if (ckey_set_find(&c.set, role) != NULL) {
        rc = cli_fail(role == CKEY_CURRENT
                          ? "a signing key is already sealed; nothing was changed (rotate with keygen --next, "
                            "register the new JWKS, then promote)"
                          : "a next key is already sealed and published; nothing was changed (run vap-seal "
                            "promote once the server has the new JWKS)");
        goto out;
    }
    /* A promoted-away key still takes a slot until the next promote. */
    if (c.set.n >= CKEY_MAX_KEYS) {
        rc = cli_fail("the key set is full; run vap-seal promote first");
        goto out;
    }
    int grc = ckey_set_generate(&c.set, alg, role);
    if (grc != CKEY_OK) {
        rc = cli_fail("GnuTLS could not generate the %s key (%s)", ckey_alg_name(alg),
                      grc == CKEY_E_NOMEM ? "out of memory" : "key generation failed");
        goto out;
    }
    if ((rc = keys_kid(ckey_set_find(&c.set, role), kid, NULL, 0)) != CLI_EXIT_OK ||
        (rc = keys_save(o, &c)) != CLI_EXIT_OK)
        goto out;
    if (o->json) {
        printf("{\"kid\":\"%s\",\"alg\":\"%s\",\"role\":\"%s\",\"generation\":%llu}\n", kid, ckey_alg_name(alg),
               ckey_role_name(role), (unsigned long long)c.generation);
    } else {
        printf("sealed a new %s key as the %s signing key (kid %s)%s\n", ckey_alg_name(alg),
               role == CKEY_NEXT ? "next" : "current", kid,
               unbound ? ", not yet tied to a client" : "");
        if (unbound)
            printf("register it: vap-host register --backend sends its public key to OpenEMR and "
                   "ties it to the client_id OpenEMR returns\n");
        else
            printf(role == CKEY_NEXT ? "publish it: give OpenEMR the output of vap-seal jwks, then run vap-seal promote\n"
                                 : "register the public key: give OpenEMR the output of vap-seal jwks\n");
        if (alg == CKEY_ES384)
            printf("note: OpenEMR verifies RS384 assertions only; use ES384 with servers that accept it\n");
    }
out:
    keys_close(&c);
    return rc;
}

int cli_jwks(cli_opts *o)
{
    struct keys_ctx c;
    static const int order[] = {CKEY_CURRENT, CKEY_NEXT, CKEY_PREVIOUS};
    int rc = keys_open(o, "jwks", 0, 0, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (c.set.n == 0) {
        rc = cli_fail("no signing key is sealed in %s: run vap-seal keygen first", o->store);
        goto out;
    }
    char (*jwk)[CKEY_JWK_MAX] = calloc(CKEY_MAX_KEYS, sizeof *jwk);
    size_t n = 0;
    if (jwk == NULL) {
        rc = cli_fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const struct ckey_entry *e = ckey_set_find(&c.set, order[i]);
        char kid[CKEY_KID_MAX];
        if (e != NULL && (rc = keys_kid(e, kid, jwk[n], sizeof jwk[n])) != CLI_EXIT_OK) {
            free(jwk);
            goto out;
        }
        n += e != NULL;
    }
    fputs("{\"keys\":[", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", jwk[i]);
    fputs("]}\n", stdout);
    free(jwk);
out:
    keys_close(&c);
    return rc;
}

int cli_promote(cli_opts *o)
{
    struct keys_ctx c;
    char kid[CKEY_KID_MAX], old[CKEY_KID_MAX] = "";
    int rc = keys_open(o, "promote", 1, 1, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    const struct ckey_entry *prev = ckey_set_find(&c.set, CKEY_PREVIOUS);
    if (ckey_set_find(&c.set, CKEY_NEXT) == NULL) {
        rc = cli_fail("there is no next key to promote: run vap-seal keygen --next, register the new JWKS, "
                      "then promote");
        goto out;
    }
    if (prev != NULL && (rc = keys_kid(prev, old, NULL, 0)) != CLI_EXIT_OK)
        goto out;
    ckey_set_promote(&c.set);
    if ((rc = keys_kid(ckey_set_find(&c.set, CKEY_CURRENT), kid, NULL, 0)) != CLI_EXIT_OK ||
        (rc = keys_save(o, &c)) != CLI_EXIT_OK)
        goto out;
    if (o->json) {
        printf("{\"kid\":\"%s\",\"retired\":", kid);
        cli_json_string(stdout, old);
        printf(",\"generation\":%llu}\n", (unsigned long long)c.generation);
    } else {
        printf("the next key (kid %s) now signs; the one it replaced stays in the JWKS until the next promote\n",
               kid);
        if (*old)
            printf("key %s left the JWKS: give OpenEMR the output of vap-seal jwks\n", old);
    }
out:
    keys_close(&c);
    return rc;
}

/* Opens store and keyring, takes the item's lock, reads the key set. */
static int keys_open(cli_opts *o, const char *cmd, int exclusive, int need_bind, struct keys_ctx *c)
{
    seal_err err = {0};
    memset(c, 0, sizeof *c);
    c->lk.fd = -1;
    if (o->keyring == NULL || o->store == NULL) {
        fprintf(stderr, "vap-seal: %s needs --keyring and --store (or -c CONFIG)\n", cmd);
        return CLI_EXIT_USAGE;
    }
    if (need_bind && (o->issuer == NULL || o->client_id == NULL || !*o->issuer || !*o->client_id))
        return cli_fail("%s needs the issuer and client_id the key belongs to: --issuer URL --client-id ID, "
                        "or -c CONFIG [-i NAME]", cmd);
    if (seal_store_open(o->store, &c->st, &err) != SEAL_OK ||
        seal_keyring_load(o->keyring, seal_store_owner(c->st), &c->ring, &err) != SEAL_OK ||
        seal_secret_new(&c->plain, &err) != SEAL_OK ||
        seal_lock_acquire(c->st, CKEY_ITEM, exclusive, &c->lk, &err) != SEAL_OK)
        goto fail;
    seal_binding b = {o->issuer, o->client_id};
    int r = seal_store_read(c->st, c->ring, CKEY_ITEM, &b, c->plain, &err);
    if (r == SEAL_E_NOENT)
        return CLI_EXIT_OK;
    if (r != SEAL_OK)
        goto fail;
    c->generation = seal_secret_generation(c->plain);
    r = ckey_set_parse(seal_secret_data(c->plain), seal_secret_size(c->plain), &c->set);
    seal_secret_clear(c->plain);
    if (r != CKEY_OK) {
        keys_close(c);
        return cli_fail("%s/%s is not a key set (was another secret sealed under this name?): remove it and run "
                        "vap-seal keygen", o->store, CKEY_ITEM);
    }
    return CLI_EXIT_OK;
fail:
    keys_close(c);
    return cli_fail("%s", err.message);
}

/* Replaces the item durably with the next generation (the lock is held). */
static int keys_save(cli_opts *o, struct keys_ctx *c)
{
    seal_err err = {0};
    seal_txn *t = NULL;
    seal_keyring *fresh = NULL;
    size_t len = 0;
    uint8_t *img = sodium_malloc(KEYS_IMAGE_MAX);
    int rc = CLI_EXIT_OK;
    seal_binding b = {o->issuer, o->client_id};
    if (img == NULL || ckey_set_serialize(&c->set, img, KEYS_IMAGE_MAX, &len) != CKEY_OK) {
        rc = cli_fail("out of memory");
        goto out;
    }
    /* The ring is re-read under the lock: rotate-key may have run meanwhile. */
    if (seal_txn_prepare(c->st, CKEY_ITEM, SEAL_FILE_MAX, &t, &err) != SEAL_OK ||
        seal_keyring_load(o->keyring, seal_store_owner(c->st), &fresh, &err) != SEAL_OK ||
        seal_txn_commit(t, fresh, &b, c->generation + 1, img, len, &err) != SEAL_OK) {
        rc = cli_fail("%s; the key set on disk was not changed", err.message);
        goto out;
    }
    c->generation++;
out:
    seal_txn_free(t);
    seal_keyring_free(fresh);
    sodium_free(img);
    return rc;
}

static void keys_close(struct keys_ctx *c)
{
    ckey_set_clear(&c->set);
    seal_lock_release(&c->lk);
    seal_secret_free(c->plain);
    seal_keyring_free(c->ring);
    seal_store_close(c->st);
    c->plain = NULL;
    c->ring = NULL;
    c->st = NULL;
}

static int keys_kid(const struct ckey_entry *e, char kid[CKEY_KID_MAX], char *jwk, size_t jwk_cap)
{
    gnutls_privkey_t k = NULL;
    char buf[CKEY_JWK_MAX];
    int r = ckey_import(e->der, e->der_len, &k);
    if (r == CKEY_OK)
        r = ckey_public_jwk(k, e->alg, jwk ? jwk : buf, jwk ? jwk_cap : sizeof buf, kid);
    if (k != NULL)
        gnutls_privkey_deinit(k);
    if (r != CKEY_OK)
        return cli_fail("the sealed %s key does not load (%s): run vap-seal verify", ckey_role_name(e->role),
                        r == CKEY_E_NOMEM ? "out of memory" : "not a usable key");
    return CLI_EXIT_OK;
}
