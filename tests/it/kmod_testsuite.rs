//! kmod's own depmod test suite (testsuite/test-depmod.c in kmod 34.2), rebuilt on
//! synthetic modules.
//!
//! kmod runs each case inside a fake root where `/etc/depmod.d` and `/lib/modules/...` resolve
//! into a rootfs template, with `uname -r` = `4.4.4`. We cannot redirect `/etc`, so every case
//! here runs as
//!
//! ```text
//! depmod -b <root> -o <out> -C <root>/etc/depmod.d [case options] 4.4.4
//! ```
//!
//! with the configuration at `<root>/etc/depmod.d` and kmod's `/lib/modules/external` at
//! `<root>/lib/modules/external` (an absolute path in the configuration). `-o` keeps the input
//! root untouched; it does not change what is computed.
//!
//! Each case first asserts kmod's expected result on our binary (the exact lines of kmod's
//! `correct-*` files or its expected stderr), then compares our run with the reference kmod 34.2
//! on the same tree (all eleven outputs, stdout, stderr and exit status).

use crate::support::compress::{gz, xz, zst};
use crate::support::path_str as s;
use crate::support::*;
use std::ffi::OsString;
use std::path::PathBuf;

const KVER: &str = "4.4.4";

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

/// A tree for version 4.4.4 with empty builtin files (so that stderr stays empty).
fn tree() -> Tree {
    let t = Tree::with_version(KVER);
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t
}

/// `<root>/etc/depmod.d`, the configuration directory of the fake root.
fn conf_dir(t: &Tree) -> PathBuf {
    t.root().join("etc/depmod.d")
}

/// `-b <root> -o <out> -C <root>/etc/depmod.d [extra] 4.4.4`
fn kmod_argv(t: &Tree, extra: &[&str]) -> Vec<OsString> {
    let mut v = argv([
        "-b".to_string(),
        s(&t.root()),
        "-o".to_string(),
        s(&t.out_root()),
        "-C".to_string(),
        s(&conf_dir(t)),
    ]);
    v.extend(extra.iter().map(OsString::from));
    v.push(KVER.into());
    v
}

/// Run our binary.
fn ours(t: &Tree, argv: &[OsString], opts: &RunOptions) -> Run {
    run_depmod_with(&our_bin(), t, argv, TIMEOUT_OURS, "ours", opts)
}

const TIMEOUT_OURS: std::time::Duration = std::time::Duration::from_secs(60);

/// A successful run: exit 0, nothing on stdout or stderr.
fn assert_clean(r: &Run) {
    assert_eq!(r.status, Some(0), "stderr: {}", r.stderr_text());
    assert_eq!(r.stderr_text(), "");
    assert_eq!(r.stdout_text(), "");
}

/// testsuite/module-playground/mod-simple.ko: a module with no exports nor imports.
fn mod_simple() -> Vec<u8> {
    x86()
        .name("mod_simple")
        .modinfo("license", "GPL")
        .modinfo("author", "ProFUSION")
        .build()
}

const CCISS_ALIASES: [&str; 2] = [
    "pci:v00000E11d0000B060sv*sd*bc*sc*i*",
    "pci:v00000E11d0000B178sv*sd*bc*sc*i*",
];
const HPSA_ALIASES: [&str; 2] = [
    "pci:v0000103Cd00003241sv*sd*bc*sc*i*",
    "pci:v0000103Cd0000323Asv*sd*bc*sc*i*",
];

/// Fake cciss (no dependency), scsi_mod (exports) and hpsa (imports from scsi_mod).
fn fake_scsi_modules() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut cciss = x86().name("cciss").modinfo("license", "GPL");
    for a in CCISS_ALIASES {
        cciss = cciss.alias(a);
    }
    let scsi_mod = x86()
        .name("scsi_mod")
        .export("scsi_host_alloc", 0x1234_5678)
        .export("scsi_add_host_with_dma", 0x2345_6789)
        .build();
    let mut hpsa = x86()
        .name("hpsa")
        .import("scsi_host_alloc", Some(0x1234_5678))
        .import("scsi_add_host_with_dma", Some(0x2345_6789));
    for a in HPSA_ALIASES {
        hpsa = hpsa.alias(a);
    }
    (cciss.build(), scsi_mod, hpsa.build())
}

