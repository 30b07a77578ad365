#!/usr/bin/env bash
# Throwaway PostgreSQL cluster on 127.0.0.1, without Docker.
#
#   postgres.sh install          apt-get install postgresql when no initdb is present
#   postgres.sh start DIR PORT   initdb DIR/data if needed, start, wait for pg_isready
#   postgres.sh stop DIR         pg_ctl stop -m fast (data is kept; start again to restart)
#   postgres.sh kill DIR         pg_ctl stop -m immediate (crash-like; recovery on next start)
#   postgres.sh status DIR       exit 0 when the cluster in DIR is running
#   postgres.sh purge DIR        stop and delete the cluster's data
#
# The server refuses to run as root, so when run as root it runs as the
# unprivileged `postgres` system user (created by the Debian package).  If that
# user cannot reach DIR (e.g. DIR is below root's 0700 pytest temp directory) or
# the socket path would be too long, the cluster lives in /tmp/linli-pg/<hash of DIR>
# instead and DIR/data is a symlink to it; stale ones are garbage-collected on start.
#
# Connect with: postgresql://postgres@127.0.0.1:PORT/postgres  (trust auth)
set -euo pipefail

PG_USER="${LINLI_PG_USER:-postgres}"
SHADOW_ROOT="${LINLI_PG_SHADOW_ROOT:-/tmp/linli-pg}"
START_TIMEOUT="${LINLI_PG_START_TIMEOUT:-60}"
# The test suite turns it off: its cluster lives for one run and gathers a database per test, and
# the launcher visits every database each minute (a fifth of a core with a thousand of them).
AUTOVACUUM="${LINLI_PG_AUTOVACUUM:-on}"

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -e/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

find_bin() {
    local initdb
    initdb="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"
    [[ -x "$initdb" ]] || return 1
    dirname "$initdb"
}

cmd_install() {
    find_bin >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and we are not root (apt-get install postgresql)"
    # Do not let the package create and start the default cluster on :5432.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/linli-no-main.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    find_bin >/dev/null || die "apt-get install postgresql did not provide initdb"
}

as_pg() {
    # Run from / so that an unreadable caller cwd does not upset pg_ctl/initdb.
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

ensure_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    id -u "$PG_USER" >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
}

abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd -P)
}

# Where the cluster of DIR lives (data/, socket, log): DIR itself or a shadow dir.
# Decided on the first start and remembered in DIR/pg.rundir.
rundir_of() {
    local dir="$1"
    if [[ -f "$dir/pg.rundir" ]]; then
        cat "$dir/pg.rundir"
        return 0
    fi
    return 1
}

