#!/usr/bin/env bash
# Negative controls: every deliberately broken variant of the library
# (src/testing/sabotage.rs) must make the tests that guard its property fail. A test that
# still passes with its property undone proves nothing.
#
# Builds the test binaries named below once, with `--cfg diskcache_broken` (the only build in
# which the sabotage code exists), debug profile, in the usual target directory
# (${CARGO_TARGET_DIR:-target}): the flag reaches this package's crates only, through this
# script as cargo's RUSTC_WORKSPACE_WRAPPER, so the dependencies are those `cargo test` built
# and only this package's crates are compiled again (cargo keeps them apart from the usual
# ones: the wrapper is part of their hash). Then, for each variant, runs only the tests listed
# under it with DISKCACHE_BROKEN=<variant> and requires every one of them to run and fail: a
# build error, a test that is not found (renamed) or a listed test that passes is NOT CAUGHT.
# Prints one line per variant and exits 1 if any variant was not caught (2 on a usage or build
# error). Each run's output is kept in <target>/negative-controls/logs/<variant>.log.
#
#   scripts/negative_controls.sh                     # every variant
#   scripts/negative_controls.sh checkpoint-order    # just these variants
#   scripts/negative_controls.sh --list              # the table
#   scripts/negative_controls.sh --jobs=2            # two variants at a time
#
# The table lists, for each variant, exactly the tests that failed under it in every one of
# five runs of the variant's whole test module; tests that fail only some of the time are left
# out (a negative control must not be flaky):
# fork::forks_during_writes_from_another_thread_neither_deadlock_nor_lose_writes (deadlocks in
# 4 of 5 runs, and then only its 60 s watchdog ends it) and
# eviction::switching_the_policy_rebuilds_its_order (1 of 4), and under ack-before-commit
# crash_consistency::a_writer_killed_inside_clear_leaves_only_its_newest_entries (it passed
# under it in one of three CI runs; why is not known). Every variant of src/testing/sabotage.rs
# must have an entry: a variant added without one fails the script.
set -euo pipefail
# As cargo's RUSTC_WORKSPACE_WRAPPER (the build below): rustc, for this package's crates, with
# the sabotage code compiled in.
if [ -n "${DISKCACHE_NEGATIVE_CONTROLS_WRAPPER:-}" ]; then
    exec "$@" --cfg diskcache_broken
fi
cd "$(dirname "$0")/.."

# <variant> <test binary> (tests/<binary>/; `lib`: the library's unit tests), then the tests
# that must fail under it, one per indented line, as the binary names them
# (`<module>::<test>`). The end-to-end fairness tests (tests/process_wide/fairness.rs) fail
# under unfair-lock in most runs but not every one, so the lock's unit tests stand for it here.
TABLE='
ack-before-commit durability
    crash_consistency::a_writer_killed_mid_stream_loses_no_acknowledged_write_and_the_cache_reopens_cleanly
    crash_consistency::when_one_of_two_writers_is_killed_the_other_keeps_writing_and_no_acknowledged_write_is_lost
    crash_consistency::a_writer_killed_while_writing_large_value_files_loses_no_acknowledged_write
    crash_consistency::a_writer_killed_while_culling_a_size_limited_cache_leaves_it_consistent
    crash_consistency::a_writer_killed_inside_evict_leaves_all_or_none_of_the_tag
    crash_consistency::a_writer_killed_while_checkpointing_loses_no_acknowledged_write
    crash_consistency::a_writer_killed_inside_a_transaction_leaves_all_or_none_of_its_keys
    crash_consistency::a_process_killed_while_it_recovers_a_cache_after_a_killed_writer_loses_nothing
checkpoint-order durability
    wal_harness::cross_process_reads_see_every_acknowledged_write_in_lockstep
    wal_harness::a_reader_during_checkpoints_never_misses_a_key_or_sees_a_version_go_back
    wal_harness::killing_a_writer_at_each_point_inside_the_lock_loses_no_acknowledged_write