/// modules.alias as kmod expects it: cciss's aliases, then hpsa's.
fn expected_scsi_alias() -> String {
    let mut e = String::from("# Aliases extracted from modules themselves.\n");
    for a in CCISS_ALIASES {
        e.push_str(&format!("alias {a} cciss\n"));
    }
    for a in HPSA_ALIASES {
        e.push_str(&format!("alias {a} hpsa\n"));
    }
    e
}

/// The modules.order of kmod's modules-order-compressed rootfs: `#NNN` comment lines and a blank
/// line around the entries, which name the uncompressed files.
fn write_scsi_order(t: &Tree) {
    t.moddir_file(
        "modules.order",
        "#336\nkernel/drivers/block/cciss.ko\n\n#2094\nkernel/drivers/scsi/scsi_mod.ko\n\
         #2137\nkernel/drivers/scsi/hpsa.ko\n",
    );
}

/// depmod_modules_order_for_compressed: the modules are compressed (gzip, xz, zstd), yet
/// modules.alias follows modules.order (cciss before hpsa), because the order key drops the
/// compression suffix.
#[test]
fn depmod_modules_order_for_compressed() {
    let t = tree();
    let (cciss, scsi_mod, hpsa) = fake_scsi_modules();
    t.add_module("kernel/drivers/block/cciss.ko.gz", gz(&cciss));
    t.add_module("kernel/drivers/scsi/scsi_mod.ko.xz", xz(&scsi_mod));
    t.add_module("kernel/drivers/scsi/hpsa.ko.zst", zst(&hpsa));
    write_scsi_order(&t);
    let r = ours(&t, &kmod_argv(&t, &[]), &RunOptions::default());
    assert_clean(&r);
    assert_eq!(r.text("modules.alias"), expected_scsi_alias());
    assert_eq!(
        r.text("modules.dep"),
        "kernel/drivers/block/cciss.ko.gz:\n\
         kernel/drivers/scsi/scsi_mod.ko.xz:\n\
         kernel/drivers/scsi/hpsa.ko.zst: kernel/drivers/scsi/scsi_mod.ko.xz\n"
    );

    // Without modules.order the hash order puts hpsa first: the order file is what decides.
    std::fs::remove_file(t.moddir().join("modules.order")).unwrap();
    let r = ours(&t, &kmod_argv(&t, &[]), &RunOptions::default());
    let alias = r.text("modules.alias");
    assert!(alias.find(" hpsa\n").unwrap() < alias.find(" cciss\n").unwrap());

    // The reference kmod (Debian's build) has no zlib: it ignores `.ko.gz` files entirely,
    // so the comparison uses the same tree with cciss compressed by xz.
    let t = tree();
    t.add_module("kernel/drivers/block/cciss.ko.xz", xz(&cciss));
    t.add_module("kernel/drivers/scsi/scsi_mod.ko.xz", xz(&scsi_mod));
    t.add_module("kernel/drivers/scsi/hpsa.ko.zst", zst(&hpsa));
    write_scsi_order(&t);
    let r = ours(&t, &kmod_argv(&t, &[]), &RunOptions::default());
    assert_clean(&r);
    assert_eq!(r.text("modules.alias"), expected_scsi_alias());
    compare_with_reference_argv(&t, kmod_argv(&t, &[]));
}

