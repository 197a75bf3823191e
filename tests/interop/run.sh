#!/bin/sh
# run.sh BUILD_DIR - vap-host authorize, then vap-host status, against an
# independent OpenID provider (oidc-provider 9.13.3 from npm, provider.mjs)
# over https on 127.0.0.1, with curl as the browser.  Not part of meson test
# (scripts/test runs it): it needs the npm registry once (the packages, pinned
# by package-lock.json, are cached in ${VAP_INTEROP_CACHE:-$HOME/.cache/vap-interop}).
#
# Exit 0 when the authorization completes and status shows the grant.
# AUTH_METHOD=client_secret_post runs the same with the client registered for
# form-body credentials instead of HTTP Basic (add CLIENT_AUTH=post to make
# the plugin send them so); INTEROP_SECRET sets the client secret.
# AUTH_METHOD=private_key_jwt seals no secret at all: vap-seal keygen (KEY_ALG,
# default RS384) makes the key, the provider registers the client with the
# output of vap-seal jwks, and client_auth=auto must pick private_key_jwt from
# the provider's discovery document.
# GRANT=client_credentials (implies private_key_jwt): a backend service with
# system/ scopes; no authorize: vap-host check makes a real client_credentials
# token request, and vap-host refresh obtains a token.
set -u
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd) || exit 2
here=$(cd "$(dirname "$0")" && pwd)
cache=${VAP_INTEROP_CACHE:-$HOME/.cache/vap-interop}
vap_host=$build/host-sdk/vap-host
vap_seal=$build/crypto/vap-seal
plugin_src=$build/plugin/vap_openemr.so

say() { printf '== %s\n' "$*" >&2; }
fail() { printf 'INTEROP FAIL: %s\n' "$*" >&2; [ -s "${tmp:-/nonexistent}/op.err" ] && sed "s/^/  provider: /" "$tmp/op.err" >&2; exit 1; }

mkdir -p "$cache" || exit 1
# The provider and its dependencies exactly as package-lock.json pins them
# (npm ci), installed again whenever the lockfile changes.
if [ ! -d "$cache/node_modules/oidc-provider" ] ||
    ! cmp -s "$here/package-lock.json" "$cache/package-lock.json"; then
    say "npm ci (oidc-provider as tests/interop/package-lock.json pins it) into $cache"
    cp "$here/package.json" "$here/package-lock.json" "$cache/" || exit 1
    (cd "$cache" && npm ci --no-audit --no-fund >&2) || fail "npm ci"
fi
cp "$here/provider.mjs" "$cache/provider.mjs" || exit 1 # resolves node_modules there

tmp=$(mktemp -d /tmp/vap-interop.XXXXXX) || exit 1
op_pid=
host_pid=
cleanup() {
    [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
    [ -n "$op_pid" ] && kill "$op_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cp "$plugin_src" "$tmp/vap_openemr.so" && chmod 0755 "$tmp/vap_openemr.so" || exit 1

say "a throwaway CA and a certificate for 127.0.0.1 (certtool)"
printf 'cn="vap interop CA"\nca\ncert_signing_key\nexpiration_days=2\n' >"$tmp/ca.tmpl"
printf 'cn="127.0.0.1"\nip_address="127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days=2\n' >"$tmp/srv.tmpl"
certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$tmp/ca.key" 2>/dev/null &&
certtool --generate-self-signed --load-privkey "$tmp/ca.key" --template "$tmp/ca.tmpl" \
    --no-text --outfile "$tmp/ca.pem" 2>/dev/null &&
certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$tmp/srv.key" 2>/dev/null &&
certtool --generate-certificate --load-privkey "$tmp/srv.key" --load-ca-certificate "$tmp/ca.pem" \
    --load-ca-privkey "$tmp/ca.key" --template "$tmp/srv.tmpl" --no-text \
    --outfile "$tmp/srv.pem" 2>/dev/null || fail "certtool"

free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); p = s.getsockname()[1]
t = socket.socket(); t.bind(("127.0.0.1", p)); print(p)'
}
op_port=$(free_port) && cb_port=$(free_port) || fail "no free port"
redirect="http://localhost:$cb_port/oauth/callback"
client_id=vap-interop
secret=${INTEROP_SECRET:-interop-secret-5b1e0c}

