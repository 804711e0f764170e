"""Finds the processes of a `wrangler dev` and the runtime's own socket, behind its proxy.

usage: bench_runtime.py url  PORT     the runtime's entry socket, as http://127.0.0.1:N
       bench_runtime.py pids PORT     "NODE PROXY RUNTIME": wrangler's node, its proxy workerd,
                                      the workerd running the worker (and local D1)
       bench_runtime.py listener PORT the pid listening on 127.0.0.1:PORT

`wrangler dev` (wrangler 4, miniflare) runs two workerd processes under its node process:
- the proxy, listening on the public port (`--port`), which forwards every request to
- the runtime, started with `--socket-addr=entry=127.0.0.1:0 --inspector-addr=127.0.0.1:0
  --debug-port=127.0.0.1:0`: three sockets on ports the kernel chose, that only the node
  process is told (over workerd's control fd). The `entry` socket is miniflare's entry worker,
  which routes a plain request to the user's worker. It needs no special header: the proxy adds
  `MF-Original-URL` and `MF-Proxy-Shared-Secret`, which only rewrite the URL and `Host` back to
  the public ones; without them the worker sees the entry socket's own URL.

The runtime is the workerd that is a child of the same node process as the proxy and is not
the proxy. Of its listening sockets, the entry is the one whose `GET /health/` answers 200 with
the same body as the proxy's. They are tried in the order workerd opened them (by file
descriptor): the entry socket comes first, so the debug port (Cap'n Proto, which logs a warning
when sent HTTP) is normally never touched.
"""
import http.client
import os
import re
import subprocess
import sys
import time


def listeners():
    """(pid, port, fd) of every listening TCP socket on the machine."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        port = int(local.rsplit(":", 1)[1])
        for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", line):
            found.append((int(pid), port, int(fd)))
    return found


def listener(port):
    pids = {pid for pid, p, _ in listeners() if p == port}
    if len(pids) != 1:
        sys.exit(f"bench_runtime: expected one process listening on port {port}, found {sorted(pids)}")
    return pids.pop()


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if parent(int(entry)) == pid:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def command(pid):
    with open(f"/proc/{pid}/cmdline") as f:
        return f.read().split("\0")


def processes(port):
    proxy = listener(port)
    if not os.path.basename(command(proxy)[0]).startswith("workerd"):
        sys.exit(f"bench_runtime: port {port} is served by {command(proxy)[0]}, not wrangler's workerd")
    node = parent(proxy)
    runtimes = [
        pid for pid in children(node)
        if pid != proxy and os.path.basename(command(pid)[0]).startswith("workerd")
    ]
    if len(runtimes) != 1:
        sys.exit(f"bench_runtime: expected one runtime workerd beside the proxy {proxy}, found {runtimes}")
    return node, proxy, runtimes[0]


def health(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", "/health/")
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        connection.close()


def runtime_url(port):
    _, _, runtime = processes(port)
    status, expected = health(port)
    if status != 200:
        sys.exit(f"bench_runtime: GET /health/ on the proxy (port {port}) answered {status}")
    sockets = sorted((fd, p) for pid, p, fd in listeners() if pid == runtime)
    for _, candidate in sockets:
        if health(candidate) == (200, expected):
            return f"http://127.0.0.1:{candidate}"
    sys.exit(f"bench_runtime: none of the runtime's sockets {[p for _, p in sockets]} answers /health/ as the proxy does")


def patiently(find, port, seconds=60):
    """find(port), retried for a while: `wrangler dev` restarting its runtime (the worker's
    files changed) has, for a moment, no runtime or one not answering yet."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return find(port)
        except SystemExit:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def main():
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "url":
        print(patiently(runtime_url, port))
    elif what == "pids":
        print(*patiently(processes, port))
    elif what == "listener":
        print(listener(port))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
