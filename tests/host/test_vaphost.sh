#!/bin/sh
# test_vaphost.sh CASE VAP_HOST PLUGIN TESTMOD FULLMOD - one vap-host
# behaviour per case: its exit code, its output and the last line it writes
# to stderr.  PLUGIN is the real vap_openemr.so; TESTMOD a module that
# advertises no capability; FULLMOD one that answers status/refresh/fetch as
# its mode= option says (tests/host/testmod.c).  All are copied into a fresh directory under /tmp so the loader's permission
# rules hold whoever owns the checkout.
set -u
case_name=$1
vap_host=$2
plugin_src=$3
testmod_src=$4
fullmod_src=$5

tmp=$(mktemp -d /tmp/vaphost-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$plugin_src" "$tmp/vap_openemr.so" && chmod 0755 "$tmp/vap_openemr.so" || exit 1
plugin="$tmp/vap_openemr.so"
cp "$testmod_src" "$tmp/testmod.so" && chmod 0755 "$tmp/testmod.so" || exit 1
testmod="$tmp/testmod.so"
cp "$fullmod_src" "$tmp/fullmod.so" && chmod 0755 "$tmp/fullmod.so" || exit 1
fullmod="$tmp/fullmod.so"
good_opts="issuer=https://emr.example.org/oauth2/default \\
  fhir_base=https://emr.example.org/apis/default/fhir \\
  scope=\"openid fhirUser offline_access api:fhir user/Patient.read\" \\
  store=$tmp/store keyring=$tmp/keyring warm_connections=0"

fail() { echo "FAIL $case_name: $*" >&2; exit 1; }

# run ARGS...: sets rc, out (stdout), err (stderr), last (last stderr line)
run() {
    "$vap_host" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
    last=$(tail -n 1 "$tmp/err")
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "exit $rc, want $1; stderr: $err"; }
expect_last() { [ "$last" = "$1" ] || fail "last stderr line: '$last', want '$1'"; }
write_conf() { printf '%s\n' "$1" >"$tmp/plugins.conf" && chmod 0600 "$tmp/plugins.conf"; }

unset VAP_CONFIG
case $case_name in
unknown_command)
    run -c "$tmp/none.conf" frobnicate
    expect_rc 2
    expect_last "vap-host: unknown command 'frobnicate'; run vap-host --help for the list of commands"
    [ -z "$out" ] || fail "stdout not empty"
    # Control characters are not echoed back.
    run -c "$tmp/none.conf" "$(printf 'x\033[2J')"
    expect_rc 2
    expect_last "vap-host: unknown command; run vap-host --help for the list of commands"
    ;;
no_command)
    run
    expect_rc 2
    expect_last "vap-host: no command given; run: vap-host --help"
    ;;
global_help)
    run --help
    expect_rc 0
    for c in authorize refresh fetch status check register note demo find-patient; do
        printf '%s\n' "$out" | grep -q "^  $c " || fail "--help does not list $c"
    done
    ;;
command_help)
    for c in authorize refresh fetch status check register note demo find-patient; do
        run -c "$tmp/none.conf" "$c" --help
        expect_rc 0
        printf '%s\n' "$out" | head -n 1 | grep -q "^Usage: vap-host \[-c CONFIG\] \[-i NAME\] $c" ||
            fail "$c --help: first line is not its usage: $(printf '%s\n' "$out" | head -n 1)"
        printf '%s\n' "$out" | grep -q "^  6  server unavailable" || fail "$c --help lacks the exit codes"
    done
    ;;
missing_config)
    run -c "$tmp/absent.conf" status
    expect_rc 2
    expect_last "vap-host: $tmp/absent.conf: no such file; check the path (name the config with -c CONFIG or VAP_CONFIG)"
    ;;
env_config)
    VAP_CONFIG="$tmp/from-env.conf" run status
    expect_rc 2
    expect_last "vap-host: $tmp/from-env.conf: no such file; check the path (name the config with -c CONFIG or VAP_CONFIG)"
    # -c wins over VAP_CONFIG
    VAP_CONFIG="$tmp/from-env.conf" run -c "$tmp/from-c.conf" status
    expect_rc 2
    expect_last "vap-host: $tmp/from-c.conf: no such file; check the path (name the config with -c CONFIG or VAP_CONFIG)"
    ;;
