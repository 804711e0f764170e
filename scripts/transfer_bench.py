"""Uploads and downloads a file through the edge, timing both and watching memory.

usage: transfer_bench.py EDGE_URL TOKEN PROJECT_ID [MIB] [RUNS]

Each run uploads a MIB-MiB PNG-shaped file (multipart, streamed from memory with its
Content-Length) and downloads it back by its signed URL, checking the bytes by SHA-256. While
it transfers, the resident memory of the runtime's workerd (the process running the worker and
the local R2 simulator; wrangler's proxy is the one listening on the edge's port) is sampled
every 10 ms: its growth over its level before the transfer bounds what the transfer held in
memory (the worker's and the R2 simulator's together).

Prints one line per run and a summary: medians of MiB/s each way and the largest growth.
"""
import hashlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

BOUNDARY = "bench-boundary-5c2f9d0e"


def runtime_pids(port):
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    proxy = set(re.findall(r"pid=(\d+)", out))
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid in proxy:
            continue
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                if "workerd" in f.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


def rss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Sampler:
    """The largest RSS of `pids` while it runs."""

    def __init__(self, pids):
        self.pids, self.peak, self.running = pids, 0, True
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_bytes(self.pids))
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.running = False
        self.thread.join()


def payload(mib):
    block = hashlib.sha256(b"bench").digest() * 2048  # 64 KiB
    data = bytearray(b"\x89PNG\r\n\x1a\n")
    while len(data) < mib * 1024 * 1024:
        data += block
    return bytes(data[: mib * 1024 * 1024])


def upload(edge, token, project, data):
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\n{project}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    url = urllib.parse.urlsplit(edge)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    conn.putrequest("POST", "/api/v1/attachments/")
    conn.putheader("authorization", f"Bearer {token}")
    conn.putheader("content-type", f"multipart/form-data; boundary={BOUNDARY}")
    conn.putheader("content-length", str(len(head) + len(data) + len(tail)))
    conn.endheaders()
    conn.send(head)
    view = memoryview(data)
    for start in range(0, len(data), 256 * 1024):
        conn.send(view[start : start + 256 * 1024])
    conn.send(tail)
    answer = conn.getresponse()
    body = answer.read()
    if answer.status != 201:
        sys.exit(f"upload answered {answer.status}: {body[:300]!r}")
    return json.loads(body)


def download(edge, file_url):
    url = urllib.parse.urlsplit(file_url)
    base = urllib.parse.urlsplit(edge)
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=300)
    conn.request("GET", f"{url.path}?{url.query}")
    answer = conn.getresponse()
    digest, size = hashlib.sha256(), 0
    while chunk := answer.read(256 * 1024):
        digest.update(chunk)
        size += len(chunk)
    if answer.status != 200:
        sys.exit(f"download answered {answer.status}")
    return digest.hexdigest(), size


def main():
    edge, token, project = sys.argv[1:4]
    mib = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    port = urllib.parse.urlsplit(edge).port
    data = payload(mib)
    expected = hashlib.sha256(data).hexdigest()
    pids = runtime_pids(port)
    ups, downs, growths = [], [], []
    for run in range(1, runs + 1):
        before = rss_bytes(pids)
        with Sampler(pids) as sampler:
            started = time.perf_counter()
            created = upload(edge, token, project, data)
            up = time.perf_counter() - started
            started = time.perf_counter()
            digest, size = download(edge, created["file"])
            down = time.perf_counter() - started
        if digest != expected or size != len(data) or created["checksum"] != expected:
            sys.exit("the bytes came back different")
        ups.append(mib / up)
        downs.append(mib / down)
        growths.append(max(0, sampler.peak - before))
        print(f"    run {run}: up {mib / up:.1f} MiB/s ({up:.2f} s), down {mib / down:.1f} MiB/s "
              f"({down:.2f} s), runtime RSS +{(sampler.peak - before) / 2**20:.1f} MiB over "
              f"{before / 2**20:.0f} MiB")
    print(f"{mib} MiB file, {runs} runs (medians): upload {statistics.median(ups):.1f} MiB/s, "
          f"download {statistics.median(downs):.1f} MiB/s; the runtime's RSS grew by at most "
          f"{max(growths) / 2**20:.1f} MiB during a transfer")


if __name__ == "__main__":
    main()