/// depmod_modules_outdir: `--outdir /outdir/` writes under `<outdir>/lib/modules/4.4.4/`,
/// creating the directories.
#[test]
fn depmod_modules_outdir() {
    let t = tree();
    let (cciss, scsi_mod, hpsa) = fake_scsi_modules();
    t.add_module("kernel/drivers/block/cciss.ko", cciss);
    t.add_module("kernel/drivers/scsi/scsi_mod.ko", scsi_mod);
    t.add_module("kernel/drivers/scsi/hpsa.ko", hpsa);
    t.modules_order(&[
        "kernel/drivers/block/cciss.ko",
        "kernel/drivers/scsi/hpsa.ko",
        "kernel/drivers/scsi/scsi_mod.ko",
    ]);
    // kmod's argument has a trailing slash: `<out>/` + `/lib/modules/4.4.4`.
    let args = argv([
        "-b".to_string(),
        s(&t.root()),
        "--outdir".to_string(),
        format!("{}/", s(&t.out_root())),
        "-C".to_string(),
        s(&conf_dir(&t)),
        KVER.to_string(),
    ]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_clean(&r);
    assert!(r.outdir_exists);
    assert_eq!(
        r.text("modules.dep"),
        "kernel/drivers/block/cciss.ko:\n\
         kernel/drivers/scsi/hpsa.ko: kernel/drivers/scsi/scsi_mod.ko\n\
         kernel/drivers/scsi/scsi_mod.ko:\n"
    );
    assert_eq!(r.text("modules.alias"), expected_scsi_alias());
    // Nothing was written next to the inputs.
    assert!(!t.moddir().join("modules.dep").exists());
    compare_with_reference_argv(&t, args);
}

/// depmod_search_order_simple: `search updates built-in`, mod-simple in kernel/crypto and in
/// updates: the updates copy is chosen.
#[test]
fn depmod_search_order_simple() {
    let t = tree();
    t.file("etc/depmod.d/search.conf", "search updates built-in\n");
    t.add_module("kernel/crypto/mod-simple.ko", mod_simple());
    t.add_module("updates/mod-simple.ko", mod_simple());
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert!(r.status == Some(0));
    assert_eq!(r.text("modules.dep"), "updates/mod-simple.ko:\n");
    compare_with_reference_argv(&t, args);
}

/// The another-moddir rootfs: mod-simple under `<root>/<moddir>/4.4.4/kernel/`.
fn another_moddir_case(moddir_arg: &str, moddir: &str) {
    let t = tree();
    let input = t.root().join(moddir).join(KVER);
    std::fs::create_dir_all(input.join("kernel")).unwrap();
    std::fs::write(input.join("kernel/mod-simple.ko"), mod_simple()).unwrap();
    std::fs::write(input.join("modules.builtin"), "").unwrap();
    std::fs::write(input.join("modules.builtin.modinfo"), "").unwrap();
    std::fs::write(input.join("modules.order"), "kernel/mod-simple.ko\n").unwrap();
    let args = kmod_argv(&t, &["-m", moddir_arg]);
    // `-m` is relative to the base directory (and to the output root) even with a leading `/`.
    let opts = RunOptions {
        out_moddir: Some(t.out_root().join(moddir).join(KVER)),
        ..RunOptions::default()
    };
    let r = ours(&t, &args, &opts);
    assert_clean(&r);
    assert_eq!(r.text("modules.dep"), "kernel/mod-simple.ko:\n");
    compare_with_reference_opts(&t, args, &opts);

    // Without `-o` the outputs land next to the inputs, as in kmod's test.
    let args: Vec<OsString> = kmod_argv(&t, &["-m", moddir_arg])
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 3)
        .map(|(_, a)| a)
        .collect();
    let r = ours(&t, &args, &RunOptions::default());
    assert_clean(&r);
    assert_eq!(
        std::fs::read_to_string(input.join("modules.dep")).unwrap(),
        "kernel/mod-simple.ko:\n"
    );
}

/// depmod_another_moddir: `-m /foobar` reads and writes `<root>/foobar/4.4.4/`.
#[test]
fn depmod_another_moddir() {
    another_moddir_case("/foobar", "foobar");
}

/// depmod_another_moddir_relative: `-m foobar2` reads and writes `<root>/foobar2/4.4.4/`.
#[test]
fn depmod_another_moddir_relative() {
    another_moddir_case("foobar2", "foobar2");
}

/// depmod_search_order_same_prefix: `search foobar foo built-in`; the search entry `foo` must
/// not match `foobar/`, so the foobar copy wins.
#[test]
fn depmod_search_order_same_prefix() {
    let t = tree();
    t.file("etc/depmod.d/search.conf", "search foobar foo built-in\n");
    t.add_module("foo/mod-simple.ko", mod_simple());
    t.add_module("foobar/mod-simple.ko", mod_simple());
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_eq!(r.status, Some(0));
    assert_eq!(r.text("modules.dep"), "foobar/mod-simple.ko:\n");
    compare_with_reference_argv(&t, args);
}

