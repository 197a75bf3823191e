/* refresh_scope.c - the scope a renewal asks for (DESIGN.md rule 3): the
 * granted scopes, offline_access always (without it OpenEMR revokes the old
 * refresh token and issues none), nonce never, and api:oemr wherever a
 * standard-API scope needs it (OpenEMR refuses a renewal without it). */
#include <string.h>

#include "core/scope.h"
#include "oauth/refresh.h"

int refresh_scope(const char *granted, char *out, size_t cap)
{
    size_t o = 0, n = strlen(granted);
    int has_offline = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < n;) {
        while (i < n && granted[i] == ' ')
            i++;
        size_t s = i;
        while (i < n && granted[i] != ' ')
            i++;
        size_t l = i - s;
        if (l == 0 || (l == 5 && memcmp(granted + s, "nonce", 5) == 0))
            continue;
        if (l == 14 && memcmp(granted + s, "offline_access", 14) == 0)
            has_offline = 1;
        if (o + (o ? 1 : 0) + l + 1 > cap)
            return -1;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, granted + s, l);
        o += l;
        out[o] = '\0';
    }
    if (!has_offline) {
        if (o + (o ? 1 : 0) + 14 + 1 > cap)
            return -1;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, "offline_access", 15);
        o += 14;
    }
    /* OpenEMR refuses standard-API scopes without api:oemr, and granted
     * none without it: a grant stored without it (the server does not echo
     * api:*) gets it back rather than a refused renewal. */
    if (scope_has_std_api(out, o) && !scope_has(out, o, "api:oemr")) {
        if (o + 1 + 8 + 1 > cap)
            return -1;
        memcpy(out + o, " api:oemr", 10);
    }
    return 0;
}
