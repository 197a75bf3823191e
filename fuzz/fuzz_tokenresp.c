/* fuzz_tokenresp.c - token endpoint bodies (plugin/oauth/tokenresp.c and
 * tokenresp_refreshed.c): the strict success parser, the refresh's lenient
 * one (which must accept at least what the strict one does, with the same
 * refresh token), the error-body parser and the classifier over both
 * grants and a spread of statuses. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oauth/tokenresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {400, 401, 404, 429, 503};
    const char *body = (const char *)data;
    vap_error err;
    tokresp t;

    VAP_INIT(vap_error, err);
    int strict_ok = tokresp_parse(body, size, &t, &err) == VAP_OK;
    if (strict_ok && (t.access_token == NULL || t.access_token[0] == '\0'))
        __builtin_trap();
    tokresp r;
    char warn[512];
    VAP_INIT(vap_error, err);
    int lenient_ok = tokresp_parse_refreshed(body, size, &r, warn, sizeof warn, &err) == VAP_OK;
    if ((strict_ok && !lenient_ok) || memchr(warn, '\0', sizeof warn) == NULL ||
        (lenient_ok && (r.access_token == NULL || r.access_token[0] == '\0')) ||
        (strict_ok && lenient_ok &&
         ((t.refresh_token == NULL) != (r.refresh_token == NULL) ||
          (t.refresh_token && strcmp(t.refresh_token, r.refresh_token) != 0))))
        __builtin_trap();
    if (strict_ok)
        tokresp_free(&t);
    tokresp_free(&r);
    tokresp_error e;
    tokresp_error_parse(body, size, &e);
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        tokresp_ctx ctx = {(tokresp_grant)(i & 1),
                           "http://localhost:8000/oauth/callback", 0, "openid offline_access",
                           "openid"};
        VAP_INIT(vap_error, err);
        int rc = tokresp_classify(statuses[i], body, size, &ctx, &err);
        if (rc >= 0 || err.code != rc ||
            memchr(err.message, '\0', sizeof err.message) == NULL)
            __builtin_trap();
    }
    return 0;
}
