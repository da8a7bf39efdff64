#!/usr/bin/env bash
# Benchmarks chat-server beside Nchan with chat-bench and writes
# docs/benchmarks.md.
#
# Builds chat-server, chat-bench and chat-bench-reference in release mode,
# installs Debian's nginx and libnginx-mod-nchan when they are missing (as
# root, with apt-get), then runs every scenario that applies against each
# target in turn, one scenario at a time, so all targets see the machine in
# the same state:
#   memory    chat-server, memory store, default flags
#   sqlite    chat-server on a temporary SQLite file (skipped with a note if
#             the server cannot start with it)
#   nchan     nginx + Nchan (scripts/nchan.conf), one worker per core, in a
#             private temporary directory (pid, logs, temp files)
#   reference chat-bench-reference, a bare actix-web app with nothing but an
#             in-memory list and parked polls: the floor for memory per
#             parked poller and for long-poll latency and fan-out
# Every scenario gets a fresh server on a free loopback port, so none
# inherits another's messages, memory or connections. Figures come from
# `chat-bench --json` and are laid out with their ratio to Nchan's and the
# targets of issues 13 and 12 (scripts/bench-report.py).
#
# Sizes can be lowered for a quick try, e.g.
#   FANOUT_POLLERS=500 IDLE_POLLERS=500 GAP_MESSAGES=100 BENCH_OUTPUT=/tmp/b.md scripts/bench.sh
# BENCH_TARGETS (default "memory sqlite nchan reference") picks targets.
# Honours CARGO_TARGET_DIR. Only ever talks to 127.0.0.1; stops by itself and
# stops its servers on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export LATENCY_MESSAGES=${LATENCY_MESSAGES:-1000}
export GAP_MESSAGES=${GAP_MESSAGES:-1000}
export GAP_MIN_MS=${GAP_MIN_MS:-5}
export GAP_MAX_MS=${GAP_MAX_MS:-50}
export GAP_SEED=${GAP_SEED:-1}
export FANOUT_POLLERS=${FANOUT_POLLERS:-10000}
export FANOUT_ROUNDS=${FANOUT_ROUNDS:-3}
export IDLE_POLLERS=${IDLE_POLLERS:-15000}
export IDLE_SECONDS=${IDLE_SECONDS:-10}
# The contract's maximum, what a long-polling client asks for. It is longer
# than the window, so the window measures a server with nothing to do.
export IDLE_POLL_TIMEOUT=${IDLE_POLL_TIMEOUT:-60}
export PUBLISH_CONCURRENCY=${PUBLISH_CONCURRENCY:-64}
export PUBLISH_SECONDS=${PUBLISH_SECONDS:-10}
export CATCHUP_MESSAGES=${CATCHUP_MESSAGES:-100000}
export CATCHUP_CONCURRENCY=${CATCHUP_CONCURRENCY:-32}
export STREAM_MESSAGES=${STREAM_MESSAGES:-$GAP_MESSAGES}
export STREAM_FANOUT=${STREAM_FANOUT:-$FANOUT_POLLERS}
export STREAM_IDLE=${STREAM_IDLE:-$IDLE_POLLERS}
targets=${BENCH_TARGETS:-memory sqlite nchan reference}
output=${BENCH_OUTPUT:-docs/benchmarks.md}
nchan_module=/usr/lib/nginx/modules/ngx_nchan_module.so

echo "== building chat-server, chat-bench and chat-bench-reference (release)" >&2
cargo build --release --locked -p chat-server -p chat-bench
target_dir=${CARGO_TARGET_DIR:-target}
server_bin=$target_dir/release/chat-server
bench_bin=$target_dir/release/chat-bench
reference_bin=$target_dir/release/chat-bench-reference

# Every parked poller is an open socket in each process (nginx's workers
# inherit this limit); chat-server and chat-bench raise theirs themselves.
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench.XXXXXX")
mkdir -p "$work/results"
server_pid=""
server_url=""

# have_nchan: nginx and its Nchan module are installed.
have_nchan() {
    command -v nginx >/dev/null 2>&1 && [ -f "$nchan_module" ]
}

