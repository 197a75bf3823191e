/* config.h - the instance's options, validated once at instance_new. */
#ifndef VAP_CONFIG_H
#define VAP_CONFIG_H

#include <stddef.h>
#include <vap/plugin.h>

enum config_grant {
    CONFIG_GRANT_AUTHORIZATION_CODE = 0, /* a staff member authorizes          */
    CONFIG_GRANT_CLIENT_CREDENTIALS      /* SMART Backend Services: no user    */
};

enum client_auth {
    CLIENT_AUTH_AUTO = 0,
    CLIENT_AUTH_BASIC,
    CLIENT_AUTH_POST,
    CLIENT_AUTH_PRIVATE_KEY_JWT
};

#define CONFIG_DEFAULT_REDIRECT_URI "http://localhost:8000/oauth/callback"
#define CONFIG_DEFAULT_SCOPE                                                       \
    "openid fhirUser offline_access api:fhir api:oemr user/Patient.read "          \
    "user/Appointment.read user/MedicationRequest.read user/Encounter.read "       \
    "user/AllergyIntolerance.read user/patient.read user/encounter.read user/soap_note.write"
/* grant=client_credentials: what a system/ token may read (US Core). */
#define CONFIG_DEFAULT_SYSTEM_SCOPE                                                \
    "api:fhir system/Patient.read system/Appointment.read system/Encounter.read "  \
    "system/MedicationRequest.read system/AllergyIntolerance.read "                \
    "system/Condition.read system/Observation.read"
#define CONFIG_DEFAULT_TIMEOUT_MS 10000L
#define CONFIG_DEFAULT_REFRESH_MARGIN_S 300L
#define CONFIG_DEFAULT_LEEWAY_S 120L
#define CONFIG_DEFAULT_MAX_RESPONSE (32L << 20)
#define CONFIG_DEFAULT_CONNECTIONS 8L
#define CONFIG_DEFAULT_WARM_CONNECTIONS 2L
#define CONFIG_DEFAULT_RENEW_TIMEOUT_MS 60000L

/* Every string is malloc'd and owned by the struct (config_free). */
struct config {
    char *issuer;       /* https, exact (compared with discovery)          */
    char *fhir_base;    /* https, no trailing slash                         */
    char *api_base;     /* derived: fhir_base with /api in place of /fhir   */
    char *client_id;    /* NULL until registered                            */
    char *redirect_uri;
    char *scope;
    char *store;        /* directory of sealed files                        */
    char *keyring;      /* keyring file                                     */
    char *ca_file;      /* NULL: the system bundle file                     */
    char *pin_sha256;   /* NULL, or curl's "sha256//...;sha256//..."        */
    char *jwks_uri;     /* NULL, or where OpenEMR reads the client's public
                           keys (check compares it with the sealed key)     */
    char *proxy;        /* NULL: from the environment (proxy=env); "": none;
                           else the proxy URL                               */
    char *grant_store;  /* NULL: the sealed file in store; else a PostgreSQL
                           URI or conninfo (no password: checked)           */
    enum client_auth client_auth;
    enum config_grant grant;
    int log_level;         /* VAP_LOG_*: lines above it are not logged     */
    long timeout_ms;
    long refresh_margin_s;
    long leeway_s;
    long max_response_bytes;
    long connections;      /* pooled connections (and parallel requests) */
    long warm_connections; /* opened ahead of need; 0: none              */
    long renew_timeout_ms; /* a sent token request's own budget         */
    unsigned scope_warnings; /* SCOPE_WARN_* of the configured scope         */
};

/* Validate n options into cfg (zeroed first).  Unknown and duplicate keys,
 * missing required keys and recognised mistakes fail with VAP_E_CONFIG and a
 * message naming the key; for a recognised mistake the message ends with the
 * corrected option, ready to paste.  Nothing is ever rewritten silently.
 * Scope warnings are returned in cfg->scope_warnings, not logged. */
int config_from_options(const vap_option *opts, size_t n, struct config *cfg,
                        vap_error *err);

/* The warning text for one SCOPE_WARN_* bit (for logs and `check`). */
const char *config_scope_warning_text(unsigned bit);

void config_free(struct config *cfg);

#endif
