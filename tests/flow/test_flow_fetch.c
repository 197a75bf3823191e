/* test_flow_fetch.c - fetch as the platform uses it : searches
 * merged across OpenEMR's _count/_offset pages, the standard API, OpenEMR's
 * error bodies turned into readable errors, paths that must never leave the
 * base, and the response object. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testcheck.h"
#include "flowkit.h"

static struct flowkit k;
static vap_instance *inst;

static void quirks(int on);
static int do_fetch(const char *method, const char *path, const char *query, uint32_t flags,
                    const char *body, vap_fetch_response **resp, vap_error *err)
{
    vap_fetch_request req;
    VAP_INIT(vap_fetch_request, req);
    req.method = method;
    req.path = path;
    req.query = query;
    req.flags = flags;
    if (body) {
        req.body = body;
        req.body_len = strlen(body);
    }
    *resp = NULL;
    VAP_INIT(vap_error, *err);
    return k.api->fetch(inst, NULL, &req, resp, err);
}

static size_t bundle_entries(const vap_fetch_response *r)
{
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    size_t n = json_array_size(json_object_get(b, "entry"));
    json_decref(b);
    return n;
}

static void test_all_pages_merges_offset_pages(void)
{
    vap_fetch_response *one = NULL, *all = NULL;
    vap_error err;
    /* The reference: everything in one page. */
    int rc1 = do_fetch("GET", "Patient", "_count=200", 0, NULL, &one, &err);
    int rc2 = do_fetch("GET", "Patient", "_count=7", VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    check(rc1 == VAP_OK && rc2 == VAP_OK, "all_pages_fetches");
    if (rc1 == VAP_OK && rc2 == VAP_OK) {
        size_t n1 = bundle_entries(one), n2 = bundle_entries(all);
        check(n1 > 7 && n1 == n2, "all_pages_merges_every_entry_once");
        check(all->pages == (uint32_t)(n1 / 7 + 1), "all_pages_counts_pages");
        check(all->n_headers == 0, "all_pages_not_truncated");
    }
    k.api->release(one);
    k.api->release(all);
}

static void test_all_pages_stops_at_max_pages(void)
{
    vap_fetch_request req;
    vap_fetch_response *r = NULL;
    vap_error err;
    flowkit_get_req(&req, "Patient", "_count=5");
    req.flags = VAP_FETCH_ALL_PAGES;
    req.max_pages = 2;
    VAP_INIT(vap_error, err);
    int rc = k.api->fetch(inst, NULL, &req, &r, &err);
    check(rc == VAP_OK && r && r->pages == 2 && bundle_entries(r) == 10 && r->n_headers == 1 &&
              strcmp(r->headers[0].name, "X-Vap-Pages-Truncated") == 0,
          "all_pages_stops_at_max_pages_and_says_so");
    k.api->release(r);
}

/* The warm-up opens TLS connections with "OPTIONS *", which the web server
 * answers itself: never a HEAD to /metadata (OpenEMR runs PHP for a 404),
 * never a warning. */