say "oidc-provider on https://127.0.0.1:$op_port"
mkfifo "$tmp/op.out" || exit 1
pkjwt=
[ "${GRANT:-}" = client_credentials ] && AUTH_METHOD=private_key_jwt
[ "${AUTH_METHOD:-}" = private_key_jwt ] && pkjwt=1
if [ -n "$pkjwt" ]; then
    # The client_id is chosen here, so the key can be made before the provider starts.
    say "vap-seal keygen --alg ${KEY_ALG:-RS384}; the provider registers vap-seal jwks"
    mkdir -m 0700 "$tmp/store" || exit 1
    "$vap_seal" init --keyring "$tmp/keyring" >/dev/null || fail "vap-seal init"
    op_issuer="https://127.0.0.1:$op_port"
    "$vap_seal" keygen --keyring "$tmp/keyring" --store "$tmp/store" --issuer "$op_issuer" \
        --client-id "$client_id" --alg "${KEY_ALG:-RS384}" >&2 || fail "vap-seal keygen"
    "$vap_seal" jwks --keyring "$tmp/keyring" --store "$tmp/store" >"$tmp/jwks.json" || fail "vap-seal jwks"
fi
GRANT=${GRANT:-} CLIENT_JWKS=${pkjwt:+$tmp/jwks.json} NODE_EXTRA_CA_CERTS= node "$cache/provider.mjs" "$op_port" "$tmp/srv.pem" "$tmp/srv.key" \
    "$client_id" "$secret" "$redirect" >"$tmp/op.out" 2>"$tmp/op.err" &
op_pid=$!
exec 5<"$tmp/op.out"
read -r issuer <&5 || fail "the provider did not start"
cat <&5 >"$tmp/op.log" & # keep draining: its later notices must not hit EPIPE

if [ -z "$pkjwt" ]; then
    say "seal the client secret, write the config"
    mkdir -m 0700 "$tmp/store" || exit 1
    "$vap_seal" init --keyring "$tmp/keyring" >/dev/null || fail "vap-seal init"
    printf '%s' "$secret" | "$vap_seal" put --keyring "$tmp/keyring" --store "$tmp/store" \
        --issuer "$issuer" --client-id "$client_id" client_secret >/dev/null || fail "vap-seal put"
else
    [ ! -e "$tmp/store/client_secret" ] || fail "a client secret is sealed"
fi
printf 'op %s issuer=%s fhir_base=%s/fhir client_id=%s redirect_uri=%s scope="openid fhirUser offline_access" store=%s keyring=%s ca_file=%s%s\n' \
    "$tmp/vap_openemr.so" "$issuer" "$issuer" "$client_id" "$redirect" "$tmp/store" \
    "$tmp/keyring" "$tmp/ca.pem" "${CLIENT_AUTH:+ client_auth=$CLIENT_AUTH}" >"$tmp/plugins.conf"
chmod 0600 "$tmp/plugins.conf"
if [ "${GRANT:-}" = client_credentials ]; then
    printf 'op %s issuer=%s fhir_base=%s/fhir client_id=%s grant=client_credentials client_auth=private_key_jwt scope="api:fhir system/Patient.read system/Appointment.read" store=%s keyring=%s ca_file=%s\n' \
        "$tmp/vap_openemr.so" "$issuer" "$issuer" "$client_id" "$tmp/store" "$tmp/keyring" \
        "$tmp/ca.pem" >"$tmp/plugins.conf"
    cat "$tmp/plugins.conf" >&2
    say "vap-host check (a real client_credentials token request)"
    "$vap_host" -c "$tmp/plugins.conf" check >"$tmp/check.out" 2>&1
    crc=$?
    cat "$tmp/check.out" >&2
    grep -q '✓ token' "$tmp/check.out" || fail "check did not obtain a token (exit $crc)"
    say "vap-host refresh (a client_credentials token)"
    "$vap_host" -c "$tmp/plugins.conf" refresh || fail "vap-host refresh (exit $?)"
    say "interop OK against oidc-provider 9.13.3, client_credentials ($issuer)"
    exit 0
