#!/usr/bin/env python3
"""Lays the chat-bench JSON reports of scripts/bench.sh out as docs/benchmarks.md.

    bench-report.py RESULTS_DIR BASELINE_JSON   the Markdown, on stdout
    bench-report.py RESULTS_DIR --figures       the headline figures as JSON

RESULTS_DIR holds TARGET-SCENARIO.json (TARGET: memory, sqlite, nchan,
reference) and TARGET.skipped notes. BASELINE_JSON (the figures of an earlier
run, written with --figures) is what "no regression" is judged against; it
may be missing. The sizes and the machine come from the environment that
scripts/bench.sh exports.
"""
import json
import os
import sys
from pathlib import Path

results = Path(sys.argv[1])
env = os.environ.get
GAP = f"{env('GAP_MIN_MS', '5')}-{env('GAP_MAX_MS', '50')} ms"
FANOUT_N = int(env("FANOUT_POLLERS", "10000"))
IDLE_N = int(env("IDLE_POLLERS", "15000"))
STREAM_FANOUT_N = int(env("STREAM_FANOUT", str(FANOUT_N)))
STREAM_IDLE_N = int(env("STREAM_IDLE", str(IDLE_N)))
ROUNDS = int(env("FANOUT_ROUNDS", "3"))
TARGETS = [("memory", "chat-server, memory"), ("sqlite", "chat-server, SQLite"),
           ("nchan", "Nchan"), ("reference", "bare actix-web")]
# What the bare actix-web app answers: long polls, not streams or paged reads.
REFERENCE_SCENARIOS = ("latency-gap", "latency-hot", "fanout", "idle")
SCENARIOS = ["latency-gap", "latency-hot", "fanout", "idle", "publish", "catchup",
             "stream-latency", "stream-fanout", "stream-idle"]
# Issue 13 names 0.8x Nchan for latency after idle gaps and for fan-out.
AHEAD = 0.8
# "No regression" on catch-up and idle CPU allows for this much noise.
CATCHUP_NOISE = 0.9
CPU_NOISE_POINTS = 0.5


def load(target, scenario):
    path = results / f"{target}-{scenario}.json"
    return json.loads(path.read_text()) if path.exists() else None


def skipped(target):
    path = results / f"{target}.skipped"
    return path.read_text().strip() if path.exists() else None


def worst_round(report):
    return max(report["rounds"], key=lambda r: r["delivery"]["max_ms"])


# The headline figures, by name: scenario and how to read the figure.
FIGURES = {
    "gap_p50_ms": ("latency-gap", lambda r: r["delivery"]["p50_ms"]),
    "gap_p99_ms": ("latency-gap", lambda r: r["delivery"]["p99_ms"]),
    "hot_p50_ms": ("latency-hot", lambda r: r["delivery"]["p50_ms"]),
    "hot_p99_ms": ("latency-hot", lambda r: r["delivery"]["p99_ms"]),
    "fanout_last_ms": ("fanout", lambda r: worst_round(r)["delivery"]["max_ms"]),
    "idle_kib_per_poller": ("idle", lambda r: r["kib_per_poller"]),
    "idle_cpu_percent": ("idle", lambda r: r["cpu_percent"]),
    "posts_per_second": ("publish", lambda r: r["posts_per_second"]),
    "catchup_messages_per_second": ("catchup", lambda r: r["read_messages_per_second"]),
    "stream_gap_p50_ms": ("stream-latency", lambda r: r["delivery"]["p50_ms"]),
    "stream_gap_p99_ms": ("stream-latency", lambda r: r["delivery"]["p99_ms"]),
    "stream_fanout_last_ms": ("stream-fanout", lambda r: worst_round(r)["delivery"]["max_ms"]),
    "stream_kib_per_stream": ("stream-idle", lambda r: r["kib_per_stream"]),
    "stream_idle_cpu_percent": ("stream-idle", lambda r: r["cpu_percent"]),
}


def figure(target, name):
    scenario, read = FIGURES[name]
    report = load(target, scenario)
    return None if report is None else read(report)


def figures():
    return {
        "commit": env("BENCH_COMMIT", ""),
        "date": env("BENCH_DATE", ""),
        "figures": {t: {n: figure(t, n) for n in FIGURES if figure(t, n) is not None}
                    for t, _ in TARGETS},
    }


