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

pub mod all_or_nothing;
pub mod clients;
pub mod compress;
pub mod diff;
pub mod elf;
pub mod inputs;
pub mod measure;
pub mod run;
pub mod sample;
pub mod seccomp;
pub mod skip;
pub mod tmpfs;
pub mod tree;

pub use elf::{Arch, CrcMode, Layout, ModuleBuilder, Section, Shndx, Symbol};
pub use inputs::{cache_dir, reference_or_skip};
pub use measure::run_measured;
pub use run::{
    OUTPUTS, Run, RunOptions, argv, compare_runs, compare_with_reference,
    compare_with_reference_argv, compare_with_reference_opts, our_bin, path_str, run_depmod,
    run_depmod_with, run_ours, run_reference, standard_argv,
};
pub use sample::{SAMPLE_VERSION, Snapshot, run_sample, sample_depmod, sample_root, snapshot};
pub use tree::{Tree, set_mtime};
