#!/usr/bin/env bash
# Benchmarks chat-server with chat-bench and writes docs/benchmarks.md.
#
# Builds both in release mode, then for each store (memory, and SQLite on a
# temporary file, skipped with a note if the server cannot start with it) runs
# every scenario against a fresh chat-server on a free loopback port, so no
# scenario inherits another's messages, memory or connections. Figures are
# gathered from `chat-bench --json` and laid out next to their targets and the
# Nchan reference numbers.
#
# Sizes can be lowered for a quick try, e.g.
#   FANOUT_POLLERS=500 IDLE_POLLERS=500 BENCH_OUTPUT=/tmp/b.md scripts/bench.sh
# Honours CARGO_TARGET_DIR. Only ever talks to 127.0.0.1; stops by itself and
# kills its servers on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

latency_messages=${LATENCY_MESSAGES:-1000}
fanout_pollers=${FANOUT_POLLERS:-10000}
# Nchan's published fan-out figure is for 5,000 subscribers.
fanout_nchan_pollers=${FANOUT_NCHAN_POLLERS:-5000}
fanout_rounds=${FANOUT_ROUNDS:-3}
idle_pollers=${IDLE_POLLERS:-15000}
idle_seconds=${IDLE_SECONDS:-20}
# The contract's maximum, what a long-polling client asks for. It is longer
# than the window, so the window measures a server with nothing to do; the
# pollers still re-poll whenever a timeout runs out (set it below the window
# to pay for re-polls too).
idle_poll_timeout=${IDLE_POLL_TIMEOUT:-60}
publish_concurrency=${PUBLISH_CONCURRENCY:-64}
publish_seconds=${PUBLISH_SECONDS:-10}
catchup_messages=${CATCHUP_MESSAGES:-100000}
catchup_concurrency=${CATCHUP_CONCURRENCY:-32}
output=${BENCH_OUTPUT:-docs/benchmarks.md}

echo "== building chat-server and chat-bench (release)" >&2
cargo build --release --locked -p chat-server -p chat-bench
target_dir=${CARGO_TARGET_DIR:-target}
server_bin=$target_dir/release/chat-server
bench_bin=$target_dir/release/chat-bench

# Every parked poller is an open socket in each process; both raise their soft
# limit themselves, this makes the hard limit visible to anything else started.
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench.XXXXXX")
server_pid=""
server_url=""

