#!/bin/sh
# test_flow_admin_vaphost.sh CASE VAP_HOST PLUGIN OPENEMR_SIM VAP_SEAL
#
# vap-host register and check as the practice admin runs them: the
# simulator in its own process, a config line without client_id, curl as the
# browser and as OpenEMR's "Enable" switch.  One behaviour per CASE:
#   check_without_client_id_exits_2_naming_register
#       a tick or cross per check, the summary, exit 2, the last stderr line
#       names the failed check
#   register_prints_line_and_leaves_config   without --write-config the
#       config file is byte for byte unchanged and the line to paste printed
#   register_write_config_keeps_backup   --write-config adds client_id to
#       the line, keeps the old file as .bak, the disabled client's steps are
#       printed, and the secret is in the store, not in the output
#   admin_path_end_to_end   register, check exit 4 (disabled), enable, check
#       exit 3 (no grant), authorize --no-listen, check exit 0 and --json ok
#   register_backend_after_keygen   a grant=client_credentials line: register
#       --backend before vap-seal keygen exits 2 naming keygen; keygen on the
#       line without client_id; register --backend --write-config registers
#       the key inline, prints the enable steps and the system scopes switch
#   register_backend_by_jwks_uri   an inline jwks refused (as some OpenEMR
#       versions do) names --jwks-uri; with the vap-seal jwks output hosted,
#       --jwks-uri registers and writes jwks_uri= into the line
#   register_backend_on_a_code_flow_line_exits_2   --backend on a line
#       without grant=client_credentials names the options to add
set -u
case_name=$1
vap_host=$2
plugin_src=$3
sim_exe=$4
vap_seal=$5

fail() { echo "FAIL $case_name: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vaphost-admin.XXXXXX) || exit 1
sim_pid=
host_pid=
cleanup() {
    [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    [ -n "$sim_pid" ] && wait "$sim_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cp "$plugin_src" "$tmp/vap_openemr.so" && chmod 0755 "$tmp/vap_openemr.so" || exit 1

mkfifo "$tmp/sim.out" || exit 1
"$sim_exe" --port 0 --state-dir "$tmp/sim" --auto-approve admin --quiet \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
read -r base <"$tmp/sim.out" || fail "the simulator did not start: $(cat "$tmp/sim.err")"
ca="$tmp/sim/ca.pem"
issuer="$base/oauth2/default"
# A redirect URI nobody listens on: authorize runs with --no-listen.
redirect="http://127.0.0.1:9/oauth/callback"

mkdir -m 0700 "$tmp/store" || exit 1
"$vap_seal" init --keyring "$tmp/keyring" >/dev/null || fail "vap-seal init"
printf '# the practice line\nemr %s \\\n    issuer=%s \\\n    fhir_base=%s \\\n    redirect_uri=%s ca_file=%s \\\n    store=%s keyring=%s  # sealed files\n' \
    "$tmp/vap_openemr.so" "$issuer" "$base/apis/default/fhir" "$redirect" "$ca" \
    "$tmp/store" "$tmp/keyring" >"$tmp/plugins.conf"
chmod 0600 "$tmp/plugins.conf"
cp "$tmp/plugins.conf" "$tmp/orig.conf"

host() { "$vap_host" -c "$tmp/plugins.conf" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; last=$(tail -n 1 "$tmp/err"); }
sim_post() { curl -sS --cacert "$ca" -X POST --data "$2" "$base/_sim/$1"; }
# The practice line as a backend services client (no scope=: the system/ reads).
backend_line() {
    printf 'emr %s grant=client_credentials client_auth=private_key_jwt \\\n    issuer=%s fhir_base=%s \\\n    ca_file=%s store=%s keyring=%s\n' \
        "$tmp/vap_openemr.so" "$issuer" "$base/apis/default/fhir" "$ca" "$tmp/store" \
        "$tmp/keyring" >"$tmp/plugins.conf"
    sim_post system-scopes '{"enabled":true}' >/dev/null || fail "sim control"
}
enable() { curl -sS --cacert "$ca" -o /dev/null -X POST \
    --data "{\"client_id\":\"$1\",\"enabled\":true}" "$base/_sim/clients/enable"; }
client_id() { sed -n 's/.*client_id=\([A-Za-z0-9._~-]*\).*/\1/p' "$tmp/plugins.conf"; }

case $case_name in
check_without_client_id_exits_2_naming_register)
    host check
    [ "$rc" -eq 2 ] || fail "exit $rc, want 2; $(cat "$tmp/err")"
    grep -q '^✓ connection' "$tmp/out" || fail "no connection tick: $(cat "$tmp/out")"
    grep -q '^✗ client .*vap-host register' "$tmp/out" || fail "client line: $(cat "$tmp/out")"
    grep -q '^9 checks: 6 passed, 1 with warnings, 1 failed, 0 unknown, 1 not run$' "$tmp/out" ||
        fail "summary: $(tail -n 1 "$tmp/out")"
    case $last in "vap-host: 1 of 9 checks failed (first: client)"*) ;;
    *) fail "last stderr line: $last" ;; esac
    ;;
