//! Differential tests on synthetic module trees: our depmod against the reference kmod 34.2.
//!
//! Every test builds a small tree with the ELF builder in `support/`, then runs both
//! binaries as `depmod -b ROOT -o OUT VERSION [args]` and requires identical exit status,
//! stdout, stderr and outputs. Without the reference (`scripts/fetch-reference`) the
//! comparisons are skipped, except under `CI=true`, where they fail.
//!
//! The one exception is `cycle_reporter_hang_case`, which runs only our binary (kmod never
//! terminates on that tree).

use crate::support::*;
use std::time::Duration;

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

/// Builtin files present and empty, so that runs are not dominated by their warnings.
fn quiet_builtin(t: &Tree) {
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
}

// ---------------------------------------------------------------------------------------------
// Dependency shapes and ordering
// ---------------------------------------------------------------------------------------------

/// a → b → c → d, plus a weak import and a transitive import a → d.
#[test]
fn chain() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/a.ko",
        x86()
            .import("b_fn", Some(1))
            .import("d_fn", Some(4))
            .build(),
    );
    t.add_module(
        "kernel/b.ko",
        x86().export("b_fn", 1).import("c_fn", Some(3)).build(),
    );
    t.add_module(
        "kernel/sub/c.ko",
        x86().export("c_fn", 3).weak_import("d_fn", None).build(),
    );
    t.add_module("kernel/sub/d.ko", x86().export("d_fn", 4).build());
    t.modules_order(&[
        "kernel/a.ko",
        "kernel/b.ko",
        "kernel/sub/c.ko",
        "kernel/sub/d.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// top → left, right; left → bottom; right → bottom; plus an unrelated pair.
#[test]
fn diamond() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/top.ko",
        x86()
            .import("left_fn", None)
            .import("right_fn", None)
            .build(),
    );
    t.add_module(
        "kernel/left.ko",
        x86()
            .export("left_fn", 0x11)
            .import("bottom_fn", None)
            .build(),
    );
    t.add_module(
        "kernel/right.ko",
        x86()
            .export("right_fn", 0x12)
            .import("bottom_fn", None)
            .import("bottom_fn2", None)
            .build(),
    );
    t.add_module(
        "kernel/bottom.ko",
        x86()
            .export("bottom_fn", 0x13)
            .export("bottom_fn2", 0x14)
            .build(),
    );
    t.add_module("kernel/lone.ko", x86().import("other_fn", None).build());
    t.add_module("kernel/other.ko", x86().export("other_fn", 0x15).build());
    t.modules_order(&[
        "kernel/bottom.ko",
        "kernel/lone.ko",
        "kernel/top.ko",
        "kernel/right.ko",
        "kernel/left.ko",
        "kernel/other.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// Three modules export `dup`; the last one in module order is the provider (no warning).
/// A fourth exporter missing from modules.order comes after all listed ones.
#[test]
fn duplicate_exporters_last_in_order_wins() {
    let t = Tree::new();
    quiet_builtin(&t);
    for n in ["x1", "x2", "x3"] {
        t.add_module(
            &format!("kernel/{n}.ko"),
            x86()
                .export("dup", 0x100)
                .export(&format!("{n}_only"), 1)
                .build(),
        );
    }
    t.add_module(
        "kernel/user.ko",
        x86()
            .import("dup", Some(0x100))
            .import("x1_only", None)
            .build(),
    );
    t.add_module("extra/unlisted.ko", x86().export("dup2", 7).build());
    t.add_module("kernel/y1.ko", x86().export("dup2", 7).build());
    t.add_module("kernel/user2.ko", x86().import("dup2", None).build());
    t.modules_order(&[
        "kernel/user.ko",
        "kernel/x1.ko",
        "kernel/x3.ko",
        "kernel/x2.ko",
        "kernel/y1.ko",
        "kernel/user2.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// Many modules, only some of them in modules.order: the others follow in hash order.
#[test]
fn modules_missing_from_order() {
    let t = Tree::new();
    quiet_builtin(&t);
    let names = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
        "lambda", "mu", "nu-x", "xi_y", "omicron", "pi", "rho", "sigma", "tau", "upsilon",
    ];
    for (i, n) in names.iter().enumerate() {
        let mut b = x86()
            .export(&format!("sym_{i}"), i as u32)
            .alias(format!("synth:{n}"));
        if i > 0 {
            b = b.import(&format!("sym_{}", i / 2), None);
        }
        let dir = if i % 3 == 0 {
            "kernel/drivers"
        } else {
            "kernel/fs"
        };
        t.add_module(&format!("{dir}/{n}.ko"), b.build());
    }
    t.modules_order(&[
        "kernel/fs/beta.ko",
        "kernel/drivers/alpha.ko",
        "kernel/fs/zeta.ko",
        "kernel/fs/mu.ko",
        "kernel/drivers/nu-x.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// modules.order with duplicate lines (first occurrence wins in kmod 34), `#` comment lines,
/// blank lines, unknown entries and a path without directory.
#[test]
fn modules_order_duplicates_comments_blank_lines() {
    let t = Tree::new();
    quiet_builtin(&t);
    for n in ["m1", "m2", "m3", "m4", "m5"] {
        t.add_module(
            &format!("kernel/{n}.ko"),
            x86()
                .export(&format!("{n}_sym"), 9)
                .alias(format!("name:{n}"))
                .build(),
        );
    }
    t.add_module(
        "kernel/m6.ko",
        x86().import("m1_sym", None).import("m5_sym", None).build(),
    );
    t.modules_order(&[
        "#1 comment",
        "kernel/m3.ko",
        "",
        "kernel/m5.ko",
        "kernel/m1.ko",
        "kernel/m3.ko",
        "# another comment",
        "kernel/does-not-exist.ko",
        "m2.ko",
        "kernel/m6.ko",
        "kernel/m5.ko",
        "kernel/m2.ko",
        "kernel/m4.ko",
        "kernel/m1.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// No modules.order at all: warning, hash order.
#[test]
fn no_modules_order() {
    let t = Tree::new();
    quiet_builtin(&t);
    for (i, n) in [
        "snd",
        "snd-pcm",
        "snd-timer",
        "soundcore",
        "usbcore",
        "ehci-hcd",
    ]
    .iter()
    .enumerate()
    {
        let mut b = x86().export(&format!("e{i}"), i as u32);
        if i > 0 {
            b = b.import(&format!("e{}", i - 1), None);
        }
        t.add_module(&format!("kernel/{n}.ko"), b.build());
    }
    compare_with_reference(&t, &[]);
}

/// modules.order whose last line lacks its newline: error, no sorting at all.
#[test]
fn modules_order_last_line_without_newline() {
    let t = Tree::new();
    quiet_builtin(&t);
    for n in ["p1", "p2", "p3"] {
        t.add_module(
            &format!("kernel/{n}.ko"),
            x86().alias(format!("a:{n}")).build(),
        );
    }
    t.moddir_file("modules.order", "kernel/p3.ko\nkernel/p2.ko\nkernel/p1.ko");
    compare_with_reference(&t, &[]);
}

/// Modules in nested directories and with dashes/dots in file names.
#[test]
fn module_names_and_paths() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/a/b/c/deep-name.ko", x86().export("deep", 1).build());
    t.add_module(
        "updates/dkms/vendor_mod.ko",
        x86().import("deep", None).build(),
    );
    t.add_module(
        "kernel/x.y.ko",
        x86().alias("dots").import("deep", None).build(),
    );
    t.add_module("kernel/not-a-module.txt", b"hello");
    t.add_module("kernel/ko", b"no extension");
    t.modules_order(&["kernel/a/b/c/deep-name.ko", "kernel/x.y.ko"]);
    compare_with_reference(&t, &[]);
}

/// `-v` prints one `needs "<sym>"` line per new dependency edge on stdout.
#[test]
fn verbose_needs_lines() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/a.ko",
        x86()
            .import("b1", None)
            .import("c1", None)
            .import("b2", None)
            .weak_import("c2", None)
            .build(),
    );
    t.add_module("kernel/b.ko", x86().export("b1", 1).export("b2", 2).build());
    t.add_module("kernel/c.ko", x86().export("c1", 1).export("c2", 2).build());
    t.modules_order(&["kernel/a.ko", "kernel/b.ko", "kernel/c.ko"]);
    compare_with_reference(&t, &["-v"]);
}

/// Files mode: module paths given on the command line (absolute), modules.order still used.
#[test]
fn files_mode() {
    let t = Tree::new();
    quiet_builtin(&t);
    let a = t.add_module("kernel/a.ko", x86().import("bsym", None).build());
    let b = t.add_module("kernel/b.ko", x86().export("bsym", 1).build());
    t.add_module("kernel/ignored.ko", x86().export("isym", 1).build());
    let outside = t.top_file("elsewhere/c.ko", x86().import("bsym", None).build());
    t.modules_order(&["kernel/b.ko", "kernel/a.ko"]);
    compare_with_reference(&t, &[&path_str(&a), &path_str(&outside), &path_str(&b)]);
}

// ---------------------------------------------------------------------------------------------
// Cycles
// ---------------------------------------------------------------------------------------------

/// The kmod testsuite's detect-loop tree: mod-loop-a..k, empty modules.order.
#[test]
fn detect_loop() {
    let t = Tree::new();
    quiet_builtin(&t);
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
        let mut b = x86().export(&format!("print{}", n.to_uppercase()), 0x1000);
        for i in imps {
            b = b.import(&format!("print{i}"), Some(0x1000));
        }
        t.add_module(&format!("kernel/mod-loop-{n}.ko"), b.build());
    }
    t.modules_order(&[]);
    // The tree really is the testsuite's: the reference prints exactly its expected report.
    if let Some(run) = run_reference(&t, &[]) {
        assert_eq!(run.status, Some(1));
        assert_eq!(
            run.stderr_text(),
            "depmod: ERROR: Cycle detected: mod_loop_d -> mod_loop_e -> mod_loop_d\n\
             depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_k -> mod_loop_h -> mod_loop_i\n\
             depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_h -> mod_loop_i\n\
             depmod: ERROR: Cycle detected: mod_loop_c -> mod_loop_a -> mod_loop_b -> mod_loop_c\n\
             depmod: ERROR: Found 9 modules in dependency cycles!\n"
        );
        assert!(!run.outdir_exists);
    }
    compare_with_reference(&t, &[]);
}

/// a ↔ b cycle, a → c → d below it: the one-name `Cycle detected: c` line.
#[test]
fn cycle_with_module_below() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/a.ko",
        x86()
            .export("fa", 1)
            .import("fb", None)
            .import("fc", None)
            .build(),
    );
    t.add_module(
        "kernel/b.ko",
        x86().export("fb", 1).import("fa", None).build(),
    );
    t.add_module(
        "kernel/c.ko",
        x86().export("fc", 1).import("fd", None).build(),
    );
    t.add_module("kernel/d.ko", x86().export("fd", 1).build());
    t.modules_order(&["kernel/a.ko", "kernel/b.ko", "kernel/c.ko", "kernel/d.ko"]);
    compare_with_reference(&t, &[]);
}

/// A module importing its own export is a self-cycle `X -> X`.
#[test]
fn cycle_self() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/selfish-mod.ko",
        x86().export("me", 1).import("me", None).build(),
    );
    t.add_module("kernel/fine.ko", x86().import("me", None).build());
    t.modules_order(&["kernel/fine.ko", "kernel/selfish-mod.ko"]);
    compare_with_reference(&t, &[]);
}

/// kmod's cycle reporter never terminates on this tree (a known kmod defect: hang-m is used
/// by the cycle hang-a ↔ hang-b and itself uses the cycle hang-c ↔ hang-d), so the reference is
/// NOT run here (it eats memory until killed). As depmod(8) says, we must report the cycles, exit 1 and
/// write nothing, without hanging.
#[test]
fn cycle_reporter_hang_case() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/hang-a.ko",
        x86()
            .export("ha", 1)
            .import("hb", None)
            .import("hm", None)
            .build(),
    );
    t.add_module(
        "kernel/hang-b.ko",
        x86().export("hb", 1).import("ha", None).build(),
    );
    t.add_module(
        "kernel/hang-m.ko",
        x86().export("hm", 1).import("hc", None).build(),
    );
    t.add_module(
        "kernel/hang-c.ko",
        x86().export("hc", 1).import("hd", None).build(),
    );
    t.add_module(
        "kernel/hang-d.ko",
        x86().export("hd", 1).import("hc", None).build(),
    );
    t.modules_order(&[
        "kernel/hang-c.ko",
        "kernel/hang-d.ko",
        "kernel/hang-m.ko",
        "kernel/hang-a.ko",
        "kernel/hang-b.ko",
    ]);
    let run = run_depmod(
        &our_bin(),
        &t,
        &standard_argv(&t, &[]),
        Duration::from_secs(20),
        "ours",
    );
    assert!(
        !run.timed_out,
        "our depmod hangs on the kmod cycle-reporter defect case"
    );
    assert_eq!(run.status, Some(1), "stderr:\n{}", run.stderr_text());
    // GOLDEN, DERIVED BY REASONING (not from a reference run — kmod never finishes here):
    // Kahn leaves every module with users, so the roots list is the module order
    // [c, d, m, a, b]. Root c: DFS c → d → c reports `c -> d -> c` (L = {c, d}); d is removed
    // from the roots. kmod prints this line, then hangs on the next root. Root m: m → c, and c
    // was already visited and is not the root: kmod re-expands it forever (c → d → c …); the
    // sane fix is to not expand a visited non-root vertex again, so nothing is reported for m.
    // Root a: a pushes b then m; m is visited and not the root (skipped); b → a reports
    // `a -> b -> a` (L = {c, d, a, b}); b is removed. Roots empty → "Found 4 modules".
    assert_eq!(
        run.stderr_text(),
        "depmod: ERROR: Cycle detected: hang_c -> hang_d -> hang_c\n\
         depmod: ERROR: Cycle detected: hang_a -> hang_b -> hang_a\n\
         depmod: ERROR: Found 4 modules in dependency cycles!\n"
    );
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout_text());
    assert!(
        run.outputs.values().all(Option::is_none),
        "outputs were written despite the cycle"
    );
    assert!(run.root_changes.is_empty(), "{:?}", run.root_changes);
}