stop_server() {
    if [ -n "$server_pid" ]; then
        # SIGTERM answers parked polls at once; the server then exits.
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

# start_server STORE: starts a server on a free port; sets server_pid and
# server_url, or returns 1 with the server's own error in $work/server.err.
start_server() {
    local store=$1
    : >"$work/server.out"
    RUST_LOG=warn "$server_bin" --addr 127.0.0.1:0 --store "$store" \
        >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    # The server prints its address once it is bound; poll for that line
    # (at most 10 s) and give up early if the process dies.
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
    echo "chat-server did not report its address within 10 s" >"$work/server.err"
    stop_server
    return 1
}

# run_scenario LABEL STORE_TEMPLATE NAME ARGS...: runs `chat-bench ARGS`
# against a fresh server and keeps its JSON report as
# $work/results/LABEL-NAME.json. `{name}` in the template becomes NAME, so each
# server gets a database of its own; `{server_pid}` in ARGS becomes the pid.
run_scenario() {
    local label=$1 store=${2//\{name\}/$3} name=$3
    shift 3
    if ! start_server "$store"; then
        echo "== $label: $name: the server did not start: $(head -n1 "$work/server.err")" >&2
        return 0
    fi
    local args=("${@//\{server_pid\}/$server_pid}")
    echo "== $label: $name (${args[*]})" >&2
    local status=0
    "$bench_bin" --server "$server_url" --json "${args[@]}" \
        >"$work/results/$label-$name.json" || status=$?
    # Exit status 1 means the run found errors: its report says which, and it
    # goes into the table. Status 2 means there is no report at all.
    if [ "$status" -ge 2 ]; then
        echo "== $label: $name: chat-bench could not run (exit $status)" >&2
        rm -f "$work/results/$label-$name.json"
    fi
    stop_server
}

# run_store LABEL STORE_TEMPLATE: every scenario for one store, or a note
# saying why the store was skipped.
run_store() {
    local label=$1 template=$2
    if ! start_server "${template//\{name\}/probe}"; then
        echo "== $label: skipped, chat-server cannot start with it: $(head -n1 "$work/server.err")" >&2
        head -n1 "$work/server.err" >"$work/results/$label.skipped"
        return 0
    fi
    stop_server
    run_scenario "$label" "$template" latency latency --messages "$latency_messages"
    run_scenario "$label" "$template" fanout fanout --pollers "$fanout_pollers" --rounds "$fanout_rounds"
    run_scenario "$label" "$template" fanout-nchan fanout --pollers "$fanout_nchan_pollers" --rounds "$fanout_rounds"
    run_scenario "$label" "$template" idle idle --pollers "$idle_pollers" --seconds "$idle_seconds" \
        --poll-timeout "$idle_poll_timeout" --server-pid "{server_pid}"
    run_scenario "$label" "$template" publish publish --concurrency "$publish_concurrency" --seconds "$publish_seconds"
    run_scenario "$label" "$template" catchup catchup --messages "$catchup_messages" \
        --concurrency "$catchup_concurrency"
}

mkdir -p "$work/results"
run_store memory memory
run_store sqlite "sqlite:$work/{name}.db"

commit=$(git rev-parse --short HEAD)
# Only what the binaries are built from: a changed picture is no caveat.
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock)" ]; then
    commit="$commit (with uncommitted changes to the code)"
fi
export BENCH_MACHINE BENCH_CPU BENCH_CORES BENCH_DATE BENCH_COMMIT BENCH_SIZES
BENCH_MACHINE=$(uname -m)
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
BENCH_CORES=$(nproc)
BENCH_DATE=$(date -u +%Y-%m-%d)
BENCH_COMMIT=$commit
BENCH_SIZES="$latency_messages $fanout_pollers $fanout_nchan_pollers $fanout_rounds $idle_pollers $idle_seconds $idle_poll_timeout $publish_concurrency $publish_seconds $catchup_messages $catchup_concurrency"
python3 - "$work/results" >"$work/benchmarks.md" <<'PY'
"""Lays the chat-bench JSON reports out as docs/benchmarks.md."""
import json
import os
import sys
from pathlib import Path

results = Path(sys.argv[1])
(latency_n, fanout_n, nchan_n, rounds, idle_n, idle_s, idle_timeout,
 publish_c, publish_s, catchup_n, catchup_c) = (int(v) for v in os.environ["BENCH_SIZES"].split())
STORES = [("memory", "memory"), ("sqlite", "SQLite")]


def load(store, name):
    path = results / f"{store}-{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def skipped(store):
    path = results / f"{store}.skipped"
    return path.read_text().strip() if path.exists() else None


def num(value, decimals=0):
    return f"{value:,.{decimals}f}"


def worst_round(report):
    return max(report["rounds"], key=lambda r: r["delivery"]["max_ms"])


def mark(ok):
    return " ✅" if ok else " ❌"


# Each row: (figure, target, scenario file, value(report) -> text,
#            check(report, store) -> bool or None, Nchan reference).
ROWS = [
    (f"delivery latency p50 ({num(latency_n)} messages)", "< 0.5 ms", "latency",
     lambda r: f"{r['delivery']['p50_ms']:.3f} ms",
     lambda r, s: r["delivery"]["p50_ms"] < 0.5, "0.54 ms"),
    ("delivery latency p99", "< 2 ms", "latency",
     lambda r: f"{r['delivery']['p99_ms']:.3f} ms",
     lambda r, s: r["delivery"]["p99_ms"] < 2.0, "0.90 ms"),
    ("delivery latency max", "", "latency",
     lambda r: f"{r['delivery']['max_ms']:.3f} ms", None, ""),
    (f"fan-out to {num(fanout_n)} pollers: last served (worst of {rounds} rounds)", "< 400 ms", "fanout",
     lambda r: f"{worst_round(r)['delivery']['max_ms']:.1f} ms",
     lambda r, s: worst_round(r)["delivery"]["max_ms"] < 400, ""),
    (f"fan-out to {num(fanout_n)}: first / median served (that round)", "", "fanout",
     lambda r: "{:.1f} / {:.1f} ms".format(worst_round(r)["delivery"]["min_ms"],
                                          worst_round(r)["delivery"]["p50_ms"]), None, ""),
    (f"fan-out to {num(nchan_n)} pollers: last served (worst of {rounds} rounds)", "", "fanout-nchan",
     lambda r: f"{worst_round(r)['delivery']['max_ms']:.1f} ms", None,
     f"{num(nchan_n)} reached within 411 ms"),
    ("parked pollers held", f"{num(idle_n)}", "idle",
     lambda r: f"{num(r['held'])} of {num(r['pollers'])}",
     lambda r, s: r["held"] == idle_n, ""),
    ("server memory per parked poller", "< 8 KiB", "idle",
     lambda r: f"{r['kib_per_poller']:.2f} KiB",
     lambda r, s: r["kib_per_poller"] < 8, "~10 KiB"),
    (f"server CPU while idle ({idle_s} s, pollers parked with timeout={idle_timeout})", "≈ 0 (< 1 % of a core)", "idle",
     lambda r: f"{r['cpu_percent']:.2f} %",
     lambda r, s: r["cpu_percent"] < 1, ""),
    (f"POSTs per second ({publish_c} publishers)", "≥ 40,000 memory, ≥ 20,000 SQLite", "publish",
     lambda r: num(r["posts_per_second"]),
     lambda r, s: r["posts_per_second"] >= (40000 if s == "memory" else 20000),
     "30,000–39,000"),
    ("POST latency p50 / p99", "", "publish",
     lambda r: "{:.2f} / {:.2f} ms".format(r["latency"]["p50_ms"], r["latency"]["p99_ms"]), None, ""),
    (f"catch-up read of {num(catchup_n)} messages", "≥ 500,000 msg/s", "catchup",
     lambda r: f"{num(r['read_messages_per_second'])} msg/s",
     lambda r, s: r["read_messages_per_second"] >= 500000, ""),
]
SCENARIOS = ["latency", "fanout", "fanout-nchan", "idle", "publish", "catchup"]


def cell(store, scenario, value, check):
    if skipped(store) is not None:
        return "skipped"
    report = load(store, scenario)
    if report is None:
        return "no result"
    text = value(report)
    return text + (mark(check(report, store)) if check else "")


def errors_cell(store):
    if skipped(store) is not None:
        return "skipped"
    reports = [load(store, s) for s in SCENARIOS]
    missing = [s for s, r in zip(SCENARIOS, reports) if r is None]
    total = sum(r["errors"] for r in reports if r is not None)
    text = num(total) + mark(total == 0 and not missing)
    if missing:
        text += " (no result: " + ", ".join(missing) + ")"
    return text


out = []
w = out.append
w("# Benchmarks")
w("")
w("Written by `scripts/bench.sh`: run it again rather than editing (only the")
w("History section at the end is written by hand, and kept). Each figure")
w("comes from `chat-bench`, which verifies what it receives: a missed,")
w("duplicated or reordered message or a failed request is counted in the last")
w("row, never hidden.")
w("")
w(f"- machine: `{os.environ['BENCH_MACHINE']}`, {os.environ['BENCH_CPU']}, "
  f"{os.environ['BENCH_CORES']} cores")
w(f"- date: {os.environ['BENCH_DATE']}")
w(f"- commit: {os.environ['BENCH_COMMIT']}")
w("")
w("| figure | target | memory | SQLite | Nchan (reference) |")
w("| --- | --- | --- | --- | --- |")
for figure, target, scenario, value, check, nchan in ROWS:
    cells = [cell(store, scenario, value, check) for store, _ in STORES]
    w(f"| {figure} | {target} | {' | '.join(cells)} | {nchan} |")
w(f"| verification errors and failed requests, all scenarios | 0 | "
  f"{' | '.join(errors_cell(store) for store, _ in STORES)} | |")
w("")
w("✅ target met, ❌ target missed.")
for store, title in STORES:
    reason = skipped(store)
    if reason is not None:
        w("")
        w(f"{title} was skipped: chat-server did not start with `--store sqlite:PATH` "
          f"(it said: `{reason}`).")

w("")
w("## Fan-out rounds")
w("")
w("\"parked in\" runs from sending the polls until every sentinel was answered;")
w("in round 1 it includes opening the connections.")
w("")
w("| store | pollers | round | parked in | first | median | p99 | last | errors |")
w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for store, title in STORES:
    for scenario in ["fanout", "fanout-nchan"]:
        report = load(store, scenario)
        if report is None:
            continue
        for r in report["rounds"]:
            d = r["delivery"]
            errs = sum(v for k, v in r["verification"].items()
                       if k not in ("expected", "received")) + r["returned_early"]
            w(f"| {title} | {num(r['pollers'])} | {r['round']} | {r['park_ms']:.0f} ms | "
              f"{d['min_ms']:.1f} ms | {d['p50_ms']:.1f} ms | {d['p99_ms']:.1f} ms | "
              f"{d['max_ms']:.1f} ms | {errs} |")

w("")
w("## Other figures")
w("")
w("| figure | memory | SQLite |")
w("| --- | --- | --- |")
DETAILS = [
    ("latency: messages delivered", "latency", lambda r: num(r["delivery"]["count"])),
    ("idle: server RSS before / parked / end", "idle",
     lambda r: f"{num(r['rss_before_kib'])} / {num(r['rss_parked_kib'])} / {num(r['rss_end_kib'])} KiB"),
    ("idle: window, re-polls", "idle", lambda r: f"{r['seconds']:.1f} s, {num(r['repolls'])}"),
    ("publish: POSTs answered 201", "publish", lambda r: f"{num(r['posted'])} in {r['seconds']:.1f} s"),
    ("publish: POST latency max", "publish", lambda r: f"{r['latency']['max_ms']:.2f} ms"),
    ("catch-up: posting the backlog", "catchup",
     lambda r: f"{num(r['posted'])} in {r['post_seconds']:.2f} s "
               f"({num(r['posted'] / r['post_seconds'])}/s, {catchup_c} publishers)"),
    ("catch-up: reading it back", "catchup",
     lambda r: f"{r['read_seconds'] * 1000:.0f} ms over {num(r['requests'])} GETs"),
]
for figure, scenario, value in DETAILS:
    cells = [cell(store, scenario, value, None) for store, _ in STORES]
    w(f"| {figure} | {' | '.join(cells)} |")
first_failures = []
for store, title in STORES:
    for scenario in SCENARIOS:
        report = load(store, scenario)
        if report and report["failures"]["first"]:
            first_failures.append(f"- {title}, {scenario}: {report['failures']['count']} failed "
                                  f"requests; the first: `{report['failures']['first']}`")
if first_failures:
    w("")
    w("Failed requests:")
    w("")
    out.extend(first_failures)

w("")
w("## How these were measured")
w("")
w("""- Every scenario runs against a fresh `chat-server` (release build,
  `RUST_LOG=warn`, default workers: one per core) on a free port of
  127.0.0.1, so none inherits another's messages, memory or connections; the
  SQLite store gets a new database file each time. Generator and server
  share the same cores, so every figure includes the generator's own cost.
- **latency**: one poller chained on its cursor, one poster posting one
  message at a time, each once the previous one arrived. Latency runs from
  just before the POST is written to the moment the poll answer holding the
  message has been read.
- **fan-out**: every poller has its own connection and writes
  `GET /healthz` and its poll (`after=<newest id>`, `timeout=60`) in one
  write. HTTP/1.1 answers pipelined requests in order, so once every
  sentinel is answered the server has read every poll; the bench also checks
  that no poll came back early, waits a short settle (10 µs per poller,
  10–500 ms) for the handlers to register, then posts once. Figures run from
  the POST being written to each poller reading the message; each poller
  must have received exactly that message.
- **idle**: the pollers park the same way and are held with `timeout=""" + str(idle_timeout) + """`,
  re-polling whenever it runs out. Memory per poller is the growth of the
  server's `VmRSS` (`/proc/PID/status`) from before the pollers connected to
  the larger of once-parked and end-of-window, divided by the pollers; CPU is
  `utime + stime` (`/proc/PID/stat`) over the """ + str(idle_s) + """ s window, as a share of one
  core.
- **publish**: concurrent posters, each on its own keep-alive connection,
  for """ + str(publish_s) + """ s; every POST must get `201`.
- **catch-up**: the backlog is posted by """ + str(catchup_c) + """ concurrent posters, then read
  back on one connection by chaining `after` with `limit=1000&timeout=0`
  until an empty answer; exactly the posted messages must come back, in id
  order.
- Nchan's figures are its published ones, from other hardware: a reference
  point, not a measurement made here.

Run `scripts/bench.sh` to measure again (it takes a few minutes).""")
print("\n".join(out))
PY
# The hand-written history at the end (profiling notes, before and after
# figures) is carried over from the previous file.
history_heading='## History: profiling, before and after'
if [ -f "$output" ]; then
    awk -v heading="$history_heading" '$0 == heading { keep = 1 } keep' "$output" > "$work/history.md"
    if [ -s "$work/history.md" ]; then
        { echo; cat "$work/history.md"; } >> "$work/benchmarks.md"
    fi
fi
mv "$work/benchmarks.md" "$output"
echo "== wrote $output" >&2
