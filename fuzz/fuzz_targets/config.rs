//! depmod.d parsing: `Config::parse`, `logical_lines`, and the ERE matcher used by
//! `external <version-regex> ...`. Input layout: `<version>\n<pattern>\n<config text...>`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (version, rest) = split_line(data);
    let (pattern, text) = split_line(rest);

    let _ = depmod::config::logical_lines(text);

    let mut config = depmod::config::Config::default();
    let mut log = depmod::diag::Log::default();
    config.parse(b"/fuzz/depmod.d/fuzz.conf", text, version, &mut log);
    let _ = config.effective_search();

    let _ = posix_ere::compile(pattern).map(|r| r.is_match(version));
    let _ = depmod::config::version_matches(pattern, version);
});
