/* flowkit.h - what the end-to-end tests share: the OpenEMR simulator started
 * in-process on 127.0.0.1, a keyring and store with the client secret sealed
 * (through libvapseal, as vap-seal would), the real plugin loaded through the
 * real loader by the fake host, and a browserless authorization (the
 * simulator's auto-approve mode: GET the URL, take the 302's Location). */
#ifndef VAP_TESTS_FLOWKIT_H
#define VAP_TESTS_FLOWKIT_H

#include <stddef.h>
#include <vap/plugin.h>

#include "fakehost.h"
#include "sim.h"

#define FLOW_CLIENT_ID "flow-client"
#define FLOW_SECRET "flow-secret-7d3a9c1e"
#define FLOW_REDIRECT "http://localhost:8000/oauth/callback"
#define FLOW_SCOPE                                                                         \
    "openid fhirUser offline_access api:fhir api:oemr user/Patient.read "                  \
    "user/Encounter.read user/Appointment.read user/MedicationRequest.read "               \
    "user/AllergyIntolerance.read user/patient.read user/encounter.read user/soap_note.write"

struct flowkit {
    sim_server *sim;
    char base[128];    /* https://127.0.0.1:PORT */
    char issuer[192];
    char fhir_base[192];
    char dir[64];      /* temp dir (removed by flowkit_stop) */
    char store[128];
    char keyring[128];
    char module[256];  /* the plugin, copied into dir (root-owned 0700 path) */
    fakehost *fh;
    const vap_plugin_api *api;
};

/* Start everything.  cfg may be NULL (defaults + the flow client, enabled,
 * auto-approve as "admin"); otherwise it is used as given.  Returns 0 or -1
 * with a message on stderr. */
int flowkit_start(struct flowkit *k, const char *module_path, const sim_config *cfg);
void flowkit_stop(struct flowkit *k);

/* A sim_config with the defaults flowkit_start uses, to adjust. */
void flowkit_sim_defaults(sim_config *cfg);

/* An instance with the standard options plus extra (NULL-terminated pairs
 * "key", "value", ..., NULL).  Returns the vap_status; err filled. */
int flowkit_instance(struct flowkit *k, vap_instance **inst, vap_error *err, ...);

/* authorize_begin, GET the URL (no redirects followed), complete with the
 * 302's Location.  location_out (may be NULL) gets the Location header. */
int flowkit_authorize(struct flowkit *k, vap_instance *inst, vap_grant_info **info,
                      vap_error *err, char *location_out, size_t location_cap);

/* GET url (trusting the simulator's CA) without following redirects; fills
 * status and the Location header.  Returns 0 or -1. */
int flowkit_get_location(struct flowkit *k, const char *url, long *status, char *location,
                         size_t cap);

/* POST body (JSON) to /_sim/NAME; the answer goes to out (may be NULL).
 * Returns the HTTP status, -1 on failure. */
int flowkit_control(struct flowkit *k, const char *name, const char *body, char *out,
                    size_t cap);

/* GET /_sim/counters and return the integer at a dotted path such as
 * "token_requests.refresh_token" or "revoked_refresh_reuse"; -1 on failure. */
long flowkit_counter(struct flowkit *k, const char *path);

/* GET /_sim/rotations: how many refresh grants the server answered with a
 * new refresh token, and the CLOCK_MONOTONIC ns of the latest (0 if none).
 * Returns 0 or -1. */
int flowkit_rotations(struct flowkit *k, long *total, long long *latest_ns);

/* A vap_fetch_request for GET path. */
void flowkit_get_req(vap_fetch_request *req, const char *path, const char *query);

#endif
