/* test_authtx.c - pending authorization transactions: expiry with an
 * injected clock, single use, constant-time lookup, many pending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "oauth/authtx.h"

#define ISS "https://emr.example.org/oauth2/default"
#define RURI "http://localhost:8000/oauth/callback"
#define SCOPE "openid fhirUser offline_access api:fhir user/Patient.read"
#define T0 INT64_C(1700000000000)

static vap_error new_err(void)
{
    vap_error e;
    VAP_INIT(vap_error, e);
    return e;
}

static authtx_table *new_table(size_t cap)
{
    authtx_table *t = NULL;
    assert_int_equal(authtx_table_new(cap, 0, &t), 0);
    return t;
}

static void begin_returns_fresh_handles_and_challenge(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    assert_int_equal(strlen(info.state), PKCE_TOKEN_LEN);
    assert_int_equal(strlen(info.nonce), PKCE_TOKEN_LEN);
    assert_int_equal(strlen(info.code_challenge), PKCE_CHALLENGE_LEN);
    assert_string_not_equal(info.state, info.nonce);
    assert_int_equal(info.expires_ms, T0 + AUTHTX_TTL_MS);

    authtx *tx = NULL;
    assert_int_equal(authtx_take(t, T0 + 1000, info.state, strlen(info.state), &tx, &e), 0);
    assert_string_equal(tx->state, info.state);
    assert_string_equal(tx->nonce, info.nonce);
    assert_string_equal(tx->issuer, ISS);
    assert_string_equal(tx->redirect_uri, RURI);
    assert_string_equal(tx->scope, SCOPE);
    assert_int_equal(tx->created_ms, T0);
    /* The verifier is readable once taken and matches the challenge sent. */
    char challenge[PKCE_CHALLENGE_SIZE];
    assert_int_equal(pkce_challenge_s256(tx->verifier, PKCE_TOKEN_LEN, challenge,
                                         sizeof challenge), 0);
    assert_string_equal(challenge, info.code_challenge);
    authtx_free(tx);
    authtx_table_free(t);
}

static void state_is_single_use(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    authtx *tx = NULL;
    assert_int_equal(authtx_take(t, T0, info.state, PKCE_TOKEN_LEN, &tx, &e), 0);
    authtx_free(tx);
    tx = NULL;
    assert_int_equal(authtx_take(t, T0, info.state, PKCE_TOKEN_LEN, &tx, &e),
                     VAP_E_PROTOCOL);
    assert_null(tx);
    assert_non_null(strstr(e.message, "already used"));
    authtx_table_free(t);
}

static void expired_transaction_is_refused_and_removed(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    authtx *tx = NULL;
    /* One millisecond before the end it is still good... */
    assert_int_equal(authtx_pending(t, T0 + AUTHTX_TTL_MS - 1), 1);
    /* ...and at the end it is gone, with a message that says why. */
    assert_int_equal(authtx_take(t, T0 + AUTHTX_TTL_MS, info.state, PKCE_TOKEN_LEN,
                                 &tx, &e), VAP_E_REAUTH_REQUIRED);
    assert_null(tx);
    assert_non_null(strstr(e.message, "10 minutes"));
    assert_int_equal(authtx_pending(t, T0), 0);
    authtx_table_free(t);
}

static void last_millisecond_is_still_valid(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    authtx *tx = NULL;
    assert_int_equal(authtx_take(t, T0 + AUTHTX_TTL_MS - 1, info.state,
                                 PKCE_TOKEN_LEN, &tx, &e), 0);
    authtx_free(tx);
    authtx_table_free(t);
}

static void expired_entries_are_purged_by_the_clock(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    assert_int_equal(authtx_begin(t, T0 + 60000, ISS, RURI, SCOPE, &info, &e), 0);
    assert_int_equal(authtx_pending(t, T0 + 60000), 2);
    assert_int_equal(authtx_pending(t, T0 + AUTHTX_TTL_MS), 1);
    assert_int_equal(authtx_pending(t, T0 + 60000 + AUTHTX_TTL_MS), 0);
    authtx_table_free(t);
}

static void wrong_states_match_nothing(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    char near[PKCE_TOKEN_SIZE];
    memcpy(near, info.state, sizeof near);
    near[PKCE_TOKEN_LEN - 1] = near[PKCE_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    char longer[PKCE_TOKEN_SIZE + 1];
    memcpy(longer, info.state, PKCE_TOKEN_LEN);
    longer[PKCE_TOKEN_LEN] = 'x';
    const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {near, PKCE_TOKEN_LEN},
        {info.state, PKCE_TOKEN_LEN - 1}, /* a prefix */
        {longer, PKCE_TOKEN_LEN + 1},     /* an extension */
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        authtx *tx = NULL;
        assert_int_equal(authtx_take(t, T0, cases[i].s, cases[i].len, &tx, &e),
                         VAP_E_PROTOCOL);
        assert_null(tx);
    }
    /* A failed lookup does not consume the real transaction. */
    authtx *tx = NULL;
    assert_int_equal(authtx_take(t, T0, info.state, PKCE_TOKEN_LEN, &tx, &e), 0);
    authtx_free(tx);
    authtx_table_free(t);
}