register_prints_line_and_leaves_config)
    host register --name "Front desk"
    [ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$tmp/err")"
    cmp -s "$tmp/plugins.conf" "$tmp/orig.conf" || fail "the config was changed"
    [ ! -e "$tmp/plugins.conf.bak" ] || fail "a backup was made without --write-config"
    grep -q '^    client_id=[A-Za-z0-9_-]\{43\}$' "$tmp/out" || fail "no line to paste: $(cat "$tmp/out")"
    ;;
register_write_config_keeps_backup)
    host register --write-config
    [ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$tmp/err")"
    cmp -s "$tmp/plugins.conf.bak" "$tmp/orig.conf" || fail "the backup is not the old file"
    id=$(client_id)
    [ ${#id} -eq 43 ] || fail "client_id not written: $(cat "$tmp/plugins.conf")"
    # Exactly one line changed: the instance's first line got client_id.
    [ "$(diff "$tmp/orig.conf" "$tmp/plugins.conf" | grep -c '^[<>]')" -eq 2 ] ||
        fail "more than one line changed: $(diff "$tmp/orig.conf" "$tmp/plugins.conf")"
    [ "$(stat -c %a "$tmp/plugins.conf")" = 600 ] || fail "mode changed"
    grep -q 'DISABLED' "$tmp/out" && grep -q 'Administration > System > API Clients' "$tmp/out" ||
        fail "no enable steps: $(cat "$tmp/out")"
    "$vap_seal" list --store "$tmp/store" | grep -q '^client_secret' || fail "no sealed secret"
    # The secret is in no output: the simulator registered only this client,
    # whose secret is 86 base64url characters; nothing that long was printed.
    grep -q '[A-Za-z0-9_-]\{80,\}' "$tmp/out" "$tmp/err" && fail "a long token-like string was printed"
    ;;
admin_path_end_to_end)
    host register --write-config
    [ "$rc" -eq 0 ] || fail "register exit $rc: $(cat "$tmp/err")"
    host check
    [ "$rc" -eq 4 ] || fail "check before enabling: exit $rc, want 4"
    grep -q '^✗ client .*Enable' "$tmp/out" || fail "disabled not named: $(cat "$tmp/out")"
    enable "$(client_id)" || fail "sim control"
    host check --json
    [ "$rc" -eq 3 ] || fail "check before authorizing: exit $rc, want 3"
    grep -q '"ok": false' "$tmp/out" || fail "json: $(cat "$tmp/out")"
    mkfifo "$tmp/host.out" "$tmp/host.in" || exit 1
    "$vap_host" -c "$tmp/plugins.conf" authorize --no-listen --no-browser \
        <"$tmp/host.in" >"$tmp/host.out" 2>"$tmp/host.err" &
    host_pid=$!
    exec 4>"$tmp/host.in" 3<"$tmp/host.out"
    read -r url <&3 || fail "no URL: $(cat "$tmp/host.err")"
    callback=$(curl -sS --cacert "$ca" -o /dev/null -w '%{redirect_url}' "$url") || fail "browser"
    printf '%s\n' "$callback" >&4
    exec 4>&-
    cat <&3 >/dev/null
    wait "$host_pid"; arc=$?; host_pid=
    [ "$arc" -eq 0 ] || fail "authorize exit $arc: $(cat "$tmp/host.err")"
    host check
    [ "$rc" -eq 0 ] || fail "check after authorizing: exit $rc: $(cat "$tmp/out")"
    grep -q '^10 checks: 9 passed, 0 with warnings, 0 failed, 1 unknown, 0 not run$' "$tmp/out" ||
        fail "summary: $(cat "$tmp/out")"
    # What OpenEMR cannot tell before a code exchange is never a tick.
    grep -q '^? secret .*unknown: .*first code exchange' "$tmp/out" ||
        fail "secret line: $(cat "$tmp/out")"
    host check --json
    [ "$rc" -eq 0 ] && grep -q '^  "ok": true' "$tmp/out" && grep -q '^  "unknown": 1,' "$tmp/out" ||
        fail "json: $(cat "$tmp/out")"
    # An unknown item is never "ok" in JSON either.
    grep -A2 '"name": "secret"' "$tmp/out" | grep -q '"ok": false' ||
        fail "json secret item: $(cat "$tmp/out")"
    host fetch 'Patient?_count=1'
    [ "$rc" -eq 0 ] && grep -q '"resourceType":"Bundle"' "$tmp/out" || fail "first fetch: $(cat "$tmp/err")"
    ;;
register_backend_after_keygen)
    backend_line
    host register --backend
    [ "$rc" -eq 2 ] || fail "register before keygen: exit $rc, want 2"
    [ "$last" = "vap-host: no signing key is sealed in $tmp/store yet: run vap-seal keygen -c CONFIG first (register --backend sends OpenEMR the public half of that key)" ] ||
        fail "last stderr line: $last"
    "$vap_seal" keygen -c "$tmp/plugins.conf" >"$tmp/keygen" 2>&1 || fail "keygen: $(cat "$tmp/keygen")"
    kid=$(sed -n 's/.*(kid \([A-Za-z0-9_-]*\)), not yet tied to a client$/\1/p' "$tmp/keygen")
    [ ${#kid} -eq 43 ] || fail "keygen output: $(cat "$tmp/keygen")"
    grep -qx 'register it: vap-host register --backend sends its public key to OpenEMR and ties it to the client_id OpenEMR returns' "$tmp/keygen" ||
        fail "keygen output: $(cat "$tmp/keygen")"
    host register --backend --name "Backend line" --write-config
    [ "$rc" -eq 0 ] || fail "register exit $rc: $(cat "$tmp/err")"
    grep -qx 'Registered "Backend line" with OpenEMR as a backend services client (client_credentials, private_key_jwt).' "$tmp/out" &&
        grep -qx "Its public key (kid $kid) was registered inline: OpenEMR accepted the inline jwks. No client secret is kept." "$tmp/out" &&
        grep -q '^The client is DISABLED until an administrator enables it.$' "$tmp/out" &&
        grep -q 'Administration > System > API Clients; find "Backend line"' "$tmp/out" &&
        grep -q 'keep "Enable OpenEMR FHIR System Scopes" (rest_system_scopes_api) switched on in Administration > Config > Connectors' "$tmp/out" &&
        grep -qx 'Next: once it is enabled, run vap-host check: it asks OpenEMR for a real token. No staff member authorizes a backend services client.' "$tmp/out" ||
        fail "register output: $(cat "$tmp/out")"
    id=$(client_id)
    [ ${#id} -eq 43 ] || fail "client_id not written: $(cat "$tmp/plugins.conf")"
    # The key now belongs to the new client: promote-style commands find it under that id.
    "$vap_seal" verify --keyring "$tmp/keyring" --store "$tmp/store" --issuer "$issuer" \
        --client-id "$id" >/dev/null 2>&1 || fail "the key is not bound to $id"
    "$vap_seal" list --store "$tmp/store" | grep -q '^client_secret' && fail "a client secret was kept"
    # check asks for a real token: refused while the client is disabled ...
    host check
    [ "$rc" -eq 4 ] || fail "check before enabling: exit $rc, want 4: $(cat "$tmp/out")"
    grep -q '^✗ token .*the client is disabled' "$tmp/out" || fail "token line: $(cat "$tmp/out")"
    case $last in "vap-host: 1 of 12 checks failed (first: token)"*) ;;
    *) fail "last stderr line: $last" ;; esac
    # ... issued once it is enabled; what cannot be known is never a tick
    enable "$id" || fail "sim control"
    host check
    [ "$rc" -eq 0 ] || fail "check after enabling: exit $rc: $(cat "$tmp/out")"
    grep -q "^✓ token        OpenEMR issued a client_credentials token" "$tmp/out" &&
        grep -q "^? jwks         unknown: whether OpenEMR holds key $kid is not known here" "$tmp/out" &&
        grep -q '^- redirect_uri not checked: grant=client_credentials has no browser sign-in' "$tmp/out" &&
        grep -q '^- grant        not checked: grant=client_credentials keeps no grant' "$tmp/out" &&
        grep -q '^✓ scopes       warning: scope uses system/ scopes, which are practice-wide by nature' "$tmp/out" ||
        fail "check output: $(cat "$tmp/out")"
    grep -qx '12 checks: 7 passed, 1 with warnings, 0 failed, 1 unknown, 3 not run' "$tmp/out" ||
        fail "summary: $(tail -n 1 "$tmp/out")"
    ;;
register_backend_by_jwks_uri)
    backend_line
    "$vap_seal" keygen -c "$tmp/plugins.conf" >/dev/null 2>&1 || fail "keygen"
    sim_post faults '{"route":"/oauth2/default/registration","kind":"register_no_inline_jwks","count":9}' >/dev/null
    host register --backend
    [ "$rc" -eq 2 ] || fail "inline refused: exit $rc, want 2"
    [ "$last" = "vap-host: OpenEMR refused the public key sent inline (invalid_client_metadata): some OpenEMR versions cannot register an inline jwks; publish the output of vap-seal jwks at an https URL OpenEMR can reach, then run vap-host register --backend --jwks-uri URL" ] ||
        fail "last stderr line: $last"
    jwks=$("$vap_seal" jwks -c "$tmp/plugins.conf") || fail "vap-seal jwks"
    url=$(sim_post host "{\"name\":\"practice-keys\",\"body\":$jwks}" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
    [ -n "$url" ] || fail "hosting the JWKS"
    host register --backend --jwks-uri "$url" --write-config
    [ "$rc" -eq 0 ] || fail "register --jwks-uri exit $rc: $(cat "$tmp/err")"
    grep -q "from $url, which serves it now: registering by jwks_uri worked. No client secret is kept.\$" "$tmp/out" ||
        fail "register output: $(cat "$tmp/out")"
    grep -q " jwks_uri=$url " "$tmp/plugins.conf" || grep -q " jwks_uri=$url\$" "$tmp/plugins.conf" ||
        fail "jwks_uri not written: $(cat "$tmp/plugins.conf")"
    [ "$(client_id | wc -c)" -eq 44 ] || fail "client_id not written"
    # check reads the jwks_uri written into the line
    host check
    grep -q "^✓ jwks         jwks_uri $url lists the sealed key" "$tmp/out" ||
        fail "check output: $(cat "$tmp/out")"
    ;;
register_backend_on_a_code_flow_line_exits_2)
    host register --backend
    [ "$rc" -eq 2 ] || fail "exit $rc, want 2"
    [ "$last" = "vap-host: register --backend registers a backend services client, but instance emr is not one: add grant=client_credentials client_auth=private_key_jwt to its line in $tmp/plugins.conf (with system/ scopes in scope=, or no scope= for the system/ read scopes), run vap-seal keygen -c $tmp/plugins.conf -i emr, then register --backend again" ] ||
        fail "last stderr line: $last"
    cmp -s "$tmp/plugins.conf" "$tmp/orig.conf" || fail "the config was changed"
    ;;
*)
    fail "unknown case"
    ;;
esac
exit 0
