//! Malformed text inputs: modules.order, modules.builtin, modules.builtin.modinfo,
//! System.map (`-F`) and Module.symvers (`-E`) with binary garbage, NUL bytes, CRLF line ends,
//! lines longer than kmod's 4096-byte line buffer and than PATH_MAX, odd entries, empty files,
//! directories in their place and missing files.
//!
//! Each scenario runs ours first and checks what must hold whatever the reference says (no
//! crash, no hang, exit 0 or 1, every stderr line a `depmod: <LEVEL>: ` message), then compares
//! exit status, stdout, stderr and all eleven outputs with the reference kmod 34.2 (skipped
//! without it, failing under `CI=true`). Where kmod crashes, hangs or this project
//! documents a deviation, the scenario asserts our behaviour instead and says so.
//!
//! An input that is a directory opens as kmod's fopen opens it, and reading it then fails
//! (EISDIR): kmod takes that for the end of modules.order, modules.builtin and the `-F`/`-E`
//! files, and fails the modules.builtin.alias.bin generator for modules.builtin.modinfo.

use crate::support::all_or_nothing::{assert_failed_replacing_nothing, mark_old_outputs};
use crate::support::*;

/// The tree every scenario starts from: a.ko (exports `fa`, imports `fb` from b.ko and the
/// kernel's `printk`, has an alias), b.ko (exports `fb`), c.ko (imports `fa`), good builtin
/// files and a modules.order listing c, b, a.
fn base() -> Tree {
    let t = Tree::new();
    t.add_module(
        "kernel/a.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("fa", 0x1111_2222)
            .alias("pci:v00001234d*")
            .import("fb", Some(0x3333_4444))
            .import("printk", Some(0x5555_6666))
            .build(),
    );
    t.add_module(
        "kernel/b.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("fb", 0x3333_4444)
            .build(),
    );
    t.add_module(
        "kernel/sub/c.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("fa", Some(0x1111_2222))
            .build(),
    );
    t.modules_order(&["kernel/sub/c.ko", "kernel/b.ko", "kernel/a.ko"]);
    t.modules_builtin("kernel/crypto/crc32c.ko\nkernel/lib/zlib.ko\n");
    t.modules_builtin_modinfo(
        b"crc32c.alias=crypto-crc32c\0crc32c.license=GPL\0zlib.description=zlib\0".as_slice(),
    );
    t
}

/// Our run: no crash, no hang, exit 0 or 1, only kmod-style messages on stderr.
fn ours_sane(t: &Tree, args: &[&str]) -> Run {
    let r = run_ours(t, args);
    assert!(!r.timed_out, "ours timed out: depmod {args:?}");
    assert!(
        r.signal.is_none(),
        "ours killed by signal {:?}: depmod {args:?}\n{}",
        r.signal,
        r.stderr_text()
    );
    assert!(
        matches!(r.status, Some(0 | 1)),
        "exit {:?}: {}",
        r.status,
        r.stderr_text()
    );
    // Messages may span lines (a FATAL quoting a key, an invalid line quoted with its
    // newline), but stderr holds only kmod-style messages.
    let err = r.stderr_text();
    assert!(
        err.is_empty() || err.starts_with("depmod: "),
        "not a kmod-style message:\n{err}"
    );
    assert!(r.root_changes.is_empty(), "{:?}", r.root_changes);
    assert!(r.other_files.is_empty(), "left behind: {:?}", r.other_files);
    r
}

/// [`ours_sane`], then the same run against the reference.
fn check(t: &Tree, args: &[&str]) -> Run {
    let r = ours_sane(t, args);
    compare_with_reference(t, args);
    r
}

// ---------------------------------------------------------------------------------------------
// modules.order

#[test]
fn order_binary_garbage() {
    let t = base();
    // Every byte but NUL (a line starting with NUL is `order_line_starting_with_nul`).
    let mut g: Vec<u8> = (1..=255u8).cycle().take(3000).collect();
    g.push(b'\n');
    t.moddir_file("modules.order", g);
    check(&t, &[]);
}

