/* fuzz_redirect.c - the browser callback parser (plugin/oauth/redirect.c): the
 * URL or query a browser, or a person pasting, hands to
 * authorize_complete. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oauth/redirect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redirect_result r;
    vap_error err;

    VAP_INIT(vap_error, err);
    if (redirect_parse((const char *)data, size, &r, &err) != VAP_OK)
        return 0;
    /* Touch every field the parser promised: NUL-terminated strings. */
    const char *fields[] = {r.code, r.state, r.iss, r.error, r.error_description,
                            r.error_uri, r.hint, r.base, r.path};
    size_t total = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i] != NULL)
            total += strlen(fields[i]);
    if (total > 2 * size + 8)
        __builtin_trap();
    redirect_check_target(&r, "http://localhost:8000/oauth/callback", &err);
    redirect_error_status(&r, &err);
    redirect_free(&r);
    return 0;
}
