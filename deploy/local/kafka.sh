#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1,
# without Docker.  Jars come from Maven Central (see kafka/pom.xml) and are cached
# outside the repository.
#
#   kafka.sh install                          fetch the broker jars once (idempotent)
#   kafka.sh start DIR PORT CONTROLLER_PORT [SASL_PORT]
#                                             format DIR/data if needed, start, wait until ready;
#                                             with SASL_PORT also a SASL_SSL listener (below)
#   kafka.sh acls DIR ACLCOMMAND_ARGS...      kafka-acls (AclCommand) against the broker in DIR
#   kafka.sh stop DIR                         SIGTERM, wait up to 30 s, then SIGKILL
#   kafka.sh kill DIR                         SIGKILL immediately (crash simulation)
#   kafka.sh status DIR                       exit 0 when the recorded broker process is alive
#
# Environment:
#   LINLI_KAFKA_VERSION     Kafka version (default: <kafka.version> in kafka/pom.xml)
#   LINLI_KAFKA_CACHE       jar cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/linli)
#   LINLI_MAVEN_REPO        Maven local repository for install (default: Maven's, ~/.m2)
#   LINLI_KAFKA_JVM_OPTS    JVM options (default: small heap, C1 only, serial GC:
#                           starts ~2 s faster than the defaults on a 2-core box)
#   LINLI_KAFKA_START_TIMEOUT  seconds to wait for readiness (default: 60)
#   LINLI_KAFKA_LOG4J       log4j2 config file (default: kafka/log4j2.properties)
#   LINLI_KAFKA_SCRAM_USERS SCRAM-SHA-512 users of the SASL_SSL listener, "name:password ..."
#                           (created when DIR/data is formatted)
#
# SASL_SSL listener (production's security, SCRAM-SHA-512 over TLS): a CA and a broker
# certificate for 127.0.0.1 are generated with keytool into DIR/tls at the first start
# (clients trust DIR/tls/ca.crt); ACLs are enforced by the StandardAuthorizer. The PLAINTEXT
# and CONTROLLER listeners stay unauthenticated and their principal (ANONYMOUS) is a super
# user, so everything that uses PLAINTEXT works as before.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/kafka/pom.xml"
LOG4J_CONF="${LINLI_KAFKA_LOG4J:-$HERE/kafka/log4j2.properties}"
DEFAULT_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
KAFKA_VERSION="${LINLI_KAFKA_VERSION:-$DEFAULT_VERSION}"
CACHE_ROOT="${LINLI_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/linli}"
# Keyed by the pom too, so checkouts with different poms do not refetch over each other.
POM_KEY="$(sha256sum "$POM" | cut -c1-8)"
LIBS="$CACHE_ROOT/kafka-$KAFKA_VERSION-$POM_KEY/libs"
JVM_OPTS="${LINLI_KAFKA_JVM_OPTS:--Xms128m -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
START_TIMEOUT="${LINLI_KAFKA_START_TIMEOUT:-60}"

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -e/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- install ---

ensure_tools() {
    local missing=()
    command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]} (and not root, cannot apt-get install)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# The stamp records which pom the cache was built from; a changed pom refetches.
stamp_value() {
    echo "$KAFKA_VERSION $(sha256sum "$POM" | cut -d' ' -f1)"
}

cache_ok() {
    [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$(stamp_value)" ]]
}

cmd_install() {
    cache_ok && return 0
    ensure_tools
    mkdir -p "$CACHE_ROOT"
    # Serialise concurrent installs (e.g. pytest-xdist workers).
    exec 9>"$CACHE_ROOT/.kafka-$KAFKA_VERSION.lock"
    flock 9
    if cache_ok; then
        exec 9>&-
        return 0
    fi
    local tmp log
    tmp="$(mktemp -d "$CACHE_ROOT/.kafka-$KAFKA_VERSION.XXXXXX")"
    log="$tmp.mvn.log"
    local repo_opt=()
    [[ -z "${LINLI_MAVEN_REPO:-}" ]] || repo_opt=(-Dmaven.repo.local="$LINLI_MAVEN_REPO")
    if ! mvn -q -B -Dstyle.color=never "${repo_opt[@]}" -f "$POM" \
        -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -rf "$tmp" "$log"
        die "maven could not fetch kafka_2.13:$KAFKA_VERSION"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar fetched into $tmp"
    stamp_value >"$tmp/.complete"
    rm -rf "$LIBS" "$log"
    mkdir -p "$(dirname "$LIBS")"
    mv "$tmp" "$LIBS"
    exec 9>&-
}

# ------------------------------------------------------------ processes ---

# PID recorded in DIR/kafka.pid if that process is alive and really is our broker.
live_pid() {
    local dir="$1" pid state cmdline
    [[ -f "$dir/kafka.pid" ]] || return 1
    pid="$(cat "$dir/kafka.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # A SIGKILLed child of a non-reaping init lingers as a zombie: treat as dead.
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)"
    [[ "$state" != Z && "$state" != X ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *"kafka.Kafka $dir/server.properties"* ]] || return 1
    echo "$pid"
}