#[test]
fn order_binary_garbage_without_final_newline() {
    let t = base();
    let g: Vec<u8> = (0..2000u32).map(|i| (i * 7 + 3) as u8).collect();
    t.moddir_file("modules.order", g);
    check(&t, &[]);
}

#[test]
fn order_nul_bytes() {
    let t = base();
    // A NUL cuts the C string: "kernel/b.ko\0junk" reads as kernel/b.ko.
    t.moddir_file(
        "modules.order",
        b"kernel/b.ko\0junk\n\0kernel/sub/c.ko\nkernel/a.ko\n".as_slice(),
    );
    check(&t, &[]);
}

/// kmod 34.2 takes a line whose C string is empty (it starts with NUL) as a good line that
/// names no module; it still counts in the line numbers.
#[test]
fn order_line_starting_with_nul() {
    let t = base();
    t.moddir_file(
        "modules.order",
        b"\0abc\nkernel/b.ko\n\0\nkernel/sub/c.ko\nkernel/a.ko\n".as_slice(),
    );
    check(&t, &[]);
}

/// A NUL right before the newline: the C string ends without it, `corrupted line misses '\n'`.
#[test]
fn order_nul_before_newline() {
    let t = base();
    t.moddir_file(
        "modules.order",
        b"kernel/b.ko\nkernel/sub/c.ko\0\nkernel/a.ko\n".as_slice(),
    );
    check(&t, &[]);
}

/// Lines starting with NUL still count in the line number of a later error.
#[test]
fn order_nul_lines_then_missing_newline() {
    let t = base();
    t.moddir_file(
        "modules.order",
        b"\0\n\0x\nkernel/b.ko\n\0\nkernel/a.ko".as_slice(),
    );
    check(&t, &[]);
}

/// A last line starting with NUL and without newline: an empty C string, no error.
#[test]
fn order_last_line_nul_without_newline() {
    let t = base();
    t.moddir_file(
        "modules.order",
        b"kernel/b.ko\nkernel/a.ko\n\0abc".as_slice(),
    );
    check(&t, &[]);
}

/// Pieces of lines longer than the 4096-byte buffer: a head starting with NUL is an empty
/// line; a head with a NUL inside ends without newline (an error at its line number).
#[test]
fn order_long_lines_with_nul() {
    let t = base();
    let mut data = b"kernel/sub/c.ko\n\0".to_vec();
    data.extend(std::iter::repeat_n(b'x', 5000));
    data.extend_from_slice(b"\nkernel/a.ko\n");
    t.moddir_file("modules.order", data.clone());
    check(&t, &[]);
    data.extend_from_slice(b"yy\0");
    data.extend(std::iter::repeat_n(b'y', 5000));
    data.extend_from_slice(b"\nkernel/b.ko\n");
    t.moddir_file("modules.order", data);
    check(&t, &[]);
}

/// A file of one NUL, and one of one NUL and a newline.
#[test]
fn order_only_nul() {
    for data in [&b"\0"[..], b"\0\n", b"\0\0\0\n\n"] {
        let t = base();
        t.moddir_file("modules.order", data);
        check(&t, &[]);
    }
}

#[test]
fn order_crlf() {
    let t = base();
    t.moddir_file(
        "modules.order",
        "kernel/b.ko\r\nkernel/sub/c.ko\r\nkernel/a.ko\r\n",
    );
    check(&t, &[]);
}

#[test]
fn order_line_longer_than_fgets_buffer() {
    let t = base();
    // 5000 bytes: split by kmod's 4096-byte fgets into a 4095-byte piece and the rest.
    let long = format!("kernel/{}.ko", "x".repeat(5000));
    t.moddir_file(
        "modules.order",
        format!("kernel/b.ko\n{long}\nkernel/a.ko\nkernel/sub/c.ko\n"),
    );
    check(&t, &[]);
}

