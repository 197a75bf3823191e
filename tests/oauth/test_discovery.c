/* test_discovery.c - OpenID configuration validation and SMART
 * configuration parsing, on OpenEMR's and oidc-provider's real documents
 * (fuzz/corpus/discovery/) and table-driven mutations of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/discovery.h"

#define OPENEMR_ISSUER "https://emr.example.org/oauth2/default"

static const char *corpus_dir = "fuzz/corpus/discovery";

static vap_error new_err(void)
{
    vap_error e;
    VAP_INIT(vap_error, e);
    return e;
}

/* A corpus document as a malloc'd string (the test owns it). */
static char *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void openemr_document_is_accepted(void **state)
{
    size_t len;
    char *doc = load("openemr-openid-configuration.json", &len);
    disc_oidc d;
    vap_error e = new_err();
    assert_int_equal(disc_oidc_parse(doc, len, OPENEMR_ISSUER, &d, &e), 0);
    assert_string_equal(d.issuer, OPENEMR_ISSUER);
    assert_string_equal(d.authorization_endpoint, OPENEMR_ISSUER "/authorize");
    assert_string_equal(d.token_endpoint, OPENEMR_ISSUER "/token");
    assert_string_equal(d.jwks_uri, OPENEMR_ISSUER "/jwk");
    assert_string_equal(d.registration_endpoint, OPENEMR_ISSUER "/registration");
    assert_string_equal(d.introspection_endpoint, OPENEMR_ISSUER "/introspect");
    assert_string_equal(d.end_session_endpoint, OPENEMR_ISSUER "/logout");
    assert_int_equal(d.algs, DISC_ALG_RS256);
    assert_int_equal(d.auth_methods, DISC_AUTH_POST);
    assert_int_equal(d.iss_parameter_supported, 0);
    unsigned m = 0;
    assert_int_equal(disc_client_auth(&d, "auto", 0, &m, &e), 0);
    assert_int_equal(m, DISC_AUTH_POST);
    disc_oidc_free(&d);
    free(doc);
}

static void oidc_provider_document_is_accepted(void **state)
{
    size_t len;
    char *doc = load("oidc-provider.json", &len);
    disc_oidc d;
    vap_error e = new_err();
    assert_int_equal(disc_oidc_parse(doc, len, "https://127.0.0.1:3000", &d, &e), 0);
    assert_int_equal(d.algs, DISC_ALG_RS256 | DISC_ALG_ES256);
    assert_int_equal(d.auth_methods,
                     DISC_AUTH_BASIC | DISC_AUTH_POST | DISC_AUTH_PRIVATE_KEY_JWT);
    assert_int_equal(d.iss_parameter_supported, 1);
    assert_null(d.registration_endpoint);
    unsigned m = 0;
    assert_int_equal(disc_client_auth(&d, NULL, 0, &m, &e), 0);
    assert_int_equal(m, DISC_AUTH_BASIC);
    disc_oidc_free(&d);
    free(doc);
}

static void relative_urls_name_the_site_address_setting(void **state)
{
    size_t len;
    char *doc = load("openemr-relative-site-address.json", &len);
    disc_oidc d;
    vap_error e = new_err();
    assert_int_equal(disc_oidc_parse(doc, len, OPENEMR_ISSUER, &d, &e), VAP_E_CONFIG);
    assert_non_null(strstr(e.message, "Site Address"));
    assert_non_null(strstr(e.message, "Connectors"));
    assert_null(d.issuer);
    free(doc);
}

/* Each case sets (or, with value NULL, deletes) one member of OpenEMR's
 * document; want is the status, part a phrase the message must hold. */
