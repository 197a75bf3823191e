/*
 * test_config.c - the plugin config parser, table-driven: each row is one
 * named test.  Good rows check every instance and option parsed; bad rows
 * check the exact one-line message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define MAX_EXPECT 4

struct expect_inst {
    const char *name;
    const char *module;
    unsigned line;
    const char *kv[2 * MAX_EXPECT + 1]; /* key, value, ..., NULL */
};

struct good_row {
    const char *name;
    const char *text;
    size_t n_inst;
    struct expect_inst inst[3];
};

struct bad_row {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *message;
};

static const struct good_row good_rows[] = {
    {"parse_basic_line", "openemr /usr/lib/vap/vap_openemr.so issuer=https://a/b client_id=x\n", 1,
     {{"openemr", "/usr/lib/vap/vap_openemr.so", 1,
       {"issuer", "https://a/b", "client_id", "x", NULL}}}},
    {"parse_skips_comments_and_blank_lines", "# c\n\n   \t\n# d \\\na /m.so\n", 1,
     {{"a", "/m.so", 5, {NULL}}}},
    {"parse_continuation_joins_lines", "a /m.so x=1 \\\n  y=2\nb /n.so\n", 2,
     {{"a", "/m.so", 1, {"x", "1", "y", "2", NULL}}, {"b", "/n.so", 3, {NULL}}}},
    {"parse_quoted_value_keeps_spaces", "a /m.so scope=\"openid fhirUser  api:fhir\"\n", 1,
     {{"a", "/m.so", 1, {"scope", "openid fhirUser  api:fhir", NULL}}}},
    {"parse_quote_and_backslash_escapes", "a /m.so v=\"say \\\"hi\\\" \\\\ ok\"\n", 1,
     {{"a", "/m.so", 1, {"v", "say \"hi\" \\ ok", NULL}}}},
    {"parse_quotes_inside_a_word", "a /m.so k=pre\"fix mid\"post\n", 1,
     {{"a", "/m.so", 1, {"k", "prefix midpost", NULL}}}},
    {"parse_hash_inside_word_is_literal", "a /m.so u=https://x/#f # a comment\n", 1,
     {{"a", "/m.so", 1, {"u", "https://x/#f", NULL}}}},
    {"parse_crlf_line_endings", "a /m.so x=1\r\nb /n.so \\\r\n y=2\r\n", 2,
     {{"a", "/m.so", 1, {"x", "1", NULL}}, {"b", "/n.so", 2, {"y", "2", NULL}}}},
    {"parse_empty_values", "a /m.so x= y=\"\"\n", 1,
     {{"a", "/m.so", 1, {"x", "", "y", "", NULL}}}},
    {"parse_without_final_newline", "a /m.so x=1", 1, {{"a", "/m.so", 1, {"x", "1", NULL}}}},
    {"parse_value_may_contain_equals", "a /m.so q=a=b\n", 1,
     {{"a", "/m.so", 1, {"q", "a=b", NULL}}}},
    {"parse_continuation_inside_quotes", "a /m.so s=\"x \\\ny\" t=2\n", 1,
     {{"a", "/m.so", 1, {"s", "x y", "t", "2", NULL}}}},
    {"parse_quoted_module_path", "a \"/opt/my plugins/m.so\"\n", 1,
     {{"a", "/opt/my plugins/m.so", 1, {NULL}}}},
    {"parse_empty_file", "", 0, {{NULL, NULL, 0, {NULL}}}},
    {"parse_continuation_before_blank_line_ends_it", "a /m.so \\\n\nb /n.so\n", 2,
     {{"a", "/m.so", 1, {NULL}}, {"b", "/n.so", 3, {NULL}}}},
    {"parse_three_instances", "a /m.so\nb.x /m.so\nc-1_2 /m.so z=9\n", 3,
     {{"a", "/m.so", 1, {NULL}}, {"b.x", "/m.so", 2, {NULL}}, {"c-1_2", "/m.so", 3, {"z", "9", NULL}}}},
};

