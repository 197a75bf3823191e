/* fuzz_listener.c - the two parsers of vap-host's loopback listener
 * (host-sdk/listener.c) that see outside text: the split of the configured
 * redirect URI into the host, port and path it binds, and the HTML escaping
 * of the result page (whose detail can quote a server's error_description).
 * libmicrohttpd parses the browser's request itself.  The first byte picks
 * the function; the rest, NUL-terminated, is its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_listener_escape(const char *s)
{
    static const size_t caps[] = {1, 2, 6, 64, 4096};
    static char out[4096];
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        memset(out, 'X', sizeof out);
        size_t n = listener_html_escape(s, out, caps[i]);
        if (n >= caps[i] || out[n] != '\0' || strlen(out) != n)
            abort();
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)out[k];
            if (c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20 || c == 0x7f)
                abort(); /* markup or a control character reached the page */
            if (c == '&' && strncmp(out + k, "&amp;", 5) != 0 && strncmp(out + k, "&lt;", 4) != 0 &&
                strncmp(out + k, "&gt;", 4) != 0 && strncmp(out + k, "&quot;", 6) != 0 &&
                strncmp(out + k, "&#39;", 5) != 0)
                abort(); /* a bare '&' or a cut entity */
        }
    }
}

static void fuzz_listener_split(const char *uri)
{
    char host[128], path[512];
    unsigned port = 0;
    if (listener_split_redirect(uri, host, sizeof host, &port, path, sizeof path) != 0)
        return;
    if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0 &&
        strcmp(host, "::1") != 0)
        abort(); /* would bind something else than loopback */
    if (port == 0 || port > 65535)
        abort();
    if (path[0] != '/' || strpbrk(path, "?#") != NULL)
        abort(); /* a path the browser's request line can never match */
    /* The port, if written, is plain digits: what the browser will use. */
    const char *after = uri + 7 + (uri[7] == '[' ? strlen(host) + 2 : strlen(host));
    if (*after == ':') {
        size_t d = strspn(after + 1, "0123456789");
        if (d == 0 || (after[1 + d] != '/' && after[1 + d] != '\0'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (data[0] & 1)
        fuzz_listener_split(s);
    else
        fuzz_listener_escape(s);
    free(s);
    return 0;
}
