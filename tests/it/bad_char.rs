//! A byte above 0x7f in an index key is kmod 34's FATAL error. kmod has by then
//! renamed the outputs before the failing index into place; we replace nothing (see depmod(8)).

use crate::support::all_or_nothing::{assert_failed_replacing_nothing, mark_old_outputs};
use crate::support::*;

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
    let before = mark_old_outputs(&out);
    let r = std::process::Command::new(our_bin())
        .args(standard_argv(&t, &[]))
        .output()
        .expect("run");
    assert_failed_replacing_nothing("bad character", r.status.code(), &r.stderr, &out, &before);
}
