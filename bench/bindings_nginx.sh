#!/bin/sh
# bindings_nginx.sh - the bindings' benchmark: the Python binding beside
# python3-requests and the Node binding beside Node's global fetch, with the
# C host's CPU per request for scale, all against the nginx the fetch bench
# uses (bench/nginx_lib.sh: loopback HTTPS, a static 4 KB FHIR Patient behind
# a bearer check).  Prints tables; asserts nothing (benchmarks are not tests).
# Usage: bench/bindings_nginx.sh BUILD_DIR [REQUESTS]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [REQUESTS]}" && pwd)
n=${2:-10000}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/bench/fetch-bench
plugin=$build/plugin/vap_openemr.so
export VAP_HOST_LIB=$build/host-sdk/libvaphost.so.1
. "$here/nginx_lib.sh"
bench_nginx_start 'location /apis/default/fhir/ {
            if ($http_authorization != "Bearer bench-access-token-0123456789abcdef") { return 401; }
        }'
mkdir -p "$dir/www/apis/default/fhir/Patient" "$dir/work"
chmod 700 "$dir/work"
/usr/bin/python3 - "$dir/www/apis/default/fhir/Patient/1" <<'PY'
import json, sys
p = {"resourceType": "Patient", "id": "1", "name": [{"family": "Abernathy", "given": ["Dorothy"]}],
     "birthDate": "1959-07-02", "text": {"status": "generated", "div": ""}}
p["text"]["div"] = "x" * (4096 - len(json.dumps(p, separators=(",", ":"))))
open(sys.argv[1], "w").write(json.dumps(p, separators=(",", ":")))
PY
"$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" setup
echo "== $n requests per row, nginx on loopback, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The C host: CPU per warm fetch on one thread (user+system over n requests).
if [ -x /usr/bin/time ]; then # Debian package "time"
    /usr/bin/time -f '%U %S' -o "$dir/c.time" "$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" loop-plugin "$n"
    awk -v n="$n" '{ printf "C host (fetch-bench loop-plugin), 1 thread: %.1f us CPU per request\n", ($1 + $2) * 1e6 / n }' "$dir/c.time"
fi
PYTHONPATH=$here/../bindings/python /usr/bin/python3 "$here/bindings_bench.py" "$base" "$dir/ca.pem" "$plugin" "$dir/work" "$n"
# The Node binding's koffi, from its lockfile, as scripts/test-bindings does.
[ -d "$here/../bindings/node/node_modules/koffi" ] ||
    (cd "$here/../bindings/node" && npm ci --no-audit --no-fund --loglevel=error)
NODE_EXTRA_CA_CERTS=$dir/ca.pem node "$here/bindings_bench.cjs" "$base" "$dir/ca.pem" "$plugin" "$dir/work" "$n"
