#!/usr/bin/env python3
"""Python diskcache's Deque and Index, timed as the `bench` example times ours.

Usage:  python3 scripts/bench_deque_index.py OUT.json [--ops N] [--warm N] [--dir BASE]
Needs:  pip install diskcache==5.6.3

The Python bench (scripts/bench_python.py) does not measure Deque or Index; this
one does, with the same statistics (median / p90 / p99 / p99.9 / p99.99 / max / mean
microseconds, n) and the same small value, b"x" * 100. The `bench` example reads OUT.json
with `--compare-deque OUT.json` and prints these figures beside its own.

Workload (the Rust bench reproduces it):
  warm-up         = `warm` appends and poplefts on a Deque, `warm` sets and gets of keys
                    "warm-%d" on an Index, each in a directory of its own, then cleared
  deque_push_back = N appends of SMALL to an empty Deque
  deque_pop_front = N poplefts of them
  index_insert    = N sets of new keys "key-%d" (value SMALL) on an empty Index
  index_get       = N gets of those keys
  cache_push      = N Cache.push(SMALL) on an empty Cache
  cache_pull      = N Cache.pull() of them
JSON: {"DequeIndex": {op: stats}, "diskcache_version", "env": {...}, "n"}.
"""
import json
import os
import platform
import sqlite3
import sys
import tempfile

import diskcache

# The same statistics, timing loop and flags as the main Python bench beside this script.
from bench_python import arg, timed

SMALL = b"x" * 100


def main():
    flags = {"--ops", "--dir", "--warm"}
    pos = [a for i, a in enumerate(sys.argv[1:], 1)
           if not a.startswith("--") and sys.argv[i - 1] not in flags]
    if not pos:
        sys.exit(__doc__)
    out = pos[0]
    n = arg("--ops", 20000)
    warm = arg("--warm", 2000)
    base = arg("--dir", tempfile.gettempdir())
    ops = {}
    with tempfile.TemporaryDirectory(prefix="diskcache-py-dq-", dir=base) as tmp:
        deque = diskcache.Deque(directory=os.path.join(tmp, "deque"))
        for _ in range(warm):
            deque.append(SMALL)
        for _ in range(warm):
            deque.popleft()
        deque.clear()
        ops["deque_push_back"] = timed(lambda _: deque.append(SMALL), range(n))
        ops["deque_pop_front"] = timed(lambda _: deque.popleft(), range(n))
        assert len(deque) == 0
        deque.cache.close()

        index = diskcache.Index(os.path.join(tmp, "index"))
        for i in range(warm):
            index[f"warm-{i}"] = SMALL
            index[f"warm-{i}"]
        index.clear()
        keys = [f"key-{i}" for i in range(n)]
        ops["index_insert"] = timed(lambda k: index.__setitem__(k, SMALL), keys)
        ops["index_get"] = timed(lambda k: index[k], keys)
        assert len(index) == n
        index.cache.close()

        cache = diskcache.Cache(os.path.join(tmp, "queue"))
        ops["cache_push"] = timed(lambda _: cache.push(SMALL), range(n))
        ops["cache_pull"] = timed(lambda _: cache.pull(), range(n))
        cache.close()
    result = {
        "diskcache_version": diskcache.__version__,
        "n": n,
        "env": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "nproc": os.cpu_count(),
        },
        "DequeIndex": ops,
    }
    print(f"Python diskcache {diskcache.__version__} Deque/Index, n={n}")
    for op, s in ops.items():
        print(f"  {op:<16} median {s['median_us']:>8.2f} us  p99 {s['p99_us']:>8.2f} us")
    with open(out, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
