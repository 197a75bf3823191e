/* fuzz_options.c - instance options, the scope checker and the URL splitter
 * (plugin/core/config.c, scope.c, url.c).
 * Input: lines of key=value; the whole input is also fed to scope_check and
 * url_split, which later parse scope strings and URLs from servers.  A
 * scope line scope_check suggests must pass scope_check itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/scope.h"
#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPTS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scope_report rep;
    struct url_parts u;
    /* A line the checker suggests, the practice-wide one or the
     * patient-bound alternative, is one it accepts. */
    if (scope_check((const char *)data, size, &rep) != 0) {
        static struct scope_report again;
        if (rep.corrected[0] && scope_check(rep.corrected, strlen(rep.corrected), &again) != 0)
            abort();
        if (rep.alternative[0] &&
            scope_check(rep.alternative, strlen(rep.alternative), &again) != 0)
            abort();
    }
    url_split((const char *)data, size, &u);

    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    vap_option opts[MAX_OPTS];
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && n < MAX_OPTS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        opts[n].key = line;
        opts[n].value = eq + 1;
        n++;
    }
    struct config cfg;
    vap_error err;
    memset(&err, 0, sizeof err);
    err.struct_size = sizeof err;
    if (config_from_options(opts, n, &cfg, &err) == 0)
        config_free(&cfg);
    free(copy);
    return 0;
}