# install_nchan: Debian's packages, with the package lists refreshed only
# when the first try fails. A note in $work/results/nchan.skipped otherwise.
install_nchan() {
    have_nchan && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "nginx with Nchan is not installed, and installing it needs root and apt-get" \
            >"$work/results/nchan.skipped"
        return 0
    fi
    echo "== installing nginx and libnginx-mod-nchan" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q nginx libnginx-mod-nchan >&2; then
        apt-get update -q >&2 && apt-get install -y -q nginx libnginx-mod-nchan >&2 || true
    fi
    have_nchan || echo "apt-get could not install nginx and libnginx-mod-nchan" \
        >"$work/results/nchan.skipped"
}

stop_server() {
    if [ -n "$server_pid" ]; then
        # chat-server answers parked polls at once and exits; nginx's master
        # stops its workers first (a fast shutdown).
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_address COMMAND_NAME: polls $work/server.out for the "listening
# on" line (at most 10 s), giving up early if the process died.
wait_for_address() {
    for _ in $(seq 200); do
        if grep -q "listening on" "$work/server.out"; then
            server_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/server.out" | head -n1)
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            return 1
        fi
        sleep 0.05
    done
    echo "$1 did not report its address within 10 s" >"$work/server.err"
    stop_server
    return 1
}

# free_port: a port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nchan: nginx + Nchan in a fresh private directory on a free port.
start_nchan() {
    local dir port
    dir=$(mktemp -d "$work/nchan.XXXXXX")
    chmod 755 "$dir"
    port=$(free_port)
    sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@WORKERS@#$(nproc)#g" \
        scripts/nchan.conf >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            server_url=http://127.0.0.1:$port
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            cat "$dir/error.log" >>"$work/server.err" 2>/dev/null || true
            return 1
        fi
        sleep 0.05
    done
    echo "nginx did not listen on port $port within 10 s" >"$work/server.err"
    stop_server
    return 1
}

# start_target TARGET NAME: a fresh server for scenario NAME of TARGET; sets
# server_pid and server_url, or returns 1 with its error in $work/server.err.
start_target() {
    : >"$work/server.out"
    : >"$work/server.err"
    case $1 in
    memory | sqlite)
        local store=memory
        [ "$1" = sqlite ] && store="sqlite:$work/$2.db"
        RUST_LOG=warn "$server_bin" --addr 127.0.0.1:0 --store "$store" \
            >"$work/server.out" 2>"$work/server.err" &
        server_pid=$!
        wait_for_address chat-server
        ;;
    reference)
        "$reference_bin" --addr 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
        server_pid=$!
        wait_for_address chat-bench-reference
        ;;
    nchan) start_nchan ;;
    esac
}

# run_scenario TARGET NAME ARGS...: runs `chat-bench ARGS` against a fresh
# server of TARGET and keeps its JSON report as $work/results/TARGET-NAME.json;
# `{server_pid}` in ARGS becomes the server's pid.
run_scenario() {
    local target=$1 name=$2
    shift 2
    [ -f "$work/results/$target.skipped" ] && return 0
    if ! start_target "$target" "$name"; then
        echo "== $target: $name: the server did not start: $(head -n1 "$work/server.err")" >&2
        return 0
    fi
    local args=("${@//\{server_pid\}/$server_pid}")
    local protocol=chat
    [ "$target" = nchan ] && protocol=nchan
    echo "== $target: $name (${args[*]})" >&2
    local status=0
    "$bench_bin" --server "$server_url" --protocol "$protocol" --json "${args[@]}" \
        >"$work/results/$target-$name.json" || status=$?
    # Exit status 1 means the run found errors: its report says which, and it
    # goes into the table. Status 2 means there is no report at all.
    if [ "$status" -ge 2 ]; then
        echo "== $target: $name: chat-bench could not run (exit $status)" >&2
        rm -f "$work/results/$target-$name.json"
    fi
    stop_server
}