/// A sibling of the hang case where kmod's cycle reporter does not hang but aborts: the cycle
/// hang-c → {hang-d, hang-d2} → hang-c branches, so re-expanding it (from root hang-m, which is
/// not on it) grows kmod's DFS stack until `Assertion 'is < stack_size' failed` → SIGABRT.
/// A second kmod defect, beside the endless loop above. The reference is run: it
/// dies within milliseconds. Ours must print what kmod printed before dying, then finish the
/// report like the hang case, exit 1 and write nothing.
#[test]
fn cycle_reporter_abort_case() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/hang-a.ko",
        x86()
            .export("ha", 1)
            .import("hb", None)
            .import("hm", None)
            .build(),
    );
    t.add_module(
        "kernel/hang-b.ko",
        x86().export("hb", 1).import("ha", None).build(),
    );
    t.add_module(
        "kernel/hang-m.ko",
        x86().export("hm", 1).import("hc", None).build(),
    );
    t.add_module(
        "kernel/hang-c.ko",
        x86()
            .export("hc", 1)
            .import("hd", None)
            .import("hd2", None)
            .build(),
    );
    t.add_module(
        "kernel/hang-d.ko",
        x86().export("hd", 1).import("hc", None).build(),
    );
    t.add_module(
        "kernel/hang-d2.ko",
        x86().export("hd2", 1).import("hc", None).build(),
    );
    t.modules_order(&[
        "kernel/hang-c.ko",
        "kernel/hang-d.ko",
        "kernel/hang-d2.ko",
        "kernel/hang-m.ko",
        "kernel/hang-a.ko",
        "kernel/hang-b.ko",
    ]);
    // Roots [c, d, d2, m, a, b]. Root c: c pushes d then d2; d2 → c reports `c -> d2 -> c`
    // (roots become [m, a, b, d] by the removal rule); d → c reports `c -> d -> c` (roots
    // [m, a, b]). This is where kmod's output ends. Root m: m → c, visited, not the root: kmod
    // re-expands until its stack overflows; not expanding it again ends m's DFS. Root a: a
    // pushes b, m; m is skipped; b → a reports `a -> b -> a`. L = {c, d2, d, a, b}.
    let kmod_printed = "depmod: ERROR: Cycle detected: hang_c -> hang_d2 -> hang_c\n\
                        depmod: ERROR: Cycle detected: hang_c -> hang_d -> hang_c\n";
    if let Some(refbin) = reference_or_skip("cycle_reporter_abort_case (reference part)") {
        let r = run_depmod(
            &refbin,
            &t,
            &standard_argv(&t, &[]),
            Duration::from_secs(20),
            "ref",
        );
        assert_eq!(r.signal, Some(6), "kmod no longer aborts here: {r:?}");
        let stderr = r.stderr_text();
        assert!(
            stderr.starts_with(kmod_printed)
                && stderr.contains("Assertion `is < stack_size' failed"),
            "{stderr}"
        );
    }
    let run = run_depmod(
        &our_bin(),
        &t,
        &standard_argv(&t, &[]),
        Duration::from_secs(20),
        "ours",
    );
    assert!(!run.timed_out, "our depmod hangs");
    assert_eq!(run.status, Some(1), "stderr:\n{}", run.stderr_text());
    // GOLDEN, DERIVED BY REASONING beyond the first two lines (see above).
    assert_eq!(
        run.stderr_text(),
        format!(
            "{kmod_printed}depmod: ERROR: Cycle detected: hang_a -> hang_b -> hang_a\n\
             depmod: ERROR: Found 5 modules in dependency cycles!\n"
        )
    );
    assert!(run.stdout.is_empty());
    assert!(run.outputs.values().all(Option::is_none));
    assert!(!run.outdir_exists);
}