static void many_pending_are_each_found(void **state)
{
    enum { N = 16 };
    authtx_table *t = new_table(N);
    authtx_begin_info info[N];
    vap_error e = new_err();
    for (int i = 0; i < N; i++)
        assert_int_equal(authtx_begin(t, T0 + i, ISS, RURI, SCOPE, &info[i], &e), 0);
    assert_int_equal(authtx_pending(t, T0 + N), N);
    /* Take them in reverse order: each finds its own nonce. */
    for (int i = N - 1; i >= 0; i--) {
        authtx *tx = NULL;
        assert_int_equal(authtx_take(t, T0 + N, info[i].state, PKCE_TOKEN_LEN, &tx, &e), 0);
        assert_string_equal(tx->nonce, info[i].nonce);
        authtx_free(tx);
    }
    assert_int_equal(authtx_pending(t, T0 + N), 0);
    authtx_table_free(t);
}

static void full_table_drops_the_oldest(void **state)
{
    authtx_table *t = new_table(3);
    authtx_begin_info info[4];
    vap_error e = new_err();
    for (int i = 0; i < 4; i++)
        assert_int_equal(authtx_begin(t, T0 + i, ISS, RURI, SCOPE, &info[i], &e), 0);
    assert_int_equal(authtx_pending(t, T0 + 4), 3);
    authtx *tx = NULL;
    assert_int_equal(authtx_take(t, T0 + 4, info[0].state, PKCE_TOKEN_LEN, &tx, &e),
                     VAP_E_PROTOCOL);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(authtx_take(t, T0 + 4, info[i].state, PKCE_TOKEN_LEN, &tx, &e), 0);
        authtx_free(tx);
    }
    authtx_table_free(t);
}

static void table_free_releases_pending_transactions(void **state)
{
    /* Under valgrind/ASan a leak or a double free here fails the test. */
    authtx_table *t = new_table(4);
    authtx_begin_info info;
    vap_error e = new_err();
    for (int i = 0; i < 4; i++)
        assert_int_equal(authtx_begin(t, T0, ISS, RURI, SCOPE, &info, &e), 0);
    authtx_table_free(t);
}

static void begin_refuses_missing_arguments(void **state)
{
    authtx_table *t = new_table(0);
    authtx_begin_info info;
    vap_error e = new_err();
    assert_int_equal(authtx_begin(t, T0, NULL, RURI, SCOPE, &info, &e), VAP_E_INVAL);
    assert_int_equal(authtx_begin(t, T0, ISS, NULL, SCOPE, &info, &e), VAP_E_INVAL);
    assert_int_equal(authtx_begin(t, T0, ISS, RURI, NULL, &info, &e), VAP_E_INVAL);
    assert_int_equal(authtx_pending(t, T0), 0);
    authtx_table_free(t);
}

/* Concurrent begin/take on one table: every thread finds its own. */
static void *worker(void *arg)
{
    authtx_table *t = arg;
    for (int i = 0; i < 50; i++) {
        authtx_begin_info info;
        authtx *tx = NULL;
        if (authtx_begin(t, T0, ISS, RURI, SCOPE, &info, NULL) != 0 ||
            authtx_take(t, T0, info.state, PKCE_TOKEN_LEN, &tx, NULL) != 0 ||
            strcmp(tx->nonce, info.nonce) != 0)
            return (void *)1;
        authtx_free(tx);
    }
    return NULL;
}

static void concurrent_use_is_safe(void **state)
{
    authtx_table *t = new_table(8);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, t), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    authtx_table_free(t);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(begin_returns_fresh_handles_and_challenge),
        cmocka_unit_test(state_is_single_use),
        cmocka_unit_test(expired_transaction_is_refused_and_removed),
        cmocka_unit_test(last_millisecond_is_still_valid),
        cmocka_unit_test(expired_entries_are_purged_by_the_clock),
        cmocka_unit_test(wrong_states_match_nothing),
        cmocka_unit_test(many_pending_are_each_found),
        cmocka_unit_test(full_table_drops_the_oldest),
        cmocka_unit_test(table_free_releases_pending_transactions),
        cmocka_unit_test(begin_refuses_missing_arguments),
        cmocka_unit_test(concurrent_use_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
