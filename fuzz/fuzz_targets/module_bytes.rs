//! `module::scan_bytes`: magic-selected decompression (xz, zstd, gzip) with bounded output,
//! then the ELF reader. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = depmod::scan::module::compression_of(data);
    let _ = depmod::scan::module::scan_bytes(data);
});
