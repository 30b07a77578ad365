#!/usr/bin/env bash
# The benches' load generator: wrk from Debian's packages (bench/wrk.py calls this when missing).
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "wrk is missing: run 'sudo apt-get install -y wrk' (Debian/Ubuntu)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y --no-install-recommends wrk
}
