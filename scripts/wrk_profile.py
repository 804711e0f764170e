"""Runs wrk and accounts the CPU time every process on the machine spent meanwhile.

usage: wrk_profile.py EDGE_PORT wrk ARGS...

Prints wrk's output, then one line per component: `cpu <component> <ms of CPU per request>`.
Components are told apart by command line; the two workerd processes of `wrangler dev` by
which one listens on the edge's public port (wrangler's proxy) and which does not (the runtime
running our worker, with local D1 inside it). CPU comes from /proc (utime + stime), so a
process that exits during the run (wrk itself) is counted from its own rusage instead.
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
        found[pid] = (int(fields[11]) + int(fields[12]), cmd)
    return found


def component(pid, cmd, proxy_pids):
    if "workerd" in cmd:
        return "workerd: wrangler proxy" if pid in proxy_pids else "workerd: worker + local D1"
    if "wrangler" in cmd and "node" in cmd:
        return "node: wrangler dev"
    if "origin-worker" in cmd:
        return "origin"
    if cmd.startswith("postgres") or "/postgres " in cmd:
        return "postgres"
    return None


def main():
    port, command = sys.argv[1], sys.argv[2:]
    proxy_pids = listening_pids(port)
    before = snapshot()
    started = time.time()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(command, capture_output=True, text=True).stdout
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = snapshot()
    print(output, end="")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = float(rate.group(1)) * (time.time() - started) if rate else 0
    if requests <= 0:
        return
    totals = {}
    for pid, (ticks, cmd) in after.items():
        name = component(pid, cmd, proxy_pids)
        spent = ticks - before.get(pid, (0, ""))[0]
        if name and spent > 0:
            totals[name] = totals.get(name, 0) + spent / TICK
    totals["wrk"] = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    for name, seconds in sorted(totals.items()):
        print(f"cpu {name.replace(' ', '_')} {1000 * seconds / requests:.2f}")


if __name__ == "__main__":
    main()
