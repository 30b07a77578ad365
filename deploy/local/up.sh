#!/usr/bin/env bash
# Start a local Kafka broker and PostgreSQL cluster for development/tests.
#   deploy/local/up.sh            then:  source "$STATE/env"
# Environment:
#   LINLI_LOCAL_DIR         state directory (default: <repo>/.local/run)
#   LINLI_LOCAL_KAFKA_PORT  Kafka client port (default: a free port; reused from the
#                           previous run in the same state dir when possible)
#   LINLI_LOCAL_KAFKA_CONTROLLER_PORT  KRaft controller port (default: a free port)
#   LINLI_LOCAL_PG_PORT     PostgreSQL port (default: a free port)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${LINLI_LOCAL_DIR:-$REPO/.local/run}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd -P)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Port recorded by a previous run (so `up` after `down` keeps the same URLs).
previous_port() {
    [[ -f "$STATE/ports" ]] && sed -n "s/^$1=//p" "$STATE/ports" | head -n1
}

pick_port() {
    local explicit="$1" key="$2" port
    if [[ -n "$explicit" ]]; then
        echo "$explicit"
        return
    fi
    port="$(previous_port "$key" || true)"
    if [[ -n "$port" ]] && python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null; then
        echo "$port"
        return
    fi
    free_port
}

"$HERE/kafka.sh" install
"$HERE/postgres.sh" install

if "$HERE/kafka.sh" status "$STATE/kafka" && [[ -f "$STATE/ports" ]]; then
    KAFKA_PORT="$(previous_port kafka)"
    KAFKA_CONTROLLER_PORT="$(previous_port kafka_controller)"
else
    KAFKA_PORT="$(pick_port "${LINLI_LOCAL_KAFKA_PORT:-}" kafka)"
    KAFKA_CONTROLLER_PORT="$(pick_port "${LINLI_LOCAL_KAFKA_CONTROLLER_PORT:-}" kafka_controller)"
    while [[ "$KAFKA_CONTROLLER_PORT" == "$KAFKA_PORT" ]]; do KAFKA_CONTROLLER_PORT="$(free_port)"; done
fi
if "$HERE/postgres.sh" status "$STATE/postgres" && [[ -f "$STATE/ports" ]]; then
    PG_PORT="$(previous_port postgres)"
else
    PG_PORT="$(pick_port "${LINLI_LOCAL_PG_PORT:-}" postgres)"
fi

cat >"$STATE/ports" <<EOF2
kafka=$KAFKA_PORT
kafka_controller=$KAFKA_CONTROLLER_PORT
postgres=$PG_PORT
EOF2

"$HERE/kafka.sh" start "$STATE/kafka" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
"$HERE/postgres.sh" start "$STATE/postgres" "$PG_PORT"

cat >"$STATE/env" <<EOF2
export LINLI_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export LINLI_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
EOF2
cat "$STATE/env"
