/* http_redact.h - making request/response text safe to log.  The HTTP layer
 * runs everything it logs through these, so a debug log never carries an
 * Authorization header, a secret form field or a token-looking JSON value. */
#ifndef VAP_HTTP_REDACT_H
#define VAP_HTTP_REDACT_H

#include <stddef.h>

#define HTTP_REDACTED "[redacted]"

/* True when a form field / JSON key / query parameter named name[0..len)
 * holds a secret (client_secret, code, code_verifier, refresh_token,
 * password, access_token, id_token, assertion, client_assertion, ...).
 * Percent-encoded names are decoded before the comparison. */
int http_redact_is_secret_name(const char *name, size_t len);

/* True when a string value looks like a token: a JWT ("eyJ..."), an
 * OpenEMR blob ("def50200..."), or 24+ characters of token alphabet. */
int http_redact_looks_like_token(const char *v, size_t len);

/* Each writes a NUL-terminated redacted copy of in[0..len) into out and
 * returns the length written; output longer than out_cap - 1 is cut and
 * ends with "...".  out_cap must be at least 16. */
size_t http_redact_form(const char *in, size_t len, char *out, size_t out_cap);
size_t http_redact_json(const char *in, size_t len, char *out, size_t out_cap);
/* One "Name: value" header line: credentials and cookies are replaced. */
size_t http_redact_header(const char *in, size_t len, char *out, size_t out_cap);
/* A URL: secret-named query parameters are replaced, and so are the path
 * segments that carry ids (Patient/ID, /api/patient/ID/...). */
size_t http_redact_url(const char *in, size_t len, char *out, size_t out_cap);

#endif