static const struct bad_row bad_rows[] = {
    {"error_unterminated_quote_names_line_and_key",
     "# x\nopenemr /m.so \\\n scope=\"openid fhirUser\n", 0,
     "plugins.conf:3: unterminated quote in scope=...; add the closing \""},
    {"error_unterminated_quote_at_end_of_file", "a /m.so scope=\"openid", 0,
     "plugins.conf:1: unterminated quote in scope=...; add the closing \""},
    {"error_unterminated_quote_in_module_path", "a \"/m.so\n", 0,
     "plugins.conf:1: unterminated quote in the module path; add the closing \""},
    {"error_unknown_escape", "a /m.so v=\"\\q\"\n", 0,
     "plugins.conf:1: unknown escape in v=...; inside quotes only \\\" and \\\\ are allowed"},
    {"error_backslash_outside_quotes", "a /m.so p=a\\b\n", 0,
     "plugins.conf:1: backslash outside quotes in p=...; put the value in double quotes, or "
     "end the line with the backslash to continue it"},
    {"error_backslash_space_is_not_a_continuation", "a /m.so p=1 \\ \n", 0,
     "plugins.conf:1: backslash outside quotes in option 2; put the value in double quotes, or "
     "end the line with the backslash to continue it"},
    {"error_duplicate_instance_name", "a /m.so\nb /n.so\na /o.so\n", 0,
     "plugins.conf:3: duplicate instance name a (first defined on line 1); rename one of them"},
    {"error_missing_module_path", "\nlonely\n", 0,
     "plugins.conf:2: instance lonely has no module path (expected: NAME MODULE key=value ...)"},
    {"error_option_in_place_of_module", "a scope=x\n", 0,
     "plugins.conf:1: instance a: expected the module path after the name, found scope=..."},
    {"error_invalid_instance_name", "bad/name /m.so\n", 0,
     "plugins.conf:1: invalid instance name; use 1 to 64 letters, digits, '_', '-' or '.'"},
    {"error_option_without_equals", "a /m.so novalue\n", 0,
     "plugins.conf:1: option 1 of instance a is not key=value"},
    {"error_unquoted_multiword_value_says_to_quote_it",
     "a /m.so scope=openid fhirUser api:fhir\n", 0,
     "plugins.conf:1: option 2 of instance a is not key=value; if it is part of scope=..., put "
     "that whole value in double quotes: scope=\"...\""},
    {"error_option_with_empty_key", "a /m.so =x\n", 0,
     "plugins.conf:1: option 1 of instance a has an empty key"},
    {"error_option_with_invalid_key", "a /m.so Scope=x\n", 0,
     "plugins.conf:1: option 1 of instance a has an invalid key; keys are lower-case letters, "
     "digits and '_'"},
    {"error_control_character", "a /m.so x=\001\n", 0,
     "plugins.conf:1: control character in x=...; remove it"},
    {"error_nul_byte", "a /m.so x=y\0z\n", 14, "plugins.conf:1: control character in x=...; remove it"},
    {"error_newline_inside_quotes", "a /m.so s=\"x\ny\"\n", 0,
     "plugins.conf:1: unterminated quote in s=...; add the closing \""},
};

static void check_good(void **state)
{
    const struct good_row *row = *state;
    vapconf *conf = NULL;
    char err[256] = "";
    int rc = vapconf_parse(row->text, strlen(row->text), "plugins.conf", &conf, err, sizeof err);
    assert_int_equal(rc, VAP_OK);
    assert_string_equal(err, "");
    assert_non_null(conf);
    assert_int_equal(conf->n_inst, row->n_inst);
    for (size_t i = 0; i < row->n_inst; i++) {
        const struct expect_inst *want = &row->inst[i];
        const vapconf_instance *got = &conf->inst[i];
        assert_string_equal(got->name, want->name);
        assert_string_equal(got->module, want->module);
        assert_int_equal(got->line, want->line);
        assert_ptr_equal(vapconf_find(conf, want->name), got);
        size_t n = 0;
        while (want->kv[2 * n] != NULL)
            n++;
        assert_int_equal(got->n_opts, n);
        for (size_t j = 0; j < n; j++) {
            assert_string_equal(got->opts[j].key, want->kv[2 * j]);
            assert_string_equal(got->opts[j].value, want->kv[2 * j + 1]);
        }
    }
    assert_null(vapconf_find(conf, "no-such-instance"));
    vapconf_free(conf);
}

static void check_bad(void **state)
{
    const struct bad_row *row = *state;
    vapconf *conf = (vapconf *)&conf; /* must be reset to NULL */
    char err[512] = "";
    size_t len = row->len ? row->len : strlen(row->text);
    int rc = vapconf_parse(row->text, len, "plugins.conf", &conf, err, sizeof err);
    assert_int_equal(rc, VAP_E_CONFIG);
    assert_null(conf);
    assert_string_equal(err, row->message);
}

