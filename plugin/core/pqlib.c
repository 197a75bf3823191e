/* pqlib.c - libpq's functions, resolved once (see pqlib.h). */
#include "core/pqlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct pqlib pqlib;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static int pq_ok;
static char pq_why[200];

static void pq_resolve(void)
{
    /* libpq's soname has been 5 since PostgreSQL 8.2; never closed: its
     * connections may outlive any one instance. */
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(pq_why, sizeof pq_why,
                 "libpq cannot be loaded (%.60s): install libpq5 and restart, or "
                 "use grant_store=file", e ? e : "libpq.so.5 not found");
        return;
    }
    struct pqlib t = {0};
    const char *missing = NULL;
#define PQLIB_SYM(f)                                                                   \
    if (missing == NULL && (*(void **)&t.f = dlsym(h, #f)) == NULL)                    \
        missing = #f;
    PQLIB_FUNCS(PQLIB_SYM)
#undef PQLIB_SYM
    if (missing != NULL) {
        snprintf(pq_why, sizeof pq_why,
                 "the libpq.so.5 found has no %s: install a libpq5 of PostgreSQL 10 "
                 "or later and restart", missing);
        dlclose(h);
        return;
    }
    pqlib = t;
    pq_ok = 1;
}

int pqlib_load(char *why, size_t why_size)
{
    pthread_once(&pq_once, pq_resolve);
    if (!pq_ok && why != NULL && why_size > 0)
        snprintf(why, why_size, "%s", pq_why);
    return pq_ok ? 0 : -1;
}
