/* status.h - what a grant looks like from outside (never a token). */
#ifndef VAP_STATUS_H
#define VAP_STATUS_H

#include <vap/plugin.h>

#include "oauth/grant.h"

/* A new vap_grant_info for g (NULL g: state VAP_GRANT_NONE), released by
 * api->release.  NULL on out of memory. */
vap_grant_info *status_info_new(const struct grant *g, int64_t now_ms);

/* The state of g at now_ms (enum vap_grant_state). */
int status_state(const struct grant *g, int64_t now_ms);

#endif
