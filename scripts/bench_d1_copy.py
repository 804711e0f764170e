"""Copies a local D1 state (a `wrangler dev --persist-to` folder) for the bench's ceiling.

usage: bench_d1_copy.py SOURCE DESTINATION

Copies every SQLite database under SOURCE/v3/d1/ (the databases and miniflare's metadata) to the
same place under DESTINATION, through SQLite's online backup: the stack's runtime keeps its
database open in WAL mode while this runs, and the backup reads a consistent snapshot (the
pages still in the WAL included), which copying the files would not. The copy is a database of
its own: the two runtimes never share a SQLite file. Prints what it copied.
"""
import os
import sqlite3
import sys
import time


def main():
    source, destination = (os.path.abspath(p) for p in sys.argv[1:3])
    base = os.path.join(source, "v3", "d1")
    started = time.monotonic()
    copied = []
    for folder, _, files in os.walk(base):
        for name in files:
            if not name.endswith(".sqlite"):
                continue
            src = os.path.join(folder, name)
            dst = os.path.join(destination, os.path.relpath(src, source))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            reader = sqlite3.connect(src, timeout=30)
            writer = sqlite3.connect(dst)
            try:
                reader.backup(writer, pages=-1)
            finally:
                writer.close()
                reader.close()
            copied.append((os.path.relpath(src, base), os.path.getsize(dst)))
    if not any(not name.endswith("metadata.sqlite") for name, _ in copied):
        sys.exit(f"bench_d1_copy: no D1 database under {base}")
    total = sum(size for _, size in copied)
    print(f"    D1 copied for the ceiling: {len(copied)} files, {total / 1e6:.1f} MB in "
          f"{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