lane-retired-early durability
    wal_harness::cross_process_reads_see_every_acknowledged_write_in_lockstep
    wal_harness::a_reader_during_checkpoints_never_misses_a_key_or_sees_a_version_go_back
fork-inherits-store process_wide
    fork::a_direct_path_cache_works_in_a_forked_child_and_in_its_parent
discard-on-unknown-outcome durability
    fault_injection::faults_during_frequent_checkpoints_lose_nothing
    fault_injection::faults_on_the_direct_path_lose_nothing
    fault_injection::faults_at_the_sync_durability_level_lose_nothing
skip-power-loss-check durability
    power_loss::the_last_handle_to_close_records_a_clean_close_and_the_next_open_records_use
    power_loss::an_open_after_a_shutdown_with_the_cache_in_use_checks_and_repairs_before_serving
    power_loss::a_damaged_marker_counts_as_an_unclean_shutdown
    power_loss::a_clean_close_in_an_earlier_boot_needs_no_check
    power_loss_sim::a_power_loss_at_any_point_leaves_a_clean_cache_holding_its_last_synced_checkpoint
settings-epoch api
    eviction::reset_reaches_another_handle
access-records api
    eviction::least_recently_used_keeps_what_was_read
    eviction::least_frequently_used_keeps_what_is_read_often
    eviction::reads_through_another_handle_count_for_least_recently_used
transact-not-atomic api
    transact::another_process_never_sees_half_a_transaction_on_the_logged_path
    transact::another_process_never_sees_half_a_transaction_on_the_direct_path
    transact::an_error_from_the_closure_applies_nothing_and_deletes_the_value_files_it_wrote
    transact::a_panic_in_the_closure_applies_nothing_and_leaves_the_cache_usable
    transact::reads_inside_a_transaction_see_its_own_writes_and_the_cache_sees_them_after
    transact::a_write_to_the_cache_inside_its_own_transaction_is_refused_instead_of_waiting
    transact::iteration_inside_a_transaction_is_refused_on_the_logged_path_only
check-skips-crc durability
    check_repair::a_flipped_byte_in_a_value_file_is_reported_and_the_entry_and_file_removed
lock-not-exclusive api
    recipes::four_processes_counting_under_a_lock_lose_no_update
    recipes::barrier_runs_one_caller_at_a_time
    recipes::waiting_past_a_timeout_returns_timeout
    recipes::recipes_work_on_a_named_cache_of_a_fanout_cache
no-redb-boundary durability
    damaged_database::damage_to_any_page_of_the_database_is_an_error_never_a_panic_nor_a_wrong_value
damaged-record-ends-log durability
    log_records::a_damaged_record_is_left_out_and_every_later_record_is_kept
    log_records::a_damaged_record_leaves_its_whole_transaction_out
newer-record-skipped durability
    log_records::a_record_of_a_newer_format_is_refused_at_open_and_nothing_is_written
    log_records::a_newer_record_logged_while_the_cache_is_open_stops_writes_without_touching_the_log
writers-ignore-builds api
    slicing::writers_keep_a_tag_index_being_built_in_step_and_reset_completes_it
    slicing::writers_and_reads_keep_a_policy_table_being_built_in_step
check-skips-confirm api
    slicing::a_damaged_entry_replaced_or_deleted_after_checks_snapshot_is_not_reported
    slicing::check_true_removes_only_the_damaged_entries_no_writer_replaced
check-fix-unguarded api
    slicing::two_checks_that_fix_at_once_correct_a_wrong_count_once
unfair-lock lib
    engine::log::lock::tests::a_claim_keeps_a_free_lock_from_everyone_but_the_claimant
    engine::log::lock::tests::a_dead_claimants_claim_is_cleared_by_the_next_writer
    engine::log::lock::tests::a_starved_waiter_claims_the_handoff_and_the_holder_cannot_take_it_back
    engine::handoff::tests::another_handles_claim_holds_a_writer_back_and_its_end_lets_it_in
