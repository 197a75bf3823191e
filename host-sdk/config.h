/*
 * config.h - the PAM-style plugin config parser (host side).
 *
 * One instance per logical line:
 *     NAME  MODULE  key=value key="value with spaces" ...
 * '#' at the start of a word begins a comment that runs to the end of the
 * physical line; a backslash at the very end of a line joins the next line
 * (as a space); double quotes group a value, inside them \" and \\ are the
 * only escapes.  The parser is a pure function over (buf, len): no I/O, no
 * globals, every size capped, so fuzz/fuzz_config.c can drive it directly.
 */
#ifndef VAP_HOST_CONFIG_H
#define VAP_HOST_CONFIG_H

#include <stddef.h>

#include <vap/plugin.h>

#define VAPCONF_MAX_FILE (1u << 20)  /* whole file, bytes                  */
#define VAPCONF_MAX_WORD 8192u       /* one name, path or key=value, bytes */
#define VAPCONF_MAX_OPTIONS 128u     /* options on one instance            */
#define VAPCONF_MAX_INSTANCES 256u   /* instances in one file              */
#define VAPCONF_MAX_NAME 64u         /* instance name, bytes               */

typedef struct vapconf_instance {
    char *name;
    char *module;
    unsigned line;    /* physical line the instance starts on            */
    vap_option *opts; /* key and value strings owned by the instance      */
    size_t n_opts;
} vapconf_instance;

typedef struct vapconf {
    vapconf_instance *inst;
    size_t n_inst;
} vapconf;

/*
 * Parse len bytes of config text.  label names the file in messages
 * ("plugins.conf").  On success returns VAP_OK and *out (free it with
 * vapconf_free).  On a syntax error returns VAP_E_CONFIG and writes one line
 * "LABEL:LINE: cause" to errbuf; VAP_E_NOMEM when memory runs out.  Values
 * are never echoed into messages, keys are.  No instance at all is not an
 * error here (the caller decides).
 */
int vapconf_parse(const char *buf, size_t len, const char *label, vapconf **out,
                  char *errbuf, size_t errlen);

void vapconf_free(vapconf *conf);

/* The instance called name, or NULL. */
const vapconf_instance *vapconf_find(const vapconf *conf, const char *name);

#endif /* VAP_HOST_CONFIG_H */