if len(sys.argv) > 2 and sys.argv[2] == "--figures":
    print(json.dumps(figures(), indent=2))
    sys.exit(0)

baseline_path = Path(sys.argv[2]) if len(sys.argv) > 2 else None
baseline = json.loads(baseline_path.read_text()) if baseline_path and baseline_path.exists() else None


def before(target, name):
    if baseline is None:
        return None
    return baseline["figures"].get(target, {}).get(name)


def num(value, decimals=0):
    return f"{value:,.{decimals}f}"


def mark(ok):
    return "" if ok is None else (" ✅" if ok else " ❌")


def ratio(value, other):
    if value is None or not other:
        return ""
    return f" ({value / other:.2f}x)"


def ms(value, decimals=3):
    return f"{value:.{decimals}f} ms"


# Each row: figure, target text, name in FIGURES, formatter, and
# check(target, value) -> True/False/None (None: no target for that column).
def row(title, target_text, name, fmt, check=None, ratio_to_nchan=True):
    return (title, target_text, name, fmt, check, ratio_to_nchan)


def lower_than_nchan(factor, name):
    """Issue 13's targets name chat-server with its memory store."""
    def check(target, value):
        theirs = figure("nchan", name)
        if target != "memory" or theirs is None:
            return None
        return value <= factor * theirs
    return check


def memory_floor(target, value):
    floor = figure("reference", "idle_kib_per_poller")
    if target not in ("memory", "sqlite") or floor is None:
        return None
    return value <= floor + 1.0


def publish_check(target, value):
    if target == "memory":
        theirs = figure("nchan", "posts_per_second")
        return None if theirs is None else value >= 1.5 * theirs
    if target == "sqlite":
        ours = figure("memory", "posts_per_second")
        return None if ours is None else value >= 0.5 * ours
    return None


def cpu_check(target, value):
    if target not in ("memory", "sqlite"):
        return None
    earlier = before(target, "idle_cpu_percent")
    limit = max(1.0, (earlier or 0) + CPU_NOISE_POINTS)
    return value <= limit


def catchup_check(target, value):
    earlier = before(target, "catchup_messages_per_second")
    if target not in ("memory", "sqlite") or earlier is None:
        return None
    return value >= CATCHUP_NOISE * earlier


def no_slower_than_our_poll(poll_name):
    def check(target, value):
        ours = figure(target, poll_name)
        if target not in ("memory", "sqlite") or ours is None:
            return None
        return value <= ours
    return check


def stream_memory_check(target, value):
    ours = figure(target, "idle_kib_per_poller")
    if target not in ("memory", "sqlite") or ours is None:
        return None
    return value <= ours


def baseline_text(name, fmt):
    values = [f"{label.split(', ')[-1]} {fmt(before(t, name))}" for t, label in TARGETS[:2]
              if before(t, name) is not None]
    return f" (before: {', '.join(values)})" if values else " (no baseline yet)"


