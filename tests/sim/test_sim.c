/* test_sim.c: runs the simulator's own tests against an in-process server
 * (sim_start on 127.0.0.1, port 0), plus the tests of the data generator,
 * the control endpoint and the many-requests run.  Usage:
 *   test-sim [--only NAME]     SIM_TEST_REQUESTS=N sets the long run's size */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim_internal.h"
#include "test_sim.h"

sim_server *g_srv;
const char *g_base;
int g_failed;
static int g_case_failed;

void t_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "    FAILED %s:%d: %s\n", file, line, what);
    g_case_failed = 1;
}

/* ---- data generator ---- */

static void data_same_seed_gives_same_practice(void)
{
    sim_data a, b;
    CHECK(sim_data_init(&a, 200, 42) == 0);
    CHECK(sim_data_init(&b, 200, 42) == 0);
    for (unsigned long i = 0; i < 200; i += 37) {
        json_t *x = sim_res_build(&a, "https://h/fhir", SIM_R_PATIENT, i, 0);
        json_t *y = sim_res_build(&b, "https://h/fhir", SIM_R_PATIENT, i, 0);
        int eq = json_equal(x, y);
        json_decref(x);
        json_decref(y);
        if (!eq) {
            sim_data_free(&a);
            sim_data_free(&b);
        }
        CHECK(eq);
    }
    sim_data_free(&a);
    sim_data_free(&b);
}

static void data_other_seed_gives_other_patients(void)
{
    sim_data a, b;
    char ua[40], ub[40];
    CHECK(sim_data_init(&a, 10, 1) == 0);
    CHECK(sim_data_init(&b, 10, 2) == 0);
    sim_uuid(&a, SIM_R_PATIENT, 3, 0, ua);
    sim_uuid(&b, SIM_R_PATIENT, 3, 0, ub);
    int differ = strcmp(ua, ub) != 0;
    int a_rejects_b = sim_uuid_parse(&a, ub, &(int){0}, &(unsigned long){0}, &(unsigned){0}) != 0;
    sim_data_free(&a);
    sim_data_free(&b);
    CHECK(differ);
    CHECK(a_rejects_b);
}

static void data_uuid_round_trips_for_every_type(void)
{
    sim_data d;
    CHECK(sim_data_init(&d, 100, 7) == 0);
    int bad = 0;
    for (int t = SIM_R_PATIENT; t <= SIM_R_APPOINTMENT && !bad; t++) {
        unsigned long idx = t == SIM_R_MEDICATION ? 5 : 99;
        unsigned n = sim_data_count(&d, t, idx);
        for (unsigned k = 0; k < n; k++) {
            char u[40];
            int rt;
            unsigned long ri;
            unsigned rk;
            sim_uuid(&d, t, idx, k, u);
            if (sim_uuid_parse(&d, u, &rt, &ri, &rk) != 0 || rt != t || ri != idx || rk != k)
                bad = 1;
            json_t *res = sim_res_build(&d, "https://h/fhir", t, idx, k);
            if (!res || !json_is_string(json_object_get(res, "resourceType")))
                bad = 1;
            json_decref(res);
        }
    }
    sim_data_free(&d);
    CHECK(!bad);
}

static void data_hundred_thousand_patients_fit(void)
{
    sim_data d;
    CHECK(sim_data_init(&d, 100000, 9) == 0);
    int ok = d.p[99999].year >= 1930 && d.p[99999].phone[3] == '-';
    sim_data_free(&d);
    CHECK(ok);
}

/* ---- control endpoint and memory ---- */

static void control_counts_requests_per_route(void)
{
    json_t *before = t_control("counters", NULL);
    CHECK(before);
    json_int_t jwk0 = json_integer_value(json_object_get(json_object_get(before, "routes"), "jwk"));
    json_decref(before);
    CHECK(t_status_of_get("/oauth2/default/jwk", NULL) == 200);
    CHECK(t_status_of_get("/oauth2/default/jwk", NULL) == 200);
    json_t *after = t_control("counters", NULL);
    CHECK(after);
    json_int_t jwk1 = json_integer_value(json_object_get(json_object_get(after, "routes"), "jwk"));
    json_decref(after);
    CHECK(jwk1 == jwk0 + 2);
}

