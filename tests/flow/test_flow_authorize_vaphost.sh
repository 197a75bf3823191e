#!/bin/sh
# test_flow_authorize_vaphost.sh CASE VAP_HOST PLUGIN OPENEMR_SIM VAP_SEAL
#
# vap-host authorize as a person and a script meet it: the simulator runs as
# its own process (auto-approving as "admin"), vap-host listens on a free
# loopback port, and curl plays the browser.  One behaviour per CASE:
#   listener_completes_and_status_shows_grant  the URL alone on stdout's
#       first line, the callback answered with a 303 to a clean result page,
#       the grant printed without a token, then vap-host status shows it
#   error_page_escapes_script   an error_description carrying <script> is
#       rendered inert on the result page; the last stderr line names the
#       OAuth error code
#   no_listen_reads_pasted_callback   --no-listen takes the pasted address
#   failure_last_line_names_invalid_client   a client the admin has not
#       enabled: exit 4, last stderr line names invalid_client and says where
#       to enable it
#   second_callback_is_refused   only one callback is accepted
#   note_finds_the_encounter_by_euuid   note resolves the FHIR encounter id
#       through the standard API's euuid (OpenEMR sends no uuid there)
#   find_patient_on_a_server_that_empties_paged_searches   find-patient sends
#       no _count, so it finds matches where OpenEMR 7.0.3 empties paged
#       searches
#   bare_get_does_not_end_the_wait   a GET without state, with a state of
#       another authorization, or with state but neither code nor error
#       gets 400 and the wait goes on: the browser's real callback completes
#   taken_loopback_port_fails_before_the_url   another program on
#       127.0.0.1:PORT: vap-host fails at once, prints no URL, and its one
#       error line names the address and port
#   taken_ipv6_loopback_port_fails_before_the_url   the same with another
#       program on [::1]:PORT (bound after 127.0.0.1, which must be let go)
#   error_without_state_is_not_believed   ?error=access_denied with no
#       state is not reported as a denial (the state is checked first)
#   c1_controls_never_reach_the_terminal   an error_description with
#       UTF-8 C1 controls (CSI) and bidi overrides reaches stderr without them
#   core_dumps_and_ptrace_are_off   a waiting vap-host authorize has a core
#       limit of 0 (/proc/PID/limits) and is not dumpable, so no process of
#       its user may attach: /proc/PID/status then belongs to root, not to
#       the (unprivileged) user vap-host runs as
#   unregistered_redirect_uri_is_named   OpenEMR answers a redirect URI it
#       does not know with 401 JSON invalid_client in the browser, so nothing
#       would come back: authorize asks first and exits 4 at once, before any
#       URL, the last stderr line naming the URI sent
set -u
case_name=$1
vap_host=$2
plugin_src=$3
sim_exe=$4
vap_seal=$5