# probe TARGET: notes in $work/results/TARGET.skipped why a target cannot run.
probe() {
    [ -f "$work/results/$1.skipped" ] && return 0
    if ! start_target "$1" probe; then
        echo "== $1: skipped: $(head -n1 "$work/server.err")" >&2
        head -n1 "$work/server.err" >"$work/results/$1.skipped"
        return 0
    fi
    stop_server
}

# each SCENARIO_TARGETS NAME ARGS...: runs the scenario on each of the listed
# targets that was asked for.
each() {
    local on=$1
    shift
    for target in $on; do
        case " $targets " in *" $target "*) run_scenario "$target" "$@" ;; esac
    done
}

case " $targets " in *" nchan "*) install_nchan ;; esac
for target in $targets; do probe "$target"; done

started=$(date +%s)
gap=(--gap-min-ms "$GAP_MIN_MS" --gap-max-ms "$GAP_MAX_MS" --seed "$GAP_SEED")
chat_and_nchan="memory sqlite nchan"
each "$chat_and_nchan reference" latency-gap latency --messages "$GAP_MESSAGES" "${gap[@]}"
each "$chat_and_nchan reference" latency-hot latency --messages "$LATENCY_MESSAGES"
each "$chat_and_nchan reference" fanout fanout --pollers "$FANOUT_POLLERS" --rounds "$FANOUT_ROUNDS"
each "$chat_and_nchan reference" idle idle --pollers "$IDLE_POLLERS" --seconds "$IDLE_SECONDS" \
    --poll-timeout "$IDLE_POLL_TIMEOUT" --server-pid "{server_pid}"
each "$chat_and_nchan" publish publish --concurrency "$PUBLISH_CONCURRENCY" --seconds "$PUBLISH_SECONDS"
# Nchan's long poll answers one message per request: no paged catch-up.
each "memory sqlite" catchup catchup --messages "$CATCHUP_MESSAGES" --concurrency "$CATCHUP_CONCURRENCY"
each "$chat_and_nchan" stream-latency stream-latency --messages "$STREAM_MESSAGES" "${gap[@]}"
each "$chat_and_nchan" stream-fanout stream-fanout --streams "$STREAM_FANOUT" --rounds "$FANOUT_ROUNDS"
each "$chat_and_nchan" stream-idle stream-idle --streams "$STREAM_IDLE" --seconds "$IDLE_SECONDS" \
    --server-pid "{server_pid}"

commit=$(git rev-parse --short HEAD)
# Only what the binaries are built from: a changed picture is no caveat.
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock)" ]; then
    commit="$commit (with uncommitted changes to the code)"
fi
export BENCH_MACHINE BENCH_CPU BENCH_CORES BENCH_DATE BENCH_COMMIT BENCH_MINUTES BENCH_NCHAN BENCH_LOAD
BENCH_MACHINE=$(uname -m)
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
BENCH_CORES=$(nproc)
BENCH_DATE=$(date -u +%Y-%m-%d)
BENCH_COMMIT=$commit
BENCH_MINUTES=$(( ($(date +%s) - started + 59) / 60 ))
BENCH_NCHAN=$( (nginx -v 2>&1; dpkg-query -W -f ' libnginx-mod-nchan ${Version}' libnginx-mod-nchan 2>/dev/null) | tr -d '\n' || true)
BENCH_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
python3 scripts/bench-report.py "$work/results" scripts/bench-baseline.json >"$work/benchmarks.md"
# The hand-written history at the end (before and after records, profiling
# notes) is carried over from the previous file.
history_heading='## History: profiling, before and after'
if [ -f "$output" ]; then
    awk -v heading="$history_heading" '$0 == heading { keep = 1 } keep' "$output" > "$work/history.md"
    if [ -s "$work/history.md" ]; then
        { echo; cat "$work/history.md"; } >> "$work/benchmarks.md"
    fi
fi
mv "$work/benchmarks.md" "$output"
if [ -n "${BENCH_FIGURES:-}" ]; then
    # The headline figures as JSON: what scripts/bench-baseline.json holds.
    python3 scripts/bench-report.py "$work/results" --figures >"$BENCH_FIGURES"
fi
echo "== wrote $output" >&2
