/* fuzz_fetch.c - what the FHIR/standard-API fetch path parses
 * (plugin/fhir/fetch.c, plugin/fhir/fetch_pages.c): the host's path and query
 * checks, the one-line summary of an error body (OpenEMR's
 * {"error","message","code"}, `[]`, OperationOutcome, validationErrors,
 * plain text), the scope named in an E_DENIED message, and the
 * _count/_offset paging rewrite, applied page after page in place as
 * fetch_all_pages does.  The first byte picks the function (and flags);
 * the rest is its input. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/fetch.h"
#include "fhir/fetch_pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fetch_check_err(int rc, const vap_error *err)
{
    /* A refusal carries its code and a NUL-terminated message. */
    if (rc != VAP_OK && (err->code != rc || memchr(err->message, '\0', sizeof err->message) == NULL))
        abort();
}

/* A path the checker accepted has no "." or ".." or empty segment. */
static void fuzz_fetch_path_ok(const char *p, size_t len)
{
    size_t i = (p[0] == '/') ? 1 : 0;
    while (i <= len) {
        size_t s = i;
        while (i < len && p[i] != '/')
            i++;
        size_t n = i - s;
        if (n == 0 || (n == 1 && p[s] == '.') || (n == 2 && p[s] == '.' && p[s + 1] == '.'))
            abort();
        i++;
    }
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)p[k] <= 0x20 || (unsigned char)p[k] >= 0x7f || p[k] == '?' ||
            p[k] == '#' || p[k] == '\\')
            abort();
    /* No encoded '.', '/' or '\\' a decoding server would see as segments. */
    for (size_t k = 0; k + 2 < len; k++)
        if (p[k] == '%' && ((p[k + 1] == '2' && ((p[k + 2] | 0x20) == 'e' || (p[k + 2] | 0x20) == 'f')) ||
                            (p[k + 1] == '5' && (p[k + 2] | 0x20) == 'c')))
            abort();
}

static void fuzz_fetch_summary(const char *buf, size_t len)
{
    static const size_t caps[] = {1, 7, 160, 512};
    char out[512];
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        memset(out, 'X', sizeof out);
        fetch_error_summary(buf, len, out, caps[i]);
        size_t n = strnlen(out, caps[i]);
        if (n >= caps[i])
            abort(); /* not terminated inside cap */
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)out[k] < 0x20 || out[k] == 0x7f ||
                ((unsigned char)out[k] == 0xc2 && k + 1 < n && (unsigned char)out[k + 1] <= 0x9f))
                abort(); /* a control character (C0 or C1) reached a log line */
    }
}

/* The paging rewrite: read _count/_offset as fetch_all_pages does, then
 * step three pages, rewriting the query in place each time; what was
 * written must read back as the values asked for. */
static void fuzz_fetch_pages(const char *q_in)
{
    char query[FETCH_QUERY_MAX + 64];
    long count = 0, offset = 0, v;
    if (strlen(q_in) >= sizeof query)
        return;
    memcpy(query, q_in, strlen(q_in) + 1);
    int has_count = fetch_query_param(query, "_count", &count) == 1;
    if (fetch_query_param(query, "_offset", &offset) != 1)
        offset = 0;
    if (!has_count)
        count = 100; /* a page size, as fetch_all_pages takes from a Bundle */
    for (int page = 0; page < 3; page++) {
        if (fetch_next_query(query, count, offset, query, sizeof query) != 0)
            return;
        if (fetch_query_param(query, "_count", &v) != 1 || v != count)
            abort();
        if (fetch_query_param(query, "_offset", &v) != 1 || v != offset)
            abort();
        if (count <= 0 || offset > LONG_MAX - count)
            return;
        offset += count;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned sel = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    vap_error err;
    VAP_INIT(vap_error, err);

    switch (sel % 5) {
    case 0: {
        int rc = fetch_check_path(buf, len, &err);
        fuzz_fetch_check_err(rc, &err);
        if (rc == VAP_OK)
            fuzz_fetch_path_ok(buf, len);
        break;
    }
    case 1: {
        int rc = fetch_check_query(buf, len, &err);
        fuzz_fetch_check_err(rc, &err);
        break;
    }
    case 2:
        fuzz_fetch_summary(buf, len);
        break;
    case 3:
    case 4: {
        /* Both take NUL-terminated strings from the host. */
        char *s = malloc(len + 1);
        if (s == NULL)
            return 0;
        memcpy(s, buf, len);
        s[len] = '\0';
        if (sel % 5 == 3) {
            char out[160];
            memset(out, 'X', sizeof out);
            fetch_needed_scope(s, (sel >> 3) & 1, (sel >> 4) & 1,
                               (sel >> 5) & 1 ? "patient" : "user", out, sizeof out);
            if (memchr(out, '\0', sizeof out) == NULL)
                abort();
        } else {
            fuzz_fetch_pages(s);
        }
        free(s);
        break;
    }
    }
    return 0;
}
