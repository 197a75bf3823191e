/*
 * test_fakehost.c - the fake host drives a module through the real loader:
 * its log, clock and metrics are what the module sees through the ABI.
 * argv[1] is the build directory holding testmod_good.so; it is copied to a
 * fresh directory under /tmp so the loader's permission rules hold.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakehost.h"

static char dir[64];
static char module[PATH_MAX];
static const char *build_dir;

static int setup(void **state)
{
    char src[PATH_MAX], buf[65536];
    snprintf(dir, sizeof dir, "/tmp/vapfakehost-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(src, sizeof src, "%s/testmod_good.so", build_dir);
    snprintf(module, sizeof module, "%s/good.so", dir);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(module, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    if (in < 0 || out < 0)
        return -1;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            return -1;
    close(in);
    close(out);
    return chmod(module, 0755);
}

static int teardown(void **state)
{
    unlink(module);
    rmdir(dir);
    return 0;
}

static void fakehost_records_entry_log_line(void **state)
{
    fakehost *fh = NULL;
    char err[512];
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    assert_non_null(fakehost_api(fh));
    assert_string_equal(fakehost_api(fh)->name, "testmod");
    assert_true(fakehost_log_contains(fh, "info: testmod entry call 1"));
    assert_int_equal(fakehost_log_count(fh), 1);
    assert_int_equal(fakehost_metric_count(fh, "testmod.entry"), 1);
    fakehost_free(fh);
}

static void fakehost_second_load_reuses_entry(void **state)
{
    fakehost *fh = NULL;
    char err[512];
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    /* The entry point ran in the previous test and is never run twice. */
    assert_int_equal(fakehost_log_count(fh), 0);
    assert_false(fakehost_log_contains(fh, "entry call 2"));
    fakehost_free(fh);
}

static void fakehost_refuses_a_second_live_host(void **state)
{
    fakehost *fh = NULL, *other = NULL;
    char err[512];
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    assert_int_equal(fakehost_new(module, &other, err, sizeof err), VAP_E_INVAL);
    assert_null(other);
    assert_string_equal(err, "fakehost: one fake host per process; free the first");
    fakehost_free(fh);
}

static void fakehost_settable_clock_reaches_plugin(void **state)
{
    fakehost *fh = NULL;
    vap_instance *inst = NULL;
    char err[512];
    vap_error verr;
    VAP_INIT(vap_error, verr);
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    fakehost_set_now_ms(fh, 1234567);
    vap_option opts[1] = {{"k", "v"}};
    assert_int_equal(fakehost_api(fh)->instance_new(opts, 1, &inst, &verr), VAP_OK);
    assert_true(fakehost_log_contains(fh, "testmod instance_new options=1 now=1234567"));
    fakehost_api(fh)->instance_free(inst);
    fakehost_free(fh);
}

static void fakehost_zero_clock_is_real_time(void **state)
{
    fakehost *fh = NULL;
    char err[512];
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    fakehost_set_now_ms(fh, 0);
    const vap_host_api *h = fakehost_host_api(fh);
    /* The fake host's own clock (CLOCK_REALTIME), not time(), whose coarse
     * clock can lag a tick behind it; 2 s either way tells real time from 0
     * or a set value. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 2000;
    int64_t now = h->now_ms(h->ctx);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
    assert_true(now >= before && now <= after);
    fakehost_free(fh);
}

static void fakehost_records_metrics(void **state)
{
    fakehost *fh = NULL;
    vap_instance *a = NULL, *b = NULL;
    char err[512];
    vap_error verr;
    VAP_INIT(vap_error, verr);
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    assert_int_equal(fakehost_api(fh)->instance_new(NULL, 0, &a, &verr), VAP_OK);
    assert_int_equal(fakehost_api(fh)->instance_new(NULL, 0, &b, &verr), VAP_OK);
    assert_int_equal(fakehost_metric_count(fh, "testmod.instances"), 2);
    assert_true(fakehost_metric_sum(fh, "testmod.instances") == 2.0);
    assert_int_equal(fakehost_metric_count(fh, "no.such.metric"), 0);
    fakehost_metric_clear(fh);
    assert_int_equal(fakehost_metric_count(fh, "testmod.instances"), 0);
    fakehost_api(fh)->instance_free(a);
    fakehost_api(fh)->instance_free(b);
    fakehost_free(fh);
}

static void fakehost_log_text_and_clear(void **state)
{
    fakehost *fh = NULL;
    vap_instance *inst = NULL;
    char err[512];
    vap_error verr;
    VAP_INIT(vap_error, verr);
    assert_int_equal(fakehost_new(module, &fh, err, sizeof err), VAP_OK);
    fakehost_set_now_ms(fh, 5);
    assert_int_equal(fakehost_api(fh)->instance_new(NULL, 0, &inst, &verr), VAP_OK);
    char *text = fakehost_log_text(fh);
    assert_non_null(text);
    assert_string_equal(text, "info: testmod instance_new options=0 now=5\n");
    free(text);
    fakehost_log_clear(fh);
    assert_int_equal(fakehost_log_count(fh), 0);
    assert_false(fakehost_log_contains(fh, "instance_new"));
    text = fakehost_log_text(fh);
    assert_string_equal(text, "");
    free(text);
    fakehost_api(fh)->instance_free(inst);
    fakehost_free(fh);
}

static void fakehost_reports_loader_errors(void **state)
{
    fakehost *fh = NULL;
    char err[512];
    assert_int_equal(fakehost_new("relative.so", &fh, err, sizeof err), VAP_E_CONFIG);
    assert_null(fh);
    assert_string_equal(err, "relative.so: the module path is relative; give the absolute path, "
                             "e.g. /usr/lib/x86_64-linux-gnu/vap/vap_openemr.so");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BUILD_DIR_WITH_TESTMODS\n", argv[0]);
        return 2;
    }
    build_dir = argv[1];
    /* Order matters for the first two: the entry runs once per process. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fakehost_records_entry_log_line),
        cmocka_unit_test(fakehost_second_load_reuses_entry),
        cmocka_unit_test(fakehost_refuses_a_second_live_host),
        cmocka_unit_test(fakehost_settable_clock_reaches_plugin),
        cmocka_unit_test(fakehost_zero_clock_is_real_time),
        cmocka_unit_test(fakehost_records_metrics),
        cmocka_unit_test(fakehost_log_text_and_clear),
        cmocka_unit_test(fakehost_reports_loader_errors),
    };
    return cmocka_run_group_tests_name("fakehost", tests, setup, teardown);
}
