"""`Cache.transact()` is one atomic write across processes.

Four processes each add 1 to a counter 200 times by reading it and writing it back inside
`transact()`: with a transaction held across the block no increment is lost. The negative
control (ci.sh): with DISKCACHE_REDB_SABOTAGE=local-transact, `transact()` only holds off the
threads of its own process, and this test must fail.
"""

import multiprocessing as mp
import os

import diskcache_redb as dc

if os.environ.get('DISKCACHE_REDB_SABOTAGE') == 'local-transact':
    # The negative control (ci.sh): a transact() that holds off only the threads of its own
    # process. The forked workers inherit the patch.
    dc.Cache.transact = lambda self, retry=False: self._local_transact()

PROCS = 4
ROUNDS = 200


def add_one_many_times(directory, start):
    cache = dc.Cache(directory)
    start.wait()
    for _ in range(ROUNDS):
        with cache.transact(retry=True):
            value = cache.get('counter', 0)
            cache.set('counter', value + 1)


def test_read_modify_write_in_transact_loses_nothing_across_processes(tmp_path):
    dc.Cache(tmp_path)['counter'] = 0
    start = mp.get_context('fork').Barrier(PROCS)
    ps = [
        mp.get_context('fork').Process(target=add_one_many_times, args=(str(tmp_path), start))
        for _ in range(PROCS)
    ]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert all(p.exitcode == 0 for p in ps)
    assert dc.Cache(tmp_path)['counter'] == PROCS * ROUNDS


def test_a_block_that_raises_is_rolled_back(tmp_path):
    cache = dc.Cache(tmp_path)
    cache['a'] = 1
    try:
        with cache.transact():
            cache['a'] = 2
            cache['b'] = 3
            assert cache['a'] == 2  # the block reads its own writes
            raise KeyError('boom')
    except KeyError:
        pass
    assert cache['a'] == 1
    assert 'b' not in cache


def test_other_operations_inside_transact_are_refused(tmp_path):
    cache = dc.Cache(tmp_path)
    with cache.transact():
        cache['k'] = 1
        try:
            cache.push('x')
        except RuntimeError:
            pass
        else:
            raise AssertionError('push inside transact() ran')
    assert cache['k'] == 1
