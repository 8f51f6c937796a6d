//! Compressed modules (`.ko.xz`, `.ko.zst`, `.ko.gz`): the format is told by magic bytes,
//! modules.order still applies through the order key, outputs equal the reference's (which
//! reads xz and zstd) and, for gzip, our own outputs of the same tree in zstd.

use crate::support::compress::{gz, xz, zst};
use crate::support::*;

/// A module with `size` bytes of incompressible data, so that its compressed file is larger
/// than the first read depmod makes (64 KiB): the rest must be read from the right offset.
fn big_module(export: &str, import: Option<&str>, size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    let noise: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut b = ModuleBuilder::new(Arch::X86_64)
        .export(export, 0x1234_5678)
        .alias(format!("big:{export}"))
        .section(Section::progbits(".data", 3, 8, noise));
    if let Some(i) = import {
        b = b.import(i, Some(0x1234_5678));
    }
    b.build()
}

/// Small and big modules in every format the reference reads, a chain across formats,
/// listed in modules.order under their `.ko` names.
#[test]
fn small_and_big_compressed_modules_match_reference() {
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    let small_a = big_module("fa", None, 100);
    let big_b = big_module("fb", Some("fa"), 300_000);
    let big_c = big_module("fc", Some("fb"), 200_000);
    let small_d = big_module("fd", Some("fc"), 1000);
    assert!(zst(&big_b).len() > 64 * 1024 && xz(&big_c).len() > 64 * 1024);
    t.add_module("kernel/a.ko.zst", zst(&small_a));
    t.add_module("kernel/b.ko.zst", zst(&big_b));
    t.add_module("kernel/c.ko.xz", xz(&big_c));
    t.add_module("kernel/d.ko.xz", xz(&small_d));
    t.add_module("kernel/e.ko", big_module("fe", Some("fd"), 90_000));
    t.modules_order(&[
        "kernel/d.ko",
        "kernel/c.ko",
        "kernel/b.ko",
        "kernel/a.ko",
        "kernel/e.ko",
    ]);
    let r = run_ours(&t, &[]);
    assert_eq!(
        r.text("modules.dep"),
        "kernel/d.ko.xz: kernel/c.ko.xz kernel/b.ko.zst kernel/a.ko.zst\n\
         kernel/c.ko.xz: kernel/b.ko.zst kernel/a.ko.zst\n\
         kernel/b.ko.zst: kernel/a.ko.zst\n\
         kernel/a.ko.zst:\n\
         kernel/e.ko: kernel/d.ko.xz kernel/c.ko.xz kernel/b.ko.zst kernel/a.ko.zst\n"
    );
    compare_with_reference(&t, &[]);
}

/// The reference has no zlib: a gzip tree must give exactly the outputs of the same tree in
/// zstd, with the suffix changed (the index files hold paths, so compare them decoded).
#[test]
fn gzip_tree_equals_zstd_tree() {
    let modules = [
        ("a", big_module("fa", None, 100)),
        ("b", big_module("fb", Some("fa"), 300_000)),
        ("c", big_module("fc", Some("fb"), 2_000)),
    ];
    let make = |suffix: &str, compress: fn(&[u8]) -> Vec<u8>| {
        let t = Tree::new();
        t.modules_builtin("");
        t.modules_builtin_modinfo("");
        for (name, m) in &modules {
            t.add_module(&format!("kernel/{name}.ko.{suffix}"), compress(m));
        }
        t.modules_order(&["kernel/c.ko", "kernel/b.ko", "kernel/a.ko"]);
        t
    };
    let tz = make("zst", zst);
    let tg = make("gz", gz);
    let rz = run_ours(&tz, &[]);
    let rg = run_ours(&tg, &[]);
    assert_eq!(rz.status, rg.status);
    assert_eq!(rg.stderr_text(), "");
    for name in [
        "modules.dep",
        "modules.alias",
        "modules.symbols",
        "modules.softdep",
    ] {
        assert_eq!(
            rg.text(name),
            rz.text(name).replace(".ko.zst", ".ko.gz"),
            "{name}"
        );
    }
    let dump = |r: &Run, name: &str| -> Vec<(Vec<u8>, u32, Vec<u8>)> {
        let bytes = r.outputs[name].clone().expect(name);
        kmod_index::IndexReader::new(&bytes)
            .expect("index")
            .dump()
            .expect("dump")
    };
    for name in [
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
    ] {
        let z: Vec<_> = dump(&rz, name)
            .into_iter()
            .map(|(k, p, v)| {
                let v = String::from_utf8(v).unwrap().replace(".ko.zst", ".ko.gz");
                (k, p, v.into_bytes())
            })
            .collect();
        assert_eq!(dump(&rg, name), z, "{name}");
    }
}
