/*
 * seal_error.c - library initialisation and error reporting for libvapseal.
 */
#include "seal_internal.h"

#include <stdarg.h>
#include <stdio.h>

int seal_init(seal_err *err)
{
    /* sodium_init returns 1 when already initialised: still fine. */
    if (sodium_init() < 0)
        return seal_fail(err, SEAL_E_NOMEM, "libsodium could not be initialised (no entropy source?)");
    return SEAL_OK;
}

const char *seal_strerror(int code)
{
    switch (code) {
    case SEAL_OK: return "success";
    case SEAL_E_INVAL: return "invalid argument";
    case SEAL_E_NOMEM: return "out of memory";
    case SEAL_E_IO: return "input/output error";
    case SEAL_E_NOENT: return "no such item";
    case SEAL_E_PERM: return "unsafe permissions or ownership";
    case SEAL_E_FSTYPE: return "network filesystem refused";
    case SEAL_E_FORMAT: return "not a sealed file, or truncated";
    case SEAL_E_VERSION: return "unsupported format version";
    case SEAL_E_TOO_BIG: return "too large";
    case SEAL_E_PURPOSE: return "sealed for another item";
    case SEAL_E_KEY_UNKNOWN: return "sealed with a key not in the keyring";
    case SEAL_E_KEY_RETIRED: return "sealed with a retired key";
    case SEAL_E_AUTH: return "authentication failed (tampered or corrupt)";
    case SEAL_E_BINDING: return "sealed for another issuer or client_id";
    case SEAL_E_EXISTS: return "already exists";
    case SEAL_E_PASSPHRASE: return "wrong passphrase or corrupt backup";
    case SEAL_E_BUSY: return "locked by another process";
    default: return "unknown error";
    }
}

int seal_fail(seal_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
