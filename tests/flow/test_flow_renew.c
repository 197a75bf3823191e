/* test_flow_renew.c - a renewal outlives the callers that wait for it
 * (DESIGN.md, Keeping the grant alive, rule 10), through the ABI against the
 * simulator.
 *
 * Each expiry: the token endpoint answers 1.5 s late (the simulator sleeps
 * before it handles the request, so its refresh counter moves only once
 * the server has rotated) and 8 threads fetch with a 300 ms deadline, or
 * with a cancel token fired 100 ms in.  Every caller must give up with
 * VAP_E_TIMEOUT / VAP_E_CANCELLED *before the server has handled the
 * request* (its counter still unmoved when the call returned: no
 * wall-clock bound), the renewal must still complete and be sealed, and
 * then: exactly one token request per expiry, no revoked refresh token
 * reused, no VAP_E_REAUTH_REQUIRED, the generation one up per expiry.
 * Were the token request run under the caller's deadline or cancel token,
 * the server would rotate after the client gave up and the next renewal
 * would reuse a revoked token.
 *
 * The code exchange likewise ("exchange"): a 300 ms deadline against a token
 * endpoint 1.5 s late times out, the code is still redeemed and the grant
 * sealed, and the next fetch uses it with no further token request.
 *
 * Ahead of need ("ahead"), on the real clock: with 12 s access tokens (a 3 s
 * margin) and a token endpoint 1 s late (longer on a slower machine), the renewer thread renews each
 * token before it expires with no caller asking, a fetch loop with a
 * 300 ms deadline running meanwhile never times out, status says when
 * the next renewal is due, and a fresh instance whose only call was one
 * fetch renews ahead of need too.
 *
 * Usage: test-flow-renew MODULE deadline|cancel|exchange|ahead EXPIRIES */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testcheck.h"
#include "flowkit.h"

#define THREADS 8
/* The figures on an idle machine; scaled up from a measured warm
 * fetch where the machine is slower (load, valgrind), so that a deadline is
 * always long enough to reach the token request and the latency always
 * longer than the deadline (calibrate()). */
static int DEADLINE_MS = 300;
static int LATENCY_MS = 1500;
static int CANCEL_AFTER_MS = 100;

static struct flowkit K;
static vap_instance *I;
static int use_cancel;
static int64_t host_now; /* the fake host's frozen clock for this expiry */

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The simulator's refresh counter, read in-process (no HTTP request that
 * could queue behind the delayed token request; safe from any thread). */
static long refreshes(void)
{
    char *out = NULL;
    long n = -1;
    if (sim_control(K.sim, "counters", NULL, &out) == 200 && out != NULL) {
        json_t *root = json_loads(out, 0, NULL);
        json_t *v = json_object_get(json_object_get(root, "token_requests"), "refresh_token");
        n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
        json_decref(root);
    }
    free(out);
    return n;
}

static int grant_info(vap_grant_info *out)
{
    vap_grant_info *gi = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = K.api->status(I, NULL, &gi, &err);
    if (rc == VAP_OK && gi != NULL)
        *out = *gi;
    K.api->release(gi);
    return rc == VAP_OK && gi != NULL ? 0 : -1;
}

/* Both clocks moved so the grant's access token has just expired: the
 * plugin's (the fake host's, frozen) and the simulator's (its skew), so
 * the id_tokens it mints are as fresh as the plugin expects. */
static void clocks_to_expiry(void)
{
    vap_grant_info gi;
    char body[64];
    if (grant_info(&gi) != 0)
        return;
    host_now = gi.access_expires_at_ms + 1000;
    snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)((host_now - real_ms()) / 1000));
    flowkit_control(&K, "skew", body, NULL, 0);
    fakehost_set_now_ms(K.fh, host_now);
}

