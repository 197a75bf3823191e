/* procstatus.h - a figure of this process's /proc/self/status, for tests
 * that count memory (never time). */
#ifndef VAP_TESTS_PROCSTATUS_H
#define VAP_TESTS_PROCSTATUS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The KiB of a "Vm...:" line (key with its colon), -1 if absent. */
static inline long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t klen = strlen(key);
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, klen) == 0)
            kib = strtol(line + klen, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

#endif
