/* fetch.h - authenticated requests to the FHIR base or OpenEMR's standard
 * API, with the grant rules of refresh.h (proactive renewal, one renewal and
 * one retry after a 401, bounded retries of transient failures). */
#ifndef VAP_FETCH_H
#define VAP_FETCH_H

#include <stddef.h>
#include <vap/plugin.h>

struct vap_instance;

#define FETCH_PATH_MAX 2048
#define FETCH_QUERY_MAX 4096

/* Check a path relative to the base: no scheme, no "..", no "%2e" "%2f" "%5c", no
 * control characters, no '?' '#' '\\' or empty segments; one leading '/' is
 * allowed.  Pure.  VAP_OK or VAP_E_INVAL with the reason. */
int fetch_check_path(const char *path, size_t len, vap_error *err);
/* 1 if a 400 body is OpenEMR's "Refresh Token revoked or logged out"
 * (the grant is dead), in its error, error_description or message field
 * only.  Pure. */
int fetch_is_logged_out(const char *body, size_t len);
/* A query: printable, no space, '#', CR or LF.  Pure. */
int fetch_check_query(const char *query, size_t len, vap_error *err);

/* A readable one-line summary of an error body (OpenEMR's
 * {"error","message"}, `[]`, FHIR OperationOutcome, validationErrors, or
 * plain text), cleaned of control characters.  Pure. */
void fetch_error_summary(const char *body, size_t len, char *out, size_t cap);

/* The scope a request needs, for E_DENIED messages ("user/Patient.read" /
 * "api:oemr user/soap_note.write").  ctx is "user" or "patient".  Pure. */
void fetch_needed_scope(const char *path, int standard_api, int write, const char *ctx,
                        char *out, size_t cap);

/* The ABI's fetch. */
int fetch_do(struct vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
             vap_fetch_response **out, vap_error *err);

#endif
