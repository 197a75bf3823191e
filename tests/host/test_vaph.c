/*
 * test_vaph.c - libvaphost (vap/host.h): the config lookup, the instance
 * choice and where each failure is reported (the stage a host maps to its
 * exit code), over the tiny test plugins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vap/host.h>

static const char *mods_dir;
static char work[64];

static void copy_module(const char *variant)
{
    char from[4096], to[256], buf[65536];
    snprintf(from, sizeof from, "%s/testmod_%s.so", mods_dir, variant);
    snprintf(to, sizeof to, "%s/%s.so", work, variant);
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(in >= 0 && out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static const char *write_conf(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", work, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "/tmp/vaph-XXXXXX");
    if (mkdtemp(work) == NULL)
        return -1;
    copy_module("good");
    copy_module("nosym");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    return system(cmd) == 0 ? 0 : -1;
}

static void config_path_prefers_argument_then_env_then_default(void **state)
{
    (void)state;
    unsetenv("VAP_CONFIG");
    assert_string_equal(vaph_config_path(NULL), VAPH_DEFAULT_CONFIG);
    setenv("VAP_CONFIG", "/srv/env.conf", 1);
    assert_string_equal(vaph_config_path(NULL), "/srv/env.conf");
    assert_string_equal(vaph_config_path(""), "/srv/env.conf");
    assert_string_equal(vaph_config_path("/srv/given.conf"), "/srv/given.conf");
    setenv("VAP_CONFIG", "", 1);
    assert_string_equal(vaph_config_path(NULL), VAPH_DEFAULT_CONFIG);
    unsetenv("VAP_CONFIG");
}

static void open_picks_the_only_instance_and_names_it(void **state)
{
    char text[512], name[80];
    const vap_plugin_api *api = NULL;
    vap_instance *inst = NULL;
    vaph_error err;
    (void)state;
    snprintf(text, sizeof text, "solo %s/good.so mode=x\n", work);
    const char *conf = write_conf("one.conf", text);
    assert_int_equal(vaph_open(conf, NULL, NULL, &api, &inst, name, sizeof name, &err), VAP_OK);
    assert_non_null(api);
    assert_non_null(inst);
    assert_string_equal(name, "solo");
    api->instance_free(inst);
}

static void open_by_name_among_several(void **state)
{
    char text[512], name[80];
    const vap_plugin_api *api = NULL;
    vap_instance *inst = NULL;
    vaph_error err;
    (void)state;
    snprintf(text, sizeof text, "a %s/good.so\nb %s/good.so\n", work, work);
    const char *conf = write_conf("two.conf", text);
    assert_int_equal(vaph_open(conf, NULL, NULL, &api, &inst, name, sizeof name, &err),
                     VAP_E_CONFIG);
    assert_int_equal(err.stage, VAPH_STAGE_CONFIG);
    assert_non_null(strstr(err.message, "configures 2 instances; choose one"));
    assert_null(api);
    assert_null(inst);
    assert_int_equal(vaph_open(conf, "b", NULL, &api, &inst, name, sizeof name, &err), VAP_OK);
    assert_string_equal(name, "b");
    api->instance_free(inst);
    assert_int_equal(vaph_open(conf, "c", NULL, &api, &inst, NULL, 0, &err), VAP_E_CONFIG);
    assert_non_null(strstr(err.message, "has no instance named c"));
}

static void a_missing_config_is_an_io_error_at_the_config_stage(void **state)
{
    char path[128];
    const vap_plugin_api *api;
    vap_instance *inst;
    vaph_error err;
    (void)state;
    snprintf(path, sizeof path, "%s/none.conf", work);
    assert_int_equal(vaph_open(path, NULL, NULL, &api, &inst, NULL, 0, &err), VAP_E_IO);
    assert_int_equal(err.code, VAP_E_IO);
    assert_int_equal(err.stage, VAPH_STAGE_CONFIG);
    assert_non_null(strstr(err.message, "none.conf: no such file"));
}

static void load_failures_are_at_the_load_stage(void **state)
{
    char path[128], text[256];
    const vap_plugin_api *api;
    vap_instance *inst;
    vaph_error err;
    (void)state;
    assert_int_equal(vaph_load("relative.so", NULL, 0, NULL, &api, &inst, &err), VAP_E_CONFIG);
    assert_int_equal(err.stage, VAPH_STAGE_LOAD);
    snprintf(path, sizeof path, "%s/nosym.so", work);
    assert_int_equal(vaph_load(path, NULL, 0, NULL, &api, &inst, &err), VAP_E_ABI);
    assert_int_equal(err.stage, VAPH_STAGE_LOAD);
    assert_non_null(strstr(err.message, "vap_plugin_entry_v1"));
    /* through a config: the message names the file and line */
    snprintf(text, sizeof text, "# comment\nx %s/nosym.so\n", work);
    const char *conf = write_conf("nosym.conf", text);
    assert_int_equal(vaph_open(conf, NULL, NULL, &api, &inst, NULL, 0, &err), VAP_E_ABI);
    assert_non_null(strstr(err.message, "nosym.conf:2: "));
}

static void load_passes_the_options(void **state)
{
    char path[128];
    const vap_plugin_api *api;
    vap_instance *inst;
    vaph_error err;
    vap_option opts[] = {{"mode", "y"}};
    (void)state;
    snprintf(path, sizeof path, "%s/good.so", work);
    assert_int_equal(vaph_load(path, opts, 1, NULL, &api, &inst, &err), VAP_OK);
    api->instance_free(inst);
    assert_int_equal(vaph_load(path, NULL, 1, NULL, &api, &inst, &err), VAP_E_INVAL);
}

static void stderr_host_is_static_per_level(void **state)
{
    (void)state;
    const vap_host_api *a = vaph_stderr_host(VAP_LOG_WARN), *b = vaph_stderr_host(VAP_LOG_WARN);
    assert_ptr_equal(a, b);
    assert_non_null(a->log);
    assert_int_equal(a->struct_size, sizeof(vap_host_api));
    assert_ptr_equal(vaph_stderr_host(-5), vaph_stderr_host(VAP_LOG_ERROR));
    assert_ptr_equal(vaph_stderr_host(99), vaph_stderr_host(VAP_LOG_DEBUG));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_vaph TESTMOD_DIR\n");
        return 2;
    }
    mods_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_path_prefers_argument_then_env_then_default),
        cmocka_unit_test(open_picks_the_only_instance_and_names_it),
        cmocka_unit_test(open_by_name_among_several),
        cmocka_unit_test(a_missing_config_is_an_io_error_at_the_config_stage),
        cmocka_unit_test(load_failures_are_at_the_load_stage),
        cmocka_unit_test(load_passes_the_options),
        cmocka_unit_test(stderr_host_is_static_per_level),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
