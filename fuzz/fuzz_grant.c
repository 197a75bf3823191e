/* fuzz_grant.c - the grant payload read back from a sealed file
 * (plugin/oauth/grant.c), and the serializer round trip of whatever parses. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/grant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct grant *g, *g2;
    static char *buf;
    if (g == NULL) {
        if (sodium_init() < 0)
            abort();
        g = grant_new();
        g2 = grant_new();
        buf = malloc(GRANT_PAYLOAD_MAX);
        if (g == NULL || g2 == NULL || buf == NULL)
            abort();
    }
    char why[128];
    if (grant_parse((const char *)data, size, g, why, sizeof why) != 0)
        return 0;
    size_t len = 0;
    if (grant_serialize(g, buf, GRANT_PAYLOAD_MAX, &len) != 0)
        return 0; /* a parsed grant can outgrow the payload cap only by escaping */
    /* What we write, we must read back identically. */
    if (grant_parse(buf, len, g2, why, sizeof why) != 0 ||
        memcmp(g->access_token, g2->access_token, sizeof g->access_token) != 0 ||
        strcmp(g->scope, g2->scope) != 0 || g->access_expires_at_ms != g2->access_expires_at_ms)
        abort();
    return 0;
}
