//! A byte above 0x7f in an index key is kmod 34's FATAL error (spec §7.3). kmod has by then
//! renamed the outputs before the failing index into place; we replace nothing (spec §13).

mod support;

use support::*;

fn tree() -> Tree {
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.modules_order(&["kernel/good.ko", "kernel/bad.ko"]);
    t.add_module(
        "kernel/good.ko",
        ModuleBuilder::new(Arch::X86_64).alias("pci:good").build(),
    );
    t.add_module(
        "kernel/bad.ko",
        ModuleBuilder::new(Arch::X86_64)
            .alias(b"usb:caf\xe9".as_slice())
            .build(),
    );
    t
}

#[test]
fn non_ascii_alias_is_fatal_with_kmods_message() {
    let t = tree();
    let r = run_ours(&t, &[]);
    assert_eq!(r.status, Some(1));
    assert_eq!(
        r.stderr,
        b"depmod: FATAL: Module index: bad character '\xe9'=0xe9 - only 7-bit ASCII is supported:\nusb:caf\xe9\n"
    );
    // Nothing was published, not even the files kmod writes before the failing index.
    assert!(r.outputs.values().all(Option::is_none));
    assert!(r.other_files.is_empty(), "{:?}", r.other_files);
    if let Some(reference) = run_reference(&t, &[]) {
        assert_eq!(reference.status, r.status);
        assert_eq!(reference.stderr, r.stderr);
        // kmod renamed modules.dep, modules.dep.bin and modules.alias before failing.
        assert!(reference.output("modules.dep").is_some());
    }
}

#[test]
fn non_ascii_alias_leaves_old_indexes_in_place() {
    let t = tree();
    let out = t.out_moddir();
    std::fs::create_dir_all(&out).expect("mkdir");
    for name in OUTPUTS {
        std::fs::write(out.join(name), format!("old {name}\n")).expect("write");
    }
    let status = std::process::Command::new(our_bin())
        .args(standard_argv(&t, &[]))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(1));
    for name in OUTPUTS {
        assert_eq!(
            std::fs::read(out.join(name)).expect("read"),
            format!("old {name}\n").into_bytes(),
            "{name} replaced"
        );
    }
    assert_eq!(
        std::fs::read_dir(&out).expect("read_dir").count(),
        OUTPUTS.len()
    );
}
