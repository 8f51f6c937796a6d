//! Test-side support: a synthetic kernel-module (ELF ET_REL) writer, a module tree builder and a
//! runner that compares our depmod with the reference kmod 34.2.
//!
//! ```ignore
//! let t = Tree::new();
//! t.add_module("kernel/b.ko", ModuleBuilder::new(Arch::X86_64).export("bar", 0xdeadbeef).build());
//! t.add_module("kernel/a.ko", ModuleBuilder::new(Arch::X86_64).import("bar", Some(0xdeadbeef)).build());
//! t.modules_order(&["kernel/a.ko", "kernel/b.ko"]);
//! compare_with_reference(&t, &[]);
//! ```
//!
//! Each test crate uses a different subset of this module.
#![allow(dead_code, unused_imports)]

pub mod clients;
pub mod compress;
pub mod diff;
pub mod elf;
pub mod run;
pub mod sample;
pub mod seccomp;
pub mod skip;
pub mod tmpfs;
pub mod tree;

pub use elf::{Arch, CrcMode, Layout, ModuleBuilder, Section, Shndx, Symbol};
pub use run::{
    Measured, OUTPUTS, Run, RunOptions, argv, compare_runs, compare_with_reference,
    compare_with_reference_argv, compare_with_reference_opts, our_bin, reference_bin,
    reference_or_skip, run_depmod, run_depmod_with, run_measured, run_ours, run_reference,
    standard_argv,
};
pub use sample::{SAMPLE_VERSION, Snapshot, run_sample, sample_depmod, sample_root, snapshot};
pub use tree::Tree;
