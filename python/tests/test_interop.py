"""One cache directory shared by this module and a Rust program (the `diskcache` command).

Needs the command: DISKCACHE_CLI=path/to/diskcache (ci.sh builds it); without it these tests
are skipped.
"""

import json
import os
import subprocess
import threading

import pytest

import diskcache_redb as dc

CLI = os.environ.get('DISKCACHE_CLI')
pytestmark = pytest.mark.skipif(not CLI, reason='DISKCACHE_CLI is not set')


def batch(directory, requests):
    """Runs `diskcache batch` on the requests; returns the replies' results."""
    lines = ''.join(json.dumps(r) + '\n' for r in requests)
    out = subprocess.run(
        [CLI, 'batch', str(directory)], input=lines, capture_output=True, text=True, check=True
    ).stdout
    replies = [json.loads(line) for line in out.splitlines()]
    assert all(r['ok'] for r in replies), replies
    return [r['result'] for r in replies]


def test_rust_reads_what_python_wrote(tmp_path):
    cache = dc.Cache(tmp_path)
    cache['int'] = 42
    cache['float'] = 1.5
    cache['text'] = 'héllo'
    cache['bytes'] = b'\x00\x01'
    cache[('user', 42)] = 'ada'
    cache['object'] = {'a': [1, 2]}
    cache.close()
    got = batch(
        tmp_path,
        [
            {'op': 'get', 'key': 'int'},
            {'op': 'get', 'key': 'float'},
            {'op': 'get', 'key': 'text'},
            {'op': 'get', 'key': 'bytes'},
            {'op': 'get', 'key': ['user', 42]},
            {'op': 'get', 'key': 'object'},
        ],
    )
    assert got[:5] == [42, 1.5, 'héllo', {'bytes': '0001'}, 'ada']
    # A pickled value is bytes to Rust: the pickle itself.
    import pickle

    assert pickle.loads(bytes.fromhex(got[5]['bytes'])) == {'a': [1, 2]}


def test_python_reads_what_rust_wrote(tmp_path):
    batch(
        tmp_path,
        [
            {'op': 'set', 'key': 'int', 'value': -7},
            {'op': 'set', 'key': ['user', 42], 'value': 'bob', 'tag': 'users', 'expire': 600},
            {'op': 'set', 'key': 'bytes', 'value': {'bytes': 'ff00'}},
            {'op': 'push', 'value': 'job', 'prefix': 'q'},
        ],
    )
    cache = dc.Cache(tmp_path)
    assert cache['int'] == -7
    value, tag = cache.get(('user', 42), tag=True)
    assert (value, tag) == ('bob', 'users')
    assert cache['bytes'] == b'\xff\x00'
    assert cache.pull(prefix='q')[1] == 'job'
    assert sorted(map(str, cache)) == ["('user', 42)", 'bytes', 'int']


def test_one_counter_incremented_by_both_at_once(tmp_path):
    cache = dc.Cache(tmp_path)
    cache['n'] = 0
    n = 2000

    def python_side():
        for _ in range(n):
            cache.incr('n', retry=True)

    thread = threading.Thread(target=python_side)
    thread.start()
    batch(tmp_path, [{'op': 'incr', 'key': 'n'}] * n)
    thread.join()
    assert cache['n'] == 2 * n


def test_a_python_fanout_cache_is_the_rust_one(tmp_path):
    cache = dc.FanoutCache(tmp_path, shards=4)
    for i in range(40):
        cache[('k', i)] = i
    for shard in cache._shards:
        shard.close()
    # The command opens the directory as a FanoutCache of 4 shards (the record Python wrote)
    # and finds every key in the shard Python put it in.
    got = batch(tmp_path, [{'op': 'get', 'key': ['k', i]} for i in range(40)])
    assert got == list(range(40))
    got = batch(tmp_path, [{'op': 'set', 'key': 'from-rust', 'value': 'r'}])
    assert cache['from-rust'] == 'r'
