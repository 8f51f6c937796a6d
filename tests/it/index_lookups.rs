//! The binary indexes our depmod writes answer lookups the way libkmod asks them: read back
//! with the crate's own index reader (exact lookups for modules.dep.bin and
//! modules.builtin.bin, fnmatch-style wildcard lookups for the alias and symbol indexes); and
//! the index crate on its own against kmod 34.2 (builtin indexes, `modprobe -R`).

use kmod_index::{IndexBuilder, IndexReader};
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

/// Module name of a modules.builtin line: basename up to the first `.`, `-` → `_`.
fn builtin_modname(line: &[u8]) -> Vec<u8> {
    let base = line.rsplit(|&b| b == b'/').next().unwrap();
    base.iter()
        .take_while(|&&b| b != b'.')
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// The index writer against kmod 34.2 on its own: modules.builtin.bin and
/// modules.builtin.alias.bin built with `kmod_index::IndexBuilder` from random builtin files
/// equal what kmod writes, and the wildcard reader answers like kmod's `modprobe -R` (which
/// resolves aliases through modules.builtin.alias.bin).
#[test]
fn builtin_indexes_match_kmod_and_modprobe_reads_them_alike() {
    let Some(depmod) = crate::support::inputs::reference_or_skip("builtin indexes against kmod")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let modprobe = tmp.path().join("modprobe");
    let wrapper = std::fs::read_to_string(&depmod).unwrap();
    std::fs::write(
        &modprobe,
        wrapper.replace("--argv0 depmod", "--argv0 modprobe"),
    )
    .unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir(&conf).unwrap();

    let mut rng = test_rng::Rng(0x000D_E90D);
    for round in 0..3 {
        let root = tmp.path().join(format!("root{round}"));
        let dir = root.join("lib/modules/1.0");
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = (0..[20, 500, 3000][round])
            .map(|i| match i % 3 {
                0 => format!("drv-{i}"),
                1 => format!("mod_{i}x"),
                _ => format!("a-b-{i}"),
            })
            .collect();

        // modules.builtin
        let mut builtin = Vec::new();
        let mut want_builtin = IndexBuilder::new();
        for _ in 0..names.len() * 2 {
            let name = rng.pick(&names);
            let line = format!("kernel/drivers/d{}/{name}.ko", rng.below(5));
            builtin.extend_from_slice(line.as_bytes());
            builtin.push(b'\n');
            want_builtin
                .insert(&builtin_modname(line.as_bytes()), b"", 0)
                .unwrap();
        }
        std::fs::write(dir.join("modules.builtin"), &builtin).unwrap();

        // modules.builtin.modinfo
        let prefixes: &[&[u8]] = &[
            b"pci:v",
            b"usb:v",
            b"of:N",
            b"acpi*:",
            b"platform:",
            b"dmi*:",
            b"input:b",
            b"i2c:",
        ];
        let mut modinfo = Vec::new();
        let mut want_alias = IndexBuilder::new();
        let mut aliases = Vec::new();
        for _ in 0..names.len() * 10 {
            let name = rng.pick(&names).clone();
            let key = *rng.pick(&["alias", "alias", "alias", "license", "description"]);
            let mut value = rng.pick(prefixes).to_vec();
            for _ in 0..rng.below(14) {
                match rng.below(40) {
                    0..=3 => value.push(b'*'),
                    4 => value.push(b'?'),
                    5 | 6 => value.extend_from_slice(b"[0-9]"),
                    7 => value.extend_from_slice(b"[a-c-]"),
                    8..=10 => value.push(b'-'),
                    11 => value.push(*rng.pick(b"[].")),
                    _ => value.push(*rng.pick(b"0123456789ABCDEFabc:_")),
                }
            }
            modinfo.extend_from_slice(format!("{name}.{key}=").as_bytes());
            modinfo.extend_from_slice(&value);
            modinfo.push(0);
            if key == "alias"
                && let Some(norm) = depmod::render::alias::normalize_alias(&value)
            {
                want_alias.insert(&norm, name.as_bytes(), 0).unwrap();
                aliases.push(norm);
            }
        }
        std::fs::write(dir.join("modules.builtin.modinfo"), &modinfo).unwrap();

        let st = Command::new(&depmod)
            .arg("-b")
            .arg(&root)
            .arg("1.0")
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let got_builtin = std::fs::read(dir.join("modules.builtin.bin")).unwrap();
        assert_eq!(
            got_builtin,
            want_builtin.to_bytes().unwrap(),
            "modules.builtin.bin, round {round}"
        );
        let got_alias = std::fs::read(dir.join("modules.builtin.alias.bin")).unwrap();
        let mine = want_alias.to_bytes().unwrap();
        assert_eq!(got_alias, mine, "modules.builtin.alias.bin, round {round}");
        eprintln!(
            "round {round}: builtin.bin {} bytes, builtin.alias.bin {} bytes ({} aliases): identical",
            got_builtin.len(),
            got_alias.len(),
            aliases.len()
        );

        // Wildcard lookups against libkmod: queries made from stored aliases.
        let r = IndexReader::new(&mine).unwrap();
        let queries = if round == 0 { 30 } else { 60 };
        let mut nonempty = 0;
        for _ in 0..queries {
            let a = rng.pick(&aliases).clone();
            let mut q = Vec::new();
            let mut in_bracket = false;
            for &c in &a {
                match c {
                    b'[' => in_bracket = true,
                    b']' => {
                        in_bracket = false;
                        q.push(*rng.pick(b"0129ab"));
                    }
                    _ if in_bracket => {}
                    b'*' => q.extend((0..rng.below(3)).map(|_| *rng.pick(b"0A:_b"))),
                    b'?' => q.push(*rng.pick(b"0A:_b")),
                    b'.' => q.push(b'.'),
                    c => q.push(if rng.below(15) == 0 { b'7' } else { c }),
                }
            }
            let want: Vec<Vec<u8>> = r
                .lookup_wildcard(&q)
                .unwrap()
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            let out = Command::new("sh")
                .arg(&modprobe)
                .arg("-C")
                .arg(&conf)
                .arg("-d")
                .arg(&root)
                .arg("-S")
                .arg("1.0")
                .arg("-R")
                .arg(String::from_utf8(q.clone()).unwrap())
                .output()
                .unwrap();
            let got: Vec<Vec<u8>> = out
                .stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            nonempty += usize::from(!want.is_empty());
            assert_eq!(got, want, "query {:?}", String::from_utf8_lossy(&q));
        }
        eprintln!("round {round}: {queries} modprobe -R lookups agree ({nonempty} non-empty)");
    }
}
