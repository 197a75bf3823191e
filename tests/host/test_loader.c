/*
 * test_loader.c - every way vaploader_load and vaploader_read_config refuse
 * a file, with the exact one-line message, and the cases they accept.
 *
 * argv[1] is the build directory holding the testmod_*.so modules.  Files
 * are copied into fresh directories under /tmp first, so the results do not
 * depend on how the checkout's directories happen to be owned.  Permission
 * tests run in a child that drops to nobody (65534) when the suite runs as
 * root: as root they would pass for the wrong reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader.h"

#define NOBODY 65534
#define OTHER_USER 1 /* daemon: a non-root user that is not us */

static const char *build_dir;
static char work[PATH_MAX];
static vap_host_api host;
static int entry_lines;

static void host_log(void *ctx, int level, const char *msg)
{
    if (strstr(msg, "testmod entry call") != NULL)
        entry_lines++;
}

static void path_in(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_MAX);
}

static void copy_file(const char *src, const char *dst, mode_t mode)
{
    char buf[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
    assert_int_equal(chmod(dst, mode), 0); /* not subject to the umask */
}

static void put_module(const char *dir, const char *variant, const char *name, mode_t mode)
{
    char src[PATH_MAX], dst[PATH_MAX], file[64];
    snprintf(file, sizeof file, "testmod_%s.so", variant);
    path_in(src, build_dir, file);
    path_in(dst, dir, name);
    copy_file(src, dst, mode);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void expect_load(const char *path, int rc_want, const char *msg_want)
{
    const vap_plugin_api *api = NULL;
    char err[1024];
    int rc = vaploader_load(path, &host, &api, err, sizeof err);
    assert_int_equal(rc, rc_want);
    assert_null(api);
    assert_string_equal(err, msg_want);
}

/* ---- group fixture ---------------------------------------------------------------- */

static int setup_work(void **state)
{
    snprintf(work, sizeof work, "/tmp/vaploader-XXXXXX");
    if (mkdtemp(work) == NULL)
        return -1;
    const char *variants[] = {"good",  "nosym",      "v2",        "small",
                              "large", "refuse",     "unres_lazy", "unres_now",
                              "lazydep"};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.so", variants[i]);
        put_module(work, variants[i], name, 0755);
    }
    return 0;
}

static int teardown_work(void **state)
{
    rm_tree(work);
    return 0;
}

/* ---- loader failures ------------------------------------------------------------------ */

static void load_refuses_relative_path(void **state)
{
    expect_load("good.so", VAP_E_CONFIG,
                "good.so: the module path is relative; give the absolute path, e.g. "
                "/usr/lib/x86_64-linux-gnu/vap/vap_openemr.so");
}

static void load_refuses_missing_file(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "absent.so");
    snprintf(want, sizeof want, "%s: no such file; check the path", p);
    expect_load(p, VAP_E_IO, want);
}

static void load_refuses_missing_directory(void **state)
{
    char p[PATH_MAX], want[3 * PATH_MAX];
    path_in(p, work, "nodir/x.so");
    snprintf(want, sizeof want, "%s: directory %s/nodir: No such file or directory; check the path",
             p, work);
    expect_load(p, VAP_E_IO, want);
}

static void load_refuses_file_that_is_not_elf(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "text.so");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("openemr /usr/lib/vap/vap_openemr.so\n", f);
    fclose(f);
    snprintf(want, sizeof want, "%s: not a shared library (no ELF header); check the module path", p);
    expect_load(p, VAP_E_ABI, want);
}

static void load_refuses_module_without_entry_symbol(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "nosym.so");
    snprintf(want, sizeof want, "%s: no symbol vap_plugin_entry_v1 (not a vap plugin, or built for "
                                "another ABI major)", p);
    expect_load(p, VAP_E_ABI, want);
}

static void load_refuses_other_abi_major(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "v2.so");
    snprintf(want, sizeof want, "%s: no symbol vap_plugin_entry_v1 (not a vap plugin, or built for "
                                "another ABI major)", p);
    expect_load(p, VAP_E_ABI, want);
}

static void load_refuses_descriptor_too_small(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "small.so");
    snprintf(want, sizeof want, "%s: plugin descriptor too small (%zu bytes, this host needs at "
                                "least %zu); install a plugin built for this vap/plugin.h",
             p, offsetof(vap_plugin_api, release), (size_t)VAPLOADER_MIN_API_SIZE);
    expect_load(p, VAP_E_ABI, want);
}