fail() { echo "FAIL $case_name: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vaphost-authz.XXXXXX) || exit 1
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

# A port free on both loopbacks (the listener binds ::1 and 127.0.0.1); a port
# free on one may be taken on the other, so try until both are free.
port=$(/usr/bin/python3 -c 'import socket
for _ in range(200):
    s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        s.close(); t.close(); continue
    print(p); break
else:
    raise SystemExit(1)') || fail "no free port"
redirect="http://localhost:$port/oauth/callback"
scope="openid fhirUser offline_access api:fhir user/Patient.read user/Encounter.read"
secret="vaphost-authz-secret-41c9"

# The simulator prints its base URL once it listens: read it from a fifo.
mkfifo "$tmp/sim.out" || exit 1
"$sim_exe" --port 0 --state-dir "$tmp/sim" --auto-approve admin --quiet \
    --client "authz-client:$secret:$redirect:$scope" >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
read -r base <"$tmp/sim.out" || fail "the simulator did not start: $(cat "$tmp/sim.err")"
ca="$tmp/sim/ca.pem"
issuer="$base/oauth2/default"

mkdir -m 0700 "$tmp/store" || exit 1
"$vap_seal" init --keyring "$tmp/keyring" >/dev/null || fail "vap-seal init"
printf '%s' "$secret" | "$vap_seal" put --keyring "$tmp/keyring" --store "$tmp/store" \
    --issuer "$issuer" --client-id authz-client client_secret >/dev/null || fail "vap-seal put"
printf 'emr %s issuer=%s fhir_base=%s client_id=authz-client redirect_uri=%s scope="%s" store=%s keyring=%s ca_file=%s\n' \
    "$tmp/vap_openemr.so" "$issuer" "$base/apis/default/fhir" "$redirect" "$scope" \
    "$tmp/store" "$tmp/keyring" "$ca" >"$tmp/plugins.conf"
chmod 0600 "$tmp/plugins.conf"

browser() { curl -sS --max-time 20 --cacert "$ca" "$@"; }
control() { browser -o /dev/null -X POST --data "$2" "$base/_sim/$1"; }

# start_authorize ARGS...: vap-host authorize in the background, its stdout
# on fd 3 (a fifo kept open), stdin from fd 4 (another fifo).
start_authorize() {
    mkfifo "$tmp/host.out" "$tmp/host.in" || exit 1
    "$vap_host" -c "$tmp/plugins.conf" authorize --no-browser --wait 30 "$@" \
        <"$tmp/host.in" >"$tmp/host.out" 2>"$tmp/host.err" &
    host_pid=$!
    exec 4>"$tmp/host.in" 3<"$tmp/host.out"
    read -r url <&3 || fail "no URL on stdout; stderr: $(cat "$tmp/host.err")"
}
finish_authorize() {
    exec 4>&-
    rest=$(cat <&3)
    wait "$host_pid"
    rc=$?
    host_pid=
    last=$(tail -n 1 "$tmp/host.err")
}
# approve: the browser opens the URL; the simulator answers 302 to the callback
approve() {
    callback=$(browser -o /dev/null -w '%{redirect_url}' "$url") || fail "the browser failed"
    case $callback in "$redirect?code="*) ;; *) fail "callback: $callback" ;; esac
}

# Another program holds PORT on one loopback address (python family FAM,
# address ADDR; SHOWN is how the error line writes it, as a grep pattern):
# vap-host fails at once, prints no URL, and says so in one line.
taken_port_fails() {
    mkfifo "$tmp/occ.out" || exit 1
    /usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(getattr(socket, sys.argv[1])); s.bind((sys.argv[2], int(sys.argv[3]))); s.listen()
print("ready", flush=True); time.sleep(120)' "$1" "$2" "$port" >"$tmp/occ.out" &
    occ_pid=$!
    read -r ready <"$tmp/occ.out" || fail "the other program did not start"
    "$vap_host" -c "$tmp/plugins.conf" authorize --no-browser --wait 30 \
        </dev/null >"$tmp/host.out" 2>"$tmp/host.err"
    rc=$?
    kill "$occ_pid" 2>/dev/null
    wait "$occ_pid" 2>/dev/null
    [ "$rc" -ne 0 ] || fail "exit 0 with $2:$port taken"
    [ -s "$tmp/host.out" ] && fail "the URL was printed although the port is taken: $(cat "$tmp/host.out")"
    [ "$(wc -l <"$tmp/host.err")" -eq 1 ] || fail "want one error line: $(cat "$tmp/host.err")"
    grep -q "another program listens on $3:$port: stop it, or register and configure another port" \
        "$tmp/host.err" || fail "stderr: $(cat "$tmp/host.err")"
}

case $case_name in
listener_completes_and_status_shows_grant)
    start_authorize
    case $url in "$issuer/authorize?"*) ;; *) fail "first stdout line is not the URL alone: $url" ;; esac
    case $url in *" "*) fail "the URL line has a space: $url" ;; esac
    approve
    hdrs=$(browser -o /dev/null -D - "$callback") || fail "the listener did not answer"
    printf '%s\n' "$hdrs" | head -n 1 | grep -q ' 303' || fail "callback answer: $hdrs"
    loc=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case $loc in *code=*|*state=*) fail "the 303 keeps the code in the URL: $loc" ;; esac
    page=$(browser "http://localhost:$port$loc") || fail "no result page"
    printf '%s' "$page" | grep -q 'Authorized' || fail "result page: $page"
    finish_authorize
    [ "$rc" -eq 0 ] || fail "exit $rc; stderr: $(cat "$tmp/host.err")"
    printf '%s\n' "$rest" | grep -q '^authorized$' || fail "stdout: $rest"
    printf '%s\n' "$rest" | grep -q 'user/Patient.read' || fail "no scopes printed: $rest"
    printf '%s\n%s' "$rest" "$(cat "$tmp/host.err")" | grep -q 'def502\|eyJ' && fail "a token was printed"
    "$vap_host" -c "$tmp/plugins.conf" status >"$tmp/st.out" 2>"$tmp/st.err" ||
        fail "status exit $?: $(cat "$tmp/st.err")"
    grep -q 'user/Patient.read' "$tmp/st.out" || fail "status: $(cat "$tmp/st.out")"
    grep -q 'def502\|eyJ' "$tmp/st.out" && fail "status printed a token"
    ;;
