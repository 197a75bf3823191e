/*
 * seal_cli_io.c - vap-seal's input: secrets and passphrases from stdin or a
 * no-echo terminal prompt (never argv), and a minimal tolerant reader of the
 * PAM-style config line for -c (only issuer=, client_id=, store=, keyring=;
 * the full parser lives in host-sdk/).
 */
#include "seal_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define CLI_CONFIG_MAX (256u * 1024u)
#define CLI_PASS_MAX 1024u

static int io_read_tty_line(const char *prompt, uint8_t *buf, size_t cap, size_t *len);
static int io_read_stdin(uint8_t *buf, size_t cap, size_t *len, int first_line);
static int cfg_next_token(const char *buf, size_t len, size_t *pos, char *tok, size_t cap, int *eol);
static char *cfg_dup(const char *s);
static unsigned cfg_line(const char *buf, size_t pos);

int cli_read_secret(const char *prompt, int confirm, uint8_t **out, size_t *len)
{
    /* One byte over the limit tells "too big" apart from "exactly full"; two
     * more for the newline(s) a terminal or printf may add. */
    size_t cap = SEAL_VALUE_MAX + 2;
    uint8_t *buf = sodium_malloc(cap), *again = NULL;
    size_t n = 0, n2 = 0;
    int rc = CLI_EXIT_FAIL;
    if (buf == NULL)
        return cli_fail("out of secure memory");
    if (isatty(STDIN_FILENO)) {
        if (io_read_tty_line(prompt, buf, cap, &n) != 0)
            goto out;
        if (confirm) {
            again = sodium_malloc(cap);
            if (again == NULL || io_read_tty_line("Again: ", again, cap, &n2) != 0)
                goto out;
            if (n != n2 || sodium_memcmp(buf, again, n) != 0) {
                cli_fail("the two entries differ; nothing was changed");
                goto out;
            }
        }
    } else {
        if (io_read_stdin(buf, cap, &n, 0) != 0)
            goto out;
        if (n > 0 && buf[n - 1] == '\n')
            n--; /* exactly one: printf '%s\n' and printf '%s' seal the same secret */
    }
    if (n > SEAL_VALUE_MAX) {
        cli_fail("the secret is longer than %u bytes; nothing was changed", SEAL_VALUE_MAX);
        goto out;
    }
    if (n == 0) {
        cli_fail("the secret is empty; pipe it on stdin (printf '%%s\\n' \"$SECRET\" | vap-seal put ...) "
                 "or type it at the prompt");
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = CLI_EXIT_OK;
out:
    sodium_free(buf);
    sodium_free(again);
    return rc;
}

int cli_read_passphrase(int confirm, char **out, size_t *len)
{
    uint8_t *buf = sodium_malloc(CLI_PASS_MAX + 1), *again = NULL;
    size_t n = 0, n2 = 0;
    int rc = CLI_EXIT_FAIL;
    if (buf == NULL)
        return cli_fail("out of secure memory");
    if (isatty(STDIN_FILENO)) {
        if (io_read_tty_line("Backup passphrase: ", buf, CLI_PASS_MAX, &n) != 0)
            goto out;
        if (confirm) {
            again = sodium_malloc(CLI_PASS_MAX + 1);
            if (again == NULL || io_read_tty_line("Again: ", again, CLI_PASS_MAX, &n2) != 0)
                goto out;
            if (n != n2 || sodium_memcmp(buf, again, n) != 0) {
                cli_fail("the two passphrases differ; nothing was written");
                goto out;
            }
        }
    } else if (io_read_stdin(buf, CLI_PASS_MAX, &n, 1) != 0) {
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n == 0) {
        cli_fail("the passphrase is empty");
        goto out;
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *len = n;
    buf = NULL;
    rc = CLI_EXIT_OK;
out:
    sodium_free(buf);
    sodium_free(again);
    return rc;
}

int cli_read_config(const char *path, const char *instance, cli_opts *o)
{
    char why[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_fail("cannot open config %s: %s", path, strerror(errno));
    char *buf = malloc(CLI_CONFIG_MAX);
    size_t n = 0;
    ssize_t r;
    while (buf != NULL && n < CLI_CONFIG_MAX && (r = read(fd, buf + n, CLI_CONFIG_MAX - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        return cli_fail("out of memory");
    int rc = cli_parse_config(buf, n, instance, o, why, sizeof why);
    free(buf);
    if (rc != 0)
        return cli_fail("config %s: %s", path, why);
    return CLI_EXIT_OK;
}

int cli_parse_config(const char *buf, size_t len, const char *instance, cli_opts *o, char *why, size_t why_cap)
{
    char tok[4096];
    size_t pos = 0;
    int found = 0, eol = 0;
    while (pos < len) {
        /* One logical line: NAME MODULE key=value ... */
        int ntok = 0, take = 0, r;
        eol = 0;
        while (!eol && (r = cfg_next_token(buf, len, &pos, tok, sizeof tok, &eol)) != 0) {
            if (r < 0) {
                size_t k = strspn(tok, "abcdefghijklmnopqrstuvwxyz0123456789_");
                if (k > 0 && k <= 40 && tok[k] == '=')
                    snprintf(why, why_cap, "the value of %.*s= on line %u is too long or its quote is not "
                             "closed: end it with \"", (int)k, tok, cfg_line(buf, pos));
                else
                    snprintf(why, why_cap, "a value on line %u is too long or its quote is not closed",
                             cfg_line(buf, pos));
                return -1;
            }
            ntok++;
            if (ntok == 1) {
                take = instance == NULL || strcmp(instance, tok) == 0;
                if (take && found) {
                    snprintf(why, why_cap, "more than one instance line; choose one with -i NAME");
                    return -1;
                }
                continue;
            }
            if (ntok == 2 || !take)
                continue;
            char **dst = NULL;
            const char *v = NULL;
            if (strncmp(tok, "issuer=", 7) == 0)
                dst = &o->cfg_issuer, v = tok + 7;
            else if (strncmp(tok, "client_id=", 10) == 0)
                dst = &o->cfg_client_id, v = tok + 10;
            else if (strncmp(tok, "store=", 6) == 0)
                dst = &o->cfg_store, v = tok + 6;
            else if (strncmp(tok, "keyring=", 8) == 0)
                dst = &o->cfg_keyring, v = tok + 8;
            else if (strncmp(tok, "grant_store=", 12) == 0)
                dst = &o->cfg_grant_store, v = tok + 12;
            if (dst != NULL) {
                free(*dst);
                *dst = cfg_dup(v);
            }
        }
        if (ntok > 0 && take)
            found = 1;
    }
    if (!found) {
        snprintf(why, why_cap, instance ? "no line for instance \"%s\"" : "no instance line%s",
                 instance ? instance : "");
        return -1;
    }
    if (o->issuer == NULL)
        o->issuer = o->cfg_issuer;
    if (o->client_id == NULL)
        o->client_id = o->cfg_client_id;
    if (o->store == NULL)
        o->store = o->cfg_store;
    if (o->keyring == NULL)
        o->keyring = o->cfg_keyring;
    if (o->cfg_grant_store != NULL && strcmp(o->cfg_grant_store, "file") != 0)
        o->grant_store = o->cfg_grant_store;
    return 0;
}

void cli_opts_free(cli_opts *o)
{
    free(o->cfg_issuer);
    free(o->cfg_client_id);
    free(o->cfg_store);
    free(o->cfg_keyring);
    free(o->cfg_grant_store);
    o->cfg_issuer = o->cfg_client_id = o->cfg_store = o->cfg_keyring = o->cfg_grant_store = NULL;
    o->grant_store = NULL;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int io_read_tty_line(const char *prompt, uint8_t *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return cli_fail("cannot read the terminal: %s", strerror(errno));
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    /* Echo goes off before the prompt appears, so nothing typed after the
     * prompt can be echoed or discarded; the restore keeps typed-ahead input. */
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return cli_fail("cannot turn off echo on the terminal: %s", strerror(errno));
    fputs(prompt, stderr);
    fflush(stderr);
    int rc = io_read_stdin(buf, cap, len, 1);
    tcsetattr(STDIN_FILENO, TCSADRAIN, &old);
    if (rc == 0 && *len > 0 && buf[*len - 1] == '\n')
        (*len)--;
    return rc;
}

/* Reads stdin into BUF (all, or up to the first newline inclusive) without
 * stdio, so no copy of the secret stays in a FILE buffer. */
static int io_read_stdin(uint8_t *buf, size_t cap, size_t *len, int first_line)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(STDIN_FILENO, buf + n, first_line ? 1 : cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return cli_fail("cannot read stdin: %s", strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (first_line && buf[n - 1] == '\n')
            break;
    }
    *len = n;
    return 0;
}

/* Next token of the current logical line: skips blanks and '\'-newline
 * continuations, stops at '#' comments and newlines (setting *eol), handles
 * double quotes (with \" and \\ inside).  1: token in TOK; 0: end of line
 * or input; -1: too long or unterminated quote. */
static int cfg_next_token(const char *buf, size_t len, size_t *pos, char *tok, size_t cap, int *eol)
{
    size_t p = *pos, n = 0;
    for (;;) {
        if (p >= len) {
            *pos = p;
            *eol = 1;
            return 0;
        }
        char c = buf[p];
        if (c == '\\' && p + 1 < len && buf[p + 1] == '\n') {
            p += 2;
        } else if (c == '\\' && p + 2 < len && buf[p + 1] == '\r' && buf[p + 2] == '\n') {
            p += 3;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p++;
        } else if (c == '\n') {
            *pos = p + 1;
            *eol = 1;
            return 0;
        } else if (c == '#') {
            while (p < len && buf[p] != '\n')
                p++;
        } else {
            break;
        }
    }
    int quoted = 0;
    while (p < len) {
        char c = buf[p];
        if (quoted) {
            if (c == '"') {
                quoted = 0;
                p++;
                continue;
            }
            if (c == '\\' && p + 1 < len && (buf[p + 1] == '"' || buf[p + 1] == '\\'))
                c = buf[++p];
            else if (c == '\n')
                break; /* unterminated: reported below */
        } else if (c == '"') {
            quoted = 1;
            p++;
            continue;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
                   (c == '\\' && p + 1 < len && (buf[p + 1] == '\n' || buf[p + 1] == '\r'))) {
            break;
        }
        if (n + 1 >= cap) {
            tok[n] = '\0'; /* the start, for a message naming the key */
            return -1;
        }
        tok[n++] = c;
        p++;
    }
    tok[n] = '\0';
    if (quoted)
        return -1;
    *pos = p;
    return 1;
}

static char *cfg_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

static unsigned cfg_line(const char *buf, size_t pos)
{
    unsigned line = 1;
    for (size_t i = 0; i < pos; i++)
        line += buf[i] == '\n';
    return line;
}
