#!/bin/sh
# perf_nginx.sh - the performance figures side by side, in one run against
# one nginx (loopback HTTPS, a 4 KB FHIR Patient behind a bearer check):
#   1. callgrind instructions per warm request: vap_openemr.so's fetch beside
#      raw libcurl with the same headers (curl_easy_perform, and the same on
#      a multi handle of its own, as a cancellable client runs it), with a
#      short and an 800-character token (load-independent: the difference of
#      two loop lengths);
#   2. req/s at 1, 16 and 64 threads (fetch-bench full);
#   3. cold start: process start to first response, the plugin (through a
#      host that links only the loader) beside a bare libcurl program and
#      beside the same request as a module opened as the loader opens the
#      plugin, the floor for any plugin built on libcurl, and as a module
#      that also maps the plugin's other libraries (wall clock, and
#      callgrind's whole-process instructions);
#   4. 1,000 instances in one process: RSS, threads and descriptors per idle
#      instance (default options and warm_connections=0), instance_new and
#      instance_free, round-robin fetches from 16 threads beside one instance.
# With PLUGINS="a.so b.so" each figure is given for every plugin (e.g. a
# baseline build's beside this one's).  Asserts nothing: benchmarks are not
# tests.
# Usage: bench/perf_nginx.sh BUILD_DIR [REQUESTS]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [REQUESTS]}" && pwd)
n=${2:-20000}
bench=$build/bench/fetch-bench
plugins=${PLUGINS:-$build/plugin/vap_openemr.so}
short=bench-access-token-0123456789abcdef
long=$(/usr/bin/python3 -c 'print("eyJ" + "a" * 797)')
# 1,000 instances keep 1,000+ connections open
BENCH_NGINX_CONNS=8192 BENCH_NGINX_FDS=20000
export BENCH_NGINX_CONNS BENCH_NGINX_FDS
. "$(dirname "$0")/nginx_lib.sh"
bench_nginx_start "location /apis/default/fhir/ {
            if (\$http_authorization !~ \"^Bearer ($short|$long)\$\") { return 401; }
        }"
mkdir -p "$dir/www/apis/default/fhir/Patient"
head -c 4096 /dev/zero | tr '\0' x >"$dir/www/apis/default/fhir/Patient/1"
for t in short long; do
    mkdir -p "$dir/work-$t" && chmod 700 "$dir/work-$t"
    eval tok=\$$t
    VAP_BENCH_TOKEN=$tok "$bench" "$base" "$dir/ca.pem" "$plugins" "$dir/work-$t" setup
done
w=$dir/work-short

# Instructions of MODE over N requests, from callgrind's totals.
cg_total() { # COMMAND...
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$@" >/dev/null 2>&1
    awk '/^summary:/ { print $2 }' "$dir/cg.out"
}
ir() { # TOKEN PLUGIN MODE N WORK
    (VAP_BENCH_TOKEN=$1 && export VAP_BENCH_TOKEN &&
        cg_total "$bench" "$base" "$dir/ca.pem" "$2" "$dir/work-$5" "$3" "$4")
}
# Cold start: a program linking libcurl only; the same request built as a
# module and dlopen'ed as a host loads a plugin (the floor of any plugin on
# libcurl); the plugin through a host that links only the loader.
cold_curl="$build/bench/cold-curl $base/apis/default/fhir/Patient/1 $dir/ca.pem $short 4096"
cold_dlopen="$build/bench/cold-dlopen $build/bench/cold-curl-module.so $base/apis/default/fhir/Patient/1 $dir/ca.pem $short 4096"
cold_libs="$build/bench/cold-dlopen $build/bench/cold-curl-module-libs.so $base/apis/default/fhir/Patient/1 $dir/ca.pem $short 4096"
cold_plugin_bin=$build/bench/cold-plugin
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3fx", a / b }'; }
per_req() { # TOKEN PLUGIN MODE WORK
    # a thousand requests, the median of three such differences: how often
    # libcurl polls before the answer is in varies with timing, by up to ~1k
    # instructions per request from one run to the next
    for k in 1 2 3; do
        a=$(ir "$1" "$2" "$3" 20 "$4"); b=$(ir "$1" "$2" "$3" 1020 "$4")
        echo $(((b - a) / 1000))
    done | sort -n | sed -n 2p
}
if [ -z "${SKIP_CALLGRIND:-}" ] && command -v valgrind >/dev/null; then
    echo "== callgrind: instructions per warm GET (1,000 requests: the difference of 1,020 and 20, median of 3)"
    printf '%-44s %10s %10s\n' "" "short" "800 chars"
    p1=${plugins%% *}
    rs=$(per_req "$short" "$p1" loop-raw short); rl=$(per_req "$long" "$p1" loop-raw long)
    printf '%-44s %10s %10s\n' "raw libcurl, same headers" "$rs" "$rl"
    ms=$(per_req "$short" "$p1" loop-multi short); ml=$(per_req "$long" "$p1" loop-multi long)
    printf '%-44s %10s %10s\n' "  the same on a multi handle (cancellable)" "$ms" "$ml"
    for p in $plugins; do
        ps=$(per_req "$short" "$p" loop-plugin short); pl=$(per_req "$long" "$p" loop-plugin long)
        printf '%-44s %10s %10s\n' "$(basename "$(dirname "$(dirname "$p")")")/vap_openemr.so fetch" "$ps" "$pl"
        printf '%-44s %10s %10s\n' "  over raw" "+$((ps - rs))" "+$((pl - rl))"
        printf '%-44s %10s %10s\n' "  ratio to raw" "$(ratio "$ps" "$rs")" "$(ratio "$pl" "$rl")"
    done
    echo "== callgrind: whole process, start to first response (cold start, renewer thread included)"
    c0=$(cg_total $cold_curl); c1=$(cg_total $cold_dlopen); c2=$(cg_total $cold_libs)
    printf '%-52s %12s %8s\n' "bare libcurl program (the goal's peer)" "$c0" "1.000x"
    printf '%-52s %12s %8s\n' "the same request as a module, opened as the loader" "$c1" "$(ratio "$c1" "$c0")"
    printf '%-52s %12s %8s\n' "  the module also mapping GnuTLS, Jansson, sodium" "$c2" "$(ratio "$c2" "$c0")"
    for p in $plugins; do
        cp=$(cg_total "$cold_plugin_bin" "$p" "$base" "$dir/ca.pem" "$w" 4096)
        [ -n "$c0" ] && [ -n "$cp" ] || { echo "callgrind gave no totals"; break; }
        printf '%-52s %12s %8s  (%s over the module with those libraries)\n' \
            "$(basename "$(dirname "$(dirname "$p")")")/vap_openemr.so load+instance+fetch" \
            "$cp" "$(ratio "$cp" "$c0")" "$(ratio "$cp" "$c2")"
    done
