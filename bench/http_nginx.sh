#!/bin/sh
# http_nginx.sh - run http-bench against nginx on loopback with a throwaway
# CA (certtool), then stop nginx and remove everything.
# Usage: bench/http_nginx.sh BUILD_DIR [REQUESTS_PER_ROUND] [ROUNDS]
set -eu
build=${1:?usage: $0 BUILD_DIR [REQUESTS_PER_ROUND] [ROUNDS]}
n=${2:-2000}
rounds=${3:-6}
bench=$(cd "$build" && pwd)/bench/http-bench
dir=$(mktemp -d /tmp/vap-bench-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# nginx workers run as nobody: they must read the document root
chmod 755 "$dir"
cd "$dir"
printf 'cn="vap bench CA"\nca\ncert_signing_key\nexpiration_days=2\n' > ca.tmpl
printf 'cn="127.0.0.1"\nip_address="127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days=2\n' > server.tmpl
certtool --generate-privkey --key-type=ecdsa --no-text --outfile ca.key 2>/dev/null
certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --no-text --outfile ca.pem 2>/dev/null
certtool --generate-privkey --key-type=ecdsa --no-text --outfile server.key 2>/dev/null
certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem \
    --load-ca-privkey ca.key --template server.tmpl --no-text --outfile server.pem 2>/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p www logs
# a 4 KB body, like a small FHIR resource
head -c 4096 /dev/zero | tr '\0' 'x' > www/patient.json
cat > nginx.conf <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 64; }
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
    }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf" &
pid=$!
# wait for the port (bounded), not for a clock
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "nginx did not start" >&2; cat logs/error.log >&2; exit 1; }
    sleep 0.05
done
"$bench" "https://127.0.0.1:$port/patient.json" "$dir/ca.pem" "$n" "$rounds"
