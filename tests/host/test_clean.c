/* test_clean.c - what vap-host prints of the server's text (grant fields,
 * check messages) reaches the terminal without C1 controls (U+009B is CSI)
 * or bidi overrides, and keeps ordinary UTF-8. */
#include <stdio.h>
#include <string.h>

#include "vaphost.h"

/* cmd_grant.c's commands need these; this test calls none of them. */
int vaphost_report(const struct vaphost *vh, int rc, const vap_error *err)
{
    return 1;
}
int vaphost_request(struct vaphost *vh, const char *method, const char *path, const char *query,
                    uint32_t flags, const char *body, char **out, int *exit_code)
{
    return -1;
}

static int failures;

static void check(const char *name, const char *in, const char *want)
{
    char out[64];
    vaphost_clean(in, out, sizeof out);
    int ok = strcmp(out, want) == 0;
    printf("%s %s\n", ok ? "ok  " : "FAIL", name);
    if (!ok)
        printf("     got '%s' want '%s'\n", out, want);
    failures += !ok;
}

int main(void)
{
    check("plain_text_is_kept", "user/Patient.read openid", "user/Patient.read openid");
    check("utf8_is_kept", "Jos\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80", "Jos\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80");
    check("c1_csi_becomes_a_space", "a\xc2\x9b" "31mred", "a 31mred");
    check("every_c1_control_goes", "\xc2\x80\xc2\x85\xc2\x9f!", "   !");
    check("bidi_overrides_go", "x\xe2\x80\xaey\xe2\x80\xaaz\xe2\x81\xa6w\xe2\x81\xa9", "x y z w ");
    check("ascii_controls_go", "a\x1b[31mb\tc\r\n", "a [31mb c  ");
    check("bytes_that_are_not_utf8_are_marked", "a\x9b" "b\xc3", "a?b?");
    check("null_is_empty", NULL, "");
    char small[6];
    vaphost_clean("abcdefgh", small, sizeof small);
    int ok = strlen(small) < sizeof small;
    printf("%s %s\n", ok ? "ok  " : "FAIL", "long_text_is_cut_to_the_buffer");
    failures += !ok;
    return failures ? 1 : 0;
}