choose_rundir() {
    local dir="$1" port="$2" rundir
    if rundir="$(rundir_of "$dir")"; then
        if [[ "$rundir" == "$dir" || -f "$rundir/owner" ]]; then
            echo "$rundir"
            return 0
        fi
        rm -f "$dir/pg.rundir" # its shadow vanished (e.g. /tmp was cleaned): start afresh
    fi
    if [[ $(id -u) -eq 0 ]]; then
        chown "$PG_USER": "$dir"
        chmod 0700 "$dir"
    fi
    local sock="$dir/.s.PGSQL.$port"
    if as_pg test -w "$dir" && ((${#sock} <= 100)); then
        rundir="$dir"
    else
        local key
        key="$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
        rundir="$SHADOW_ROOT/$key"
        # Record the link first, so a concurrent gc_shadows never sees an orphan.
        echo "$rundir" >"$dir/pg.rundir"
        mkdir -p "$SHADOW_ROOT"
        chmod 0755 "$SHADOW_ROOT"
        mkdir -p "$rundir"
        printf '%s\n' "$dir" >"$rundir/owner"
        [[ $(id -u) -ne 0 ]] || chown "$PG_USER": "$rundir"
        chmod 0700 "$rundir"
        ln -sfn "$rundir/data" "$dir/data"
        ln -sfn "$rundir/postgres.log" "$dir/postgres.log"
    fi
    echo "$rundir" >"$dir/pg.rundir"
    echo "$rundir"
}

# Remove shadow clusters whose DIR is gone (pytest deletes old temp dirs) and
# whose server is not running.  Shadows touched in the last 10 minutes are left alone.
gc_shadows() {
    [[ -d "$SHADOW_ROOT" ]] || return 0
    local sd owner
    for sd in "$SHADOW_ROOT"/*/; do
        sd="${sd%/}"
        [[ -f "$sd/owner" ]] || continue
        [[ -z "$(find "$sd/owner" -mmin -10 2>/dev/null)" ]] || continue
        owner="$(cat "$sd/owner")"
        if [[ -f "$owner/pg.rundir" && "$(cat "$owner/pg.rundir")" == "$sd" ]]; then
            continue
        fi
        if [[ -f "$sd/data/postmaster.pid" ]]; then
            local pid
            pid="$(head -n1 "$sd/data/postmaster.pid")"
            if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                continue
            fi
        fi
        rm -rf "$sd"
    done
}

log_tail() {
    local log="$1/postgres.log"
    if [[ -f "$log" ]]; then
        echo "---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2
    fi
}

is_running() {
    local bin="$1" rundir="$2"
    [[ -f "$rundir/data/PG_VERSION" ]] || return 1
    as_pg "$bin/pg_ctl" status -D "$rundir/data" >/dev/null 2>&1
}

cmd_start() {
    [[ $# -eq 2 ]] || usage
    local dir port bin rundir
    dir="$(abs_dir "$1")"
    port="$2"
    [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
    cmd_install
    bin="$(find_bin)"
    ensure_user
    gc_shadows
    rundir="$(choose_rundir "$dir" "$port")"

    if is_running "$bin" "$rundir"; then
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5 && return 0
        die "cluster in $dir is running but not answering on 127.0.0.1:$port"
    fi

    if [[ ! -f "$rundir/data/PG_VERSION" ]]; then
        local locale_opt=(--no-locale)
        if locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' >/dev/null; then
            locale_opt=(--locale=C.UTF-8)
        fi
        rm -rf "$rundir/data"
        if ! as_pg "$bin/initdb" -D "$rundir/data" -U postgres --auth=trust -E UTF8 \
            "${locale_opt[@]}" --no-sync >"$dir/initdb.log" 2>&1; then
            tail -n 40 "$dir/initdb.log" >&2
            die "initdb failed"
        fi
        echo "include = 'linli.conf'" >>"$rundir/data/postgresql.conf"
    fi

    # Rewritten on every start (the port may change between runs).
    cat >"$rundir/data/linli.conf" <<EOF
# Generated by deploy/local/postgres.sh -- rewritten on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$rundir'
max_connections = 200
fsync = on
autovacuum = $AUTOVACUUM
logging_collector = off
log_min_messages = warning
log_checkpoints = off
EOF
    [[ $(id -u) -ne 0 ]] || chown "$PG_USER": "$rundir/data/linli.conf"

    if ! as_pg "$bin/pg_ctl" start -D "$rundir/data" -l "$rundir/postgres.log" \
        -w -t "$START_TIMEOUT" -s >/dev/null 2>&1; then
        log_tail "$rundir"
        die "PostgreSQL did not start on 127.0.0.1:$port"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; do
        if ((SECONDS >= deadline)); then
            log_tail "$rundir"
            die "PostgreSQL not ready on 127.0.0.1:$port after ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
    head -n1 "$rundir/data/postmaster.pid" >"$dir/postgres.pid"
}

stop_mode() {
    local mode="$1" dir bin rundir
    [[ -d "$2" ]] || return 0
    dir="$(abs_dir "$2")"
    rundir="$(rundir_of "$dir")" || return 0
    bin="$(find_bin)" || return 0
    if is_running "$bin" "$rundir"; then
        if ! as_pg "$bin/pg_ctl" stop -D "$rundir/data" -m "$mode" -w -t 60 -s >/dev/null 2>&1; then
            log_tail "$rundir"
            die "pg_ctl stop -m $mode failed for $dir"
        fi
    fi
    rm -f "$dir/postgres.pid"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    [[ -d "$1" ]] || return 1
    local dir rundir bin
    dir="$(abs_dir "$1")"
    rundir="$(rundir_of "$dir")" || return 1
    bin="$(find_bin)" || return 1
    is_running "$bin" "$rundir"
}

cmd_purge() {
    [[ $# -eq 1 ]] || usage
    [[ -d "$1" ]] || return 0
    local dir rundir
    # The data goes next: no shutdown checkpoint to wait for, and no lingering backend (a fast
    # shutdown waits for every backend to exit) can make a test run's teardown fail.
    stop_mode immediate "$1"
    dir="$(abs_dir "$1")"
    if rundir="$(rundir_of "$dir")"; then
        if [[ "$rundir" == "$dir" ]]; then
            rm -rf "$dir/data" "$dir/postgres.log"
        else
            rm -rf "$rundir"
            rm -f "$dir/data" "$dir/postgres.log"
        fi
    fi
    rm -f "$dir/pg.rundir" "$dir/postgres.pid" "$dir/initdb.log"
}

case "${1:-}" in
install) shift; cmd_install "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; [[ $# -eq 1 ]] || usage; stop_mode fast "$1" ;;
kill) shift; [[ $# -eq 1 ]] || usage; stop_mode immediate "$1" ;;
status) shift; cmd_status "$@" ;;
purge) shift; cmd_purge "$@" ;;
*) usage ;;
esac