static void load_reports_entry_refusal(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "refuse.so");
    snprintf(want, sizeof want, "%s: the plugin refused to start: host api too old for testmod", p);
    expect_load(p, VAP_E_ABI, want);
}

static void load_refuses_symlinked_module(void **state)
{
    char target[PATH_MAX], p[PATH_MAX], want[2 * PATH_MAX];
    path_in(target, work, "good.so");
    path_in(p, work, "link.so");
    assert_int_equal(symlink(target, p), 0);
    snprintf(want, sizeof want, "%s: is a symbolic link; name the real file (links are refused so "
                                "nothing can be swapped in)", p);
    expect_load(p, VAP_E_CONFIG, want);
}

static void load_refuses_fifo(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "fifo.so");
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(want, sizeof want, "%s: not a regular file", p);
    expect_load(p, VAP_E_CONFIG, want);
}

/* A symbol defined nowhere is found at load, not when a call first needs
 * it (which would end the host's process mid-conversation). */
static void load_refuses_module_with_undefined_symbol(void **state)
{
    const char *files[] = {"unres_lazy.so", "unres_now.so"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[PATH_MAX], want[2 * PATH_MAX];
        path_in(p, work, files[i]);
        snprintf(want, sizeof want, "%s: cannot be loaded: undefined symbol: "
                                    "testmod_no_such_function", p);
        expect_load(p, VAP_E_ABI, want);
    }
}

/* Under LD_AUDIT or LD_PROFILE ld.so may leave even a -z now module's
 * symbols to bind on first call, so everything is bound at load then: the
 * library's unresolvable function now fails the load.  Runs before the
 * library is loaded lazily below (a loaded library is not bound again). */
static void load_binds_everything_under_ld_profile(void **state)
{
    char p[PATH_MAX], want[2 * PATH_MAX];
    path_in(p, work, "lazydep-profiled.so");
    put_module(work, "lazydep", "lazydep-profiled.so", 0755);
    snprintf(want, sizeof want, "%s: cannot be loaded: %s/libtestmod_lazydep_lib.so: undefined "
                                "symbol: testmod_lazydep_undefined", p, build_dir);
    assert_int_equal(setenv("LD_PROFILE", "testmod_lazydep.so", 1), 0);
    expect_load(p, VAP_E_ABI, want);
    assert_int_equal(unsetenv("LD_PROFILE"), 0);
}

/* A module linked -z now binds its own symbols at load; its libraries bind
 * as in a program that links them, so one with an unresolvable function
 * nobody calls does not stop the load. */
static void load_binds_a_modules_libraries_as_a_program_would(void **state)
{
    char p[PATH_MAX], err[1024];
    const vap_plugin_api *api = NULL;
    path_in(p, work, "lazydep.so");
    assert_int_equal(vaploader_load(p, &host, &api, err, sizeof err), VAP_OK);
    assert_non_null(api);
}

static void load_accepts_larger_descriptor(void **state)
{
    char p[PATH_MAX], err[1024];
    const vap_plugin_api *api = NULL;
    path_in(p, work, "large.so");
    assert_int_equal(vaploader_load(p, &host, &api, err, sizeof err), VAP_OK);
    assert_non_null(api);
    assert_string_equal(api->name, "testmod-large");
    assert_true(api->struct_size > sizeof(vap_plugin_api));
    assert_int_equal(api->abi_minor, VAP_ABI_MINOR + 1);
}

static void load_twice_calls_entry_once(void **state)
{
    char p[PATH_MAX], hard[PATH_MAX], err[1024];
    const vap_plugin_api *first = NULL, *second = NULL, *third = NULL;
    path_in(p, work, "good.so");
    path_in(hard, work, "good-hardlink.so");
    assert_int_equal(link(p, hard), 0);
    entry_lines = 0;
    assert_int_equal(vaploader_load(p, &host, &first, err, sizeof err), VAP_OK);
    assert_int_equal(vaploader_load(p, &host, &second, err, sizeof err), VAP_OK);
    /* Another name for the same file is the same module. */
    assert_int_equal(vaploader_load(hard, &host, &third, err, sizeof err), VAP_OK);
    assert_non_null(first);
    assert_ptr_equal(first, second);
    assert_ptr_equal(first, third);
    assert_int_equal(entry_lines, 1);
}

/* Regression: fd numbers are reused, and glibc matched "/proc/self/fd/N" to
 * the module loaded earlier under that name. */