ignore-unapplied-log internals
    platforms::from_linux::a_cache_whose_log_holds_writes_is_refused_elsewhere_until_linux_applies_them
    platforms::from_linux::a_cache_open_through_the_log_in_another_process_is_refused_elsewhere
ungated-compute api
    rust_api::threads_that_miss_the_same_key_at_once_compute_it_once
janitor-per-store process_wide
    janitor::every_cache_and_shard_of_a_process_shares_one_janitor_thread
janitor-polls process_wide
    janitor::the_janitor_sleeps_while_the_caches_are_idle_and_a_read_wakes_it_to_write_what_was_read
ignore-memory-budget process_wide
    resident_memory::reading_a_whole_cache_keeps_redbs_page_cache_within_the_memory_budget
writes-keep-expired api
    expire::a_write_removes_up_to_cull_limit_expired_entries_soonest_first
    expire::only_writes_that_store_as_python_culls_remove_expired_entries
    expire::a_transaction_culls_as_its_operations_would_and_only_if_it_commits
    expire::a_write_removes_the_expired_entries_another_process_wrote
no-folder-retry lib
    format::blob::tests::a_writer_whose_folder_is_removed_under_it_makes_it_again
long-keys-keep-version api
    keys_and_values::mib_keys_survive_reopen_and_raise_the_format_version_only_when_written
no-checkpoint-file-sync durability
    power_loss::at_the_normal_level_writes_are_not_synced_and_checkpoints_are
    power_loss_sim::a_power_loss_at_any_point_leaves_a_clean_cache_holding_its_last_synced_checkpoint
no-commit-sync durability
    power_loss::at_the_sync_level_every_acknowledged_write_is_synced_where_the_spec_says
    power_loss::at_the_normal_level_writes_are_not_synced_and_checkpoints_are
    power_loss_sim::a_power_loss_at_any_point_leaves_a_clean_cache_holding_its_last_synced_checkpoint
log-age-ignored durability
    power_loss::at_the_normal_level_a_logged_write_gets_its_checkpoint_without_another_write
replaced-files-go-early durability
    power_loss_sim::a_power_loss_at_any_point_leaves_a_clean_cache_holding_its_last_synced_checkpoint
count-takes-own-lock lib
    engine::tests::a_count_inside_a_transaction_waits_out_a_checkpoint_commit_without_taking_the_lock
deltas-before-epoch lib
    engine::tests::a_writer_reading_the_counters_mid_publish_sees_them_whole
async-runs-inline api
    asynchronous::a_write_waiting_for_the_lock_leaves_the_runtime_thread_free_on_the_logged_path
    asynchronous::a_write_waiting_for_the_lock_leaves_the_runtime_thread_free_on_the_direct_path
break-ignored api
    progress::a_break_at_the_start_removes_nothing
    progress::a_check_stopped_before_its_confirmation_repairs_nothing
    progress::compact_reports_and_can_give_up_before_it_starts
    progress::a_fanout_stopped_between_shards_cleared_exactly_the_shards_before
'

# A variant's run that takes longer than this is stopped and counts as not caught.
LIMIT_SECONDS=600
# How many variants run at once (--jobs=N).
JOBS=1
LOGS="${CARGO_TARGET_DIR:-target}/negative-controls/logs"

declare -A BINARY_OF TESTS_OF
VARIANTS=()
variant=
while IFS= read -r line; do
    case "$line" in
        '') ;;
        ' '*) TESTS_OF[$variant]+="${line// /} " ;;
        *)
            read -r variant binary <<<"$line"
            VARIANTS+=("$variant")
            BINARY_OF[$variant]=$binary
            TESTS_OF[$variant]=
            ;;
    esac
done <<<"$TABLE"

