/*
 * admconf.h - writing a registered client_id into the admin's config file:
 * one option inserted into one instance's line, nothing else touched, a
 * backup kept, the result re-parsed and compared before it replaces the file.
 */
#ifndef VAP_HOST_ADMCONF_H
#define VAP_HOST_ADMCONF_H

#include <stddef.h>

#include "config.h"

#define ADMCONF_VALUE_MAX 256u

/*
 * Pure: insert " key=value" into the line of instance name (right after its
 * MODULE word, so a trailing comment or continuation is left alone) in the
 * len bytes of buf, into a malloc'd *out (*out_len).  value must be
 * [A-Za-z0-9._~-] or URL characters (:/?&=%+,;@), 1..256 of them.  The result
 * is parsed again and must hold the same instances with the same options,
 * plus key=value on that instance only.
 * Returns 0, or -1 with a reason (never the value) in why.
 */
int admconf_insert(const char *buf, size_t len, const char *name, const char *key,
                   const char *value, char **out, size_t *out_len, char *why, size_t why_len);

/*
 * Rewrite the file at path with key=value on instance name: read it,
 * admconf_insert, copy the old file to a new PATH.bak (PATH.bak.1 ... .9
 * when taken; same owner and mode), then write a temp file in the same
 * directory with the old owner and mode, fsync, rename over path, fsync the
 * directory.  On success the backup's path is in backup (cap bytes).
 * Returns 0, or -1 with the reason in why; the original is then unchanged.
 */
int admconf_write(const char *path, const char *name, const char *key, const char *value,
                  char *backup, size_t backup_cap, char *why, size_t why_len);

#endif /* VAP_HOST_ADMCONF_H */
