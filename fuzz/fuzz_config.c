/*
 * fuzz_config.c - the plugin config parser (host-sdk/config.c) over arbitrary
 * bytes.
 *
 * Beyond not crashing, checks what the parser promises: on success every
 * instance has a name and a module and every option a key; on failure the
 * message is one line starting with the file label.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vapconf *conf = NULL;
    char err[256];
    int rc = vapconf_parse((const char *)data, size, "plugins.conf", &conf, err, sizeof err);
    if (rc == VAP_OK) {
        for (size_t i = 0; i < conf->n_inst; i++) {
            const vapconf_instance *in = &conf->inst[i];
            if (in->name == NULL || in->name[0] == '\0' || in->module == NULL ||
                vapconf_find(conf, in->name) != in)
                abort();
            for (size_t j = 0; j < in->n_opts; j++)
                if (in->opts[j].key == NULL || in->opts[j].key[0] == '\0' ||
                    in->opts[j].value == NULL)
                    abort();
        }
        vapconf_free(conf);
    } else {
        if (conf != NULL || strncmp(err, "plugins.conf:", 13) != 0 || strchr(err, '\n') != NULL)
            abort();
    }
    return 0;
}
