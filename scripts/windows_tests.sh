#!/usr/bin/env bash
# Runs the test suite's Windows build (x86_64-pc-windows-gnu) under Wine, on Linux.
#
# Installs what it needs where it can (Debian/Ubuntu, as root): the `wine64` and
# `gcc-mingw-w64-x86-64` packages (Wine, and the MinGW linker for Windows binaries) and the
# rustup target. Makes a Wine prefix (default ${CARGO_TARGET_DIR:-target}/wine, or $WINEPREFIX)
# and puts into it a stand-in bcryptprimitives.dll built from scripts/windows/
# bcryptprimitives.c: Debian's Wine 8 lacks that DLL, whose ProcessPrng Rust's std calls at
# start-up (the C file is for this harness only, not part of the crate). Then runs the tests
# named below with Wine as cargo's runner, in release mode (a debug build under Wine is several
# times slower), and the library's unit tests.
#
# A name is a module of one of the grouped test binaries (`basic` is tests/api/basic.rs, run
# as `cargo test --test api -- basic::`) or a test binary of its own (`cli`).
#
#   scripts/windows_tests.sh                # the tests below and the unit tests
#   scripts/windows_tests.sh --quick        # QUICK below, in debug mode (what CI runs)
#   scripts/windows_tests.sh basic expire   # just these modules or binaries
#
# Exits 0 if every test run passed, 1 if one failed, 77 (skipped, with a message) if Wine, the
# linker or the target cannot be had.
#
# The tests run are those of the direct write path's behaviour (the only path Windows has)
# that pass under Wine; left out: the modules that are Linux-only or Unix-only (fork,
# full_disk, open_files, power_loss, fairness, corruption_repair, crash_consistency,
# log_records, wal_harness, permissions, slicing: they compile for Windows as empty or
# `#[cfg]`'d modules), and those listed in SLOW below, which pass but take minutes under Wine
# (run them by name).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
# The test binaries made of modules (tests/<binary>/<module>.rs).
GROUPED=(api durability internals process_wide)
DEFAULT_TESTS=(
    backward_compatibility basic check_repair counters deque disk eviction expire fanout
    index keys_and_values large_values maintenance memoize multiprocess ordering platforms
    queue recipes reopen threads timeout transact
)
# Pass under Wine too, but add minutes to a run: run them by name.
SLOW=(fault_injection damaged_database damaged_rows fuzz_corpus cli)
# The direct path's core, and what is new for other platforms; with the unit tests about two
# and a half minutes in debug mode here, the build included (CI).
QUICK=(basic expire eviction transact large_values multiprocess platforms timeout reopen)

skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}

need_packages=()
command -v wine >/dev/null || need_packages+=(wine64 wine)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_packages+=(gcc-mingw-w64-x86-64)
if [ "${#need_packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        skip "needs ${need_packages[*]} (Debian packages), and cannot install them here"
    fi
    echo "installing ${need_packages[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${need_packages[@]}" >/dev/null; }; then
        skip "could not install ${need_packages[*]}"
    fi
fi
if ! rustup target list --installed | grep -qx "$TARGET" && ! rustup target add "$TARGET"; then
    skip "the rustup target $TARGET could not be installed"
fi

target_dir=${CARGO_TARGET_DIR:-target}
export WINEPREFIX=${WINEPREFIX:-$PWD/$target_dir/wine}
export WINEDEBUG=-all
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
system32=$WINEPREFIX/drive_c/windows/system32
if [ ! -d "$system32" ]; then
    echo "making the Wine prefix $WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    wineboot --init >/dev/null 2>&1 || skip "wineboot could not make the prefix $WINEPREFIX"
fi
x86_64-w64-mingw32-gcc -O2 -shared -o "$system32/bcryptprimitives.dll" \
    scripts/windows/bcryptprimitives.c -ladvapi32

profile=(--release)
tests=("$@")
if [ "${1:-}" = --quick ]; then
    profile=()
    tests=("${QUICK[@]}")
fi
[ "${#tests[@]}" -gt 0 ] || tests=("${DEFAULT_TESTS[@]}")
# Whole binaries in one run; the modules of each grouped binary in a run of it, filtered to
# `<module>::` (no module's name ends with another's within a binary, so the filters pick
# exactly those modules' tests).
whole=()
declare -A filters_of
for t in "${tests[@]}"; do
    group=
    for g in "${GROUPED[@]}"; do
        if [ -f "tests/$g/$t.rs" ]; then
            group=$g
        fi
    done
    if [ -n "$group" ]; then
        filters_of[$group]+="$t:: "
    elif [ -f "tests/$t/main.rs" ] || [ -f "tests/$t.rs" ]; then
        whole+=(--test "$t")
    else
        echo "error: $t is neither a module of ${GROUPED[*]} nor a test binary" >&2
        exit 2
    fi
done

started=$EPOCHREALTIME
status=0
# Every test binary to run, built in one cargo invocation first (the crates compile side by
# side), then run one by one below.
build=("${whole[@]}")
for g in "${GROUPED[@]}"; do
    [ -z "${filters_of[$g]:-}" ] || build+=(--test "$g")
done
if [ "$#" -eq 0 ] || [ "$1" = --quick ]; then
    build+=(--lib)
fi
cargo test "${profile[@]}" --target "$TARGET" --no-run "${build[@]}" || status=1
if [ "${#whole[@]}" -gt 0 ]; then
    cargo test "${profile[@]}" --target "$TARGET" --no-fail-fast "${whole[@]}" || status=1
fi
for g in "${GROUPED[@]}"; do
    [ -n "${filters_of[$g]:-}" ] || continue
    read -r -a filters <<<"${filters_of[$g]}"
    cargo test "${profile[@]}" --target "$TARGET" --test "$g" -- "${filters[@]}" || status=1
done
if [ "$#" -eq 0 ] || [ "$1" = --quick ]; then
    cargo test "${profile[@]}" --target "$TARGET" --lib || status=1
fi
took=$(awk -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", e - s }')
# Wine's server lingers a few seconds after the last program; stop it now, for this prefix.
wineserver -k 2>/dev/null || true
if [ "$status" -ne 0 ]; then
    echo "FAILED: the Windows tests under Wine ($took s)" >&2
    exit 1
fi
echo "the Windows tests passed under Wine ($took s; slow tests not run: ${SLOW[*]})"
