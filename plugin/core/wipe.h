/* wipe.h - clearing buffers that held secrets or patient data.
 *
 * Large buffers (response bodies) are cleared 128 bytes per iteration with
 * plain vector stores, then a compiler barrier so the stores are never
 * elided as dead: glibc's memset clears them with "rep stosb", which
 * valgrind counts as one instruction per byte, and sodium_memzero is that
 * memset.  Small ones go to explicit_bzero. */
#ifndef VAP_WIPE_H
#define VAP_WIPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef unsigned char wipe_v16 __attribute__((vector_size(16), aligned(1), may_alias));

static inline void wipe(void *p, size_t n)
{
    unsigned char *b = p;
    if (n < 256) {
        explicit_bzero(p, n);
        return;
    }
    const wipe_v16 z = {0};
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        *(wipe_v16 *)(b + i) = z;
        *(wipe_v16 *)(b + i + 16) = z;
        *(wipe_v16 *)(b + i + 32) = z;
        *(wipe_v16 *)(b + i + 48) = z;
        *(wipe_v16 *)(b + i + 64) = z;
        *(wipe_v16 *)(b + i + 80) = z;
        *(wipe_v16 *)(b + i + 96) = z;
        *(wipe_v16 *)(b + i + 112) = z;
        /* also keeps the compiler from turning the loop back into memset */
        __asm__ __volatile__("" : : "r"(b + i) : "memory");
    }
    /* the tails too, or the compiler calls memset for them */
    for (; i + 16 <= n; i += 16) {
        *(wipe_v16 *)(b + i) = z;
        __asm__ __volatile__("" : : "r"(b + i) : "memory");
    }
    for (; i < n; i++) {
        b[i] = 0;
        __asm__ __volatile__("" : : "r"(b + i) : "memory");
    }
    __asm__ __volatile__("" : : "r"(b) : "memory");
}

#endif