config_syntax_error)
    write_conf "# the plugin
openemr $plugin \\
  scope=\"openid fhirUser"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    expect_last "vap-host: $tmp/plugins.conf:3: unterminated quote in scope=...; add the closing \""
    ;;
relative_module)
    write_conf "openemr vap_openemr.so $good_opts"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    expect_last "vap-host: $tmp/plugins.conf:1: vap_openemr.so: the module path is relative; give the absolute path, e.g. /usr/lib/x86_64-linux-gnu/vap/vap_openemr.so"
    ;;
no_such_instance)
    write_conf "openemr $plugin $good_opts"
    run -c "$tmp/plugins.conf" -i other status
    expect_rc 2
    expect_last "vap-host: $tmp/plugins.conf has no instance named other; its instances are: openemr; choose one with -i NAME (e.g. -i openemr)"
    write_conf "one $plugin $good_opts
two $plugin $good_opts"
    run -c "$tmp/plugins.conf" -i three status
    expect_rc 2
    expect_last "vap-host: $tmp/plugins.conf has no instance named three; its instances are: one, two; choose one with -i NAME (e.g. -i one)"
    ;;
version)
    run --version
    expect_rc 0
    printf '%s\n' "$out" | grep -Eqx 'vap-host \(vap-openemr\) [0-9]+\.[0-9]+\.[0-9]+, plugin ABI 1\.[0-9]+' ||
        fail "--version: '$out'"
    run -V
    expect_rc 0
    printf '%s\n' "$out" | grep -q '^vap-host (vap-openemr) ' || fail "-V: '$out'"
    ;;
status_json)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" status --json
    expect_rc 0
    [ -z "$err" ] || fail "stderr not empty: $err"
    want='{"state":"valid","scope":"openid offline_access user/Patient.read","subject":"staff-1","fhir_user":"Practitioner/7","access_expires":"2100-01-01T00:00:00Z","obtained":"2099-12-31T23:00:00Z","generation":3,"refresh_token":true}'
    [ "$out" = "$want" ] || fail "stdout: '$out'"
    write_conf "t $fullmod mode=nogrant"
    run -c "$tmp/plugins.conf" status --json
    expect_rc 3
    [ "$out" = '{"state":"none"}' ] || fail "no grant: stdout: '$out'"
    run -c "$tmp/plugins.conf" status --jsn
    expect_rc 2
    expect_last "vap-host: status takes only --json; run: vap-host status --help"
    ;;
store_refused_is_config_exit)
    # A store or keyring the plugin refuses is the admin's configuration:
    # exit 2, as --help and vap-host(1) say.
    mkdir -m 0755 "$tmp/store"
    write_conf "openemr $plugin $good_opts client_id=abc"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    expect_last "vap-host: store directory $tmp/store is open to group or others (mode 0755): run chmod 700 $tmp/store"
    chmod 0700 "$tmp/store"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    expect_last "vap-host: keyring $tmp/keyring does not exist: create it with vap-seal init --keyring $tmp/keyring"
    man="$(dirname "$0")/../../doc/vap-host.1"
    grep -q "a store or keyring that cannot be used" "$man" || fail "vap-host(1) does not document exit 2 for the store"
    run --help
    printf '%s\n' "$out" | grep -qF "keyring that cannot be used" || fail "--help does not document exit 2 for the store"
    ;;
two_instances_need_i)
    write_conf "one $plugin $good_opts
two $plugin $good_opts"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    expect_last "vap-host: $tmp/plugins.conf configures 2 instances; choose one with -i NAME (e.g. -i one)"
    ;;
instance_new_error)
    write_conf "openemr $plugin $good_opts bogus=1"
    run -c "$tmp/plugins.conf" status
    expect_rc 2
    case $last in
    "vap-host: $tmp/plugins.conf:1: instance openemr: "*bogus*) ;;
    *) fail "last stderr line does not name the instance and the key: $last" ;;
    esac
    ;;
capability_missing_in_plugin)
    # The test module advertises no capability: no fake success.
    write_conf "bare $testmod"
    for c in authorize refresh fetch status check register; do
        run -c "$tmp/plugins.conf" $c Patient
        expect_rc 1
        expect_last "vap-host: $c is not implemented by this plugin yet"
        [ -z "$out" ] || fail "$c printed on stdout: $out"
    done
    ;;
