//! Malformed module inputs: truncated, corrupt and inconsistent ELF files, corrupt
//! compressed streams and non-module files in the tree. Each case either matches the reference
//! kmod 34.2 (outputs, stderr, exit status) or, where kmod misbehaves or this project documents a
//! deliberate difference (see depmod(8)), asserts our documented behaviour: exit status 0, the
//! module listed in modules.dep without dependencies, one `failed to load symbols from <path>: <strerror>`
//! error, no crash and no hang (every run has a timeout).

use crate::support::compress::{gz, xz, zst};
use crate::support::elf::{STB_GLOBAL, STT_NOTYPE, STT_OBJECT};
use crate::support::*;
use std::io::Write;

const BAD: &str = "kernel/a.ko";

/// The module that gets corrupted: exports `fa`, imports `fb` from b.ko, has an alias.
fn good_a(arch: Arch) -> ModuleBuilder {
    ModuleBuilder::new(arch)
        .export("fa", 0x1111_2222)
        .alias("x:a")
        .import("fb", Some(0x3333_4444))
}

fn layout() -> Layout {
    good_a(Arch::X86_64).build_layout()
}

/// A tree with `bytes` as `name` (importing `fb` when intact) next to b.ko (exports `fb`) and
/// c.ko (imports `fa`, so a broken a.ko also changes c.ko's line).
fn tree_with(name: &str, bytes: &[u8]) -> Tree {
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.add_module(
        "kernel/b.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("fb", 0x3333_4444)
            .build(),
    );
    t.add_module(
        "kernel/c.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("fa", Some(0x1111_2222))
            .build(),
    );
    t.add_module(name, bytes);
    t.modules_order(&["kernel/a.ko", "kernel/b.ko", "kernel/c.ko"]);
    t
}

/// The bad module must match the reference.
fn matches_reference(bytes: &[u8]) {
    let t = tree_with(BAD, bytes);
    // Without the reference (skipped comparison) still check: no crash, no hang, exit 0.
    let r = run_ours(&t, &[]);
    assert!(!r.timed_out && r.status == Some(0), "{}", r.stderr_text());
    assert!(r.text("modules.dep").contains("kernel/a.ko:"));
    compare_with_reference(&t, &[]);
}

/// Our documented behaviour for a module that cannot be loaded: exit 0, `name` listed without
/// dependencies, exactly one `failed to load symbols from <path>: <strerror>` error, and
/// `decoder_lines` lines `depmod: ERROR: <decoder>: ...` before it.
fn assert_documented(t: &Tree, name: &str, strerror: &str, decoder: Option<&str>) -> Run {
    let r = run_ours(t, &[]);
    assert!(!r.timed_out, "timed out");
    assert_eq!(r.status, Some(0), "stderr: {}", r.stderr_text());
    let dep = r.text("modules.dep");
    assert!(
        dep.lines().any(|l| l == format!("{name}:")),
        "{name} not listed without dependencies:\n{dep}"
    );
    let path = t.moddir().join(name);
    let err = r.stderr_text();
    let want = format!(
        "depmod: ERROR: failed to load symbols from {}: {strerror}",
        path.display()
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| **l == want).count(),
        1,
        "want one {want:?} in:\n{err}"
    );
    match decoder {
        Some(d) => {
            let prefix = format!("depmod: ERROR: {d}: ");
            let idx = lines.iter().position(|l| **l == want).unwrap();
            assert!(idx >= 1 && lines[idx - 1].starts_with(&prefix), "{err}");
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.starts_with("depmod: ERROR: "))
                    .count(),
                2,
                "{err}"
            );
        }
        None => assert_eq!(lines.len(), 1, "{err}"),
    }
    r
}

