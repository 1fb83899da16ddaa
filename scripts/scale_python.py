#!/usr/bin/env python3
"""Python diskcache (5.6.x) as the cache grows: the reference `examples/scale.rs` compares with.

Usage:  python3 scripts/scale_python.py SIZE... [--json OUT.json] [--dir BASE]
Needs:  pip install diskcache==5.6.3

For each SIZE N, in a fresh directory under BASE (default: the system temp directory; removed
at the end), each phase in a child process of its own (this script run again with --child), so
that its peak resident memory (getrusage's ru_maxrss) is that phase's alone:

  fill     open, N sets of new keys "key-%d" with the value b"x" * 100, close (timed whole);
           then the bytes of every file in the directory (lengths, and st_blocks allocated),
           and of cache.db alone, per entry
  read     a fresh process: 20,000 gets of random existing keys (median: get_fresh_us),
           100,000 more untimed, 20,000 timed again (get_warm_us), 20,000 gets of keys
           "miss-%d" never set (get_miss_us); volume()
  set      a fresh process: 20,000 sets of new keys "new-%d" (set_new_us), close
  check    check() in a fresh process (diskcache has no compact)

JSON: {"sizes": {"N": {"fill": {"seconds", "peak_rss_bytes"}, "disk_bytes", "db_file_bytes",
"disk_per_entry", "disk_allocated_per_entry", "db_file_per_entry", "read": {...}, "set": {...}, "check": {...}}}, "env"},
the shape `cargo run --release --example scale -- --compare OUT.json` reads.
"""
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import diskcache

VALUE = b"x" * 100
TIMED = 20_000
WARMING = 100_000


def peak_rss():
    """This process's peak resident set in bytes (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def median_us(ts):
    ts = sorted(ts)
    return round(ts[len(ts) // 2] / 1000.0, 2)


def child(phase, directory, n):
    rng = random.Random(0x5CA1E ^ n)
    if phase == "fill":
        start = time.perf_counter()
        cache = diskcache.Cache(directory)
        for i in range(n):
            cache.set("key-%d" % i, VALUE)
        cache.close()
        out = {"seconds": time.perf_counter() - start}
    elif phase == "read":
        cache = diskcache.Cache(directory)
        clock = time.perf_counter_ns

        def timed(count, key):
            ts = []
            for _ in range(count):
                k = key()
                t0 = clock()
                cache.get(k)
                ts.append(clock() - t0)
            return median_us(ts)

        existing = lambda: "key-%d" % rng.randrange(n)  # noqa: E731
        fresh = timed(TIMED, existing)
        timed(WARMING, existing)
        warm = timed(TIMED, existing)
        counter = iter(range(1, TIMED + 1))
        miss = timed(TIMED, lambda: "miss-%d" % next(counter))
        out = {
            "get_fresh_us": fresh,
            "get_warm_us": warm,
            "get_miss_us": miss,
            "volume": cache.volume(),
        }
        cache.close()
    elif phase == "set":
        cache = diskcache.Cache(directory)
        ts = []
        for i in range(TIMED):
            k = "new-%d" % i
            t0 = time.perf_counter_ns()
            cache.set(k, VALUE)
            ts.append(time.perf_counter_ns() - t0)
        cache.close()
        out = {"set_new_us": median_us(ts)}
    elif phase == "check":
        cache = diskcache.Cache(directory)
        start = time.perf_counter()
        warnings = cache.check()
        out = {"seconds": time.perf_counter() - start, "warnings": len(warnings)}
        cache.close()
    else:
        raise SystemExit("no phase %s" % phase)
    out["peak_rss_bytes"] = peak_rss()
    return out


def spawn(phase, directory, n):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", phase, directory, str(n)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit("phase %s (N=%d) failed: %s" % (phase, n, proc.stderr))
    return json.loads(proc.stdout)


def disk_bytes(directory):
    total = 0
    for root, _dirs, files in os.walk(directory):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total, os.path.getsize(os.path.join(directory, "cache.db"))


def measure(base, n):
    work = tempfile.mkdtemp(prefix="scale-py-", dir=base)
    try:
        directory = os.path.join(work, "cache")
        out = {"fill": spawn("fill", directory, n)}
        total, db = disk_bytes(directory)
        allocated = sum(
            os.stat(os.path.join(root, f)).st_blocks * 512
            for root, _dirs, files in os.walk(directory)
            for f in files
        )
        out.update(
            disk_allocated_per_entry=allocated / n,
            disk_bytes=total,
            db_file_bytes=db,
            disk_per_entry=total / n,
            db_file_per_entry=db / n,
        )
        out["read"] = spawn("read", directory, n)
        out["set"] = spawn("set", directory, n)
        out["check"] = spawn("check", directory, n)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    if argv[:1] == ["--child"]:
        phase, directory, n = argv[1], argv[2], int(argv[3])
        print(json.dumps(child(phase, directory, n)))
        return
    sizes, out_path, base = [], None, None
    it = iter(argv)
    for a in it:
        if a == "--json":
            out_path = next(it)
        elif a == "--dir":
            base = next(it)
        else:
            sizes.append(int(a))
    if not sizes:
        raise SystemExit(__doc__)
    result = {}
    for n in sizes:
        r = measure(base, n)
        result[str(n)] = r
        mib = 1 << 20
        print(
            "N=%d: fill %.2f s, fill peak RSS %.1f MiB, disk %.0f B/entry (cache.db %.0f), "
            "volume %.1f MiB, get fresh %.2f us, warm %.2f us, miss %.2f us, read RSS %.1f MiB, "
            "set new %.2f us, check %.2f s (RSS %.1f MiB)"
            % (
                n,
                r["fill"]["seconds"],
                r["fill"]["peak_rss_bytes"] / mib,
                r["disk_per_entry"],
                r["db_file_per_entry"],
                r["read"]["volume"] / mib,
                r["read"]["get_fresh_us"],
                r["read"]["get_warm_us"],
                r["read"]["get_miss_us"],
                r["read"]["peak_rss_bytes"] / mib,
                r["set"]["set_new_us"],
                r["check"]["seconds"],
                r["check"]["peak_rss_bytes"] / mib,
            ),
            flush=True,
        )
    env = {
        "python": platform.python_version(),
        "diskcache": diskcache.__version__,
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }
    if out_path:
        with open(out_path, "w") as f:
            json.dump({"sizes": result, "env": env}, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
