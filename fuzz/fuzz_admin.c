/* fuzz_admin.c - the admin path's parsers (plugin/admin/admparse.c): the dynamic
 * registration answer, the OpenID configuration's scope list and PKCE
 * methods, the FHIR /metadata answer, and the scope comparison fed with
 * whatever scope list was accepted.  Every input goes through all four. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "admin/admparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    vap_error err;
    struct adm_reg reg;
    char secret[1025];
    size_t secret_len = 0;

    VAP_INIT(vap_error, err);
    if (adm_reg_parse(buf, size, &reg, secret, sizeof secret, &secret_len, &err) == 0) {
        /* Accepted: a non-empty id and a secret that fits, NUL-terminated. */
        if (reg.client_id[0] == '\0' || secret_len == 0 || secret_len >= sizeof secret ||
            secret[secret_len] != '\0' || strlen(secret) != secret_len)
            __builtin_trap();
    }
    struct adm_disc d;
    VAP_INIT(vap_error, err);
    if (adm_disc_parse(buf, size, &d, &err) == 0) {
        char missing[256];
        static const char configured[] = "openid fhirUser offline_access api:fhir user/Patient.read";
        size_t n = adm_scopes_missing(configured, sizeof configured - 1, d.scopes, missing,
                                      sizeof missing);
        if (n > 5 || strlen(missing) >= sizeof missing)
            __builtin_trap();
        adm_disc_free(&d);
    }
    char version[ADM_FHIR_VERSION_MAX];
    VAP_INIT(vap_error, err);
    if (adm_metadata_parse(buf, size, version, sizeof version, &err) == 0 &&
        strlen(version) >= sizeof version)
        __builtin_trap();
    /* The comparison over raw bytes as the configured side, too. */
    char out[128];
    adm_scopes_missing(buf, size, "openid offline_access", out, sizeof out);
    return 0;
}