// ---------------------------------------------------------------------------------------------
// modinfo-derived outputs
// ---------------------------------------------------------------------------------------------

/// Aliases with brackets, dashes, wildcards, an unmatched `[`, a stray `]`, an empty alias and
/// a duplicate, in a module whose file name has dashes.
#[test]
fn aliases_brackets_and_dashes() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/drivers/my-driver.ko",
        x86()
            .alias("pci:v00008086d000010D3sv*sd*bc*sc*i*")
            .alias("usb:v1234p*d*dc*dsc*dp*ic03isc*ip*in*")
            .alias("acpi*:PNP0A0[38]:*")
            .alias("of:N*T*Cvendor,dev-ice-v[1-3]-x")
            .alias("dash-at-start-[a-c]-end")
            .alias("bad[abc")
            .alias("also]bad")
            .alias("platform:my-driver")
            .modinfo_raw(b"alias\0")
            .alias("")
            .modinfo("description", "not an alias")
            .modinfo("ALIAS", "case matters")
            .build(),
    );
    t.add_module(
        "kernel/drivers/other_drv.ko",
        x86()
            .alias("platform:my-driver")
            .alias("pci:v00008086d*sv*sd*bc*sc*i*")
            .alias("x[-]y")
            .build(),
    );
    t.modules_order(&["kernel/drivers/other_drv.ko", "kernel/drivers/my-driver.ko"]);
    compare_with_reference(&t, &[]);
}

