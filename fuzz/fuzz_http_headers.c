/* fuzz_http_headers.c - response header handling of the HTTP layer
 * (plugin/http/http_hdr.c): the input is a header block split into lines as
 * libcurl delivers them; Retry-After and Link values found are parsed too. */
#include <stdint.h>
#include <string.h>

#include "http/http_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_hdrs h;
    const char *p = (const char *)data;
    char next[512];
    http_hdr_init(&h);
    while (size > 0) {
        const char *nl = memchr(p, '\n', size);
        size_t n = nl ? (size_t)(nl - p) + 1 : size;
        if (http_hdr_feed(&h, p, n) != HTTP_HDR_OK)
            break;
        p += n;
        size -= n;
    }
    http_retry_after_s(h.retry_after, strlen(h.retry_after), 1700000000);
    http_link_next(h.link, strlen(h.link), next, sizeof next);
    return 0;
}
