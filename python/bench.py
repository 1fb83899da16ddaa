"""diskcache_redb beside python-diskcache, in one run: medians per operation and their ratios.

    python3 python/bench.py [--ops 5000] [--procs 4] [--dir DIR]

Needs both modules installed (`pip install diskcache` and the built wheel). Measures, for
each module: set, get, delete and incr from one process (median of per-call times); then
`--procs` processes doing 90% get / 10% set on a shared cache (total operations a second);
then `--procs` processes incrementing one counter while one of them is killed with SIGKILL,
checking that the counter holds at least every increment a process was told succeeded.
Prints one table and exits 1 if an increment was lost.
"""

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time


def load(name):
    if name == 'python':
        import diskcache

        return diskcache
    import diskcache_redb

    return diskcache_redb


def median_us(fn, keys):
    times = []
    for k in keys:
        t0 = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def single(mod, directory, n):
    cache = mod.Cache(directory)
    keys = ['key-%d' % i for i in range(n)]
    value = 'v' * 100
    out = {}
    out['set'] = median_us(lambda k: cache.set(k, value), keys)
    out['get'] = median_us(lambda k: cache.get(k), keys)
    out['delete'] = median_us(lambda k: cache.delete(k), keys)
    out['incr'] = median_us(lambda k: cache.incr(k), keys)
    cache.close()
    return out


def mix_worker(name, directory, n, seed, ready, go, result):
    mod = load(name)
    cache = mod.Cache(directory)
    import random

    rng = random.Random(seed)
    value = 'v' * 100
    ready.wait()
    go.wait()
    t0 = time.perf_counter()
    for _ in range(n):
        k = 'key-%d' % rng.randrange(1000)
        if rng.random() < 0.9:
            cache.get(k)
        else:
            cache.set(k, value)
    result.put(time.perf_counter() - t0)


def mix(name, directory, procs, n):
    cache = load(name).Cache(directory)
    for i in range(1000):
        cache.set('key-%d' % i, 'v' * 100)
    ready = mp.Barrier(procs + 1)
    go = mp.Barrier(procs + 1)
    result = mp.Queue()
    ps = [
        mp.Process(target=mix_worker, args=(name, directory, n, s, ready, go, result))
        for s in range(procs)
    ]
    for p in ps:
        p.start()
    ready.wait()
    go.wait()
    elapsed = max(result.get() for _ in ps)
    for p in ps:
        p.join()
    return procs * n / elapsed


def incr_worker(name, directory, acked):
    cache = load(name).Cache(directory)
    while True:
        cache.incr('counter', retry=True)
        with acked.get_lock():
            acked.value += 1


def kill_incr(name, directory, procs, seconds):
    """The counter after `procs` processes incremented it and one was killed with SIGKILL."""
    acked = [mp.Value('q', 0) for _ in range(procs)]
    ps = [mp.Process(target=incr_worker, args=(name, directory, a)) for a in acked]
    for p in ps:
        p.start()
    time.sleep(seconds)
    os.kill(ps[0].pid, signal.SIGKILL)
    ps[0].join()
    time.sleep(seconds)
    for p in ps[1:]:
        p.kill()
        p.join()
    told = sum(a.value for a in acked)
    stored = load(name).Cache(directory).get('counter', 0)
    return told, stored


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ops', type=int, default=5000)
    ap.add_argument('--procs', type=int, default=4)
    ap.add_argument('--dir', default=None)
    args = ap.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix='bench-')
    os.makedirs(root, exist_ok=True)
    results = {}
    lost = False
    for name in ('python', 'redb'):
        base = os.path.join(root, name)
        shutil.rmtree(base, ignore_errors=True)
        r = single(load(name), os.path.join(base, 'single'), args.ops)
        r['mix'] = mix(name, os.path.join(base, 'mix'), args.procs, args.ops)
        told, stored = kill_incr(name, os.path.join(base, 'kill'), args.procs, 1.0)
        r['kill'] = (told, stored)
        lost |= stored < told
        results[name] = r
    py, rs = results['python'], results['redb']
    print('%-26s %14s %14s %8s' % ('operation', 'diskcache', 'diskcache_redb', 'ratio'))
    for op in ('set', 'get', 'delete', 'incr'):
        print('%-26s %11.2f us %11.2f us %7.1fx' % (op + ' (median)', py[op], rs[op], py[op] / rs[op]))
    print(
        '%-26s %10.0f/s %10.0f/s %7.1fx'
        % ('%d procs 90/10 get/set' % args.procs, py['mix'], rs['mix'], rs['mix'] / py['mix'])
    )
    for name in ('python', 'redb'):
        told, stored = results[name]['kill']
        print(
            '%s: %d procs x incr, one killed -9: %d acknowledged, %d stored%s'
            % (name, args.procs, told, stored, '' if stored >= told else ' LOST')
        )
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if lost else 0)


if __name__ == '__main__':
    main()