struct worker {
    pthread_t t;
    vap_cancel *cancel;
    long r_before;      /* the simulator's refresh count before this expiry */
    int gave_up;        /* calls that returned TIMEOUT / CANCELLED            */
    int gave_up_early;  /* ... while the server had not handled the request   */
    int gave_up_late;
    int message_ok;     /* every give-up said the renewal goes on             */
    int reauth, other;  /* VAP_E_REAUTH_REQUIRED; any other failure           */
    int64_t worst_over; /* ms past the deadline, the worst call (reported)    */
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->message_ok = 1;
    for (int attempt = 0; attempt < 200 && !w->ok; attempt++) {
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        vap_call call;
        vap_error err;
        VAP_INIT(vap_call, call);
        VAP_INIT(vap_error, err);
        /* The first call of each thread is the one to give up: with a
         * cancel token (fired by main) or a short deadline. */
        int first = attempt == 0;
        call.deadline_ms = host_now + (first && !use_cancel ? DEADLINE_MS : 20000);
        call.cancel = first && use_cancel ? w->cancel : NULL;
        flowkit_get_req(&req, "Patient", "_count=1");
        int64_t t0 = mono_ms();
        int rc = K.api->fetch(I, &call, &req, &resp, &err);
        int64_t took = mono_ms() - t0;
        long r_now = refreshes();
        int ok = rc == VAP_OK && resp != NULL && resp->status == 200;
        K.api->release(resp);
        if (ok) {
            w->ok = 1;
        } else if (rc == VAP_E_TIMEOUT || rc == VAP_E_CANCELLED) {
            w->gave_up++;
            if (r_now == w->r_before)
                w->gave_up_early++;
            else
                w->gave_up_late++;
            if (strstr(err.message, "renewal goes on") == NULL)
                w->message_ok = 0;
            if (!use_cancel && took - DEADLINE_MS > w->worst_over)
                w->worst_over = took - DEADLINE_MS;
        } else if (rc == VAP_E_REAUTH_REQUIRED) {
            w->reauth++;
            break;
        } else {
            printf("  fetch: rc=%d %s\n", rc, err.message);
            w->other++;
            break;
        }
    }
    return NULL;
}

static long code_exchanges(void)
{
    return flowkit_counter(&K, "token_requests.authorization_code");
}

static void test_exchange(void)
{
    static char loc[20000];
    vap_authorize_begin_result *b = NULL;
    vap_grant_info *gi = NULL, before, now;
    vap_error err;
    long status = 0;
    VAP_INIT(vap_error, err);
    check(grant_info(&before) == 0, "status_before_authorizing_again");
    check(K.api->authorize_begin(I, NULL, NULL, &b, &err) == VAP_OK &&
              flowkit_get_location(&K, b->url, &status, loc, sizeof loc) == 0 && status == 302,
          "authorization_url_answers_with_a_code");
    K.api->release(b);
    long c0 = code_exchanges(), r0 = refreshes();
    char body[160];
    snprintf(body, sizeof body,
             "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
             "\"ms\":%d}", LATENCY_MS);
    flowkit_control(&K, "faults", body, NULL, 0);
    vap_call call;
    VAP_INIT(vap_call, call);
    call.deadline_ms = real_ms() + DEADLINE_MS;
    VAP_INIT(vap_error, err);
    int rc = K.api->authorize_complete(I, &call, loc, strlen(loc), &gi, &err);
    K.api->release(gi);
    check(rc == VAP_E_TIMEOUT && code_exchanges() == c0,
          "exchange_caller_times_out_before_the_server_handled_the_code");
    check(strstr(err.message, "exchange goes on") != NULL, "exchange_timeout_says_it_goes_on");
    /* Polled, bounded: the exchange completes and its grant is sealed. */
    for (int i = 0; i < 2000; i++) {
        if (grant_info(&now) == 0 && now.generation > before.generation)
            break;
        sleep_ms(5);
    }
    check(grant_info(&now) == 0 && now.generation == before.generation + 1 &&
              now.state == VAP_GRANT_VALID && code_exchanges() == c0 + 1,
          "abandoned_exchange_is_sealed");
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_get_req(&req, "Patient", "_count=1");
    VAP_INIT(vap_error, err);
    rc = K.api->fetch(I, NULL, &req, &resp, &err);
    check(rc == VAP_OK && resp != NULL && resp->status == 200 && refreshes() == r0 &&
              code_exchanges() == c0 + 1,
          "next_fetch_uses_the_exchanged_grant_without_a_token_request");
    K.api->release(resp);
}

static void calibrate(void)
{
    int64_t slowest = 0;
    for (int i = 0; i < 3; i++) {
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        vap_error err;
        VAP_INIT(vap_error, err);
        flowkit_get_req(&req, "Patient", "_count=1");
        int64_t t0 = mono_ms();
        K.api->fetch(I, NULL, &req, &resp, &err);
        int64_t d = mono_ms() - t0;
        K.api->release(resp);
        slowest = d > slowest ? d : slowest;
    }
    if (4 * slowest > DEADLINE_MS)
        DEADLINE_MS = (int)(4 * slowest);
    if (5 * DEADLINE_MS > LATENCY_MS)
        LATENCY_MS = 5 * DEADLINE_MS;
    CANCEL_AFTER_MS = DEADLINE_MS / 3;
    printf("COUNT calibration warm_fetch_ms=%lld deadline_ms=%d latency_ms=%d\n",
           (long long)slowest, DEADLINE_MS, LATENCY_MS);
}

struct looper {
    pthread_t t;
    volatile int stop;
    int calls, timeouts, raced, failures;
};

