/*
 * vap/plugin.h - the ABI between a voice AI platform (the host) and a vap
 * plugin such as vap_openemr.so.  This header is the whole contract: a host
 * needs nothing else to load and drive a plugin.
 *
 * LOADING
 *   The host dlopen()s the module and looks up exactly one symbol,
 *   VAP_PLUGIN_ENTRY_SYMBOL ("vap_plugin_entry_v1").  The ABI major version is
 *   part of the symbol name: a breaking change gets a new symbol, so a plugin
 *   built for another major is simply "not a vap plugin" to this host.
 *   The entry point is called once, at start-up, before the host starts any
 *   worker thread.  It performs the global initialisation of the plugin's
 *   libraries (libcurl, GnuTLS, libsodium) and hands back a static,
 *   read-only descriptor of the plugin's functions.  A plugin is never
 *   unloaded (it is linked with -z nodelete): never call dlclose() on it.
 *   Call the entry point once per module file (compare device and inode):
 *   a second call returns the same descriptor but is not needed.
 *   A host that loads the file it checked through /proc/self/fd/N (so it
 *   cannot be swapped between the check and the load) must keep fd N open
 *   for the life of the process: glibc knows a library by the name it was
 *   opened under, so a reused N would hand back the first module again.
 *
 * COMPATIBILITY (append-only structs)
 *   Every struct that crosses the boundary starts with
 *       uint32_t struct_size;   sizeof the struct as the writer compiled it
 *       uint32_t abi_minor;     VAP_ABI_MINOR the writer compiled against
 *   Fields are only ever appended, never removed, reordered or retyped.  A
 *   reader touches a field only if VAP_HAS(ptr, field) is true, and accepts
 *   structs larger than it knows.  Use VAP_INIT(type, var) to fill the header
 *   of a struct you pass in.  The two pair types, vap_option and vap_header,
 *   are the exception: they travel in arrays, so they are frozen forever.
 *
 * OWNERSHIP
 *   Inputs are borrowed for the duration of the call only.  Every object the
 *   plugin returns through an out-pointer is owned by the plugin until the
 *   host passes it to api->release(), which frees it and wipes it.  Strings in
 *   returned objects are NUL-terminated UTF-8 and live as long as the object.
 *
 * THREADS
 *   After the entry point returns, every function of vap_plugin_api may be
 *   called concurrently from any thread, on the same instance or on different
 *   ones, except instance_free(), which the host calls once no other call on
 *   that instance is running.  The plugin never calls a host callback while it
 *   holds one of its own locks, so a callback may call back into the plugin.
 *   Host callbacks may be called from any thread the plugin runs on.
 *
 * FORK
 *   A child process created by fork() must not use an instance created by its
 *   parent: the plugin records the pid at instance_new() and refuses such
 *   calls with VAP_E_INVAL.  Create a new instance in the child instead.
 *
 * SECRETS
 *   No secret is ever an option (options name files that hold sealed
 *   secrets), and no message the plugin produces (log lines, vap_error)
 *   contains a token, secret, authorization code, PKCE verifier or patient
 *   data.  Response bodies returned by fetch are patient data: the host owns
 *   what it does with them.
 */
#ifndef VAP_PLUGIN_H
#define VAP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, for VAP_INIT */

