/* fuzz_authtx.c - the pending-authorization table (plugin/oauth/authtx.c) driven
 * through sequences of begin / take / pending with a clock that jumps, as
 * authorize_begin and authorize_complete use it.  The input is a program:
 * byte 0 sets the table size, then each byte is an operation with its
 * argument in the next bytes.  A shadow list of the states handed out
 * checks the promises: a state works once and only before it expires, a
 * forged or partial state never works, the table never holds more than
 * its size. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/authtx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TTL_MS 60000
#define FUZZ_MAX_ISSUED 64
#define FUZZ_ISS "https://emr.example.org/oauth2/default"
#define FUZZ_REDIR "http://localhost:8000/oauth/callback"

struct fuzz_issued {
    char state[PKCE_TOKEN_SIZE];
    int64_t begun_ms;
    int used; /* taken (successfully or not): gone from the table */
};

static void fuzz_take_known(authtx_table *t, int64_t now, struct fuzz_issued *is)
{
    authtx *tx = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = authtx_take(t, now, is->state, strlen(is->state), &tx, &err);
    if (rc == VAP_OK) {
        if (is->used || now >= is->begun_ms + FUZZ_TTL_MS || tx == NULL ||
            strcmp(tx->state, is->state) != 0 || strcmp(tx->issuer, FUZZ_ISS) != 0 ||
            strcmp(tx->redirect_uri, FUZZ_REDIR) != 0 || tx->verifier == NULL ||
            strlen(tx->verifier) != PKCE_TOKEN_LEN)
            abort();
        authtx_free(tx);
    } else if (tx != NULL || err.code != rc ||
               (rc == VAP_E_REAUTH_REQUIRED && now < is->begun_ms + FUZZ_TTL_MS) ||
               (rc != VAP_E_REAUTH_REQUIRED && rc != VAP_E_PROTOCOL)) {
        abort();
    }
    is->used = 1; /* single use, whatever happened */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    if (size < 1 || size > 4096)
        return 0;
    size_t max_pending = 1 + data[0] % 8;
    authtx_table *t = NULL;
    if (authtx_table_new(max_pending, FUZZ_TTL_MS, &t) != 0)
        return 0;
    struct fuzz_issued issued[FUZZ_MAX_ISSUED];
    size_t n_issued = 0;
    int64_t now = INT64_C(1789996400000);

    for (size_t i = 1; i < size; i++) {
        uint8_t op = data[i], arg = i + 1 < size ? data[i + 1] : 0;
        switch (op % 5) {
        case 0: { /* begin */
            authtx_begin_info info;
            vap_error err;
            VAP_INIT(vap_error, err);
            if (authtx_begin(t, now, FUZZ_ISS, FUZZ_REDIR, "openid offline_access", &info,
                             &err) != VAP_OK)
                abort();
            if (strlen(info.state) != PKCE_TOKEN_LEN || info.expires_ms != now + FUZZ_TTL_MS)
                abort();
            if (n_issued < FUZZ_MAX_ISSUED) {
                memcpy(issued[n_issued].state, info.state, sizeof info.state);
                issued[n_issued].begun_ms = now;
                issued[n_issued].used = 0;
                n_issued++;
            }
            break;
        }
        case 1: /* take a state handed out before (maybe again) */
            if (n_issued > 0)
                fuzz_take_known(t, now, &issued[arg % n_issued]);
            i++;
            break;
        case 2: { /* take forged bytes from the input, or a cut/extended real state */
            char forged[PKCE_TOKEN_SIZE + 8];
            size_t n = arg % sizeof forged;
            if (n_issued > 0 && (arg & 0x80)) {
                memcpy(forged, issued[arg % n_issued].state, PKCE_TOKEN_LEN);
                memset(forged + PKCE_TOKEN_LEN, 'A', sizeof forged - PKCE_TOKEN_LEN);
                if (n == PKCE_TOKEN_LEN)
                    n--; /* the real thing is case 1 */
            } else {
                size_t rest = i + 2 <= size ? size - i - 2 : 0;
                size_t avail = rest < n ? rest : n;
                memcpy(forged, data + i + 2, avail);
                n = avail;
                i += avail;
            }
            authtx *tx = NULL;
            vap_error err;
            VAP_INIT(vap_error, err);
            if (authtx_take(t, now, forged, n, &tx, &err) == VAP_OK) {
                /* only a byte-exact state of ours may work */
                int ours = 0;
                for (size_t k = 0; k < n_issued; k++)
                    if (n == PKCE_TOKEN_LEN && memcmp(forged, issued[k].state, n) == 0 &&
                        !issued[k].used) {
                        ours = 1;
                        issued[k].used = 1;
                    }
                if (!ours || tx == NULL)
                    abort();
                authtx_free(tx);
            }
            i++;
            break;
        }
        case 3: /* the clock moves, forwards mostly, sometimes back */
            now += (int64_t)(int8_t)arg * 1500;
            i++;
            break;
        case 4:
            if (authtx_pending(t, now) > max_pending)
                abort();
            break;
        }
    }
    authtx_table_free(t);
    return 0;
}
