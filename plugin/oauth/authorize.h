/* authorize.h - the code flow: discovery, authorize_begin, authorize_complete
 * (callback checks, code exchange, id_token validation, sealing the grant),
 * and the JWKS cache the refresh path reuses. */
#ifndef VAP_AUTHORIZE_H
#define VAP_AUTHORIZE_H

#include <pthread.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "oauth/discovery.h"
#include "jose/jwk.h"

struct vap_instance;
struct authtx_table;

#define AUTHZ_DISCOVERY_TTL_MS (60L * 60 * 1000) /* refetched hourly and on failure */
#define AUTHZ_JWKS_REFETCH_PER_MIN 10           /* unknown kid: bounded refetching */
#define AUTHZ_URL_MAX 2048

/* The endpoints a call needs, copied out of the cache under its lock. */
struct authz_endpoints {
    char authorization[AUTHZ_URL_MAX];
    char token[AUTHZ_URL_MAX];
    char jwks[AUTHZ_URL_MAX];
    char registration[AUTHZ_URL_MAX]; /* "" when not advertised */
    unsigned algs;
    unsigned auth_method; /* a DISC_AUTH_* bit, from client_auth */
    int iss_parameter_supported;
};

struct authz {
    pthread_mutex_t mu;
    int have_disc;
    disc_oidc disc;
    int64_t disc_fetched_ms;
    struct jwks *jwks; /* NULL until fetched */
    int64_t jwks_refetch_ms[AUTHZ_JWKS_REFETCH_PER_MIN];
    struct authtx_table *tx;
    int exchanges;          /* code exchanges in flight (renewer thread) */
    pthread_cond_t idle_cv; /* signalled as each one ends                */
};

int authz_init(struct authz *a, vap_error *err);
void authz_destroy(struct authz *a);
/* instance_free: wait for code exchanges in flight to end and be sealed
 * (each bounded by renew_timeout_ms). */
void authz_settle(struct vap_instance *inst);

/* Discovery (cached): fills ep.  force refetches. */
int authz_endpoints(struct vap_instance *inst, int64_t deadline_ms, vap_cancel *cancel,
                    int force, struct authz_endpoints *ep, vap_error *err);

/* Verify a compact id_token with the cached JWKS (fetched, and refetched
 * once on an unknown key or a failed signature, rate-limited), then parse its
 * claims into *claims (jose_claims_free).  VAP_OK or VAP_E_PROTOCOL. */
struct jose_claims;
int authz_verify_id_token(struct vap_instance *inst, const struct authz_endpoints *ep,
                          const char *id_token, int64_t deadline_ms, vap_cancel *cancel,
                          struct jose_claims *claims, vap_error *err);

/* As authz_verify_id_token; *keys_unavailable is set when the keys could not
 * be fetched (or refetched, within the rate limit) to check it, so that a
 * failure is not a signature proven bad with fresh keys (rule 9). */
int authz_verify_id_token_ex(struct vap_instance *inst, const struct authz_endpoints *ep,
                             const char *id_token, int64_t deadline_ms, vap_cancel *cancel,
                             struct jose_claims *claims, int *keys_unavailable, vap_error *err);

/* Fetch the JWKS now unless it is cached.  The refresh path calls it before
 * the token request, so that checking the new id_token needs no network
 * call after the server has rotated the refresh token (a failure or a kill
 * there would lose the grant).  VAP_OK or the fetch's error. */
int authz_jwks_prefetch(struct vap_instance *inst, const struct authz_endpoints *ep,
                        int64_t deadline_ms, vap_cancel *cancel, vap_error *err);

/* The call's absolute deadline (host clock) from a vap_call. */
int64_t authz_deadline(const struct vap_instance *inst, const vap_call *call);
vap_cancel *authz_cancel(const vap_call *call);

/* The ABI functions. */
int authorize_begin(struct vap_instance *inst, const vap_call *call,
                    const vap_authorize_request *req, vap_authorize_begin_result **out,
                    vap_error *err);
int authorize_complete(struct vap_instance *inst, const vap_call *call, const char *callback,
                       size_t len, vap_grant_info **out, vap_error *err);

#endif
