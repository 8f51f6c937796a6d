//! Inputs the fuzz targets (`fuzz/`) found worth keeping, run through the same library calls
//! as the targets, so that they stay fixed. Each file in `tests/fuzz_regressions/` is named
//! after its target.

use std::path::Path;

fn input(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_regressions")
            .join(name),
    )
    .expect("regression input")
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &[]),
    }
}

/// `(^|b)` under dozens of nested `*`/`+`: slow under the fuzzer's sanitizers (about 7 s);
/// the matcher must finish and give glibc's answer (a pattern that compiles, here matching).
#[test]
fn config_nested_stars_finish() {
    let data = input("config-slow-nested-stars");
    let (version, rest) = split_line(&data);
    let (pattern, text) = split_line(rest);
    let mut config = depmod::config::Config::default();
    let mut log = depmod::diag::Log::default();
    config.parse(b"fuzz.conf", text, version, &mut log);
    let compiled = posix_ere::compile(pattern);
    assert!(compiled.is_some());
    assert!(depmod::config::version_matches(pattern, version));
}

/// A slow index round trip found by the `index_roundtrip` target: raw bytes into the reader
/// must not panic, whatever they hold.
#[test]
fn index_reader_slow_input_finishes() {
    let data = input("index-roundtrip-slow");
    if let Ok(r) = kmod_index::IndexReader::new(&data) {
        let _ = r.dump();
        let _ = r.lookup(b"a");
        let _ = r.lookup_wildcard(b"a*");
    }
}