/// Compressed corrupt module: our documented form of the error, and everything else (outputs,
/// exit status, the rest of stderr) as the reference has it.
fn corrupt_compressed(name: &str, bytes: &[u8], decoder: &str) {
    let t = tree_with(name, bytes);
    let ours = assert_documented(&t, name, "Invalid argument", Some(decoder));
    let Some(reference) = run_reference(&t, &[]) else {
        return;
    };
    assert!(!reference.timed_out);
    let strip = |r: &Run| -> Vec<String> {
        r.stderr_text()
            .lines()
            .filter(|l| !l.starts_with(&format!("depmod: ERROR: {decoder}: ")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(&reference), strip(&ours));
    assert_eq!(reference.status, ours.status);
    assert_eq!(reference.stdout, ours.stdout);
    for name in OUTPUTS {
        assert_eq!(reference.output(name), ours.output(name), "{name} differs");
    }
}

/// kmod 34.2 aborts on this input (a libkmod assertion, SIGABRT, no outputs): assert that it
/// still does (so that the test notices when the reference changes) and that ours shows the
/// documented behaviour (EINVAL for the module, everything else written).
fn kmod_aborts(bytes: &[u8]) {
    let t = tree_with(BAD, bytes);
    assert_documented(&t, BAD, "Invalid argument", None);
    if let Some(r) = run_reference(&t, &[]) {
        assert_eq!(r.signal, Some(libc::SIGABRT), "{}", r.stderr_text());
        assert!(r.stderr_text().contains("Assertion"), "{}", r.stderr_text());
    }
}

fn truncated(len: usize) -> Vec<u8> {
    layout().bytes[..len].to_vec()
}

/// Byte offset of the `sh_offset` / `sh_size` fields in a section header.
fn sh_offset_field(l: &Layout, sec: &str) -> usize {
    l.section(sec).unwrap().header_offset + if l.is_64 { 24 } else { 16 }
}
fn sh_size_field(l: &Layout, sec: &str) -> usize {
    l.section(sec).unwrap().header_offset + if l.is_64 { 32 } else { 20 }
}
fn word(l: &Layout) -> usize {
    if l.is_64 { 8 } else { 4 }
}

fn patched(f: impl FnOnce(&mut Layout)) -> Vec<u8> {
    let mut l = layout();
    f(&mut l);
    l.bytes
}

fn last_byte(l: &mut Layout, sec: &str, b: u8) {
    let s = l.section(sec).unwrap().clone();
    l.bytes[s.offset + s.size - 1] = b;
}

// ---------------------------------------------------------------------------------------------
// Sizes and the ELF header

#[test]
fn empty_file() {
    matches_reference(b"");
}

#[test]
fn five_byte_file() {
    matches_reference(b"\x7fELF\x02");
}

#[test]
fn garbage_bytes() {
    let mut s: u32 = 0x1234_5678;
    let g: Vec<u8> = (0..4096)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) as u8
        })
        .collect();
    matches_reference(&g);
}

#[test]
fn elf_magic_then_garbage() {
    let mut b = b"\x7fELF\x02\x01\x01".to_vec();
    b.extend(std::iter::repeat_n(0xa5u8, 200));
    matches_reference(&b);
}

#[test]
fn truncated_at_16_bytes() {
    matches_reference(&truncated(16));
}

#[test]
fn truncated_at_17_bytes() {
    matches_reference(&truncated(17));
}

#[test]
fn truncated_inside_elf_header_at_40() {
    matches_reference(&truncated(40));
}

#[test]
fn truncated_just_before_end_of_elf_header() {
    matches_reference(&truncated(63));
}

#[test]
fn truncated_to_elf_header_only() {
    matches_reference(&truncated(64));
}

#[test]
fn truncated_32bit_inside_elf_header() {
    let l = good_a(Arch::I386).build_layout();
    matches_reference(&l.bytes[..51]);
}

#[test]
fn truncated_big_endian_inside_elf_header() {
    let l = good_a(Arch::S390x).build_layout();
    matches_reference(&l.bytes[..50]);
}

#[test]
fn wrong_ei_class_zero() {
    matches_reference(&patched(|l| l.bytes[4] = 0));
}