fi

for p in $plugins; do
    echo "== $p"
    echo "-- warm fetch ($n requests per row, $(nproc) cores)"
    "$bench" "$base" "$dir/ca.pem" "$p" "$w" full "$n" | grep -v '^RSS'
    echo "-- cold start: process start -> plugin loaded -> unsealed -> first response"
    if command -v hyperfine >/dev/null; then
        # forward, then reversed: neither end always runs on the warmer machine
        cp="$cold_plugin_bin $p $base $dir/ca.pem $w 4096"
        hyperfine -N --warmup 10 --runs 200 --export-json "$dir/c1.json" -n plugin "$cp" \
            -n libs "$cold_libs" -n module "$cold_dlopen" -n curl "$cold_curl" >/dev/null
        hyperfine -N --warmup 10 --runs 200 --export-json "$dir/c2.json" -n curl "$cold_curl" \
            -n module "$cold_dlopen" -n libs "$cold_libs" -n plugin "$cp" >/dev/null
        /usr/bin/python3 - "$dir/c1.json" "$dir/c2.json" <<'PY'
import json, sys
runs = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        runs.setdefault(r["command"], []).extend(r["times"])
med = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in runs.items()}
mean = {k: sum(v) / len(v) * 1e3 for k, v in runs.items()}
names = {"curl": "bare libcurl program", "module": "the same as a dlopen'ed module",
         "libs": "  also mapping GnuTLS, Jansson, sodium", "plugin": "vap_openemr.so load+instance+fetch"}
for k in ("curl", "module", "libs", "plugin"):
    print(f"{names[k]:38s} median {med[k]:6.2f} ms ({med[k] / med['curl']:.3f}x), "
          f"mean {mean[k]:6.2f} ms ({len(runs[k])} runs, hyperfine)")
print(f"plugin over the module with those libraries: {med['plugin'] / med['libs']:.3f}x median")
PY
        # hyperfine runs each command's 200 in a block, so a drift of the
        # machine's speed lands on one of them: the same four again, one
        # run of each per round in rotated order
        /usr/bin/python3 - "$cp" "$cold_libs" "$cold_dlopen" "$cold_curl" <<'PY'
import statistics, subprocess, sys, time
names = ["plugin", "libs", "module", "curl"]
cmds = [c.split() for c in sys.argv[1:]]
times = {n: [] for n in names}
for r in range(200):
    for i in range(4):
        k = (r + i) % 4
        t = time.perf_counter()
        subprocess.run(cmds[k], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[names[k]].append(time.perf_counter() - t)
med = {n: statistics.median(v) * 1e3 for n, v in times.items()}
print("interleaved (200 rounds, one run of each per round, medians): " +
      ", ".join(f"{n} {med[n]:.2f} ms ({med[n] / med['curl']:.3f}x)" for n in reversed(names)))
PY
    else
        echo "(hyperfine not installed: apt-get install hyperfine; mean of 20 instead)"
        for c in "$cold_curl" "$cold_dlopen" "$cold_libs" "$cold_plugin_bin $p $base $dir/ca.pem $w 4096"; do
            s=$(date +%s%N)
            i=0; while [ $i -lt 20 ]; do $c; i=$((i + 1)); done
            echo "${c%% *}: $((($(date +%s%N) - s) / 20000)) us"
        done
    fi
    echo "-- 1,000 instances in one process"
    "$bench" "$base" "$dir/ca.pem" "$p" "$w" many 1000 default
    "$bench" "$base" "$dir/ca.pem" "$p" "$w" many 1000 0 4000
done