exit_codes_documented)
    run --help
    for line in "  0  success" "  1  other failure" "  2  usage or configuration error" \
        "  3  re-authorization needed" "  4  client rejected" "  5  denied" \
        "  6  server unavailable or timed out"; do
        printf '%s\n' "$out" | grep -qF "$line" || fail "--help does not document: $line"
    done
    ;;
status_no_grant)
    write_conf "t $fullmod mode=nogrant"
    run -c "$tmp/plugins.conf" status
    expect_rc 3
    [ "$out" = "no grant" ] || fail "stdout: '$out', want 'no grant'"
    expect_last "vap-host: instance t has no grant yet; a staff member must run: vap-host -i t authorize"
    ;;
status_valid_grant)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" status
    expect_rc 0
    [ -z "$err" ] || fail "stderr not empty: $err"
    want="state: valid
scope: openid offline_access user/Patient.read
subject: staff-1
fhir_user: Practitioner/7
access_expires: 2100-01-01T00:00:00Z
obtained: 2099-12-31T23:00:00Z
generation: 3
refresh_token: present"
    [ "$out" = "$want" ] || fail "stdout: '$out'"
    ;;
status_reauth_required)
    write_conf "t $fullmod mode=reauth"
    run -c "$tmp/plugins.conf" status
    expect_rc 3
    printf '%s\n' "$out" | grep -q "^state: reauthorization required$" || fail "stdout: $out"
    expect_last "vap-host: the grant of instance t can no longer be renewed; a staff member must run: vap-host -i t authorize"
    ;;
refresh_prints_grant)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" refresh
    expect_rc 0
    printf '%s\n' "$out" | head -n 1 | grep -q "^state: valid$" || fail "stdout: $out"
    ;;
refresh_client_rejected)
    write_conf "t $fullmod mode=client"
    run -c "$tmp/plugins.conf" refresh
    expect_rc 4
    [ -z "$out" ] || fail "stdout not empty: $out"
    expect_last "vap-host: the server rejected the client; ask the practice admin to enable it (OAuth error invalid_client)"
    ;;
refresh_reauth_required)
    write_conf "t $fullmod mode=reauth"
    run -c "$tmp/plugins.conf" refresh
    expect_rc 3
    # The OAuth code is already in the message: not repeated.
    expect_last "vap-host: the grant was revoked (invalid_grant); authorize again"
    ;;
fetch_prints_only_body)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" fetch --all-pages "Patient?family=Smith&birthdate=1970-01-01"
    expect_rc 0
    [ -z "$err" ] || fail "stderr not empty: $err"
    [ "$out" = '{"path":"Patient","query":"family=Smith&birthdate=1970-01-01","flags":2}' ] ||
        fail "stdout: '$out'"
    ;;
fetch_denied)
    write_conf "t $fullmod mode=denied"
    run -c "$tmp/plugins.conf" fetch Patient/1
    expect_rc 5
    [ -z "$out" ] || fail "stdout not empty: $out"
    expect_last "vap-host: denied: the grant lacks user/Patient.read"
    ;;
fetch_unavailable)
    write_conf "t $fullmod mode=unavailable"
    run -c "$tmp/plugins.conf" fetch Patient/1
    expect_rc 6
    expect_last "vap-host: the server is unavailable; try later"
    ;;
fetch_needs_path)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" fetch
    expect_rc 2
    expect_last "vap-host: fetch needs a PATH such as Patient/123; run: vap-host fetch --help"
    ;;
log_levels)
    write_conf "t $fullmod mode=valid"
    run -c "$tmp/plugins.conf" status
    [ -z "$err" ] || fail "info lines shown by default: $err"
    run -v -c "$tmp/plugins.conf" status
    expect_rc 0
    printf '%s\n' "$err" | grep -qx "info: testmod entry call 1" || fail "-v: stderr: $err"
    printf '%s\n' "$err" | grep -qx "info: testmod instance_new options=1 now=0" || fail "-v: stderr: $err"
    ;;
*)
    fail "unknown test case"
    ;;
esac
exit 0
