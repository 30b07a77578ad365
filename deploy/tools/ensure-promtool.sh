#!/usr/bin/env bash
# Print the path of a `promtool` (Prometheus's rule checker and rule unit-test runner), fetching
# it when there is none: from Debian's `prometheus` package, unpacked (not installed: no daemon
# is set up) into ~/.cache/linli/prometheus/<package version>/. Idempotent; fast when present.
#
#   deploy/tools/ensure-promtool.sh          -> /path/to/promtool
#
# Order: $LINLI_PROMTOOL, a promtool on PATH, the newest cached one, then a download with
# `apt-get download prometheus` (as root, `apt-get update` first when the package lists are empty).
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/linli/prometheus"

die() {
    echo "ensure-promtool.sh: $*" >&2
    exit 1
}

if [[ -n "${LINLI_PROMTOOL:-}" ]]; then
    [[ -x "$LINLI_PROMTOOL" ]] || die "LINLI_PROMTOOL=$LINLI_PROMTOOL is not executable"
    echo "$LINLI_PROMTOOL"
    exit 0
fi
if found="$(command -v promtool)"; then
    echo "$found"
    exit 0
fi
cached="$(printf '%s\n' "$CACHE"/*/usr/bin/promtool | sort -V | tail -n1)"
if [[ -x "$cached" ]]; then
    echo "$cached"
    exit 0
fi

command -v apt-get >/dev/null || die "no promtool, and no apt-get to fetch Debian's prometheus package"
# awk reads to the end: one that exits at the first match leaves apt-cache writing into a closed
# pipe, and under pipefail its SIGPIPE (141) ends the script.
candidate() { apt-cache show --no-all-versions prometheus 2>/dev/null | awk '/^Version:/ && !v {v = $2} END {print v}'; }
version="$(candidate)"
if [[ -z "$version" && $(id -u) -eq 0 ]]; then
    apt-get update -qq >/dev/null
    version="$(candidate)"
fi
[[ -n "$version" ]] || die "apt knows no 'prometheus' package (run apt-get update as root)"

target="$CACHE/${version//[^A-Za-z0-9.+~-]/_}"
work="$(mktemp -d)"
chmod 0777 "$work"  # apt-get download hands the file to the _apt user when run as root
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq "prometheus=$version" >/dev/null)
mkdir -p "$target.partial"
dpkg-deb -x "$work"/prometheus_*.deb "$target.partial"
[[ -x "$target.partial/usr/bin/promtool" ]] || die "the prometheus package has no usr/bin/promtool"
rm -rf "$target"
mv "$target.partial" "$target"
echo "$target/usr/bin/promtool"