ROWS = [
    row(f"delivery latency after idle gaps of {GAP}, p50", "≤ 0.8x Nchan", "gap_p50_ms",
        ms, lower_than_nchan(AHEAD, "gap_p50_ms")),
    row("… p99", "≤ 0.8x Nchan", "gap_p99_ms", ms, lower_than_nchan(AHEAD, "gap_p99_ms")),
    row("delivery latency, hot loop (next message as soon as the last arrived), p50", "",
        "hot_p50_ms", ms),
    row("… hot loop, p99", "", "hot_p99_ms", ms),
    row(f"fan-out to {num(FANOUT_N)} parked pollers, last served (worst of {ROUNDS} rounds)",
        "≤ 0.8x Nchan", "fanout_last_ms", lambda v: ms(v, 1), lower_than_nchan(AHEAD, "fanout_last_ms")),
    row(f"memory per parked poller ({num(IDLE_N)} parked)", "≤ bare actix-web + 1 KiB",
        "idle_kib_per_poller", lambda v: f"{v:.2f} KiB", memory_floor),
    row("server CPU while pollers are parked",
        "≈ 0 (< 1 % of a core), no regression" + baseline_text("idle_cpu_percent", lambda v: f"{v:.2f} %"),
        "idle_cpu_percent", lambda v: f"{v:.2f} %", cpu_check, ratio_to_nchan=False),
    row(f"POSTs per second ({env('PUBLISH_CONCURRENCY', '64')} publishers)",
        "memory ≥ 1.5x Nchan; SQLite ≥ 0.5x memory", "posts_per_second", num, publish_check),
    row(f"catch-up read of {num(int(env('CATCHUP_MESSAGES', '100000')))} messages (msg/s)",
        "no regression" + baseline_text("catchup_messages_per_second", num),
        "catchup_messages_per_second", num, catchup_check, ratio_to_nchan=False),
    row(f"event stream: delivery latency after idle gaps of {GAP}, p50",
        "≤ our long poll (same store)", "stream_gap_p50_ms", ms,
        no_slower_than_our_poll("gap_p50_ms")),
    row("… p99", "≤ our long poll (same store)", "stream_gap_p99_ms", ms,
        no_slower_than_our_poll("gap_p99_ms")),
    row(f"event stream: fan-out to {num(STREAM_FANOUT_N)} open streams, last served "
        f"(worst of {ROUNDS} rounds)", "≤ 0.8x Nchan (EventSource)", "stream_fanout_last_ms",
        lambda v: ms(v, 1), lower_than_nchan(AHEAD, "stream_fanout_last_ms")),
    row(f"memory per open event stream ({num(STREAM_IDLE_N)} open)", "≤ per parked poll (same store)",
        "stream_kib_per_stream", lambda v: f"{v:.2f} KiB", stream_memory_check),
    row("server CPU while streams are open", "", "stream_idle_cpu_percent",
        lambda v: f"{v:.2f} %", ratio_to_nchan=False),
]


def cell(target, name, fmt, check, ratio_to_nchan):
    if skipped(target) is not None:
        return "skipped"
    value = figure(target, name)
    if value is None:
        scenario = FIGURES[name][0]
        applies = target != "reference" or scenario in REFERENCE_SCENARIOS
        applies = applies and not (target == "nchan" and scenario == "catchup")
        return "no result" if applies else "n/a"
    text = fmt(value)
    if ratio_to_nchan and target in ("memory", "sqlite", "reference"):
        text += ratio(value, figure("nchan", name))
    if check is not None:
        text += mark(check(target, value))
    return text


def errors_cell(target):
    if skipped(target) is not None:
        return "skipped"
    reports = [(s, load(target, s)) for s in SCENARIOS]
    ran = [(s, r) for s, r in reports if r is not None]
    if not ran:
        return "no result"
    total = sum(r["errors"] for _, r in ran)
    text = num(total)
    if target in ("memory", "sqlite"):
        text += mark(total == 0)
    return text


out = []
w = out.append
w("# Benchmarks")
w("")
w("Written by `scripts/bench.sh`: run it again rather than editing (only the")
w("History section at the end is written by hand, and kept). chat-server and")
w("Nchan are measured side by side in the same run, on the same machine, by the")
w("same load generator, `chat-bench`, which verifies what it receives: a missed,")
w("duplicated or reordered message or a failed request is counted in the last")
w("row, never hidden. In brackets: the figure's ratio to Nchan's.")
w("")
w(f"- machine: `{env('BENCH_MACHINE', '')}`, {env('BENCH_CPU', '')}, {env('BENCH_CORES', '')} cores; "
  f"load average at the end {env('BENCH_LOAD', '')}")
w(f"- date: {env('BENCH_DATE', '')}; the run took {env('BENCH_MINUTES', '?')} min")
w(f"- commit: {env('BENCH_COMMIT', '')}")
w(f"- Nchan: {env('BENCH_NCHAN', '') or 'not installed'}")
w("")
w("| figure | target | " + " | ".join(label for _, label in TARGETS) + " |")
w("| --- | --- | " + " | ".join("---" for _ in TARGETS) + " |")
for title, target_text, name, fmt, check, to_nchan in ROWS:
    cells = [cell(t, name, fmt, check, to_nchan) for t, _ in TARGETS]
    w(f"| {title} | {target_text} | {' | '.join(cells)} |")
