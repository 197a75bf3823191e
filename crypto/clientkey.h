/*
 * clientkey.h - libvapkey: the client's own signing keys for private_key_jwt
 * (RFC 7523), sealed in the store as item "client_key".  Linked by vap-seal
 * (keygen, jwks, promote) and by the plugin (signing).  Needs GnuTLS.
 *
 * The item's value is a key set of up to three keys, each with a role:
 *   current   signs every assertion
 *   next      published beside current (added by keygen --next), not used
 *   previous  the key current replaced, still published until the next promote
 * Layout: "VKEY" | u8 version=1 | u8 count | per key: u8 role | u8 alg |
 * u16 len (little-endian) | PKCS#8 DER private key.
 *
 * Secrets: private key bytes only ever live in sodium_malloc memory (a
 * ckey_set, a seal_secret) or inside a gnutls_privkey_t, which GnuTLS wipes
 * on deinit.  Nothing here logs or prints a private key.
 */
#ifndef VAP_CLIENTKEY_H
#define VAP_CLIENTKEY_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

#define CKEY_ITEM "client_key"
/* The client_id a key is bound to before the client exists: vap-seal
 * keygen on a config without client_id (backend services register the key
 * they already hold); registration binds it to the real client_id. */
#define CKEY_UNREGISTERED "(not registered yet)"
#define CKEY_MAX_KEYS 3u
#define CKEY_DER_MAX 4096u  /* PKCS#8 DER of an RSA 3072 key is ~1.8 KB */
#define CKEY_KID_MAX 64u    /* base64url SHA-256: 43 characters + NUL */
#define CKEY_JWK_MAX 1024u  /* one public JWK as JSON */

enum ckey_role { CKEY_CURRENT = 1, CKEY_NEXT = 2, CKEY_PREVIOUS = 3 };
enum ckey_alg { CKEY_RS384 = 1, CKEY_ES384 = 2 };

enum ckey_rc {
    CKEY_OK = 0,
    CKEY_E_FORMAT = -1, /* not a key set, or a key that does not import */
    CKEY_E_NOMEM = -2,
    CKEY_E_CRYPTO = -3, /* GnuTLS refused (key generation, export, sign) */
    CKEY_E_FULL = -4,   /* the role is already taken                    */
    CKEY_E_NOENT = -5   /* no key with that role                        */
};

struct ckey_entry {
    int role, alg;
    uint8_t *der; /* sodium_malloc'd, owned by the set */
    size_t der_len;
};

struct ckey_set {
    size_t n;
    struct ckey_entry k[CKEY_MAX_KEYS];
};

/* Parses a key set image (pure apart from sodium_malloc); the set owns its
 * copies.  An empty set is n = 0 and needs no parse. */
int ckey_set_parse(const uint8_t *buf, size_t len, struct ckey_set *out);
/* Serialises into OUT (sodium_malloc'd by the caller, cap bytes). */
int ckey_set_serialize(const struct ckey_set *s, uint8_t *out, size_t cap, size_t *len);
/* Wipes and frees every key; the set is empty afterwards. */
void ckey_set_clear(struct ckey_set *s);
/* The entry with ROLE, or NULL. */
const struct ckey_entry *ckey_set_find(const struct ckey_set *s, int role);
/* Generates a key (RSA 3072 for RS384, P-384 for ES384) and adds it with
 * ROLE; CKEY_E_FULL when the role is taken. */
int ckey_set_generate(struct ckey_set *s, int alg, int role);
/* next -> current, current -> previous, the old previous dropped.
 * CKEY_E_NOENT when there is no next key. */
int ckey_set_promote(struct ckey_set *s);

/* Imports a PKCS#8 DER private key; the caller deinits *out. */
int ckey_import(const uint8_t *der, size_t len, gnutls_privkey_t *out);
/* The public JWK of KEY as JSON with kid, alg and use "sig" (members in a
 * fixed order), and its RFC 7638 thumbprint as kid. */
int ckey_public_jwk(gnutls_privkey_t key, int alg, char *jwk, size_t jwk_cap, char kid[CKEY_KID_MAX]);
/* RFC 7638 thumbprints from raw public values (big-endian, no sign byte). */
int ckey_thumbprint_rsa(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len,
                        char kid[CKEY_KID_MAX]);
int ckey_thumbprint_p384(const uint8_t x[48], const uint8_t y[48], char kid[CKEY_KID_MAX]);

const char *ckey_alg_name(int alg);   /* "RS384", "ES384" */
int ckey_alg_from_name(const char *s); /* 0 when unknown */
const char *ckey_role_name(int role); /* "current", "next", "previous" */

#endif