static void mutated_documents_are_judged(void **state)
{
    static const struct {
        const char *key, *value;
        int want;
        const char *part;
    } cases[] = {
        {"issuer", "\"" OPENEMR_ISSUER "/\"", VAP_E_CONFIG, "not " OPENEMR_ISSUER},
        {"issuer", "\"https://EMR.example.org/oauth2/default\"", VAP_E_CONFIG, "issuer option"},
        {"issuer", NULL, VAP_E_PROTOCOL, "no issuer"},
        {"issuer", "42", VAP_E_PROTOCOL, "no issuer"},
        {"token_endpoint", "\"/oauth2/default/token\"", VAP_E_CONFIG, "Site Address"},
        {"token_endpoint", "\"http://emr.example.org/oauth2/default/token\"", VAP_E_CONFIG, "not https"},
        {"token_endpoint", "\"https://evil.example.org/token\"", VAP_E_CONFIG, "issuer's host"},
        {"token_endpoint", "\"https://emr.example.org:8443/token\"", VAP_E_CONFIG, "port"},
        {"token_endpoint", "\"https://user@emr.example.org/token\"", VAP_E_CONFIG, "token_endpoint"},
        {"token_endpoint", "\"https://emr.example.org.evil.net/token\"", VAP_E_CONFIG, "token_endpoint"},
        {"token_endpoint", "\"https://emr.example.org/to ken\"", VAP_E_PROTOCOL, "spaces"},
        {"token_endpoint", "\"\"", VAP_E_PROTOCOL, "not a URL"},
        {"token_endpoint", NULL, VAP_E_PROTOCOL, "no token_endpoint"},
        {"authorization_endpoint", NULL, VAP_E_PROTOCOL, "no authorization_endpoint"},
        {"authorization_endpoint", "\"https://evil.example.org/a\"", VAP_E_CONFIG, "authorization_endpoint"},
        {"jwks_uri", NULL, VAP_E_PROTOCOL, "no jwks_uri"},
        {"jwks_uri", "[]", VAP_E_PROTOCOL, "not a URL"},
        {"registration_endpoint", "\"https://evil.example.org/r\"", VAP_E_CONFIG, "registration_endpoint"},
        {"introspection_endpoint", "\"/oauth2/default/introspect\"", VAP_E_CONFIG, "Site Address"},
        {"end_session_endpoint", "\"http://emr.example.org/logout\"", VAP_E_CONFIG, "end_session_endpoint"},
        {"code_challenge_methods_supported", "[\"plain\"]", VAP_E_UNSUPPORTED, "S256"},
        {"code_challenge_methods_supported", "[\"s256\"]", VAP_E_UNSUPPORTED, "S256"},
        {"code_challenge_methods_supported", NULL, VAP_E_UNSUPPORTED, "S256"},
        {"code_challenge_methods_supported", "\"S256\"", VAP_E_PROTOCOL, "not a list"},
        {"response_types_supported", "[\"token\"]", VAP_E_UNSUPPORTED, "code"},
        {"id_token_signing_alg_values_supported", "[\"HS256\",\"none\"]", VAP_E_UNSUPPORTED, "RS256"},
        {"id_token_signing_alg_values_supported", NULL, VAP_E_UNSUPPORTED, "RS256"},
        {"id_token_signing_alg_values_supported", "[\"rs256\"]", VAP_E_UNSUPPORTED, "RS256"},
        {"token_endpoint_auth_methods_supported", "{}", VAP_E_PROTOCOL, "not a list"},
        {"authorization_response_iss_parameter_supported", "\"true\"", VAP_E_PROTOCOL, "true or false"},
        /* Accepted mutations. */
        {"authorization_response_iss_parameter_supported", "true", 0, NULL},
        {"registration_endpoint", NULL, 0, NULL},
        {"registration_endpoint", "null", 0, NULL},
        {"response_types_supported", NULL, 0, NULL},
        {"token_endpoint", "\"https://emr.example.org:443/oauth2/default/token\"", 0, NULL},
        {"token_endpoint", "\"https://EMR.Example.ORG/oauth2/default/token\"", 0, NULL},
        {"id_token_signing_alg_values_supported", "[\"ES384\",\"PS256\"]", 0, NULL},
    };
    size_t len;
    char *doc = load("openemr-openid-configuration.json", &len);
    json_t *base = json_loadb(doc, len, 0, NULL);
    assert_non_null(base);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *m = json_deep_copy(base);
        if (cases[i].value == NULL)
            json_object_del(m, cases[i].key);
        else
            json_object_set_new(m, cases[i].key,
                                json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
        char *text = json_dumps(m, 0);
        disc_oidc d;
        vap_error e = new_err();
        int rc = disc_oidc_parse(text, strlen(text), OPENEMR_ISSUER, &d, &e);
        if (rc != cases[i].want)
            fail_msg("case %zu (%s=%s): %d, want %d: %s", i, cases[i].key,
                     cases[i].value ? cases[i].value : "(deleted)", rc,
                     cases[i].want, e.message);
        if (cases[i].part != NULL && strstr(e.message, cases[i].part) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, e.message, cases[i].part);
        if (rc != 0)
            assert_null(d.issuer);
        disc_oidc_free(&d);
        free(text);
        json_decref(m);
    }
    json_decref(base);
    free(doc);
}