/// `-w` reports duplicate values under one key (same module listing an alias twice, once with
/// a dash and once with an underscore).
#[test]
fn duplicate_alias_with_w() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/dupal.ko",
        x86()
            .alias("dup-x")
            .alias("dup_x")
            .alias("same")
            .alias("same")
            .build(),
    );
    t.add_module("kernel/other.ko", x86().alias("same").build());
    t.modules_order(&["kernel/dupal.ko", "kernel/other.ko"]);
    compare_with_reference(&t, &["-w"]);
}

/// devname with char-major / block-major, devname without major, a later devname overwriting an
/// earlier one, `%u`-style parsing oddities.
#[test]
fn devname() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/fuse.ko",
        x86()
            .alias("fs-fuse")
            .alias("devname:fuse")
            .alias("char-major-10-229")
            .build(),
    );
    t.add_module(
        "kernel/loop.ko",
        x86()
            .alias("block-major-7-*")
            .alias("block-major-7-0")
            .alias("devname:loop-control")
            .alias("char-major-10-237")
            .build(),
    );
    t.add_module(
        "kernel/nomajor.ko",
        x86()
            .alias("devname:lonely")
            .alias("something-else")
            .build(),
    );
    t.add_module(
        "kernel/overwrite.ko",
        x86()
            .alias("devname:first")
            .alias("devname:second")
            .alias("block-major-3-4x")
            .alias("devname:third")
            .build(),
    );
    t.add_module(
        "kernel/majorfirst.ko",
        x86()
            .alias("char-major-+5- 7")
            .alias("char-major-4294967297-1")
            .alias("devname:odd/name")
            .build(),
    );
    t.add_module("kernel/majoronly.ko", x86().alias("char-major-1-2").build());
    t.modules_order(&[
        "kernel/fuse.ko",
        "kernel/loop.ko",
        "kernel/nomajor.ko",
        "kernel/overwrite.ko",
        "kernel/majorfirst.ko",
        "kernel/majoronly.ko",
    ]);
    compare_with_reference(&t, &[]);
}

