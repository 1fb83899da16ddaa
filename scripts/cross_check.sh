#!/usr/bin/env bash
# Cross-architecture check: builds the static `diskcache` command for x86_64 and aarch64
# (musl), then runs scripts/cross_check.py, which drives both on the same cache directories,
# the aarch64 one under qemu-user:
#
#   A. x86_64 writes every key and value form (integers, floats, texts, bytes, composites,
#      large values in their own files, tags, expire times), aarch64 reads every entry back;
#   B. the reverse;
#   C. both open one cache at once and share cache.wal / cache.shm: each reads what the other
#      logged, writes past checkpoints the other reads through, queues go across, and both
#      increment one counter concurrently;
#
# and `diskcache check` must pass with either binary after each. Any mismatch fails the run.
#
#   scripts/cross_check.sh                    # build (release) and run
#   scripts/cross_check.sh --no-build         # use the binaries already built
#   scripts/cross_check.sh --keep             # keep the cache directories (printed)
#   scripts/cross_check.sh -- --seed 7 --entries 2000 --churn 9000 --incrs 5000
#
# Needs: the targets (rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl),
# qemu-aarch64-static or qemu-aarch64 (Debian: apt-get install qemu-user-static), python3.
# The aarch64 build links with rust-lld (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER,
# default rust-lld), which ships with the Rust toolchain: no cross C toolchain.
#
# Exit status: 0 every reply matched; 1 a mismatch or failure; 2 a usage or build error;
# 77 skipped, because something it needs is missing (the message says what).
set -euo pipefail
cd "$(dirname "$0")/.."

SKIP=77
build=yes
keep=no
driver_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=no ;;
        --keep) keep=yes ;;
        --) shift; driver_args=("$@"); break ;;
        *) echo "usage: $0 [--no-build] [--keep] [-- driver options: --seed N --entries N --churn N --incrs N]" >&2
           exit 2 ;;
    esac
    shift
done

skip() {
    echo "cross_check: SKIPPED: $*" >&2
    exit "$SKIP"
}

x86_target=x86_64-unknown-linux-musl
arm_target=aarch64-unknown-linux-musl

qemu=${QEMU_AARCH64:-}
if [ -z "$qemu" ]; then
    qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
fi
[ -n "$qemu" ] && [ -x "$qemu" ] ||
    skip "no qemu-aarch64-static or qemu-aarch64 (Debian: apt-get install -y qemu-user-static; or set QEMU_AARCH64)"
command -v python3 >/dev/null || skip "no python3"

target_dir=${CARGO_TARGET_DIR:-target}
x86_bin="$target_dir/$x86_target/release/diskcache"
arm_bin="$target_dir/$arm_target/release/diskcache"

if [ "$build" = yes ]; then
    sysroot=$(rustc --print sysroot)
    for t in "$x86_target" "$arm_target"; do
        [ -d "$sysroot/lib/rustlib/$t" ] ||
            skip "the Rust target $t is not installed (rustup target add $t)"
    done
    echo "== building $x86_target and $arm_target (release, library and the diskcache command)"
    cargo build --release --target "$x86_target" --lib --bins --features cli || exit 2
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-rust-lld} \
        cargo build --release --target "$arm_target" --lib --bins --features cli || exit 2
else
    for b in "$x86_bin" "$arm_bin"; do
        [ -x "$b" ] || skip "--no-build, and $b is not built"
    done
fi

for b in "$x86_bin" "$arm_bin"; do
    if command -v file >/dev/null; then file "$b"; else ls -l "$b"; fi
done
echo "qemu: $qemu ($("$qemu" --version | head -n 1))"
"$qemu" "$arm_bin" --version >/dev/null ||
    { echo "cross_check: the aarch64 binary does not run under $qemu" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/diskcache-cross.XXXXXX")
if [ "$keep" = yes ]; then
    echo "caches kept in $work"
else
    trap 'rm -rf "$work"' EXIT
fi

python3 scripts/cross_check.py --x86 "$x86_bin" --arm "$arm_bin" --qemu "$qemu" --work "$work" \
    "${driver_args[@]}"
