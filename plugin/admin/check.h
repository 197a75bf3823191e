/* check.h - the admin's "Test Connection" (the ABI's check): the
 * configuration tried against the server, one item per concern, each with
 * the fix when it fails.  Read-only towards the server and the store: no
 * grant, code or token is created, spent or rewritten. */
#ifndef VAP_CHECK_H
#define VAP_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <vap/plugin.h>

#include "admin/admparse.h"
#include "oauth/authorize.h"
#include "oauth/discovery.h"

struct vap_instance;

#define CHECK_MAX_ITEMS 16
#define CHECK_MSG_MAX 512

/* The report being built (check.c owns the item strings). */
struct check_list {
    vap_check_item *items[CHECK_MAX_ITEMS];
    size_t n;
    int oom;
};

/* What the network checks learned, for the checks after them. */
struct check_state {
    int reached;            /* the issuer's host answered over TLS          */
    int disc_ok;            /* the OpenID configuration parsed and matched  */
    struct authz_endpoints ep;
    struct adm_disc extra;  /* scopes_supported, S256 (may be empty)        */
    int have_extra;
    int authz_verdict;      /* PROBE_AUTHZ_*, or -1 when not asked          */
    char authz_detail[128];
    int store_ok;
};

/* The ABI function (plugin.h). */
int check_run(struct vap_instance *inst, const vap_call *call, vap_check_report **out,
              vap_error *err);

/* Append an item (message formatted printf-style).  Never fails: out of
 * memory is remembered in l->oom and reported by check_run. */
void check_add(struct check_list *l, const char *name, int result, int code, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* The individual checks (check_items.c), in the order check_run calls them. */
void check_connection_discovery(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                                struct check_state *st, struct check_list *l);
void check_scopes(struct vap_instance *inst, const struct check_state *st,
                  struct check_list *l);
/* Ask /authorize about the client, redirect URI and scope (no item: the
 * verdict feeds check_scopes, check_redirect and check_client). */
void check_authz_probe(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                       struct check_state *st);
void check_redirect(struct vap_instance *inst, const struct check_state *st,
                    struct check_list *l);
void check_store(struct vap_instance *inst, struct check_state *st, struct check_list *l);
void check_client(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                  const struct check_state *st, struct check_list *l);
/* check_client for client_auth=private_key_jwt (check_key.c). */
void check_client_key(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                      const struct check_state *st, struct check_list *l);
void check_fhir(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                struct check_list *l);
void check_grant(struct vap_instance *inst, const struct check_state *st, struct check_list *l);
/* check_client for grant=client_credentials (check_backend.c): the items
 * key, jwks, system_scopes and token, from a real client_credentials token
 * request that is wiped, never kept. */
void check_backend(struct vap_instance *inst, int64_t deadline, vap_cancel *cancel,
                   const struct check_state *st, struct check_list *l);
/* A failed request to what (a URL), as item name: the fix for TLS, reach
 * and the rest. */
void check_net_failure(struct check_list *l, const char *name, const char *what, int rc,
                       const vap_error *e);

#endif
