/* json.c - the one way the plugin parses JSON it did not write. */
#include "core/json.h"

#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

json_t *pjson_parse(const char *buf, size_t len, size_t cap, char *why,
                    size_t why_len)
{
    if (why_len)
        why[0] = '\0';
    if (buf == NULL || len > cap) {
        if (why_len)
            snprintf(why, why_len, "response too large (%zu bytes, limit %zu)",
                     len, cap);
        return NULL;
    }
    json_error_t jerr;
    /* Objects are checked key by key, so a duplicated key cannot smuggle a
     * second value past a validator that reads the first. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL && why_len)
        snprintf(why, why_len, "not valid JSON (line %d, column %d)",
                 jerr.line, jerr.column);
    return root;
}

const char *pjson_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void wiping_free(void *p)
{
    if (p == NULL)
        return;
    /* malloc_usable_size: glibc (and ASan) know the block's size. */
    sodium_memzero(p, malloc_usable_size(p));
    free(p);
}

void pjson_install_wiping_allocator(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
}