# Every variant of src/testing/sabotage.rs has an entry, and every entry is a variant.
mapfile -t DEFINED < <(grep -oE 'Sabotage::[A-Za-z]+ => "[a-z-]+"' src/testing/sabotage.rs |
    sed -E 's/.*"([a-z-]+)"/\1/')
if [ "${#DEFINED[@]}" -eq 0 ]; then
    echo "error: no variant names found in src/testing/sabotage.rs" >&2
    exit 2
fi
for v in "${DEFINED[@]}"; do
    if [ -z "${BINARY_OF[$v]:-}" ]; then
        echo "error: the variant $v of src/testing/sabotage.rs has no entry in $0" >&2
        exit 2
    fi
done
for v in "${VARIANTS[@]}"; do
    # (grep reads a process substitution, not a pipe: under pipefail, printf killed by
    # SIGPIPE when grep -q stops at the first match would fail the test.)
    if ! grep -qx -- "$v" < <(printf '%s\n' "${DEFINED[@]}"); then
        echo "error: $v (in $0) is not a variant of src/testing/sabotage.rs" >&2
        exit 2
    fi
done

selected=()
for arg in "$@"; do
    case "$arg" in
        --jobs=*)
            JOBS=${arg#--jobs=}
            ;;
        --list)
            for v in "${VARIANTS[@]}"; do
                echo "$v (${BINARY_OF[$v]}):"
                printf '    %s\n' ${TESTS_OF[$v]}
            done
            exit 0
            ;;
        -*)
            echo "usage: $0 [--list] [--jobs=N] [variant...]" >&2
            exit 2
            ;;
        *)
            if [ -z "${BINARY_OF[$arg]:-}" ]; then
                echo "error: no variant $arg; the variants are: ${VARIANTS[*]}" >&2
                exit 2
            fi
            selected+=("$arg")
            ;;
    esac
done
[ "${#selected[@]}" -gt 0 ] || selected=("${VARIANTS[@]}")
if ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: --jobs=$JOBS: not a positive number" >&2
    exit 2
fi

# The build, once, for the test binaries of the selected variants. Cargo's JSON messages name
# each test binary built.
started=$EPOCHREALTIME
declare -A EXE_OF
build_args=()
for v in "${selected[@]}"; do
    if [ "${BINARY_OF[$v]}" = lib ]; then
        arg=(--lib)
    else
        arg=(--test "${BINARY_OF[$v]}")
    fi
    # Each binary once (cargo refuses `--lib` twice).
    case " ${build_args[*]} " in
        *" ${arg[*]} "*) ;;
        *) build_args+=("${arg[@]}") ;;
    esac
done
echo "building the test binaries of ${#selected[@]} variant(s) with --cfg diskcache_broken"
mkdir -p "$LOGS"
if ! DISKCACHE_NEGATIVE_CONTROLS_WRAPPER=1 RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/negative_controls.sh" \
    cargo test --no-run --message-format=json-render-diagnostics "${build_args[@]}" \
    >"$LOGS/build.json" 2>"$LOGS/build.log"; then
    tail -n 30 "$LOGS/build.log" >&2
    echo "error: the build failed (all of it: $LOGS/build.log)" >&2
    exit 2
fi
while IFS= read -r message; do
    name=$(sed -E 's/.*"target":\{"kind":\["test"\][^}]*"name":"([^"]*)".*/\1/' <<<"$message")
    exe=$(sed -E 's/.*"executable":"([^"]*)".*/\1/' <<<"$message")
    EXE_OF[$name]=$exe
done < <(grep '"reason":"compiler-artifact"' "$LOGS/build.json" |
    grep '"target":{"kind":\["test"\]' | grep '"executable":"')
# The library's own unit tests (the table's binary `lib`).
lib_exe=$(grep '"reason":"compiler-artifact"' "$LOGS/build.json" |
    grep '"target":{"kind":\["lib"\]' | grep -o '"executable":"[^"]*"' | head -n 1 |
    sed -E 's/"executable":"([^"]*)"/\1/' || true)
