#!/usr/bin/env bash
# Runs the shared-log correctness harness (tests/durability/wal_harness.rs) at full counts, in
# release mode, and prints its figures: lockstep rounds and stale reads, checkpoint-reader gets
# and regressions, kill trials per crash point with the acknowledgements checked and lost.
#
#   scripts/wal_harness_full.sh              # DISKCACHE_HARNESS_SCALE=20 (the default here)
#   DISKCACHE_HARNESS_SCALE=5 scripts/wal_harness_full.sh
#   DISKCACHE_HARNESS_SEED=<seed> scripts/wal_harness_full.sh   # replay a run's choices
#   scripts/wal_harness_full.sh --sabotage   # also: the checkpoint-order negative control
#                                            # (scripts/negative_controls.sh) must fail it
#
# At scale 20 that is 2 x 40,000 lockstep rounds, 40 s of checkpoint reader and 480 kill
# trials (80 per crash point and 80 external kills); about 90 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

sabotage=no
for arg in "$@"; do
    case "$arg" in
        --sabotage) sabotage=yes ;;
        *) echo "usage: $0 [--sabotage]" >&2; exit 2 ;;
    esac
done

export DISKCACHE_HARNESS_SCALE="${DISKCACHE_HARNESS_SCALE:-20}"
echo "== wal_harness, release, DISKCACHE_HARNESS_SCALE=$DISKCACHE_HARNESS_SCALE"
start=$(date +%s)
cargo test --release --test durability -- --nocapture wal_harness::
echo "== passed in $(( $(date +%s) - start )) s"

if [ "$sabotage" = yes ]; then
    # The sabotage is caught at the normal counts; scaling it up proves nothing more.
    echo "== sabotage: DISKCACHE_BROKEN=checkpoint-order must make the harness fail"
    DISKCACHE_HARNESS_SCALE=1 scripts/negative_controls.sh checkpoint-order
fi
