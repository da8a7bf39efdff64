#!/usr/bin/env bash
# Benchmarks two chat-server instances on one PostgreSQL database with
# chat-bench, and prints the figures (Markdown) on stdout:
#
# - publish rate: `chat-bench publish` against both instances at once, and
#   against one alone, so the sum shows what a second instance adds;
# - delivery latency on one instance (poster and poller on the same one),
#   PostgreSQL against SQLite: what the database round trips and NOTIFY
#   cost;
# - cross-instance delivery (post on A, poll parked on B): chat-bench talks
#   to one server, so this comes from the scale_out test's measurement,
#   which the script runs and quotes.
#
# Needs PostgreSQL at $PG_URL (default postgres://postgres@127.0.0.1:5432);
# creates a database chat_bench_<pid> and drops it on exit. Only ever talks
# to 127.0.0.1. BENCH_PROFILE=debug skips the release build for a quick try
# (figures then mean little).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
profile=${BENCH_PROFILE:-release}
publish_seconds=${PUBLISH_SECONDS:-10}
publish_concurrency=${PUBLISH_CONCURRENCY:-64}
latency_messages=${LATENCY_MESSAGES:-1000}
database=chat_bench_$$

if [ "$profile" = release ]; then
    cargo build --release --locked -p chat-server -p chat-bench >&2
fi
target_dir=${CARGO_TARGET_DIR:-target}
server_bin=$target_dir/$profile/chat-server
bench_bin=$target_dir/$profile/chat-bench

work=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench-pg.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    psql -q "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME STORE: starts a server on a free port, prints its URL.
start_server() {
    local name=$1 store=$2
    RUST_LOG=warn "$server_bin" --addr 127.0.0.1:0 --store "$store" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 100); do
        if grep -q "listening on" "$work/$name.out"; then
            sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/$name.out" | head -n1
            return 0
        fi
        sleep 0.1
    done
    echo "server $name did not start: $(cat "$work/$name.err")" >&2
    return 1
}

bench() {
    "$bench_bin" --quiet --json --server "$@"
}

psql -q "$pg_url/postgres" -c "CREATE DATABASE $database" >/dev/null
store=$pg_url/$database
a=$(start_server a "$store")
b=$(start_server b "$store")
sqlite=$(start_server sqlite "sqlite:$work/chat.db")

echo "## PostgreSQL, two instances ($profile build, $(nproc) cores)"
echo
bench "$a" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/one.json"
bench "$a" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/both-a.json" &
bench_a=$!
bench "$b" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/both-b.json"
wait "$bench_a"
bench "$sqlite" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/sqlite-publish.json"
bench "$a" latency --messages "$latency_messages" >"$work/pg-latency.json"
bench "$sqlite" latency --messages "$latency_messages" >"$work/sqlite-latency.json"

echo "| measurement | figures (chat-bench JSON) |"
echo "| --- | --- |"
for run in one both-a both-b sqlite-publish pg-latency sqlite-latency; do
    echo "| $run | \`$(jq -c . "$work/$run.json")\` |"
done
echo
echo "Cross-instance delivery (scale_out test, debug build):"
cargo test -q -p chat-server --test scale_out -- --nocapture \
    a_poll_parked_on_one_instance 2>&1 | grep "cross-instance delivery" || true