#[test]
fn wrong_ei_class_three() {
    matches_reference(&patched(|l| l.bytes[4] = 3));
}

#[test]
fn ei_class_32_on_64bit_file() {
    matches_reference(&patched(|l| l.bytes[4] = 1));
}

#[test]
fn wrong_ei_data_zero() {
    matches_reference(&patched(|l| l.bytes[5] = 0));
}

#[test]
fn wrong_ei_data_three() {
    matches_reference(&patched(|l| l.bytes[5] = 3));
}

#[test]
fn ei_data_big_on_little_endian_file() {
    matches_reference(&patched(|l| l.bytes[5] = 2));
}

#[test]
fn e_shentsize_wrong() {
    matches_reference(&patched(|l| {
        let o = l.e_shentsize_offset();
        l.put(o, 2, 40)
    }));
}

#[test]
fn e_shentsize_zero() {
    matches_reference(&patched(|l| {
        let o = l.e_shentsize_offset();
        l.put(o, 2, 0)
    }));
}

#[test]
fn e_shnum_huge() {
    matches_reference(&patched(|l| {
        let o = l.e_shnum_offset();
        l.put(o, 2, 0xffff)
    }));
}

/// kmod 34.2 aborts (libkmod assertion on the section index): documented behaviour.
#[test]
fn e_shnum_zero() {
    kmod_aborts(&patched(|l| {
        let o = l.e_shnum_offset();
        l.put(o, 2, 0)
    }));
}

#[test]
fn e_shoff_past_end() {
    matches_reference(&patched(|l| {
        let o = l.e_shoff_offset();
        let n = l.bytes.len() as u64;
        l.put(o, 8, n)
    }));
}

#[test]
fn e_shoff_wraps() {
    matches_reference(&patched(|l| {
        let o = l.e_shoff_offset();
        l.put(o, 8, u64::MAX - 63)
    }));
}

/// kmod 34.2 aborts (libkmod assertion on the section index): documented behaviour.
#[test]
fn e_shstrndx_out_of_range() {
    kmod_aborts(&patched(|l| {
        let n = l.sections.len() as u64 + 1;
        let o = l.e_shstrndx_offset();
        l.put(o, 2, n)
    }));
}

/// kmod 34.2 aborts (libkmod assertion on the section index): documented behaviour.
#[test]
fn e_shstrndx_0xffff() {
    kmod_aborts(&patched(|l| {
        let o = l.e_shstrndx_offset();
        l.put(o, 2, 0xffff)
    }));
}

/// kmod 34.2 aborts (libkmod assertion on the section index): documented behaviour.
#[test]
fn e_shstrndx_zero() {
    kmod_aborts(&patched(|l| {
        let o = l.e_shstrndx_offset();
        l.put(o, 2, 0)
    }));
}

// ---------------------------------------------------------------------------------------------
// Truncation after the header

#[test]
fn truncated_inside_section_header_table() {
    let l = layout();
    matches_reference(&l.bytes[..l.shoff + l.shentsize * 2 + 10]);
}

#[test]
fn truncated_by_one_byte() {
    let l = layout();
    matches_reference(&l.bytes[..l.bytes.len() - 1]);
}

fn truncated_inside(sec: &str) {
    let l = layout();
    let s = l.section(sec).unwrap();
    matches_reference(&l.bytes[..s.offset + s.size / 2]);
}

#[test]
fn truncated_inside_symtab() {
    truncated_inside(".symtab");
}

#[test]
fn truncated_inside_strtab() {
    truncated_inside(".strtab");
}

#[test]
fn truncated_inside_modinfo() {
    truncated_inside(".modinfo");
}

// ---------------------------------------------------------------------------------------------
// Section headers pointing outside the file

#[test]
fn modinfo_offset_past_end() {
    matches_reference(&patched(|l| {
        let o = sh_offset_field(l, ".modinfo");
        let (w, n) = (word(l), l.bytes.len() as u64);
        l.put(o, w, n)
    }));
}