fi
cat "$tmp/plugins.conf" >&2

say "vap-host authorize (listener on port $cb_port)"
mkfifo "$tmp/host.out" || exit 1
"$vap_host" -v -c "$tmp/plugins.conf" authorize --no-browser --wait 60 \
    >"$tmp/host.out" 2>"$tmp/host.err" &
host_pid=$!
exec 3<"$tmp/host.out"
read -r url <&3 || fail "no URL from vap-host: $(cat "$tmp/host.err")"
printf 'URL: %s\n' "$url" >&2

# The browser: a cookie jar, redirects followed one by one, two form posts.
b() { curl -sS --max-time 20 --cacert "$tmp/ca.pem" -b "$tmp/jar" -c "$tmp/jar" "$@"; }
abs() { case $1 in http*) printf '%s' "$1" ;; *) printf '%s%s' "$issuer" "$1" ;; esac; }
next=$url
for step in 1 2 3 4 5 6 7 8 9 10; do
    case $next in "$redirect"*) break ;; esac
    hdr=$(b -o "$tmp/page" -D - "$next") || fail "browser GET $next"
    status=$(printf '%s\n' "$hdr" | head -n 1 | cut -d' ' -f2)
    loc=$(printf '%s\n' "$hdr" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    if [ -n "$loc" ]; then next=$(abs "$loc"); continue; fi
    [ "$status" = 200 ] || fail "browser: $next answered $status: $(cat "$tmp/page")"
    # an interaction page: sign in as alice, or consent
    action=$(sed -n 's/.*<form[^>]*action="\([^"]*\)".*/\1/p' "$tmp/page" | head -n 1)
    if grep -q 'name="login"' "$tmp/page"; then
        data='prompt=login&login=alice&password=x'
    else
        data='prompt=consent'
    fi
    printf 'step %s: POST %s (%s)\n' "$step" "$action" "${data%%&*}" >&2
    hdr=$(b -o "$tmp/page" -D - --data "$data" "$(abs "$action")") || fail "browser POST"
    loc=$(printf '%s\n' "$hdr" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    [ -n "$loc" ] || fail "no redirect after POST: $(cat "$tmp/page")"
    next=$(abs "$loc")
done
case $next in "$redirect"*) ;; *) fail "never reached the redirect URI: $next" ;; esac
printf 'callback: %s\n' "$(printf '%s' "$next" | sed 's/code=[^&]*/code=REDACTED/')" >&2
hdr=$(curl -sS --max-time 30 -o /dev/null -D - "$next") || fail "the listener did not answer"
loc=$(printf '%s\n' "$hdr" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
curl -sS --max-time 10 "http://localhost:$cb_port$loc" >"$tmp/result.html" || true
out=$(cat <&3)
wait "$host_pid"
rc=$?
host_pid=
say "vap-host authorize exit $rc"
printf '%s\n' "$out"
sed 's/^/  stderr: /' "$tmp/host.err" >&2
sed 's/<[^>]*>/ /g' "$tmp/result.html" | tr -s ' ' >&2
echo >&2
[ "$rc" -eq 0 ] || fail "vap-host authorize failed (exit $rc)"

say "vap-host status"
"$vap_host" -c "$tmp/plugins.conf" status || fail "vap-host status (exit $?)"
say "vap-host refresh (the rotated refresh token sealed, generation 2)"
"$vap_host" -c "$tmp/plugins.conf" refresh || fail "vap-host refresh (exit $?)"
say "interop OK against oidc-provider 9.13.3 ($issuer)"
