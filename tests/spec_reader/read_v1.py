#!/usr/bin/env python3
"""An independent reader of diskcache formats v1 to v3, written from format-spec/ alone.

It does not decode redb's file: the tests dump the redb tables of a cache (through the redb
crate, not through diskcache) as JSON on stdin:

    {"tables": [names], "meta": {name: u64}, "settings": {name: u64}, "info": {name: str},
     "entries": [[key hex, row hex]], "order_insert": [[row id, key hex]],
     "order_expire" / "order_store" / "order_access" / "order_frequency": [[[u64, row id], key hex]],
     "order_tag": [[[tag hex, row id], key hex]]}

and this script decodes keys (keys.md), rows and values (rows.md), reads value files and
checks their crc32 (blobs.md), checks meta and the order tables (tables.md). If the directory
holds a cache.wal, it reads the valid log of each lane that holds a generation, oldest first
(wal.md: lanes, framing, versions, damaged blocks, access records) and applies them over the
database's rows; if it
holds a cache.shm whose index is in step with the log, it checks the index's words and slots
against the log, and meta's counters plus the index's deltas against the rows. It prints the
entries (one JSON object each, in key byte order) as the log and the database make them.
Composite values stored by the `diskcache` command (batch-protocol.md) are decoded as JSON.
Standard library only. Usage:

    read_v1.py <cache directory> < dump.json
"""

import os

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
    if flags & ~0x07:
        raise Bad("row flags %#x" % flags)
    if kind not in KINDS:
        raise Bad("value kind %d" % kind)
    tag = b[60 : 60 + tag_len]
    if len(tag) != tag_len:
        raise Bad("truncated tag")
    at = 60 + tag_len
    full_key = None
    if flags & 4:
        # rows.md (v2): the whole key of a long key, after the tag.
        (k_len,) = struct.unpack_from("<I", b, at)
        full_key = bytes(b[at + 4 : at + 4 + k_len])
        if len(full_key) != k_len:
            raise Bad("truncated whole key")
        at += 4 + k_len
    rest = b[at:]
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
        "full_key": full_key,
        "rest": bytes(rest),
    }


def checked_row(b):
    """row(), and what rows.md says a decoder also refuses: an inline value whose length is
    not `size`, a file path not of the shape of blobs.md."""
    r = row(b)
    if r["in_file"]:
        path = r["rest"].decode("utf-8")
        m = BLOB.match(path)
        if not m or m.group(3)[:2] != m.group(1) or m.group(3)[2:4] != m.group(2):
            raise Bad("value file path %r" % path)
    elif len(r["rest"]) != r["size"]:
        raise Bad("inline value of %d bytes, size %d" % (len(r["rest"]), r["size"]))
    return r


MAX_KEY_BYTES = 16384
LONG_INDEX_LEN = MAX_KEY_BYTES + 16 + 4
M64 = (1 << 64) - 1


def rotl(x, n):
    return ((x << n) | (x >> (64 - n))) & M64


def fin(h):
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def long_hash(e):
    """keys.md, Long keys: the 16-byte long-key hash of a whole encoding."""
    p1, p2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
    a, b = p1, p2
    for i in range(0, len(e), 8):
        w = int.from_bytes(e[i : i + 8].ljust(8, b"\0"), "little")
        a = rotl(((a ^ w) * p1) & M64, 31)
        b = rotl(((b ^ rotl(w, 32)) * p2) & M64, 29)
    n = len(e)
    return fin(a ^ n).to_bytes(8, "big") + fin(b ^ rotl(n, 32)).to_bytes(8, "big")


def whole_key(kb, r):
    """The whole encoded key of the row r stored under kb (keys.md, Long keys): kb itself, or
    for a long key's index key the key its row holds, which must be the one kb was made
    from."""
    if len(kb) <= MAX_KEY_BYTES:
        if r["full_key"] is not None:
            raise Bad("a row under a short key holds a whole key")
        return kb
    e = r["full_key"]
    if e is None or len(kb) != LONG_INDEX_LEN or len(e) <= MAX_KEY_BYTES:
        raise Bad("an index key of %d bytes" % len(kb))
    counter = int.from_bytes(kb[-4:], "big")
    if counter >= 8 or kb != e[:MAX_KEY_BYTES] + long_hash(e) + kb[-4:]:
        raise Bad("a row's whole key does not match its index key")
    return e


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