#[test]
fn order_line_of_exactly_4095_bytes() {
    let t = base();
    let long = format!("kernel/{}.ko", "y".repeat(4095 - 10));
    assert_eq!(long.len(), 4095);
    t.moddir_file(
        "modules.order",
        format!("kernel/a.ko\n{long}\nkernel/b.ko\n"),
    );
    check(&t, &[]);
}

#[test]
fn order_line_longer_than_path_max() {
    let t = base();
    let long = format!("kernel/{}/a.ko", "d/".repeat(6000));
    t.moddir_file(
        "modules.order",
        format!("{long}\nkernel/sub/c.ko\nkernel/b.ko\nkernel/a.ko\n"),
    );
    check(&t, &[]);
}

#[test]
fn order_long_last_line_without_newline() {
    let t = base();
    // The final 4095-byte piece has no newline: kmod's "corrupted line" error.
    let long = "z".repeat(9000);
    t.moddir_file("modules.order", format!("kernel/a.ko\n{long}"));
    check(&t, &[]);
}

#[test]
fn order_names_missing_modules() {
    let t = base();
    t.modules_order(&[
        "kernel/gone.ko",
        "kernel/b.ko",
        "kernel/sub/missing.ko",
        "kernel/a.ko",
        "kernel/sub/c.ko",
        "kernel/gone.ko",
    ]);
    check(&t, &[]);
}

#[test]
fn order_dot_dot_entries() {
    let t = base();
    t.modules_order(&[
        "../6.1.0-synth/kernel/b.ko",
        "kernel/../kernel/a.ko",
        "./kernel/sub/c.ko",
        "/kernel/b.ko",
        "kernel/sub/c.ko",
        "kernel//b.ko",
    ]);
    check(&t, &[]);
}

#[test]
fn order_empty_file() {
    let t = base();
    t.moddir_file("modules.order", "");
    check(&t, &[]);
}

#[test]
fn order_only_newlines_and_spaces() {
    let t = base();
    t.moddir_file("modules.order", "\n\n   \n\t\nkernel/a.ko \n kernel/b.ko\n");
    check(&t, &[]);
}

/// kmod reads a directory named modules.order as an empty file: no message.
#[test]
fn order_is_a_directory() {
    let t = base();
    std::fs::remove_file(t.moddir().join("modules.order")).unwrap();
    std::fs::create_dir(t.moddir().join("modules.order")).unwrap();
    check(&t, &[]);
}