/// No devname at all: modules.devname is an empty file.
#[test]
fn devname_absent_is_empty_file() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/plain.ko", x86().alias("char-major-1-2").build());
    t.modules_order(&["kernel/plain.ko"]);
    compare_with_reference(&t, &[]);
}

/// softdep and weakdep values copied verbatim, several per module, in modinfo order.
#[test]
fn softdep_and_weakdep() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/crypto/user-mod.ko",
        x86()
            .modinfo("softdep", "pre: crc32c post: other-mod")
            .modinfo("weakdep", "helper-one")
            .modinfo("softdep", "pre: second")
            .modinfo("weakdep", "helper_two")
            .modinfo("softdep", "")
            .build(),
    );
    t.add_module(
        "kernel/other.ko",
        x86()
            .modinfo("weakdep", "user-mod")
            .modinfo("softdepx", "ignored")
            .build(),
    );
    t.add_module("kernel/none.ko", x86().build());
    t.modules_order(&[
        "kernel/other.ko",
        "kernel/crypto/user-mod.ko",
        "kernel/none.ko",
    ]);
    compare_with_reference(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// modules.builtin / modules.builtin.modinfo
// ---------------------------------------------------------------------------------------------

#[test]
fn builtin_present() {
    let t = Tree::new();
    t.add_module("kernel/m.ko", x86().alias("mod-alias").build());
    t.modules_order(&["kernel/m.ko"]);
    t.modules_builtin(
        "kernel/fs/ext4/ext4.ko\nkernel/drivers/usb/usb-common.ko\n\n/abs/path.ko\n\
         kernel/lib/crc32.ko\nkernel/fs/ext4/ext4.ko\nnodot\n9digit.ko\n",
    );
    let mut modinfo = Vec::new();
    for rec in [
        &b"ext4.alias=fs-ext4"[..],
        b"ext4.license=GPL",
        b"ext4.alias=ext3",
        b"usb-common.alias=usb:v*p*d*dc09*",
        b"usb-common.alias=of:N*T*Cusb-[ab]x",
        b"crc32.alias=crypto-crc32",
        b"crc32.alias=bad[bracket",
        b"crc32.alias=",
        b"noalias",
        b".alias=emptyname",
        b"ext4.alias=fs-ext4",
        b"other.alias=fs-ext4",
    ] {
        modinfo.extend_from_slice(rec);
        modinfo.push(0);
    }
    modinfo.extend_from_slice(b"last.alias=unterminated");
    t.modules_builtin_modinfo(modinfo);
    compare_with_reference(&t, &[]);
}

#[test]
fn builtin_missing() {
    let t = Tree::new();
    t.add_module("kernel/m.ko", x86().alias("mod-alias").build());
    t.modules_order(&["kernel/m.ko"]);
    compare_with_reference(&t, &[]);
}

#[test]
fn builtin_empty_files() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/m.ko", x86().alias("mod-alias").build());
    t.modules_order(&["kernel/m.ko"]);
    compare_with_reference(&t, &[]);
}

