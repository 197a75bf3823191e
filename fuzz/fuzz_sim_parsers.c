/* fuzz_sim_parsers.c - the simulator's parsers of request bytes: form bodies
 * (tests/sim/sim_util.c), id_token_hint payloads (sim_jwt.c), scope lists
 * (sim_scope.c), resource uuids (sim_data.c).  The first input byte
 * picks the parser; the rest is its input.  The simulator is test
 * infrastructure, but it parses whatever a buggy client sends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_data d;
    static int ready;
    if (!ready) {
        if (sim_data_init(&d, 10, 1) != 0)
            return 0;
        ready = 1;
    }
    if (size < 1 || size > 65536)
        return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    char *s = malloc(len + 1);
    if (!s)
        return 0;
    memcpy(s, buf, len);
    s[len] = '\0';      /* the server's strings come NUL-terminated from MHD */
    switch (data[0] % 4) {
    case 0: {
        sim_form f;
        if (sim_form_parse(buf, len, &f) == 0) {
            (void)sim_form_get(&f, "grant_type");
            sim_form_free(&f);
        }
        break;
    }
    case 1:
        json_decref(sim_jwt_payload(buf, len));
        break;
    case 2: {
        char bad[200];
        (void)sim_scope_check(s, bad, sizeof(bad));
        (void)sim_scope_allows(s, "patient", "Patient", 'r');
        free(sim_scope_intersect(s, "openid offline_access launch/patient"));
        free(sim_scope_public(s));
        break;
    }
    default: {
        int t;
        unsigned long idx;
        unsigned k;
        (void)sim_uuid_parse(&d, s, &t, &idx, &k);
        break;
    }
    }
    free(s);
    return 0;
}
