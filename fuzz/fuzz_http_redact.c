/* fuzz_http_redact.c - the redaction applied to anything the HTTP layer logs
 * (plugin/http/http_redact.c): form, JSON, header and URL text of any shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[512];
    const char *in = (const char *)data;
    size_t n;
    n = http_redact_form(in, size, out, sizeof out);
    if (n >= sizeof out || out[n] != '\0')
        abort();
    n = http_redact_json(in, size, out, sizeof out);
    if (n >= sizeof out || out[n] != '\0')
        abort();
    n = http_redact_header(in, size, out, sizeof out);
    if (n >= sizeof out || out[n] != '\0')
        abort();
    n = http_redact_url(in, size, out, sizeof out);
    if (n >= sizeof out || out[n] != '\0')
        abort();
    return 0;
}
