#!/usr/bin/env python3
"""An independent reader of diskcache format v1, written from format-spec/ alone.

It does not decode redb's file: tests/backward_compatibility.rs dumps the redb tables of a
cache (through the redb crate, not through diskcache) as JSON on stdin:

    {"tables": [names], "meta": {name: u64}, "settings": {name: u64}, "info": {name: str},
     "entries": [[key hex, row hex]], "order_insert": [[row id, key hex]],
     "order_expire" / "order_store" / "order_access" / "order_frequency": [[[u64, row id], key hex]],
     "order_tag": [[[tag hex, row id], key hex]]}

and this script decodes keys (keys.md), rows and values (rows.md), reads value files and
checks their crc32 (blobs.md), checks meta and the order tables (tables.md), and prints one
JSON object per entry, in key byte order. Standard library only. Usage:

    read_v1.py <cache directory> < dump.json
"""

import json
import math
import re
import struct
import sys
import zlib


class Bad(Exception):
    pass


# ----- keys (format-spec/keys.md) --------------------------------------------------------


def number(b, i):
    """Decodes a number element at b[i]; returns (value, next index)."""
    tag = b[i]
    if tag == 0x10:
        (bits,) = struct.unpack(">Q", b[i + 1 : i + 9])
        return struct.unpack(">d", struct.pack(">Q", bits ^ 0xFFFFFFFFFFFFFFFF))[0], i + 9
    if tag == 0x12:
        return struct.unpack(">d", b[i + 1 : i + 9])[0], i + 9
    if tag == 0x11:
        (u,) = struct.unpack(">Q", b[i + 1 : i + 9])
        floor = (u ^ (1 << 63)) - (1 << 64) if u ^ (1 << 63) >= 1 << 63 else u ^ (1 << 63)
        marker = b[i + 9]
        if marker == 0x00:
            return floor, i + 10
        if marker != 0x01:
            raise Bad("number marker %#x" % marker)
        (k,) = struct.unpack(">Q", b[i + 10 : i + 18])
        if floor >= 0:  # x > 0: the bits of x - floor(x)
            frac = struct.unpack(">d", struct.pack(">Q", k))[0]
            return floor + frac, i + 18
        # x < 0: NOT of the bits of ceil(x) - x, and ceil(x) = floor(x) + 1
        frac = struct.unpack(">d", struct.pack(">Q", k ^ 0xFFFFFFFFFFFFFFFF))[0]
        return (floor + 1) - frac, i + 18
    raise Bad("not a number tag %#x" % tag)


def escaped(b, i):
    """Reads escaped content up to its lone 00; returns (bytes, next index)."""
    out = bytearray()
    while True:
        c = b[i]
        if c == 0x00:
            if i + 1 < len(b) and b[i + 1] == 0xFF:
                out.append(0)
                i += 2
                continue
            return bytes(out), i + 1
        out.append(c)
        i += 1


class Variant:
    def __init__(self, index, payload, kind):
        self.index, self.payload, self.kind = index, payload, kind


def element(b, i, depth=0):
    """Decodes one composite element at b[i]; returns (value, next index)."""
    if depth > 128:
        raise Bad("nested too deeply")
    tag = b[i]
    if tag == 0x01:
        return (), i + 1
    if tag in (0x02, 0x03):
        return tag == 0x03, i + 1
    if tag == 0x04:
        return None, i + 1
    if tag == 0x05:
        return element(b, i + 1, depth + 1)
    if tag in (0x10, 0x11, 0x12):
        return number(b, i)
    if tag == 0x20:
        raw, j = escaped(b, i + 1)
        return raw.decode("utf-8"), j
    if tag == 0x30:
        return escaped(b, i + 1)
    if tag == 0x40:
        items, i = [], i + 1
        while b[i] != 0x00:
            v, i = element(b, i, depth + 1)
            items.append(v)
        return tuple(items), i + 1
    if tag == 0x41:
        entries, i = [], i + 1
        while b[i] != 0x00:
            k, i = element(b, i, depth + 1)
            v, i = element(b, i, depth + 1)
            entries.append((k, v))
        return dict(entries), i + 1
    if tag in (0x50, 0x51, 0x52):
        (index,) = struct.unpack(">I", b[i + 1 : i + 5])
        if tag == 0x50:
            return Variant(index, None, "unit"), i + 5
        if tag == 0x51:
            v, j = element(b, i + 5, depth + 1)
            return Variant(index, v, "newtype"), j
        if b[i + 5] != 0x40:
            raise Bad("a tuple or struct variant without its sequence")
        v, j = element(b, i + 5, depth + 1)
        return Variant(index, v, "seq"), j
    raise Bad("unknown element tag %#x" % tag)


