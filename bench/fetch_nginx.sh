#!/bin/sh
# fetch_nginx.sh - issue 8's benchmark: vap_openemr.so's warm fetch beside raw
# libcurl (the floor) and the curl CLI (the naive integration), all against the
# same nginx on loopback HTTPS serving a static 4 KB FHIR Patient behind a
# bearer check; then the cold path (process start -> plugin loaded -> secrets
# unsealed -> first fetch) beside a bare libcurl program's first request, with
# hyperfine.  Prints a table; asserts nothing (benchmarks are not tests).
# Usage: bench/fetch_nginx.sh BUILD_DIR [REQUESTS]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [REQUESTS]}" && pwd)
n=${2:-20000}
bench=$build/bench/fetch-bench
plugin=$build/plugin/vap_openemr.so
dir=$(mktemp -d /tmp/vap-fetchbench-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
chmod 755 "$dir" # nginx workers (nobody) read the document root
cd "$dir"
printf 'cn="vap bench CA"\nca\ncert_signing_key\nexpiration_days=2\n' > ca.tmpl
printf 'cn="127.0.0.1"\nip_address="127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days=2\n' > server.tmpl
certtool --generate-privkey --key-type=ecdsa --no-text --outfile ca.key 2>/dev/null
certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --no-text --outfile ca.pem 2>/dev/null
certtool --generate-privkey --key-type=ecdsa --no-text --outfile server.key 2>/dev/null
certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem \
    --load-ca-privkey ca.key --template server.tmpl --no-text --outfile server.pem 2>/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p www/apis/default/fhir/Patient logs work
chmod 700 work
# A US Core-shaped Patient padded to exactly 4096 bytes.
/usr/bin/python3 - <<'PY'
import json
p = {"resourceType": "Patient", "id": "1",
     "meta": {"versionId": "1", "lastUpdated": "2026-01-05T09:30:00+00:00"},
     "identifier": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "value": "PT000001"}],
     "name": [{"use": "official", "family": "Abernathy", "given": ["Dorothy", "May"]}],
     "telecom": [{"system": "phone", "value": "(555) 010-0101", "use": "home"}],
     "gender": "female", "birthDate": "1959-07-02",
     "address": [{"line": ["12 Elm Street"], "city": "Springfield", "state": "IL", "postalCode": "62701"}],
     "text": {"status": "generated", "div": ""}}
base = len(json.dumps(p, separators=(",", ":")))
p["text"]["div"] = "x" * (4096 - base)
open("www/apis/default/fhir/Patient/1", "w").write(json.dumps(p, separators=(",", ":")))
PY
cat > nginx.conf <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp_body;
    proxy_temp_path $dir/tmp_proxy;
    fastcgi_temp_path $dir/tmp_fcgi;
    uwsgi_temp_path $dir/tmp_uwsgi;
    scgi_temp_path $dir/tmp_scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $dir/server.pem;
        ssl_certificate_key $dir/server.key;
        root $dir/www;
        default_type application/json;
        location /apis/default/fhir/ {
            if (\$http_authorization != "Bearer bench-access-token-0123456789abcdef") { return 401; }
        }
    }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf" &
pid=$!
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "nginx did not start" >&2; cat logs/error.log >&2; exit 1; }
    sleep 0.05
done
base=https://127.0.0.1:$port
"$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" setup
echo "== warm fetch ($n requests per row, nginx on loopback, $(nproc) cores)"
"$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" full "$n"
if command -v hyperfine >/dev/null; then
    echo "== cold path: process start -> first response"
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$dir/cold.md" \
        -n "vap_openemr: load plugin, unseal, first fetch" "$bench $base $dir/ca.pem $plugin $dir/work cold-plugin" \
        -n "bare libcurl: first request" "$bench $base $dir/ca.pem $plugin $dir/work cold-curl" >/dev/null
    cat "$dir/cold.md"
fi