error_page_escapes_script)
    start_authorize
    state=$(printf '%s' "$url" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')
    hdrs=$(browser -o /dev/null -D - "$redirect?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=$state") ||
        fail "the listener did not answer"
    loc=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    page=$(browser "http://localhost:$port$loc") || fail "no result page"
    printf '%s' "$page" | grep -q '<script' && fail "the page carries a live <script>: $page"
    printf '%s' "$page" | grep -q '&lt;script&gt;' || fail "the description is not shown escaped: $page"
    finish_authorize
    [ "$rc" -eq 5 ] || fail "exit $rc, want 5 (denied); stderr: $(cat "$tmp/host.err")"
    case $last in *access_denied*) ;; *) fail "last stderr line lacks the OAuth error: $last" ;; esac
    ;;
no_listen_reads_pasted_callback)
    start_authorize --no-listen
    approve
    printf '%s\n' "$callback" >&4
    finish_authorize
    [ "$rc" -eq 0 ] || fail "exit $rc; stderr: $(cat "$tmp/host.err")"
    printf '%s\n' "$rest" | grep -q '^authorized$' || fail "stdout: $rest"
    ;;
failure_last_line_names_invalid_client)
    control clients/enable '{"client_id":"authz-client","enabled":false}' || fail "sim control"
    start_authorize --no-listen
    approve
    printf '%s\n' "$callback" >&4
    finish_authorize
    [ "$rc" -eq 4 ] || fail "exit $rc, want 4 (client rejected); stderr: $(cat "$tmp/host.err")"
    case $last in *invalid_client*"Administration → System → API Clients"*) ;;
        *) fail "last stderr line: $last" ;; esac
    ;;
second_callback_is_refused)
    start_authorize
    approve
    hdrs=$(browser -o /dev/null -D - "$callback") || fail "first callback"
    # vap-host waits for the browser to fetch the result page: still listening
    code=$(browser -o /dev/null -w '%{http_code}' "$callback")
    [ "$code" = 410 ] || fail "second callback answered $code, want 410"
    loc=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    browser -o /dev/null "http://localhost:$port$loc" || fail "no result page at $loc: $(cat "$tmp/host.err")"
    finish_authorize
    [ "$rc" -eq 0 ] || fail "exit $rc; stderr: $(cat "$tmp/host.err")"
    ;;
unregistered_redirect_uri_is_named)
    # the practice registered a trailing slash; the config has none.  OpenEMR
    # would show the browser a 401 page and never come back, so authorize
    # asks the authorization endpoint first and stops before any URL.
    control clients "{\"client_id\":\"authz-client\",\"client_secret\":\"$secret\",\"redirect_uris\":[\"$redirect/\"],\"scope\":\"$scope\"}" ||
        fail "sim control"
    "$vap_host" -c "$tmp/plugins.conf" authorize --no-browser --wait 600 \
        </dev/null >"$tmp/host.out" 2>"$tmp/host.err"
    rc=$?
    last=$(tail -n 1 "$tmp/host.err")
    [ "$rc" -eq 4 ] || fail "exit $rc, want 4; stderr: $(cat "$tmp/host.err")"
    [ ! -s "$tmp/host.out" ] || fail "a URL was handed out: $(cat "$tmp/host.out")"
    case $last in *invalid_client*"$redirect,"*"byte for byte"*) ;;
        *) fail "last stderr line: $last" ;; esac
    ;;
