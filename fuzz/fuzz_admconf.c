/* fuzz_admconf.c - rewriting the admin's plugins.conf with a registered
 * client_id (host-sdk/admconf.c, admconf_insert) over any file content.
 * What it writes must parse (host-sdk/config.c) to the same instances plus
 * the one option on the one instance; it checks that itself, and so does
 * this target, independently of its own check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admconf.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_opt(const vapconf_instance *in, const char *key)
{
    const char *v = NULL;
    for (size_t j = 0; j < in->n_opts; j++)
        if (strcmp(in->opts[j].key, key) == 0)
            v = in->opts[j].value;
    return v;
}

static void fuzz_admconf_one(const char *buf, size_t len, const char *name)
{
    static const char value[] = "LnjqojEEjFYe5niSPGeQBxThLmbJr5DrTbOkGP3ZJxA";
    char *out = NULL, why[256], err[256];
    size_t out_len = 0;
    if (admconf_insert(buf, len, name, "client_id", value, &out, &out_len, why, sizeof why) != 0) {
        if (out != NULL || memchr(why, '\0', sizeof why) == NULL)
            abort();
        return;
    }
    vapconf *before = NULL, *after = NULL;
    if (vapconf_parse(buf, len, "in", &before, err, sizeof err) != 0 ||
        vapconf_parse(out, out_len, "out", &after, err, sizeof err) != 0)
        abort(); /* accepted a file that does not parse, or wrote one */
    if (before->n_inst != after->n_inst)
        abort();
    const vapconf_instance *in = vapconf_find(after, name);
    const char *got = in ? fuzz_opt(in, "client_id") : NULL;
    if (got == NULL || strcmp(got, value) != 0)
        abort(); /* the option is not what the plugin will read */
    vapconf_free(before);
    vapconf_free(after);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    fuzz_admconf_one((const char *)data, size, "openemr");
    /* The name of the first instance in the file, whatever it is. */
    vapconf *conf = NULL;
    char err[256];
    if (vapconf_parse((const char *)data, size, "in", &conf, err, sizeof err) == 0) {
        if (conf->n_inst > 0) {
            char *name = strdup(conf->inst[0].name);
            if (name != NULL) {
                fuzz_admconf_one((const char *)data, size, name);
                free(name);
            }
        }
        vapconf_free(conf);
    }
    return 0;
}