w("| verification errors and failed requests, all scenarios | 0 | "
  + " | ".join(errors_cell(t) for t, _ in TARGETS) + " |")
w("")
w("✅ target met, ❌ target missed; targets are those of issue 13 (long poll) and")
w("issue 12 (event streams), judged on chat-server's columns. n/a: the scenario")
w("does not apply (Nchan's long poll answers one message per request, so it has")
w("no paged catch-up; the bare actix-web app answers long polls only).")
for target, label in TARGETS:
    reason = skipped(target)
    if reason is not None:
        w("")
        w(f"{label} was skipped: `{reason}`.")

w("")
w("## Fan-out rounds")
w("")
w("Long polls: \"parked in\" runs from sending the polls until every sentinel was")
w("answered (in round 1 it includes opening the connections). Event streams")
w("stay open across rounds: \"parked in\" is the time to open them all.")
w("")
w("| target | kind | waiting | round | parked in | first | median | p99 | last | errors |")
w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for target, label in TARGETS:
    report = load(target, "fanout")
    for r in (report or {}).get("rounds", []):
        d = r["delivery"]
        errs = sum(v for k, v in r["verification"].items()
                   if k not in ("expected", "received")) + r["returned_early"]
        w(f"| {label} | long poll | {num(r['pollers'])} | {r['round']} | {r['park_ms']:.0f} ms | "
          f"{ms(d['min_ms'], 1)} | {ms(d['p50_ms'], 1)} | {ms(d['p99_ms'], 1)} | "
          f"{ms(d['max_ms'], 1)} | {errs} |")
    report = load(target, "stream-fanout")
    for r in (report or {}).get("rounds", []):
        d = r["delivery"]
        opened = f"{report['open_ms']:.0f} ms" if r["round"] == 1 else ""
        w(f"| {label} | event stream | {num(report['opened'])} | {r['round']} | {opened} | "
          f"{ms(d['min_ms'], 1)} | {ms(d['p50_ms'], 1)} | {ms(d['p99_ms'], 1)} | "
          f"{ms(d['max_ms'], 1)} | {'' if r['round'] > 1 else report['errors']} |")

w("")
w("## Other figures")
w("")
w("| figure | " + " | ".join(label for _, label in TARGETS) + " |")
w("| --- | " + " | ".join("---" for _ in TARGETS) + " |")
DETAILS = [
    ("latency after gaps: messages delivered, max", "latency-gap",
     lambda r: f"{num(r['delivery']['count'])}, max {ms(r['delivery']['max_ms'])}"),
    ("event stream after gaps: messages delivered, max", "stream-latency",
     lambda r: f"{num(r['delivery']['count'])}, max {ms(r['delivery']['max_ms'])}"),
    ("parked pollers held", "idle", lambda r: f"{num(r['held'])} of {num(r['pollers'])}"),
    ("idle: server memory before / parked / end (KiB)", "idle",
     lambda r: f"{num(r['rss_before_kib'])} / {num(r['rss_parked_kib'])} / {num(r['rss_end_kib'])}"),
    ("open event streams held", "stream-idle", lambda r: f"{num(r['held'])} of {num(r['streams'])}"),
    ("streams: server memory before / open / end (KiB)", "stream-idle",
     lambda r: f"{num(r['rss_before_kib'])} / {num(r['rss_parked_kib'])} / {num(r['rss_end_kib'])}"),
    ("publish: POSTs answered", "publish", lambda r: f"{num(r['posted'])} in {r['seconds']:.1f} s"),
    ("publish: POST latency p50 / p99 / max", "publish",
     lambda r: "{:.2f} / {:.2f} / {:.2f} ms".format(r["latency"]["p50_ms"], r["latency"]["p99_ms"],
                                                   r["latency"]["max_ms"])),
    ("catch-up: posting the backlog", "catchup",
     lambda r: f"{num(r['posted'])} in {r['post_seconds']:.2f} s"),
    ("catch-up: reading it back", "catchup",
     lambda r: f"{r['read_seconds'] * 1000:.0f} ms over {num(r['requests'])} GETs"),
]
for title, scenario, value in DETAILS:
    cells = []
    for target, _ in TARGETS:
        report = load(target, scenario)
        cells.append(value(report) if report else "")
    w(f"| {title} | {' | '.join(cells)} |")