static void load_two_modules_get_their_own_descriptors(void **state)
{
    char a[PATH_MAX], b[PATH_MAX], err[1024];
    const vap_plugin_api *first = NULL, *second = NULL;
    path_in(a, work, "good.so");
    path_in(b, work, "large.so");
    assert_int_equal(vaploader_load(a, &host, &first, err, sizeof err), VAP_OK);
    assert_int_equal(vaploader_load(b, &host, &second, err, sizeof err), VAP_OK);
    assert_string_equal(first->name, "testmod");
    assert_string_equal(second->name, "testmod-large");
}

static void check_path_accepts_safe_file(void **state)
{
    char p[PATH_MAX], err[1024] = "";
    path_in(p, work, "good.so");
    assert_int_equal(vaploader_check_path(p, err, sizeof err), VAP_OK);
    assert_string_equal(err, "");
}

static void read_config_parses_file_and_names_it_in_errors(void **state)
{
    char p[PATH_MAX], err[1024], want[2 * PATH_MAX];
    vapconf *conf = NULL;
    path_in(p, work, "bad.conf");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("# comment\nopenemr /m.so \\\n  scope=\"openid\n", f);
    fclose(f);
    assert_int_equal(chmod(p, 0644), 0);
    snprintf(want, sizeof want, "%s:3: unterminated quote in scope=...; add the closing \"", p);
    assert_int_equal(vaploader_read_config(p, &conf, err, sizeof err), VAP_E_CONFIG);
    assert_null(conf);
    assert_string_equal(err, want);
}

static void read_config_returns_instances(void **state)
{
    char p[PATH_MAX], err[1024];
    vapconf *conf = NULL;
    path_in(p, work, "good.conf");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("openemr /usr/lib/vap/vap_openemr.so scope=\"openid fhirUser\"\n", f);
    fclose(f);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(vaploader_read_config(p, &conf, err, sizeof err), VAP_OK);
    assert_int_equal(conf->n_inst, 1);
    assert_string_equal(conf->inst[0].opts[0].value, "openid fhirUser");
    vapconf_free(conf);
}

/* A relative config path is taken from the current directory, whose
 * ancestors are checked like any other. */
static void read_config_accepts_relative_path(void **state)
{
    char p[PATH_MAX], cwd[PATH_MAX], err[1024];
    vapconf *conf = NULL;
    path_in(p, work, "rel.conf");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("rel /m.so\n", f);
    fclose(f);
    assert_int_equal(chmod(p, 0600), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(work), 0);
    int rc = vaploader_read_config("rel.conf", &conf, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, VAP_OK);
    assert_string_equal(conf->inst[0].name, "rel");
    vapconf_free(conf);
}

/* ---- permissions, as an unprivileged user ---------------------------------------------- */

enum perm_kind { PERM_MODULE, PERM_CONFIG };

struct perm_case {
    const char *name;
    enum perm_kind kind;
    const char *subdir;    /* NULL: the file sits in the case directory    */
    mode_t subdir_mode;
    uid_t subdir_owner;    /* (uid_t)-1: the unprivileged user             */
    mode_t file_mode;
    uid_t file_owner;      /* (uid_t)-1: the unprivileged user             */
    int rc;
    const char *message;   /* %F: the file, %D: the subdir, %U: our uid; NULL: accepted */
};

#define ME ((uid_t)-1)

