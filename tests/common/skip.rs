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

/// Whether `python3` can import Python diskcache (the reference the comparison tests run
/// against). If it cannot, says so as [`missing`] does, except when `.ci/run` could not install
/// it (it then sets `DISKCACHE_NO_PYTHON_DISKCACHE` and warns loudly itself): the test is
/// skipped with a printed reason.
pub fn python_diskcache() -> bool {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import diskcache"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        let what = "python3 with diskcache is not importable (pip install diskcache==5.6.3)";
        if std::env::var_os("DISKCACHE_NO_PYTHON_DISKCACHE").is_some() {
            eprintln!("skipped: {what}");
        } else {
            missing(what);
        }
    }
    importable
}
