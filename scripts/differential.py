#!/usr/bin/env python3
"""Python diskcache behind the batch protocol: the other half of the differential test.

Reads requests of the batch protocol (format-spec/batch-protocol.md), one JSON object a line
on standard input, applies each to a `diskcache.Cache`, and writes one reply a line in that
protocol's reply format, flushed, so that `tests/differential.rs` (and
`scripts/differential.sh`) can compare it reply by reply with `diskcache batch`.

One process serves many caches, so that a run of many seeds starts Python once: a line
`{"driver": "open", "directory": D}` closes the cache in use and opens (creating) the one in
D, and is answered `{"ok": true, "result": null}`. A request's `"id"` is echoed in its reply. Until the first such line a directory given
as the only argument is used.

Keys and values map to Python as the protocol maps them to the Rust library: a JSON integer
is an `int`, any other number a `float`, a string a `str`, `{"bytes": hex}` `bytes`,
`{"float": "inf" | "-inf" | "nan"}` a `float`; any other array or object is a composite value
(a list or dict, pickled). Replies write them back the same way. Errors are named as the
Rust command names them where the meaning is the same (`KeyError` is `KeyNotFound`; the
`TypeError` of `incr` on a value that is not a number is `NotAnInteger`); any other
exception by its Python class name (`IntegrityError`, ...). Messages are not compared.
"""

import json
import sqlite3
import math
import sys

import diskcache


def special(j):
    """The one-field special form `j` is, or None."""
    if isinstance(j, dict) and len(j) == 1:
        ((name, inner),) = j.items()
        if name == "bytes":
            return bytes.fromhex(inner)
        if name == "float":
            return float(inner)
    return None


def key(j):
    """The Python key (or tag) for the JSON form `j`."""
    s = special(j)
    if s is not None:
        return s
    if isinstance(j, list):
        return tuple(key(x) for x in j)
    return j


def value(j):
    """The Python value for the JSON form `j`."""
    s = special(j)
    if s is not None:
        return s
    return j


def out(v):
    """The JSON form of a Python key, tag or value, as the protocol writes it."""
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(v, (tuple, list)):
        return [out(x) for x in v]
    if isinstance(v, dict):
        return {k: out(x) for k, x in v.items()}
    return v


def flags(r):
    """`expire_time` and `tag` flags of a get or pop, `entry` asking for both."""
    entry = r.get("entry", False)
    return entry or r.get("expire_time", False), entry or r.get("tag", False)


def run(cache, r):
    """The result of request `r` on `cache`."""
    op = r["op"]
    k = lambda: key(r["key"])  # noqa: E731
    tag = lambda: key(r.get("tag"))  # noqa: E731
    if op == "set":
        return cache.set(k(), value(r["value"]), expire=r.get("expire"), tag=tag())
    if op == "add":
        return cache.add(k(), value(r["value"]), expire=r.get("expire"), tag=tag())
    if op == "get":
        expire_time, with_tag = flags(r)
        return cache.get(k(), default=value(r.get("default")), expire_time=expire_time,
                         tag=with_tag)
    if op == "get_entry":
        return cache.get(k(), default=value(r.get("default")), expire_time=True, tag=True)
    if op == "pop":
        expire_time, with_tag = flags(r)
        return cache.pop(k(), default=value(r.get("default")), expire_time=expire_time,
                         tag=with_tag)
    if op == "delete":
        return cache.delete(k())
    if op == "touch":
        return cache.touch(k(), expire=r.get("expire"))
    if op in ("incr", "decr"):
        try:
            return getattr(cache, op)(k(), r.get("delta", 1), default=r.get("default", 0))
        except TypeError as e:
            raise NotAnInteger(str(e)) from None
    if op == "contains":
        return k() in cache
    if op == "len":
        return len(cache)
    if op == "volume":
        return cache.volume()
    if op in ("clear", "expire", "cull"):
        return getattr(cache, op)()
    if op == "evict":
        return cache.evict(key(r["tag"]))
    if op == "keys":
        return list(reversed(cache) if r.get("reverse", False) else cache)
    if op == "keys_sorted":
        return list(cache.iterkeys(reverse=r.get("reverse", False)))
    if op == "peekitem":
        return cache.peekitem(last=r.get("last", True))
    if op == "push":
        return cache.push(value(r["value"]), prefix=r.get("prefix"),
                          side=r.get("side", "back"), expire=r.get("expire"), tag=tag())
    if op in ("pull", "peek"):
        default = r.get("default", [None, None])
        default = value(default) if not isinstance(default, list) else tuple(default)
        return getattr(cache, op)(prefix=r.get("prefix"), default=default,
                                  side=r.get("side", "front"))
    if op == "stats":
        return cache.stats(enable=r.get("enable", True), reset=r.get("reset", False))
    if op == "check":
        return [str(w.message) for w in cache.check(fix=r.get("fix", False))]
    if op == "reset":
        if "value" in r:
            return cache.reset(r["key"], r["value"])
        return cache.reset(r["key"])
    raise BadRequest("unknown op " + repr(op))


class NotAnInteger(Exception):
    """`incr`/`decr` of a value that is not a number (Python's TypeError)."""


class BadRequest(Exception):
    """A request this driver does not know."""


def main():
    cache = diskcache.Cache(sys.argv[1]) if len(sys.argv) > 1 else None
    for line in sys.stdin:
        if not line.strip():
            continue
        r = None
        try:
            r = json.loads(line)
            if "driver" in r:
                if cache is not None:
                    cache.close()
                cache = diskcache.Cache(r["directory"])
                reply = {"ok": True, "result": None}
            else:
                reply = {"ok": True, "result": out(run(cache, r))}
        except KeyError as e:
            reply = {"ok": False, "error": "KeyNotFound", "message": repr(e)}
        except sqlite3.IntegrityError as e:
            # A push onto the key past a queue's end: our command's name for it.
            reply = {"ok": False, "error": "QueueFull", "message": str(e)}
        except Exception as e:  # noqa: BLE001 (every failure is a reply)
            reply = {"ok": False, "error": type(e).__name__, "message": str(e)}
        if isinstance(r, dict) and "id" in r:
            reply["id"] = r["id"]
        sys.stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        sys.stdout.flush()
    if cache is not None:
        cache.close()


if __name__ == "__main__":
    main()
