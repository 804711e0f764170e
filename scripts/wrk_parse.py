"""Reads wrk output and benchmark rows for `./dev bench`.

- default: one wrk output on stdin -> "rps p50_ms p99_ms errors"
- --median: several such lines on stdin -> their per-column medians
- --report DIR: the bench's folder (runs.txt, cpu.txt, meta.txt, checks.txt, written by
  scripts/bench.sh) -> the Markdown report: the comparisons, the targets met or missed, CPU per
  request by process, and the setup's figures (docs/benchmarks.md)
- --profile: "scenario cpu component ms" lines on stdin -> a Markdown table of medians
  (`./dev bench --limiter`)
- --limiter-pairs: "scenario|off figures|on figures" lines on stdin, one per pair of runs made
  back to back on two stacks up at once -> the limiter's cost per scenario: the medians of
  both sides, and the median and range of the pairs' own ratios
"""
import math
import re
import statistics
import sys
from datetime import date

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def latency(text, percentile):
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(match.group(1)) * UNITS[match.group(2)] if match else float("nan")


def parse(text):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    failed = int(errors.group(1)) if errors else 0
    if socket:
        failed += sum(int(g) for g in socket.groups())
    rate = float(rps.group(1)) if rps else 0.0
    return f"{rate:.1f} {latency(text, 50):.2f} {latency(text, 99):.2f} {failed}"


def median(lines):
    columns = list(zip(*(map(float, line.split()) for line in lines if line.strip())))
    rps, p50, p99, errors = (statistics.median(c) for c in columns)
    return f"{rps:.1f} {p50:.2f} {p99:.2f} {int(max(columns[3]))}"


def requests_made(text):
    match = re.search(r"(\d+) requests in", text)
    return int(match.group(1)) if match else 0


# --- the report of `./dev bench` ------------------------------------------------------------

TARGETS = ["runtime", "wrangler", "ceiling", "ceiling-wrangler", "drf"]
TARGET_NAMES = {
    "runtime": "ours, runtime socket",
    "wrangler": "ours, wrangler dev",
    "ceiling": "ceiling, runtime socket",
    "ceiling-wrangler": "ceiling, wrangler dev",
    "drf": "DRF",
}
SCENARIOS = {
    "list": "task list (done=false, ordering=-due_date, 20 per page)",
    "detail": "task detail",
    "search": "search, two terms (release notes)",
    "health": "GET /health/ (the floor)",
    "health-log": "GET /health/ and one log line per request (the ceiling only)",
    "projects": "project list (25 projects of 8 tasks, 20 per page)",
    "nested": "project list, 1 project with 2,000 nested tasks",
    "create": "task create",
}
COMPONENTS = [
    ("runtime", "workerd: runtime (worker + local D1)"),
    ("proxy", "workerd: wrangler's proxy"),
    ("node", "node: wrangler dev"),
    ("origin", "origin"),
    ("postgres", "Postgres"),
    ("gunicorn", "gunicorn (DRF)"),
    ("wrk", "wrk"),
]
# The issue's wasm target, 400 KB (SI) of gzip -9.
WASM_LIMIT = 400_000


def size_label(size):
    size = int(size)
    if size == 0:
        return "-"
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 10_000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return f"{size:,}"


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        return []


class Results:
    """The medians of the runs, per (size, scenario, target)."""

    def __init__(self, folder):
        runs = {}
        for line in read_lines(f"{folder}/runs.txt"):
            size, scenario, target, figures = line.split("|")
            runs.setdefault((size, scenario, target), []).append([float(x) for x in figures.split()])
        self.rows = []  # (size, scenario), in measuring order
        self.figures = {}
        for (size, scenario, target), samples in runs.items():
            columns = list(zip(*samples))
            self.figures[(size, scenario, target)] = {
                "rps": statistics.median(columns[0]),
                "p50": statistics.median(columns[1]),
                "p99": statistics.median(columns[2]),
                "errors": int(sum(columns[3])),
                "runs": len(samples),
            }
            if (size, scenario) not in self.rows:
                self.rows.append((size, scenario))
        self.meta = dict(line.split("=", 1) for line in read_lines(f"{folder}/meta.txt"))
        self.checks = read_lines(f"{folder}/checks.txt")
        self.cpu = {}
        for line in read_lines(f"{folder}/cpu.txt"):
            size, scenario, target, component, ms = line.split("|")
            self.cpu.setdefault((size, scenario, target), {}).setdefault(component, []).append(float(ms))

    def get(self, size, scenario, target, field="rps"):
        found = self.figures.get((str(size), scenario, target))
        return found[field] if found else None

    def ratio(self, size, scenario, ours, other):
        """ours / other; infinite when the other completed no request in its runs and ours did."""
        a, b = self.get(size, scenario, ours), self.get(size, scenario, other)
        if a is None or b is None:
            return None
        if b == 0:
            return math.inf if a > 0 else None
        return a / b

    def sizes(self):
        return [int(s) for s in self.meta.get("sizes", "").split()]


