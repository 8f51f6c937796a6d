//! Line-oriented inputs: `order::fgets_lines` (+ `c_str`), modules.builtin.modinfo
//! (`render::builtin_aliases`), and Module.symvers / System.map via `inputs::load_symvers` /
//! `inputs::load_system_map` (these take a path: the bytes go to a per-process temp file, removed after each run).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

fn temp_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("depmod-fuzz-text-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    // fgets_lines needs size >= 2 (as fgets needs room for one byte and the NUL); every
    // caller passes a constant 4096 or 10240.
    let size = 2 + first as usize;
    let mut total = 0;
    for line in depmod::cstd::fgets_lines(data, size) {
        assert!(!line.is_empty() && line.len() < size);
        total += line.len();
        let _ = depmod::cstd::c_str(line);
    }
    assert_eq!(total, data.len());

    for (name, alias) in depmod::render::builtin_aliases(data) {
        let _ = (name.len(), alias.len());
    }

    let path = temp_path();
    if std::fs::write(path, data).is_ok() {
        let p = path.as_os_str().as_bytes();
        let prefix = if first & 1 == 0 { None } else { Some(b'_') };
        let mut log = depmod::diag::Log::default();
        let _ = depmod::inputs::load_symvers(p, prefix, &mut log);
        let _ = depmod::inputs::load_system_map(p, prefix, &mut log);
        let _ = std::fs::remove_file(path);
    }
});