/// Only one of the two builtin files present.
#[test]
fn builtin_only_modinfo() {
    let t = Tree::new();
    t.modules_builtin_modinfo(b"foo-bar.alias=x-y\0foo-bar.alias=x-z\0baz.alias=x-y\0");
    t.add_module("kernel/m.ko", x86().build());
    t.modules_order(&["kernel/m.ko"]);
    compare_with_reference(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// `-n` writes the text outputs to stdout and nothing to disk.
#[test]
fn dry_run_n() {
    let t = Tree::new();
    t.modules_builtin("kernel/x.ko\n");
    t.add_module(
        "kernel/a.ko",
        x86()
            .alias("a-alias")
            .alias("devname:adev")
            .alias("char-major-99-1")
            .modinfo("softdep", "pre: b")
            .modinfo("weakdep", "b")
            .import("bsym", None)
            .build(),
    );
    t.add_module(
        "kernel/b.ko",
        x86().export("bsym", 5).alias("b-alias").build(),
    );
    t.modules_order(&["kernel/a.ko", "kernel/b.ko"]);
    compare_with_reference(&t, &["-n"]);
}

/// `-n` on a tree without any module and without modules.order.
#[test]
fn dry_run_empty_tree() {
    let t = Tree::new();
    compare_with_reference(&t, &["-n"]);
}

/// Empty tree, written to disk: every output present (builtin ones 0 bytes).
#[test]
fn empty_tree() {
    let t = Tree::new();
    compare_with_reference(&t, &[]);
}

/// `-P _`: one leading `_` is stripped from export names and import lookups.
#[test]
fn symbol_prefix_underscore() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module(
        "kernel/exp.ko",
        x86()
            .export("_foo", 1)
            .export("__bar", 2)
            .export("plain", 3)
            .export("_.dotty", 4)
            .build(),
    );
    t.add_module(
        "kernel/imp1.ko",
        x86().import("foo", None).import("__bar", None).build(),
    );
    t.add_module("kernel/imp2.ko", x86().import("_foo", None).build());
    t.add_module("kernel/imp3.ko", x86().import("_plain", None).build());
    t.add_module("kernel/imp4.ko", x86().import("_bar", None).build());
    t.add_module("kernel/imp5.ko", x86().import(".dotty", None).build());
    t.modules_order(&[
        "kernel/exp.ko",
        "kernel/imp1.ko",
        "kernel/imp2.ko",
        "kernel/imp3.ko",
        "kernel/imp4.ko",
        "kernel/imp5.ko",
    ]);
    compare_with_reference(&t, &["-P", "_"]);
    compare_with_reference(&t, &[]);
}

/// `-e -E Module.symvers`: CRC mismatches against kernel and module exports, unknown symbols
/// (weak ones not reported), a module overriding a kernel symbol, module_layout, and lines
/// that are skipped (3 columns, not vmlinux).
#[test]
fn symvers_crc_mismatch_and_unknown_symbol() {
    let t = Tree::new();
    quiet_builtin(&t);
    let symvers = t.module_symvers_raw(
        "0x11111111\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n\
         0x22222222\tkmalloc\tvmlinux\tEXPORT_SYMBOL_GPL\t\n\
         0x33333333\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n\
         0x44444444\toverridden\tvmlinux\tEXPORT_SYMBOL\t\n\
         0x55555555\tthreecol\tvmlinux\n\
         0x66666666\tin_module\tdrivers/foo\tEXPORT_SYMBOL\t\n\
         77777777 nohexprefix vmlinux EXPORT_SYMBOL\n\
         short line\n",
    );
    t.add_module(
        "kernel/prov.ko",
        x86()
            .export("prov_fn", 0xaaaa)
            .export("overridden", 0xbbbb)
            .build(),
    );
    t.add_module(
        "kernel/user.ko",
        x86()
            .import("printk", Some(0x11111111))
            .import("kmalloc", Some(0x22222223))
            .import("prov_fn", Some(0xaaab))
            .import("overridden", Some(0x44444444))
            .import("no_such_symbol", None)
            .weak_import("weak_unknown", None)
            .weak_import("kmalloc", Some(0x1))
            .import("threecol", Some(0x55555555))
            .import("in_module", None)
            .import("nohexprefix", Some(0x77777777))
            .import("__this_module", None)
            .import("_GLOBAL_OFFSET_TABLE_", None)
            .import(".TOC.", None)
            .module_layout(0x33333334)
            .build(),
    );
    t.add_module(
        "kernel/good.ko",
        x86()
            .import("printk", Some(0x11111111))
            .import("prov_fn", Some(0xaaaa))
            .module_layout(0x33333333)
            .build(),
    );
    t.modules_order(&["kernel/prov.ko", "kernel/user.ko", "kernel/good.ko"]);
    let p = path_str(&symvers);
    compare_with_reference(&t, &["-e", "-E", &p]);
    // Without -e: no warnings, same graph.
    compare_with_reference(&t, &["-E", &p]);
}

/// `-e -F System.map`: kernel symbols from `__ksymtab_` lines; unknown ones reported; an
/// invalid line reported; no CRC checking.
#[test]
fn system_map_unknown_symbols() {
    let t = Tree::new();
    quiet_builtin(&t);
    let map = t.system_map_raw(
        "ffffffff81000000 T printk\n\
         ffffffff82000000 r __ksymtab_printk\n\
         ffffffff82000010 r __ksymtab_kfree\n\
         ffffffff82000020 R __ksymtab_gpl_only\n\
         invalidline\n\
         ffffffff81000100 T not_exported\n\
         ffffffff82000030 r __kstrtab_printk\n",
    );
    t.add_module(
        "kernel/user.ko",
        x86()
            .import("printk", Some(0x1234))
            .import("kfree", None)
            .import("gpl_only", None)
            .import("not_exported", None)
            .weak_import("weak_missing", None)
            .import("mod_fn", Some(99))
            .build(),
    );
    t.add_module("kernel/prov.ko", x86().export("mod_fn", 1).build());
    t.modules_order(&["kernel/user.ko", "kernel/prov.ko"]);
    let p = path_str(&map);
    compare_with_reference(&t, &["-e", "-F", &p]);
    compare_with_reference(&t, &["-e", "-F", &p, "-P", "_"]);
}

/// `-P C -F System.map`: one leading byte equal to the prefix is dropped from the name field
/// and the line is still used (`___ksymtab_foo` gives `foo`, `__ksymtab_bar` nothing).
#[test]
fn symbol_prefix_with_system_map() {
    let t = Tree::new();
    quiet_builtin(&t);
    let map = t.system_map_raw(
        "ffffffff81000000 r ___ksymtab_foo\n\
         ffffffff81000010 r __ksymtab_bar\n\
         ffffffff81000020 r ____ksymtab_twice\n\
         ffffffff81000030 r .__ksymtab_dot\n\
         ffffffff81000040 r _\n",
    );
    t.add_module(
        "kernel/user.ko",
        x86()
            .import("foo", None)
            .import("bar", None)
            .import("_twice", None)
            .import("dot", None)
            .build(),
    );
    t.modules_order(&["kernel/user.ko"]);
    let p = path_str(&map);
    for prefix in ["_", "."] {
        compare_with_reference(&t, &["-e", "-F", &p, "-P", prefix]);
        compare_with_reference(&t, &["-e", "-F", &p, "-P", prefix, "-v"]);
    }
}

/// Module.symvers CRCs are read with C's `strtoull`, which skips every byte `isspace` accepts
/// (`\v` and `\f` too; space and tab separate the fields).
#[test]
fn symvers_crc_with_c_whitespace() {
    let t = Tree::new();
    quiet_builtin(&t);
    let symvers = t.module_symvers_raw(
        "\x0b0x11111111\tvt\tvmlinux\tEXPORT_SYMBOL\t\n\
         \x0c0x22222222\tff\tvmlinux\tEXPORT_SYMBOL\t\n\
         \r0x33333333\tcr\tvmlinux\tEXPORT_SYMBOL\t\n",
    );
    t.add_module(
        "kernel/user.ko",
        x86()
            .import("vt", Some(0x11111111))
            .import("ff", Some(0x22222221))
            .import("cr", Some(0x33333333))
            .build(),
    );
    t.modules_order(&["kernel/user.ko"]);
    let p = path_str(&symvers);
    compare_with_reference(&t, &["-e", "-E", &p]);
}

/// `-e` without `-E`/`-F` only warns.
#[test]
fn errsyms_without_symbol_file() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/user.ko", x86().import("nowhere", None).build());
    t.modules_order(&["kernel/user.ko"]);
    compare_with_reference(&t, &["-e"]);
}

