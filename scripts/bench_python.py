#!/usr/bin/env python3
"""Python diskcache (5.6.x) on this machine: the reference the bench example compares with.

Usage:  python3 scripts/bench_python.py OUT.json [--ops N] [--dir BASE] [--seconds S] [--procs P]
Needs:  pip install diskcache==5.6.3

Measures diskcache.Cache and diskcache.FanoutCache (8 shards, default timeout) in one
process: median / p90 / p99 / p99.9 / p99.99 / max latency (microseconds) per operation,
after a warm-up, then the throughput of P processes (default 4) doing 90% get / 10% set on
one shared cache for S seconds (default 5), once on a Cache and once on a FanoutCache.
Prints a table and writes the figures as JSON to OUT.json.

Workload (the Rust bench must reproduce it for the ratios to mean anything):
  small value   = b"x" * 100 (bytes, stored inline in SQLite)
  set           = N inserts of new keys "key-%d"           (value SMALL)
  get_hit       = N gets of those keys
  get_miss      = N gets of keys "miss-%d" never set
  incr          = N increments of one key "counter"
  delete        = N deletes of the "key-%d" keys (all present)
  set_1MiB      = 100 inserts of new keys "big-%d", value b"y" * 2**20 (goes to a file)
  get_1MiB      = 100 gets of those keys (value read whole into memory)
  mixed         = P processes, keys "key-%d" % (i % 1000) pre-populated, op i % 10 == 0 -> set
JSON top level: "Cache" / "FanoutCache" -> {op: {median_us, p90_us, p99_us, p999_us, p9999_us,
max_us, mean_us, n}} (p999_us and p9999_us are p99.9 and p99.99; older files lack them),
"mixed_4proc_90get" -> {procs, seconds, ops_per_s, ...} (Cache), "extras" -> further figures
(set_update, get_1MiB_read, FanoutCache mixed), "env".
The op names under "Cache"/"FanoutCache" are the ones the Rust bench must write too; keep them.
"""
import json
import multiprocessing as mp
import os
import platform
import sqlite3
import sys
import tempfile
import time

import diskcache

SMALL = b"x" * 100
BIG = b"y" * (1 << 20)
BIG_N = 100
MIX_KEYS = 1000