static void *loop_main(void *arg)
{
    struct looper *l = arg;
    while (!l->stop) {
        vap_fetch_request req;
        vap_fetch_response *resp = NULL;
        vap_call call;
        vap_error err;
        VAP_INIT(vap_call, call);
        VAP_INIT(vap_error, err);
        call.deadline_ms = real_ms() + DEADLINE_MS;
        flowkit_get_req(&req, "Patient", "_count=1");
        long r0 = refreshes();
        int rc = K.api->fetch(I, &call, &req, &resp, &err);
        long r1 = refreshes();
        int ok = rc == VAP_OK && resp != NULL && resp->status == 200;
        K.api->release(resp);
        l->calls++;
        /* A fetch that gave up waiting for the renewal (the plugin says so)
         * while the server still slept on the token request waited for a
         * token request: that must not happen.  Counted apart: one whose
         * request met the rotation itself (OpenEMR revokes the old access
         * token as it answers, so it waits for the seal), and one the
         * simulator did not answer in time (its thread asleep in the
         * latency fault serves that connection too). */
        int waited = rc == VAP_E_TIMEOUT && strstr(err.message, "renewal goes on") != NULL;
        if (waited && r0 == r1)
            l->timeouts++;
        else if (rc == VAP_E_TIMEOUT)
            l->raced++;
        else if (!ok) {
            printf("  loop fetch: rc=%d %s\n", rc, err.message);
            l->failures++;
        }
        sleep_ms(50);
    }
    return NULL;
}

