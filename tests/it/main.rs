//! The integration tests, one binary: each module is a subject (they were separate binaries),
//! and the support code (`support/`) is compiled once for all of them. Run a subset with e.g.
//! `cargo test --release --test it synthetic::`, an ignored generator with
//! `cargo test --release --test it -- --ignored regenerate_sample_tree`.
//!
//! The tests share one process, so none may change process-wide state (environment, working
//! directory, resource limits, signal dispositions, file descriptors 0–2): what a test needs
//! changed it changes in the child it spawns (`io_errors` installs its seccomp filters and
//! `publish` its open-file limit between fork and exec). `tests/getopt_prop.rs` cannot, and is
//! a binary of its own (see its top).
//!
//! Tests whose inputs or tools are missing pass, and one summary at exit lists them with the
//! commands that fetch or install what they need (`support::skip`); under `CI=true` they fail.

mod support;

mod bad_char;
mod beyond;
mod bombs;
mod builder_selfcheck;
mod cache;
mod completions;
mod compressed;
mod config_scenarios;
mod explain;
mod faults;
mod fuzz_regressions;
mod index_lookups;
mod install;
mod io_errors;
mod kmod_testsuite;
mod limits;
mod malformed;
mod malformed_inputs;
mod man_pages;
mod publish;
mod random_trees;
mod read_ahead;
mod real_clients;
mod real_trees;
mod running_system;
mod sample_tree;
mod scaling_trees;
mod shrinking;
mod synthetic;
