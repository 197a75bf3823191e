/*
 * vaphost.h - what vap-host's commands share: the loaded instance, the
 * error reporting and one function per command (cmd_*.c).
 */
#ifndef VAP_HOST_VAPHOST_H
#define VAP_HOST_VAPHOST_H

#include <stdint.h>

#include <vap/plugin.h>

#include "config.h"

struct vaphost {
    const char *config_path;
    const char *instance_name;    /* -i, or the only instance in the file */
    int verbosity;                /* highest vap_log_level printed          */
    char name_buf[VAPCONF_MAX_NAME + 1]; /* the instance libvaphost chose  */
    const vap_plugin_api *api;
    vap_instance *inst;
    vap_host_api *host; /* static in main: the plugin keeps it */
};

/* A command: argv[0] is the command's name.  Returns the exit code. */
typedef int (*vaphost_cmd_fn)(struct vaphost *vh, int argc, char **argv);

struct vaphost_command {
    const char *name;
    const char *usage;   /* after "vap-host [-c CONFIG] [-i NAME] "           */
    const char *summary; /* one line for the global --help                    */
    const char *help;    /* the rest of "vap-host COMMAND --help"             */
    uint64_t cap;        /* the plugin capability it needs, 0 for none known  */
    vaphost_cmd_fn run;  /* NULL: not implemented in this vap-host yet        */
    int standalone;      /* 1: runs before any config is read (demo)          */
};

/* Read the config at vh->config_path and load its instance (what main does
 * for ordinary commands; demo calls it once it has written a config).
 * Returns an exit code. */
int vaphost_load(struct vaphost *vh);

/* A request through the plugin: method on path (relative to the FHIR base,
 * or to the standard API with VAP_FETCH_STANDARD_API); query and the JSON
 * body may be NULL.  Returns VAP_OK with *out the malloc'd, NUL-terminated
 * response body (the caller frees it), or the vap_status after reporting the
 * failure on stderr (vaphost_report), with *exit_code set for it. */
int vaphost_request(struct vaphost *vh, const char *method, const char *path,
                    const char *query, uint32_t flags, const char *body, char **out,
                    int *exit_code);

/* Read at most cap bytes of path ("-": standard input) into a malloc'd,
 * NUL-terminated buffer.  0, or -1 when unreadable or longer than cap. */
int vaphost_read_file(const char *path, size_t cap, char **out, size_t *len);

/* Percent-encode s for a query value into a malloc'd string. */
char *vaphost_qenc(const char *s);

/*
 * Report a failed plugin call on stderr as one last line ("vap-host: ..."),
 * naming the OAuth error code when the server sent one, and return the exit
 * code of its class (exitcodes.h).
 */
int vaphost_report(const struct vaphost *vh, int rc, const vap_error *err);

/* Print what a grant looks like (never a token) on stdout. */
void vaphost_print_grant(const vap_grant_info *gi);
/* Server text made safe for a terminal, into out (cap bytes, truncated):
 * ASCII and C1 controls and bidi overrides become spaces, bytes that are
 * not UTF-8 '?'.  Returns out. */
const char *vaphost_clean(const char *in, char *out, size_t cap);

int cmd_authorize(struct vaphost *vh, int argc, char **argv);
int cmd_find_patient(struct vaphost *vh, int argc, char **argv);
int cmd_note(struct vaphost *vh, int argc, char **argv);
int cmd_demo(struct vaphost *vh, int argc, char **argv);
int cmd_status(struct vaphost *vh, int argc, char **argv);
int cmd_refresh(struct vaphost *vh, int argc, char **argv);
int cmd_fetch(struct vaphost *vh, int argc, char **argv);
int cmd_register(struct vaphost *vh, int argc, char **argv);
int cmd_check(struct vaphost *vh, int argc, char **argv);
int cmd_db(struct vaphost *vh, int argc, char **argv);

#endif /* VAP_HOST_VAPHOST_H */
