/* status.c - vap_grant_info objects. */
#include "oauth/status.h"

#include "core/object.h"

static void info_dtor(void *obj)
{
    vap_grant_info *i = obj;
    obj_strfree(i->scope);
    obj_strfree(i->patient);
    obj_strfree(i->encounter);
    obj_strfree(i->subject);
    obj_strfree(i->fhir_user);
}

int status_state(const struct grant *g, int64_t now_ms)
{
    if (g == NULL)
        return VAP_GRANT_NONE;
    if (g->reauth_required)
        return VAP_GRANT_REAUTH_REQUIRED;
    if (now_ms < g->access_expires_at_ms)
        return VAP_GRANT_VALID;
    return g->refresh_token[0] ? VAP_GRANT_EXPIRED : VAP_GRANT_REAUTH_REQUIRED;
}

vap_grant_info *status_info_new(const struct grant *g, int64_t now_ms)
{
    vap_grant_info *i = obj_new(sizeof *i, info_dtor);
    if (i == NULL)
        return NULL;
    i->state = status_state(g, now_ms);
    i->scope = obj_strdup(g ? g->scope : "");
    i->patient = obj_strdup(g ? g->patient : "");
    i->encounter = obj_strdup(g ? g->encounter : "");
    i->subject = obj_strdup(g ? g->sub : "");
    i->fhir_user = obj_strdup(g ? g->fhir_user : "");
    if (!i->scope || !i->patient || !i->encounter || !i->subject || !i->fhir_user) {
        obj_release(i);
        return NULL;
    }
    if (g != NULL) {
        i->access_expires_at_ms = g->access_expires_at_ms;
        i->obtained_at_ms = g->obtained_at_ms;
        i->generation = g->generation;
        i->has_refresh_token = g->refresh_token[0] != '\0';
    }
    return i;
}
