/* discovery.h - the authorization server's metadata: OpenID Provider
 * configuration ({issuer}/.well-known/openid-configuration, RFC 8414 /
 * OIDC Discovery) validated against the configured issuer, and the FHIR
 * server's SMART configuration ({fhir_base}/.well-known/smart-configuration)
 * read for capabilities.  Pure parsers: no I/O, no globals; any thread.
 * Fetching and caching belong to the caller. */
#ifndef VAP_DISCOVERY_H
#define VAP_DISCOVERY_H

#include <stddef.h>
#include <vap/plugin.h>

/* OpenEMR's document lists every scope the server knows: allow room. */
#define DISC_BODY_CAP (256u * 1024u)
#define DISC_URL_MAX 2048u

/* id_token signature algorithms we can verify (DESIGN.md, JOSE). */
#define DISC_ALG_RS256 (1u << 0)
#define DISC_ALG_RS384 (1u << 1)
#define DISC_ALG_ES256 (1u << 2)
#define DISC_ALG_ES384 (1u << 3)

/* Token endpoint client authentication methods. */
#define DISC_AUTH_BASIC (1u << 0)          /* client_secret_basic */
#define DISC_AUTH_POST (1u << 1)           /* client_secret_post  */
#define DISC_AUTH_PRIVATE_KEY_JWT (1u << 2)

/* A validated OpenID configuration.  Strings are malloc'd and owned by the
 * struct (disc_oidc_free); optional endpoints absent are NULL.  Every
 * endpoint present is an absolute https URL on the issuer's host and port,
 * so secrets may be sent to it and it may be handed to a browser. */
typedef struct disc_oidc {
    char *issuer;
    char *authorization_endpoint;
    char *token_endpoint;
    char *jwks_uri;
    char *registration_endpoint;  /* optional */
    char *introspection_endpoint; /* optional */
    char *end_session_endpoint;   /* optional */
    unsigned algs;                /* DISC_ALG_*: advertised ∩ supported, ≠ 0 */
    unsigned auth_methods;        /* DISC_AUTH_* advertised (default basic)  */
    int iss_parameter_supported;  /* RFC 9207 §3: callbacks must carry iss   */
} disc_oidc;

/* Parse and validate len bytes of an openid-configuration document against
 * expected_issuer (the issuer option).  Checks, in order: one JSON object
 * (DISC_BODY_CAP, no duplicate keys); `issuer` equal to expected_issuer by
 * plain string comparison (RFC 9207 §2.4: no normalisation); endpoints
 * authorization, token, jwks_uri required and, with registration,
 * introspection and end_session when present, absolute https URLs on the
 * issuer's host and port (a relative URL means OpenEMR's "Site Address"
 * setting is empty: the message says so); code_challenge_methods_supported
 * lists S256; response_types_supported, when given, lists "code";
 * id_token_signing_alg_values_supported shares an algorithm with
 * RS256/RS384/ES256/ES384; token_endpoint_auth_methods_supported (absent:
 * client_secret_basic, as OIDC Discovery says);
 * authorization_response_iss_parameter_supported a boolean (absent: false).
 * Returns 0 and fills *out, or VAP_E_CONFIG (the admin must fix a setting),
 * VAP_E_UNSUPPORTED (the server lacks S256, code or a usable algorithm),
 * VAP_E_PROTOCOL (not a discovery document) with *out empty. */
int disc_oidc_parse(const char *buf, size_t len, const char *expected_issuer,
                    disc_oidc *out, vap_error *err);

void disc_oidc_free(disc_oidc *d);

/* Pick the token endpoint authentication for the client_auth option:
 * "basic", "post" and "private_key_jwt" are taken as given (OpenEMR accepts
 * Basic though its document lists only post, and private_key_jwt though
 * only its SMART configuration lists it); "auto" or NULL takes
 * private_key_jwt if KEY_SEALED (a signing key is in the store) and the
 * document lists it, else basic if it lists client_secret_basic, else post
 * if it lists client_secret_post, else VAP_E_UNSUPPORTED.  Sets *method to
 * one DISC_AUTH_* bit. */
int disc_client_auth(const disc_oidc *d, const char *option, int key_sealed, unsigned *method,
                     vap_error *err);

/* The SMART configuration of the FHIR server.  Its `issuer` is the FHIR
 * base on OpenEMR, so it is kept but never compared with the OAuth issuer;
 * its endpoints are informative (the OpenID configuration's are used). */
typedef struct disc_smart {
    char *issuer;                 /* may be NULL                              */
    char *authorization_endpoint; /* may be NULL                              */
    char *token_endpoint;         /* may be NULL                              */
    char *capabilities;           /* space-separated, "" when none listed     */
    unsigned auth_methods;        /* DISC_AUTH_* listed (0 when not listed)   */
    int s256;                     /* code_challenge_methods lists S256        */
} disc_smart;

/* Parse a smart-configuration document (DISC_BODY_CAP, one JSON object,
 * no duplicate keys).  Members of the wrong type that we read are refused
 * (VAP_E_PROTOCOL); others (OpenEMR nests scopes_supported) are ignored. */
int disc_smart_parse(const char *buf, size_t len, disc_smart *out,
                     vap_error *err);

void disc_smart_free(disc_smart *s);

/* 1 if the SMART configuration lists capability (e.g. "permission-v2"). */
int disc_smart_has(const disc_smart *s, const char *capability);

#endif
