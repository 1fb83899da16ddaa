#!/usr/bin/env bash
# Builds the Python module's wheel, installs it in a fresh venv with pytest, and runs
# python-diskcache's own tests against it (tests/upstream/, README.md), the tests of a cache
# shared with the Rust `diskcache` command (tests/test_interop.py) and of transact() across
# processes (tests/test_transact.py), then that test's negative control, which must fail.
#
#   python/ci.sh            # from anywhere; exit status 0 when all of that holds
#
# The wheel is built by maturin (pip install maturin, if missing) into the workspace's
# target directory (CARGO_TARGET_DIR, if set), so a CI run reuses what it compiled before.
# Debug build: compiling the release profile costs minutes that CI does not have; bench.py
# measures a release wheel. The `diskcache` command is the one `cargo test` built
# (target/debug/diskcache), or is built here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
cd "$here"
# Exit status 77: a tool this needs could not be had (no maturin, venv or pytest to install).
python3 -m maturin --version >/dev/null 2>&1 || python3 -m pip install -q 'maturin>=1.5,<2' ||
    python3 -m pip install -q --break-system-packages 'maturin>=1.5,<2' || exit 77
wheels="$(mktemp -d)"
venv="$(mktemp -d)"
trap 'rm -rf "$wheels" "$venv"' EXIT
python3 -m maturin build -q -j2 -o "$wheels"
[ -x "$target/debug/diskcache" ] || cargo build -q -j2 --features cli --bin diskcache
python3 -m venv "$venv" || exit 77
"$venv/bin/pip" install -q pytest || exit 77
"$venv/bin/pip" install -q "$wheels"/*.whl
cd "$here/tests"
DISKCACHE_CLI="$target/debug/diskcache" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    upstream test_interop.py test_transact.py
echo "negative control: transact() that holds off only its own process must lose increments"
if DISKCACHE_REDB_SABOTAGE=local-transact "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    test_transact.py -k across_processes >/dev/null 2>&1; then
    echo "negative control passed: tests/test_transact.py cannot catch a lost update" >&2
    exit 1
fi
echo "negative control failed, as it must"
