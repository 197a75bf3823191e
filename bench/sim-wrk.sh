#!/bin/sh
# bench/sim-wrk.sh: authenticated ~4 KB FHIR Patient reads from openemr-sim
# over keep-alive TLS, measured with wrk.  Not a test: prints wrk's report.
#   bench/sim-wrk.sh BUILD_DIR [DURATION_S] [CONNECTIONS] [SIM_THREADS] [WRK_THREADS]
set -eu
build=${1:?usage: sim-wrk.sh BUILD_DIR [DURATION_S] [CONNECTIONS] [SIM_THREADS] [WRK_THREADS]}
dur=${2:-10}; conns=${3:-32}; simthreads=${4:-2}; wrkthreads=${5:-2}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
redirect=http://127.0.0.1:9/cb
"$build/tests/sim/openemr-sim" --port 0 --quiet --state-dir "$dir" --threads "$simthreads" \
    --auto-approve admin --patients 1000 \
    --client "bench:bench-secret:$redirect:openid api:fhir launch/patient patient/Patient.read" \
    > "$dir/url" &
pid=$!
while [ ! -s "$dir/url" ]; do kill -0 "$pid" || exit 1; sleep 0.1; done
base=$(cat "$dir/url")
curl_() { curl -sS --cacert "$dir/ca.pem" "$@"; }
loc=$(curl_ -o /dev/null -w '%{redirect_url}' \
    "$base/oauth2/default/authorize?response_type=code&client_id=bench&redirect_uri=$redirect&state=s&scope=openid%20api:fhir%20launch/patient%20patient/Patient.read")
code=$(printf '%s' "$loc" | sed 's/.*[?&]code=\([^&]*\).*/\1/')
tok=$(curl_ -d grant_type=authorization_code -d "code=$code" -d "redirect_uri=$redirect" \
    -d client_id=bench -d client_secret=bench-secret "$base/oauth2/default/token")
at=$(printf '%s' "$tok" | jq -r .access_token)
patient=$(printf '%s' "$tok" | jq -r .patient)
url="$base/apis/default/fhir/Patient/$patient"
bytes=$(curl_ -H "Authorization: Bearer $at" "$url" | wc -c)
echo "Patient body: $bytes bytes; sim threads $simthreads; wrk -t$wrkthreads -c$conns -d${dur}s"
# CPU the simulator itself spends per request, which does not depend on how
# busy the (shared) machine is: utime+stime ticks from /proc before and after.
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu)
wrk -t"$wrkthreads" -c"$conns" -d"${dur}s" -H "Authorization: Bearer $at" "$url" | tee "$dir/wrk"
c1=$(cpu)
reqs=$(awk '/requests in/{print $1}' "$dir/wrk")
hz=$(getconf CLK_TCK)
awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$reqs" 'BEGIN {
    if (n > 0) printf "simulator CPU: %.2f s for %d requests = %.1f us/request (%.0f req/s per core)\n",
        c / hz, n, c / hz / n * 1e6, n / (c / hz) }'
uptime
