/* fuzz_options.c - instance options, the scope checker and the URL splitter
 * (plugin/core/config.c, scope.c, url.c).
 * Input: lines of key=value; the whole input is also fed to scope_check and
 * url_split, which later parse scope strings and URLs from servers. */
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
    scope_check((const char *)data, size, &rep);
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
