#!/usr/bin/env bash
# What access control costs: `chat-bench publish` (64 posters, memory store)
# against chat-server without an access-control file and with one, where
# every POST carries a bearer token the server digests and looks up. The two
# take turns, ROUNDS times, so both see the machine in the same state; the
# script prints each run and the ratio of the means (Markdown) on stdout.
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

# run MODE: one publish run against a fresh server; prints its POSTs/s.
run() {
    local server_args=(--store memory --addr 127.0.0.1:0)
    local bench_args=()
    if [ "$1" = on ]; then
        server_args+=(--auth-file "$work/auth.toml")
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
    python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["posts_per_second"]))' "$work/report.json"
}

echo "| round | access control off (POSTs/s) | on, every POST with a token (POSTs/s) |"
echo "| --- | --- | --- |"
off_total=0
on_total=0
for round in $(seq 1 "$rounds"); do
    off=$(run off)
    on=$(run on)
    off_total=$((off_total + off))
    on_total=$((on_total + on))
    echo "| $round | $off | $on |"
done
python3 -c 'import sys; off, on = map(int, sys.argv[1:]); print(f"\nwith access control on: {on / off:.2f}x the rate without it (means of the rounds)")' "$off_total" "$on_total"