static const struct perm_case perm_cases[] = {
    {"perm_accepts_own_module", PERM_MODULE, NULL, 0, ME, 0755, ME, VAP_OK, NULL},
    {"perm_accepts_root_owned_module", PERM_MODULE, NULL, 0, ME, 0755, 0, VAP_OK, NULL},
    {"perm_refuses_group_writable_module", PERM_MODULE, NULL, 0, ME, 0775, ME, VAP_E_CONFIG,
     "%F is writable by group or others; run: chmod go-w %F"},
    {"perm_refuses_world_writable_module", PERM_MODULE, NULL, 0, ME, 0757, ME, VAP_E_CONFIG,
     "%F is writable by group or others; run: chmod go-w %F"},
    {"perm_refuses_module_of_another_user", PERM_MODULE, NULL, 0, ME, 0755, OTHER_USER, VAP_E_CONFIG,
     "%F is owned by uid 1, neither root nor this user (uid %U); run: chown root %F"},
    {"perm_refuses_world_writable_config", PERM_CONFIG, NULL, 0, ME, 0666, ME, VAP_E_CONFIG,
     "%F is writable by group or others; run: chmod go-w %F"},
    {"perm_refuses_group_writable_config", PERM_CONFIG, NULL, 0, ME, 0620, ME, VAP_E_CONFIG,
     "%F is writable by group or others; run: chmod go-w %F"},
    {"perm_refuses_config_of_another_user", PERM_CONFIG, NULL, 0, ME, 0644, OTHER_USER, VAP_E_CONFIG,
     "%F is owned by uid 1, neither root nor this user (uid %U); run: chown root %F"},
    {"perm_accepts_own_config", PERM_CONFIG, NULL, 0, ME, 0600, ME, VAP_OK, NULL},
    {"perm_refuses_world_writable_ancestor_of_module", PERM_MODULE, "lib", 0777, ME, 0755, ME,
     VAP_E_CONFIG, "%F: directory %D is writable by group or others; run: chmod go-w %D"},
    {"perm_refuses_group_writable_ancestor_of_config", PERM_CONFIG, "etc", 0775, ME, 0644, ME,
     VAP_E_CONFIG, "%F: directory %D is writable by group or others; run: chmod go-w %D"},
    {"perm_refuses_ancestor_of_another_user", PERM_MODULE, "lib", 0755, OTHER_USER, 0755, ME,
     VAP_E_CONFIG,
     "%F: directory %D is owned by uid 1, neither root nor this user (uid %U); run: chown root %D"},
    {"perm_accepts_root_owned_sticky_ancestor", PERM_MODULE, "tmp", 01777, 0, 0755, ME, VAP_OK,
     NULL},
    {"perm_refuses_sticky_ancestor_not_owned_by_root", PERM_MODULE, "tmp", 01777, ME, 0755, ME,
     VAP_E_CONFIG, "%F: directory %D is writable by group or others; run: chmod go-w %D"},
};

/* Expand %F, %D and %U in a message template. */
static void expand(char *out, size_t outlen, const char *tmpl, const char *file, const char *dir,
                   uid_t uid)
{
    size_t n = 0;
    for (const char *t = tmpl; *t != '\0' && n + 1 < outlen; t++) {
        char num[16];
        const char *ins = NULL;
        if (t[0] == '%' && t[1] == 'F')
            ins = file;
        else if (t[0] == '%' && t[1] == 'D')
            ins = dir;
        else if (t[0] == '%' && t[1] == 'U') {
            snprintf(num, sizeof num, "%u", (unsigned)uid);
            ins = num;
        }
        if (ins != NULL) {
            n += (size_t)snprintf(out + n, outlen - n, "%s", ins);
            t++;
        } else {
            out[n++] = *t;
        }
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

/* In the child: drop to the unprivileged user, run the check, report by exit status. */
static int perm_child(const struct perm_case *pc, const char *file, const char *dir, uid_t uid)
{
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
            fprintf(stderr, "cannot drop to nobody: %s\n", strerror(errno));
            return 3;
        }
        if (geteuid() != NOBODY || setuid(0) == 0) {
            fprintf(stderr, "privileges were not dropped\n");
            return 3;
        }
    }
    char err[1024] = "", want[4 * PATH_MAX] = "";
    int rc;
    if (pc->kind == PERM_MODULE) {
        const vap_plugin_api *api = NULL;
        rc = vaploader_load(file, &host, &api, err, sizeof err);
        if (rc == VAP_OK && api == NULL)
            return 4;
    } else {
        vapconf *conf = NULL;
        rc = vaploader_read_config(file, &conf, err, sizeof err);
        vapconf_free(conf);
    }
    if (pc->message != NULL)
        expand(want, sizeof want, pc->message, file, dir, uid);
    if (rc != pc->rc || strcmp(err, want) != 0) {
        fprintf(stderr, "%s: got rc %d \"%s\"\n%s: want rc %d \"%s\"\n", pc->name, rc, err,
                pc->name, pc->rc, want);
        return 1;
    }
    return 0;
}

