#!/bin/sh
# test_scripts_demo.sh SRCDIR BUILDDIR - scripts/demo says what it does, in
# order, before the demo's own output, and the demo runs to its end.  The
# package check sees every package installed (a stand-in dpkg-query), so
# the test never installs anything; the build is the one meson just made.
set -u
src=$1
build=$2
tmp=$(mktemp -d /tmp/scripts-demo.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL scripts_demo: $*" >&2; exit 1; }

printf '#!/bin/sh\nprintf "install ok installed"\n' >"$tmp/dpkg-query"
chmod +x "$tmp/dpkg-query"
PATH="$tmp:$PATH" VAP_DEMO_BUILD="$build" "$src/scripts/demo" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
[ "$rc" -eq 0 ] || fail "exit $rc; stderr: $(tail -n 5 "$tmp/err")"
want="scripts/demo: checking the Debian packages it needs (scripts/deps)
scripts/demo: building in $build/ (ninja; a few minutes the first time on two cores)
scripts/demo: built; running $build/host-sdk/vap-host demo"
[ "$(grep '^scripts/demo: ' "$tmp/err")" = "$want" ] || fail "progress lines: $(grep '^scripts/demo: ' "$tmp/err")"
head -n 1 "$tmp/out" | grep -q '^vap-openemr demo: ' || fail "demo output: $(head -n 2 "$tmp/out")"
grep -q '^9\. ' "$tmp/out" || fail "the demo did not reach step 9"
[ -f "$build/demo-build.log" ] || fail "no build log in $build"
exit 0
