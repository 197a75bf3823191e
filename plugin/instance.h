/* instance.h - one configured connection to one OpenEMR site.  Later
 * concerns (HTTP client, sealed store, grant, discovery) hang off it. */
#ifndef VAP_INSTANCE_H
#define VAP_INSTANCE_H

#include <sys/types.h>
#include <vap/plugin.h>

#include <pthread.h>

#include "oauth/authorize.h"
#include "core/config.h"
#include "oauth/grant.h"
#include "oauth/refresh.h"
#include "oauth/secrets.h"
#include "warm.h"

struct vap_instance {
    pid_t pid; /* the creating process: a forked child must not use it */
    int attached; /* counted by the renewer thread (renewer.h) */
    struct config cfg;
    struct secrets secrets;
    struct http_client *http;
    struct authz authz;
    struct refresher refresher;
    struct warmer warmer;
    pthread_mutex_t scratch_mu; /* guards scratch */
    struct grant *scratch;      /* sodium_malloc'd at the first status read */
};

/* VAP_OK, or VAP_E_INVAL with a message when inst is NULL or was created by
 * another process (used after fork). */
int instance_usable(const vap_instance *inst, vap_error *err);

/* This process's id, without a system call per use (kept current across fork). */
pid_t instance_pid(void);

/* The status scratch grant, made on first use (NULL: out of memory); the
 * caller holds scratch_mu. */
struct grant *instance_scratch(vap_instance *inst);

#endif
