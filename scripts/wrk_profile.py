"""Runs wrk and accounts the CPU time the processes on the machine spent meanwhile.

usage: wrk_profile.py --tree NAME=PID [--tree NAME=PID]... -- wrk ARGS...
       wrk_profile.py --total FILE --tree NAME=PID... -- COMMAND ARGS...
       wrk_profile.py EDGE_PORT wrk ARGS...          (the older form, `./dev bench --limiter`)

Prints wrk's output, then one line per component: `cpu <component> <ms of CPU per request>`
(spaces in names become `_`). With `--tree`, a process counts toward the NAME of its nearest
ancestor-or-self among the PIDs given, so a tree named inside another (a workerd under
wrangler's node) is its own component; every process under none of them, kernel threads
included, is `other`: whatever else the machine did meanwhile (idle services of the other
targets, a compile). wrk itself is `wrk`, from its own rusage, as it has exited by then.

The older form tells the components apart by command line, and the two workerd processes of
`wrangler dev` by which one listens on the edge's public port (wrangler's proxy) and which does
not (the runtime running the worker, with local D1 inside it).

Requests are wrk's own count ("N requests in ..."), not the rate times the wall time.

With `--tree`, after wrk exits (and the CPU is read), this waits until the named processes are
idle (under a tenth of a core over a quarter of a second; 60 s at most): requests still in flight when
wrk stopped keep a slow target busy (16 searches of seconds each), and would otherwise run on
into the next measurement, of another target. Prints `drained <seconds>`.

`--total FILE` runs any command (its output and exit status passed through) and writes to FILE
the CPU seconds each component spent while it ran, the command's own (and its children's) as
`command`, then `wall <seconds>`: where the time of a long step (the bench's `resync-edge`)
goes.
"""
import os
import re
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def listening_pids(port):
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return set(re.findall(r"pid=(\d+)", out))


def snapshot():
    """pid -> (ticks, parent pid, command line)."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[pid] = (int(fields[11]) + int(fields[12]), fields[1], cmd)
    return found


def by_command(pid, cmd, proxy_pids):
    if "workerd" in cmd:
        return "workerd: wrangler proxy" if pid in proxy_pids else "workerd: worker + local D1"
    if "wrangler" in cmd and "node" in cmd:
        return "node: wrangler dev"
    if "origin-worker" in cmd:
        return "origin"
    if cmd.startswith("postgres") or "/postgres " in cmd:
        return "postgres"
    return None


def by_tree(trees):
    """A classifier: the name of the nearest listed ancestor-or-self, else `other`."""
    def classify(pid, table):
        seen = 0
        while pid and pid != "0" and seen < 64:
            if pid in trees:
                return trees[pid]
            pid = table.get(pid, (0, "0", ""))[1]
            seen += 1
        return "other"
    return classify


def busy_ticks(classify):
    table = snapshot()
    return sum(ticks for pid, (ticks, _, _) in table.items() if classify(pid, table) != "other")


def drain(trees, classify, interval=0.25, limit=60.0):
    """Seconds waited until the trees' processes spent under a tenth of a core in `interval`."""
    started = time.monotonic()
    last = busy_ticks(classify)
    while time.monotonic() - started < limit:
        time.sleep(interval)
        now = busy_ticks(classify)
        if (now - last) / TICK < 0.1 * interval:
            break
        last = now
    return time.monotonic() - started


def requests_made(output):
    match = re.search(r"(\d+) requests in", output)
    return int(match.group(1)) if match else 0


def main():
    args = sys.argv[1:]
    trees = {}
    total = None
    if args and args[0] == "--total":
        total, args = args[1], args[2:]
    if args and args[0] == "--tree":
        while args and args[0] == "--tree":
            name, _, pids = args[1].partition("=")
            for pid in filter(None, pids.split(",")):
                trees[pid] = name
            args = args[2:]
        if args and args[0] == "--":
            args = args[1:]
        command = args
        classify = by_tree(trees)
    else:
        proxy_pids = listening_pids(args[0])
        command = args[1:]
        classify = lambda pid, table: by_command(pid, table[pid][2], proxy_pids)  # noqa: E731
    before = snapshot()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    if total:
        status = subprocess.run(command).returncode
        output = ""
    else:
        output = subprocess.run(command, capture_output=True, text=True).stdout
    wall = time.monotonic() - started
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = snapshot()
    print(output, end="")
    if trees and not total:
        print(f"drained {drain(trees, classify):.1f}")
    requests = 1 if total else requests_made(output)
    if requests <= 0:
        return
    totals = {}
    for pid, (ticks, _, _) in after.items():
        name = classify(pid, after)
        spent = ticks - before.get(pid, (0, "0", ""))[0]
        if name and spent > 0:
            totals[name] = totals.get(name, 0) + spent / TICK
    own = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    if total:
        totals["command"] = own
        with open(total, "w", encoding="utf-8") as out:
            for name, seconds in sorted(totals.items()):
                print(f"cpu {name.replace(' ', '_')} {seconds:.2f}", file=out)
            print(f"wall {wall:.2f}", file=out)
        sys.exit(status)
    totals["wrk"] = own
    for name, seconds in sorted(totals.items()):
        print(f"cpu {name.replace(' ', '_')} {1000 * seconds / requests:.3f}")


if __name__ == "__main__":
    main()
