"""python-diskcache's ``Cache`` on the disk-cache engine (redb, pure Rust).

The methods of ``Cache`` that touch entries are native (``_native._Cache``); this module adds
what is Python only: settings as attributes, ``transact``, ``memoize``, ``check``'s warnings,
iteration, pickling of the handle, and the constants python-diskcache exports.
"""

import contextlib
import functools as ft
import os.path as op
import tempfile
import threading
import warnings

from ._native import Timeout, _Cache, _key_hash


def full_name(func):
    """Return full name of `func` by adding the module and function name."""
    return func.__module__ + '.' + func.__qualname__


class Constant(tuple):
    """Pretty display of immutable constant."""

    def __new__(cls, name):
        return tuple.__new__(cls, (name,))

    def __repr__(self):
        return '%s' % self[0]


ENOVAL = Constant('ENOVAL')
UNKNOWN = Constant('UNKNOWN')

DEFAULT_SETTINGS = {
    'statistics': 0,  # False
    'tag_index': 0,  # False
    'eviction_policy': 'least-recently-stored',
    'size_limit': 2**30,  # 1gb
    'cull_limit': 10,
    'disk_min_file_size': 2**15,  # 32kb
}

#: The eviction policies, by python-diskcache's names (the values describe the order).
EVICTION_POLICY = {
    'none': {'cull': None},
    'least-recently-stored': {'cull': 'store_time'},
    'least-recently-used': {'cull': 'access_time'},
    'least-frequently-used': {'cull': 'access_count'},
}


class UnknownFileWarning(UserWarning):
    """Warning used by Cache.check for unknown files."""


class EmptyDirWarning(UserWarning):
    """Warning used by Cache.check for empty directories."""


class Disk:
    """How keys are hashed for sharding; values and keys are encoded by the engine.

    Ints (within 64 bits), floats, strs and bytes are stored natively, so that Rust
    processes read them as their own types; anything else is pickled
    (``format-spec/rows.md``, Pickled values). A custom ``Disk`` subclass cannot change
    that encoding; passing one is accepted for compatibility.
    """

    def __init__(self, directory=None, **kwargs):
        self._directory = directory

    def hash(self, key):
        """The shard hash of `key`: the same as the Rust ``FanoutCache``'s."""
        return _key_hash(key)


class JSONDisk(Disk):
    """Accepted for compatibility: values are stored natively or pickled, as by ``Disk``."""

    def __init__(self, directory=None, compress_level=1, **kwargs):
        self.compress_level = compress_level
        super().__init__(directory, **kwargs)


def args_to_key(base, args, kwargs, typed, ignore):
    """Create cache key out of function arguments (python-diskcache's)."""
    args = tuple(arg for index, arg in enumerate(args) if index not in ignore)
    key = base + args + (None,)

    if kwargs:
        kwargs = {key: val for key, val in kwargs.items() if key not in ignore}
        sorted_items = sorted(kwargs.items())

        for item in sorted_items:
            key += item

    if typed:
        key += tuple(type(arg) for arg in args)

        if kwargs:
            key += tuple(type(value) for _, value in sorted_items)

    return key


_TRANSACT_LOCKS = {}
_TRANSACT_GUARD = threading.Lock()


def _transact_lock(directory):
    with _TRANSACT_GUARD:
        lock = _TRANSACT_LOCKS.get(directory)
        if lock is None:
            lock = _TRANSACT_LOCKS[directory] = threading.RLock()
        return lock


