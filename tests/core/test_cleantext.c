/* test_cleantext.c - server text never reaches a terminal or a log with
 * C1 controls (U+0080-U+009F, e.g. U+009B, CSI) or bidi overrides and
 * isolates (U+202A-U+202E, U+2066-U+2069): not through err_set, not through
 * tokresp_clean_text, not through the callback's error_description, not
 * through plog to the host's log. */
#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "oauth/redirect.h"
#include "oauth/tokenresp.h"

static int failures;

/* 1 if s holds a UTF-8 C1 control or a bidi override/isolate. */
static int has_hidden(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return 1;
        if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
            return 1;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
            return 1;
    }
    return 0;
}

static void check(const char *name, int ok, const char *got)
{
    if (!ok) {
        failures++;
        printf("FAIL %s: '%s'\n", name, got);
    } else {
        printf("ok   %s\n", name);
    }
}

/* The host's log: keeps the last line. */
static char logged[1024];
static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level;
    snprintf(logged, sizeof logged, "%s", msg);
}

/* Every C1 control and every override, between visible text. */
static void all_hidden(char *buf, size_t cap)
{
    size_t o = 0;
    memcpy(buf, "start", 5), o = 5;
    for (unsigned c = 0x80; c <= 0x9f && o + 3 < cap; c++)
        buf[o++] = (char)0xc2, buf[o++] = (char)c;
    static const unsigned char bidi[][3] = {
        {0xe2, 0x80, 0xaa}, {0xe2, 0x80, 0xab}, {0xe2, 0x80, 0xac}, {0xe2, 0x80, 0xad}, {0xe2, 0x80, 0xae},
        {0xe2, 0x81, 0xa6}, {0xe2, 0x81, 0xa7}, {0xe2, 0x81, 0xa8}, {0xe2, 0x81, 0xa9}};
    for (size_t i = 0; i < sizeof bidi / sizeof bidi[0] && o + 4 < cap; i++)
        memcpy(buf + o, bidi[i], 3), o += 3;
    memcpy(buf + o, "end", 4);
}

int main(void)
{
    char in[256], out[256];
    all_hidden(in, sizeof in);

    tokresp_clean_text(in, out, sizeof out);
    check("clean_text_strips_c1_controls_and_bidi_overrides",
          !has_hidden(out) && strncmp(out, "start", 5) == 0 && strstr(out, "end") != NULL, out);

    tokresp_clean_text("caf\xc3\xa9 \xe2\x86\x92 \xc2\xa0ok", out, sizeof out);
    check("clean_text_keeps_other_non_ascii", strcmp(out, "caf\xc3\xa9 \xe2\x86\x92 \xc2\xa0ok") == 0, out);

    vap_error err;
    VAP_INIT(vap_error, err);
    err_set(&err, VAP_E_PROTOCOL, "server said: %s", in);
    check("err_set_strips_c1_controls_and_bidi_overrides",
          !has_hidden(err.message) && strstr(err.message, "end") != NULL, err.message);

    err_set(&err, VAP_E_PROTOCOL, "raw \x9b" "31m and \xc2\x9b" "31m");
    check("err_set_replaces_bytes_that_are_not_utf8", !has_hidden(err.message) && strchr(err.message, '\x9b') == NULL,
          err.message);

    /* plog formats its own line: it cleans it itself, not through err_set. */
    static vap_host_api host;
    VAP_INIT(vap_host_api, host);
    host.log = host_log;
    plog_init(&host);
    plog(VAP_LOG_WARN, "server said: %s", in);
    check("plog_strips_c1_controls_and_bidi_overrides",
          !has_hidden(logged) && strstr(logged, "server said: start") != NULL && strstr(logged, "end") != NULL,
          logged);
    plog(VAP_LOG_WARN, "one\ntwo\r\x1b[31m \x9b" "31m");
    check("plog_keeps_one_line_without_c0_controls_or_stray_bytes",
          strpbrk(logged, "\n\r\x1b\x9b") == NULL && strstr(logged, "two") != NULL, logged);
    plog_init(NULL);

    const char *cb = "?error=access_denied&error_description=x%c2%9b31mred%e2%80%aespoof%e2%81%a6&state=s";
    redirect_result r;
    VAP_INIT(vap_error, err);
    if (redirect_parse(cb, strlen(cb), &r, &err) != VAP_OK) {
        check("callback_error_description_parses", 0, err.message);
    } else {
        redirect_error_status(&r, &err);
        check("callback_error_description_loses_c1_and_bidi",
              !has_hidden(err.message) && strstr(err.message, "red") != NULL, err.message);
        redirect_free(&r);
    }
    return failures ? 1 : 0;
}