/// depmod_detect_loop: mod-loop-a..k with three cycles (one of them reached twice); exit 1,
/// exactly kmod's expected cycle report on stderr, nothing written.
#[test]
fn depmod_detect_loop() {
    let t = tree();
    // Each exports print<X> and calls the listed ones (testsuite/module-playground).
    let imports: [(&str, &[&str]); 11] = [
        ("a", &["B", "F", "G"]),
        ("b", &["C", "F", "G"]),
        ("c", &["A"]),
        ("d", &["E"]),
        ("e", &["D"]),
        ("f", &[]),
        ("g", &[]),
        ("h", &["I"]),
        ("i", &["J"]),
        ("j", &["H", "K"]),
        ("k", &["H"]),
    ];
    for (n, imps) in imports {
        let mut b = x86()
            .name(&format!("mod_loop_{n}"))
            .export(&format!("print{}", n.to_uppercase()), 0x1000);
        for i in imps {
            b = b.import(&format!("print{i}"), Some(0x1000));
        }
        t.add_module(&format!("kernel/mod-loop-{n}.ko"), b.build());
    }
    t.modules_order(&[]);
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_eq!(r.status, Some(1));
    assert_eq!(
        r.stderr_text(),
        "depmod: ERROR: Cycle detected: mod_loop_d -> mod_loop_e -> mod_loop_d\n\
         depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_k -> mod_loop_h -> mod_loop_i\n\
         depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_h -> mod_loop_i\n\
         depmod: ERROR: Cycle detected: mod_loop_c -> mod_loop_a -> mod_loop_b -> mod_loop_c\n\
         depmod: ERROR: Found 9 modules in dependency cycles!\n"
    );
    assert_eq!(r.stdout_text(), "");
    assert!(!r.outdir_exists);
    assert!(r.outputs.values().all(Option::is_none));
    compare_with_reference_argv(&t, args);
}

/// The search-order-external-* rootfs: mod-simple in foo/, foobar/ and the external directory
/// `<root>/lib/modules/external`, enabled for `4\.4\..*` (the backslashes are eaten by the
/// config reader).
fn external_tree(search: &str) -> Tree {
    let t = tree();
    let ext = t.root().join("lib/modules/external");
    t.file(
        "etc/depmod.d/external.conf",
        format!("external 4\\.4\\..* {}\n", s(&ext)),
    );
    t.file("etc/depmod.d/search.conf", format!("{search}\n"));
    t.add_module("foo/mod-simple.ko", mod_simple());
    t.add_module("foobar/mod-simple.ko", mod_simple());
    t.file("lib/modules/external/mod-simple.ko", mod_simple());
    t
}

/// depmod_search_order_external_first: `search external foobar foo built-in` → the external
/// copy, written with its absolute path.
#[test]
fn depmod_search_order_external_first() {
    let t = external_tree("search external foobar foo built-in");
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_eq!(r.status, Some(0));
    assert_eq!(
        r.text("modules.dep"),
        format!("{}/lib/modules/external/mod-simple.ko:\n", s(&t.root()))
    );
    compare_with_reference_argv(&t, args);
}

/// depmod_search_order_external_last: `search foobar foo built-in external` → foobar's copy.
#[test]
fn depmod_search_order_external_last() {
    let t = external_tree("search foobar foo built-in external");
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_eq!(r.status, Some(0));
    assert_eq!(r.text("modules.dep"), "foobar/mod-simple.ko:\n");
    compare_with_reference_argv(&t, args);
}

/// depmod_search_order_override: `override mod-simple 4.4.4 override` (raw dashed name) beats
/// `search foo built-in`.
#[test]
fn depmod_search_order_override() {
    let t = tree();
    t.file(
        "etc/depmod.d/override.conf",
        "override mod-simple 4.4.4 override\n",
    );
    t.file("etc/depmod.d/search.conf", "search foo built-in\n");
    t.add_module("foo/mod-simple.ko", mod_simple());
    t.add_module("override/mod-simple.ko", mod_simple());
    t.add_module("kernel/mod-simple.ko", mod_simple());
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_eq!(r.status, Some(0));
    assert_eq!(r.text("modules.dep"), "override/mod-simple.ko:\n");
    compare_with_reference_argv(&t, args);
}

/// depmod_check_weakdep: mod-weakdep declares `weakdep mod-simple`; modules.weakdep is the header
/// plus `weakdep mod_weakdep mod-simple` (value verbatim, key underscored).
#[test]
fn depmod_check_weakdep() {
    let t = tree();
    t.add_module("kernel/mod-simple.ko", mod_simple());
    t.add_module(
        "kernel/mod-weakdep.ko",
        x86()
            .name("mod_weakdep")
            .modinfo("license", "GPL")
            .modinfo("weakdep", "mod-simple")
            .build(),
    );
    t.modules_order(&["kernel/mod-simple.ko", "kernel/mod-weakdep.ko"]);
    let args = kmod_argv(&t, &[]);
    let r = ours(&t, &args, &RunOptions::default());
    assert_clean(&r);
    assert_eq!(
        r.text("modules.weakdep"),
        "# Weak dependencies extracted from modules themselves.\n\
         weakdep mod_weakdep mod-simple\n"
    );
    compare_with_reference_argv(&t, args);
}
