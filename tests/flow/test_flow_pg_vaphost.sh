#!/bin/sh
# test_flow_pg_vaphost.sh VAP_HOST PLUGIN VAP_SEAL
#
# vap-host db init against a PostgreSQL 15 started here (as nobody when the
# test is root: initdb refuses root), on a Unix socket in a temp directory:
# it creates the shared grant's table once and says so, a second run changes
# nothing, an instance without grant_store is told there is no table to
# make, and a grant_store with a password is refused (exit 2) without the
# password in the message.  Exits 77 when the PostgreSQL binaries are
# missing.
set -u
vap_host=$1
plugin_src=$2
vap_seal=$3
bin=${VAP_PG_BIN:-/usr/lib/postgresql/15/bin}

fail() { echo "FAIL: $*" >&2; exit 1; }
for b in initdb pg_ctl postgres psql; do
    [ -x "$bin/$b" ] || { echo "SKIP: $bin/$b is missing: install postgresql-15 (scripts/deps)"; exit 77; }
done

pg=$(mktemp -d /tmp/vap-pg-vaphost.XXXXXX) || exit 1
tmp=$(mktemp -d /tmp/vap-pg-cfg.XXXXXX) || exit 1
runas=
if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$pg"
    runas="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
cleanup() {
    $runas "$bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$pg" "$tmp"
}
trap cleanup EXIT
$runas "$bin/initdb" -D "$pg/data" -U postgres --auth-local=trust --no-sync >"$pg/initdb.log" 2>&1 ||
    fail "initdb: $(tail -3 "$pg/initdb.log")"
# No TCP at all: the socket in the temp directory only.
$runas "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-p 5432 -k $pg -c listen_addresses=''" start >/dev/null || fail "the server did not start"

chmod 700 "$tmp"
"$vap_seal" init --keyring "$tmp/keyring" >/dev/null || fail "vap-seal init"
mkdir -m 700 "$tmp/store"
cp "$plugin_src" "$tmp/vap_openemr.so"
line="openemr $tmp/vap_openemr.so issuer=https://emr.example.org/oauth2/default \
fhir_base=https://emr.example.org/apis/default/fhir client_id=fleet-client \
store=$tmp/store keyring=$tmp/keyring"
printf '%s grant_store="host=%s user=postgres dbname=postgres"\n' "$line" "$pg" >"$tmp/pg.conf"
printf '%s\n' "$line" >"$tmp/file.conf"
printf '%s grant_store=postgresql://vap:pw-7c1e9a@db.example.org/vap\n' "$line" >"$tmp/pw.conf"
chmod 600 "$tmp"/*.conf

out=$("$vap_host" -c "$tmp/pg.conf" db init 2>&1) || fail "db init: $out"
echo "$out" | grep -q "created the table vap_grant" || fail "db init does not say it created the table: $out"
"$bin/psql" -h "$pg" -U postgres -d postgres -Atc \
    "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'vap_grant'" \
    >"$tmp/cols" 2>&1 || fail "psql: $(cat "$tmp/cols")"
grep -q "^practice,generation,sealed,updated_at,lease_until,lease_at$" "$tmp/cols" ||
    fail "the table's columns: $(cat "$tmp/cols")"
out=$("$vap_host" -c "$tmp/pg.conf" db init 2>&1) || fail "db init again: $out"
echo "$out" | grep -q "already there; nothing changed" || fail "db init again: $out"

out=$("$vap_host" -c "$tmp/file.conf" db init 2>&1)
rc=$?
[ $rc = 2 ] || fail "db init on a file store: exit $rc, not 2: $out"
echo "$out" | grep -q "keeps its grant in a file" || fail "db init on a file store: $out"

out=$("$vap_host" -c "$tmp/pw.conf" db init 2>&1)
rc=$?
[ $rc = 2 ] || fail "a password in grant_store: exit $rc, not 2: $out"
echo "$out" | grep -q "pgpass" || fail "a password in grant_store: the message names no ~/.pgpass: $out"
echo "$out" | grep -q "pw-7c1e9a" && fail "a password in grant_store is echoed: $out"
echo "PASS"
exit 0
