#!/bin/sh
# http_nginx.sh - run http-bench (the plugin's HTTP layer beside a bare libcurl
# handle, same run) against nginx on loopback with a throwaway CA, then stop
# nginx and remove everything.
# Usage: bench/http_nginx.sh BUILD_DIR [REQUESTS_PER_ROUND] [ROUNDS]
set -eu
build=${1:?usage: $0 BUILD_DIR [REQUESTS_PER_ROUND] [ROUNDS]}
n=${2:-2000}
rounds=${3:-6}
bench=$(cd "$build" && pwd)/bench/http-bench
. "$(dirname "$0")/nginx_lib.sh"
bench_nginx_start ""
# a 4 KB body, like a small FHIR resource
head -c 4096 /dev/zero | tr '\0' 'x' >"$dir/www/patient.json"
"$bench" "$base/patient.json" "$dir/ca.pem" "$n" "$rounds"