// ---------------------------------------------------------------------------------------------
// Architectures (32/64-bit, both byte orders, ppc64 dot imports, sparc STT_REGISTER)
// ---------------------------------------------------------------------------------------------

fn arch_tree(arch: Arch) {
    let t = Tree::new();
    quiet_builtin(&t);
    let m = || ModuleBuilder::new(arch);
    t.add_module(
        "kernel/core-lib.ko",
        m().export("core_fn", 0x0bad_cafe)
            .export("core_data", 0x1357_9bdf)
            .alias(format!("synth:{}-core", arch.name()))
            .build(),
    );
    t.add_module(
        "kernel/abs-crc.ko",
        m().crc_mode(CrcMode::Absolute)
            .export("abs_fn", 0xfeed_f00d)
            .import("core_data", Some(0x1357_9bdf))
            .build(),
    );
    t.add_module(
        "kernel/nover.ko",
        m().crc_mode(CrcMode::None).export("nover_fn", 0).build(),
    );
    t.add_module("kernel/regprov.ko", m().export("regsym", 0).build());
    let mut user = m()
        .alias("synth:user-[0-9]")
        .modinfo("softdep", "pre: nover")
        .import("abs_fn", Some(0xfeed_f00d))
        .weak_import("nover_fn", None)
        .import("printk", Some(0x1111_2222))
        .module_layout(0x3333_4444);
    user = if arch == Arch::Ppc64 {
        // ELFv1: calls import the `.name` entry point, __versions names the descriptor.
        user.import_dot("core_fn", Some(0x0bad_cafe))
    } else {
        user.import("core_fn", Some(0x0bad_cafe))
    };
    if arch == Arch::Sparc64 {
        // `.register %g2, #scratch`-style symbol named like an export: must not create a dep.
        user = user.register_symbol("regsym", 2);
    } else if arch == Arch::Ppc64le {
        user = user.import(".TOC.", None);
    } else if arch == Arch::S390x {
        user = user.import("_GLOBAL_OFFSET_TABLE_", None);
    }
    t.add_module("kernel/drivers/user.ko", user.build());
    t.modules_order(&[
        "kernel/drivers/user.ko",
        "kernel/abs-crc.ko",
        "kernel/core-lib.ko",
        "kernel/nover.ko",
    ]);
    let symvers = t.module_symvers(&[("printk", 0x1111_2222), ("module_layout", 0x3333_4444)]);
    compare_with_reference(&t, &[]);
    compare_with_reference(&t, &["-e", "-E", &path_str(&symvers)]);
}