first_failures = []
for target, label in TARGETS:
    for scenario in SCENARIOS:
        report = load(target, scenario)
        if report and report["errors"]:
            first = report.get("failures", {}).get("first")
            first_failures.append(f"- {label}, {scenario}: {report['errors']} errors"
                                  + (f"; the first failed request: `{first}`" if first else ""))
if first_failures:
    w("")
    w("Errors:")
    w("")
    out.extend(first_failures)

w("")
w("## How these were measured")
w("")
w(f"""- Every scenario runs against a fresh server on a free port of 127.0.0.1,
  so none inherits another's messages, memory or connections; the targets
  take turns scenario by scenario, so all see the machine in the same state.
  chat-server: release build, `RUST_LOG=warn`, default flags (one worker per
  core). SQLite: a new database file each time. Nchan: Debian's nginx and
  libnginx-mod-nchan with `scripts/nchan.conf` (one worker per core, a
  message buffer larger than any scenario posts, long-poll timeout 60 s),
  pid, logs and temp files in a private directory. Bare actix-web:
  `chat-bench-reference`, default actix-web settings (one worker per core),
  one in-memory list of messages, a POST that appends and wakes the parked
  polls, a GET that answers what follows `after` or parks on a
  `tokio::sync::watch` until something does: no validation, access control,
  limits, metrics, logs or store, so it is the floor any actix-web server
  meets, for memory per parked poll and for delivery.
  Generator and servers share the same cores, so every figure includes the
  generator's own cost.
- **latency** (long poll): one poller chained on its cursor (chat-server:
  `after=`; Nchan: `If-Modified-Since`/`If-None-Match` from the previous
  answer's `Last-Modified`/`Etag`), one poster posting one message at a
  time, each once the previous one arrived, after a random idle gap of
  {GAP} (seeded, the same gaps for every target); the hot loop posts the
  next message at once. Latency runs from just before the POST is written to
  the moment the poll answer holding the message has been read.
- **fan-out**: every poller has its own connection and writes
  `GET /healthz` and its poll in one write. HTTP/1.1 answers pipelined
  requests in order, so once every sentinel is answered the server has read
  every poll; the bench also checks that no poll came back early, waits a
  short settle (10 µs per poller, 10–500 ms), then posts once. Figures run
  from the POST being written to each poller reading the message; each
  poller must have received exactly that message.
- **idle**: the pollers park the same way and are held with
  `timeout={env('IDLE_POLL_TIMEOUT', '60')}` for {env('IDLE_SECONDS', '10')} s. Memory per poller is the growth of
  the server's memory from before the pollers connected to the larger of
  once-parked and end-of-window, divided by the pollers; memory is the
  proportional set size (`Pss`, `/proc/PID/smaps_rollup`) summed over the
  server's processes, so nginx's workers and its shared memory count once;
  CPU is `utime + stime` over the window, as a share of one core.
- **publish**: {env('PUBLISH_CONCURRENCY', '64')} concurrent posters, each on its own keep-alive
  connection, for {env('PUBLISH_SECONDS', '10')} s; every POST must be acknowledged (chat-server
  `201`; Nchan `201`/`202`).
- **catch-up**: the backlog is posted by {env('CATCHUP_CONCURRENCY', '32')} concurrent posters, then
  read back on one connection by chaining `after` with
  `limit=1000&timeout=0` until an empty answer; exactly the posted messages
  must come back, in id order.
- **event streams**: chat-server's `GET /rooms/{{room}}/events`, Nchan's
  `GET /sub?chan=` with `Accept: text/event-stream`. A stream counts as open
  once its `200 text/event-stream` head arrived. Latency: one stream, the
  same gaps and measure as the long-poll latency. Fan-out: all streams open,
  then one POST per round, the next once every stream has the last.
  Memory: as for parked polls. Every stream must receive every message
  posted while it was open, exactly once and in order.

Run `scripts/bench.sh` to measure again (about 10 minutes; the sizes can be
lowered through the environment, see the script).""")
print("\n".join(out))