def tree(b, i, depth=0):
    """batch-protocol.md's `Tree` (postcard): returns (JSON value, next index)."""
    if depth > 128:
        raise Bad("a Tree nested too deeply")
    variant, i = varint(b, i)
    if variant == 0:
        return None, i
    if variant == 1:
        if b[i] > 1:
            raise Bad("a Bool of %d" % b[i])
        return b[i] == 1, i + 1
    if variant == 2:
        n, i = varint(b, i)
        return zigzag(n), i
    if variant == 3:
        return varint(b, i)
    if variant == 4:
        return struct.unpack("<d", b[i : i + 8])[0], i + 8
    if variant == 5:
        n, i = varint(b, i)
        return b[i : i + n].decode("utf-8"), i + n
    if variant == 6:
        n, i = varint(b, i)
        items = []
        for _ in range(n):
            v, i = tree(b, i, depth + 1)
            items.append(v)
        return items, i
    if variant == 7:
        n, i = varint(b, i)
        members = {}
        for _ in range(n):
            length, i = varint(b, i)
            name = b[i : i + length].decode("utf-8")
            v, i = tree(b, i + length, depth + 1)
            members[name] = v
        return members, i
    raise Bad("Tree variant %d" % variant)


def postcard(shape, b):
    if shape == "JSON":
        # batch-protocol.md: "JSON", then a Tree.
        if b[:4] != b"JSON":
            raise Bad("a composite value not stored by the command")
        items, i = tree(b, 4)
    elif shape == "Vec<u32>":
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
    return postcard(shape or "JSON", data)



# ----- the log and its index (format-spec/wal.md) ----------------------------------------

WAL_MAGIC = b"DCWAL\x00\x00\x02"
LEGACY_WAL_MAGIC = b"DCWAL\x00\x00\x01"
SHM_MAGIC = b"DCSHM\x00\x00\x02"
SUPPORTED_VERSION = 3
LANE_SIZE = 32 << 20
SLOTS = 65536
SET, DELETE, ACCESS = 1, 2, 3


def u64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def damage(rec):
    """Why a framed record of a version this reader reads is damaged, or None."""
    if rec["kind"] not in (SET, DELETE, ACCESS):
        return "kind %d" % rec["kind"]
    if rec["flags"] & ~1:
        return "flags %#x" % rec["flags"]
    if 32 + rec["key_len"] > rec["len"]:
        return "key length %d" % rec["key_len"]
    if rec["kind"] == DELETE and rec["payload"]:
        return "a delete with a payload"
    if rec["kind"] == ACCESS and len(rec["payload"]) != 16:
        return "an access payload of %d bytes" % len(rec["payload"])
    try:
        if rec["kind"] == SET:
            key(whole_key(rec["key"], checked_row(rec["payload"])))
        elif len(rec["key"]) > MAX_KEY_BYTES:
            if len(rec["key"]) != LONG_INDEX_LEN or int.from_bytes(rec["key"][-4:], "big") >= 8:
                raise Bad("an index key of %d bytes" % len(rec["key"]))
        else:
            key(rec["key"])
    except (Bad, IndexError, UnicodeDecodeError, struct.error) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def read_lane(wal, lane, start, end, magic):
    """The valid log of one lane (wal.md, "The valid log"), from its header at `start` up to
    `end`: a dict, or None if the lane holds no generation."""
    if wal[start : start + 8] != magic:
        return None
    generation = u64(wal, start + 8)
    applied, left_out, block = [], [], []
    pos, seq, valid_end, count = start + 64, 0, start + 64, 0
    end = min(end, len(wal))
    while pos + 32 <= end:
        # Generation and sequence number first: past the end lie older records.
        if u64(wal, pos + 8) != generation or u64(wal, pos + 16) != seq:
            break
        length, crc = struct.unpack_from("<II", wal, pos)
        if length < 32 or pos + length > end:
            break
        if zlib.crc32(wal[pos + 8 : pos + length]) != crc:
            break
        kind, flags, key_len, version = struct.unpack_from("<BBHI", wal, pos + 24)
        if max(version, 1) > SUPPORTED_VERSION:
            raise Bad("record %d needs format version %d" % (seq, version))
        rec = {
            "offset": pos,
            "len": length,
            "seq": seq,
            "kind": kind,
            "flags": flags,
            "key_len": key_len,
            "key": wal[pos + 32 : pos + 32 + key_len],
            "payload": wal[pos + 32 + key_len : pos + length],
        }
        rec["damage"] = damage(rec)
        block.append(rec)
        pos += (length + 7) // 8 * 8
        seq += 1
        if flags & 1:
            if any(r["damage"] for r in block):
                left_out.extend(block)
            else:
                applied.extend(block)
            count += len(block)
            valid_end = pos
            block = []
    return {
        "lane": lane,
        "generation": generation,
        "applied": applied,
        "left_out": left_out,
        "valid_end": valid_end,
        "count": count,
    }


