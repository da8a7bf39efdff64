#!/usr/bin/env bash
# What access control and rate limiting cost: `chat-bench publish` (64
# posters, memory store) against chat-server without an access-control file
# and with one, where every POST carries a bearer token the server digests
# and looks up, and with a --post-rate that is never reached (every POST is
# still counted against it). The two take turns, ROUNDS times, so both see
# the machine in the same state; the script prints each run (rate, latency
# p50 / p99) and the ratio of the mean rates (Markdown) on stdout.
# Only ever talks to 127.0.0.1; everything it writes goes to a temporary
# directory it removes.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
seconds=${PUBLISH_SECONDS:-5}
concurrency=${PUBLISH_CONCURRENCY:-64}

cargo build --release --locked -p chat-server -p chat-bench >&2
bin=target/release
work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The bench posts as author `chat-bench`: the token must have that name.
"$bin/chat-server" token new chat-bench --write '*' >"$work/token.out"
token=$(head -n 1 "$work/token.out")
tail -n +2 "$work/token.out" >"$work/auth.toml"

# run MODE: one publish run against a fresh server; prints its POSTs/s,
# then its latency p50 / p99.
run() {
    local server_args=(--store memory --addr 127.0.0.1:0)
    local bench_args=()
    if [ "$1" = on ]; then
        server_args+=(--auth-file "$work/auth.toml" --post-rate 1000000/s:1000000)
        bench_args+=(--token "$token")
    fi
    RUST_LOG=warn "$bin/chat-server" "${server_args[@]}" >"$work/server.out" 2>&1 &
    server_pid=$!
    local addr=
    for _ in $(seq 1 100); do
        addr=$(sed -n 's/^chat-server listening on \(http:[^ ]*\).*/\1/p' "$work/server.out")
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "chat-server did not start" >&2; exit 1; }
    "$bin/chat-bench" --server "$addr" "${bench_args[@]}" --quiet --json \
        publish --concurrency "$concurrency" --seconds "$seconds" >"$work/report.json"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    # chat-bench exits non-zero on any failed or unverified request.
    python3 - "$work/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
latency = report["latency"]
print(round(report["posts_per_second"]), "%.2f / %.2f ms" % (latency["p50_ms"], latency["p99_ms"]))
EOF
}

echo "| round | off: POSTs/s | off: latency p50 / p99 | on (token, rate limit): POSTs/s | on: latency p50 / p99 |"
echo "| --- | --- | --- | --- | --- |"
off_total=0
on_total=0
for round in $(seq 1 "$rounds"); do
    result=$(run off)
    read -r off off_latency <<<"$result"
    result=$(run on)
    read -r on on_latency <<<"$result"
    off_total=$((off_total + off))
    on_total=$((on_total + on))
    echo "| $round | $off | $off_latency | $on | $on_latency |"
done
python3 -c 'import sys; off, on = map(int, sys.argv[1:]); print(f"\nwith access control and a rate limit on: {on / off:.2f}x the rate without them (means of the rounds)")' "$off_total" "$on_total"
