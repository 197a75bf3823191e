/*
 * exitcodes.h - vap-host's exit codes.  Scripts build on them: they are
 * documented in vap-host --help and vap-host(1) and never change.
 */
#ifndef VAP_HOST_EXITCODES_H
#define VAP_HOST_EXITCODES_H

#include <vap/plugin.h>

enum vaphost_exit {
    VAPHOST_EXIT_OK = 0,
    VAPHOST_EXIT_FAILURE = 1,     /* any other failure                       */
    VAPHOST_EXIT_USAGE = 2,       /* usage or config error, unknown command,
                                   * store or keyring unusable               */
    VAPHOST_EXIT_REAUTH = 3,      /* re-authorization needed (or no grant)   */
    VAPHOST_EXIT_CLIENT = 4,      /* client rejected: the admin must fix it  */
    VAPHOST_EXIT_DENIED = 5,      /* denied: scope, ACL or role              */
    VAPHOST_EXIT_UNAVAILABLE = 6  /* server unavailable or timed out         */
};

/* The exit code for a vap_status (VAP_OK -> 0). */
static inline int vaphost_exit_code(int status)
{
    switch (status) {
    case VAP_OK:
        return VAPHOST_EXIT_OK;
    case VAP_E_CONFIG:
    case VAP_E_ABI:
    case VAP_E_SEAL: /* the store or keyring the config names cannot be used */
        return VAPHOST_EXIT_USAGE;
    case VAP_E_REAUTH_REQUIRED:
        return VAPHOST_EXIT_REAUTH;
    case VAP_E_CLIENT:
        return VAPHOST_EXIT_CLIENT;
    case VAP_E_DENIED:
        return VAPHOST_EXIT_DENIED;
    case VAP_E_UNAVAILABLE:
    case VAP_E_TIMEOUT:
        return VAPHOST_EXIT_UNAVAILABLE;
    default:
        return VAPHOST_EXIT_FAILURE;
    }
}

#endif /* VAP_HOST_EXITCODES_H */