def read_log(path):
    """The lanes of cache.wal that hold a generation, oldest generation first (wal.md): a log
    of the format with one log over the whole file is one lane."""
    with open(path, "rb") as f:
        wal = f.read()
    if wal[:8] == LEGACY_WAL_MAGIC:
        lanes = [read_lane(wal, 0, 0, len(wal), LEGACY_WAL_MAGIC)]
    else:
        lanes = [read_lane(wal, l, l * LANE_SIZE, (l + 1) * LANE_SIZE, WAL_MAGIC) for l in (0, 1)]
    return sorted((l for l in lanes if l is not None), key=lambda l: l["generation"])


def apply_log(rows, applied):
    """The rows (key bytes -> decoded row) once the log's records are applied, as a
    checkpoint applies them: per key the latest set or delete; then each access raises the
    access time and adds the count of the row the key's last set left (an access followed by
    a set or delete of its key is dropped; one of a key the log does not set or delete
    updates the database's row, if any)."""
    out = dict(rows)
    latest, accesses = {}, {}
    for rec in applied:
        k = rec["key"]
        if rec["kind"] == ACCESS:
            time, n = struct.unpack("<QQ", rec["payload"])
            if k in latest and latest[k] is not None:
                r = latest[k]
                r["access_time"] = max(r["access_time"], time)
                r["access_count"] += n
            elif k not in latest:
                t0, n0 = accesses.get(k, (0, 0))
                accesses[k] = (max(t0, time), n0 + n)
            continue
        latest[k] = checked_row(rec["payload"]) if rec["kind"] == SET else None
        accesses.pop(k, None)
    for k, r in latest.items():
        if r is None:
            out.pop(k, None)
        else:
            out[k] = r
    for k, (time, n) in accesses.items():
        if k in out:
            r = dict(out[k])
            r["access_time"] = max(r["access_time"], time)
            r["access_count"] += n
            out[k] = r
    return out


