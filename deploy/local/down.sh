#!/usr/bin/env bash
# Stop what up.sh started (only the processes recorded in the state directory).
#   LINLI_LOCAL_DIR   state directory (default: <repo>/.local/run)
# Data is kept; `up.sh` starts the same cluster again.  Delete the state
# directory (after down.sh) to start from scratch.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${LINLI_LOCAL_DIR:-$REPO/.local/run}"
[[ -d "$STATE" ]] || exit 0

rc=0
"$HERE/kafka.sh" stop "$STATE/kafka" || rc=1
"$HERE/postgres.sh" stop "$STATE/postgres" || rc=1
exit "$rc"