static void control_unknown_action_is_404(void)
{
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    t_req("POST", "/_sim/no-such-thing", hs, "{}", &r);
    t_resp_free(&r);
    CHECK(r.status == 404);
}

static void control_rejects_non_object_body(void)
{
    tresp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    t_req("POST", "/_sim/skew", hs, "[1]", &r);
    t_resp_free(&r);
    CHECK(r.status == 400);
}

static void many_requests_memory_bounded(void)
{
    const char *env = getenv("SIM_TEST_REQUESTS");
    long n = env ? strtol(env, NULL, 10) : 300;
    json_t *tok = t_tokens(STD_SCOPE);
    CHECK(tok);
    char at[4096], rt[2048], path[256];
    snprintf(at, sizeof(at), "%s", t_jstr(tok, "access_token"));
    snprintf(rt, sizeof(rt), "%s", t_jstr(tok, "refresh_token"));
    snprintf(path, sizeof(path), FHIR "/Patient/%s", t_jstr(tok, "patient"));
    json_decref(tok);
    long ok = 0;
    for (long i = 0; i < n; i++) {
        if (i % 100 == 99) {
            /* rotate now and then, so the token store sees churn too */
            char body[4096];
            tresp r;
            snprintf(body, sizeof(body), "grant_type=refresh_token&refresh_token=%s"
                     "&client_id=" CONF_ID "&client_secret=" CONF_SECRET, rt);
            t_form(TOKEN, body, NULL, NULL, &r);
            json_t *j = t_json(&r);
            t_resp_free(&r);
            if (r.status == 200 && j) {
                snprintf(at, sizeof(at), "%s", t_jstr(j, "access_token"));
                snprintf(rt, sizeof(rt), "%s", t_jstr(j, "refresh_token"));
                ok++;
            }
            json_decref(j);
            continue;
        }
        if (t_status_of_get(path, at) == 200)
            ok++;
    }
    CHECK(ok == n);
    /* everything issued expires; after the clock passes, the store is swept empty */
    json_decref(t_control("skew", "{\"seconds\": 8000000}"));
    json_t *p = t_control("prune", "{}");
    json_decref(t_control("skew", "{\"seconds\": 0}"));
    CHECK(p);
    json_int_t left_a = json_integer_value(json_object_get(p, "access_tokens"));
    json_int_t left_r = json_integer_value(json_object_get(p, "refresh_tokens"));
    json_decref(p);
    CHECK(left_a == 0);
    CHECK(left_r == 0);
}

/* The CLI contract other components rely on: one URL line on stdout, the
 * CA written first, a clean exit on SIGTERM. */
