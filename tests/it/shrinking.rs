//! A module file that shrinks while it is being read.
//!
//! Modules are never mapped: a large one is read with `pread` section by section through
//! `source::FileSource`, whose size comes from the `fstat` made when the file was opened. So a file
//! cut short after that `fstat` is exactly a `FileSource` whose stated size is larger than the
//! file: the library-level test builds that for hundreds of cut points and requires each read to
//! give either the intact module's facts or EINVAL, never a panic, never different facts. (A cut
//! that comes after a range was read ahead leaves that range's bytes, read before the cut, to
//! the reads inside it: still the intact module's bytes. `src/scan/source.rs` tests that case.)
//!
//! The binary-level test runs our depmod a few hundred times while another thread keeps cutting
//! the module short and restoring it: the process must never die by a signal or hang, and must
//! exit 0 or 1 with only kmod-style messages.

use crate::support::elf::SHF_ALLOC;
use crate::support::*;
use depmod::scan::elf;
use depmod::scan::module;
use depmod::scan::source::FileSource;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A module well over `module::WHOLE_READ_MAX` (so it is read section by section), with
/// exports, imports, aliases and a large `.text` between its headers and its tables.
fn large_module() -> Vec<u8> {
    let text: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let m = ModuleBuilder::new(Arch::X86_64)
        .export("big_a", 0x1234_5678)
        .export("big_b", 0x9abc_def0)
        .import("printk", Some(0x5555_6666))
        .import("fb", Some(0x3333_4444))
        .alias("pci:v0000BEEFd*")
        .modinfo("softdep", "pre: b")
        .section(Section::progbits(".text.big", SHF_ALLOC | 0x4, 16, text))
        .build();
    assert!(m.len() as u64 > module::WHOLE_READ_MAX, "{} bytes", m.len());
    m
}

/// Cut points: every offset near the start and near the end, and a stride through the middle.
fn cut_points(len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..256).collect();
    v.extend((0..len).step_by(997));
    v.extend(len.saturating_sub(4096)..len);
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn file_source_cut_short_after_stat() {
    let bytes = large_module();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.ko");
    std::fs::write(&path, &bytes).unwrap();
    let full = elf::read_facts(&FileSource::new(
        std::fs::File::open(&path).unwrap(),
        bytes.len() as u64,
    ))
    .expect("the intact module reads");
    assert!(full.exports.as_ref().is_ok_and(|e| e.len() == 2));

    let (mut intact, mut failed) = (0, 0);
    let cuts = cut_points(bytes.len());
    for &cut in &cuts {
        std::fs::write(&path, &bytes).unwrap();
        // Open and take the size first, as scan_path does; then the file shrinks.
        let file = std::fs::File::open(&path).unwrap();
        let size = file.metadata().unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let got = std::panic::catch_unwind(|| elf::read_facts(&FileSource::new(file, size)));
        match got {
            Err(_) => panic!("read_facts panicked on a file cut to {cut} bytes"),
            Ok(Ok(f)) => {
                assert_eq!(
                    f, full,
                    "cut to {cut} bytes: facts differ from the intact file"
                );
                intact += 1;
            }
            Ok(Err(errno)) => {
                assert_eq!(errno, libc::EINVAL, "cut to {cut} bytes");
                failed += 1;
            }
        }
    }
    // The builder puts the section header table last, so every cut loses part of it and
    // fails; a cut in a region never read would give the intact facts.
    assert!(failed > 0 && intact + failed == cuts.len());
    eprintln!(
        "{} cut points: {intact} read intact, {failed} EINVAL",
        cuts.len()
    );
}

#[test]
fn scan_path_of_a_file_cut_short_is_einval_or_intact() {
    // scan_path itself on files already cut (the head read sees the short size): plain and
    // zstd-compressed, every kind of cut point.
    let bytes = large_module();
    let zst = crate::support::compress::zst(&bytes);
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in [("big.ko", &bytes), ("big.ko.zst", &zst)] {
        let path = dir.path().join(name);
        let full = module::scan_bytes(data).expect("intact");
        for cut in cut_points(data.len()).into_iter().step_by(7) {
            std::fs::write(&path, &data[..cut]).unwrap();
            let p = path.as_os_str().as_encoded_bytes();
            match std::panic::catch_unwind(|| module::scan_path(p)) {
                Err(_) => panic!("scan_path panicked on {name} cut to {cut} bytes"),
                Ok(Ok(f)) => assert_eq!(f, full, "{name} cut to {cut}: facts differ"),
                // EINVAL, or ENOEXEC for a head too short to be ELF (as for any truncated
                // module, malformed.rs).
                Ok(Err(e)) => assert!(
                    [libc::EINVAL, libc::ENOEXEC].contains(&e.errno),
                    "{name} cut to {cut}: {e:?}"
                ),
            }
        }
    }
}

/// Truncate and restore `path` in place until `stop`, cycling through cut points.
fn shrinker(path: std::path::PathBuf, bytes: Vec<u8>, stop: Arc<AtomicBool>) -> usize {
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let cuts = [
        0usize,
        10,
        63,
        64,
        500,
        4096,
        65_536,
        bytes.len() / 2,
        bytes.len() - 1,
    ];
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let cut = cuts[n % cuts.len()];
        f.set_len(cut as u64).unwrap();
        std::thread::sleep(Duration::from_micros(200));
        f.write_all_at(&bytes[cut..], cut as u64).unwrap();
        std::thread::sleep(Duration::from_micros(300));
        n += 1;
    }
    n
}

#[test]
fn binary_survives_a_module_shrinking_underneath() {
    let bytes = large_module();
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    let big = t.add_module("kernel/big.ko", &bytes);
    t.add_module(
        "kernel/b.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("fb", 0x3333_4444)
            .build(),
    );
    t.add_module(
        "kernel/c.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("big_a", Some(0x1234_5678))
            .build(),
    );
    t.modules_order(&["kernel/big.ko", "kernel/b.ko", "kernel/c.ko"]);

    let stop = Arc::new(AtomicBool::new(false));
    let th = {
        let (p, b, s) = (big.clone(), bytes.clone(), stop.clone());
        std::thread::spawn(move || shrinker(p, b, s))
    };
    let (mut ok, mut with_error) = (0, 0);
    let bin = our_bin();
    for i in 0..300 {
        let r = run_depmod(
            &bin,
            &t,
            &standard_argv(&t, &[]),
            Duration::from_secs(30),
            "ours",
        );
        let err = r.stderr_text();
        if r.signal.is_some() || r.timed_out || !matches!(r.status, Some(0 | 1)) {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "run {i}: signal {:?}, timed out {}, status {:?}\n{err}",
                r.signal, r.timed_out, r.status
            );
        }
        for line in err.lines() {
            assert!(line.starts_with("depmod: "), "run {i}: {err}");
        }
        let dep = r.text("modules.dep");
        assert!(dep.contains("kernel/big.ko:"), "run {i}: {dep}");
        if err.is_empty() {
            ok += 1;
        } else {
            // The cut module is reported and listed without dependencies.
            assert!(
                err.contains("failed to load symbols from ")
                    || err.contains("needs unknown symbol"),
                "run {i}: {err}"
            );
            with_error += 1;
        }
        // Keep the per-run capture directories from piling up.
        for e in std::fs::read_dir(t.top()).unwrap().flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with("run.") || n.starts_with("out.") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let cycles = th.join().expect("shrinker");
    eprintln!("300 runs: {ok} clean, {with_error} with a load error; {cycles} shrink cycles");
    assert!(cycles > 0);
}