wait_gone() {
    local dir="$1" deadline=$((SECONDS + $2))
    while live_pid "$dir" >/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

log_tail() {
    if [[ -f "$1/kafka.log" ]]; then
        echo "---- last lines of $1/kafka.log ----" >&2
        tail -n 40 "$1/kafka.log" >&2
    fi
}

# Ready = the PLAINTEXT listener answers a Metadata request that lists broker 1.
# (KRaft binds the socket before it serves requests, so a TCP connect alone is
# not enough.)  Pure stdlib Kafka protocol: ApiVersions v0, then Metadata v1..v8.
probe() {
    python3 - "$1" <<'PY'
import socket, struct, sys

port = int(sys.argv[1])

def call(sock, api_key, version, body, corr):
    client = b"linli-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = b""
    while len(size) < 4:
        chunk = sock.recv(4 - len(size))
        if not chunk:
            raise EOFError
        size += chunk
    (n,) = struct.unpack(">i", size)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    if struct.unpack(">i", data[:4])[0] != corr:
        raise ValueError("correlation id mismatch")
    return data[4:]

try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        r = call(s, 18, 0, b"", 1)  # ApiVersions v0
        (err, count) = struct.unpack(">hi", r[:6])
        versions = {}
        for i in range(count):
            k, lo, hi = struct.unpack(">hhh", r[6 + 6 * i: 12 + 6 * i])
            versions[k] = (lo, hi)
        if err or 3 not in versions:
            sys.exit(1)
        lo, hi = versions[3]
        v = min(hi, 8)  # v9+ uses the flexible encoding; v1..v8 share a prefix
        if v < max(lo, 1):
            sys.exit(0)  # cannot ask; ApiVersions answered, good enough
        body = struct.pack(">i", -1)  # all topics (null array)
        if v >= 4:
            body += b"\x00"  # allow_auto_topic_creation = false
        if v >= 8:
            body += b"\x00\x00"  # include_*_authorized_operations
        r = call(s, 3, v, body, 2)
        off = 4 if v >= 3 else 0  # throttle_time_ms
        (nbrokers,) = struct.unpack(">i", r[off:off + 4])
        sys.exit(0 if nbrokers >= 1 else 1)
except (OSError, EOFError, ValueError, struct.error):
    sys.exit(1)
PY
}

# A CA and a broker certificate (SAN 127.0.0.1, localhost), made once per state dir.
ensure_tls() {
    local tls="$1/tls" pass
    [[ -f "$tls/broker.p12" && -f "$tls/ca.crt" && -f "$tls/password" ]] && return 0
    rm -rf "$tls"
    mkdir -p "$tls"
    pass="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    local kt=(keytool -noprompt -storetype PKCS12 -storepass "$pass" -keypass "$pass")
    {
        "${kt[@]}" -genkeypair -alias ca -dname CN=linli-local-ca -ext bc:c -keyalg RSA \
            -keysize 2048 -validity 3650 -keystore "$tls/ca.p12" &&
            "${kt[@]}" -exportcert -rfc -alias ca -keystore "$tls/ca.p12" -file "$tls/ca.crt" &&
            "${kt[@]}" -genkeypair -alias broker -dname CN=127.0.0.1 -keyalg RSA -keysize 2048 \
                -validity 3650 -keystore "$tls/broker.p12" &&
            "${kt[@]}" -certreq -alias broker -keystore "$tls/broker.p12" -file "$tls/broker.csr" &&
            "${kt[@]}" -gencert -alias ca -keystore "$tls/ca.p12" -infile "$tls/broker.csr" -rfc \
                -ext SAN=ip:127.0.0.1,dns:localhost -validity 3650 -outfile "$tls/broker.crt" &&
            "${kt[@]}" -importcert -alias ca -file "$tls/ca.crt" -keystore "$tls/broker.p12" &&
            "${kt[@]}" -importcert -alias broker -file "$tls/broker.crt" -keystore "$tls/broker.p12"
    } >"$tls/keytool.log" 2>&1 || {
        tail -n 20 "$tls/keytool.log" >&2
        die "could not make the broker certificate in $tls"
    }
    echo "$pass" >"$tls/password"
}

write_config() {
    local dir="$1" port="$2" cport="$3" sport="${4:-}"
    local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    local advertised="PLAINTEXT://127.0.0.1:$port"
    local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [[ -n "$sport" ]]; then
        listeners+=",SASL_SSL://127.0.0.1:$sport"
        advertised+=",SASL_SSL://127.0.0.1:$sport"
        protocols+=",SASL_SSL:SASL_SSL"
    fi
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/local/kafka.sh -- rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true

offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1

# Fast single-node start/rejoin.
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
controller.quorum.election.timeout.ms=500
controller.quorum.fetch.timeout.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.retention.check.interval.ms=60000
auto.leader.rebalance.enable=false
EOF
    if [[ -n "$sport" ]]; then
        local pass
        pass="$(cat "$dir/tls/password")"
        cat >>"$dir/server.properties" <<EOF

# SASL_SSL: SCRAM-SHA-512 over TLS, ACLs enforced; PLAINTEXT/CONTROLLER are super users.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
    fi
}

cmd_start() {
    [[ $# -eq 3 || $# -eq 4 ]] || usage
    local dir port cport sport pid
    mkdir -p "$1"
    dir="$(cd "$1" && pwd -P)"
    port="$2"
    cport="$3"
    sport="${4:-}"
    [[ "$port" =~ ^[0-9]+$ && "$cport" =~ ^[0-9]+$ ]] || die "ports must be numbers"
    [[ -z "$sport" || "$sport" =~ ^[0-9]+$ ]] || die "ports must be numbers"

    if pid="$(live_pid "$dir")"; then
        probe "$port" && return 0
        die "broker already running in $dir (pid $pid) but not answering on 127.0.0.1:$port"
    fi
    cmd_install

    [[ -z "$sport" ]] || ensure_tls "$dir"
    write_config "$dir" "$port" "$cport" "$sport"
    local cp="$LIBS/*" java_opts=()
    read -r -a java_opts <<<"$JVM_OPTS"
    java_opts+=(
        -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$LOG4J_CONF"
        -Dkafka.logs.dir="$dir"
    )

    # Format storage only once, so that a restart keeps the data.
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        local cluster_id
        # Like Kafka's own Uuid.randomUuid: never starting with "-", which the CLI would read
        # as an option (one id in 64 did, and the broker then failed to format).
        cluster_id="$(python3 -c 'import base64, uuid
while (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(i)')"
        local scram=() user
        for user in ${LINLI_KAFKA_SCRAM_USERS:-}; do
            scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
        done
        if ! java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$cp" \
            kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" \
            >"$dir/format.log" 2>&1; then
            tail -n 40 "$dir/format.log" >&2
            die "formatting $dir/data failed"
        fi
    fi

    # setsid: own session, so a Ctrl-C aimed at the caller does not hit the broker.
    # The inner shell records its own PID and then becomes java via exec, so the
    # PID file is right whether or not setsid had to fork.
    rm -f "$dir/kafka.pid"
    echo "---- start $(date -Is) port=$port controller=$cport ----" >>"$dir/kafka.log"
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid bash -c 'echo $$ >"$0/kafka.pid.tmp" && mv "$0/kafka.pid.tmp" "$0/kafka.pid" && exec "$@"' \
        "$dir" java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/kafka.log" 2>&1 &
    local deadline=$((SECONDS + START_TIMEOUT))
    while [[ ! -s "$dir/kafka.pid" ]]; do
        ((SECONDS < deadline)) || die "broker did not record its PID in $dir/kafka.pid"
        sleep 0.05
    done
    pid="$(cat "$dir/kafka.pid")"

    while :; do
        if ! live_pid "$dir" >/dev/null; then
            log_tail "$dir"
            die "broker exited during start-up"
        fi
        if probe "$port"; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$dir"
            kill -KILL "$pid" 2>/dev/null || true
            die "broker not ready on 127.0.0.1:$port after ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

cmd_acls() {
    [[ $# -ge 2 ]] || usage
    local dir port
    dir="$(cd "$1" && pwd -P)"
    shift
    port="$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\).*|\1|p' "$dir/server.properties")"
    [[ -n "$port" ]] || die "no PLAINTEXT listener in $dir/server.properties"
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -cp "$LIBS/*" org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$port" "$@"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    [[ -d "$1" ]] || return 0
    local dir pid
    dir="$(cd "$1" && pwd -P)"
    if pid="$(live_pid "$dir")"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$dir" 30; then
            echo "kafka.sh: broker $pid ignored SIGTERM for 30s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$dir" 10 || die "broker $pid did not die"
        fi
    fi
    rm -f "$dir/kafka.pid"
}

cmd_kill() {
    [[ $# -eq 1 ]] || usage
    [[ -d "$1" ]] || return 0
    local dir pid
    dir="$(cd "$1" && pwd -P)"
    if pid="$(live_pid "$dir")"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$dir" 10 || die "broker $pid did not die"
    fi
    rm -f "$dir/kafka.pid"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    [[ -d "$1" ]] || return 1
    live_pid "$(cd "$1" && pwd -P)" >/dev/null
}

case "${1:-}" in
install) shift; cmd_install "$@" ;;
start) shift; cmd_start "$@" ;;
acls) shift; cmd_acls "$@" ;;
stop) shift; cmd_stop "$@" ;;
kill) shift; cmd_kill "$@" ;;
status) shift; cmd_status "$@" ;;
*) usage ;;
esac
