/*
 * cmd_authorize.c - vap-host authorize: a staff member signs in to OpenEMR
 * once and the plugin seals the grant.
 *
 * Order matters to scripts and to people: the loopback listener is bound
 * before the URL is printed (so the browser can never come back to nobody),
 * the URL is printed alone on one stdout line and flushed, and whatever
 * happens the last stderr line of a failure is the one-line error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcodes.h"
#include "listener.h"
#include "vaphost.h"

#define AUTHORIZE_DEFAULT_WAIT_S 600 /* the plugin forgets the attempt after 10 min */
#define AUTHORIZE_PAGE_GRACE_MS 3000 /* time for the browser to fetch the result page */
#define AUTHORIZE_PASTE_MAX (16 * 1024 + 2)

static void open_browser(const char *url);
static int read_pasted_callback(char *buf, size_t cap, size_t *len);

int cmd_authorize(struct vaphost *vh, int argc, char **argv)
{
    int listen = 1, browser = 1;
    long wait_s = AUTHORIZE_DEFAULT_WAIT_S;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-listen") == 0) {
            listen = 0;
        } else if (strcmp(argv[i], "--no-browser") == 0) {
            browser = 0;
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            char *end;
            wait_s = strtol(argv[++i], &end, 10);
            if (*end != '\0' || wait_s < 1 || wait_s > 3600) {
                fprintf(stderr, "vap-host: authorize: --wait takes seconds from 1 to 3600\n");
                return VAPHOST_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "vap-host: authorize: unexpected argument %.64s; run: vap-host "
                            "authorize --help\n", argv[i]);
            return VAPHOST_EXIT_USAGE;
        }
    }

    vap_error err;
    VAP_INIT(vap_error, err);
    vap_authorize_begin_result *begin = NULL;
    int rc = vh->api->authorize_begin(vh->inst, NULL, NULL, &begin, &err);
    if (rc != VAP_OK) {
        vh->api->release(begin);
        return vaphost_report(vh, rc, &err);
    }

    struct listener *l = NULL;
    if (listen) {
        char why[512];
        if (listener_start(begin->redirect_uri, &l, why, sizeof why) != 0) {
            vh->api->release(begin);
            fprintf(stderr, "vap-host: %s\n", why);
            return VAPHOST_EXIT_FAILURE;
        }
        listener_expect(l, begin->url);
    }
    fprintf(stderr, "Open this address in a browser, sign in to OpenEMR as the staff member "
                    "who authorizes this service, and approve:\n");
    printf("%s\n", begin->url);
    fflush(stdout);
    if (listen && browser && strncmp(begin->url, "https://", 8) == 0 &&
        (getenv("DISPLAY") != NULL || getenv("WAYLAND_DISPLAY") != NULL))
        open_browser(begin->url);
    /* Kept for the timeout message: OpenEMR answers a redirect URI it does
     * not know with a JSON error in the browser, never coming back here. */
    char sent_redirect[512];
    snprintf(sent_redirect, sizeof sent_redirect, "%s", begin->redirect_uri);
    vh->api->release(begin);

    char *target = NULL;
    size_t target_len = 0;
    static char pasted[AUTHORIZE_PASTE_MAX];
    if (listen) {
        fprintf(stderr, "Waiting up to %ld s for the browser to come back to this machine...\n",
                wait_s);
        if (listener_wait(l, (int)(wait_s * 1000), &target, &target_len) != 0) {
            listener_finish(l, 0);
            fprintf(stderr, "vap-host: no answer from the browser within %ld s: if it showed "
                            "invalid_client (\"Client authentication failed\") before any "
                            "sign-in, the redirect URI sent, %.300s, does not match the "
                            "client's registration byte for byte: fix redirect_uri or the "
                            "registration; otherwise run vap-host authorize again (and approve "
                            "within the time), or use --no-listen on a machine without a "
                            "browser\n", wait_s, sent_redirect);
            return VAPHOST_EXIT_FAILURE;
        }
    } else {
        fprintf(stderr, "After approving, the browser ends on an address that may not load; "
                        "copy that whole address from the address bar and paste it here:\n");
        if (read_pasted_callback(pasted, sizeof pasted, &target_len) != 0) {
            fprintf(stderr, "vap-host: no callback address was pasted (or it is longer than "
                            "16 KB): run vap-host authorize --no-listen again\n");
            return VAPHOST_EXIT_USAGE;
        }
        target = pasted;
    }

    vap_grant_info *gi = NULL;
    VAP_INIT(vap_error, err);
    rc = vh->api->authorize_complete(vh->inst, NULL, target, target_len, &gi, &err);
    explicit_bzero(target, target_len);
    if (target != pasted)
        free(target);
    if (l != NULL) {
        if (rc == VAP_OK)
            listener_set_result(l, 1, "Authorized",
                                "vap-openemr now holds a grant for this practice. The access "
                                "token is renewed automatically.");
        else
            listener_set_result(l, 0, "Authorization failed", err.message);
        listener_finish(l, AUTHORIZE_PAGE_GRACE_MS);
    }
    if (rc != VAP_OK) {
        vh->api->release(gi);
        return vaphost_report(vh, rc, &err);
    }
    printf("authorized\n");
    vaphost_print_grant(gi);
    fflush(stdout);
    vh->api->release(gi);
    return VAPHOST_EXIT_OK;
}

/* xdg-open in the background; the URL is not a secret (state and the PKCE
 * challenge are public by design), and a failure here is only a
 * convenience lost: the URL is on stdout. */
static void open_browser(const char *url)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 0);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("xdg-open", "xdg-open", url, (char *)NULL);
        _exit(127);
    }
}

static int read_pasted_callback(char *buf, size_t cap, size_t *len)
{
    if (fgets(buf, (int)cap, stdin) == NULL)
        return -1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] != '\n' && !feof(stdin))
        return -1; /* longer than the buffer */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    size_t start = 0;
    while (start < n && buf[start] == ' ')
        start++;
    if (start == n)
        return -1;
    memmove(buf, buf + start, n - start + 1);
    *len = n - start;
    return 0;
}
