/* sim_internal.h: types and functions shared by the simulator's own files.
 * Nothing here is part of the library's public API (see sim.h). */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

#include "sim.h"

/* ---- bounded growable buffer (sim_util.c) ---- */
typedef struct sim_buf {
    char *p;
    size_t len, cap, max;
    int oom;                /* set once an append failed or hit max */
} sim_buf;

void sim_buf_init(sim_buf *b, size_t max);
int sim_buf_add(sim_buf *b, const void *data, size_t len);
int sim_buf_addf(sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sim_buf_steal(sim_buf *b);    /* NUL-terminated; caller frees */
void sim_buf_free(sim_buf *b);

/* ---- encoding and randomness (sim_util.c) ---- */
char *sim_b64url(const unsigned char *data, size_t len);          /* caller frees */
int sim_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
int sim_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
char *sim_random_b64url(size_t nbytes);                            /* caller frees */
char *sim_random_hex(const char *prefix, size_t nbytes);           /* caller frees */
char *sim_url_encode(const char *s);                               /* caller frees */
int sim_streq(const char *a, const char *b);                       /* NULL-safe */
char *sim_strdup0(const char *s);                                  /* NULL-safe strdup */
/* Appends "KIND VALUE\n" to cfg.secrets_log when set (the leak test). */
void sim_note_secret(const struct sim_server *s, const char *kind, const char *value);

/* ---- form / query pairs (sim_util.c) ---- */
#define SIM_FORM_MAX 64
typedef struct sim_form {
    size_t n;
    char *key[SIM_FORM_MAX];
    char *val[SIM_FORM_MAX];
} sim_form;

/* Parses application/x-www-form-urlencoded bytes; -1 if malformed or too many pairs. */
int sim_form_parse(const char *buf, size_t len, sim_form *f);
int sim_form_add(sim_form *f, const char *key, const char *val);
const char *sim_form_get(const sim_form *f, const char *key);
void sim_form_free(sim_form *f);

/* ---- string->pointer hash map (sim_map.c) ---- */
typedef struct sim_map_entry {
    char *key;
    void *val;
    struct sim_map_entry *next;
} sim_map_entry;

typedef struct sim_map {
    sim_map_entry **bucket;
    size_t nbucket, count;
    void (*free_val)(void *);
} sim_map;

int sim_map_init(sim_map *m, size_t nbucket, void (*free_val)(void *));
void *sim_map_get(const sim_map *m, const char *key);
int sim_map_put(sim_map *m, const char *key, void *val);  /* key copied; replaces */
/* Calls fn on each value; removes (and frees) entries for which fn returns 1. */
size_t sim_map_sweep(sim_map *m, int (*fn)(void *val, void *ctx), void *ctx);
void sim_map_free(sim_map *m);

/* ---- the store's records ---- */
enum { SIM_CODE = 1, SIM_ACCESS = 2, SIM_REFRESH = 3 };

typedef struct sim_client {
    char *id;
    char *secret;           /* NULL = public */
    json_t *redirect_uris;  /* array of strings */
    json_t *post_logout_uris;
    char *scope;            /* registered scopes */
    char *name;
    int enabled;
    json_t *jwks;           /* registered public keys (private_key_jwt), or NULL */
    char *jwks_uri;         /* or where to fetch them, or NULL */
    int grant_cc;           /* registered with grant_types ["client_credentials"] */
} sim_client;

typedef struct sim_grant {
    int kind;
    char *client_id;
    char *sub;              /* user or patient uuid */
    char *username;
    int patient_user;       /* 1 = portal (patient role) login */
    long patient;           /* patient index in context, -1 none */
    char *scope;            /* granted scopes, space separated, api:* included */
    char *nonce;
    long long iat, exp;
    int revoked, logged_out;
    int system;             /* client_credentials: OpenEMR's API system user, 60 s */
    /* code only */
    char *redirect_uri;     /* NULL = not sent at /authorize */
    char *challenge;        /* NULL = no PKCE */
    int had_state;
    int used;
    /* refresh only: the access token issued together with this refresh token */
    char *access_token;
} sim_grant;

typedef struct sim_session {
    char *client_id, *redirect_uri, *scope, *state, *nonce, *challenge, *aud, *launch;
    char *csrf;
    char *username, *sub;
    int logged_in, patient_user;
    long patient;
    long long created;
} sim_session;

void sim_client_free(void *c);
void sim_grant_free(void *g);
void sim_session_free(void *s);

/* ---- synthetic practice (sim_data.c) ---- */
enum sim_rtype {
    SIM_R_PATIENT = 1, SIM_R_ENCOUNTER, SIM_R_DIAGREPORT, SIM_R_MEDREQUEST, SIM_R_MEDICATION,
    SIM_R_OBSERVATION, SIM_R_CONDITION, SIM_R_ALLERGY, SIM_R_APPOINTMENT, SIM_R_PRACTITIONER,
    SIM_R_COUNT
};

typedef struct sim_patient {
    uint16_t given, family, middle;
    uint8_t sex;            /* 0 female, 1 male */
    uint8_t month, day;
    uint16_t year;
    char phone[13];         /* "NNN-555-01NN" */
} sim_patient;

typedef struct sim_data {
    unsigned long n;
    unsigned long long seed;
    sim_patient *p;
} sim_data;

int sim_data_init(sim_data *d, unsigned long n, unsigned long long seed);
void sim_data_free(sim_data *d);
/* uuid of resource k of type t for patient/catalogue index idx; out >= 37 bytes */
void sim_uuid(const sim_data *d, int t, unsigned long idx, unsigned k, char *out);
/* Decodes a simulator uuid; 0 when valid for this seed (type, idx, k set). */
int sim_uuid_parse(const sim_data *d, const char *s, int *t, unsigned long *idx, unsigned *k);
unsigned sim_data_count(const sim_data *d, int t, unsigned long idx);
uint64_t sim_hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
const char *sim_given_name(const sim_patient *p);
const char *sim_middle_name(const sim_patient *p);
const char *sim_family_name(const sim_patient *p);
unsigned long sim_medication_catalogue_size(void);

/* ---- FHIR resource bodies (sim_fhir_res.c) ---- */
json_t *sim_res_build(const sim_data *d, const char *fhir_base, int t, unsigned long idx, unsigned k);
const char *sim_res_name(int t);
int sim_res_type(const char *name, size_t len);   /* 0 when unknown */

/* ---- scopes (sim_scope.c) ---- */
/* 1 if the server knows this one scope. */
int sim_scope_known(const char *s, size_t len);
/* Returns 0 when every scope in the space separated list is known, else -1 and
 * the first unknown one copied into bad (size badlen). Empty list = -1. */
int sim_scope_check(const char *list, char *bad, size_t badlen);
/* 1 if list contains exactly word. */
int sim_scope_has(const char *list, const char *word);
/* 1 if list holds ctx/resource with permission op ('r' read, 's' search, 'c' create). */
int sim_scope_allows(const char *list, const char *ctx, const char *resource, char op);
/* 1 if any scope begins with prefix ("user/", "system/"). */
int sim_scope_has_prefix(const char *list, const char *prefix);
/* Joins the words of a that are also in b (b NULL = all of a); caller frees. */
char *sim_scope_intersect(const char *a, const char *b);
/* a without api:* scopes (what the token response's scope shows); caller frees. */
char *sim_scope_public(const char *a);
/* 1 if list names a standard-API scope (user/patient.read, ...) but not
 * api:oemr; the first such scope is copied into bad.  OpenEMR refuses such a
 * token request with invalid_scope (OPENEMR.md §12). */
int sim_scope_api_without_oemr(const char *list, char *bad, size_t badlen);
json_t *sim_scope_server_list(void);

/* ---- keys and JWT (sim_tls.c, sim_jwt.c) ---- */
typedef struct sim_tls {
    char *ca_pem, *cert_pem, *key_pem;
} sim_tls;

/* ip_only: the server certificate names 127.0.0.1 only, not localhost. */
int sim_tls_make(sim_tls *t, int ip_only, char *err, size_t errlen);
void sim_tls_free(sim_tls *t);
int sim_rsa_new(gnutls_privkey_t *out);
json_t *sim_jwk_of(gnutls_privkey_t key);
/* Signs header.claims with RS256; *out is the compact JWT (caller frees). */
int sim_jwt_sign(gnutls_privkey_t key, json_t *claims, char **out);
/* An id_token under a header fault: alg "none" with an empty signature
 * (key NULL), or HS256 keyed with the client secret (key, keylen). */
int sim_jwt_sign_fault(const unsigned char *key, size_t keylen, json_t *claims, char **out);
/* Decodes (does not verify) the payload of a compact JWT. */
json_t *sim_jwt_payload(const char *tok, size_t len);

/* ---- faults and counters ---- */
enum sim_fault_kind {
    SIM_F_NONE = 0, SIM_F_LATENCY, SIM_F_5XX, SIM_F_RESET, SIM_F_TRUNCATED, SIM_F_DRIP,
    SIM_F_IDT_BAD_SIG, SIM_F_IDT_WRONG_ISS, SIM_F_IDT_WRONG_AUD, SIM_F_IDT_WRONG_NONCE,
    SIM_F_IDT_EXPIRED, SIM_F_IDT_NO_AUD, SIM_F_IDT_NO_NONCE, SIM_F_IDT_IAT_FUTURE,
    SIM_F_IDT_ALG_NONE, SIM_F_IDT_HS256,
    /* /oauth2/default/authorize: RFC 9207 iss in the code redirect (OpenEMR sends none) */
    SIM_F_AUTHZ_ISS, SIM_F_AUTHZ_ISS_WRONG,
    /* the OpenID discovery document advertises RFC 9207 iss support */
    SIM_F_DISC_ISS_SUPPORTED,
    /* the OpenID discovery document as OpenEMR with an empty "Site Address"
     * serves it: every URL relative (vap-host check names it) */
    SIM_F_DISC_RELATIVE,
    /* FHIR searches: a Bundle.link "next" (OpenEMR sends none; other FHIR
     * servers do): to the next _offset page under the FHIR base, or to
     * another host (the client must not follow it with its token) */
    SIM_F_NEXT_LINK, SIM_F_NEXT_LINK_FOREIGN,
    /* /oauth2/default/token, refresh only: 400 invalid_scope naming the first
     * requested scope, as OpenEMR refuses a scope it no longer allows */
    SIM_F_REFRESH_INVALID_SCOPE,
    /* Patient searches as a server that pages by itself (not OpenEMR): an
     * unpaged search returns at most `status` (default 10) entries, and
     * `total` counts every match */
    SIM_F_PAGED_TOTAL,
    /* the same, but a server that honours neither _count nor _offset: every
     * answer is the first `status` entries, total still every match */
    SIM_F_PAGED_TOTAL_STUCK,
    /* /oauth2/default/authorize, answered before OpenEMR looks: a reverse
     * proxy's Basic-auth 401 (empty body); a login page on another host (SSO);
     * the login page over http://; the login page as an absolute URL on the
     * issuer's origin (OpenEMR sends a relative one) */
    SIM_F_AUTHZ_BARE_401, SIM_F_AUTHZ_LOGIN_ELSEWHERE, SIM_F_AUTHZ_LOGIN_HTTP,
    SIM_F_AUTHZ_LOGIN_ABSOLUTE,
    /* FHIR searches: "total" off by `status` (default -1) from the entries */
    SIM_F_TOTAL_OFF,
    /* /oauth2/default/registration: the client is created enabled whatever
     * its scopes (an OpenEMR that does not hold user/ clients for approval) */
    SIM_F_REGISTER_ENABLED,
    /* /oauth2/default/registration: an inline jwks object is refused with
     * invalid_client_metadata, as some OpenEMR versions do (a jwks_uri
     * registers) */
    SIM_F_REGISTER_NO_INLINE_JWKS,
    /* /oauth2/default/token: an answer the client must keep although it is
     * odd (sim_token_odd.c): a refreshed id_token for another user, and
     * members of an unexpected type or name */
    SIM_F_TOKEN_IDT_OTHER_SUB, SIM_F_TOKEN_BANNER_STRING, SIM_F_TOKEN_EXPIRES_FRACTION,
    SIM_F_TOKEN_UNKNOWN_FIELDS,
    /* /oauth2/default/jwk answers 404 (the keys out of reach for a moment) */
    SIM_F_JWKS_NOT_FOUND,
    /* a FHIR route answers OpenEMR's 400 "Refresh Token revoked or logged
     * out" once, without revoking anything */
    SIM_F_FHIR_LOGGED_OUT
};
#define SIM_F_TOKEN_ODD_FIRST SIM_F_TOKEN_IDT_OTHER_SUB
#define SIM_F_TOKEN_ODD_LAST SIM_F_TOKEN_UNKNOWN_FIELDS
#define SIM_F_IDT_FIRST SIM_F_IDT_BAD_SIG
#define SIM_F_IDT_LAST SIM_F_IDT_HS256
#define SIM_MAX_FAULTS 32

typedef struct sim_fault {
    char route[160];        /* path; a trailing '*' matches a prefix */
    int kind, remaining, status, ms;
} sim_fault;

enum { SIM_G_CODE = 0, SIM_G_REFRESH, SIM_G_OTHER, SIM_G_CC, SIM_G_COUNT };
/* The global "Enable OpenEMR FHIR System Scopes" (rest_system_scopes_api):
 * off by default; /_sim/control/system-scopes {"enabled"} sets it. */
extern int sim_system_scopes;
#define SIM_MAX_ROUTES 48
#define SIM_CACHE_SLOTS 2048

/* ---- request / response ---- */
typedef struct sim_req {
    struct sim_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    sim_form query;
    const char *body;
    size_t body_len;
    sim_form form;          /* parsed body when form-urlencoded */
    int form_ok;
    const char *authorization;
    const char *content_type;
    const char *cookie;     /* authserverOpenEMR value or NULL */
} sim_req;

typedef struct sim_resp {
    int status;
    char *body;
    size_t len;
    const char *ctype;
    char *location;
    char *set_cookie;
    int www_basic;
    int no_store;
    const char *allow;      /* an Allow header (OPTIONS *), or NULL */
    int fault;              /* transport fault to apply (sim_server.c) */
    int fault_ms;
} sim_resp;

void sim_resp_json(sim_resp *r, int status, json_t *body);   /* steals body */
void sim_resp_html(sim_resp *r, int status, char *html);      /* steals html */
void sim_resp_redirect(sim_resp *r, int status, char *url);   /* steals url */
void sim_resp_free(sim_resp *r);
void sim_oauth_error(sim_resp *r, int status, const char *error, const char *desc,
                     const char *hint);
void sim_api_error(sim_resp *r, int status, const char *message);

extern const char SIM_DESC_INVALID_REQUEST[];
extern const char SIM_DESC_INVALID_GRANT[];
extern const char SIM_DESC_INVALID_SCOPE[];
extern const char SIM_DESC_ACCESS_DENIED[];

/* ---- the server ---- */
#define SIM_ROTATIONS_KEPT 256

struct sim_server {
    sim_config cfg;
    char auto_user[128];
    struct MHD_Daemon *mhd;
    unsigned short port;
    char base_url[64], issuer[96], fhir_base[96], api_base[96];
    char ca_path[512], state_dir[480];
    int made_dir;
    sim_tls tls;
    sim_data data;

    pthread_mutex_t lock;   /* guards everything below */
    sim_map clients, codes, access, refresh, sessions;
    sim_map jtis;           /* client assertion jti -> (long long) time it may be forgotten */
    json_t *hosted;         /* name -> document served at /_sim/hosted/NAME */
    int pkjwt_replay_next;  /* answer the next assertion as a replayed jti */
    gnutls_privkey_t keys[16];
    int nkeys;
    long long skew;
    int access_ttl;
    int cc_ttl;             /* client_credentials tokens: 60 s, or access-ttl once set */
    unsigned long inserts;
    sim_fault faults[SIM_MAX_FAULTS];
    /* CLOCK_MONOTONIC ns of the latest refresh grants answered with a new
     * refresh token (the old one revoked): a ring, rotations_total counts all */
    long long rotation_ns[SIM_ROTATIONS_KEPT];
    unsigned long rotations_total;

    /* rendered single resources (deterministic, so safe to reuse); Appointment
     * is never cached because its dates follow today's date */
    pthread_mutex_t cache_lock;
    struct sim_cached {
        int t;
        unsigned long idx;
        unsigned k;
        char *body;
        size_t len;
    } cache[SIM_CACHE_SLOTS];

    /* counters: updated with __atomic builtins */
    unsigned long grant_count[SIM_G_COUNT];
    unsigned long refresh_reuse;
    unsigned long soap_seq;
    unsigned long route_count[SIM_MAX_ROUTES];
};

typedef struct sim_server sim_srv;

long long sim_now(sim_srv *s);      /* wall clock + skew; caller holds no lock needed */
int sim_route_index(const char *name);
const char *sim_route_name(int i);
void sim_count_route(sim_srv *s, const char *name);
/* Takes one matching fault of a kind in [lo,hi]; returns kind or 0. Locks. */
int sim_fault_take(sim_srv *s, const char *path, int lo, int hi, int *status, int *ms);
/* sim_token_odd.c: the id_token sub a SIM_F_TOKEN_* fault asks for, and
 * the token response members it rewrites (odd = 0: none). */
const char *sim_token_odd_sub(int odd, const char *sub);
void sim_token_odd_apply(int odd, json_t *out);
/* 1 when a jwks_not_found fault on PATH was taken (answer 404). */
int sim_jwks_odd_take(sim_srv *s, const char *path);
/* 1 when a fhir_logged_out fault on PATH was taken (answer 400). */
int sim_fhir_odd_take(sim_srv *s, const char *path);
void sim_store_prune_locked(sim_srv *s);
int sim_client_add_locked(sim_srv *s, sim_client *c);    /* takes ownership */
int sim_staff_sub(sim_srv *s, const char *username, char *out, size_t outlen);

/* handlers: each fills resp */
void sim_h_openid_config(sim_req *q, sim_resp *r);
void sim_h_smart_config(sim_req *q, sim_resp *r);
void sim_h_metadata(sim_req *q, sim_resp *r);
void sim_h_jwk(sim_req *q, sim_resp *r);
void sim_h_registration(sim_req *q, sim_resp *r);
void sim_h_authorize(sim_req *q, sim_resp *r);
void sim_h_login_page(sim_req *q, sim_resp *r);
void sim_h_login(sim_req *q, sim_resp *r);
void sim_h_patient_select(sim_req *q, sim_resp *r);
void sim_h_patient_select_confirm(sim_req *q, sim_resp *r);
void sim_h_consent_page(sim_req *q, sim_resp *r);
void sim_h_device_code(sim_req *q, sim_resp *r);
void sim_h_token(sim_req *q, sim_resp *r);
void sim_h_introspect(sim_req *q, sim_resp *r);
void sim_h_logout(sim_req *q, sim_resp *r);
void sim_h_fhir(sim_req *q, sim_resp *r, const char *rest);
void sim_h_api(sim_req *q, sim_resp *r, const char *rest);
void sim_h_control(sim_req *q, sim_resp *r, const char *rest);

/* private_key_jwt (sim_pkjwt.c).  present: the request carries an assertion.
 * authenticate: 0 and *client_id (caller frees), or -1 with r filled (401
 * invalid_client naming the reason).  register: copies jwks / jwks_uri from
 * a registration body into c; -1 with why.  control: /_sim/host and
 * /_sim/hosted/NAME; 1 when it handled the request (in may be NULL). */
int sim_pkjwt_present(const sim_req *q);
int sim_pkjwt_authenticate(sim_req *q, sim_resp *r, int grant, char **client_id);
int sim_pkjwt_register(sim_client *c, const json_t *in, char *why, size_t wl);
int sim_pkjwt_control(sim_req *q, sim_resp *r, const char *rest, json_t *in);

/* Issues a code for a finished authorization and redirects (sim_oauth_authz.c). */
void sim_finish_authorize(sim_req *q, sim_resp *r, const sim_session *sess);

#endif
