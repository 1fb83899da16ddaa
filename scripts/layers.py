#!/usr/bin/env python3
"""Lists the references between modules of src/ that point up a layer (ARCHITECTURE: API ->
operations -> engine -> format -> base; the test hooks beside them).

Reads every `crate::...` path in the code of src/ (not in comments, not in `#[cfg(test)] mod
tests`, not in `tests.rs` files) and prints each one that names a module of a higher layer than
the file's own, as `file:line: layer of file -> layer of target: path`. Exit status 1 if it
printed any. Usage: scripts/layers.py [FILE...] (default: every file of src/ but src/bin/).
"""

import pathlib
import re
import sys

API, OPS, ENGINE, FORMAT, BASE, HOOKS = 1, 2, 3, 4, 5, 6
NAMES = {API: "api", OPS: "ops", ENGINE: "engine", FORMAT: "format", BASE: "base", HOOKS: "hooks"}

# The layer of each module under src/, by its first path segment.
MODULES = {
    **dict.fromkeys(
        "lib cache builder fanout deque index queue memo recipes iter transaction"
        " compute reader maintenance check fork asynchronous progress".split(), API),
    # Plain public data types (SetOptions, Number, Side, Stats, Tag) over keys: as low as
    # the format, so that operations may return them.
    "options": FORMAT,
    **dict.fromkeys(["ops"], OPS),
    **dict.fromkeys(["engine"], ENGINE),
    **dict.fromkeys(["format", "key"], FORMAT),
    **dict.fromkeys("error settings time files platform caller observe".split(), BASE),
    # Hooks every layer may call (they use only the base); the fuzz entry points drive the
    # whole crate, like a test.
    "fault": HOOKS,
    "sabotage": HOOKS,
    "fuzzing": 0,
}
# Names re-exported at the crate's root, by the layer they come from.
ROOT = {
    **dict.fromkeys("Result Error ErrorKind Detail".split(), BASE),
    **dict.fromkeys("Setting Settings WritePath Durability EvictionPolicy".split(), BASE),
    **dict.fromkeys("Key IntoKey MAX_KEY_BYTES ValueKind FORMAT_VERSION".split(), FORMAT),
    "crash_point": HOOKS,
}
# Paths whose layer depends on the second segment.
SECOND = {
    ("testing", "fuzzing"): 0,
    ("testing", "fault"): HOOKS,
    ("testing", "sabotage"): HOOKS,
    ("testing", "recorder"): HOOKS,
    ("testing", "midpoint"): HOOKS,
}


def layer_of_path(segments):
    """The layer a `crate::` path points into, or None if unknown."""
    first = segments[0]
    if len(segments) > 1 and (first, segments[1]) in SECOND:
        return SECOND[(first, segments[1])]
    if first in MODULES:
        return MODULES[first]
    if first in ROOT:
        return ROOT[first]
    if first[:1].isupper():
        return API  # a public type re-exported at the root (Cache, SetOptions, ...)
    return None


def layer_of_file(path):
    rel = path.relative_to("src").with_suffix("")
    parts = rel.parts
    if parts[0] == "testing" and len(parts) > 1:
        return {"fault": HOOKS, "sabotage": HOOKS}.get(parts[1], 0)
    if parts[0] == "testing":
        return HOOKS
    return MODULES.get(parts[0])


def strip(text):
    """The code of a file: comments blanked (lines kept), unit tests cut off."""
    text = re.sub(r"//[^\n]*", "", text)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    return text[: cut.start()] if cut else text


def group_items(text, start):
    """The top-level items of the `{...}` group opening at `start`, and where it ends."""
    depth, item, items, i = 0, "", [], start
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(item)
                return [x.strip() for x in items if x.strip()], i
        if depth == 1 and c == ",":
            items.append(item)
            item = ""
        else:
            item += c
        i += 1
    return items, i


def references(text):
    """(line, path segments) for every `crate::` path in `text`."""
    for m in re.finditer(r"\bcrate::", text):
        line = text.count("\n", 0, m.start()) + 1
        rest = text[m.end():]
        if rest.startswith("{"):
            items, _ = group_items(rest, 0)
            for item in items:
                yield line, re.split(r"::|\s+", item.replace("{", " ").strip())
        else:
            path = re.match(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*", rest)
            if not path:
                continue
            segments = path.group(0).split("::")
            after = rest[path.end():]
            if after.startswith("::{"):
                items, _ = group_items(after, 2)
                for item in items:
                    yield line, segments + re.split(r"::|\s+", item.replace("{", " ").strip())
            else:
                yield line, segments


def main(argv):
    files = [pathlib.Path(a) for a in argv] or sorted(
        p for p in pathlib.Path("src").rglob("*.rs") if p.parts[1] != "bin"
    )
    found = 0
    for path in files:
        if path.name == "tests.rs":
            continue
        own = layer_of_file(path)
        if own is None:
            print(f"{path}: no layer known for this file (add it to MODULES)", file=sys.stderr)
            found += 1
            continue
        if own == 0:
            continue
        seen = set()
        for line, segments in references(strip(path.read_text())):
            target = layer_of_path(segments)
            if target is None:
                print(f"{path}:{line}: no layer known for crate::{'::'.join(segments)}",
                      file=sys.stderr)
                found += 1
                continue
            if target == HOOKS or target >= own:
                continue
            key = (line, segments[0])
            if key in seen:
                continue
            seen.add(key)
            found += 1
            print(f"{path}:{line}: {NAMES[own]} -> {NAMES.get(target, 'test driver')}: "
                  f"crate::{'::'.join(segments)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
