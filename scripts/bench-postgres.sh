#!/usr/bin/env bash
# Benchmarks two chat-server instances on one PostgreSQL database with
# chat-bench, and prints the figures (Markdown) on stdout:
#
# - publish rate: `chat-bench publish` against both instances at once, and
#   against one alone, so the sum shows what a second instance adds; SQLite
#   beside it;
# - delivery latency after random idle gaps (5-50 ms), poster on A: poller
#   on A (one instance), poller parked on B (across instances: the commit's
#   NOTIFY wakes B), event stream on B, and SQLite beside them;
# - fan-out: 10,000 pollers split between A and B, one POST to A;
# - NOTIFY's cost: the store's append transaction run by pgbench with and
#   without its pg_notify, on the same database.
#
# Needs PostgreSQL at $PG_URL (default postgres://postgres@127.0.0.1:5432),
# with its client tools psql and pgbench (Debian's postgresql-client), and jq;
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
fanout_pollers=${FANOUT_POLLERS:-10000}
pgbench_seconds=${PGBENCH_SECONDS:-10}
database=chat_bench_$$
for tool in psql pgbench jq; do
    command -v "$tool" >/dev/null || { echo "bench-postgres: $tool is not installed" >&2; exit 1; }
done

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

# start_server NAME STORE: starts a server on a free port and sets
# server_url to its URL. (Not run in a command substitution: its pid must
# reach `pids` in this shell, for the cleanup.)
start_server() {
    local name=$1 store=$2
    RUST_LOG=warn "$server_bin" --addr 127.0.0.1:0 --store "$store" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 100); do
        if grep -q "listening on" "$work/$name.out"; then
            server_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/$name.out" | head -n1)
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
start_server a "$store"
a=$server_url
start_server b "$store"
b=$server_url
start_server sqlite "sqlite:$work/chat.db"
sqlite=$server_url

gaps=(--gap-min-ms 5 --gap-max-ms 50)
echo "running: publish" >&2
bench "$a" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/one.json"
bench "$a" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/both-a.json" &
bench_a=$!
bench "$b" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/both-b.json"
wait "$bench_a"
bench "$sqlite" publish --seconds "$publish_seconds" --concurrency "$publish_concurrency" >"$work/sqlite-publish.json"
echo "running: latency" >&2
bench "$a" latency --messages "$latency_messages" "${gaps[@]}" >"$work/same.json"
bench "$a" --subscribe-server "$b" latency --messages "$latency_messages" "${gaps[@]}" >"$work/across.json"
bench "$a" --subscribe-server "$b" stream-latency --messages "$latency_messages" "${gaps[@]}" >"$work/across-stream.json"
bench "$sqlite" latency --messages "$latency_messages" "${gaps[@]}" >"$work/sqlite-latency.json"
echo "running: fan-out to $fanout_pollers pollers on A and B" >&2
bench "$a" --subscribe-server "$a" --subscribe-server "$b" fanout --pollers "$fanout_pollers" --rounds 3 >"$work/fanout.json"

# NOTIFY's cost: the writer's transaction for one message (lock the room
# row, insert, move last_id), with and without the pg_notify on the channel
# both instances listen on, 16 clients over 64 rooms.
echo "running: pgbench with and without NOTIFY" >&2
append_sql() {
    cat <<SQL
\\set r random(1, 64)
BEGIN;
INSERT INTO rooms (room) VALUES ('pgbench-' || :r) ON CONFLICT DO NOTHING;
SELECT last_id FROM rooms WHERE room = 'pgbench-' || :r FOR UPDATE;
INSERT INTO messages (room, id, created_at, body) VALUES ('pgbench-' || :r, gen_random_uuid(), now(), 'x');
UPDATE rooms SET last_id = gen_random_uuid() WHERE room = 'pgbench-' || :r;
$1
COMMIT;
SQL
}
append_sql "" >"$work/plain.sql"
append_sql "SELECT pg_notify('chat_messages', gen_random_uuid() || ' pgbench-' || :r);" >"$work/notify.sql"
pgbench_tps() {
    pgbench -n -c 16 -j 2 -T "$pgbench_seconds" -f "$1" "$store" 2>"$work/pgbench.err" |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
plain_tps=$(pgbench_tps "$work/plain.sql") || { cat "$work/pgbench.err" >&2; exit 1; }
notify_tps=$(pgbench_tps "$work/notify.sql") || { cat "$work/pgbench.err" >&2; exit 1; }

# Milliseconds with two decimals.
ms='def ms: . * 100 | round / 100 | tostring + " ms";'
rate() { jq -r "$ms"'"\(.posts_per_second | round) posts/s (p50 \(.latency.p50_ms | ms), p99 \(.latency.p99_ms | ms), \(.errors) errors)"' "$work/$1.json"; }
delivery() { jq -r "$ms"'"p50 \(.delivery.p50_ms | ms), p99 \(.delivery.p99_ms | ms) (\(.verification.received)/\(.posted) received, \(.errors) errors)"' "$work/$1.json"; }

echo "## PostgreSQL, two instances ($profile build, $(nproc) cores)"
echo
echo "| measurement | PostgreSQL | SQLite (one instance) |"
echo "| --- | --- | --- |"
echo "| publish, one instance alone | $(rate one) | $(rate sqlite-publish) |"
both=$(jq -s 'map(.posts_per_second) | add | round' "$work/both-a.json" "$work/both-b.json")
echo "| publish, both instances at once | **$both posts/s**: A $(rate both-a); B $(rate both-b) | - |"
echo "| delivery after 5-50 ms gaps, poster and poller on A | $(delivery same) | $(delivery sqlite-latency) |"
echo "| delivery after 5-50 ms gaps, post on A, poll parked on B | $(delivery across) | - |"
echo "| delivery after 5-50 ms gaps, post on A, event stream on B | $(delivery across-stream) | - |"
echo "| fan-out to $fanout_pollers pollers split over A and B, last served (3 rounds) | $(jq -r "$ms"'[.rounds[].delivery.max_ms | ms] | join(", ")' "$work/fanout.json") ($(jq -r '.errors' "$work/fanout.json") errors) | - |"
echo "| the append transaction in pgbench (16 clients), without / with NOTIFY | ${plain_tps%.*} / ${notify_tps%.*} transactions/s | - |"
echo
echo "chat-bench JSON:"
echo
for run in one both-a both-b sqlite-publish same across across-stream sqlite-latency fanout; do
    echo "- $run: \`$(jq -c 'del(.rounds[]?.verification)' "$work/$run.json")\`"
done
