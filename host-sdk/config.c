/*
 * config.c - parse the PAM-style plugin config (see config.h for the format).
 *
 * A cursor walks the buffer once.  Words are unquoted into a fixed-size
 * buffer, then copied out; a logical line becomes one instance.  Errors name
 * the physical line and the word's role (instance name, module path, or the
 * option's key) but never its value: values are not secrets by design, but
 * short messages are easier to act on.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf_cursor {
    const char *buf;
    size_t len;
    size_t pos;
    unsigned line;
    const char *label;
    char *errbuf;
    size_t errlen;
};

/* One word of a logical line, unquoted. */
struct conf_word {
    char *text;    /* NUL-terminated; '=' of key=value replaced by NUL later */
    size_t len;
    long eq;       /* offset of the first unquoted '=', or -1              */
    unsigned line; /* physical line the word starts on                    */
};

#define CONF_MAX_WORDS (VAPCONF_MAX_OPTIONS + 2u)

static int conf_fail(struct conf_cursor *c, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conf_skip_blank(struct conf_cursor *c);
static int conf_read_word(struct conf_cursor *c, size_t index, struct conf_word *w,
                          char *tok);
static int conf_add_instance(struct conf_cursor *c, vapconf *conf,
                             struct conf_word *words, size_t n);
static void conf_describe(char *out, size_t outlen, size_t index, const char *tok,
                          size_t toklen, long eq);
static int conf_name_ok(const char *s, size_t len);
static int conf_key_ok(const char *s, size_t len);
static void conf_free_instance(vapconf_instance *in);

int vapconf_parse(const char *buf, size_t len, const char *label, vapconf **out,
                  char *errbuf, size_t errlen)
{
    struct conf_cursor c = {buf, len, 0, 1, label ? label : "config", errbuf, errlen};
    struct conf_word words[CONF_MAX_WORDS];
    size_t n = 0;
    int rc = VAP_OK;
    char *tok = NULL;
    vapconf *conf = NULL;

    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    *out = NULL;
    if (len > VAPCONF_MAX_FILE) {
        rc = conf_fail(&c, 0, "file is larger than %u bytes; is this really the plugin config?",
                       VAPCONF_MAX_FILE);
        goto out;
    }
    tok = malloc(VAPCONF_MAX_WORD + 1);
    conf = calloc(1, sizeof *conf);
    if (tok == NULL || conf == NULL) {
        rc = VAP_E_NOMEM;
        goto out;
    }

    for (;;) {
        conf_skip_blank(&c);
        int end_of_line = 0, end_of_file = 0;
        if (c.pos >= c.len) {
            end_of_line = end_of_file = 1;
        } else if (c.buf[c.pos] == '\n') {
            c.pos++;
            end_of_line = 1;
        } else if (c.buf[c.pos] == '#') {
            while (c.pos < c.len && c.buf[c.pos] != '\n')
                c.pos++;
            continue; /* the newline ends the line on the next turn */
        }
        if (end_of_line) {
            if (n > 0) {
                rc = conf_add_instance(&c, conf, words, n);
                for (size_t i = 0; i < n; i++)
                    free(words[i].text);
                n = 0;
                if (rc != VAP_OK)
                    goto out;
            }
            if (end_of_file)
                break;
            c.line++;
            continue;
        }
        if (n == CONF_MAX_WORDS) {
            rc = conf_fail(&c, words[0].line, "too many options (at most %u on one instance)",
                           VAPCONF_MAX_OPTIONS);
            goto out;
        }
        rc = conf_read_word(&c, n, &words[n], tok);
        if (rc != VAP_OK)
            goto out;
        n++;
    }
    *out = conf;
    conf = NULL;
out:
    for (size_t i = 0; i < n; i++)
        free(words[i].text);
    free(tok);
    vapconf_free(conf);
    return rc;
}

void vapconf_free(vapconf *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->n_inst; i++)
        conf_free_instance(&conf->inst[i]);
    free(conf->inst);
    free(conf);
}

const vapconf_instance *vapconf_find(const vapconf *conf, const char *name)
{
    if (conf == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < conf->n_inst; i++)
        if (strcmp(conf->inst[i].name, name) == 0)
            return &conf->inst[i];
    return NULL;
}

/* ---- helpers ---------------------------------------------------------------- */