def key_hash(b):
    """wal.md: FNV-1a 64, the splitmix64 finalizer, 0 becomes 1."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    h ^= h >> 31
    return h or 1


LANE_WORDS = {0: {"gen": 3, "valid_len": 4, "records": 5, "count": 6, "volume": 7},
              1: {"gen": 20, "valid_len": 21, "records": 22, "count": 23, "volume": 24}}


def check_index(path, wal_path, lanes):
    """Checks cache.shm against the log's lanes (wal.md, "cache.shm"). Returns the sums of
    the lanes' count and volume deltas if the index is in step with the log, or None (with
    why) if it is not: the library recovers such an index at open, so there is nothing more
    to check."""
    with open(path, "rb") as f:
        shm = f.read()
    if len(shm) != 4096 + 2 * SLOTS * 16:
        raise Bad("cache.shm of %d bytes" % len(shm))
    word = lambda line: u64(shm, 64 * line)
    if shm[:8] != SHM_MAGIC:
        return None, "not initialized"
    if word(1):
        return None, "dirty: a process died inside the write lock"
    if word(2) % 2 or word(11) % 2:
        return None, "a seqlock is odd"
    by_lane = {l["lane"]: l for l in lanes}
    for lane in (0, 1):
        if word(LANE_WORDS[lane]["gen"]) != (by_lane[lane]["generation"] if lane in by_lane else 0):
            return None, "a lane's generation is not the log's"
    if word(26) not in by_lane:
        return None, "the active lane holds no generation"
    if any(l["left_out"] for l in lanes):
        return None, "the log holds a damaged block"
    with open(wal_path, "rb") as f:
        wal = f.read()
    deltas = [0, 0]
    signed = lambda v: v - (1 << 64) if v >= 1 << 63 else v
    for l in lanes:
        words = LANE_WORDS[l["lane"]]
        if word(words["valid_len"]) != l["valid_end"]:
            raise Bad("lane %d: valid length %d, the log's is %d" % (l["lane"], word(words["valid_len"]), l["valid_end"]))
        if word(words["records"]) != l["count"]:
            raise Bad("lane %d: %d records, the log has %d" % (l["lane"], word(words["records"]), l["count"]))
        deltas[0] += signed(word(words["count"]))
        deltas[1] += signed(word(words["volume"]))
        latest = {}
        for rec in l["applied"]:
            if rec["kind"] != ACCESS:
                latest[rec["key"]] = rec["offset"]
        table = 4096 + l["lane"] * SLOTS * 16
        for k, offset in latest.items():
            h = key_hash(k)
            slot, found = h % SLOTS, None
            for _ in range(SLOTS):
                sh, so = struct.unpack_from("<QQ", shm, table + 16 * slot)
                if sh == 0:
                    break
                if sh == h and so + 32 <= len(wal):
                    # A candidate: the record it points at is whole, of the lane's generation,
                    # of the key.
                    length = struct.unpack_from("<I", wal, so)[0]
                    key_len = struct.unpack_from("<H", wal, so + 26)[0]
                    crc = struct.unpack_from("<I", wal, so + 4)[0]
                    whole = length >= 32 and zlib.crc32(wal[so + 8 : so + length]) == crc
                    if whole and u64(wal, so + 8) == l["generation"] and wal[so + 32 : so + 32 + key_len] == k:
                        found = so
                        break
                slot = (slot + 1) % SLOTS
            if found != offset:
                raise Bad("the index has key %s at %r, its latest record is at %d" % (k.hex(), found, offset))
    return (deltas[0], deltas[1]), "in step with the log"

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
    "durability": {0: "no fsync", 1: "fsync every commit", 2: "fsync at checkpoints"},
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


def volume_of(kb, r):
    return 128 + len(whole_key(kb, r)) + len(r["tag"] or b"") + r["size"]


def main():
    cache_dir = sys.argv[1]
    dump = json.load(sys.stdin)
    meta, settings = dump["meta"], dump["settings"]
    if meta.get("format_version") not in (1, 2, 3):
        raise Bad("format_version %r" % meta.get("format_version"))
    disk = dump["info"].get("disk", "default")
    if disk != "default":
        # disks.md: other disks pack or serialize otherwise; this reader knows `default`.
        raise Bad("the disk %r" % disk)
    # The database alone: its rows, counters and order tables agree (tables.md).
    rows = {}
    for key_hex, row_hex in dump["entries"]:
        kb, r = bytes.fromhex(key_hex), checked_row(bytes.fromhex(row_hex))
        whole_key(kb, r)
        if len(kb) > MAX_KEY_BYTES and meta["format_version"] < 2:
            raise Bad("a long key in a cache of format version 1")
        rows[kb] = r
    # keys.md: byte order is value order, numbers < text < bytes < composites.
    classes = [bytes.fromhex(k)[0] for k, _ in dump["entries"]]
    if [k for k, _ in dump["entries"]] != sorted(k for k, _ in dump["entries"]):
        raise Bad("entries are not in key byte order")
    if classes != sorted(classes):
        raise Bad("key classes out of order")
    if meta["count"] != len(rows):
        raise Bad("meta.count %d, %d rows" % (meta["count"], len(rows)))
    volume = sum(volume_of(kb, r) for kb, r in rows.items())
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
    # The log over the database (wal.md), and its index.
    log, index = None, "no cache.shm"
    wal_path, shm_path = os.path.join(cache_dir, "cache.wal"), os.path.join(cache_dir, "cache.shm")
    if os.path.exists(wal_path):
        lanes = read_log(wal_path)
        applied = [r for l in lanes for r in l["applied"]]
        final = apply_log(rows, applied)
        log = {
            "generations": [l["generation"] for l in lanes],
            "records": sum(l["count"] for l in lanes),
            "applied": len(applied),
            "left_out": [r["seq"] for l in lanes for r in l["left_out"]],
        }
        if os.path.exists(shm_path):
            deltas, index = check_index(shm_path, wal_path, lanes)
            if deltas is not None:
                final_volume = sum(volume_of(kb, r) for kb, r in final.items())
                if meta["count"] + deltas[0] != len(final):
                    raise Bad("meta.count %d + delta %d, %d entries" % (meta["count"], deltas[0], len(final)))
                if meta["volume"] + deltas[1] != final_volume:
                    raise Bad("meta.volume %d + delta %d, volume %d" % (meta["volume"], deltas[1], final_volume))
        rows = final
    out = []
    for kb in sorted(rows):
        r = rows[kb]
        k = show(key(whole_key(kb, r)))
        data = value_bytes(r, cache_dir)
        if r["packed"]:
            raise Bad("a packed value in a cache of the default disk")
        out.append(
            {
                "key": k,
                "key_hex": kb.hex(),
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
    json.dump(
        {
            "entries": out,
            "meta": meta,
            "settings": settings,
            "settings_shown": settings_shown(settings),
            "disk": disk,
            "checked": sorted(want),
            "log": log,
            "index": index,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    try:
        main()
    except (Bad, KeyError, IndexError, UnicodeDecodeError, OSError, struct.error) as e:
        sys.exit("read_v1.py: %s: %s" % (type(e).__name__, e))