[ -z "$lib_exe" ] || EXE_OF[lib]=$lib_exe
built=$(awk -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }')
echo "built in $built s"

# One variant: runs its tests, and says whether every one of them ran and failed.
run() {
    local v=$1 binary=${BINARY_OF[$1]} log="$LOGS/$1.log"
    local exe=${EXE_OF[$binary]:-}
    local -a tests
    read -r -a tests <<<"${TESTS_OF[$v]}"
    if [ -z "$exe" ]; then
        echo "no test binary was built for $binary"
        return 1
    fi
    local status=0
    DISKCACHE_BROKEN=$v timeout "$LIMIT_SECONDS" "$exe" --exact "${tests[@]}" >"$log" 2>&1 ||
        status=$?
    if [ "$status" -eq 124 ]; then
        echo "still running after $LIMIT_SECONDS s, stopped"
        return 1
    fi
    local ran
    ran=$(sed -nE 's/^running ([0-9]+) tests?$/\1/p' "$log" | head -n 1)
    if [ "${ran:-0}" -ne "${#tests[@]}" ]; then
        echo "${ran:-no} tests ran, not the ${#tests[@]} listed (exit status $status)"
        return 1
    fi
    local t missing=() passed=()
    for t in "${tests[@]}"; do
        if grep -qxF "test $t ... FAILED" "$log"; then
            :
        elif grep -qxF "test $t ... ok" "$log"; then
            passed+=("$t")
        else
            missing+=("$t")
        fi
    done
    if [ "${#passed[@]}" -gt 0 ]; then
        echo "passed: ${passed[*]}"
        return 1
    fi
    if [ "${#missing[@]}" -eq 1 ] && [ "${#tests[@]}" -eq 1 ] && [ "$status" -gt 128 ]; then
        # The one test listed ran alone and took the process down with it (an abort is a
        # failure too, and only that test was running).
        echo "$binary: 1 of 1 failed (the process died of signal $((status - 128)))"
        return 0
    fi
    if [ "${#missing[@]}" -gt 0 ] || [ "$status" -eq 0 ]; then
        echo "no result for: ${missing[*]:-?} (exit status $status)"
        return 1
    fi
    echo "$binary: ${#tests[@]} of ${#tests[@]} failed"
}

# One variant's run and its verdict line, into $LOGS/<variant>.verdict (first line `caught` or
# `NOT CAUGHT`, then the line to print).
judge() {
    local v=$1 t0=$EPOCHREALTIME what verdict took
    if what=$(run "$v"); then
        verdict=caught
    else
        verdict="NOT CAUGHT"
        what="$what; log: $LOGS/$v.log"
    fi
    took=$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }')
    printf '%s\n%-11s %-27s %6s s  %s\n' "$verdict" "$verdict" "$v" "$took" "$what" \
        >"$LOGS/$v.verdict"
}

# $JOBS variants at a time (each runs its own tests, in its own cache directories), each
# verdict printed as its run ends.
caught=0
missed=()
declare -A VARIANT_OF_PID=()
running=0
report() { # waits for one run to end and prints its verdict
    local pid v
    wait -n -p pid || true
    v=${VARIANT_OF_PID[$pid]}
    running=$((running - 1))
    if [ "$(head -n 1 "$LOGS/$v.verdict")" = caught ]; then
        caught=$((caught + 1))
    else
        missed+=("$v")
    fi
    tail -n +2 "$LOGS/$v.verdict"
}
for v in "${selected[@]}"; do
    rm -f "$LOGS/$v.verdict"
    [ "$running" -lt "$JOBS" ] || report
    judge "$v" &
    VARIANT_OF_PID[$!]=$v
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    report
done

total=$(awk -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }')
echo "$caught of ${#selected[@]} variants caught, in $total s (build $built s)"
if [ "${#missed[@]}" -gt 0 ]; then
    echo "NOT CAUGHT: ${missed[*]}" >&2
    exit 1
fi
