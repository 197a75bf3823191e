/* check.c - check_run: runs the checks in order and hands the host one
 * report object (the checks themselves are in check_items.c).  Order is
 * the order an admin fixes things in: reach the server, find its OpenID
 * configuration, then what depends on it. */
#include "admin/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "instance.h"
#include "core/object.h"

static void report_dtor(void *obj);
static void item_free(vap_check_item *it);

int check_run(struct vap_instance *inst, const vap_call *call, vap_check_report **out,
              vap_error *err)
{
    struct check_list l;
    struct check_state st;
    int64_t deadline = authz_deadline(inst, call);
    vap_cancel *cancel = authz_cancel(call);

    memset(&l, 0, sizeof l);
    memset(&st, 0, sizeof st);
    st.authz_verdict = -1;
    check_connection_discovery(inst, deadline, cancel, &st, &l);
    check_authz_probe(inst, deadline, cancel, &st);
    check_scopes(inst, &st, &l);
    check_redirect(inst, &st, &l);
    check_store(inst, &st, &l);
    check_client(inst, deadline, cancel, &st, &l);
    check_fhir(inst, deadline, cancel, &l);
    check_grant(inst, &st, &l);
    adm_disc_free(&st.extra);

    vap_check_report *rep = l.oom ? NULL : obj_new(sizeof *rep, report_dtor);
    const vap_check_item **arr = rep ? calloc(l.n ? l.n : 1, sizeof *arr) : NULL;
    if (arr == NULL) {
        obj_release(rep);
        for (size_t i = 0; i < l.n; i++)
            item_free(l.items[i]);
        return err_set(err, VAP_E_NOMEM, "out of memory building the check report");
    }
    /* A caller built before VAP_CHECK_UNKNOWN existed would not know it (and
     * might show it as a pass): it gets a warning with the same message. */
    uint32_t minor = call != NULL && VAP_HAS(call, abi_minor) ? call->abi_minor
                                                               : plog_host_minor();
    for (size_t i = 0; i < l.n; i++) {
        if (minor < 2 && l.items[i]->result == VAP_CHECK_UNKNOWN)
            l.items[i]->result = VAP_CHECK_WARN;
        arr[i] = l.items[i];
        rep->n_failed += l.items[i]->result == VAP_CHECK_FAIL;
        rep->n_warnings += l.items[i]->result == VAP_CHECK_WARN;
        rep->n_unknown += l.items[i]->result == VAP_CHECK_UNKNOWN;
    }
    rep->items = arr;
    rep->n_items = l.n;
    *out = rep;
    return VAP_OK;
}

void check_add(struct check_list *l, const char *name, int result, int code, const char *fmt,
               ...)
{
    char msg[CHECK_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->n >= CHECK_MAX_ITEMS) {
        l->oom = 1;
        return;
    }
    vap_check_item *it = calloc(1, sizeof *it);
    if (it == NULL) {
        l->oom = 1;
        return;
    }
    it->struct_size = sizeof *it;
    it->abi_minor = VAP_ABI_MINOR;
    it->result = result;
    it->code = result == VAP_CHECK_FAIL ? code : VAP_OK;
    it->name = strdup(name);
    it->message = strdup(msg);
    if (it->name == NULL || it->message == NULL) {
        item_free(it);
        l->oom = 1;
        return;
    }
    l->items[l->n++] = it;
}

/* ---- helpers ---------------------------------------------------------------- */

static void report_dtor(void *obj)
{
    vap_check_report *r = obj;
    for (size_t i = 0; i < r->n_items; i++)
        item_free((vap_check_item *)r->items[i]);
    free((void *)r->items);
}

static void item_free(vap_check_item *it)
{
    if (it == NULL)
        return;
    free((char *)it->name);
    free((char *)it->message);
    free(it);
}
