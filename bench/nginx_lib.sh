# nginx_lib.sh - sourced by the benchmark scripts: a throwaway CA and server
# certificate (certtool), nginx on a free 127.0.0.1 port serving $dir/www over
# HTTPS with keep-alive, stopped and removed on exit.  Benchmarks only: no
# test depends on it.
#
#   . bench/nginx_lib.sh
#   bench_nginx_start "LOCATION BLOCKS"   # sets $dir, $port, $base, $pid
#
# The caller fills $dir/www before or after starting (nginx reads per request).

bench_cleanup() {
    if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}

bench_nginx_start() {
    locations=${1:-}
    dir=$(mktemp -d /tmp/vap-bench-XXXXXX)
    pid=
    trap bench_cleanup EXIT INT TERM
    chmod 755 "$dir" # nginx workers (nobody) read the document root
    mkdir -p "$dir/www" "$dir/logs"
    printf 'cn="vap bench CA"\nca\ncert_signing_key\nexpiration_days=2\n' >"$dir/ca.tmpl"
    printf 'cn="127.0.0.1"\nip_address="127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days=2\n' >"$dir/server.tmpl"
    certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$dir/ca.key" 2>/dev/null
    certtool --generate-self-signed --load-privkey "$dir/ca.key" --template "$dir/ca.tmpl" \
        --no-text --outfile "$dir/ca.pem" 2>/dev/null
    certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$dir/server.key" 2>/dev/null
    certtool --generate-certificate --load-privkey "$dir/server.key" --load-ca-certificate "$dir/ca.pem" \
        --load-ca-privkey "$dir/ca.key" --template "$dir/server.tmpl" --no-text \
        --outfile "$dir/server.pem" 2>/dev/null
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
worker_rlimit_nofile ${BENCH_NGINX_FDS:-1024};
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections ${BENCH_NGINX_CONNS:-256}; }
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
        $locations
    }
}
CONF
    nginx -p "$dir" -c "$dir/nginx.conf" &
    pid=$!
    # wait for the port (bounded), not for a clock
    i=0
    while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "nginx did not start" >&2; cat "$dir/logs/error.log" >&2; exit 1; }
        sleep 0.05
    done
    base=https://127.0.0.1:$port
}
