//! The binary indexes our depmod writes answer lookups the way libkmod asks them: read back
//! with the crate's own index reader (exact lookups for modules.dep.bin and
//! modules.builtin.bin, fnmatch-style wildcard lookups for the alias and symbol indexes).

use kmod_index::IndexReader;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::inputs::real_tree_or_skip;
use crate::support::sample_root;

fn run_depmod(root: &Path, version: &str, out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_depmod"))
        .arg("-b")
        .arg(root)
        .arg("-o")
        .arg(out)
        .arg(version)
        .status()
        .expect("run depmod");
    assert!(status.success(), "depmod failed on {}", root.display());
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text_lines(dir: &Path, name: &str) -> Vec<String> {
    String::from_utf8(read(dir, name))
        .expect("ascii text")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every modules.dep line is the value of its module's name in modules.dep.bin; every
/// `alias symbol:` line is found by a wildcard lookup of modules.symbols.bin.
fn check_dep_and_symbols(out: &Path) {
    let dep_bin = read(out, "modules.dep.bin");
    let dep = IndexReader::new(&dep_bin).expect("modules.dep.bin header");
    let lines = text_lines(out, "modules.dep");
    assert!(!lines.is_empty());
    for line in &lines {
        let path = line.split(':').next().unwrap();
        let file = path.rsplit('/').next().unwrap();
        let name: String = file
            .split('.')
            .next()
            .unwrap()
            .chars()
            .map(|c| if c == '-' { '_' } else { c })
            .collect();
        let value = dep.lookup(name.as_bytes()).expect("lookup");
        assert_eq!(value.as_deref(), Some(line.as_bytes()), "{name}");
    }
    assert_eq!(dep.lookup(b"no_such_module").expect("lookup"), None);

    let sym_bin = read(out, "modules.symbols.bin");
    let syms = IndexReader::new(&sym_bin).expect("modules.symbols.bin header");
    for line in text_lines(out, "modules.symbols").iter().skip(1) {
        let mut parts = line.split(' ');
        assert_eq!(parts.next(), Some("alias"));
        let key = parts.next().unwrap();
        let module = parts.next().unwrap();
        let found = syms.lookup_wildcard(key.as_bytes()).expect("lookup");
        assert_eq!(found.len(), 1, "{key}");
        assert_eq!(found[0].1, module.as_bytes(), "{key}");
    }
}

#[test]
fn sample_tree_indexes_answer_lookups() {
    let out = tempfile::tempdir().expect("tempdir");
    run_depmod(&sample_root(), "1.0.0-sample", out.path());
    let dir = out.path().join("lib/modules/1.0.0-sample");
    check_dep_and_symbols(&dir);

    // Device strings match the stored alias patterns, as modprobe asks them.
    let alias_bin = read(&dir, "modules.alias.bin");
    let aliases = IndexReader::new(&alias_bin).expect("modules.alias.bin header");
    let modules = |query: &str| -> Vec<String> {
        aliases
            .lookup_wildcard(query.as_bytes())
            .expect("lookup")
            .into_iter()
            .map(|(_, v)| String::from_utf8(v).unwrap())
            .collect()
    };
    assert_eq!(
        modules("pci:v00001B36d00000011sv00001AF4sd00001100bc02sc00i00"),
        ["dummy_eth"]
    );
    assert_eq!(
        modules("pci:v00001B36d00000012sv00001AF4sd00001100bc02sc00i00"),
        Vec::<String>::new()
    );
    assert_eq!(
        modules("mdio:00000000000100010000000000011010"),
        ["sample_phy"]
    );
    assert_eq!(modules("fs_samplefs"), ["sample_fs"]);
    // Dashes are stored as underscores and looked up the same way.
    assert_eq!(modules("platform:sample_led_v2"), ["sample_led"]);

    // Built-in modules: exact lookups of names, wildcard lookups of their aliases.
    let builtin_bin = read(&dir, "modules.builtin.bin");
    let builtin = IndexReader::new(&builtin_bin).expect("modules.builtin.bin header");
    assert_eq!(builtin.lookup(b"ext4").expect("lookup"), Some(Vec::new()));
    assert_eq!(builtin.lookup(b"sample_fs").expect("lookup"), None);
    let balias_bin = read(&dir, "modules.builtin.alias.bin");
    let balias = IndexReader::new(&balias_bin).expect("modules.builtin.alias.bin header");
    let found = balias.lookup_wildcard(b"crypto_crc32c").expect("lookup");
    assert_eq!(found, vec![(0, b"crc32c_generic".to_vec())]);
}

/// On a real Debian tree, when it has been fetched (`scripts/fetch-trees cloud-amd64`):
/// every module and every symbol of the text files is found in the binary indexes, and every
/// alias pattern, used as a query, finds at least its own module.
#[test]
fn real_tree_indexes_answer_lookups() {
    let Some(tree) = real_tree_or_skip("cloud-amd64") else {
        return;
    };
    let version = tree.version.as_str();
    let out = tempfile::tempdir().expect("tempdir");
    run_depmod(&tree.root, version, out.path());
    let dir = out.path().join("lib/modules").join(version);
    check_dep_and_symbols(&dir);

    let alias_bin = read(&dir, "modules.alias.bin");
    let aliases = IndexReader::new(&alias_bin).expect("modules.alias.bin header");
    let mut by_pattern: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text_lines(&dir, "modules.alias").iter().skip(1) {
        let mut parts = line.splitn(3, ' ');
        parts.next();
        let pattern = parts.next().unwrap().to_owned();
        let module = parts.next().unwrap().to_owned();
        by_pattern.entry(pattern).or_default().push(module);
    }
    assert!(by_pattern.len() > 1000);
    for (pattern, modules) in &by_pattern {
        // A pattern matches itself when it has no bracket expression; normalised like kmod.
        if pattern.contains('[') || pattern.contains('\\') {
            continue;
        }
        let query = pattern.replace('-', "_");
        let found: Vec<Vec<u8>> = aliases
            .lookup_wildcard(query.as_bytes())
            .expect("lookup")
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        for m in modules {
            assert!(
                found.iter().any(|v| v == m.as_bytes()),
                "{pattern}: {m} not among {} results",
                found.len()
            );
        }
    }
}
