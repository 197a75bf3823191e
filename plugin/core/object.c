/* object.c - allocation and release of host-visible objects. */
#include "core/object.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/wipe.h"

#define OBJ_MAGIC UINT64_C(0x766170206f626a21) /* "vap obj!" */

struct obj_hdr {
    uint64_t magic;
    size_t size;
    obj_dtor_fn dtor;
    uint64_t pad; /* keeps the payload 16-byte aligned */
};

void *obj_new(size_t size, obj_dtor_fn dtor)
{
    if (size < 2 * sizeof(uint32_t) || size > SIZE_MAX - sizeof(struct obj_hdr))
        return NULL;
    /* malloc and memset, not calloc: glibc's calloc skips its per-thread
     * cache, and an object is made on every fetch (the header is set field
     * by field, which also keeps the compiler from making it calloc again) */
    struct obj_hdr *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    memset(h + 1, 0, size);
    h->pad = 0;
    h->magic = OBJ_MAGIC;
    h->size = size;
    h->dtor = dtor;
    uint32_t *head = (uint32_t *)(h + 1);
    head[0] = (uint32_t)size; /* struct_size */
    head[1] = VAP_ABI_MINOR;  /* abi_minor   */
    return h + 1;
}

void obj_release(void *obj)
{
    if (obj == NULL)
        return;
    struct obj_hdr *h = (struct obj_hdr *)obj - 1;
    if (h->magic != OBJ_MAGIC) {
        plog(VAP_LOG_ERROR, "release() was given an object this plugin did not return; ignored");
        return;
    }
    if (h->dtor != NULL)
        h->dtor(obj);
    wipe(h, sizeof *h + h->size);
    free(h);
}

char *obj_strdup(const char *src)
{
    return strdup(src ? src : "");
}

void obj_strfree(const char *s)
{
    if (s == NULL)
        return;
    char *w = (char *)s;
    sodium_memzero(w, strlen(w));
    free(w);
}