#[test]
fn arch_x86_64() {
    arch_tree(Arch::X86_64);
}
#[test]
fn arch_i386() {
    arch_tree(Arch::I386);
}
#[test]
fn arch_aarch64() {
    arch_tree(Arch::Aarch64);
}
#[test]
fn arch_arm() {
    arch_tree(Arch::Arm);
}
#[test]
fn arch_s390x() {
    arch_tree(Arch::S390x);
}
#[test]
fn arch_ppc64_dot_imports() {
    arch_tree(Arch::Ppc64);
}
#[test]
fn arch_ppc64le() {
    arch_tree(Arch::Ppc64le);
}
#[test]
fn arch_mips64el() {
    arch_tree(Arch::Mips64el);
}
#[test]
fn arch_mips() {
    arch_tree(Arch::Mips);
}
#[test]
fn arch_sparc64_register_symbols() {
    arch_tree(Arch::Sparc64);
}
#[test]
fn arch_riscv64() {
    arch_tree(Arch::Riscv64);
}

/// STT_REGISTER undefined symbols are only special on SPARC: on x86_64 the same symbol is an
/// ordinary import.
#[test]
fn register_symbol_type_outside_sparc() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/prov.ko", x86().export("regsym", 0).build());
    t.add_module("kernel/user.ko", x86().register_symbol("regsym", 2).build());
    t.add_module(
        "kernel/sparc-user.ko",
        ModuleBuilder::new(Arch::Sparc64)
            .register_symbol("regsym", 3)
            .register_symbol("", 6)
            .build(),
    );
    t.modules_order(&["kernel/user.ko", "kernel/sparc-user.ko", "kernel/prov.ko"]);
    compare_with_reference(&t, &[]);
}

/// One tree mixing all architectures, 32-bit and big-endian modules depending on each other.
#[test]
fn mixed_architectures_in_one_tree() {
    let t = Tree::new();
    quiet_builtin(&t);
    let mut order = Vec::new();
    for (i, arch) in Arch::ALL.iter().enumerate() {
        let mut b = ModuleBuilder::new(*arch)
            .export(&format!("fn_{}", arch.name()), 0x100 + i as u32)
            .alias(format!("arch:{}", arch.name()));
        if i > 0 {
            let prev = Arch::ALL[i - 1];
            b = b.import(&format!("fn_{}", prev.name()), Some(0x100 + i as u64 - 1));
        }
        if i >= 2 {
            let older = Arch::ALL[i - 2];
            b = b.weak_import(&format!("fn_{}", older.name()), None);
        }
        let rel = format!("kernel/{}/mod-{}.ko", arch.name(), arch.name());
        t.add_module(&rel, b.build());
        order.push(rel);
    }
    order.reverse();
    let order: Vec<&str> = order.iter().map(String::as_str).collect();
    t.modules_order(&order);
    compare_with_reference(&t, &[]);
}

// ---------------------------------------------------------------------------------------------
// Malformed modules (listed, without dependencies)
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_modules_are_listed() {
    let t = Tree::new();
    quiet_builtin(&t);
    t.add_module("kernel/prov.ko", x86().export("psym", 1).build());
    // Not ELF at all.
    t.add_module("kernel/notelf.ko", b"this is not an ELF file at all\n");
    // Bad e_shentsize.
    let mut l = x86()
        .import("psym", None)
        .alias("bad-shentsize")
        .build_layout();
    let off = l.e_shentsize_offset();
    l.put(off, 2, 63);
    t.add_module("kernel/badshent.ko", &l.bytes);
    // Section header table past the end of the file.
    let mut l = x86().import("psym", None).build_layout();
    let len = l.bytes.len();
    l.bytes.truncate(len - 8);
    t.add_module("kernel/truncated.ko", &l.bytes);
    // .symtab size not a multiple of the entry size: no imports, silently.
    let mut l = ModuleBuilder::new(Arch::I386)
        .import("psym", None)
        .alias("odd-symtab")
        .build_layout();
    let st = l.section(".symtab").unwrap().clone();
    let size_field = st.header_offset + 20;
    l.put(size_field, 4, st.size as u64 - 1);
    t.add_module("kernel/oddsymtab.ko", &l.bytes);
    // No .symtab/.strtab: exports via __ksymtab_strings still work, imports are gone.
    t.add_module(
        "kernel/nosymtab.ko",
        x86()
            .crc_mode(CrcMode::None)
            .export("nosym_export", 0)
            .import("psym", None)
            .drop_section(".symtab")
            .build(),
    );
    t.add_module(
        "kernel/usesnosym.ko",
        x86().import("nosym_export", None).build(),
    );
    // __versions whose size is not a multiple of 64 (treated as absent).
    t.add_module(
        "kernel/oddversions.ko",
        x86()
            .import("psym", Some(1))
            .versions_raw([0u8; 10])
            .build(),
    );
    // Empty file and a 5-byte file.
    t.add_module("kernel/empty.ko", b"");
    t.add_module("kernel/tiny.ko", b"\x7fELF\x02");
    t.modules_order(&[
        "kernel/prov.ko",
        "kernel/notelf.ko",
        "kernel/badshent.ko",
        "kernel/truncated.ko",
        "kernel/oddsymtab.ko",
        "kernel/nosymtab.ko",
        "kernel/usesnosym.ko",
        "kernel/oddversions.ko",
        "kernel/empty.ko",
        "kernel/tiny.ko",
    ]);
    compare_with_reference(&t, &[]);
}
