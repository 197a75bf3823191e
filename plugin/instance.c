/* instance.c - checks shared by every call on an instance. */
#include "instance.h"

#include <unistd.h>

#include "core/errors.h"
#include "oauth/grant.h"

int instance_usable(const vap_instance *inst, vap_error *err)
{
    if (inst == NULL)
        return err_set(err, VAP_E_INVAL, "instance is NULL");
    if (inst->pid != getpid())
        return err_set(err, VAP_E_INVAL,
                       "this instance was created by process %ld and cannot be used after "
                       "fork(): create a new instance in the child",
                       (long)inst->pid);
    return VAP_OK;
}

struct grant *instance_scratch(vap_instance *inst)
{
    if (inst->scratch == NULL)
        inst->scratch = grant_new();
    return inst->scratch;
}
