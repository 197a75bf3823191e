/* json.h - parsing JSON from the network: duplicate keys refused, size capped. */
#ifndef VAP_JSON_H
#define VAP_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Parse exactly len bytes (no NUL needed) as one JSON value.  Refuses input
 * longer than cap, duplicate object keys, and trailing garbage.  On failure
 * returns NULL and writes a short reason (never the input) to why. */
json_t *pjson_parse(const char *buf, size_t len, size_t cap, char *why,
                    size_t why_len);

/* Make every Jansson allocation in this process wiped on free, so token
 * strings parsed from responses and sealed files do not linger in freed
 * heap.  Called once by the entry point, before threads (Jansson's
 * allocator is process-global; wiping is harmless to a host using it too). */
void pjson_install_wiping_allocator(void);

/* The string member `key` of obj, or NULL if missing or not a string. */
const char *pjson_str(const json_t *obj, const char *key);

#endif
