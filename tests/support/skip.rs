//! The project's rule for a test whose inputs or tools are missing: under `CI=true` it fails;
//! otherwise it says so loudly and passes.

use std::io::Write;

/// Whether the tests run in CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Fail under `CI=true`; otherwise print a loud `SKIPPED` banner so that the caller can
/// return. Written to the stderr handle directly: the test harness captures `eprintln!` of
/// passing tests.
pub fn skip(why: &str) {
    if in_ci() {
        panic!("CI=true and {why}");
    }
    let bar = "*".repeat(70);
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED: {why}\n{bar}\n");
}