static void non_documents_are_refused(void **state)
{
    static const char *const bad[] = {
        "", "<html>", "[]", "\"issuer\"",
        "{\"issuer\":\"" OPENEMR_ISSUER "\",\"issuer\":\"" OPENEMR_ISSUER "\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        disc_oidc d;
        vap_error e = new_err();
        assert_int_equal(disc_oidc_parse(bad[i], strlen(bad[i]), OPENEMR_ISSUER, &d, &e),
                         VAP_E_PROTOCOL);
    }
}

static void client_auth_option_is_honoured(void **state)
{
    static const struct {
        unsigned listed;
        const char *option;
        int key_sealed;
        int want_rc;
        unsigned want;
    } cases[] = {
        {DISC_AUTH_POST, "auto", 0, 0, DISC_AUTH_POST},
        {DISC_AUTH_POST, "basic", 0, 0, DISC_AUTH_BASIC},
        {DISC_AUTH_BASIC | DISC_AUTH_POST, "auto", 0, 0, DISC_AUTH_BASIC},
        {DISC_AUTH_BASIC | DISC_AUTH_POST, "post", 0, 0, DISC_AUTH_POST},
        {DISC_AUTH_BASIC, NULL, 0, 0, DISC_AUTH_BASIC},
        /* private_key_jwt: auto takes it only with a key sealed and the method listed */
        {DISC_AUTH_PRIVATE_KEY_JWT, "auto", 0, VAP_E_UNSUPPORTED, 0},
        {DISC_AUTH_PRIVATE_KEY_JWT, "auto", 1, 0, DISC_AUTH_PRIVATE_KEY_JWT},
        {DISC_AUTH_BASIC | DISC_AUTH_PRIVATE_KEY_JWT, "auto", 1, 0, DISC_AUTH_PRIVATE_KEY_JWT},
        {DISC_AUTH_BASIC | DISC_AUTH_PRIVATE_KEY_JWT, "auto", 0, 0, DISC_AUTH_BASIC},
        {DISC_AUTH_POST, "auto", 1, 0, DISC_AUTH_POST},
        {DISC_AUTH_PRIVATE_KEY_JWT, "basic", 1, 0, DISC_AUTH_BASIC},
        {DISC_AUTH_POST, "private_key_jwt", 0, 0, DISC_AUTH_PRIVATE_KEY_JWT},
        {DISC_AUTH_POST, "jwt", 0, VAP_E_CONFIG, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        disc_oidc d = {0};
        d.auth_methods = cases[i].listed;
        unsigned m = 0;
        vap_error e = new_err();
        assert_int_equal(disc_client_auth(&d, cases[i].option, cases[i].key_sealed, &m, &e), cases[i].want_rc);
        if (cases[i].want_rc == 0)
            assert_int_equal(m, cases[i].want);
    }
}

static void absent_auth_methods_default_to_basic(void **state)
{
    size_t len;
    char *doc = load("openemr-openid-configuration.json", &len);
    json_t *m = json_loadb(doc, len, 0, NULL);
    json_object_del(m, "token_endpoint_auth_methods_supported");
    char *text = json_dumps(m, 0);
    disc_oidc d;
    vap_error e = new_err();
    assert_int_equal(disc_oidc_parse(text, strlen(text), OPENEMR_ISSUER, &d, &e), 0);
    assert_int_equal(d.auth_methods, DISC_AUTH_BASIC);
    disc_oidc_free(&d);
    free(text);
    json_decref(m);
    free(doc);
}

/* The issuer's origin decides where endpoints may live: port and IPv6
 * literals included. */
static void endpoints_must_share_the_issuer_origin(void **state)
{
    static const struct {
        const char *issuer, *endpoint;
        int ok;
    } cases[] = {
        {"https://h:8443/oauth2/default", "https://h:8443/oauth2/default/token", 1},
        {"https://h:8443/oauth2/default", "https://h/oauth2/default/token", 0},
        {"https://h/oauth2/default", "https://h:443/token", 1},
        {"https://[::1]:9000/o", "https://[::1]:9000/o/token", 1},
        {"https://[::1]:9000/o", "https://127.0.0.1:9000/o/token", 0},
        {"https://h/o", "https://h.evil/token", 0},
        {"https://h/o", "https://u@h/token", 0},
        {"https://h/o", "https://h:0/token", 0},
        {"https://h/o", "https://h:99999/token", 0},
        {"https://h/o", "ftp://h/token", 0},
        {"https://h/o", "//h/token", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc,
                 "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
                 "\"token_endpoint\":\"%s\",\"jwks_uri\":\"%s/j\","
                 "\"code_challenge_methods_supported\":[\"S256\"],"
                 "\"id_token_signing_alg_values_supported\":[\"RS256\"]}",
                 cases[i].issuer, cases[i].issuer, cases[i].endpoint,
                 cases[i].issuer);
        disc_oidc d;
        vap_error e = new_err();
        int rc = disc_oidc_parse(doc, strlen(doc), cases[i].issuer, &d, &e);
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu (%s): %d %s", i, cases[i].endpoint, rc, e.message);
        disc_oidc_free(&d);
    }
}

static void smart_configuration_reports_capabilities(void **state)
{
    size_t len;
    char *doc = load("openemr-smart-configuration.json", &len);
    disc_smart s;
    vap_error e = new_err();
    assert_int_equal(disc_smart_parse(doc, len, &s, &e), 0);
    /* OpenEMR's SMART issuer is the FHIR base: kept, never compared. */
    assert_string_equal(s.issuer, "https://emr.example.org/apis/default/fhir");
    assert_true(s.s256);
    assert_int_equal(s.auth_methods, DISC_AUTH_BASIC | DISC_AUTH_PRIVATE_KEY_JWT);
    assert_true(disc_smart_has(&s, "permission-v2"));
    assert_true(disc_smart_has(&s, "authorize-post"));
    assert_true(disc_smart_has(&s, "context-ehr-patient"));
    assert_false(disc_smart_has(&s, "permission"));
    assert_false(disc_smart_has(&s, "context-ehr"));
    assert_false(disc_smart_has(&s, ""));
    disc_smart_free(&s);
    free(doc);
}

static void smart_configuration_of_7_0_3_parses(void **state)
{
    size_t len;
    char *doc = load("openemr-703-smart-configuration.json", &len);
    disc_smart s;
    vap_error e = new_err();
    assert_int_equal(disc_smart_parse(doc, len, &s, &e), 0);
    assert_null(s.issuer);
    assert_int_equal(s.auth_methods, 0);
    assert_false(disc_smart_has(&s, "permission-v2"));
    assert_true(disc_smart_has(&s, "permission-user"));
    disc_smart_free(&s);
    free(doc);
}

static void smart_configuration_with_wrong_types_is_refused(void **state)
{
    static const char *const bad[] = {
        "", "[]", "{\"capabilities\":\"launch-ehr\"}",
        "{\"capabilities\":[\"launch ehr\"]}", "{\"capabilities\":[1]}",
        "{\"capabilities\":[\"\"]}", "{\"issuer\":5}",
        "{\"code_challenge_methods_supported\":\"S256\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        disc_smart s;
        vap_error e = new_err();
        if (disc_smart_parse(bad[i], strlen(bad[i]), &s, &e) != VAP_E_PROTOCOL)
            fail_msg("case %zu accepted", i);
        assert_null(s.capabilities);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        corpus_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openemr_document_is_accepted),
        cmocka_unit_test(oidc_provider_document_is_accepted),
        cmocka_unit_test(relative_urls_name_the_site_address_setting),
        cmocka_unit_test(mutated_documents_are_judged),
        cmocka_unit_test(non_documents_are_refused),
        cmocka_unit_test(client_auth_option_is_honoured),
        cmocka_unit_test(absent_auth_methods_default_to_basic),
        cmocka_unit_test(endpoints_must_share_the_issuer_origin),
        cmocka_unit_test(smart_configuration_reports_capabilities),
        cmocka_unit_test(smart_configuration_of_7_0_3_parses),
        cmocka_unit_test(smart_configuration_with_wrong_types_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