static void test_ahead(int cycles)
{
    vap_grant_info a, b;
    vap_error err;
    vap_grant_info *gi = NULL;
    /* 12 s tokens (a 3 s margin) on an idle machine; longer where slower. */
    int ttl = 40 * DEADLINE_MS / 1000 > 12 ? 40 * DEADLINE_MS / 1000 : 12;
    int latency = ttl * 1000 / 12;
    char body[96];
    snprintf(body, sizeof body, "{\"seconds\":%d}", ttl);
    flowkit_control(&K, "access-ttl", body, NULL, 0);
    VAP_INIT(vap_error, err);
    check(K.api->refresh(I, NULL, &gi, &err) == VAP_OK, "renew_to_a_short_lived_token");
    K.api->release(gi);
    check(grant_info(&a) == 0 && a.renew_due_at_ms == a.access_expires_at_ms - ttl * 1000 / 4,
          "status_says_when_the_renewal_is_due");
    /* No caller at all: the renewer renews before the token expires. */
    long r0 = refreshes();
    for (int i = 0; i < ttl * 600 && grant_info(&b) == 0 && b.generation == a.generation; i++)
        sleep_ms(5);
    check(grant_info(&b) == 0 && b.generation == a.generation + 1 && refreshes() == r0 + 1,
          "renewed_ahead_of_need_with_no_caller");
    check(b.obtained_at_ms < a.access_expires_at_ms, "renewed_before_the_token_expired");
    /* Steady state: a slow token endpoint, callers with a short deadline. */
    struct looper l;
    memset(&l, 0, sizeof l);
    pthread_create(&l.t, NULL, loop_main, &l);
    for (int c = 0; c < cycles; c++) {
        vap_grant_info x, y;
        grant_info(&x);
        snprintf(body, sizeof body,
                 "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
                 "\"ms\":%d}", latency);
        flowkit_control(&K, "faults", body, NULL, 0);
        for (int i = 0; i < ttl * 600 && grant_info(&y) == 0 && y.generation == x.generation; i++)
            sleep_ms(5);
    }
    sleep_ms(200);
    l.stop = 1;
    pthread_join(l.t, NULL);
    printf("COUNT ahead cycles=%d fetches=%d timeouts_waiting_for_the_request=%d "
           "other_timeouts=%d\n", cycles, l.calls, l.timeouts, l.raced);
    check(l.calls > 0 && l.timeouts == 0 && l.failures == 0,
          "steady_state_fetches_never_wait_for_a_token_request");
    check(refreshes() == r0 + 1 + cycles, "one_token_request_per_renewal_ahead");

    /* A process whose only contact with the grant is one fetch, made while
     * its token is fresh (it read the sealed grant; the renewals so far
     * were another instance's), renews it ahead of need all the same: its
     * renewal timer is set by that fetch. */
    K.api->instance_free(I);
    I = NULL;
    VAP_INIT(vap_error, err);
    check(flowkit_instance(&K, &I, &err, NULL) == VAP_OK, "a_fresh_instance_over_the_store");
    vap_grant_info c, d;
    vap_fetch_request req;
    vap_fetch_response *resp = NULL;
    flowkit_get_req(&req, "Patient", "_count=1");
    long r1 = refreshes();
    int frc = K.api->fetch(I, NULL, &req, &resp, &err);
    K.api->release(resp);
    check(frc == VAP_OK && refreshes() == r1, "its_one_fetch_needs_no_renewal");
    check(grant_info(&c) == 0, "status_of_the_fresh_instance");
    for (int i = 0; i < ttl * 600 && grant_info(&d) == 0 && d.generation == c.generation; i++)
        sleep_ms(5);
    check(grant_info(&d) == 0 && d.generation == c.generation + 1 && refreshes() == r1 + 1,
          "a_fresh_instance_renews_ahead_of_need_after_one_fetch");
    check(d.obtained_at_ms < c.access_expires_at_ms, "before_the_token_it_read_expired");
    flowkit_control(&K, "access-ttl", "{\"seconds\":3600}", NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "deadline") != 0 && strcmp(argv[2], "cancel") != 0 &&
                      strcmp(argv[2], "exchange") != 0 && strcmp(argv[2], "ahead") != 0)) {
        fprintf(stderr, "usage: test-flow-renew MODULE deadline|cancel|exchange|ahead EXPIRIES\n");
        return 2;
    }
    use_cancel = strcmp(argv[2], "cancel") == 0;
    int expiries = atoi(argv[3]);
    if (flowkit_start(&K, argv[1], NULL) != 0)
        return 1;
    vap_error err;
    vap_grant_info *gi = NULL;
    check(flowkit_instance(&K, &I, &err, NULL) == VAP_OK, "instance_created");
    check(flowkit_authorize(&K, I, &gi, &err, NULL, 0) == VAP_OK, "authorized");
    K.api->release(gi);
    calibrate();
    if (strcmp(argv[2], "exchange") == 0 || strcmp(argv[2], "ahead") == 0) {
        if (argv[2][0] == 'e')
            test_exchange();
        else
            test_ahead(expiries);
        K.api->instance_free(I);
        flowkit_stop(&K);
        return check_summary();
    }

    int all_early = 1, all_msgs = 1, one_request_each = 1, gen_step = 1, all_ok = 1;
    int reauth = 0, other = 0, gave_up = 0, late = 0;
    int64_t worst = 0;
    long u0 = flowkit_counter(&K, "revoked_refresh_reuse");
    for (int e = 0; e < expiries; e++) {
        vap_grant_info before, after;
        clocks_to_expiry();
        check(grant_info(&before) == 0, "status_before_expiry");
        long r0 = refreshes();
        char body[160];
        snprintf(body, sizeof body,
                 "{\"route\":\"/oauth2/default/token\",\"kind\":\"latency\",\"count\":1,"
                 "\"ms\":%d}", LATENCY_MS);
        flowkit_control(&K, "faults", body, NULL, 0);
        struct worker w[THREADS];
        memset(w, 0, sizeof w);
        for (int i = 0; i < THREADS; i++) {
            w[i].r_before = r0;
            w[i].cancel = use_cancel ? K.api->cancel_new() : NULL;
            pthread_create(&w[i].t, NULL, worker_main, &w[i]);
        }
        if (use_cancel) {
            sleep_ms(CANCEL_AFTER_MS);
            for (int i = 0; i < THREADS; i++)
                K.api->cancel_fire(w[i].cancel);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(w[i].t, NULL);
            if (w[i].cancel)
                K.api->cancel_free(w[i].cancel);
            /* Every thread's first call gave up before the server handled
             * the token request. */
            all_early &= w[i].gave_up_early >= 1;
            all_msgs &= w[i].message_ok;
            all_ok &= w[i].ok;
            late += w[i].gave_up_late;
            gave_up += w[i].gave_up;
            reauth += w[i].reauth;
            other += w[i].other;
            if (w[i].worst_over > worst)
                worst = w[i].worst_over;
        }
        check(grant_info(&after) == 0, "status_after_expiry");
        long r1 = refreshes();
        if (r1 != r0 + 1) {
            one_request_each = 0;
            printf("  expiry %d: %ld token requests\n", e, r1 - r0);
        }
        if (after.generation != before.generation + 1) {
            gen_step = 0;
            printf("  expiry %d: generation %llu -> %llu\n", e,
                   (unsigned long long)before.generation, (unsigned long long)after.generation);
        }
    }
    printf("COUNT expiries=%d threads=%d gave_up=%d gave_up_after_server_answered=%d "
           "worst_ms_past_deadline=%lld\n",
           expiries, THREADS, gave_up, late, (long long)worst);
    check(all_early, use_cancel ? "cancelled_callers_return_before_the_token_request_finished"
                                : "callers_time_out_before_the_token_request_finished");
    check(all_msgs, "caller_is_told_the_renewal_goes_on");
    check(all_ok, "every_thread_then_fetches_with_the_renewed_token");
    check(one_request_each, "exactly_one_token_request_per_expiry");
    check(gen_step, "generation_advances_once_per_expiry");
    check(reauth == 0, "no_reauth_required");
    check(other == 0, "no_other_failure");
    check(flowkit_counter(&K, "revoked_refresh_reuse") == u0, "no_revoked_refresh_token_reused");
    K.api->instance_free(I);
    flowkit_stop(&K);
    return check_summary();
}
