/* test_admparse.c - the admin path's parsers (plugin/admparse.c): what a
 * registration answer, a discovery document and /metadata must look like,
 * and the scope comparison.  Table-driven: one row per behaviour. */
#include <stdio.h>
#include <string.h>

#include "testcheck.h"
#include "admin/admparse.h"

#define SECRET86 "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4ZmE"

struct reg_row {
    const char *name;
    const char *body;
    int want;                /* VAP_OK or VAP_E_PROTOCOL */
    const char *want_in_msg; /* with an error: a word the message must carry */
};

static const struct reg_row reg_rows[] = {
    {"reg_confidential_parsed",
     "{\"client_id\":\"Q2xpZW50SWQtMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3\",\"client_secret\":\""
     SECRET86 "\",\"client_role\":\"user\",\"registration_access_token\":\"x\"}",
     VAP_OK, NULL},
    {"reg_public_client_refused_naming_private",
     "{\"client_id\":\"abc\",\"client_secret\":\"\",\"client_role\":\"patient\"}",
     VAP_E_PROTOCOL, "private"},
    {"reg_missing_secret_is_public", "{\"client_id\":\"abc\"}", VAP_E_PROTOCOL, "public"},
    {"reg_missing_client_id_refused", "{\"client_secret\":\"s3cret\"}", VAP_E_PROTOCOL,
     "client_id"},
    {"reg_client_id_with_slash_refused", "{\"client_id\":\"a/b\",\"client_secret\":\"s\"}",
     VAP_E_PROTOCOL, "client_id"},
    {"reg_secret_with_space_refused", "{\"client_id\":\"ab\",\"client_secret\":\"s s\"}",
     VAP_E_PROTOCOL, "client_secret"},
    {"reg_secret_not_string_refused", "{\"client_id\":\"ab\",\"client_secret\":7}",
     VAP_E_PROTOCOL, "client_secret"},
    {"reg_duplicate_key_refused",
     "{\"client_id\":\"ab\",\"client_id\":\"cd\",\"client_secret\":\"s\"}", VAP_E_PROTOCOL,
     "JSON"},
    {"reg_not_json_refused", "<html>", VAP_E_PROTOCOL, "JSON"},
};

static void test_registration(void)
{
    for (size_t i = 0; i < sizeof reg_rows / sizeof reg_rows[0]; i++) {
        const struct reg_row *r = &reg_rows[i];
        struct adm_reg reg;
        char secret[1025];
        size_t slen = 99;
        vap_error err;
        VAP_INIT(vap_error, err);
        int rc = adm_reg_parse(r->body, strlen(r->body), &reg, secret, sizeof secret, &slen,
                               &err);
        int ok = rc == r->want;
        if (rc == VAP_OK)
            ok = ok && strcmp(secret, SECRET86) == 0 && slen == strlen(SECRET86) &&
                 strcmp(reg.client_role, "user") == 0 &&
                 strcmp(reg.client_id, "Q2xpZW50SWQtMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3") == 0;
        else
            ok = ok && slen == 0 && secret[0] == '\0' && reg.client_id[0] == '\0' &&
                 strstr(err.message, r->want_in_msg) != NULL;
        check(ok, r->name);
    }
}

static void test_registration_secret_never_in_message(void)
{
    const char *body = "{\"client_id\":\"a b\",\"client_secret\":\"TOPSECRETVALUE\"}";
    struct adm_reg reg;
    char secret[64];
    size_t slen;
    vap_error err;
    VAP_INIT(vap_error, err);
    int rc = adm_reg_parse(body, strlen(body), &reg, secret, sizeof secret, &slen, &err);
    check(rc != VAP_OK && strstr(err.message, "TOPSECRET") == NULL,
          "reg_secret_never_in_message");
    const char *long_secret = "{\"client_id\":\"ab\",\"client_secret\":\"0123456789abcdef0123\"}";
    rc = adm_reg_parse(long_secret, strlen(long_secret), &reg, secret, 16, &slen, &err);
    check(rc == VAP_E_PROTOCOL && strstr(err.message, "0123456789") == NULL,
          "reg_secret_over_cap_refused_without_quoting");
}

