/* instance.c - checks shared by every call on an instance. */
#include "instance.h"

#include <pthread.h>
#include <unistd.h>

#include "core/errors.h"
#include "oauth/grant.h"

/* The process id, read once and again in a child of fork(): getpid() is a
 * system call, and every call on an instance checks it.  A child made
 * without glibc's fork (a raw clone) is not seen. */
static pid_t g_pid;
static pthread_once_t g_pid_once = PTHREAD_ONCE_INIT;

static void pid_child(void)
{
    __atomic_store_n(&g_pid, getpid(), __ATOMIC_RELAXED);
}

static void pid_init(void)
{
    g_pid = getpid();
    pthread_atfork(NULL, NULL, pid_child);
}

pid_t instance_pid(void)
{
    pthread_once(&g_pid_once, pid_init);
    return __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
}

int instance_usable(const vap_instance *inst, vap_error *err)
{
    if (inst == NULL)
        return err_set(err, VAP_E_INVAL, "instance is NULL");
    if (inst->pid != instance_pid())
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
