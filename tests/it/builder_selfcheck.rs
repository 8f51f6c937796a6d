//! Checks the synthetic module builder itself: the reference depmod (kmod 34.2) must see exactly
//! the dependencies, aliases, symbols and CRCs the builder was asked to produce, on every
//! architecture, and `readelf -a` must accept every file without complaint.
//!
//! These tests do not involve our binary; they keep the test infrastructure honest.

use crate::support::skip::{Missing, skip};
use crate::support::*;
use std::process::Command;

const BAR_CRC: u32 = 0xdead_beef;
const BAZ_CRC: u32 = 0xcafe_0001;
const LAYOUT_CRC: u64 = 0x7a3b_1c2d;

/// a imports b's `bar` (CRC in __kcrctab), c's `baz` (SHN_ABS CRC), weakly d's `qux` (no
/// modversions), and has an STT_REGISTER undefined symbol `regsym` that e exports.
fn build_tree(arch: Arch, crc_skew: u64) -> (Tree, Vec<Vec<u8>>) {
    let t = Tree::new();
    let b = ModuleBuilder::new(arch)
        .name("b")
        .alias("pci:v00008086d*sv*")
        .alias("b-alias")
        .export("bar", BAR_CRC)
        .build();
    let c = ModuleBuilder::new(arch)
        .name("c")
        .crc_mode(CrcMode::Absolute)
        .export("baz", BAZ_CRC)
        .build();
    let d = ModuleBuilder::new(arch)
        .name("d")
        .crc_mode(CrcMode::None)
        .export("qux", 0)
        .build();
    let e = ModuleBuilder::new(arch)
        .name("e")
        .export("regsym", 0)
        .build();
    let mut a = ModuleBuilder::new(arch)
        .name("a")
        .modinfo("softdep", "pre: c")
        .modinfo("weakdep", "d")
        .modinfo("license", "GPL");
    a = if arch == Arch::Ppc64 {
        a.import_dot("bar", Some(u64::from(BAR_CRC) + crc_skew))
    } else {
        a.import("bar", Some(u64::from(BAR_CRC) + crc_skew))
    };
    let a = a
        .import("baz", Some(u64::from(BAZ_CRC) + crc_skew))
        .weak_import("qux", None)
        .register_symbol("regsym", 2)
        .module_layout(LAYOUT_CRC + crc_skew)
        .build();
    let files = vec![a, b, c, d, e];
    for (name, bytes) in ["a", "b", "c", "d", "e"].iter().zip(&files) {
        t.add_module(&format!("kernel/{name}.ko"), bytes);
    }
    t.modules_order(&[
        "kernel/a.ko",
        "kernel/b.ko",
        "kernel/c.ko",
        "kernel/d.ko",
        "kernel/e.ko",
    ]);
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.module_symvers(&[("module_layout", LAYOUT_CRC as u32), ("printk", 0x1)]);
    (t, files)
}