static void cli_prints_url_writes_ca_and_exits_on_sigterm(void)
{
    const char *exe = getenv("OPENEMR_SIM");
    char dir[] = "/tmp/sim-cli-XXXXXX", ca[64], line[256] = "";
    int fds[2];
    CHECK(exe && *exe);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(exe, exe, "--port", "0", "--quiet", "--state-dir", dir, "--patients", "5",
              "--client", "cli:sec:http://127.0.0.1:9/cb:openid api:fhir patient/Patient.read",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int got = f && fgets(line, sizeof(line), f) != NULL;
    struct stat st;
    int ca_there = stat(ca, &st) == 0 && st.st_size > 100;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    int extra = f && fgetc(f) != EOF;   /* nothing else on stdout */
    if (f)
        fclose(f);
    unlink(ca);
    rmdir(dir);
    CHECK(got);
    CHECK(strncmp(line, "https://127.0.0.1:", 18) == 0 && line[strlen(line) - 1] == '\n');
    CHECK(ca_there);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(!extra);
}

static void control_in_process_matches_http(void)
{
    char *out = NULL;
    int st = sim_control(g_srv, "skew", "{\"seconds\": 0}", &out);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    int ok = st == 200 && json_integer_value(json_object_get(j, "skew")) == 0;
    json_decref(j);
    out = NULL;
    int st2 = sim_control(g_srv, "counters", NULL, &out);
    int has = out && strstr(out, "\"token_requests\"") != NULL;
    free(out);
    int st3 = sim_control(g_srv, "nope", "{}", NULL);
    CHECK(ok);
    CHECK(st2 == 200 && has);
    CHECK(st3 == 404);
}

static const tcase local_cases[] = {
    {"control_in_process_matches_http", control_in_process_matches_http},
    {"cli_prints_url_writes_ca_and_exits_on_sigterm", cli_prints_url_writes_ca_and_exits_on_sigterm},
    {"data_same_seed_gives_same_practice", data_same_seed_gives_same_practice},
    {"data_other_seed_gives_other_patients", data_other_seed_gives_other_patients},
    {"data_uuid_round_trips_for_every_type", data_uuid_round_trips_for_every_type},
    {"data_hundred_thousand_patients_fit", data_hundred_thousand_patients_fit},
    {"control_counts_requests_per_route", control_counts_requests_per_route},
    {"control_unknown_action_is_404", control_unknown_action_is_404},
    {"control_rejects_non_object_body", control_rejects_non_object_body},
    {"many_requests_memory_bounded", many_requests_memory_bounded},
    {NULL, NULL}};

static void run(const tcase *cases, const char *only, int *ran, int *failed)
{
    for (const tcase *c = cases; c->name; c++) {
        if (only && strcmp(only, c->name) != 0)
            continue;
        if (!only && strcmp(c->name, "many_requests_memory_bounded") == 0 &&
            getenv("SIM_TEST_SKIP_LONG"))
            continue;
        struct timespec t0, t1;
        g_case_failed = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        c->fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%s %s (%.0f ms)\n", g_case_failed ? "FAIL" : "ok  ", c->name,
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        fflush(stdout);
        (*ran)++;
        *failed += g_case_failed;
    }
}

int main(int argc, char **argv)
{
    const char *only = argc == 3 && strcmp(argv[1], "--only") == 0 ? argv[2] : NULL;
    sim_config cfg;
    char err[512];
    int ran = 0, failed = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sim_config_init(&cfg);
    cfg.quiet = 1;
    cfg.patients = 120;
    cfg.seed = 2026;
    cfg.auto_approve_user = "admin";
    cfg.auto_approve_patient = 3;
    cfg.n_preclients = 4;
    cfg.preclients[0] = (sim_preclient){CONF_ID, CONF_SECRET, REDIRECT,
        "openid fhirUser offline_access online_access launch/patient api:fhir api:oemr "
        "patient/Patient.read patient/Encounter.read patient/Observation.rs "
        "patient/Condition.read patient/AllergyIntolerance.read patient/MedicationRequest.read "
        "patient/Medication.read patient/DiagnosticReport.read patient/Appointment.read "
        "user/Patient.read user/Encounter.read user/DiagnosticReport.read "
        "user/MedicationRequest.read user/Medication.read user/Observation.read "
        "user/Condition.read user/AllergyIntolerance.read user/Appointment.read "
        "user/patient.read user/encounter.read user/soap_note.write", 0};
    cfg.preclients[1] = (sim_preclient){OTHER_ID, OTHER_SECRET, REDIRECT,
        "openid offline_access api:fhir patient/Patient.read launch/patient", 0};
    cfg.preclients[2] = (sim_preclient){PUB_ID, NULL, REDIRECT,
        "openid offline_access api:fhir patient/Patient.read launch/patient", 0};
    cfg.preclients[3] = (sim_preclient){OFF_ID, OFF_SECRET, REDIRECT,
        "openid offline_access api:fhir user/Patient.read", 1};
    if (sim_start(&cfg, &g_srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot start the simulator: %s\n", err);
        return 1;
    }
    g_base = sim_base_url(g_srv);
    run(t_oauth_cases, only, &ran, &failed);
    run(t_token_cases, only, &ran, &failed);
    run(t_fhir_cases, only, &ran, &failed);
    run(t_observed_cases, only, &ran, &failed);
    run(t_backend_cases, only, &ran, &failed);
    run(local_cases, only, &ran, &failed);
    t_req_cleanup();
    sim_stop(g_srv);
    curl_global_cleanup();
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed || ran == 0 ? 1 : 0;
}