/* Rows too big to write out: built here. */
static void error_too_many_options(void **state)
{
    size_t cap = 16 + (VAPCONF_MAX_OPTIONS + 1) * 8;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "a /m.so");
    for (unsigned i = 0; i <= VAPCONF_MAX_OPTIONS; i++)
        n += (size_t)snprintf(text + n, cap - n, " k%u=1", i);
    vapconf *conf = NULL;
    char err[256];
    assert_int_equal(vapconf_parse(text, n, "plugins.conf", &conf, err, sizeof err), VAP_E_CONFIG);
    assert_string_equal(err, "plugins.conf:1: too many options (at most 128 on one instance)");
    free(text);
}

static void parse_accepts_the_most_options(void **state)
{
    size_t cap = 16 + VAPCONF_MAX_OPTIONS * 8;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "a /m.so");
    for (unsigned i = 0; i < VAPCONF_MAX_OPTIONS; i++)
        n += (size_t)snprintf(text + n, cap - n, " k%u=1", i);
    vapconf *conf = NULL;
    char err[256];
    assert_int_equal(vapconf_parse(text, n, "plugins.conf", &conf, err, sizeof err), VAP_OK);
    assert_int_equal(conf->inst[0].n_opts, VAPCONF_MAX_OPTIONS);
    vapconf_free(conf);
    free(text);
}

static void error_word_too_long(void **state)
{
    size_t len = 10 + VAPCONF_MAX_WORD + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memcpy(text, "a /m.so x=", 10);
    memset(text + 10, 'v', len - 10);
    vapconf *conf = NULL;
    char err[256];
    assert_int_equal(vapconf_parse(text, len, "plugins.conf", &conf, err, sizeof err), VAP_E_CONFIG);
    assert_string_equal(err, "plugins.conf:1: x=... is longer than 8192 bytes");
    free(text);
}

static void error_file_too_large(void **state)
{
    char *text = calloc(1, VAPCONF_MAX_FILE + 1);
    assert_non_null(text);
    vapconf *conf = NULL;
    char err[256];
    assert_int_equal(vapconf_parse(text, VAPCONF_MAX_FILE + 1, "plugins.conf", &conf, err, sizeof err),
                     VAP_E_CONFIG);
    assert_string_equal(err, "plugins.conf: file is larger than 1048576 bytes; is this really the "
                             "plugin config?");
    free(text);
}

static void error_too_many_instances(void **state)
{
    size_t cap = (VAPCONF_MAX_INSTANCES + 1) * 16;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = 0;
    for (unsigned i = 0; i <= VAPCONF_MAX_INSTANCES; i++)
        n += (size_t)snprintf(text + n, cap - n, "i%u /m.so\n", i);
    vapconf *conf = NULL;
    char err[256];
    assert_int_equal(vapconf_parse(text, n, "plugins.conf", &conf, err, sizeof err), VAP_E_CONFIG);
    assert_string_equal(err, "plugins.conf:257: too many instances (at most 256 in one file)");
    free(text);
}

int main(void)
{
    enum { N_GOOD = sizeof good_rows / sizeof good_rows[0],
           N_BAD = sizeof bad_rows / sizeof bad_rows[0] };
    struct CMUnitTest tests[N_GOOD + N_BAD + 5];
    size_t n = 0;
    for (size_t i = 0; i < N_GOOD; i++)
        tests[n++] = (struct CMUnitTest){good_rows[i].name, check_good, NULL, NULL,
                                         (void *)&good_rows[i]};
    for (size_t i = 0; i < N_BAD; i++)
        tests[n++] = (struct CMUnitTest){bad_rows[i].name, check_bad, NULL, NULL,
                                         (void *)&bad_rows[i]};
    tests[n++] = (struct CMUnitTest){"error_too_many_options", error_too_many_options, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"parse_accepts_the_most_options", parse_accepts_the_most_options,
                                     NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"error_word_too_long", error_word_too_long, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"error_file_too_large", error_file_too_large, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"error_too_many_instances", error_too_many_instances, NULL,
                                     NULL, NULL};
    return _cmocka_run_group_tests("config", tests, n, NULL, NULL);
}