static void test_warm_up_asks_the_server_not_openemr(void)
{
    long opts = 0;
    /* The warm-up thread starts with the instance; wait for its request
     * (bounded only by the test's own timeout on a busy machine). */
    for (int i = 0; i < 6000 && (opts = flowkit_counter(&k, "routes.server-options")) < 1; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    check(opts >= 1, "warm_up_sends_options_star");
    check(flowkit_counter(&k, "routes.fhir-metadata") == 0 &&
              flowkit_counter(&k, "routes.fhir/other") == 0,
          "warm_up_sends_no_fhir_request");
    char *log = fakehost_log_text(k.fh);
    int warned = 0;
    for (char *l = log; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t n = strcspn(l, "\n");
        if (n > 5 && strncmp(l, "warn:", 5) == 0 && memmem(l, n, "warm", 4) != NULL)
            warned = 1;
    }
    free(log);
    check(!warned, "warm_up_never_warns");
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A fetch made as soon as the instance exists (a host that made it for a
 * request in hand) runs with no warm-up handshake beside it, however long
 * it takes: warming waits until no fetch is running, then tops up to
 * warm_connections, the fetch's own connection counted.  The simulator
 * holds the fetch's request 3 s, far past the first warm-up's due time;
 * the "OPTIONS *" count is sampled only while the request is still held
 * (its route not yet counted), so a warm-up queued as the fetch ends is
 * never mistaken for one beside it. */
struct held_fetch {
    vap_instance *inst;
    double t_new;
    int began_in_time, rc, done; /* done: atomic */
};

static void *held_fetch_run(void *arg)
{
    struct held_fetch *h = arg;
    vap_fetch_request req;
    vap_fetch_response *r = NULL;
    vap_error err;
    VAP_INIT(vap_error, err);
    flowkit_get_req(&req, "Patient", "_count=1");
    h->began_in_time = mono_ms() - h->t_new < 100;
    h->rc = k.api->fetch(h->inst, NULL, &req, &r, &err);
    k.api->release(r);
    __atomic_store_n(&h->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_warm_up_waits_while_a_fetch_runs(void)
{
    int conclusive = 0, quiet = 0, after = 0, samples = 0;
    /* Only a fetch begun well inside the first warm-up's delay can show
     * anything; a slower start (a stalled machine) is tried again. */
    for (int attempt = 0; attempt < 5 && !conclusive; attempt++) {
        vap_error err;
        VAP_INIT(vap_error, err);
        if (flowkit_control(&k, "faults",
                            "{\"route\":\"/apis/default/fhir/Patient*\",\"kind\":\"latency\","
                            "\"count\":1,\"ms\":3000}",
                            NULL, 0) != 200)
            break;
        long opts0 = flowkit_counter(&k, "routes.server-options");
        long held0 = flowkit_counter(&k, "routes.fhir/Patient");
        struct held_fetch h = {0};
        if (flowkit_instance(&k, &h.inst, &err, "warm_connections", "2", NULL) != VAP_OK)
            break;
        h.t_new = mono_ms();
        pthread_t t;
        if (pthread_create(&t, NULL, held_fetch_run, &h) != 0) {
            k.api->instance_free(h.inst);
            break;
        }
        int seen = 0;
        samples = 0;
        while (!__atomic_load_n(&h.done, __ATOMIC_SEQ_CST)) {
            long p1 = flowkit_counter(&k, "routes.fhir/Patient");
            long o = flowkit_counter(&k, "routes.server-options");
            long p2 = flowkit_counter(&k, "routes.fhir/Patient");
            if (p1 == held0 && p2 == held0 && !__atomic_load_n(&h.done, __ATOMIC_SEQ_CST)) {
                samples++;
                seen |= o != opts0;
            }
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        pthread_join(t, NULL);
        conclusive = h.began_in_time && samples > 0;
        quiet = h.rc == VAP_OK && !seen;
        if (conclusive && quiet) {
            /* Once the fetch is done the warm-up adds the one connection
             * missing (bounded only by the test's own timeout). */
            long o2 = opts0;
            for (int i = 0; i < 6000 && (o2 = flowkit_counter(&k, "routes.server-options")) <
                                            opts0 + 1; i++) {
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
            after = o2 == opts0 + 1;
        }
        k.api->instance_free(h.inst);
    }
    printf("# warm-up while a fetch runs: %d samples during the hold\n", samples);
    check(conclusive, "a_fetch_began_right_after_instance_new");
    check(quiet, "no_warm_up_handshake_while_the_fetch_runs");
    check(after, "the_warm_up_tops_up_once_the_fetch_is_done");
}

static void quirks(int on)
{
    flowkit_control(&k, "quirks", on ? "{\"enabled\":true}" : "{\"enabled\":false}", NULL, 0);
}

/* OpenEMR 7.0.3 empties any search that carries _count or _offset: the
 * first request must carry neither, and gets every match. */
static void test_all_pages_adds_no_paging_params(void)
{
    vap_fetch_response *all = NULL, *named = NULL;
    vap_error err;
    quirks(1);
    long before = flowkit_counter(&k, "routes.fhir/Patient");
    int rc1 = do_fetch("GET", "Patient", NULL, VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    long after = flowkit_counter(&k, "routes.fhir/Patient");
    int rc2 = do_fetch("GET", "Patient", "name=a", VAP_FETCH_ALL_PAGES, NULL, &named, &err);
    quirks(0);
    check(rc1 == VAP_OK && all && bundle_entries(all) == 40 && all->pages == 1,
          "all_pages_on_a_server_that_empties_paged_searches_gets_every_match");
    check(before >= 0 && after - before == 1, "all_pages_unpaged_server_is_asked_once");
    check(rc2 == VAP_OK && named && bundle_entries(named) > 0,
          "all_pages_search_by_name_finds_matches_on_that_server");
    k.api->release(all);
    k.api->release(named);
}

/* A server that pages by itself says so: a total beyond the entries it
 * sent.  Then, and only then, _count/_offset are used. */
static void test_total_beyond_entries_pages_on(void)
{
    vap_fetch_response *all = NULL;
    vap_error err;
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"paged_total\","
                    "\"count\":20,\"status\":10}", NULL, 0);
    int rc = do_fetch("GET", "Patient", NULL, VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    check(rc == VAP_OK && all && bundle_entries(all) == 40 && all->pages == 4 &&
              all->n_headers == 0,
          "all_pages_follows_a_total_beyond_the_entries_with_count_offset");
    k.api->release(all);
}

/* The same server, but its paged answers come back empty: the walk stops
 * with what it has, marked incomplete, never "no match". */
static void test_emptied_paged_answer_keeps_first_page(void)
{
    vap_fetch_response *all = NULL;
    vap_error err;
    quirks(1);
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"paged_total\","
                    "\"count\":20,\"status\":10}", NULL, 0);
    int rc = do_fetch("GET", "Patient", NULL, VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    quirks(0);
    check(rc == VAP_OK && all && bundle_entries(all) == 10 && all->n_headers == 1 &&
              strcmp(all->headers[0].name, "X-Vap-Pages-Truncated") == 0,
          "all_pages_emptied_paged_answer_keeps_first_page_marked_truncated");
    k.api->release(all);
}

/* The Bundle's total, or -1. */
static long bundle_total(const vap_fetch_response *r)
{
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *t = json_object_get(b, "total");
    long v = json_is_integer(t) ? (long)json_integer_value(t) : -1;
    json_decref(b);
    return v;
}

/* 1 when no two entries share a fullUrl. */
static int no_duplicate_entries(const vap_fetch_response *r)
{
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL), *seen = json_object(), *e;
    size_t i;
    int ok = b != NULL;
    json_array_foreach(json_object_get(b, "entry"), i, e)
    {
        const char *u = json_string_value(json_object_get(e, "fullUrl"));
        if (u == NULL || json_object_get(seen, u) != NULL)
            ok = 0;
        else
            json_object_set_new(seen, u, json_true());
    }
    json_decref(seen);
    json_decref(b);
    return ok;
}

static int marked_truncated(const vap_fetch_response *r)
{
    return r->n_headers == 1 && strcmp(r->headers[0].name, "X-Vap-Pages-Truncated") == 0;
}

/* A server that reports total but honours neither _count nor _offset
 * answers every page with the first: the walk stops at the first repeat,
 * marked incomplete, with no entry twice and the server's total kept. */
static void test_server_ignoring_paging_is_not_walked_twice(void)
{
    vap_fetch_response *all = NULL;
    vap_error err;
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"paged_total_stuck\","
                    "\"count\":20,\"status\":10}", NULL, 0);
    int rc = do_fetch("GET", "Patient", NULL, VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    check(rc == VAP_OK && all && bundle_entries(all) == 10 && no_duplicate_entries(all) &&
              all->pages == 2,
          "all_pages_stops_when_a_page_repeats_an_earlier_one");
    check(rc == VAP_OK && all && marked_truncated(all) && bundle_total(all) == 40,
          "all_pages_repeated_page_is_marked_truncated_and_keeps_the_servers_total");
    k.api->release(all);
}

/* One page whose total says one match fewer than it carries: marked, and
 * total is not rewritten to the merged count. */
static void test_merged_count_unlike_total_is_marked(void)
{
    vap_fetch_response *all = NULL;
    vap_error err;
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"total_off\","
                    "\"count\":1,\"status\":-1}", NULL, 0);
    int rc = do_fetch("GET", "Patient", NULL, VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    check(rc == VAP_OK && all && bundle_entries(all) == 40 && marked_truncated(all) &&
              bundle_total(all) == 39,
          "all_pages_count_unlike_total_is_marked_and_total_kept");
    k.api->release(all);
}

static void test_read_miss_is_http_404_with_body(void)
{
    vap_fetch_response *r = NULL;
    vap_error err;
    int rc = do_fetch("GET", "Patient/00000000-0000-4000-8000-000000000000", NULL, 0, NULL, &r,
                      &err);
    check(rc == VAP_E_HTTP && err.http_status == 404 && r && r->status == 404,
          "read_miss_is_http_404_with_body");
    check(strstr(err.message, "not found") != NULL, "read_miss_message_readable");
    k.api->release(r);
}

static void test_paths_that_leave_the_base_are_refused(void)
{
    static const char *const bad[] = {"https://evil.example/Patient", "../api/patient",
                                      "Patient/../../x", "Patient/%2e%2e/x", "Patient\r\nX: y",
                                      "Patient//1", "Patient?x=1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vap_fetch_response *r = NULL;
        vap_error err;
        int rc = do_fetch("GET", bad[i], NULL, 0, NULL, &r, &err);
        check(rc == VAP_E_INVAL && r == NULL, "path_leaving_base_refused");
    }
    vap_fetch_response *r = NULL;
    vap_error err;
    check(do_fetch("GET", "Patient", "name=x#frag", 0, NULL, &r, &err) == VAP_E_INVAL,
          "query_with_fragment_refused");
    check(do_fetch("DELETE", "Patient", NULL, 0, NULL, &r, &err) == VAP_E_INVAL,
          "method_other_than_get_post_put_refused");
}

static void test_standard_api_and_missing_scope(void)
{
    vap_fetch_response *r = NULL;
    vap_error err;
    /* A standard-API write the grant has no scope for: 401 "Unauthorized" on a
     * fresh token is a scope problem, named, not a refresh. */
    long refreshes = flowkit_counter(&k, "token_requests.refresh_token");
    int rc = do_fetch("POST", "patient/1/message", NULL, VAP_FETCH_STANDARD_API, "{}", &r, &err);
    check(rc == VAP_E_HTTP || rc == VAP_E_DENIED, "unknown_route_or_denied");
    k.api->release(r);
    r = NULL;
    rc = do_fetch("GET", "Observation", "patient=x", 0, NULL, &r, &err);
    check(rc == VAP_E_DENIED && strstr(err.message, "user/Observation.read") != NULL,
          "missing_scope_on_fresh_token_is_denied_naming_scope");
    check(flowkit_counter(&k, "token_requests.refresh_token") == refreshes,
          "missing_scope_makes_no_refresh");
    k.api->release(r);
    r = NULL;
    /* OpenEMR 7.0.3 answers a missing scope with an empty 401: the same. */
    quirks(1);
    rc = do_fetch("GET", "Observation", "patient=x", 0, NULL, &r, &err);
    quirks(0);
    check(rc == VAP_E_DENIED && strstr(err.message, "user/Observation.read") != NULL,
          "bare_401_on_fresh_token_is_denied_naming_scope");
    check(flowkit_counter(&k, "token_requests.refresh_token") == refreshes,
          "bare_401_makes_no_refresh");
    k.api->release(r);
}

static void test_next_link_under_base_is_followed(void)
{
    vap_fetch_response *one = NULL, *all = NULL;
    vap_error err;
    check(flowkit_control(&k, "faults",
                          "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"next_link\","
                          "\"count\":100}",
                          NULL, 0) == 200,
          "sim_fault_next_link");
    int rc1 = do_fetch("GET", "Patient", "_count=200", 0, NULL, &one, &err);
    int rc2 = do_fetch("GET", "Patient", "_count=9", VAP_FETCH_ALL_PAGES, NULL, &all, &err);
    check(rc1 == VAP_OK && rc2 == VAP_OK && bundle_entries(one) == bundle_entries(all) &&
              all->pages > 1,
          "next_link_under_fhir_base_is_followed");
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    k.api->release(one);
    k.api->release(all);
}

static void test_next_link_to_another_host_is_refused(void)
{
    vap_fetch_response *r = NULL;
    vap_error err;
    long before = flowkit_counter(&k, "routes.fhir/Patient");
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"next_link_foreign\","
                    "\"count\":1}",
                    NULL, 0);
    int rc = do_fetch("GET", "Patient", "_count=5", VAP_FETCH_ALL_PAGES, NULL, &r, &err);
    check(rc == VAP_E_PROTOCOL && strstr(err.message, "outside fhir_base") != NULL,
          "next_link_to_another_host_is_refused_not_followed");
    check(flowkit_counter(&k, "routes.fhir/Patient") == before + 1,
          "foreign_next_link_sends_no_further_request");
    k.api->release(r);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
}

static void test_truncated_and_oversized_bodies(void)
{
    vap_fetch_response *r = NULL;
    vap_error err;
    /* Every attempt truncated: the retries run out and the error says so. */
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"truncated\","
                    "\"count\":50}",
                    NULL, 0);
    int rc = do_fetch("GET", "Patient", "_count=3", 0, NULL, &r, &err);
    check(rc != VAP_OK && rc != VAP_E_HTTP && err.message[0] != '\0',
          "truncated_body_is_a_clear_error");
    k.api->release(r);
    r = NULL;
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);
    /* One truncated answer: the retry gets the whole body. */
    flowkit_control(&k, "faults",
                    "{\"route\":\"/apis/default/fhir/Patient\",\"kind\":\"truncated\","
                    "\"count\":1}",
                    NULL, 0);
    rc = do_fetch("GET", "Patient", "_count=3", 0, NULL, &r, &err);
    check(rc == VAP_OK && r && bundle_entries(r) == 3, "one_truncated_body_is_retried");
    k.api->release(r);
    flowkit_control(&k, "faults/clear", "{}", NULL, 0);

    /* A response over max_response_bytes is cut off, not returned. */
    vap_instance *small = NULL;
    vap_grant_info *gi = NULL;
    r = NULL;
    check(flowkit_instance(&k, &small, &err, "max_response_bytes", "4096", NULL) == VAP_OK,
          "small_cap_instance");
    VAP_INIT(vap_error, err);
    vap_fetch_request req;
    flowkit_get_req(&req, "Patient", "_count=50");
    rc = k.api->fetch(small, NULL, &req, &r, &err);
    check(rc == VAP_E_PROTOCOL && r == NULL, "oversized_body_is_refused_at_the_cap");
    k.api->release(r);
    k.api->release(gi);
    k.api->instance_free(small);
}

int main(int argc, char **argv)
{
    sim_config cfg;
    flowkit_sim_defaults(&cfg);
    cfg.patients = 40;
    if (argc != 2 || flowkit_start(&k, argv[1], &cfg) != 0)
        return 1;
    vap_error err;
    vap_grant_info *gi = NULL;
    if (flowkit_instance(&k, &inst, &err, NULL) != VAP_OK ||
        flowkit_authorize(&k, inst, &gi, &err, NULL, 0) != VAP_OK) {
        printf("setup: %s\n", err.message);
        return 1;
    }
    k.api->release(gi);
    test_warm_up_asks_the_server_not_openemr();
    /* The next test counts every "OPTIONS *" the simulator sees: from here
     * on the shared instance warms nothing (its grant stays in the store). */
    k.api->instance_free(inst);
    if (flowkit_instance(&k, &inst, &err, "warm_connections", "0", NULL) != VAP_OK) {
        printf("setup: %s\n", err.message);
        return 1;
    }
    test_warm_up_waits_while_a_fetch_runs();
    test_all_pages_merges_offset_pages();
    test_all_pages_stops_at_max_pages();
    test_all_pages_adds_no_paging_params();
    test_total_beyond_entries_pages_on();
    test_emptied_paged_answer_keeps_first_page();
    test_server_ignoring_paging_is_not_walked_twice();
    test_merged_count_unlike_total_is_marked();
    test_read_miss_is_http_404_with_body();
    test_paths_that_leave_the_base_are_refused();
    test_standard_api_and_missing_scope();
    test_next_link_under_base_is_followed();
    test_next_link_to_another_host_is_refused();
    test_truncated_and_oversized_bodies();
    k.api->instance_free(inst);
    flowkit_stop(&k);
    return check_summary();
}
