/* http_body.c - response body buffers.
 *
 * A body that fits HTTP_BODY_POOLED bytes (most FHIR reads) goes into a
 * buffer of exactly that size, and a released one is wiped and kept for the
 * next response instead of going back to malloc, which serves 16 KB from
 * its bins at several hundred instructions a time.  At most HTTP_BODY_KEEP
 * are kept per process.  The capacity sits in front of the buffer, so a
 * holder needs only the pointer and the bytes it used. */
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/wipe.h"

/* A kept buffer is marked unreachable for ASan and memcheck, so a body used
 * or released again after its release is still reported, as with free(). */
#if defined(__SANITIZE_ADDRESS__)
#define BODY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BODY_ASAN 1
#endif
#endif
#if defined(BODY_ASAN)
#include <sanitizer/asan_interface.h>
#define BODY_HIDE(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define BODY_SHOW(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define BODY_HIDE(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define BODY_SHOW(p, n)                                                       \
    do {                                                                      \
        VALGRIND_MAKE_MEM_DEFINED((p), sizeof(struct body_hdr));              \
        VALGRIND_MAKE_MEM_UNDEFINED((char *)(p) + sizeof(struct body_hdr),   \
                                    (n) - sizeof(struct body_hdr));           \
    } while (0)
#else
#define BODY_HIDE(p, n) ((void)0)
#define BODY_SHOW(p, n) ((void)0)
#endif

struct body_hdr {
    size_t cap;
    size_t pad; /* the buffer stays 16-byte aligned */
};

/* Each entry holds one buffer or NULL; a buffer is taken by exchanging its
 * entry for NULL and given back into an empty entry by compare-and-swap, so
 * exactly one holder ever has it, with no lock on the fetch path. */
static struct body_hdr *g_kept[HTTP_BODY_KEEP];

char *http_body_alloc(size_t want, size_t *cap)
{
    struct body_hdr *h = NULL;
    size_t n = want <= HTTP_BODY_POOLED ? HTTP_BODY_POOLED : want;
    for (unsigned i = 0; n == HTTP_BODY_POOLED && h == NULL && i < HTTP_BODY_KEEP; i++)
        if (__atomic_load_n(&g_kept[i], __ATOMIC_RELAXED) != NULL &&
            (h = __atomic_exchange_n(&g_kept[i], NULL, __ATOMIC_ACQUIRE)) != NULL)
            BODY_SHOW(h, sizeof *h + HTTP_BODY_POOLED);
    if (h == NULL) {
        if (n > SIZE_MAX - sizeof *h || (h = malloc(sizeof *h + n)) == NULL)
            return NULL;
        h->cap = n;
    }
    if (cap != NULL)
        *cap = n;
    return (char *)(h + 1);
}

void http_body_free(char *b, size_t used)
{
    if (b == NULL)
        return;
    struct body_hdr *h = (struct body_hdr *)b - 1;
    wipe(b, used < h->cap ? used : h->cap);
    if (h->cap != HTTP_BODY_POOLED) {
        free(h);
        return;
    }
    BODY_HIDE(h, sizeof *h + HTTP_BODY_POOLED); /* before another thread can take it */
    for (unsigned i = 0; i < HTTP_BODY_KEEP; i++) {
        struct body_hdr *empty = NULL;
        if (__atomic_load_n(&g_kept[i], __ATOMIC_RELAXED) == NULL &&
            __atomic_compare_exchange_n(&g_kept[i], &empty, h, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
    BODY_SHOW(h, sizeof *h + HTTP_BODY_POOLED);
    free(h);
}

unsigned http_body_kept(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < HTTP_BODY_KEEP; i++)
        n += __atomic_load_n(&g_kept[i], __ATOMIC_RELAXED) != NULL;
    return n;
}
