#!/usr/bin/env bash
# The differential test against Python diskcache (tests/differential.rs) at scale: N seeds of
# M random operations each (default 1000 × 500), run on this crate through `diskcache batch`
# and on Python diskcache through scripts/differential.py, every reply compared. Prints each
# mismatching seed's first mismatch (the first few in full) and a summary by kind of mismatch.
#
#   scripts/differential.sh                       # 1000 seeds × 500 operations, debug build
#   scripts/differential.sh -n 100 -m 200         # 100 seeds × 200 operations
#   scripts/differential.sh --first 4000          # seeds 4000..4999
#   scripts/differential.sh --exclude expiry      # leave out areas (default: the test's own)
#   scripts/differential.sh --exclude ''          # every area on
#   scripts/differential.sh --release --shrink    # release build; shortest reproducers
#
# Areas: expiry, float-incr, queue-edge, long-keys (tests/differential/generate.rs).
# Exit status: 0 every reply matched; 1 a mismatch; 2 a usage or build error; 77 skipped
# (python3 cannot import diskcache: pip install diskcache==5.6.3).
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=1000
ops=500
first=0
profile=()
usage() {
    echo "usage: $0 [-n SEEDS] [-m OPS] [--first SEED] [--exclude AREAS] [--show N] [--release] [--shrink]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        -n) seeds=${2:?}; shift ;;
        -m) ops=${2:?}; shift ;;
        --first) first=${2:?}; shift ;;
        --exclude) export DIFF_EXCLUDE="${2?}"; shift ;;
        --show) export DIFF_SHOW=${2:?}; shift ;;
        --release) profile=(--release) ;;
        --shrink) export DIFF_SHRINK=1 ;;
        *) usage ;;
    esac
    shift
done

python3 -c "import diskcache" 2>/dev/null || {
    echo "differential: SKIPPED: python3 cannot import diskcache (pip install diskcache==5.6.3)" >&2
    exit 77
}
cargo test "${profile[@]}" --test differential --no-run --quiet || exit 2

export DIFF_SEEDS=$seeds DIFF_OPS=$ops DIFF_FIRST_SEED=$first
began=$(date +%s)
status=0
cargo test "${profile[@]}" --quiet --test differential -- --nocapture || status=$?
echo "differential: $seeds seeds × $ops operations (seeds $first..$((first + seeds - 1))) took $(( $(date +%s) - began )) s: $([ "$status" = 0 ] && echo 'every reply matched' || echo 'MISMATCHES (above)')"
[ "$status" = 0 ] || exit 1