#[test]
fn symtab_size_past_end() {
    matches_reference(&patched(|l| {
        let o = sh_size_field(l, ".symtab");
        let w = word(l);
        l.put(o, w, 24 * 100_000)
    }));
}

#[test]
fn strtab_offset_plus_size_wraps() {
    matches_reference(&patched(|l| {
        let (oo, so, w) = (
            sh_offset_field(l, ".strtab"),
            sh_size_field(l, ".strtab"),
            word(l),
        );
        l.put(oo, w, u64::MAX - 15);
        l.put(so, w, 64);
    }));
}

#[test]
fn modinfo_size_wraps() {
    matches_reference(&patched(|l| {
        let o = sh_size_field(l, ".modinfo");
        let w = word(l);
        l.put(o, w, u64::MAX)
    }));
}

#[test]
fn shstrtab_offset_past_end() {
    matches_reference(&patched(|l| {
        let o = sh_offset_field(l, ".shstrtab");
        let (w, n) = (word(l), l.bytes.len() as u64);
        l.put(o, w, n + 10)
    }));
}

// ---------------------------------------------------------------------------------------------
// String tables and NUL termination

#[test]
fn shstrtab_without_final_nul() {
    matches_reference(&patched(|l| last_byte(l, ".shstrtab", b'x')));
}

#[test]
fn strtab_without_final_nul() {
    matches_reference(&patched(|l| last_byte(l, ".strtab", b'x')));
}

#[test]
fn modinfo_without_final_nul() {
    let b = good_a(Arch::X86_64)
        .modinfo_raw("alias=x:unterminated")
        .build();
    matches_reference(&b);
}

#[test]
fn modinfo_patched_last_byte() {
    matches_reference(&patched(|l| last_byte(l, ".modinfo", b'z')));
}

#[test]
fn ksymtab_strings_without_final_nul() {
    let mut l = good_a(Arch::X86_64).crc_mode(CrcMode::None).build_layout();
    last_byte(&mut l, "__ksymtab_strings", b'q');
    matches_reference(&l.bytes);
}

// ---------------------------------------------------------------------------------------------
// __versions

#[test]
fn versions_odd_size() {
    matches_reference(&good_a(Arch::X86_64).versions_raw([0u8; 10]).build());
}

#[test]
fn versions_name_without_nul_unmatched() {
    let b = good_a(Arch::X86_64)
        .version_record([b'n'; 60], 0x77)
        .build();
    matches_reference(&b);
}

#[test]
fn versions_name_without_nul_32bit() {
    let b = good_a(Arch::I386).version_record([b'n'; 64], 0x77).build();
    matches_reference(&b);
}

// ---------------------------------------------------------------------------------------------
// Symbol table

#[test]
fn symbol_name_offset_past_strtab() {
    let mut s = Symbol::new("ignored", STB_GLOBAL, STT_NOTYPE, Shndx::Undef, 0);
    s.raw_name_offset = Some(0x10_0000);
    matches_reference(&good_a(Arch::X86_64).symbol(s).build());
}

#[test]
fn defined_symbol_name_offset_past_strtab() {
    let mut s = Symbol::new("ignored", STB_GLOBAL, STT_OBJECT, Shndx::Abs, 0);
    s.raw_name_offset = Some(0xffff_ffff);
    matches_reference(&good_a(Arch::X86_64).symbol(s).build());
}

#[test]
fn symtab_size_not_multiple_of_entry_size() {
    matches_reference(&patched(|l| {
        let o = sh_size_field(l, ".symtab");
        let size = l.section(".symtab").unwrap().size as u64;
        let w = word(l);
        l.put(o, w, size - 1)
    }));
}

#[test]
fn symtab_size_cuts_entries() {
    matches_reference(&patched(|l| {
        let o = sh_size_field(l, ".symtab");
        let w = word(l);
        l.put(o, w, 24 * 2)
    }));
}