find_patient_on_a_server_that_empties_paged_searches)
    start_authorize --no-listen
    approve
    printf '%s\n' "$callback" >&4
    finish_authorize
    [ "$rc" -eq 0 ] || fail "authorize exit $rc; stderr: $(cat "$tmp/host.err")"
    # OpenEMR 7.0.3 as run: _count or _offset empties any search
    control quirks '{"enabled":true}' || fail "sim control"
    "$vap_host" -c "$tmp/plugins.conf" find-patient --name a >"$tmp/fp.out" 2>"$tmp/fp.err"
    frc=$?
    [ "$frc" -eq 0 ] || fail "find-patient exit $frc: $(cat "$tmp/fp.err")"
    n=$(sed -n 's/^vap-host: \([0-9]*\) match(es)$/\1/p' "$tmp/fp.err")
    [ -n "$n" ] && [ "$n" -gt 0 ] || fail "no match: $(cat "$tmp/fp.err")"
    grep -q '"id"' "$tmp/fp.out" || fail "no patient printed: $(cat "$tmp/fp.out")"
    ;;
note_finds_the_encounter_by_euuid)
    # OpenEMR's encounter list carries eid and euuid, not uuid
    nscope="openid offline_access api:fhir api:oemr user/Patient.read user/Encounter.read user/patient.read user/encounter.read user/soap_note.write"
    control clients "{\"client_id\":\"authz-client\",\"client_secret\":\"$secret\",\"redirect_uris\":[\"$redirect\"],\"scope\":\"$nscope\"}" ||
        fail "sim control"
    sed -i "s|scope=\"[^\"]*\"|scope=\"$nscope\"|" "$tmp/plugins.conf"
    start_authorize --no-listen
    approve
    printf '%s\n' "$callback" >&4
    finish_authorize
    [ "$rc" -eq 0 ] || fail "authorize exit $rc; stderr: $(cat "$tmp/host.err")"
    "$vap_host" -c "$tmp/plugins.conf" fetch 'Patient?name=a' >"$tmp/p.json" 2>"$tmp/p.err" ||
        fail "patient search: $(cat "$tmp/p.err")"
    pid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"][0]["resource"]["id"])' <"$tmp/p.json") ||
        fail "no patient"
    "$vap_host" -c "$tmp/plugins.conf" fetch "Encounter?patient=$pid" >"$tmp/e.json" 2>"$tmp/e.err" ||
        fail "encounter search: $(cat "$tmp/e.err")"
    eid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"][0]["resource"]["id"])' <"$tmp/e.json") ||
        fail "no encounter"
    "$vap_host" -c "$tmp/plugins.conf" note --patient "$pid" --encounter "$eid" \
        --subjective "Caller asked about a refill." >"$tmp/n.out" 2>"$tmp/n.err"
    nrc=$?
    [ "$nrc" -eq 0 ] || fail "note exit $nrc: $(cat "$tmp/n.err")"
    grep -q '"sid"' "$tmp/n.out" || fail "note answer: $(cat "$tmp/n.out")"
    ;;
bare_get_does_not_end_the_wait)
    start_authorize
    state=$(printf '%s' "$url" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')
    [ -n "$state" ] || fail "no state in the URL: $url"
    for probe in "$redirect" "$redirect?code=abc" "$redirect?state=$state" \
        "$redirect?state=not-$state&code=abc" "$redirect?state=${state}x&error=access_denied"; do
        code=$(browser -o /dev/null -w '%{http_code}' "$probe")
        [ "$code" = 400 ] || fail "$probe answered $code, want 400"
    done
    approve
    hdrs=$(browser -o /dev/null -D - "$callback") || fail "the listener did not answer"
    printf '%s\n' "$hdrs" | head -n 1 | grep -q ' 303' || fail "the real callback got: $hdrs"
    loc=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    browser -o /dev/null "http://localhost:$port$loc" || fail "no result page"
    finish_authorize
    [ "$rc" -eq 0 ] || fail "exit $rc; stderr: $(cat "$tmp/host.err")"
    ;;
taken_loopback_port_fails_before_the_url)
    taken_port_fails AF_INET 127.0.0.1 127.0.0.1
    ;;