def cell_rps(figure):
    if figure is None:
        return "-"
    text = f"{figure['rps']:,.0f}"
    return text + (f" ({figure['errors']} errors)" if figure["errors"] else "")


def percent(value):
    if value is None:
        return "-"
    return "inf (the other: no request done)" if math.isinf(value) else f"{100 * value:.0f}%"


def times(value):
    if value is None:
        return "-"
    return "inf (the other: no request done)" if math.isinf(value) else f"{value:.1f}x"


def comparison_tables(results):
    # Targets a run left out (a quick run: the ceiling through its proxy) get no column.
    measured = {target for (_, _, target) in results.figures}
    targets = [t for t in TARGETS if t in measured]
    ratios = [
        ("% of ceiling (socket)", "runtime", "ceiling", percent),
        ("% of ceiling (wrangler dev)", "wrangler", "ceiling-wrangler", percent),
        ("x DRF (socket)", "runtime", "drf", times),
        ("x DRF (wrangler dev)", "wrangler", "drf", times),
    ]
    ratios = [r for r in ratios if r[1] in measured and r[2] in measured]
    out = [
        "## Throughput",
        "",
        "Requests per second, the median of the runs; the ratios are ours over the other side, "
        "measured the same way (our runtime socket against the ceiling's, our wrangler dev against "
        "the ceiling's). The ceiling serves the reads only.",
        "",
        "| tasks | scenario | " + " | ".join(TARGET_NAMES[t] for t in targets)
        + "".join(f" | {label}" for label, _, _, _ in ratios) + " |",
        "|---:|---|" + "---:|" * (len(targets) + len(ratios)),
    ]
    for size, scenario in results.rows:
        cells = [cell_rps(results.figures.get((size, scenario, t))) for t in targets]
        cells += [fmt(results.ratio(size, scenario, a, b)) for _, a, b, fmt in ratios]
        out.append(f"| {size_label(size)} | {SCENARIOS.get(scenario, scenario)} | " + " | ".join(cells) + " |")
    out += [
        "",
        "## Latency",
        "",
        "p50 / p99 in milliseconds, medians of the runs (wrk's latency under its 16 connections: "
        "queueing included).",
        "",
        "| tasks | scenario | " + " | ".join(TARGET_NAMES[t] for t in targets) + " |",
        "|---:|---|" + "---:|" * len(targets),
    ]
    for size, scenario in results.rows:
        cells = []
        for t in targets:
            f = results.figures.get((size, scenario, t))
            cells.append("-" if f is None else f"{f['p50']:.1f} / {f['p99']:.1f}")
        out.append(f"| {size_label(size)} | {SCENARIOS.get(scenario, scenario)} | " + " | ".join(cells) + " |")
    return out


def check(label, measured, verdict):
    return f"| {label} | {measured} | {verdict} |"


def verdict(pairs, missing=None):
    """pairs: (text, ok) for each instance measured."""
    if missing:
        return "n/a", missing
    if not pairs:
        return "n/a", "not measured"
    ok = all(good for _, good in pairs)
    return ("met" if ok else "**missed**"), ", ".join(text for text, _ in pairs)