def key(b):
    """Decodes a whole encoded key."""
    tag = b[0]
    if tag in (0x10, 0x11, 0x12):
        v, j = number(b, 0)
    elif tag == 0x20:
        return b[1:].decode("utf-8")
    elif tag == 0x30:
        return bytes(b[1:])
    elif tag == 0x40:
        v, j = element(b, 1)
    else:
        raise Bad("unknown key class %#x" % tag)
    if j != len(b):
        raise Bad("%d bytes after the key" % (len(b) - j))
    return v


def show(v):
    """A Python-like repr; enum variants as #index(payload)."""
    if isinstance(v, Variant):
        if v.kind == "unit":
            return "#%d" % v.index
        if v.kind == "newtype":
            return "#%d(%s)" % (v.index, show(v.payload))
        return "#%d(%s)" % (v.index, ", ".join(show(p) for p in v.payload))
    if isinstance(v, tuple):
        inner = ", ".join(show(x) for x in v)
        return "(%s,)" % inner if len(v) == 1 else "(%s)" % inner
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (show(k), show(x)) for k, x in v.items())
    return repr(v)


# ----- rows and values (format-spec/rows.md, blobs.md) ------------------------------------

KINDS = {1: "int", 2: "float", 3: "text", 4: "bytes", 5: "serialized"}
BLOB = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{32})\.val$")


def row(b):
    if len(b) < 60:
        raise Bad("a row of %d bytes" % len(b))
    version, flags, kind, _reserved, crc = struct.unpack_from("<BBBBI", b, 0)
    row_id, store, expire, access, count, size, tag_len = struct.unpack_from("<QQQQQQI", b, 8)
    if version != 1:
        raise Bad("row version %d" % version)
    if flags & ~0x03:
        raise Bad("row flags %#x" % flags)
    if kind not in KINDS:
        raise Bad("value kind %d" % kind)
    tag = b[60 : 60 + tag_len]
    if len(tag) != tag_len:
        raise Bad("truncated tag")
    rest = b[60 + tag_len :]
    return {
        "in_file": bool(flags & 1),
        "packed": bool(flags & 2),
        "kind": KINDS[kind],
        "crc32": crc,
        "row_id": row_id,
        "store_time": store,
        "expire_time": expire,
        "access_time": access,
        "access_count": count,
        "size": size,
        "tag": bytes(tag) if tag_len else None,
        "rest": bytes(rest),
    }


def value_bytes(r, cache_dir):
    """The value's stored bytes, from the row or its file, checked against size and crc32."""
    if r["in_file"]:
        path = r["rest"].decode("utf-8")
        m = BLOB.match(path)
        if not m or m.group(3)[:2] != m.group(1) or m.group(3)[2:4] != m.group(2):
            raise Bad("value file path %r" % path)
        with open(cache_dir + "/" + path, "rb") as f:
            data = f.read()
    else:
        data = r["rest"]
    if len(data) != r["size"]:
        raise Bad("value of %d bytes, the row says %d" % (len(data), r["size"]))
    if zlib.crc32(data) != r["crc32"]:
        raise Bad("crc32 %08x, the row says %08x" % (zlib.crc32(data), r["crc32"]))
    return data


# postcard (https://postcard.jamesmunns.com/wire-format) is not self-describing: the shapes
# of the fixture's serialized values are named in format-spec/fixtures.md.


def varint(b, i):
    out = shift = 0
    while True:
        c = b[i]
        out |= (c & 0x7F) << shift
        i += 1
        if not c & 0x80:
            return out, i
        shift += 7


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def postcard(shape, b):
    if shape == "Vec<u32>":
        n, i = varint(b, 0)
        items = []
        for _ in range(n):
            v, i = varint(b, i)
            items.append(v)
    elif shape == "Point { x: i32, y: i32, label: String }":
        x, i = varint(b, 0)
        y, i = varint(b, i)
        n, i = varint(b, i)
        items = {"x": zigzag(x), "y": zigzag(y), "label": b[i : i + n].decode("utf-8")}
        i += n
    else:
        raise Bad("no postcard shape %r" % shape)
    if i != len(b):
        raise Bad("%d bytes after the postcard value" % (len(b) - i))
    return items


def value(kind, data, shape):
    if kind == "int":
        if len(data) != 8:
            raise Bad("int of %d bytes" % len(data))
        return struct.unpack("<q", data)[0]
    if kind == "float":
        if len(data) != 8:
            raise Bad("float of %d bytes" % len(data))
        return struct.unpack("<d", data)[0]
    if kind == "text":
        return data.decode("utf-8")
    if kind == "bytes":
        return data.hex()
    return postcard(shape, data)


# ----- the tables (format-spec/tables.md) -------------------------------------------------

