/* admparse.h - the bytes the admin path reads from the server: the dynamic
 * registration answer (RFC 7591 §3.2.1, OpenEMR's layout), the scope list
 * and PKCE methods of the OpenID configuration, and the FHIR server's
 * CapabilityStatement (/metadata).  Pure parsers over (buf, len) with caps:
 * no I/O, no globals; any thread.  fuzz/fuzz_admin.c drives them. */
#ifndef VAP_ADMPARSE_H
#define VAP_ADMPARSE_H

#include <stddef.h>
#include <vap/plugin.h>

#define ADM_BODY_CAP (256u * 1024u)  /* OpenEMR's discovery lists every scope */
#define ADM_CLIENT_ID_MAX 256u
#define ADM_ROLE_MAX 32u
#define ADM_SCOPES_MAX (64u * 1024u) /* the joined scopes_supported list      */
#define ADM_FHIR_VERSION_MAX 16u

/* A registration answer.  The secret is not here: it goes straight into the
 * caller's buffer (secure memory). */
struct adm_reg {
    char client_id[ADM_CLIENT_ID_MAX + 1]; /* [A-Za-z0-9._~-], 1..256       */
    char client_role[ADM_ROLE_MAX + 1];    /* OpenEMR's client_role, or ""  */
};

/* Parse a 2xx registration answer of len bytes: one JSON object (no
 * duplicate keys, ADM_BODY_CAP); client_id a string as above; client_secret
 * a string of 1..secret_cap-1 printable ASCII characters without spaces,
 * copied NUL-terminated into secret (*secret_len set).  An empty or missing
 * client_secret means the server made a public client: VAP_E_PROTOCOL
 * saying so.  Messages never quote the secret.  On failure out and secret
 * are wiped. */
int adm_reg_parse(const char *buf, size_t len, struct adm_reg *out, char *secret,
                  size_t secret_cap, size_t *secret_len, vap_error *err);

/* What check needs from the OpenID configuration beyond disc_oidc_parse. */
struct adm_disc {
    int s256;      /* code_challenge_methods_supported lists "S256"          */
    char *scopes;  /* scopes_supported joined by single spaces (malloc'd), or
                      NULL when the document does not list them              */
};

/* Parse an OpenID configuration document (ADM_BODY_CAP, one JSON object,
 * no duplicate keys).  scopes_supported: an array of scope strings (RFC
 * 6749 scope characters); a list nested one level (OpenEMR's SMART
 * document does that) is flattened.  Returns VAP_OK, or VAP_E_PROTOCOL
 * (not such a document; members of the wrong type).  adm_disc_free frees. */
int adm_disc_parse(const char *buf, size_t len, struct adm_disc *out, vap_error *err);
void adm_disc_free(struct adm_disc *d);

/* Parse a FHIR /metadata answer: a JSON object whose resourceType is
 * "CapabilityStatement"; its fhirVersion (if a short string) goes to
 * version (cap bytes, "" when absent).  VAP_OK or VAP_E_PROTOCOL. */
int adm_metadata_parse(const char *buf, size_t len, char *version, size_t cap,
                       vap_error *err);

/* The configured scopes (space-separated, len bytes) that are not in the
 * space-separated list supported, written space-separated into out (cap
 * bytes, cut at a scope boundary).  Returns how many are missing. */
size_t adm_scopes_missing(const char *configured, size_t len, const char *supported,
                          char *out, size_t cap);

#endif
