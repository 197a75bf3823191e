/* fuzz_discovery.c - discovery documents (plugin/oauth/discovery.c): the OpenID
 * configuration against OpenEMR's and a loopback provider's issuer, and
 * the SMART configuration. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oauth/discovery.h"
#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const issuers[] = {
        "https://emr.example.org/oauth2/default",
        "https://127.0.0.1:3000",
    };
    const char *buf = (const char *)data;
    vap_error err;

    for (size_t i = 0; i < sizeof issuers / sizeof issuers[0]; i++) {
        disc_oidc d;
        VAP_INIT(vap_error, err);
        if (disc_oidc_parse(buf, size, issuers[i], &d, &err) != VAP_OK)
            continue;
        /* Whatever was accepted must be on the issuer's origin. */
        struct url_parts got, want;
        if (url_split(d.token_endpoint, strlen(d.token_endpoint), &got) != 0 ||
            url_split(issuers[i], strlen(issuers[i]), &want) != 0 ||
            !url_same_origin(&got, &want) || d.algs == 0)
            __builtin_trap();
        unsigned method;
        disc_client_auth(&d, "auto", 0, &method, &err);
        disc_oidc_free(&d);
    }
    disc_smart s;
    if (disc_smart_parse(buf, size, &s, &err) == VAP_OK) {
        disc_smart_has(&s, "permission-v2");
        disc_smart_free(&s);
    }
    return 0;
}