static void perm_test(void **state)
{
    const struct perm_case *pc = *state;
    int root = geteuid() == 0;
    uid_t me = root ? NOBODY : geteuid();
    gid_t my_gid = root ? NOBODY : getegid();
    if (!root && (pc->file_owner != ME || pc->subdir_owner != ME)) {
        /* Files of another owner need root to create. */
        skip();
    }
    char base[PATH_MAX] = "/tmp/vaploader-perm-XXXXXX", dir[PATH_MAX], file[PATH_MAX];
    assert_non_null(mkdtemp(base));
    assert_int_equal(chmod(base, 0755), 0);
    if (root)
        assert_int_equal(chown(base, me, my_gid), 0);
    if (pc->subdir != NULL) {
        path_in(dir, base, pc->subdir);
        assert_int_equal(mkdir(dir, 0700), 0);
    } else {
        snprintf(dir, sizeof dir, "%s", base);
    }
    path_in(file, dir, pc->kind == PERM_MODULE ? "plugin.so" : "plugins.conf");
    if (pc->kind == PERM_MODULE) {
        put_module(dir, "good", "plugin.so", pc->file_mode);
    } else {
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs("openemr /usr/lib/vap/vap_openemr.so\n", f);
        fclose(f);
        assert_int_equal(chmod(file, pc->file_mode), 0);
    }
    if (root) {
        uid_t fo = pc->file_owner == ME ? me : pc->file_owner;
        assert_int_equal(chown(file, fo, my_gid), 0);
        assert_int_equal(chmod(file, pc->file_mode), 0); /* chown clears no bits we use, but be exact */
    }
    if (pc->subdir != NULL) {
        if (root) {
            uid_t dow = pc->subdir_owner == ME ? me : pc->subdir_owner;
            assert_int_equal(chown(dir, dow, my_gid), 0);
        }
        assert_int_equal(chmod(dir, pc->subdir_mode), 0);
    }

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(perm_child(pc, file, dir, me));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    rm_tree(base);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* As root, a module owned by an ordinary user is someone else's file. */
static void perm_root_refuses_module_of_ordinary_user(void **state)
{
    if (geteuid() != 0)
        skip();
    char base[PATH_MAX] = "/tmp/vaploader-perm-XXXXXX", file[PATH_MAX], want[3 * PATH_MAX];
    assert_non_null(mkdtemp(base));
    put_module(base, "good", "plugin.so", 0755);
    path_in(file, base, "plugin.so");
    assert_int_equal(chown(file, NOBODY, NOBODY), 0);
    snprintf(want, sizeof want, "%s is owned by uid 65534, neither root nor this user (uid 0); run: "
                                "chown root %s", file, file);
    expect_load(file, VAP_E_CONFIG, want);
    rm_tree(base);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BUILD_DIR_WITH_TESTMODS\n", argv[0]);
        return 2;
    }
    build_dir = argv[1];
    VAP_INIT(vap_host_api, host);
    host.log = host_log;

    enum { N_PERM = sizeof perm_cases / sizeof perm_cases[0] };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(load_refuses_relative_path),
        cmocka_unit_test(load_refuses_missing_file),
        cmocka_unit_test(load_refuses_missing_directory),
        cmocka_unit_test(load_refuses_file_that_is_not_elf),
        cmocka_unit_test(load_refuses_module_without_entry_symbol),
        cmocka_unit_test(load_refuses_other_abi_major),
        cmocka_unit_test(load_refuses_descriptor_too_small),
        cmocka_unit_test(load_reports_entry_refusal),
        cmocka_unit_test(load_refuses_symlinked_module),
        cmocka_unit_test(load_refuses_fifo),
        cmocka_unit_test(load_refuses_module_with_undefined_symbol),
        cmocka_unit_test(load_binds_everything_under_ld_profile),
        cmocka_unit_test(load_binds_a_modules_libraries_as_a_program_would),
        cmocka_unit_test(load_accepts_larger_descriptor),
        cmocka_unit_test(load_twice_calls_entry_once),
        cmocka_unit_test(load_two_modules_get_their_own_descriptors),
        cmocka_unit_test(check_path_accepts_safe_file),
        cmocka_unit_test(read_config_parses_file_and_names_it_in_errors),
        cmocka_unit_test(read_config_returns_instances),
        cmocka_unit_test(read_config_accepts_relative_path),
        cmocka_unit_test(perm_root_refuses_module_of_ordinary_user),
    };
    enum { N_FIXED = sizeof fixed / sizeof fixed[0] };
    struct CMUnitTest tests[N_FIXED + N_PERM];
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < N_PERM; i++)
        tests[N_FIXED + i] = (struct CMUnitTest){perm_cases[i].name, perm_test, NULL, NULL,
                                                 (void *)&perm_cases[i]};
    return _cmocka_run_group_tests("loader", tests, N_FIXED + N_PERM, setup_work, teardown_work);
}
