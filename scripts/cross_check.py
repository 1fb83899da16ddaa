#!/usr/bin/env python3
"""Cross-architecture check of cache directories: the driver behind scripts/cross_check.sh.

Runs two `diskcache` binaries, one native (x86_64) and one emulated (aarch64 under
qemu-user), on the same cache directories, through `diskcache batch`
(format-spec/batch-protocol.md), and compares every reply with the other binary's and with
what was written:

  A. x86_64 writes a cache and exits; aarch64 reads every entry back (and `check`).
  B. The reverse: aarch64 writes, x86_64 reads.
  C. Both open one cache at once, so the write-ahead log (cache.wal) and its shared-memory
     index (cache.shm) are mapped by an x86_64 process and an emulated aarch64 process
     together: each reads what the other logged before any checkpoint, each writes past a
     checkpoint the other then reads through, queues go across, and both increment one
     counter concurrently (every new value must come back exactly once).

Exit status 0 if everything matched, 1 on any mismatch or failure.
"""

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time

FAILURES = []
MAX_SHOWN = 25


def fail(msg):
    FAILURES.append(msg)
    if len(FAILURES) <= MAX_SHOWN:
        print(f"  MISMATCH: {msg}", flush=True)


def short(obj, n=160):
    s = json.dumps(obj, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


# ---------------------------------------------------------------------------------------------
# What is written


def make_entries(rng, n, prefix):
    """n entries of every key and value form, and a few large values (own value files)."""
    out = []
    for i in range(n):
        kind = i % 9
        e = {}
        if kind == 0:
            e["key"] = (i * 7919 - 1_000_000 if i else -(2**63)) + (10**12 if prefix else 0)
            e["value"] = -3 * i if i else 2**63 - 1
        elif kind == 1:
            e["key"] = f"{prefix}text-{i}-ünïcødé ✓ \"q\" \\ \n"
            e["value"] = f"value {i} — 日本語 🦀 " * rng.randint(0, 6)
        elif kind == 2:
            head = prefix.encode() + i.to_bytes(4, "big")
            e["key"] = {"bytes": (head + rng.randbytes(rng.randint(0, 40))).hex()}
            e["value"] = {"bytes": rng.randbytes(rng.randint(0, 300)).hex()}
        elif kind == 3:
            e["key"] = [prefix + "user", i, ["nested", i % 7]]
            e["value"] = {
                "name": f"user {i}",
                "scores": [rng.randint(-10**12, 10**12) for _ in range(rng.randint(0, 8))],
                "ratio": rng.random(),
                "flags": [True, False, None],
                "nested": {"a": {"b": [i, str(i)]}},
            }
        elif kind == 4:
            e["key"] = i + 0.5 if not prefix else -(i + 0.25)
            e["value"] = rng.choice([rng.uniform(-1e300, 1e300), {"float": "inf"},
                                     {"float": "-inf"}, 1e-310, -0.5])
        elif kind == 5:
            e["key"] = f"{prefix}tagged-{i}"
            e["value"] = i
            e["tag"] = f"tag-{i % 5}"
        elif kind == 6:
            e["key"] = f"{prefix}expiring-{i}"
            e["value"] = [i, "expires in a day"]
            e["expire"] = 86400.5
            e["tag"] = i % 3
        elif kind == 7:
            e["key"] = f"{prefix}expired-{i}"
            e["value"] = "gone at once"
            e["expire"] = -1
        else:
            e["key"] = [prefix + "misc", i]
            e["value"] = rng.choice([True, False, None, [], {}, "", {"bytes": ""}, 0])
        out.append(e)
    # Large values: each in its own value file (min_file_size is 32768 by default).
    out.append({"key": prefix + "large-bytes", "value": {"bytes": rng.randbytes(300_000).hex()},
                "tag": "large"})
    out.append({"key": prefix + "large-text", "value": "ß∂ƒ©˙∆˚¬…æ" * 12_000, "expire": 86400})
    out.append({"key": [prefix + "large-composite"],
                "value": [rng.randint(-2**63, 2**63 - 1) for _ in range(20_000)]})
    out.append({"key": prefix, "value": {"bytes": ""}})  # the empty text, first time round
    return out


def set_request(e):
    req = {"op": "set", "key": e["key"], "value": e["value"]}
    for arg in ("expire", "tag"):
        if arg in e:
            req[arg] = e[arg]
    return req


def read_requests(entries):
    reqs = [{"op": "len"}, {"op": "volume"}, {"op": "keys"}, {"op": "keys", "reverse": True},
            {"op": "keys_sorted"}]
    for e in entries:
        reqs.append({"op": "get_entry", "key": e["key"]})
        reqs.append({"op": "contains", "key": e["key"]})
    reqs.append({"op": "check"})
    return reqs


def check_against_model(entries, reqs, replies, written_at, who):
    """The replies to read_requests(entries) say what was written."""
    live = [e for e in entries if e.get("expire", 1) > 0]
    index = {canon(e["key"]): e for e in entries}
    by_req = dict()
    for req, rep in zip(reqs, replies):
        if not rep.get("ok"):
            fail(f"{who}: {short(req)} -> {short(rep)}")
            continue
        res = rep["result"]
        op = req["op"]
        if op == "keys" and not req.get("reverse"):
            by_req["keys"] = res
        elif op == "get_entry":
            e = index[canon(req["key"])]
            if not (isinstance(res, list) and len(res) == 3):
                fail(f"{who}: get_entry {short(e['key'])} -> {short(res)}")
                continue
            value, expire_time, tag = res
            if e.get("expire", 1) <= 0:
                if res != [None, None, None]:
                    fail(f"{who}: expired {short(e['key'])} still reads {short(res)}")
                continue
            if value != e["value"]:
                fail(f"{who}: {short(e['key'])}: value {short(value)} != {short(e['value'])}")
            if tag != e.get("tag"):
                fail(f"{who}: {short(e['key'])}: tag {short(tag)} != {short(e.get('tag'))}")
            if "expire" in e:
                lo, hi = written_at[0] + e["expire"] - 1, written_at[1] + e["expire"] + 1
                if not isinstance(expire_time, float) or not lo <= expire_time <= hi:
                    fail(f"{who}: {short(e['key'])}: expire_time {expire_time} not in [{lo}, {hi}]")
            elif expire_time is not None:
                fail(f"{who}: {short(e['key'])}: expire_time {expire_time}, none was set")
        elif op == "contains":
            e = index[canon(req["key"])]
            if res != (e.get("expire", 1) > 0):
                fail(f"{who}: contains {short(e['key'])} -> {res}")
        elif op == "check" and res:
            fail(f"{who}: check warns: {short(res)}")
    keys = by_req.get("keys")
    if keys is not None and keys != [e["key"] for e in live]:
        fail(f"{who}: keys (insertion order) differ from the written order: "
             f"{len(keys)} keys, {len(live)} written live")


def canon(key):
    return json.dumps(key, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Running the binaries


class Batch:
    """A live `diskcache batch DIR`: one request line in, one reply line out."""

    def __init__(self, cmd, directory, name):
        self.name = name
        self.proc = subprocess.Popen(cmd + ["batch", directory], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8", bufsize=1)

    def raw(self, req):
        self.proc.stdin.write(json.dumps(req, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: batch ended: {self.proc.stderr.read()}")
        return line.rstrip("\n")

    def req(self, req):
        return json.loads(self.raw(req))

    def pipelined(self, reqs):
        """Sends all of reqs without waiting (a thread writes), returns the reply lines."""
        def writer():
            for r in reqs:
                self.proc.stdin.write(json.dumps(r) + "\n")
            self.proc.stdin.flush()
        t = threading.Thread(target=writer)
        t.start()
        lines = [self.proc.stdout.readline().rstrip("\n") for _ in reqs]
        t.join()
        return lines

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=300)
        err = self.proc.stderr.read()
        if rc != 0:
            fail(f"{self.name}: batch exited {rc}: {err.strip()}")


def one_shot(cmd, directory, reqs, name):
    """Runs `diskcache batch` over reqs to the end of input; returns the reply lines."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reqs)
    p = subprocess.run(cmd + ["batch", directory], input=data, capture_output=True, text=True,
                       encoding="utf-8", timeout=600)
    if p.returncode != 0:
        fail(f"{name}: batch exited {p.returncode}: {p.stderr.strip()}")
    lines = p.stdout.splitlines()
    if len(lines) != len(reqs):
        fail(f"{name}: {len(lines)} replies to {len(reqs)} requests")
    return lines


def write_all(cmd, directory, entries, name):
    t0 = time.time()
    lines = one_shot(cmd, directory, [set_request(e) for e in entries], name)
    t1 = time.time()
    bad = [(e["key"], ln) for e, ln in zip(entries, lines) if json.loads(ln) != {"ok": True, "result": True}]
    for key, ln in bad[:5]:
        fail(f"{name}: set {short(key)} -> {ln}")
    return (t0, t1)


def compare_lines(reqs, a_lines, b_lines, a_name, b_name):
    """The two binaries' replies to the same requests are the same bytes."""
    same = 0
    for req, a, b in zip(reqs, a_lines, b_lines):
        if a == b:
            same += 1
        else:
            fail(f"{short(req)}: {a_name} {short(a)} / {b_name} {short(b)}")
    return same


def cli_check(cmd, directory, name):
    p = subprocess.run(cmd + ["check", directory], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{name}: `diskcache check` exited {p.returncode}: {p.stdout.strip()} {p.stderr.strip()}")
    return p.stdout.strip()


def value_files(directory):
    n = 0
    for root, _dirs, files in os.walk(directory):
        n += sum(1 for f in files if root != directory)
    return n


def shm_words(directory):
    """(generation, valid length, records) from cache.shm's header (format-spec/wal.md)."""
    with open(os.path.join(directory, "cache.shm"), "rb") as f:
        head = f.read(4096)
    word = lambda off: struct.unpack_from("<Q", head, off)[0]
    return word(192), word(256), word(320)


# ---------------------------------------------------------------------------------------------
# The phases


def cold(writer, reader, wname, rname, directory, entries):
    print(f"== {wname} writes {len(entries)} entries to {directory}, then exits", flush=True)
    written_at = write_all(writer, directory, entries, f"{wname} writer")
    print(f"   {value_files(directory)} value files; shm generation/valid length/records after "
          f"close: {shm_words(directory)}")
    reqs = read_requests(entries)
    r_lines = one_shot(reader, directory, reqs, f"{rname} reader")
    w_lines = one_shot(writer, directory, reqs, f"{wname} reader")
    same = compare_lines(reqs, w_lines, r_lines, wname, rname)
    print(f"   {rname} read back {len(reqs)} requests ({len(entries)} keys: get_entry, contains; "
          f"len, volume, keys, keys reversed, keys_sorted, check): {same} replies identical "
          f"to {wname}'s")
    check_against_model(entries, reqs, [json.loads(x) for x in r_lines], written_at,
                        f"{rname} reading {wname}'s cache")
    print(f"   `diskcache check` ({rname}): {cli_check(reader, directory, rname)}; "
          f"({wname}): {cli_check(writer, directory, wname)}", flush=True)


def live(x86, arm, directory, entries, rng, churn, incrs):
    print(f"== both open {directory} at once: x86_64 and aarch64 `batch` processes", flush=True)
    xw = Batch(x86, directory, "x86_64")
    t0 = time.time()
    for e in entries:
        rep = xw.req(set_request(e))
        if rep != {"ok": True, "result": True}:
            fail(f"x86_64 set {short(e['key'])} -> {short(rep)}")
    t1 = time.time()
    gen, valid, records = shm_words(directory)
    print(f"   x86_64 logged {len(entries)} sets; cache.shm: generation {gen}, "
          f"{records} records, {valid} bytes of cache.wal not yet checkpointed")
    if records == 0:
        fail("x86_64's writes were checkpointed already: nothing left in the log to read")

    ar = Batch(arm, directory, "aarch64")
    reqs = read_requests(entries)
    x_lines, a_lines = [], []
    for r in reqs:
        a_lines.append(ar.raw(r))
        x_lines.append(xw.raw(r))
    same = compare_lines(reqs, x_lines, a_lines, "x86_64", "aarch64")
    check_against_model(entries, reqs, [json.loads(x) for x in a_lines], (t0, t1),
                        "aarch64 reading x86_64's log")
    print(f"   aarch64 read x86_64's log: {len(reqs)} requests, {same} replies identical")

    # aarch64 writes through the same log; x86_64 reads it while both stay open.
    mine = make_entries(rng, len(entries) // 3, "arm-")
    t0 = time.time()
    for e in mine:
        rep = ar.req(set_request(e))
        if rep != {"ok": True, "result": True}:
            fail(f"aarch64 set {short(e['key'])} -> {short(rep)}")
    t1 = time.time()
    reqs2 = [q for q in read_requests(mine) if q["op"] in ("get_entry", "contains")]
    x2 = [xw.raw(r) for r in reqs2]
    a2 = [ar.raw(r) for r in reqs2]
    same = compare_lines(reqs2, x2, a2, "x86_64", "aarch64")
    check_against_model(mine, reqs2, [json.loads(x) for x in x2], (t0, t1),
                        "x86_64 reading aarch64's log")
    gen2, valid2, records2 = shm_words(directory)
    print(f"   aarch64 logged {len(mine)} sets (now {records2} records, generation {gen2}); "
          f"x86_64 read them: {len(reqs2)} requests, {same} replies identical")

    # A queue across: one side pushes, the other pulls, both ways.
    for pusher, puller, pn, qn in ((xw, ar, "x86_64", "aarch64"), (ar, xw, "aarch64", "x86_64")):
        values = [[pn, j, rng.random()] for j in range(25)]
        for v in values:
            rep = pusher.req({"op": "push", "value": v, "prefix": f"q-{pn}"})
            if not rep.get("ok"):
                fail(f"{pn} push -> {short(rep)}")
        got = [puller.req({"op": "pull", "prefix": f"q-{pn}"})["result"][1] for _ in values]
        if got != values:
            fail(f"queue pushed by {pn}, pulled by {qn}: {short(got)} != {short(values)}")
    print("   queues: 25 values pushed by each side, pulled in order by the other")

    # Past checkpoints: each side writes more records than a generation holds (4096), so it
    # checkpoints while the other has the files mapped; the other then reads every key.
    for writer, reader, wn, rn in ((ar, xw, "aarch64", "x86_64"), (xw, ar, "x86_64", "aarch64")):
        g_before = shm_words(directory)[0]
        tag = rng.randrange(10**9)
        lines = writer.pipelined([{"op": "set", "key": ["churn", j], "value": [wn, tag, j]}
                                  for j in range(churn)])
        if any(json.loads(x) != {"ok": True, "result": True} for x in lines):
            fail(f"{wn}: churn sets failed")
        g_after, _, recs = shm_words(directory)
        got = reader.pipelined([{"op": "get", "key": ["churn", j]} for j in range(churn)])
        wrong = [j for j in range(churn) if json.loads(got[j]).get("result") != [wn, tag, j]]
        for j in wrong[:5]:
            fail(f"{rn} reads churn {j} written by {wn}: {got[j].strip()}")
        if g_after == g_before:
            fail(f"{wn} wrote {churn} records and the generation stayed {g_before}")
        print(f"   {wn} wrote {churn} keys through {g_after - g_before} checkpoint(s) "
              f"(generation {g_before} -> {g_after}, {recs} records left in the log); "
              f"{rn} read all {churn}: {churn - len(wrong)} right", flush=True)

    # Both at once: increments of one counter; each new value must come back exactly once.
    start = time.time()
    results = {}

    def bump(b, name):
        results[name] = b.pipelined([{"op": "incr", "key": "shared-counter"}] * incrs)

    threads = [threading.Thread(target=bump, args=(b, n)) for b, n in ((xw, "x86_64"), (ar, "aarch64"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = []
    for name, lines in results.items():
        for ln in lines:
            rep = json.loads(ln)
            if not rep.get("ok"):
                fail(f"{name} incr -> {ln.strip()}")
            else:
                values.append(rep["result"])
    if sorted(values) != list(range(1, 2 * incrs + 1)):
        dup = len(values) - len(set(values))
        fail(f"concurrent incr: {len(values)} replies, {dup} duplicates, "
             f"max {max(values, default=None)}, expected 1..{2 * incrs}")
    final = [b.req({"op": "get", "key": "shared-counter"})["result"] for b in (xw, ar)]
    if final != [2 * incrs, 2 * incrs]:
        fail(f"shared-counter reads {final}, expected {2 * incrs} from both")
    # How often the counter passed from one process to the other (0 or 1: no real overlap).
    owner = sorted((json.loads(x)["result"], n) for n, lines in results.items() for x in lines
                   if json.loads(x).get("ok"))
    switches = sum(1 for p, q in zip(owner, owner[1:]) if p[1] != q[1])
    print(f"   concurrent incr: {incrs} from each side at once in {time.time() - start:.1f}s; "
          f"values 1..{2 * incrs} each returned once: {sorted(values) == list(range(1, 2 * incrs + 1))}; "
          f"both read {final}; the counter passed between the processes {switches} times")

    # Both sides agree on the whole cache, then close (the last one checkpoints).
    everything = entries + mine
    reqs3 = [{"op": "len"}, {"op": "volume"}, {"op": "keys"}, {"op": "keys_sorted"}, {"op": "check"}]
    reqs3 += [{"op": "get_entry", "key": e["key"]} for e in everything]
    x3 = [xw.raw(r) for r in reqs3]
    a3 = [ar.raw(r) for r in reqs3]
    same = compare_lines(reqs3, x3, a3, "x86_64", "aarch64")
    ar.close()
    xw.close()
    print(f"   final read by both while open: {len(reqs3)} requests, {same} identical; "
          f"both closed; shm after close: {shm_words(directory)}")
    c1 = one_shot(arm, directory, reqs3, "aarch64 after close")
    c2 = one_shot(x86, directory, reqs3, "x86_64 after close")
    same = compare_lines(reqs3, c1, c2, "aarch64", "x86_64")
    if c1 != a3:
        n = sum(1 for p, q in zip(c1, a3) if p != q)
        fail(f"{n} replies changed between the live read and the read after close")
    print(f"   reopened by each: {same} of {len(reqs3)} identical, as before closing; "
          f"`diskcache check` aarch64: {cli_check(arm, directory, 'aarch64')}; "
          f"x86_64: {cli_check(x86, directory, 'x86_64')}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x86", required=True, help="the x86_64 diskcache binary")
    ap.add_argument("--arm", required=True, help="the aarch64 diskcache binary")
    ap.add_argument("--qemu", required=True, help="qemu-aarch64 user-mode emulator")
    ap.add_argument("--work", required=True, help="an empty directory for the caches")
    ap.add_argument("--entries", type=int, default=600)
    ap.add_argument("--churn", type=int, default=5000)
    ap.add_argument("--incrs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(2**32)
    print(f"seed {seed} (--seed {seed} repeats this run's values)")
    rng = random.Random(seed)
    x86 = [a.x86]
    arm = [a.qemu, a.arm]
    started = time.time()

    cold(x86, arm, "x86_64", "aarch64", os.path.join(a.work, "x86-wrote"),
         make_entries(rng, a.entries, ""))
    cold(arm, x86, "aarch64", "x86_64", os.path.join(a.work, "arm-wrote"),
         make_entries(rng, a.entries, ""))
    live(x86, arm, os.path.join(a.work, "shared"), make_entries(rng, a.entries, ""), rng,
         a.churn, a.incrs)

    print(f"== {time.time() - started:.1f}s; ", end="")
    if FAILURES:
        print(f"FAILED: {len(FAILURES)} mismatches (first {min(len(FAILURES), MAX_SHOWN)} above)")
        return 1
    print("every reply matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
