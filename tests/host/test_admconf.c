/* test_admconf.c - writing client_id into a config line (host-sdk/admconf.c):
 * only the named instance changes, by exactly one option; layouts it cannot
 * edit safely are refused; the file keeps its mode and a backup is left. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testcheck.h"
#include "admconf.h"

struct row {
    const char *name;
    const char *in;
    const char *instance;
    const char *want; /* NULL: refused */
};

static const struct row rows[] = {
    {"one_line_gets_option_after_module", "a /m.so issuer=x\n", "a",
     "a /m.so client_id=ID1 issuer=x\n"},
    {"continued_line_changes_first_line_only", "a /m.so \\\n  issuer=x \\\n  store=/s\n", "a",
     "a /m.so client_id=ID1 \\\n  issuer=x \\\n  store=/s\n"},
    {"other_instances_untouched", "# c\na /m.so k=1\nb /m.so k=2 # note\n", "b",
     "# c\na /m.so k=1\nb /m.so client_id=ID1 k=2 # note\n"},
    {"quoted_module_skipped_whole", "a \"/my dir/m.so\" k=1\n", "a",
     "a \"/my dir/m.so\" client_id=ID1 k=1\n"},
    {"module_alone_on_line", "a /m.so\n", "a", "a /m.so client_id=ID1\n"},
    {"existing_client_id_refused", "a /m.so client_id=old\n", "a", NULL},
    {"unknown_instance_refused", "a /m.so k=1\n", "zz", NULL},
    {"syntax_error_refused", "a /m.so k=\"open\n", "a", NULL},
};

static void test_insert(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        char *out = NULL, why[256] = "";
        size_t out_len = 0;
        int rc = admconf_insert(r->in, strlen(r->in), r->instance, "client_id", "ID1", &out,
                                &out_len, why, sizeof why);
        int ok = r->want ? rc == 0 && out_len == strlen(r->want) && strcmp(out, r->want) == 0
                         : rc == -1 && out == NULL && why[0] != '\0';
        check(ok, r->name);
        free(out);
    }
    char *out = NULL, why[256];
    size_t n;
    check(admconf_insert("a /m.so\n", 8, "a", "client_id", "x y", &out, &n, why, sizeof why) ==
              -1 && out == NULL, "value_with_space_refused");
    check(admconf_insert("a /m.so\n", 8, "a", "jwks_uri", "https://k.example.org/j.json?v=1",
                         &out, &n, why, sizeof why) == 0 &&
              strcmp(out, "a /m.so jwks_uri=https://k.example.org/j.json?v=1\n") == 0,
          "url_value_is_inserted");
    free(out);
    out = NULL;
    check(admconf_insert("a /m.so\n", 8, "a", "jwks_uri", "https://k/#x", &out, &n, why,
                         sizeof why) == -1 && out == NULL, "value_with_hash_refused");
}

static void test_write_keeps_mode_and_backup(void)
{
    char dir[] = "/tmp/admconf-XXXXXX", path[256], backup[512], why[256], buf[256];
    if (mkdtemp(dir) == NULL) {
        check(0, "write_setup");
        return;
    }
    snprintf(path, sizeof path, "%s/plugins.conf", dir);
    const char *orig = "openemr /m.so issuer=x\n";
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
    check(fd >= 0 && write(fd, orig, strlen(orig)) == (ssize_t)strlen(orig), "write_setup");
    if (fd >= 0)
        close(fd);
    chmod(path, 0640);
    int rc = admconf_write(path, "openemr", "client_id", "NEW", backup, sizeof backup, why,
                           sizeof why);
    check(rc == 0, "write_succeeds");
    struct stat st;
    check(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "write_keeps_mode");
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = '\0';
    if (f)
        fclose(f);
    check(strcmp(buf, "openemr /m.so client_id=NEW issuer=x\n") == 0, "write_content");
    f = fopen(backup, "r");
    got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = '\0';
    if (f)
        fclose(f);
    check(strstr(backup, ".bak") != NULL && strcmp(buf, orig) == 0, "write_backup_is_original");
    /* A second write is refused (client_id present) and leaves file and backups alone. */
    char backup2[512];
    rc = admconf_write(path, "openemr", "client_id", "OTHER", backup2, sizeof backup2, why,
                       sizeof why);
    char b1[600];
    snprintf(b1, sizeof b1, "%s.bak.1", path);
    check(rc == -1 && access(b1, F_OK) != 0, "write_refused_leaves_no_new_backup");
    unlink(backup);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_insert();
    test_write_keeps_mode_and_backup();
    return check_summary();
}
