"""Reads wrk output and benchmark rows for `./dev bench`.

- default: one wrk output on stdin -> "rps p50_ms p99_ms errors"
- --median: several such lines on stdin -> their per-column medians
- --profile: "scenario cpu component ms" lines on stdin -> a Markdown table of medians
- --table RUNS SECONDS CONNECTIONS COMMIT CPU WASM_RAW WASM_GZIP: "size|scenario|rps p50 p99 err"
  rows on stdin -> the Markdown report
- --limiter OFF_FILE: the rows measured with the rate limiter on (stdin) against the same
  scenarios with it off (OFF_FILE) -> the limiter's cost as a Markdown table
- --limiter-pairs: "scenario|off figures|on figures" lines on stdin, one per pair of runs made
  back to back on two stacks up at once -> the limiter's cost per scenario: the medians of
  both sides, and the median and range of the pairs' own ratios
"""
import re
import statistics
import sys
from datetime import date

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# The DRF service of the seeds on a machine like this (gunicorn, PostgreSQL 15, 2,000 tasks,
# wrk -t2 -c16), from the issue, and the multiple we aim for.
TARGETS = {
    "task list": (240, 2),
    "task detail": (285, 2),
    "search": (170, 2),
    "task create": (240, 1),
    "project list, 1 project": (35, 10),
}


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


def table(args, lines):
    runs, seconds, connections, commit, cpu, wasm_raw, wasm_gzip = args
    rows = [line.split("|") for line in lines if line.strip()]
    out = [
        "# Benchmarks",
        "",
        f"`./dev bench` on {date.today()}, commit `{commit}`, {cpu}, 2 cores. Everything local on",
        "one machine: `wrangler dev` (workerd running the release wasm) with local D1, the origin",
        "(release) and PostgreSQL 15, and wrk on the same cores. Each figure is the median of",
        f"{runs} runs of {seconds} s with `wrk -t2 -c{connections}`. Targets are the DRF service's",
        "figures on such a machine times the multiple the issue asks for.",
        "",
        "| tasks | scenario | req/s | p50 ms | p99 ms | errors | target req/s | ratio to DRF |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_size = {}
    for size, scenario, figures in rows:
        rps, p50, p99, errors = figures.split()
        target = next((t for key, t in TARGETS.items() if scenario.startswith(key)), None)
        goal = f"{target[0] * target[1]}" if target else "-"
        ratio = f"{float(rps) / target[0]:.1f}x" if target else "-"
        out.append(f"| {int(size):,} | {scenario} | {float(rps):.0f} | {p50} | {p99} | {errors} | {goal} | {ratio} |")
        by_size.setdefault(scenario, {})[size] = float(p50)
    list_rows = next((v for k, v in by_size.items() if k.startswith("task list")), {})
    if "10000" in list_rows and "100000" in list_rows:
        out += ["", f"Task list p50 at 100k tasks is {list_rows['100000'] / list_rows['10000']:.2f}x its p50 at 10k (target: within 1.5x)."]
    out += ["", f"Edge wasm: {int(wasm_raw):,} bytes raw, {int(wasm_gzip):,} bytes gzip -9."]
    return "\n".join(out) + "\n"


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


def limiter(on_rows, off_rows):
    """Throughput kept with the limiter on, per read scenario measured both ways."""
    def read(rows):
        out = {}
        for row in rows:
            if row.count("|") != 2:
                continue
            size, scenario, figures = row.split("|")
            out[(size, scenario)] = figures.split()
        return out

    on, off = read(on_rows), read(off_rows)
    lines = [
        "",
        "## The rate limiter's cost",
        "",
        "The read scenarios with the limiter off (`THROTTLE_ENABLED=false`, a stack of its own)",
        "and on (every request counted; a Durable Object call per lease of `THROTTLE_LEASE`),",
        "medians as above. Target: at least 85% of the throughput kept.",
        "",
        "| tasks | scenario | off req/s | on req/s | kept | off p99 ms | on p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key in off:
        if key not in on:
            continue
        size, scenario = key
        off_rps, on_rps = float(off[key][0]), float(on[key][0])
        kept = f"{100 * on_rps / off_rps:.0f}%" if off_rps else "-"
        lines.append(
            f"| {int(size):,} | {scenario} | {off_rps:.0f} | {on_rps:.0f} | {kept} "
            f"| {float(off[key][2]):.2f} | {float(on[key][2]):.2f} |"
        )
    return "\n".join(lines) + "\n"


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
    data = sys.stdin.read()
    if len(sys.argv) > 1 and sys.argv[1] == "--median":
        print(median(data.splitlines()))
    elif len(sys.argv) > 1 and sys.argv[1] == "--profile":
        print(profile(data.splitlines()), end="")
    elif len(sys.argv) > 2 and sys.argv[1] == "--limiter":
        with open(sys.argv[2], encoding="utf-8") as off:
            print(limiter(data.splitlines(), off.read().splitlines()), end="")
    elif len(sys.argv) > 1 and sys.argv[1] == "--limiter-pairs":
        print(limiter_pairs(data.splitlines()), end="")
    elif len(sys.argv) > 1 and sys.argv[1] == "--table":
        print(table(sys.argv[2:9], data.splitlines()), end="")
    else:
        print(parse(data))