def targets(results):
    sizes = results.sizes()
    rows = []

    def ratios(scenarios, other, limit, fmt, where=sizes):
        pairs = []
        for scenario in scenarios:
            for size in where:
                r = results.ratio(size, scenario, "runtime", other)
                if r is not None:
                    where_label = f" {size_label(size)}" if size >= 10_000 else ""
                    pairs.append((f"{scenario}{where_label} {fmt(r)}", r >= limit))
        return pairs

    def add(label, pairs, missing=None):
        state, measured = verdict(pairs, missing)
        rows.append(check(label, measured, state))

    add("Reads (list, detail) at the runtime socket: at least 80% of the ceiling",
        ratios(["list", "detail"], "ceiling", 0.8, percent))
    add("Reads (list, detail) at the runtime socket: at least 2.5x DRF",
        ratios(["list", "detail"], "drf", 2.5, times))
    add("/health/ at the runtime socket: at least 70% of the ceiling's trivial response",
        ratios(["health"], "ceiling", 0.7, percent, where=[0]))
    plain, with_line = results.get(0, "health", "ceiling"), results.get(0, "health-log", "ceiling")
    if plain and with_line:
        rows.append(check(
            "(context, not a target) the ceiling's /health/ with one log line per request (the edge writes "
            "one only for problems when deployed, `ACCESS_LOG`), against without", f"{percent(with_line / plain)} ({with_line:,.0f} against {plain:,.0f} req/s)", "-"))
    add("Search at the runtime socket: at least 2x DRF at every size",
        ratios(["search"], "drf", 2.0, times))
    no_million = None if 1_000_000 in sizes and 10_000 in sizes else "needs 10k and 1M (a quick run has 10k only)"

    def growth(scenario, limit):
        a = results.get(10_000, scenario, "runtime", "p50")
        b = results.get(1_000_000, scenario, "runtime", "p50")
        if a is None or b is None:
            return []
        return [(f"p50 {a:.1f} ms at 10k, {b:.1f} ms at 1M: {b / a:.2f}x", b / a <= limit)]

    add("Search latency at 1M within 2x of 10k (p50, runtime socket)", growth("search", 2.0), no_million)
    add("Nested project (2,000 tasks) at the runtime socket: at least 10x DRF",
        ratios(["nested"], "drf", 10.0, times, where=[2000]))
    add("Task create at the runtime socket: at least 1.5x DRF", ratios(["create"], "drf", 1.5, times))
    add("Task list p50 at 1M within 1.5x of 10k (runtime socket)", growth("list", 1.5), no_million)
    gz = int(results.meta.get("wasm_gzip", "0") or 0)
    add("Wasm at most 400 KB gzip -9 (400,000 bytes)",
        [(f"{gz:,} bytes gzip -9", gz <= WASM_LIMIT)] if gz else [])
    return [
        "## Targets",
        "",
        "Each a ratio measured in this run (issue 13). `met` only when every size measured meets it.",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ] + rows


def cpu_table(results):
    out = [
        "## Where the time goes",
        "",
        "CPU milliseconds per request by process, the median of the runs (from /proc while wrk ran,",
        "divided by wrk's request count). Each row counts the processes of the target measured:",
        "for ours and the ceiling, the runtime workerd (the worker and its local D1, SQLite, in one",
        "process), wrangler's proxy workerd and wrangler's node process (whatever the target's path",
        "made them do: the proxy is idle at the runtime socket, node logs each request); for ours",
        "also the origin and its Postgres; for DRF gunicorn's workers and DRF's Postgres. `other`",
        "is everything else on the machine meanwhile (the idle services of the other targets, any",
        "unrelated load), left out of the total.",
        "",
        "| tasks | scenario | target | " + " | ".join(label for _, label in COMPONENTS) + " | total | other |",
        "|---:|---|---|" + "---:|" * (len(COMPONENTS) + 2),
    ]
    for size, scenario in results.rows:
        for target in TARGETS:
            per = results.cpu.get((size, scenario, target))
            if not per:
                continue
            medians = {name: statistics.median(values) for name, values in per.items()}
            cells = [medians.get(name) for name, _ in COMPONENTS]
            total = sum(v for v in cells if v)
            shown = ["-" if v is None else f"{v:.2f}" for v in cells]
            out.append(
                f"| {size_label(size)} | {scenario} | {TARGET_NAMES[target]} | " + " | ".join(shown)
                + f" | {total:.2f} | {medians.get('other', 0):.2f} |"
            )
    return out


def seconds(ms):
    return f"{int(ms) / 1000:.1f} s"


