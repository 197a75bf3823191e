/* sim_map.c: a small string-keyed hash map (chained) for the simulator's
 * store of clients, codes, tokens and login sessions. Not thread-safe: the
 * server's lock guards every map. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static size_t map_hash(const char *s);

int sim_map_init(sim_map *m, size_t nbucket, void (*free_val)(void *))
{
    m->bucket = calloc(nbucket, sizeof(*m->bucket));
    if (!m->bucket)
        return -1;
    m->nbucket = nbucket;
    m->count = 0;
    m->free_val = free_val;
    return 0;
}

void *sim_map_get(const sim_map *m, const char *key)
{
    for (sim_map_entry *e = m->bucket[map_hash(key) % m->nbucket]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

int sim_map_put(sim_map *m, const char *key, void *val)
{
    size_t h = map_hash(key) % m->nbucket;
    for (sim_map_entry *e = m->bucket[h]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if (m->free_val && e->val != val)
                m->free_val(e->val);
            e->val = val;
            return 0;
        }
    }
    sim_map_entry *e = malloc(sizeof(*e));
    if (!e)
        return -1;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return -1;
    }
    e->val = val;
    e->next = m->bucket[h];
    m->bucket[h] = e;
    m->count++;
    return 0;
}

size_t sim_map_sweep(sim_map *m, int (*fn)(void *val, void *ctx), void *ctx)
{
    size_t removed = 0;
    for (size_t i = 0; i < m->nbucket; i++) {
        sim_map_entry **pp = &m->bucket[i];
        while (*pp) {
            sim_map_entry *e = *pp;
            if (fn(e->val, ctx) == 1) {
                *pp = e->next;
                if (m->free_val)
                    m->free_val(e->val);
                free(e->key);
                free(e);
                m->count--;
                removed++;
            } else {
                pp = &e->next;
            }
        }
    }
    return removed;
}

void sim_map_free(sim_map *m)
{
    if (!m->bucket)
        return;
    for (size_t i = 0; i < m->nbucket; i++) {
        sim_map_entry *e = m->bucket[i];
        while (e) {
            sim_map_entry *n = e->next;
            if (m->free_val)
                m->free_val(e->val);
            free(e->key);
            free(e);
            e = n;
        }
    }
    free(m->bucket);
    m->bucket = NULL;
    m->count = 0;
}

/* FNV-1a: keys are server-made tokens or ids, so no hash flooding concern. */
static size_t map_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}