#ifdef __cplusplus
extern "C" {
#endif

#define VAP_ABI_MAJOR 1
#define VAP_ABI_MINOR 4 /* 1: register_client and check (VAP_CAP_REGISTER/_CHECK)
                           2: VAP_CHECK_UNKNOWN (a caller whose vap_call, or
                              with no vap_call its vap_host_api, says minor
                              < 2 gets VAP_CHECK_WARN in its place)
                           3: backend services registration:
                              vap_register_request.jwks_uri,
                              vap_register_result.key_id
                           4: grant_store_init (VAP_CAP_GRANT_STORE_INIT) */

/* The only symbol a plugin exports.  Its type is vap_plugin_entry_fn. */
#define VAP_PLUGIN_ENTRY_SYMBOL "vap_plugin_entry_v1"

/* ---- compatibility helpers ------------------------------------------------ */

/* True when the struct behind ptr (as sized by its writer) contains field. */
#define VAP_HAS(ptr, field)                                                    \
    ((ptr) != NULL &&                                                          \
     (size_t)((const char *)&(ptr)->field - (const char *)(ptr)) +            \
             sizeof((ptr)->field) <=                                           \
         (size_t)(ptr)->struct_size)

/* Zero a struct the caller passes in and fill its size/version header. */
#define VAP_INIT(type, var)                                                    \
    do {                                                                       \
        memset(&(var), 0, sizeof(type));                                       \
        (var).struct_size = (uint32_t)sizeof(type);                            \
        (var).abi_minor = VAP_ABI_MINOR;                                       \
    } while (0)

/* ---- error codes ------------------------------------------------------------
 * Stable negative numbers a host may build policy on; 0 is success.  They
 * never change meaning.  The classes a host usually cares about:
 *   retry later:            VAP_E_UNAVAILABLE, VAP_E_TIMEOUT
 *   a person must authorize again:          VAP_E_REAUTH_REQUIRED
 *   the practice admin must fix the client: VAP_E_CLIENT, VAP_E_CONFIG
 *   not allowed (scope, ACL, role):         VAP_E_DENIED
 */
enum vap_status {
    VAP_OK = 0,
    VAP_E_INVAL = -1,            /* bad argument from the host, or misuse   */
    VAP_E_CONFIG = -2,           /* an option is wrong or missing            */
    VAP_E_ABI = -3,              /* struct too small, ABI mismatch           */
    VAP_E_UNSUPPORTED = -4,      /* this plugin or server cannot do that     */
    VAP_E_NOMEM = -5,            /* out of memory                            */
    VAP_E_IO = -6,               /* local file or system error               */
    VAP_E_SEAL = -7,             /* a sealed file or keyring cannot be used  */
    VAP_E_UNAVAILABLE = -8,      /* server down, 5xx, 429, reset (after retries) */
    VAP_E_TIMEOUT = -9,          /* the call's deadline passed               */
    VAP_E_TLS = -10,             /* certificate, host name or pin refused    */
    VAP_E_CANCELLED = -11,       /* the call's cancel token fired            */
    VAP_E_REAUTH_REQUIRED = -12, /* the grant is dead: authorize again       */
    VAP_E_CLIENT = -13,          /* client rejected: bad secret, disabled    */
    VAP_E_DENIED = -14,          /* refused: missing scope, ACL, role        */
    VAP_E_PROTOCOL = -15,        /* the server broke the protocol            */
    VAP_E_HTTP = -16             /* any other non-2xx status; body returned  */
};

/* ---- log levels ------------------------------------------------------------ */
enum vap_log_level {
    VAP_LOG_ERROR = 0,
    VAP_LOG_WARN = 1,
    VAP_LOG_INFO = 2,
    VAP_LOG_DEBUG = 3
};

/* ---- capability bits (vap_plugin_api.caps) ---------------------------------- */
#define VAP_CAP_AUTHORIZE (UINT64_C(1) << 0) /* authorize_begin/_complete */
#define VAP_CAP_REFRESH (UINT64_C(1) << 1)
#define VAP_CAP_FETCH (UINT64_C(1) << 2)
#define VAP_CAP_STATUS (UINT64_C(1) << 3)
#define VAP_CAP_RELOAD (UINT64_C(1) << 4)
#define VAP_CAP_CANCEL (UINT64_C(1) << 5) /* cancel_new/_fire/_free */
#define VAP_CAP_REGISTER (UINT64_C(1) << 6) /* register_client; since minor 1 */
#define VAP_CAP_CHECK (UINT64_C(1) << 7)    /* check; since minor 1 */
#define VAP_CAP_GRANT_STORE_INIT (UINT64_C(1) << 8) /* grant_store_init; since minor 4 */

/* ---- frozen pair types (arrays; never extended) ----------------------------- */

/* One key=value option from the host's config line.  Both borrowed. */
typedef struct vap_option {
    const char *key;
    const char *value;
} vap_option;

/* One HTTP header.  In a response, owned by the response object. */
typedef struct vap_header {
    const char *name;
    const char *value;
} vap_header;

/* ---- opaque handles --------------------------------------------------------- */
typedef struct vap_instance vap_instance; /* one configured connection      */
typedef struct vap_cancel vap_cancel;     /* a cancel token (thread-safe)   */

/* ---- the error out-parameter ---------------------------------------------------
 * Caller-allocated (VAP_INIT it).  On failure the plugin fills code (the same
 * value the function returns), and message: one line, what went wrong and
 * what to do, never a secret.  http_status is the last HTTP status seen (0 if
 * none); retry_after_s a server's Retry-After (0 if none); oauth_error the
 * OAuth "error" code the server sent ("invalid_grant", ...), "" if none.
 */
typedef struct vap_error {
    uint32_t struct_size;
    uint32_t abi_minor;
    int code;
    int http_status;
    int retry_after_s;
    char oauth_error[64];
    char message[256];
} vap_error;

/* ---- per-call context -----------------------------------------------------------
 * deadline_ms: absolute time in the host clock (now_ms, or CLOCK_REALTIME in
 * ms when the host gives none) by which the whole call, retries included,
 * must end; 0 means "now + the instance's timeout_ms".  cancel: NULL, or a
 * token from cancel_new() that another thread may fire to end the call
 * promptly with VAP_E_CANCELLED.  A NULL vap_call means all defaults.
 */
typedef struct vap_call {
    uint32_t struct_size;
    uint32_t abi_minor;
    int64_t deadline_ms;
    vap_cancel *cancel;
} vap_call;

/* ---- the host's services, handed to the entry point -----------------------------
 * Owned by the host; must stay valid until the process exits.
 * log:    required.  msg is one preformatted line without a newline, with
 *         control characters removed, never containing a secret.
 * now_ms: optional (NULL = wall clock).  Milliseconds since the Unix epoch;
 *         an injectable clock for tests.  Used for token expiry decisions.
 * metric: optional.  A named counter (value 1 per event) or duration (value
 *         in milliseconds), one call per event, from the thread the event
 *         happened on; the names are the VAP_METRIC_* below.  The plugin
 *         calls it only where the event happened, never while holding a
 *         lock the host could need, and never with patient data.
 */

/* Metric names (append-only; a host may match on them).
 * Token endpoint requests (code exchange, refresh, client credentials; not
 * the probes of check and register), one counter per request by outcome,
 * and each request's duration: */
#define VAP_METRIC_TOKEN_OK "token.requests.ok"                   /* 2xx              */
#define VAP_METRIC_TOKEN_REAUTH "token.requests.reauth_required"  /* grant/code dead  */
#define VAP_METRIC_TOKEN_CLIENT "token.requests.client_rejected"  /* invalid_client   */
#define VAP_METRIC_TOKEN_UNAVAILABLE "token.requests.unavailable" /* 5xx, 429, no answer, timeout */
#define VAP_METRIC_TOKEN_OTHER "token.requests.other_error"       /* config, protocol ... */
#define VAP_METRIC_TOKEN_MS "token.latency_ms"
/* A refresh that renewed the grant (sealed and in use): */
#define VAP_METRIC_RENEWALS "refresh.renewals"
/* Fetches (vap_plugin_api.fetch), one counter per call by the class of the
 * last HTTP status (retries and a renewal included), and each call's
 * duration: */
#define VAP_METRIC_FETCH_2XX "fetch.status.2xx"
#define VAP_METRIC_FETCH_3XX "fetch.status.3xx"
#define VAP_METRIC_FETCH_4XX "fetch.status.4xx"
#define VAP_METRIC_FETCH_5XX "fetch.status.5xx"
#define VAP_METRIC_FETCH_NONE "fetch.status.none" /* no HTTP answer (network, TLS, ...) */
#define VAP_METRIC_FETCH_MS "fetch.latency_ms"
typedef struct vap_host_api {
    uint32_t struct_size;
    uint32_t abi_minor;
    void *ctx;
    void (*log)(void *ctx, int level, const char *msg);
    int64_t (*now_ms)(void *ctx);
    void (*metric)(void *ctx, const char *name, double value);
} vap_host_api;

/* ---- authorize ----------------------------------------------------------------
 * authorize_begin starts a code flow (PKCE S256, state, nonce, aud) and
 * returns the URL to open in the browser plus the redirect URI the browser
 * will come back to.  The pending transaction lives in this process's memory
 * (with an expiry); authorize_complete must run in the same process.
 */
typedef struct vap_authorize_request { /* optional input; NULL = defaults */
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *scope;  /* NULL: the configured scope                        */
    const char *launch; /* NULL: standalone launch; else the EHR launch id   */
} vap_authorize_request;

typedef struct vap_authorize_begin_result {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *url;          /* open this in the staff member's browser     */
    const char *redirect_uri; /* where the browser returns (for a listener)  */
    int64_t expires_at_ms;    /* the transaction is forgotten after this     */
} vap_authorize_begin_result;

/* What a grant looks like from outside: never a token value. */
enum vap_grant_state {
    VAP_GRANT_NONE = 0,           /* nothing stored: authorize first         */
    VAP_GRANT_VALID = 1,          /* access token valid now                  */
    VAP_GRANT_EXPIRED = 2,        /* access token expired; refresh will renew */
    VAP_GRANT_REAUTH_REQUIRED = 3 /* refresh token dead: authorize again     */
};

typedef struct vap_grant_info {
    uint32_t struct_size;
    uint32_t abi_minor;
    int state;                    /* enum vap_grant_state                    */
    const char *scope;            /* the scopes actually granted             */
    const char *patient;          /* patient context (FHIR id) or ""         */
    const char *encounter;        /* encounter context or ""                 */
    const char *subject;          /* id_token sub: the user who authorized   */
    const char *fhir_user;        /* fhirUser claim or ""                    */
    int64_t access_expires_at_ms; /* when the access token expires           */
    int64_t obtained_at_ms;       /* when the grant was last renewed         */
    uint64_t generation;          /* sealed-file generation                  */
    int has_refresh_token;        /* 0: cannot be renewed without a person   */
    int64_t renew_due_at_ms;      /* when the plugin renews the access token
                                     ahead of need (in the background, in a
                                     running host); 0: it cannot             */
} vap_grant_info;

/* ---- fetch ------------------------------------------------------------------ */
#define VAP_FETCH_STANDARD_API (1u << 0) /* path is under OpenEMR's /api base  */
#define VAP_FETCH_ALL_PAGES (1u << 1)    /* follow paging, merge one Bundle    */
/* VAP_FETCH_ALL_PAGES adds nothing to the first request (OpenEMR 7.0.3
 * answers any search carrying _count or _offset with no match).  It asks for
 * more only when the answer shows the server pages: Bundle.link[next] (under
 * fhir_base), or a Bundle "total" larger than its entries (then _count and
 * _offset).  A query that carries _count itself is paged by _offset.  A
 * merged Bundle that stopped early (max_pages, a paged answer that came
 * back empty, a page that repeats an earlier one), or whose entries are not
 * as many as the server's total, carries the header X-Vap-Pages-Truncated: 1.
 * Its "total" is the server's count of matches when the server gave one,
 * else the merged count when every page was read, else absent. */

typedef struct vap_fetch_request {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *method;       /* "GET" (NULL), "POST", "PUT"                  */
    const char *path;         /* relative to fhir_base, e.g. "Patient/123"    */
    const char *query;        /* without '?', already encoded; may be NULL    */
    const void *body;         /* request body, or NULL                        */
    size_t body_len;
    const char *content_type; /* of body; NULL: application/json              */
    uint32_t flags;           /* VAP_FETCH_*                                  */
    uint32_t max_pages;       /* with VAP_FETCH_ALL_PAGES; 0: plugin default  */
} vap_fetch_request;

typedef struct vap_fetch_response {
    uint32_t struct_size;
    uint32_t abi_minor;
    int status;               /* HTTP status                                  */
    const char *content_type; /* "" if none                                   */
    const char *body;         /* body bytes, NUL-terminated for convenience   */
    size_t body_len;
    const vap_header *headers; /* selected response headers                  */
    size_t n_headers;
    uint32_t pages;           /* pages fetched (1 without paging)             */
} vap_fetch_response;

/* ---- register (since minor 1) ------------------------------------------------
 * Dynamic client registration at the server's registration endpoint as a
 * confidential client (OpenEMR: application_type "private"), with the
 * configured redirect URI and scope.  The client secret the server returns
 * is sealed straight into the store (item "client_secret", bound to the
 * issuer and the new client_id); it is never returned, logged or printed.
 * The instance must have no client_id yet (VAP_E_CONFIG otherwise).  The
 * instance itself is not changed: the host writes client_id into its config
 * (or shows it to the admin) and creates a new instance.
 *
 * An instance with grant=client_credentials registers a backend services
 * client instead: grant_types ["client_credentials"], private_key_jwt, the
 * configured system/ scopes, and the public half of the signing key already
 * sealed by vap-seal keygen (VAP_E_CONFIG naming keygen when there is
 * none), inline or, with jwks_uri, by reference.  The key is then bound to
 * the new client_id; the secret OpenEMR issues anyway is wiped unused.
 */
typedef struct vap_register_request { /* optional input; NULL = defaults */
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *client_name; /* NULL: "Voice AI Platform"                    */
    /* Since minor 3: */
    const char *jwks_uri;    /* backend only: register this https URL, which
                                must already serve the sealed key's JWKS,
                                instead of the JWKS inline; NULL: inline    */
} vap_register_request;

typedef struct vap_register_result {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *client_id;    /* the new client's id (not a secret)          */
    int enabled;              /* 1 usable now; 0 created disabled (an admin
                                 must enable it); -1 the server did not say  */
    const char *next_steps;   /* what the admin does next: the exact steps to
                                 enable a disabled client, else ""           */
    /* Since minor 3: */
    const char *key_id;       /* the kid of the registered signing key (its
                                 public half is not a secret), or "" when the
                                 client has a secret instead                 */
} vap_register_result;

/* ---- check (since minor 1) ----------------------------------------------------
 * The configuration tried against the server, one item per check, in order.
 * Items are reached through an array of pointers so that vap_check_item can
 * grow (append-only) like every other struct.
 */
enum vap_check_result {
    VAP_CHECK_PASS = 0, /* fine                                              */
    VAP_CHECK_WARN = 1, /* works, but the admin should read the message      */
    VAP_CHECK_FAIL = 2, /* broken: the message says what to fix              */
    VAP_CHECK_SKIP = 3, /* not run because an earlier check failed           */
    VAP_CHECK_UNKNOWN = 4 /* since minor 2: the server cannot tell yet: the
                             message says when it will be known (never counted
                             as passed; a host shows any value it does not
                             know like this one) */
};

typedef struct vap_check_item {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *name;    /* stable short name: "connection", "discovery", ... */
    int result;          /* enum vap_check_result                            */
    int code;            /* with FAIL: the vap_status class of the failure   */
    const char *message; /* one line: what was found, and with FAIL the fix  */
} vap_check_item;

typedef struct vap_check_report {
    uint32_t struct_size;
    uint32_t abi_minor;
    const vap_check_item *const *items;
    size_t n_items;
    size_t n_failed;   /* items with VAP_CHECK_FAIL                         */
    size_t n_warnings; /* items with VAP_CHECK_WARN                         */
    /* Since minor 2: */
    size_t n_unknown;  /* items with VAP_CHECK_UNKNOWN                      */
} vap_check_report;

/* ---- the plugin's descriptor ---------------------------------------------------
 * Static and read-only; valid for the life of the process.  Functions whose
 * caps bit is clear may be NULL.  Every function that can fail returns
 * VAP_OK or a negative vap_status, and fills *err (which may be NULL).
 */
typedef struct vap_plugin_api {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *name;    /* "openemr"                                          */
    const char *version; /* the plugin's release, e.g. "0.1.0"                 */
    uint64_t caps;       /* VAP_CAP_* bits                                     */

    /* Validate the options and create an instance.  Unknown or duplicate
     * keys, and recognised mistakes, fail with VAP_E_CONFIG naming the key
     * (for a recognised mistake: the corrected option, ready to paste). */
    int (*instance_new)(const vap_option *opts, size_t n_opts,
                        vap_instance **out, vap_error *err);
    void (*instance_free)(vap_instance *inst);

    int (*authorize_begin)(vap_instance *inst, const vap_call *call,
                           const vap_authorize_request *req,
                           vap_authorize_begin_result **out, vap_error *err);
    /* callback: the full redirect URL the browser came back to, or its
     * query string alone; len bytes, need not be NUL-terminated. */
    int (*authorize_complete)(vap_instance *inst, const vap_call *call,
                              const char *callback, size_t len,
                              vap_grant_info **out, vap_error *err);
    /* Renew the access token now (single-flight across threads/processes). */
    int (*refresh)(vap_instance *inst, const vap_call *call,
                   vap_grant_info **out, vap_error *err);
    /* An authenticated request.  A non-2xx answer is an error (VAP_E_HTTP,
     * VAP_E_DENIED, ...) and, where the server sent a body, *out is still
     * set so the host can read it; release it either way. */
    int (*fetch)(vap_instance *inst, const vap_call *call,
                 const vap_fetch_request *req, vap_fetch_response **out,
                 vap_error *err);
    /* The stored grant's state; VAP_OK with state VAP_GRANT_NONE when none. */
    int (*status)(vap_instance *inst, const vap_call *call,
                  vap_grant_info **out, vap_error *err);
    /* Re-read the keyring and sealed files after an admin rotated them. */
    int (*reload)(vap_instance *inst, const vap_call *call, vap_error *err);

    /* Free and wipe any object the plugin returned.  NULL is a no-op. */
    void (*release)(void *obj);
    /* A short constant description of a vap_status code. */
    const char *(*strerror)(int code);

    vap_cancel *(*cancel_new)(void); /* NULL on out of memory              */
    void (*cancel_fire)(vap_cancel *c); /* any thread; idempotent          */
    void (*cancel_free)(vap_cancel *c); /* once no call uses it            */

    /* Since minor 1 (check VAP_HAS and the caps bit before calling). */
    /* Register a confidential client (see vap_register_request above). */
    int (*register_client)(vap_instance *inst, const vap_call *call,
                           const vap_register_request *req,
                           vap_register_result **out, vap_error *err);
    /* Run every check.  VAP_OK when the report was made, whatever it says:
     * look at (*out)->n_failed; an error only when no report could be made
     * (out of memory, bad arguments). */
    int (*check)(vap_instance *inst, const vap_call *call,
                 vap_check_report **out, vap_error *err);

    /* Since minor 4.  A grant shared in a database (the openemr plugin's
     * grant_store=postgresql://...): create its table if it is missing;
     * *created is 1 when it was.  VAP_E_CONFIG when the instance keeps its
     * grant in a file, or the role may not create the table. */
    int (*grant_store_init)(vap_instance *inst, const vap_call *call, int *created,
                            vap_error *err);
} vap_plugin_api;

/* The entry point.  host must outlive the process.  On success sets *out to
 * the plugin's static descriptor and returns VAP_OK.  Returns VAP_E_ABI when
 * host is too small or from an unknown major. */
typedef int (*vap_plugin_entry_fn)(const vap_host_api *host,
                                   const vap_plugin_api **out, vap_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VAP_PLUGIN_H */