#[test]
fn order_is_a_dangling_symlink() {
    // A dangling symbolic link in modules.order's place: reads as missing.
    let t = base();
    std::fs::remove_file(t.moddir().join("modules.order")).unwrap();
    std::os::unix::fs::symlink("nowhere", t.moddir().join("modules.order")).unwrap();
    check(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// modules.builtin

#[test]
fn builtin_binary_garbage() {
    let t = base();
    let mut g: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    g.push(b'\n');
    t.modules_builtin(g);
    check(&t, &[]);
}

#[test]
fn builtin_nul_bytes() {
    let t = base();
    t.modules_builtin(b"kernel/crypto/crc32c.ko\0tail\n\0\nkernel/lib/zlib.ko\n".as_slice());
    check(&t, &[]);
}

#[test]
fn builtin_crlf() {
    let t = base();
    t.modules_builtin("kernel/crypto/crc32c.ko\r\nkernel/lib/zlib.ko\r\n");
    check(&t, &[]);
}

#[test]
fn builtin_long_lines() {
    let t = base();
    let over_buf = format!("kernel/{}.ko", "q".repeat(5000));
    let over_path_max = format!("kernel/{}.ko", "r".repeat(6000));
    t.modules_builtin(format!(
        "{over_buf}\nkernel/crypto/crc32c.ko\n{over_path_max}\nkernel/lib/zlib.ko\n"
    ));
    check(&t, &[]);
}

/// A modules.builtin piece whose base name is empty (it ends with `/`: the last line without
/// its newline, or the 4095-byte head of a longer line): kmod 34.2 inserts the previous
/// line's module name again (its name buffer is left as it was). For a first line kmod's
/// buffer is uninitialised, so only a later line is compared (see
/// `builtin_first_piece_ending_with_slash`).
#[test]
fn builtin_piece_ending_with_slash() {
    let t = base();
    let over_buf = format!("kernel/{}.ko", "r/".repeat(3000));
    t.modules_builtin(format!("kernel/crypto/crc32c.ko\n{over_buf}\nkernel/lib/"));
    check(&t, &[]);
}

/// An invalid line between does not reset the name repeated for a piece ending with `/`.
#[test]
fn builtin_piece_ending_with_slash_after_invalid_line() {
    let t = base();
    t.modules_builtin("kernel/lib/zlib.ko\n/abs/x.ko\n\nkernel/crypto/");
    check(&t, &[]);
}

/// A piece with an empty base name before any name was read: kmod inserts whatever its
/// uninitialised buffer holds (not emulated); we skip the piece. Everything else as kmod.
#[test]
fn builtin_first_piece_ending_with_slash() {
    let t = base();
    // Its 4095-byte head ends with '/'; the rest, `r/…/r/.ko\n`, gives the key "".
    let first = format!("kernel/{}.ko", "r/".repeat(3000));
    t.modules_builtin(format!("{first}\nkernel/crypto/crc32c.ko\n"));
    let r = ours_sane(&t, &[]);
    assert_eq!(r.status, Some(0));
    assert!(r.stderr.is_empty(), "{}", r.stderr_text());
    let Some(reference) = run_reference(&t, &[]) else {
        return;
    };
    assert_eq!(reference.status, r.status);
    assert_eq!(reference.stdout, r.stdout);
    for name in OUTPUTS {
        if name != "modules.builtin.bin" {
            assert_eq!(reference.output(name), r.output(name), "{name}");
        }
    }
    // Ours holds what the rest of the file gives: the head is skipped.
    let t2 = base();
    t2.modules_builtin(format!("{}\nkernel/crypto/crc32c.ko\n", &first[4095..]));
    let r2 = ours_sane(&t2, &[]);
    assert_eq!(
        r.output("modules.builtin.bin"),
        r2.output("modules.builtin.bin")
    );
}

#[test]
fn builtin_odd_entries() {
    let t = base();
    t.modules_builtin(
        "crc32c.ko\nkernel/lib/\n.ko\nkernel/x.ko.xz\n../kernel/y.ko\nkernel/a.ko\nno-suffix\n\nkernel/lib/zlib.ko",
    );
    check(&t, &[]);
}

#[test]
fn builtin_empty_and_modinfo_absent() {
    let t = base();
    t.modules_builtin("");
    std::fs::remove_file(t.moddir().join("modules.builtin.modinfo")).unwrap();
    check(&t, &[]);
}

/// kmod opens a directory with fopen and reads nothing from it: an empty index, exit 0, no
/// message.
#[test]
fn builtin_is_a_directory() {
    let t = base();
    std::fs::remove_file(t.moddir().join("modules.builtin")).unwrap();
    std::fs::create_dir(t.moddir().join("modules.builtin")).unwrap();
    check(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// modules.builtin.modinfo

#[test]
fn modinfo_missing_final_nul() {
    let t = base();
    t.modules_builtin_modinfo(b"crc32c.alias=crypto-crc32c\0zlib.alias=zlib-deflate".as_slice());
    check(&t, &[]);
}

#[test]
fn modinfo_empty_keys_and_values() {
    let t = base();
    t.modules_builtin_modinfo(
        b"crc32c.alias=\0crc32c.=x\0.alias=y\0=\0\0\0zlib.alias=z\0crc32c.alias\0".as_slice(),
    );
    check(&t, &[]);
}

#[test]
fn modinfo_without_dot() {
    let t = base();
    t.modules_builtin_modinfo(
        b"alias=nodot\0crc32calias=crypto\0zlib.alias=zlib-ok\0plain\0".as_slice(),
    );
    check(&t, &[]);
}

#[test]
fn modinfo_huge_value() {
    let t = base();
    let mut m = b"crc32c.alias=".to_vec();
    m.extend(std::iter::repeat_n(b'v', 200_000));
    m.extend_from_slice(b"\0zlib.alias=small\0");
    t.modules_builtin_modinfo(m);
    huge_field(&t);
}

#[test]
fn modinfo_huge_name() {
    let t = base();
    let mut m = "n".repeat(70_000).into_bytes();
    m.extend_from_slice(b".alias=x\0zlib.alias=small\0");
    t.modules_builtin_modinfo(m);
    huge_field(&t);
}

/// kmod 34 stops with FATAL on a non-ASCII index key, after renaming the files before it and
/// leaving the temporary file behind; all or nothing (see depmod(8)), we write nothing.
#[test]
fn modinfo_non_ascii_alias_value() {
    let t = base();
    t.modules_builtin_modinfo(
        "crc32c.alias=crypto-crc32c\0zlib.alias=zlib-\u{e9}t\u{e9}\0".as_bytes(),
    );
    let r = all_or_nothing_like_reference(&t, &[]);
    assert!(
        r.stderr_text()
            .starts_with("depmod: FATAL: Module index: bad character"),
        "{}",
        r.stderr_text()
    );
}

#[test]
fn modinfo_binary_garbage() {
    let t = base();
    let g: Vec<u8> = (0..4000u32).map(|i| (i * 13 + 5) as u8).collect();
    t.modules_builtin_modinfo(g);
    check(&t, &[]);
}

/// kmod fails to generate modules.builtin.alias.bin (`Could not write index
/// 'modules.builtin.alias.bin': Invalid argument`, exit 1) after renaming the nine files before
/// it. All or nothing (see depmod(8)): we print the same and write nothing.
#[test]
fn modinfo_is_a_directory() {
    let t = base();
    std::fs::remove_file(t.moddir().join("modules.builtin.modinfo")).unwrap();
    std::fs::create_dir(t.moddir().join("modules.builtin.modinfo")).unwrap();
    all_or_nothing_like_reference(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// System.map (-F)

#[test]
fn system_map_without_ksymtab_lines() {
    let t = base();
    let p = t.system_map_raw(
        "ffffffff81000000 T printk\nffffffff81000010 T _text\nffffffff81000020 D jiffies\n",
    );
    check(&t, &["-e", "-F", &path_str(&p)]);
}

#[test]
fn system_map_garbage() {
    let t = base();
    let mut g: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 1) as u8).collect();
    g.extend_from_slice(b"\nffffffff81000000 r __ksymtab_printk\n");
    let p = t.system_map_raw(g);
    check(&t, &["-e", "-F", &path_str(&p)]);
}

#[test]
fn system_map_truncated_lines() {
    let t = base();
    let p = t.system_map_raw(
        "ffffffff81000000 r __ksymtab_printk\nffffffff81000010 r\nffffffff\n\nffffffff81000020 r __ksymtab_fb",
    );
    check(&t, &["-e", "-F", &path_str(&p)]);
}

#[test]
fn system_map_long_lines_crlf_and_nul() {
    let t = base();
    let p = t.system_map_raw(format!(
        "ffffffff81000000 T {}\r\nffffffff81000000 r __ksymtab_printk\r\nffffffff81000000 r __ksymtab_f\0b\n",
        "w".repeat(10_000)
    ));
    check(&t, &["-e", "-F", &path_str(&p)]);
}

#[test]
fn system_map_absent() {
    let t = base();
    let p = t.top().join("System.map.absent");
    check(&t, &["-e", "-F", &path_str(&p)]);
}

/// kmod reads a directory given to -F/-E as an empty file (exit 0, every import unknown).
#[test]
fn system_map_is_a_directory() {
    let t = base();
    let p = t.top().join("System.map.d");
    std::fs::create_dir(&p).unwrap();
    check(&t, &["-e", "-F", &path_str(&p)]);
}

/// An endless input, where kmod would read forever (and grow its memory without bound for a
/// configuration file): `-C`, `-E`, `-F` of `/dev/zero` and a FIFO as modules.order whose
/// writer never stops. Each ends the run within seconds with a fatal message naming the
/// file, below 300 MiB of memory, and leaves the indexes already on disk as they were.
#[test]
fn endless_inputs_end_the_run() {
    let t = base();
    let out = t.out_moddir();
    let expect_fatal = |what: &str, args: &[&str], file: &str| {
        let before = mark_old_outputs(&out);
        let r = run_measured(&our_bin(), &standard_argv(&t, args));
        assert_failed_replacing_nothing(what, r.status, &r.stderr, &out, &before);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(
            stderr.ends_with(&format!(
                "depmod: FATAL: could not read {file}: File too large (text inputs are read up to 128 MiB)\n"
            )),
            "{what}: {stderr}"
        );
        assert!(
            r.peak_rss_kib < 300 << 10,
            "{what}: peak RSS {} KiB",
            r.peak_rss_kib
        );
        assert!(
            r.elapsed < std::time::Duration::from_secs(10),
            "{what}: {:?}",
            r.elapsed
        );
    };
    expect_fatal("-C /dev/zero", &["-C", "/dev/zero"], "/dev/zero");
    expect_fatal("-E /dev/zero", &["-E", "/dev/zero"], "/dev/zero");
    expect_fatal("-F /dev/zero", &["-e", "-F", "/dev/zero"], "/dev/zero");

    let order = t.moddir().join("modules.order");
    std::fs::remove_file(&order).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &order,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let writer = {
        let order = order.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&order)
                .unwrap();
            let chunk = vec![b'x'; 1 << 16];
            // Ends when the reader closes the FIFO (EPIPE).
            while f.write_all(&chunk).is_ok() {}
        })
    };
    let file = path_str(&order);
    expect_fatal("a FIFO as modules.order", &[], &file);
    writer.join().unwrap();
    // With no writer at all, the FIFO reads as an empty file instead of blocking forever.
    mark_old_outputs(&out);
    let r = run_measured(&our_bin(), &standard_argv(&t, &[]));
    assert_eq!(r.status, Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(r.elapsed < std::time::Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------------------
// Module.symvers (-E)

#[test]
fn symvers_too_few_fields() {
    let t = base();
    let p = t.module_symvers_raw(
        "0x55556666\tprintk\n0x33334444\n\n0x11112222\tfa\tvmlinux\n0x00000001\tx\tvmlinux\tEXPORT_SYMBOL\t\n",
    );
    check(&t, &["-e", "-E", &path_str(&p)]);
}

#[test]
fn symvers_bad_hex_crc() {
    let t = base();
    // README: "Invalid symbol version <tok>: Invalid argument" where kmod prints a stale errno.
    let p = t.module_symvers_raw("0xZZZZ6666\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n");
    let r = ours_sane(&t, &["-e", "-E", &path_str(&p)]);
    assert!(
        r.stderr_text()
            .contains("Invalid symbol version 0xZZZZ6666: Invalid argument")
    );
    compare_or_documented_crc(&t, &p);
}

#[test]
fn symvers_crc_without_0x_prefix() {
    let t = base();
    let p = t.module_symvers_raw(
        "55556666\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n33334444\tfb_other\tvmlinux\tEXPORT_SYMBOL\t\n",
    );
    check(&t, &["-e", "-E", &path_str(&p)]);
}

#[test]
fn symvers_very_long_lines() {
    let t = base();
    let p = t.module_symvers_raw(format!(
        "0x12345678\t{}\tvmlinux\tEXPORT_SYMBOL\t\n0x55556666\tprintk\tvmlinux\tEXPORT_SYMBOL\t{}\n",
        "s".repeat(9000),
        "n".repeat(9000)
    ));
    check(&t, &["-e", "-E", &path_str(&p)]);
}

#[test]
fn symvers_crlf_and_garbage() {
    let t = base();
    let mut g = b"0x55556666\tprintk\tvmlinux\tEXPORT_SYMBOL\t\r\n".to_vec();
    g.extend((0..1000u32).map(|i| (i * 17 + 9) as u8));
    g.push(b'\n');
    let p = t.module_symvers_raw(g);
    check(&t, &["-e", "-E", &path_str(&p)]);
}

#[test]
fn symvers_is_a_directory() {
    let t = base();
    let p = t.top().join("Module.symvers.d");
    std::fs::create_dir(&p).unwrap();
    check(&t, &["-e", "-E", &path_str(&p)]);
}

#[test]
fn symvers_missing_file() {
    let t = base();
    let p = t.top().join("Module.symvers.absent");
    check(&t, &["-e", "-E", &path_str(&p)]);
}

/// A CRC token strtoull does not take whole: compare with the reference except the
/// `Invalid symbol version` line, whose errno text is documented to differ (README).
fn compare_or_documented_crc(t: &Tree, p: &std::path::Path) {
    let args = ["-e", "-E", &path_str(p)];
    let Some(reference) = run_reference(t, &args) else {
        return;
    };
    assert!(!reference.timed_out && reference.signal.is_none());
    let ours = run_ours(t, &args);
    let strip = |r: &Run| -> Vec<String> {
        r.stderr_text()
            .lines()
            .map(|l| match l.rsplit_once(": ") {
                Some((head, _)) if l.contains(" Invalid symbol version ") => head.to_string(),
                _ => l.to_string(),
            })
            .collect()
    };
    for l in ours.stderr_text().lines() {
        if l.contains(" Invalid symbol version ") {
            assert!(l.ends_with(": Invalid argument"), "{l}");
        }
    }
    assert_eq!(strip(&reference), strip(&ours), "stderr");
    assert_eq!(reference.status, ours.status);
    assert_eq!(reference.stdout, ours.stdout);
    assert_eq!(reference.outputs, ours.outputs);
}

/// Ours: exit 1, nothing written, no temporary file; exit status and stderr as the reference.
fn all_or_nothing_like_reference(t: &Tree, args: &[&str]) -> Run {
    let r = ours_sane(t, args);
    assert_eq!(r.status, Some(1), "{}", r.stderr_text());
    assert!(
        r.outputs.values().all(|o| o.is_none()),
        "an output was written"
    );
    if let Some(reference) = run_reference(t, args) {
        assert!(!reference.timed_out && reference.signal.is_none());
        assert_eq!(reference.status, r.status);
        assert_eq!(reference.stderr_text(), r.stderr_text());
    }
    r
}

/// A modules.builtin.modinfo field over 4095 bytes: kmod warns `Could not flush stream: 28.
/// Partial content: ...` and keeps a truncated or empty field, then resynchronises mid-record
/// (garbage in, garbage out, not emulated). We index the whole field silently; every
/// other output, and the exit status, as the reference.
fn huge_field(t: &Tree) {
    let r = ours_sane(t, &[]);
    assert_eq!(r.status, Some(0));
    assert!(r.stderr.is_empty(), "{}", r.stderr_text());
    let Some(reference) = run_reference(t, &[]) else {
        return;
    };
    assert!(!reference.timed_out && reference.signal.is_none());
    assert_eq!(reference.status, r.status);
    assert!(
        reference
            .stderr_text()
            .contains("Could not flush stream: 28."),
        "the reference no longer truncates: compare fully"
    );
    for name in OUTPUTS {
        if name != "modules.builtin.alias.bin" {
            assert_eq!(reference.output(name), r.output(name), "{name}");
        }
    }
}
