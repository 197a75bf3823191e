/* tokenresp_refresh.c - what a refused refresh means (DESIGN.md rule 6: only
 * a dead refresh token means re-authorization), in words for the admin.  The
 * config has not changed since the grant was made, so nothing here is a
 * configuration error. */
#include "oauth/tokenresp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/scope.h"

static int has_text(const char *haystack, const char *needle)
{
    return haystack != NULL && strcasestr(haystack, needle) != NULL;
}

int tokresp_classify_refresh(int status, const tokresp_error *e, const tokresp_ctx *ctx,
                             vap_error *err)
{
    char detail[200];
    const char *code = e->error;

    tokresp_detail(code, e->description, detail, sizeof detail);

    if (strcmp(code, "invalid_client") == 0)
        /* OpenEMR never checks the secret on refresh, only the enabled flag. */
        return err_set(err, VAP_E_CLIENT,
                       "Client rejected on refresh (invalid_client, HTTP %d): an admin "
                       "disabled or deleted the client (Administration → System → API "
                       "Clients); the grant is kept: enable the client and try again",
                       status);
    if (strcmp(code, "invalid_grant") == 0 || has_text(e->description, "refresh token is invalid") ||
        has_text(e->description, "revoked or logged out"))
        return err_set(err, VAP_E_REAUTH_REQUIRED,
                       "The refresh token is no longer valid (%s): the grant "
                       "is dead; authorize again", detail);
    if (strcmp(code, "invalid_scope") == 0) {
        char name[64], sent[104];
        if (!tokresp_hint_name(e->hint, name, sizeof name))
            snprintf(name, sizeof name, "(not named)");
        const char *sc = ctx != NULL ? ctx->sent_scope : NULL;
        const char *gr = ctx != NULL ? ctx->granted_scope : NULL;
        if (sc != NULL && gr != NULL && strcmp(name, "(not named)") != 0 &&
            scope_has(sc, strlen(sc), name) && !scope_has(gr, strlen(gr), name))
            /* Not the grant's scope: the renewal added it (api:oemr,
             * offline_access), and a new authorization would add it again. */
            return err_set(err, VAP_E_DENIED,
                           "The server refused scope %s on refresh (invalid_scope); the plugin "
                           "added it (the grant lacks it), so authorizing again with the same "
                           "scope line will not help: allow %s for the client in API Clients, "
                           "or remove from scope= what needs it", name, name);
        tokresp_clean_text(sc != NULL ? sc : "(none)", sent, sizeof sent);
        return err_set(err, VAP_E_DENIED,
                       "The server refused scope %s on refresh (invalid_scope); sent \"%s\". "
                       "The grant is kept but cannot be renewed: authorize again",
                       name, sent);
    }
    if (strcmp(code, "temporarily_unavailable") == 0 || strcmp(code, "server_error") == 0)
        return err_set(err, VAP_E_UNAVAILABLE,
                       "The token endpoint had a server problem (%s): try "
                       "again later", code);
    return err_set(err, VAP_E_PROTOCOL,
                   "The token endpoint refused the refresh (%s, HTTP %d): "
                   "the grant is kept; report it if it repeats", detail, status);
}