def stats(ts):
    """Latency summary of a list of nanosecond durations, in microseconds."""
    ts = sorted(ts)
    n = len(ts)
    us = lambda v: round(v / 1000.0, 2)  # noqa: E731
    return {
        "median_us": us(ts[n // 2]),
        "p90_us": us(ts[min(n - 1, int(n * 0.90))]),
        "p99_us": us(ts[min(n - 1, int(n * 0.99))]),
        "p999_us": us(ts[min(n - 1, int(n * 0.999))]),
        "p9999_us": us(ts[min(n - 1, int(n * 0.9999))]),
        "max_us": us(ts[-1]),
        "mean_us": us(sum(ts) / n),
        "n": n,
    }


def timed(fn, keys):
    clock = time.perf_counter_ns
    ts = []
    append = ts.append
    for k in keys:
        t = clock()
        fn(k)
        append(clock() - t)
    return stats(ts)


def warm_up(cache, n):
    """Touch every code path once per key on keys the measured phase never uses."""
    for i in range(n):
        cache.set(f"warm-{i}", SMALL)
        cache.get(f"warm-{i}")
        cache.get(f"warm-miss-{i}")
        cache.incr("warm-counter")
    for i in range(n):
        cache.delete(f"warm-{i}")
    cache.delete("warm-counter")
    for i in range(5):
        cache.set(f"warm-big-{i}", BIG)
        cache.get(f"warm-big-{i}")
        cache.delete(f"warm-big-{i}")


def single(cache, n, warm):
    warm_up(cache, warm)
    keys = [f"key-{i}" for i in range(n)]
    miss = [f"miss-{i}" for i in range(n)]
    big = [f"big-{i}" for i in range(BIG_N)]
    r, x = {}, {}
    r["set"] = timed(lambda k: cache.set(k, SMALL), keys)
    r["get_hit"] = timed(cache.get, keys)
    r["get_miss"] = timed(cache.get, miss)
    r["incr"] = timed(lambda k: cache.incr("counter"), keys)
    x["set_update"] = timed(lambda k: cache.set(k, SMALL), keys)
    r["delete"] = timed(cache.delete, keys)
    r["set_1MiB"] = timed(lambda k: cache.set(k, BIG), big)
    r["get_1MiB"] = timed(cache.get, big)

    def read_all(k):
        with cache.read(k) as fh:
            fh.read()

    x["get_1MiB_read"] = timed(read_all, big)
    for k in big:
        cache.delete(k)
    assert len(cache) == 1, len(cache)  # only "counter" is left
    return r, x


def worker(kind, directory, seconds, barrier, queue, seed):
    cache = diskcache.FanoutCache(directory) if kind == "FanoutCache" else diskcache.Cache(directory)
    cache.get("key-0")  # open the connection before the clock starts
    clock = time.perf_counter_ns
    get_ts, set_ts, set_false = [], [], 0
    i = seed
    barrier.wait()
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        k = f"key-{i % MIX_KEYS}"
        t = clock()
        if i % 10 == 0:
            ok = cache.set(k, SMALL)
            set_ts.append(clock() - t)
            if not ok:
                set_false += 1
        else:
            cache.get(k)
            get_ts.append(clock() - t)
        i += 1
    elapsed = time.monotonic() - start
    cache.close()
    queue.put((len(get_ts) + len(set_ts), elapsed, get_ts, set_ts, set_false))


def multi(kind, directory, procs, seconds):
    cache = diskcache.FanoutCache(directory) if kind == "FanoutCache" else diskcache.Cache(directory)
    for i in range(MIX_KEYS):
        cache.set(f"key-{i}", SMALL)
    cache.close()
    barrier = mp.Barrier(procs)
    queue = mp.Queue()
    ps = [
        mp.Process(target=worker, args=(kind, directory, seconds, barrier, queue, p * 7919))
        for p in range(procs)
    ]
    for p in ps:
        p.start()
    results = [queue.get() for _ in ps]
    for p in ps:
        p.join()
    ops = sum(r[0] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    get_ts = [t for r in results for t in r[2]]
    set_ts = [t for r in results for t in r[3]]
    return {
        "kind": kind,
        "procs": procs,
        "seconds": seconds,
        "ops": ops,
        "ops_per_s": round(rate),
        "get": stats(get_ts),
        "set": stats(set_ts),
        "set_returned_false": sum(r[4] for r in results),
    }


def mount_of(path):
    """(device, fstype, mount point) of the file system holding `path`, from /proc/mounts."""
    path = os.path.realpath(path)
    best = ("?", "?", "")
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                dev, mnt, fstype = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[2]):
                    best = (dev, fstype, mnt)
    except OSError:
        pass
    return {"device": os.path.basename(best[0]), "fstype": best[1], "mount": best[2]}


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    flags = {"--ops", "--dir", "--seconds", "--procs", "--warm"}
    pos = [a for i, a in enumerate(sys.argv[1:], 1) if not a.startswith("--") and sys.argv[i - 1] not in flags]
    out = pos[0] if pos else None
    n = arg("--ops", 20000)
    warm = arg("--warm", 2000)
    seconds = arg("--seconds", 5.0)
    procs = arg("--procs", 4)
    base = arg("--dir", tempfile.gettempdir())
    t0 = time.monotonic()
    result = {
        "diskcache_version": diskcache.__version__,
        "nproc": os.cpu_count(),
        "env": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "tmp_fs": mount_of(base),
        },
        "extras": {},
    }
    with tempfile.TemporaryDirectory(dir=base) as d:
        with diskcache.Cache(os.path.join(d, "c")) as c:
            result["Cache"], result["extras"]["Cache"] = single(c, n, warm)
        with diskcache.FanoutCache(os.path.join(d, "f"), shards=8) as f:
            result["FanoutCache"], result["extras"]["FanoutCache"] = single(f, n, warm)
        result["mixed_4proc_90get"] = multi("Cache", os.path.join(d, "m"), procs, seconds)
        result["extras"]["mixed_fanout"] = multi("FanoutCache", os.path.join(d, "mf"), procs, seconds)
    result["wall_s"] = round(time.monotonic() - t0, 1)

    print(f"diskcache {diskcache.__version__}, sqlite {sqlite3.sqlite_version}, nproc {os.cpu_count()}, "
          f"tmp on {result['env']['tmp_fs']['device']} ({result['env']['tmp_fs']['fstype']}), n={n}")
    print(f"{'op':16s} {'Cache med':>10s} {'p99':>9s} {'p99.99':>9s} {'max':>9s}   "
          f"{'Fanout med':>10s} {'p99':>9s} {'p99.99':>9s} {'max':>9s}   (us)")
    ops = list(result["Cache"]) + list(result["extras"]["Cache"])
    for op in ops:
        a = result["Cache"].get(op) or result["extras"]["Cache"][op]
        b = result["FanoutCache"].get(op) or result["extras"]["FanoutCache"][op]
        print(f"{op:16s} {a['median_us']:10.1f} {a['p99_us']:9.1f} {a['p9999_us']:9.1f} {a['max_us']:9.1f}   "
              f"{b['median_us']:10.1f} {b['p99_us']:9.1f} {b['p9999_us']:9.1f} {b['max_us']:9.1f}")
    for m in (result["mixed_4proc_90get"], result["extras"]["mixed_fanout"]):
        print(f"{m['procs']} procs 90% get/10% set, {m['kind']}: {m['ops_per_s']} ops/s "
              f"(get med {m['get']['median_us']} p99 {m['get']['p99_us']} us; "
              f"set med {m['set']['median_us']} p99 {m['set']['p99_us']} max {m['set']['max_us']} us; "
              f"set False {m['set_returned_false']})")
    print(f"wall {result['wall_s']} s")
    if out:
        with open(out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
