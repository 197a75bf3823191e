#!/bin/sh
# test_version.sh VERSION PROGRAM... - each program's --version is one line
# "NAME (vap-openemr) VERSION..." with the project's version, exit 0.
set -u
version=$1
shift
for prog in "$@"; do
    name=$(basename "$prog")
    out=$("$prog" --version) || { echo "FAIL $name --version exits $?" >&2; exit 1; }
    case $out in
    "$name (vap-openemr) $version"|"$name (vap-openemr) $version,"*) ;;
    *) echo "FAIL $name --version printed '$out'" >&2; exit 1 ;;
    esac
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || { echo "FAIL $name --version: more than a line" >&2; exit 1; }
done
exit 0
