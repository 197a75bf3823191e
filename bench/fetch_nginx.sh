#!/bin/sh
# fetch_nginx.sh - the fetch benchmark: vap_openemr.so's warm fetch beside raw
# libcurl (the floor) and the curl CLI (the naive integration), all against the
# same nginx on loopback HTTPS serving a static 4 KB FHIR Patient behind a
# bearer check; then the cold path (process start -> plugin loaded -> secrets
# unsealed -> first fetch) beside a bare libcurl program's first request and
# the same request as a dlopen'ed module, with hyperfine.  Prints a table; asserts nothing (benchmarks are not tests).
# Usage: bench/fetch_nginx.sh BUILD_DIR [REQUESTS]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [REQUESTS]}" && pwd)
n=${2:-20000}
bench=$build/bench/fetch-bench
plugin=$build/plugin/vap_openemr.so
. "$(dirname "$0")/nginx_lib.sh"
bench_nginx_start 'location /apis/default/fhir/ {
            if ($http_authorization != "Bearer bench-access-token-0123456789abcdef") { return 401; }
        }'
mkdir -p "$dir/www/apis/default/fhir/Patient" "$dir/work"
chmod 700 "$dir/work"
# A US Core-shaped Patient padded to exactly 4096 bytes.
/usr/bin/python3 - "$dir/www/apis/default/fhir/Patient/1" <<'PY'
import json, sys
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
open(sys.argv[1], "w").write(json.dumps(p, separators=(",", ":")))
PY
"$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" setup
echo "== warm fetch ($n requests per row, nginx on loopback, $(nproc) cores)"
"$bench" "$base" "$dir/ca.pem" "$plugin" "$dir/work" full "$n"
if command -v hyperfine >/dev/null; then
    echo "== cold path: process start -> first response"
    url=$base/apis/default/fhir/Patient/1 tok=bench-access-token-0123456789abcdef
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$dir/cold.md" \
        -n "vap_openemr: load plugin, unseal, first fetch" \
        "$build/bench/cold-plugin $plugin $base $dir/ca.pem $dir/work 4096" \
        -n "the same request as a dlopen'ed libcurl module" \
        "$build/bench/cold-dlopen $build/bench/cold-curl-module.so $url $dir/ca.pem $tok 4096" \
        -n "bare libcurl: first request" "$build/bench/cold-curl $url $dir/ca.pem $tok 4096" >/dev/null
    cat "$dir/cold.md"
fi