static int conf_fail(struct conf_cursor *c, unsigned line, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->errbuf != NULL && c->errlen > 0) {
        if (line > 0)
            snprintf(c->errbuf, c->errlen, "%s:%u: %s", c->label, line, what);
        else
            snprintf(c->errbuf, c->errlen, "%s: %s", c->label, what);
    }
    return VAP_E_CONFIG;
}

/* Spaces, tabs, CRs and backslash-newline continuations separate words. */
static void conf_skip_blank(struct conf_cursor *c)
{
    while (c->pos < c->len) {
        char ch = c->buf[c->pos];
        if (ch == ' ' || ch == '\t' || ch == '\r') {
            c->pos++;
        } else if (ch == '\\' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n') {
            c->pos += 2;
            c->line++;
        } else if (ch == '\\' && c->pos + 2 < c->len && c->buf[c->pos + 1] == '\r' &&
                   c->buf[c->pos + 2] == '\n') {
            c->pos += 3;
            c->line++;
        } else {
            break;
        }
    }
}

static int conf_is_control(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* Read one word starting at a non-blank byte; unquote it into tok. */
static int conf_read_word(struct conf_cursor *c, size_t index, struct conf_word *w,
                          char *tok)
{
    size_t n = 0;
    long eq = -1;
    unsigned start = c->line;
    int quoted = 0;
    char what[120];

    while (c->pos < c->len) {
        unsigned char ch = (unsigned char)c->buf[c->pos];
        if (!quoted) {
            if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
                break;
            if (ch == '\\') {
                size_t rest = c->len - c->pos;
                if ((rest > 1 && c->buf[c->pos + 1] == '\n') ||
                    (rest > 2 && c->buf[c->pos + 1] == '\r' && c->buf[c->pos + 2] == '\n'))
                    break; /* a continuation: conf_skip_blank takes it */
                conf_describe(what, sizeof what, index, tok, n, eq);
                return conf_fail(c, c->line,
                                 "backslash outside quotes in %s; put the value in double quotes, "
                                 "or end the line with the backslash to continue it", what);
            }
            if (ch == '"') {
                quoted = 1;
                c->pos++;
                continue;
            }
            if (ch == '=' && eq < 0)
                eq = (long)n;
        } else {
            if (ch == '"') {
                quoted = 0;
                c->pos++;
                continue;
            }
            if (ch == '\n')
                break; /* reported as unterminated below */
            if (ch == '\\') {
                char next = c->pos + 1 < c->len ? c->buf[c->pos + 1] : '\0';
                if (next == '\n') { /* continuation inside quotes joins directly */
                    c->pos += 2;
                    c->line++;
                    continue;
                }
                if (next != '"' && next != '\\') {
                    conf_describe(what, sizeof what, index, tok, n, eq);
                    return conf_fail(c, c->line,
                                     "unknown escape in %s; inside quotes only \\\" and \\\\ are "
                                     "allowed", what);
                }
                c->pos++;
                ch = (unsigned char)next;
            }
        }
        if (conf_is_control(ch)) {
            conf_describe(what, sizeof what, index, tok, n, eq);
            return conf_fail(c, c->line, "control character in %s; remove it", what);
        }
        if (n == VAPCONF_MAX_WORD) {
            conf_describe(what, sizeof what, index, tok, n, eq);
            return conf_fail(c, start, "%s is longer than %u bytes", what, VAPCONF_MAX_WORD);
        }
        tok[n++] = (char)ch;
        c->pos++;
    }
    if (quoted) {
        conf_describe(what, sizeof what, index, tok, n, eq);
        return conf_fail(c, start, "unterminated quote in %s; add the closing \"", what);
    }
    w->text = malloc(n + 1);
    if (w->text == NULL)
        return VAP_E_NOMEM;
    memcpy(w->text, tok, n);
    w->text[n] = '\0';
    w->len = n;
    w->eq = eq;
    w->line = start;
    return VAP_OK;
}

/* Name a word by its role, for messages: never its value. */
static void conf_describe(char *out, size_t outlen, size_t index, const char *tok,
                          size_t toklen, long eq)
{
    if (index == 0)
        snprintf(out, outlen, "the instance name");
    else if (index == 1 && eq < 0)
        snprintf(out, outlen, "the module path");
    else if (eq > 0 && (size_t)eq <= toklen && (size_t)eq <= 40 && conf_key_ok(tok, (size_t)eq))
        snprintf(out, outlen, "%.*s=...", (int)eq, tok);
    else
        snprintf(out, outlen, "option %zu", index - 1);
}

/* gcc 12's -fanalyzer reports in.opts as leaked once the loop below ends:
 * it loses the pointer when `in` is copied into the realloc'd conf->inst
 * (a false positive; vapconf_free frees it, and valgrind's leak check of
 * host_config agrees).  Only that check is off, and only here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int conf_add_instance(struct conf_cursor *c, vapconf *conf,
                             struct conf_word *words, size_t n)
{
    vapconf_instance in = {0};
    int rc = VAP_OK;

    if (!conf_name_ok(words[0].text, words[0].len))
        return conf_fail(c, words[0].line,
                         "invalid instance name; use 1 to %u letters, digits, '_', '-' or '.'",
                         VAPCONF_MAX_NAME);
    if (n < 2)
        return conf_fail(c, words[0].line,
                         "instance %s has no module path (expected: NAME MODULE key=value ...)",
                         words[0].text);
    if (words[1].eq >= 0 || words[1].len == 0) {
        char what[120];
        conf_describe(what, sizeof what, 2, words[1].text, words[1].len, words[1].eq);
        return conf_fail(c, words[1].line,
                         "instance %s: expected the module path after the name, found %s",
                         words[0].text, what);
    }
    for (size_t i = 0; i < conf->n_inst; i++)
        if (strcmp(conf->inst[i].name, words[0].text) == 0)
            return conf_fail(c, words[0].line,
                             "duplicate instance name %s (first defined on line %u); "
                             "rename one of them", words[0].text, conf->inst[i].line);
    for (size_t i = 2; i < n; i++) {
        if (words[i].eq < 0) {
            /* Most often the rest of a value with spaces (scope=openid fhirUser). */
            const struct conf_word *prev = &words[i - 1];
            if (i > 2 && prev->eq > 0 && (size_t)prev->eq <= 40 &&
                conf_key_ok(prev->text, (size_t)prev->eq))
                return conf_fail(c, words[i].line,
                                 "option %zu of instance %s is not key=value; if it is part of "
                                 "%.*s=..., put that whole value in double quotes: %.*s=\"...\"",
                                 i - 1, words[0].text, (int)prev->eq, prev->text,
                                 (int)prev->eq, prev->text);
            return conf_fail(c, words[i].line,
                             "option %zu of instance %s is not key=value", i - 1, words[0].text);
        }
        if (words[i].eq == 0)
            return conf_fail(c, words[i].line, "option %zu of instance %s has an empty key",
                             i - 1, words[0].text);
        if (!conf_key_ok(words[i].text, (size_t)words[i].eq))
            return conf_fail(c, words[i].line,
                             "option %zu of instance %s has an invalid key; keys are lower-case "
                             "letters, digits and '_'", i - 1, words[0].text);
    }
    if (conf->n_inst == VAPCONF_MAX_INSTANCES)
        return conf_fail(c, words[0].line, "too many instances (at most %u in one file)",
                         VAPCONF_MAX_INSTANCES);

    in.line = words[0].line;
    in.n_opts = n - 2;
    in.opts = calloc(in.n_opts ? in.n_opts : 1, sizeof *in.opts);
    vapconf_instance *grown = realloc(conf->inst, (conf->n_inst + 1) * sizeof *grown);
    if (in.opts == NULL || grown == NULL) {
        free(in.opts);
        if (grown != NULL)
            conf->inst = grown;
        return VAP_E_NOMEM;
    }
    conf->inst = grown;
    /* Ownership moves from words[] to the instance: one allocation per
     * option, "key\0value". */
    in.name = words[0].text;
    in.module = words[1].text;
    words[0].text = words[1].text = NULL;
    for (size_t i = 2; i < n; i++) {
        char *kv = words[i].text;
        kv[words[i].eq] = '\0';
        in.opts[i - 2].key = kv;
        in.opts[i - 2].value = kv + words[i].eq + 1;
        words[i].text = NULL;
    }
    conf->inst[conf->n_inst++] = in;
    return rc;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int conf_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > VAPCONF_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

static int conf_key_ok(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

static void conf_free_instance(vapconf_instance *in)
{
    free(in->name);
    free(in->module);
    for (size_t i = 0; i < in->n_opts; i++)
        free((char *)in->opts[i].key);
    free(in->opts);
}
