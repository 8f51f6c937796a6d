//! Generator of large synthetic module trees for `scripts/bench` (how time grows with work).
//!
//! Not a timed test: it only writes trees. Run
//! `cargo test --release --test it -- --ignored generate_scaling_trees` to (re)create
//! `$DEPMOD_CACHE_DIR/trees/synth-{1000,5000,20000}` (default cache `~/.cache/depmod-rs`),
//! then e.g. `scripts/bench synth-20000`.

use crate::support::*;

const VERSION: &str = "6.1.0-synth";

/// A small deterministic generator (xorshift), so trees are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Module `i` exports 8 symbols, has two aliases and lives in one of 100 directories. Like a
/// kernel, the graph is layered, so dependency lists stay short whatever the size: a tenth of
/// the modules are core libraries (no imports), a tenth are libraries importing up to 3 core
/// symbols, the rest are drivers importing up to 6 library symbols.
fn write_tree(n: usize) {
    let root = cache_dir().join(format!("trees/synth-{n}"));
    let moddir = root.join("lib/modules").join(VERSION);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&moddir).expect("create tree");
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ n as u64);
    let mut order = String::new();
    for i in 0..n {
        let mut b = ModuleBuilder::new(Arch::X86_64)
            .alias(format!("pci:v{:08X}d{:08X}sv*sd*bc*sc*i*", i % 4096, i))
            .alias(format!("synth-dev-{i}"))
            .modinfo("license", "GPL");
        for s in 0..8 {
            b = b.export(&format!("synth_{i}_{s}"), (i * 8 + s) as u32);
        }
        let (imports, layers) = match i % 10 {
            0 => (0, 1),
            1 => (3, 1),
            _ => (6, 2),
        };
        for _ in 0..rng.below(imports + 1) {
            // A module of a lower layer: index ≡ 0 (core) or 1 (library) modulo 10.
            let target = (rng.below(n as u64 / 10) * 10 + rng.below(layers)) as usize;
            if target < n {
                let sym = format!("synth_{target}_{}", rng.below(8));
                b = b.import(&sym, Some((target * 8) as u64));
            }
        }
        let rel = format!("kernel/drivers/d{:02}/synth-{i}.ko", i % 100);
        let path = moddir.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
        std::fs::write(&path, b.build()).expect("write module");
        order.push_str(&rel);
        order.push('\n');
    }
    std::fs::write(moddir.join("modules.order"), order).expect("modules.order");
    std::fs::write(moddir.join("modules.builtin"), "").expect("modules.builtin");
    std::fs::write(moddir.join("modules.builtin.modinfo"), "").expect("builtin.modinfo");
    std::fs::write(root.join("VERSION"), format!("{VERSION}\n")).expect("VERSION");
    // The stamp scripts/fetch-trees leaves on a finished tree, which scripts/bench looks for.
    std::fs::write(root.join(".complete"), b"").expect(".complete");
}

#[test]
#[ignore = "writes large trees into the cache; run by hand before scripts/bench"]
fn generate_scaling_trees() {
    for n in [1000, 5000, 20000] {
        write_tree(n);
    }
}