SHAPES = {
    "b'\\x00\\xffbin'": "Point { x: i32, y: i32, label: String }",
    "('user', 17)": "Vec<u32>",
    "'file-serialized'": "Vec<u32>",
}
POLICY_TABLE = {1: "order_store", 2: "order_access", 3: "order_frequency"}
# tables.md: each known setting's allowed values (None: any u64); unknown names are ignored.
SETTING_VALUES = {
    "size_limit": None,
    "cull_limit": None,
    "eviction_policy": {0: "none", 1: "least-recently-stored", 2: "least-recently-used",
                        3: "least-frequently-used"},
    "statistics": {0: "off", 1: "on"},
    "tag_index": {0: "off", 1: "on"},
    "min_file_size": None,
    "durability": {0: "no fsync", 1: "fsync every commit"},
    "write_path": {0: "logged", 1: "direct"},
}


def settings_shown(settings):
    out = {}
    for name, code in settings.items():
        if name not in SETTING_VALUES:
            continue
        values = SETTING_VALUES[name]
        if values is not None and code not in values:
            raise Bad("setting %s holds %d" % (name, code))
        out[name] = code if values is None else values[code]
    return out
POLICY_FIELD = {1: "store_time", 2: "access_time", 3: "access_count"}


def main():
    cache_dir = sys.argv[1]
    dump = json.load(sys.stdin)
    meta, settings = dump["meta"], dump["settings"]
    if meta.get("format_version") != 1:
        raise Bad("format_version %r" % meta.get("format_version"))
    out, volume = [], 0
    rows = {}
    for key_hex, row_hex in dump["entries"]:
        kb, r = bytes.fromhex(key_hex), row(bytes.fromhex(row_hex))
        k = show(key(kb))
        rows[kb] = r
        data = value_bytes(r, cache_dir)
        if r["packed"]:
            raise Bad("a packed value in a cache of the default disk")
        volume += 128 + len(kb) + len(r["tag"] or b"") + r["size"]
        out.append(
            {
                "key": k,
                "key_hex": key_hex,
                "kind": r["kind"],
                "value": value(r["kind"], data, SHAPES.get(k)),
                "in_file": r["in_file"],
                "size": r["size"],
                "tag": show(key(r["tag"])) if r["tag"] else None,
                "expire_time": r["expire_time"],
                "row_id": r["row_id"],
                "store_time": r["store_time"],
                "access_time": r["access_time"],
                "access_count": r["access_count"],
            }
        )
    # keys.md: byte order is value order, numbers < text < bytes < composites.
    classes = [bytes.fromhex(k)[0] for k, _ in dump["entries"]]
    if [k for k, _ in dump["entries"]] != sorted(k for k, _ in dump["entries"]):
        raise Bad("entries are not in key byte order")
    if classes != sorted(classes):
        raise Bad("key classes out of order")
    if meta["count"] != len(rows):
        raise Bad("meta.count %d, %d rows" % (meta["count"], len(rows)))
    if meta["volume"] != volume:
        raise Bad("meta.volume %d, the rows sum to %d" % (meta["volume"], volume))
    if any(r["row_id"] >= meta["next_row_id"] for r in rows.values()):
        raise Bad("a row id at or past next_row_id")
    # The invariants of tables.md: each order table holds exactly the entries it should.
    want = {"order_insert": {r["row_id"]: kb for kb, r in rows.items()}}
    got = {"order_insert": {i: bytes.fromhex(k) for i, k in dump["order_insert"]}}
    want["order_expire"] = {
        (r["expire_time"], r["row_id"]): kb for kb, r in rows.items() if r["expire_time"]
    }
    policy = settings["eviction_policy"]
    for code, table in POLICY_TABLE.items():
        if code == policy:
            field = POLICY_FIELD[code]
            want[table] = {(r[field], r["row_id"]): kb for kb, r in rows.items()}
        elif table in dump["tables"]:
            raise Bad("%s exists under policy %d" % (table, policy))
    for table in list(want)[1:]:
        got[table] = {tuple(k): bytes.fromhex(v) for k, v in dump.get(table, [])}
    if settings["tag_index"] == 1:
        want["order_tag"] = {
            (r["tag"], r["row_id"]): kb for kb, r in rows.items() if r["tag"] is not None
        }
        got["order_tag"] = {
            (bytes.fromhex(t), i): bytes.fromhex(v) for (t, i), v in dump["order_tag"]
        }
    for table in want:
        if want[table] != got[table]:
            raise Bad("%s does not match the entries" % table)
    json.dump(
        {
            "entries": out,
            "meta": meta,
            "settings": settings,
            "settings_shown": settings_shown(settings),
            "disk": dump["info"].get("disk", "default"),
            "checked": sorted(want),
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    try:
        main()
    except (Bad, KeyError, IndexError, UnicodeDecodeError, OSError, struct.error) as e:
        sys.exit("read_v1.py: %s: %s" % (type(e).__name__, e))