def setup_section(results):
    meta = results.meta
    out = ["## The setup's figures", ""]
    raw, gz = int(meta.get("wasm_raw", 0) or 0), int(meta.get("wasm_gzip", 0) or 0)
    out.append(f"- Edge wasm (`edge/build/index_bg.wasm`): {raw:,} bytes raw, {gz:,} bytes gzip -9.")
    colds = [int(v) for k, v in meta.items() if k.startswith("ceiling_cold_ms.")]
    out.append(
        f"- Cold start under `wrangler dev`, from its launch to the first 200 of `/health/`: the edge "
        f"{meta.get('edge_cold_s', '?')} s (xtask's figure, whole seconds, the stack's other services "
        f"starting meanwhile); the ceiling "
        + (", ".join(f"{c / 1000:.1f} s" for c in colds) if colds else "?")
        + " (once per size, alone)."
    )
    strategies = sorted({v for k, v in meta.items() if k.startswith("ceiling_strategy.") and v})
    if strategies:
        out.append(
            "- The ceiling's SQL (`STRATEGIES` in bench/ceiling/worker.js, chosen by the D1 schema): "
            + ", ".join(f"`{s}`" for s in strategies)
            + " (`indexed`: counts from `task_counts`, search through `tasks_fts`, as the edge since "
            "migration 0007; `scan`: count(*) and `instr` over the owner's tasks)."
        )
    sizes = results.sizes()
    lines = []
    for size in sizes:
        pg, rs, drf = (meta.get(f"{k}.{size}") for k in ("seed_postgres_ms", "resync_ms", "seed_drf_ms"))
        if pg and rs:
            rate = size / (int(rs) / 1000) if int(rs) else 0
            cpu = meta.get(f"resync_cpu.{size}", "")
            spent = dict(item.split(":") for item in cpu.split(",") if ":" in item)
            named = {"runtime": "runtime workerd", "proxy": "wrangler's proxy", "node": "wrangler's node",
                     "origin": "origin (serving)", "postgres": "Postgres", "command": "resync-edge itself",
                     "other": "other"}
            where = ", ".join(f"{named.get(k, k)} {float(v):.0f} s" for k, v in
                              sorted(spent.items(), key=lambda kv: -float(kv[1])) if float(v) >= 0.5)
            lines.append(
                f"  - {size_label(size)}: INSERT into Postgres {seconds(pg)}, `resync-edge` {seconds(rs)} "
                f"({rate:,.0f} tasks/s into D1{'; CPU meanwhile: ' + where if where else ''}); "
                f"DRF's INSERT {seconds(drf) if drf else '?'}"
            )
    if lines:
        out.append("- Seeding one user's tasks, each side (ours through Postgres and `resync-edge`, DRF's "
                   "through SQL):")
        out += lines
        largest = max((s for s in sizes if meta.get(f"resync_ms.{s}")), default=None)
        if largest and largest < 1_000_000:
            estimate = int(meta[f"resync_ms.{largest}"]) * 1_000_000 / largest / 1000
            out.append(f"  - 1M, estimated from {size_label(largest)} (linear): `resync-edge` about "
                       f"{estimate / 60:.0f} min.")
    if meta.get("nonce_ms"):
        out.append(
            f"- The replay guard: every signed request the edge forwards carries a nonce the origin "
            f"records (one INSERT into an unlogged table, its own round trip before the handler's "
            f"transaction). Alone, over one connection, 2,000 of them: {meta['nonce_ms']} ms average "
            f"each, against the task create's p50 above."
        )
    if results.checks:
        out.append("- **What the checks found** (the comparison is suspect there):")
        for line in results.checks:
            size, scenario, text = (line.split("|", 2) + ["", ""])[:3]
            where = f"{scenario} at {size_label(size)}" if size.isdigit() and int(size) >= 10_000 else scenario
            out.append(f"  - {where}: {text}")
    else:
        out.append(
            "- Checked before each read scenario: every target answered 200; ours through wrangler dev "
            "and the ceiling returned exactly the rows ours returned at the runtime socket; DRF the "
            "same count and page length (its ids differ)."
        )
    out.append(f"- Measuring took {int(meta.get('measure_s', 0)) // 60} min after the stack was up.")
    return out


def report(folder):
    results = Results(folder)
    meta = results.meta
    quick = bool(meta.get("quick"))
    sizes = ", ".join(size_label(s) for s in results.sizes())
    head = [
        "# Benchmarks" + (" (QUICK RUN: fewer sizes, short runs; not for the record)" if quick else ""),
        "",
        f"`./dev bench{' --quick' if quick else ''}` on {date.today()}, commit `{meta.get('commit', '?')}`, "
        f"{meta.get('cpu', '?')}, {meta.get('cores', '?')} cores. One run, one machine, everything local "
        "and on the same cores as wrk. Five targets, measured in turn within each round so that the "
        "machine's drift lands on all of them alike:",
        "",
        "- **ours, wrangler dev**: our edge (the release wasm) through `wrangler dev`'s proxy, what a "
        "developer sees; local D1; the origin (release) and PostgreSQL 15 behind it for writes.",
        "- **ours, runtime socket**: the same edge at the socket of the workerd that runs it (miniflare's "
        "entry), without the proxy: the closest we get locally to production's runtime.",
        "- **ceiling**: `bench/ceiling/worker.js`, a minimal JavaScript worker under `wrangler dev` the "
        "same way, doing the same D1 work as each read scenario (the edge's SQL, statement for "
        "statement; no auth, no limiter, no logging) on a copy of the stack's D1 taken after seeding; "
        + ("at its runtime socket (a quick run leaves its proxy out)." if quick else
           "at its runtime socket and through its proxy."),
        "- **DRF**: the reference service (`../shared/reference/drf-service`, gunicorn, "
        f"{meta.get('drf_workers', '2')} workers, its own `run.sh`) on a PostgreSQL 15 cluster of its "
        "own, seeded with the same rows through SQL; throttles on, at rates nobody reaches.",
        "",
        f"Sizes: {sizes} tasks for one owner (ten projects). Each figure is the median of "
        f"{meta.get('runs', '?')} runs of {meta.get('seconds', '?')} s with `wrk -t2 "
        f"-c{meta.get('connections', '?')} --timeout 30s`, after a {meta.get('warmup', '?')} s "
        f"warm-up per target{' (once, before its first scenario)' if quick else ' and scenario'}. The rate "
        "limiter is on (every request counted), as deployed. The ceiling's /health/ is also measured with "
        "one log line per request, to show what the edge's access line would cost on every request "
        "(deployed, `ACCESS_LOG=problems` writes it for 4xx, 5xx and slow requests only; the bench runs so).",
        "",
    ]
    body = comparison_tables(results) + [""] + targets(results) + [""] + cpu_table(results) + [""] + setup_section(results)
    return "\n".join(head + body) + "\n"