/// `__crc_` symbols pointing into an invalid section or past the end of theirs: CRC all-ones,
/// which `-e` reports against the importer's CRC and Module.symvers'.
fn crc_tree(shndx: Shndx, value: u64, patch: impl FnOnce(&mut Layout)) -> Tree {
    let mut l = good_a(Arch::X86_64)
        .import("printk", Some(0x9999))
        .symbol(Symbol::new(
            "__crc_fz", STB_GLOBAL, STT_NOTYPE, shndx, value,
        ))
        .build_layout();
    patch(&mut l);
    let t = tree_with(BAD, &l.bytes);
    t.add_module(
        "kernel/d.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("fz", Some(0x5555))
            .build(),
    );
    t.modules_order(&["kernel/a.ko", "kernel/b.ko", "kernel/c.ko", "kernel/d.ko"]);
    t.module_symvers(&[("printk", 0x1234)]);
    t
}

fn crc_args(t: &Tree) -> Vec<String> {
    let symvers = t.top().join("Module.symvers");
    vec!["-e".into(), "-E".into(), symvers.to_str().unwrap().into()]
}

fn crc_matches_reference(t: &Tree) {
    let args = crc_args(t);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_ours(t, &args);
    assert!(
        r.stderr_text()
            .contains("d.ko disagrees about version of symbol fz"),
        "{}",
        r.stderr_text()
    );
    compare_with_reference(t, &args);
}