fn readelf_clean(arch: Arch, name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format!("{name}.ko"));
    std::fs::write(&p, bytes).unwrap();
    let out = match Command::new("readelf").args(["-a", "-W"]).arg(&p).output() {
        Ok(o) => o,
        Err(e) => {
            let readelf = Missing::Tool {
                command: "readelf",
                package: "binutils",
            };
            return skip(
                readelf,
                &format!("readelf not runnable ({e}); readelf check not run"),
            );
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "readelf failed on {arch:?} {name}: {stderr}"
    );
    assert!(
        stderr.is_empty(),
        "readelf complains on {arch:?} {name}:\n{stderr}"
    );
    assert!(
        !stdout.contains("Warning"),
        "readelf warns on {arch:?} {name}:\n{stdout}"
    );
    let class = if arch.is_64() { "ELF64" } else { "ELF32" };
    assert!(stdout.contains(class), "{arch:?} {name}: not {class}");
    let endian = if arch.is_big_endian() {
        "big endian"
    } else {
        "little endian"
    };
    assert!(stdout.contains(endian), "{arch:?} {name}: not {endian}");
    assert!(stdout.contains("REL (Relocatable file)"));
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn check_arch(arch: Arch) {
    let (t, files) = build_tree(arch, 0);
    for (name, bytes) in ["a", "b", "c", "d", "e"].iter().zip(&files) {
        readelf_clean(arch, name, bytes);
    }
    let symvers = t.top().join("Module.symvers");
    let symvers = symvers.to_str().unwrap();
    let Some(run) = run_reference(&t, &["-e", "-E", symvers]) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{arch:?}: {}", run.stderr_text());
    let expected_dep = if arch == Arch::Sparc64 {
        // STT_REGISTER symbols are skipped on SPARC: no dependency on e.
        "kernel/a.ko: kernel/d.ko kernel/c.ko kernel/b.ko\n"
    } else {
        "kernel/a.ko: kernel/e.ko kernel/d.ko kernel/c.ko kernel/b.ko\n"
    };
    let expected_dep =
        format!("{expected_dep}kernel/b.ko:\nkernel/c.ko:\nkernel/d.ko:\nkernel/e.ko:\n");
    assert_eq!(run.text("modules.dep"), expected_dep, "{arch:?}");
    assert_eq!(
        run.text("modules.alias"),
        "# Aliases extracted from modules themselves.\n\
         alias pci:v00008086d*sv* b\nalias b-alias b\n",
        "{arch:?}"
    );
    assert_eq!(
        run.text("modules.softdep"),
        "# Soft dependencies extracted from modules themselves.\nsoftdep a pre: c\n"
    );
    assert_eq!(
        run.text("modules.weakdep"),
        "# Weak dependencies extracted from modules themselves.\nweakdep a d\n"
    );
    assert_eq!(
        sorted_lines(&run.text("modules.symbols")),
        sorted_lines(
            "# Aliases for symbols, used by symbol_request().\n\
             alias symbol:bar b\nalias symbol:baz c\nalias symbol:qux d\nalias symbol:regsym e\n"
        ),
        "{arch:?}"
    );
    // With exact CRCs and -e -E, nothing is reported: every CRC (from __kcrctab, SHN_ABS,
    // __versions in this class and byte order, module_layout) was read back as written.
    let expected_stderr = if arch == Arch::Ppc64 {
        // The `.bar` dot import has no __versions record of its own (the record is named
        // `bar`), so it is checked with CRC 0; the unused `bar` record is an import of its own.
        format!(
            "depmod: WARNING: {}/kernel/a.ko disagrees about version of symbol .bar\n",
            t.moddir().display()
        )
    } else {
        String::new()
    };
    assert_eq!(run.stderr_text(), expected_stderr, "{arch:?}");

    // Skewed CRCs in a's __versions: every non-weak versioned import is reported.
    let (t, _) = build_tree(arch, 1);
    let symvers = t.top().join("Module.symvers");
    let run = run_reference(&t, &["-e", "-E", symvers.to_str().unwrap()]).unwrap();
    let a = t.moddir().join("kernel/a.ko");
    let a = a.display();
    let bar = if arch == Arch::Ppc64 { ".bar" } else { "bar" };
    let mut expected = format!(
        "depmod: WARNING: {a} disagrees about version of symbol {bar}\n\
         depmod: WARNING: {a} disagrees about version of symbol baz\n"
    );
    if arch == Arch::Ppc64 {
        expected.push_str(&format!(
            "depmod: WARNING: {a} disagrees about version of symbol bar\n"
        ));
    }
    expected.push_str(&format!(
        "depmod: WARNING: {a} disagrees about version of symbol module_layout\n"
    ));
    assert_eq!(run.stderr_text(), expected, "{arch:?}");
}

#[test]
fn builder_x86_64() {
    check_arch(Arch::X86_64);
}
#[test]
fn builder_i386() {
    check_arch(Arch::I386);
}
#[test]
fn builder_aarch64() {
    check_arch(Arch::Aarch64);
}
#[test]
fn builder_arm() {
    check_arch(Arch::Arm);
}
#[test]
fn builder_s390x() {
    check_arch(Arch::S390x);
}
#[test]
fn builder_ppc64() {
    check_arch(Arch::Ppc64);
}
#[test]
fn builder_ppc64le() {
    check_arch(Arch::Ppc64le);
}
#[test]
fn builder_mips64el() {
    check_arch(Arch::Mips64el);
}
#[test]
fn builder_mips() {
    check_arch(Arch::Mips);
}
#[test]
fn builder_sparc64() {
    check_arch(Arch::Sparc64);
}
#[test]
fn builder_riscv64() {
    check_arch(Arch::Riscv64);
}

/// The exports-without-modversions fallback really is `__ksymtab_strings`: dropping it leaves
/// the module without exports.
#[test]
fn builder_ksymtab_strings_fallback() {
    let t = Tree::new();
    t.add_module(
        "p.ko",
        ModuleBuilder::new(Arch::X86_64)
            .crc_mode(CrcMode::None)
            .export("s1", 0)
            .export("s2", 0)
            .build(),
    );
    t.add_module(
        "q.ko",
        ModuleBuilder::new(Arch::X86_64)
            .crc_mode(CrcMode::None)
            .export("s3", 0)
            .drop_section("__ksymtab_strings")
            .build(),
    );
    t.add_module(
        "u.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("s1", None)
            .import("s3", None)
            .build(),
    );
    t.modules_order(&["u.ko", "p.ko", "q.ko"]);
    let Some(run) = run_reference(&t, &[]) else {
        return;
    };
    assert_eq!(run.text("modules.dep"), "u.ko: p.ko\np.ko:\nq.ko:\n");
}

/// The layout description matches the bytes (used by tests that patch files).
#[test]
fn builder_layout_is_consistent() {
    for arch in Arch::ALL {
        let l = ModuleBuilder::new(arch)
            .alias("x")
            .import("y", Some(5))
            .build_layout();
        let m = l.section(".modinfo").unwrap();
        assert_eq!(&l.bytes[m.offset..m.offset + m.size], b"alias=x\0");
        let v = l.section("__versions").unwrap();
        assert_eq!(v.size, 64);
        let name_at = if arch.is_64() { 8 } else { 4 };
        assert_eq!(l.bytes[v.offset + name_at], b'y');
        let mut patched = l.clone();
        let off = l.e_shentsize_offset();
        patched.put(off, 2, 0);
        assert_eq!(&patched.bytes[off..off + 2], &[0, 0]);
        assert_eq!(
            l.shoff + l.shentsize * (l.sections.len() + 1),
            l.bytes.len()
        );
    }
}