class Cache(_Cache):
    """Disk and file backed cache (python-diskcache's ``Cache``)."""

    def __new__(cls, directory=None, timeout=60, disk=Disk, **settings):
        if directory is None:
            directory = tempfile.mkdtemp(prefix='diskcache-')
        directory = op.expandvars(op.expanduser(str(directory)))
        wanted = {}
        for name, value in settings.items():
            if name in ('size_limit', 'cull_limit', 'disk_min_file_size'):
                value = int(value)
            wanted[name] = value
        self = super().__new__(cls, directory, float(timeout), wanted)
        return self

    def __init__(self, directory=None, timeout=60, disk=Disk, **settings):
        self._disk_type = disk
        self._disk = disk(self.directory) if isinstance(disk, type) else disk
        self._transact_lock = _transact_lock(self.directory)

    @property
    def disk(self):
        """Disk used for serialization."""
        return self._disk

    def __getattr__(self, name):
        if name in DEFAULT_SETTINGS:
            return self._settings()[name]
        raise AttributeError(name)

    def reset(self, key, value=ENOVAL, update=True):
        """Reset `key` and `value` item from Settings table; returns the value in force."""
        if value is ENOVAL:
            return self._settings().get(key)
        if not update:
            return value
        return self._reset(key, value)

    @contextlib.contextmanager
    def transact(self, retry=False):
        """Context manager to perform a transaction by locking the cache.

        The block's get, set, add, delete, pop, incr, decr, touch and ``in`` are one atomic
        write, for every thread and process: the library's transaction is held open while
        the block runs (and rolled back if it raises). Other operations inside it raise
        ``RuntimeError``. Transactions may be nested; reads of other threads and processes
        see the state before the block until it ends.
        """
        with self._transact_lock:
            began = self._tx_begin(retry)
            if not began:  # nested: the outer block commits
                yield
                return
            try:
                yield
            except BaseException:
                self._tx_end(False)
                raise
            else:
                self._tx_end(True)

    @contextlib.contextmanager
    def _local_transact(self):
        """Groups operations against the other threads of this process that use it (or
        ``transact``) on this directory; used by ``Deque`` and ``Index``, whose operations
        the library's transactions do not have (push, pull, peekitem)."""
        with self._transact_lock:
            yield

    def _transact(self, retry=False, filename=None):
        return self.transact(retry)

    # Whole-cache removals: a timeout carries the count removed so far as its first
    # argument, as python-diskcache's does (FanoutCache adds it up). The engine removes in
    # slices and does not report a partial count, so it is 0.
    def clear(self, retry=False):
        """Remove all items from cache; the count removed."""
        try:
            return _Cache.clear(self, retry=retry)
        except Timeout as e:
            raise Timeout(0) from e

    def cull(self, retry=False):
        """Cull items from cache until volume is less than size limit; the count removed."""
        try:
            return _Cache.cull(self, retry=retry)
        except Timeout as e:
            raise Timeout(0) from e

    def expire(self, now=None, retry=False):
        """Remove expired items from cache; the count removed."""
        try:
            return _Cache.expire(self, now, retry=retry)
        except Timeout as e:
            raise Timeout(0) from e

    def evict(self, tag, retry=False):
        """Remove items with matching `tag` from cache; the count removed."""
        try:
            return _Cache.evict(self, tag, retry=retry)
        except Timeout as e:
            raise Timeout(0) from e

    def read(self, key, retry=False):
        """Return file handle value corresponding to `key` from cache."""
        handle = self.get(key, default=ENOVAL, read=True, retry=retry)
        if handle is ENOVAL:
            raise KeyError(key)
        return handle

    def check(self, fix=False, retry=False):
        """Check database and file system consistency; returns the warnings."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            for problem in self._check(fix, retry):
                warnings.warn(problem)
        return caught

    def iterkeys(self, reverse=False):
        """Iterate Cache keys in database sort order."""
        return iter(self._sorted_keys(reverse))

    def __iter__(self):
        return iter(self._keys())

    def __reversed__(self):
        return reversed(self._keys())

    def close(self):
        """Apply the shared log to the database; the handle stays usable."""
        self._checkpoint()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __getstate__(self):
        return (self.directory, self.timeout, self._disk_type)

    def __reduce__(self):
        return (type(self), (self.directory, self.timeout, self._disk_type))

    def memoize(self, name=None, typed=False, expire=None, tag=None, ignore=()):
        """Memoizing cache decorator (python-diskcache's)."""
        if callable(name):
            raise TypeError('name cannot be callable')

        def decorator(func):
            """Decorator created by memoize() for callable `func`."""
            base = (full_name(func),) if name is None else (name,)

            @ft.wraps(func)
            def wrapper(*args, **kwargs):
                """Wrapper for callable to cache arguments and return values."""
                key = wrapper.__cache_key__(*args, **kwargs)
                result = self.get(key, default=ENOVAL, retry=True)

                if result is ENOVAL:
                    result = func(*args, **kwargs)
                    if expire is None or expire > 0:
                        self.set(key, result, expire, tag=tag, retry=True)

                return result

            def __cache_key__(*args, **kwargs):
                """Make key for cache given function arguments."""
                return args_to_key(base, args, kwargs, typed, ignore)

            wrapper.__cache_key__ = __cache_key__
            return wrapper

        return decorator