taken_ipv6_loopback_port_fails_before_the_url)
    taken_port_fails AF_INET6 ::1 '\[::1\]'
    ;;
error_without_state_is_not_believed)
    start_authorize --no-listen
    printf '%s\n' "$redirect?error=access_denied&error_description=denied" >&4
    finish_authorize
    [ "$rc" -ne 5 ] || fail "a stateless error=access_denied was believed (exit 5, denied)"
    [ "$rc" -ne 0 ] || fail "exit 0"
    case $last in *state*) ;; *) fail "last stderr line does not name the missing state: $last" ;; esac
    ;;
c1_controls_never_reach_the_terminal)
    start_authorize
    state=$(printf '%s' "$url" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')
    browser -o /dev/null "$redirect?error=access_denied&error_description=x%c2%9b31mred%c2%9d%e2%80%aespoof%e2%81%a6end&state=$state" ||
        fail "the listener did not answer"
    finish_authorize
    [ "$rc" -eq 5 ] || fail "exit $rc, want 5 (denied); stderr: $(cat "$tmp/host.err")"
    grep -q 'red' "$tmp/host.err" || fail "the description is not shown: $(cat "$tmp/host.err")"
    LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$tmp/host.err" && fail "a C1 control reached stderr"
    LC_ALL=C grep -q "$(printf '\342\200[\252-\256]')\|$(printf '\342\201[\246-\251]')" "$tmp/host.err" &&
        fail "a bidi override reached stderr"
    ;;
core_dumps_and_ptrace_are_off)
    # Dumpable shows from outside only as the owner of /proc/PID: run
    # vap-host as an unprivileged user (nobody when the test is root).
    runas=
    host_bin=$vap_host
    if [ "$(id -u)" = 0 ]; then
        # The build tree may be closed to nobody (a clone under mktemp -d):
        # run copies of vap-host and its libvaphost from the test's directory.
        mkdir "$tmp/bin" && cp "$vap_host" "$tmp/bin/vap-host" &&
            cp -L "$(dirname "$vap_host")/libvaphost.so.1" "$tmp/bin/" || exit 1
        host_bin="$tmp/bin/vap-host"
        export LD_LIBRARY_PATH="$tmp/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        chown -R 65534:65534 "$tmp/store" "$tmp/keyring" "$tmp/plugins.conf" "$tmp/vap_openemr.so" \
            "$tmp/bin" || exit 1
        chown 65534:65534 "$tmp" && chmod 0700 "$tmp" && chmod 0755 "$tmp/sim" && chmod 0644 "$ca" || exit 1
        runas="setpriv --reuid=65534 --regid=65534 --clear-groups"
    fi
    mkfifo "$tmp/host.out" "$tmp/host.in" || exit 1
    ulimit -c unlimited 2>/dev/null || ulimit -c 1000000 2>/dev/null
    $runas "$host_bin" -c "$tmp/plugins.conf" authorize --no-browser --wait 30 \
        <"$tmp/host.in" >"$tmp/host.out" 2>"$tmp/host.err" &
    host_pid=$!
    exec 4>"$tmp/host.in" 3<"$tmp/host.out"
    read -r url <&3 || fail "no URL on stdout; stderr: $(cat "$tmp/host.err")"
    limits=$(cat "/proc/$host_pid/limits") || fail "cannot read /proc/$host_pid/limits"
    printf '%s\n' "$limits" | grep -Eq '^Max core file size +0 +0 ' ||
        fail "core files are not off: $(printf '%s\n' "$limits" | grep core)"
    grep -q '^Uid:' "/proc/$host_pid/status" || fail "cannot read /proc/$host_pid/status"
    runs_as=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$host_pid/status")
    owner=$(stat -c %u "/proc/$host_pid/status")
    [ "$runs_as" != 0 ] || fail "vap-host runs as root: cannot tell whether it is dumpable"
    [ "$owner" = 0 ] || fail "vap-host (uid $runs_as) is dumpable: /proc/$host_pid/status belongs to uid $owner"
    kill "$host_pid"
    wait "$host_pid" 2>/dev/null
    host_pid=
    ;;
*)
    fail "unknown case"
    ;;
esac
exit 0