/// kmod 34.2 aborts here (libkmod asserts that the section index is below e_shnum). We treat the
/// CRC as all-ones, exactly as for a CRC past the end of its section (which matches the
/// reference, see `crc_symbol_past_end_of_section`): same outputs, same warnings.
#[test]
fn crc_symbol_in_invalid_section() {
    let bad = crc_tree(Shndx::Raw(200), 0, |_| {});
    let good = crc_tree(Shndx::Named("__kcrctab".into()), 0x1000, |_| {});
    let (ba, ga) = (crc_args(&bad), crc_args(&good));
    let rb = run_ours(&bad, &ba.iter().map(String::as_str).collect::<Vec<_>>());
    let rg = run_ours(&good, &ga.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(rb.status, Some(0));
    assert!(!rb.timed_out);
    let norm = |r: &Run, t: &Tree| r.stderr_text().replace(t.top().to_str().unwrap(), "TOP");
    assert_eq!(norm(&rb, &bad), norm(&rg, &good));
    assert!(norm(&rb, &bad).contains("d.ko disagrees about version of symbol fz"));
    for name in OUTPUTS {
        assert_eq!(rb.output(name), rg.output(name), "{name} differs");
    }
    if let Some(r) = run_reference(&bad, &ba.iter().map(String::as_str).collect::<Vec<_>>()) {
        assert_eq!(r.signal, Some(libc::SIGABRT), "{}", r.stderr_text());
    }
}

#[test]
fn crc_symbol_past_end_of_section() {
    crc_matches_reference(&crc_tree(Shndx::Named("__kcrctab".into()), 0x1000, |_| {}));
}

#[test]
fn crc_symbol_straddling_end_of_section() {
    let t = crc_tree(Shndx::Named("__kcrctab".into()), 0, |l| {
        let size = l.section("__kcrctab").unwrap().size as u64;
        let o = sh_size_field(l, "__kcrctab");
        let w = word(l);
        l.put(o, w, size.min(2));
    });
    let args = crc_args(&t);
    compare_with_reference(&t, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn crc_symbol_in_section_outside_file() {
    crc_matches_reference(&crc_tree(Shndx::Named("__kcrctab".into()), 0, |l| {
        let o = sh_offset_field(l, "__kcrctab");
        let (w, n) = (word(l), l.bytes.len() as u64);
        l.put(o, w, n + 100);
    }));
}

#[test]
fn duplicate_section_names_first_wins() {
    let b = good_a(Arch::X86_64)
        .section(Section::progbits(
            ".modinfo",
            0,
            1,
            b"alias=x:second\0".to_vec(),
        ))
        .section(Section::progbits("__versions", 0, 8, vec![0u8; 64]))
        .build();
    matches_reference(&b);
    let t = tree_with(BAD, &b);
    let r = run_ours(&t, &[]);
    assert_eq!(
        r.text("modules.alias"),
        "# Aliases extracted from modules themselves.\nalias x:a a\n"
    );
    assert_eq!(
        r.text("modules.dep").lines().next(),
        Some("kernel/a.ko: kernel/b.ko")
    );
}

// ---------------------------------------------------------------------------------------------
// Compressed modules

fn magic_then_garbage(magic: &[u8]) -> Vec<u8> {
    let mut b = magic.to_vec();
    b.extend((0..500u32).map(|i| (i.wrapping_mul(37) ^ 0x5a) as u8));
    b
}

#[test]
fn xz_magic_then_garbage() {
    corrupt_compressed("kernel/a.ko.xz", &magic_then_garbage(b"\xfd7zXZ\0"), "xz");
}

#[test]
fn xz_truncated() {
    let c = xz(&layout().bytes);
    corrupt_compressed("kernel/a.ko.xz", &c[..c.len() / 2], "xz");
}

#[test]
fn zstd_magic_then_garbage() {
    corrupt_compressed(
        "kernel/a.ko.zst",
        &magic_then_garbage(b"\x28\xb5\x2f\xfd"),
        "zstd",
    );
}

#[test]
fn zstd_truncated() {
    let c = zst(&layout().bytes);
    corrupt_compressed("kernel/a.ko.zst", &c[..c.len() / 2], "zstd");
}

#[test]
fn gzip_truncated() {
    let c = gz(&layout().bytes);
    let t = tree_with("kernel/a.ko.gz", &c[..c.len() / 2]);
    assert_documented(&t, "kernel/a.ko.gz", "Invalid argument", Some("gzip"));
}

#[test]
fn zstd_without_content_size_is_decoded() {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(&layout().bytes).unwrap();
    let c = e.finish().unwrap();
    let t = tree_with("kernel/a.ko.zst", &c);
    let r = run_ours(&t, &[]);
    assert_eq!(r.status, Some(0));
    assert_eq!(r.stderr_text(), "");
    assert_eq!(
        r.text("modules.dep"),
        "kernel/a.ko.zst: kernel/b.ko\nkernel/b.ko:\nkernel/c.ko: kernel/a.ko.zst kernel/b.ko\n"
    );
    // kmod 34.2 refuses such a frame; we deliberately decode it (see depmod(8)).
    if let Some(r) = run_reference(&t, &[]) {
        assert!(
            r.stderr_text()
                .contains("zstd: Failed to determine decompression size"),
            "{}",
            r.stderr_text()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Non-module files named like modules

#[test]
fn directory_named_ko() {
    let t = tree_with(BAD, &layout().bytes);
    t.add_module(
        "kernel/x.ko/inner.ko",
        ModuleBuilder::new(Arch::X86_64).export("fi", 1).build(),
    );
    compare_with_reference(&t, &[]);
}

#[test]
fn fifo_named_ko() {
    let t = tree_with(BAD, &layout().bytes);
    let p = t.moddir().join("kernel/x.ko");
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: plain mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let r = run_ours(&t, &[]);
    assert!(!r.timed_out);
    assert!(
        r.stderr_text().contains("unsupported file type"),
        "{}",
        r.stderr_text()
    );
    compare_with_reference(&t, &[]);
}

#[test]
fn dangling_symlink_named_ko() {
    let t = tree_with(BAD, &layout().bytes);
    std::os::unix::fs::symlink("nowhere.ko", t.moddir().join("kernel/x.ko")).unwrap();
    compare_with_reference(&t, &[]);
}