struct disc_row {
    const char *name;
    const char *body;
    int want;
    int s256;
    const char *scopes; /* expected join, NULL: none listed */
};

static const struct disc_row disc_rows[] = {
    {"disc_flat_scopes_and_s256",
     "{\"scopes_supported\":[\"openid\",\"api:fhir\"],\"code_challenge_methods_supported\":"
     "[\"S256\",\"plain\"]}", VAP_OK, 1, "openid api:fhir"},
    {"disc_nested_scopes_flattened", "{\"scopes_supported\":[[\"openid\",\"launch\"]]}", VAP_OK,
     0, "openid launch"},
    {"disc_plain_only_is_not_s256", "{\"code_challenge_methods_supported\":[\"plain\"]}", VAP_OK,
     0, NULL},
    {"disc_scopes_not_list_refused", "{\"scopes_supported\":\"openid\"}", VAP_E_PROTOCOL, 0, NULL},
    {"disc_scope_with_space_refused", "{\"scopes_supported\":[\"a b\"]}", VAP_E_PROTOCOL, 0, NULL},
    {"disc_methods_not_list_refused", "{\"code_challenge_methods_supported\":\"S256\"}",
     VAP_E_PROTOCOL, 0, NULL},
    {"disc_array_root_refused", "[]", VAP_E_PROTOCOL, 0, NULL},
};

static void test_discovery(void)
{
    for (size_t i = 0; i < sizeof disc_rows / sizeof disc_rows[0]; i++) {
        const struct disc_row *r = &disc_rows[i];
        struct adm_disc d;
        vap_error err;
        VAP_INIT(vap_error, err);
        int rc = adm_disc_parse(r->body, strlen(r->body), &d, &err);
        int ok = rc == r->want;
        if (rc == VAP_OK)
            ok = ok && d.s256 == r->s256 &&
                 (r->scopes ? d.scopes && strcmp(d.scopes, r->scopes) == 0 : d.scopes == NULL);
        check(ok, r->name);
        adm_disc_free(&d);
    }
}

static void test_metadata(void)
{
    char v[16];
    vap_error err;
    VAP_INIT(vap_error, err);
    const char *good = "{\"resourceType\":\"CapabilityStatement\",\"fhirVersion\":\"4.0.1\"}";
    check(adm_metadata_parse(good, strlen(good), v, sizeof v, &err) == VAP_OK &&
              strcmp(v, "4.0.1") == 0, "metadata_capability_statement_parsed");
    const char *other = "{\"resourceType\":\"OperationOutcome\"}";
    check(adm_metadata_parse(other, strlen(other), v, sizeof v, &err) == VAP_E_PROTOCOL &&
              strstr(err.message, "fhir_base") != NULL, "metadata_other_resource_names_fhir_base");
    const char *route = "{\"error\":\"An error occurred\",\"message\":\"Route not found\"}";
    check(adm_metadata_parse(route, strlen(route), v, sizeof v, &err) == VAP_E_PROTOCOL,
          "metadata_route_not_found_refused");
}

static void test_scopes_missing(void)
{
    char out[128];
    const char *sup = "openid offline_access api:fhir user/Patient.read";
    const char *cfg = "openid  user/Patient.read user/Foo.read api:oemr";
    size_t n = adm_scopes_missing(cfg, strlen(cfg), sup, out, sizeof out);
    check(n == 2 && strcmp(out, "user/Foo.read api:oemr") == 0, "scopes_missing_listed_in_order");
    n = adm_scopes_missing("openid", 6, sup, out, sizeof out);
    check(n == 0 && out[0] == '\0', "scopes_all_supported_none_missing");
    n = adm_scopes_missing(cfg, strlen(cfg), sup, out, 8);
    check(n == 2 && strlen(out) < 8, "scopes_missing_output_capped");
}

int main(void)
{
    test_registration();
    test_registration_secret_never_in_message();
    test_discovery();
    test_metadata();
    test_scopes_missing();
    return check_summary();
}
