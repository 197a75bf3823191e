/* sim_token_odd.c - token endpoint answers that are odd but not wrong about
 * who the user is (or, for id_token_other_sub, exactly that): what a client
 * must keep after the server has already rotated the refresh token, and the
 * one thing it must refuse.  Faults on /oauth2/default/token:
 *   id_token_other_sub         the id_token names another user (sub)
 *   token_banner_string        need_patient_banner: "false" (a string)
 *   token_expires_fractional   expires_in: <ttl> - 0.5 (a real number)
 *   token_unknown_fields       members no specification defines
 * and on /oauth2/default/jwk: jwks_not_found (404, the keys out of reach);
 * on a FHIR route: fhir_logged_out (OpenEMR's 400 after a logout, once). */
#include <jansson.h>

#include "sim_internal.h"

const char *sim_token_odd_sub(int odd, const char *sub)
{
    return odd == SIM_F_TOKEN_IDT_OTHER_SUB ? "00000000-0000-4000-8000-0000000000aa" : sub;
}

void sim_token_odd_apply(int odd, json_t *out)
{
    switch (odd) {
    case SIM_F_TOKEN_BANNER_STRING:
        json_object_set_new(out, "need_patient_banner", json_string("false"));
        break;
    case SIM_F_TOKEN_EXPIRES_FRACTION: {
        json_t *v = json_object_get(out, "expires_in");
        double ttl = json_is_integer(v) ? (double)json_integer_value(v) : 3600.0;
        json_object_set_new(out, "expires_in", json_real(ttl - 0.5));
        break;
    }
    case SIM_F_TOKEN_UNKNOWN_FIELDS:
        json_object_set_new(out, "x_site_banner", json_string("Welcome"));
        json_object_set_new(out, "session_state", json_pack("{s:i}", "n", 1));
        break;
    default:
        break;
    }
}

int sim_jwks_odd_take(sim_srv *s, const char *path)
{
    return sim_fault_take(s, path ? path : "", SIM_F_JWKS_NOT_FOUND, SIM_F_JWKS_NOT_FOUND, NULL,
                          NULL) == SIM_F_JWKS_NOT_FOUND;
}

int sim_fhir_odd_take(sim_srv *s, const char *path)
{
    return sim_fault_take(s, path ? path : "", SIM_F_FHIR_LOGGED_OUT, SIM_F_FHIR_LOGGED_OUT, NULL,
                          NULL) == SIM_F_FHIR_LOGGED_OUT;
}