def profile(lines):
    samples = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[1] == "cpu":
            scenario, _, name, ms = parts
            samples.setdefault(scenario, {}).setdefault(name.replace("_", " "), []).append(float(ms))
    names = sorted({n for per in samples.values() for n in per})
    out = [
        "",
        "## Where the time goes",
        "",
        "CPU milliseconds per request, by process, median of the runs (from /proc, while wrk ran;",
        "the first column of each row is the scenario as named in the log). `workerd: wrangler",
        "proxy` and `node: wrangler dev` are wrangler's local plumbing, not our code; `workerd:",
        "worker + local D1` runs our wasm and the local D1 (SQLite) together.",
        "",
        "| scenario | " + " | ".join(names) + " | total |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for scenario, per in samples.items():
        medians = [statistics.median(per[n]) if n in per else 0.0 for n in names]
        out.append(f"| {scenario} | " + " | ".join(f"{m:.2f}" for m in medians) + f" | {sum(medians):.2f} |")
    return "\n".join(out) + "\n"


def limiter_pairs(lines):
    """Throughput kept with the limiter on, from pairs of runs alternating between stacks."""
    pairs = {}
    for line in lines:
        if line.count("|") != 2:
            continue
        scenario, off, on = line.split("|")
        pairs.setdefault(scenario, []).append((off.split(), on.split()))
    out = [
        "",
        "The rate limiter's cost: each scenario run on a stack with the limiter off and on one",
        "with it on, alternately, both stacks up the whole time. Target: at least 85% kept on",
        "the reads; the 1,000 anonymous clients are the limiter's worst case (each client back",
        "only after its lease ran out), reported, not a target.",
        "",
        "| scenario | pairs | off req/s | on req/s | kept (medians) | kept per pair: median (min-max) | off p99 ms | on p99 ms |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for scenario, runs in pairs.items():
        off_rps = statistics.median(float(off[0]) for off, _ in runs)
        on_rps = statistics.median(float(on[0]) for _, on in runs)
        ratios = [float(on[0]) / float(off[0]) for off, on in runs if float(off[0]) > 0]
        off_p99 = statistics.median(float(off[2]) for off, _ in runs)
        on_p99 = statistics.median(float(on[2]) for _, on in runs)
        per_pair = (
            f"{100 * statistics.median(ratios):.0f}% ({100 * min(ratios):.0f}-{100 * max(ratios):.0f}%)"
            if ratios else "-"
        )
        kept = f"{100 * on_rps / off_rps:.0f}%" if off_rps else "-"
        out.append(
            f"| {scenario} | {len(runs)} | {off_rps:.0f} | {on_rps:.0f} | {kept} | {per_pair} "
            f"| {off_p99:.2f} | {on_p99:.2f} |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        print(report(sys.argv[2]), end="")
        sys.exit(0)
    data = sys.stdin.read()
    if len(sys.argv) > 1 and sys.argv[1] == "--median":
        print(median(data.splitlines()))
    elif len(sys.argv) > 1 and sys.argv[1] == "--profile":
        print(profile(data.splitlines()), end="")
    elif len(sys.argv) > 1 and sys.argv[1] == "--limiter-pairs":
        print(limiter_pairs(data.splitlines()), end="")
    else:
        print(parse(data))
