//! Tests that need something of the machine (root to mount a tmpfs, a boot id, `python3`):
//! outside CI, a test whose need is not met says why and passes without running; in CI
//! (`CI=true`, which `.ci/run` exports) a need the CI machine should meet fails the test with
//! a message saying what is missing, so that CI cannot pass a test that never ran.

/// Whether this is a CI run: the environment variable `CI` is `true` or `1`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The calling test cannot run because of `missing` (what is missing and why it is needed):
/// fails the test in CI, and otherwise prints that it is skipped and returns, so that the test
/// can return without running. A test calls it only for what a CI machine should have.
pub fn missing(missing: &str) {
    assert!(
        !in_ci(),
        "{missing}; CI=true and a CI machine should have it, so this fails instead of skipping"
    );
    eprintln!("skipped: {missing}");
}
