//! The scan cache's reader: `cache::parse` on a file whose header (format, tag, counts, CRC) is
//! made valid around the fuzzed body, so that the fuzzer reaches the string table and record
//! decoding instead of stopping at the checksum. Every stored record is looked up; a cache
//! that loads is rebuilt incrementally from itself and must load again with equal results.
//! Must never panic.
#![no_main]
use depmod::scan::cache::{self, Loaded};
use libfuzzer_sys::fuzz_target;

/// The header of a valid, empty cache up to its counts (magic, format, tag).
fn header_prefix() -> Vec<u8> {
    let empty = cache::build(None, &[]);
    // count:u32 dirty:u32 bodylen:u64 crc:u32, then a one-byte body (no strings).
    empty[..empty.len() - 21].to_vec()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        let _ = cache::parse(data.to_vec());
        return;
    }
    let (counts, body) = data.split_at(8);
    let count = u32::from_le_bytes(counts[..4].try_into().unwrap()) % 4096;
    let dirty = u32::from_le_bytes(counts[4..].try_into().unwrap());
    let mut file = header_prefix();
    file.extend_from_slice(&count.to_le_bytes());
    file.extend_from_slice(&dirty.to_le_bytes());
    file.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&count.to_le_bytes());
    h.update(&dirty.to_le_bytes());
    h.update(&(body.len() as u64).to_le_bytes());
    h.update(body);
    file.extend_from_slice(&h.finalize().to_le_bytes());
    file.extend_from_slice(body);
    let Loaded::Ready(c) = cache::parse(file) else {
        return;
    };
    let ids: Vec<cache::Identity> = c.identities().copied().collect();
    let found: Vec<_> = ids.iter().filter_map(|id| c.lookup(id).map(|l| (*id, l))).collect();
    let entries: Vec<cache::Entry<'_>> = found
        .iter()
        .map(|(id, (scanned, raw))| (*id, scanned, Some(*raw)))
        .collect();
    for old in [Some(&c), None] {
        let rebuilt = cache::build(old, &entries);
        let Loaded::Ready(again) = cache::parse(rebuilt) else {
            panic!("a rebuilt cache does not load");
        };
        assert_eq!(again.len(), entries.len());
        for (id, (scanned, _)) in &found {
            let (got, _) = again.lookup(id).expect("rebuilt record decodes");
            // Compare as plain values: string offsets may differ.
            assert_eq!(format_scanned(&got), format_scanned(scanned));
        }
    }
});

fn format_scanned(s: &depmod::scan::Scanned) -> String {
    match s {
        Err(e) => format!("{e:?}"),
        Ok(f) => {
            let strs = |l: &[depmod::scan::Str]| {
                l.iter().map(|&x| f.str(x).to_vec()).collect::<Vec<_>>()
            };
            let exports = f
                .exports
                .as_ref()
                .map(|l| l.iter().map(|e| (f.str(e.name).to_vec(), e.crc)).collect::<Vec<_>>());
            let imports: Vec<_> = f
                .imports
                .iter()
                .map(|i| (f.str(i.name).to_vec(), i.crc, i.weak))
                .collect();
            format!(
                "{:?} {:?} {:?} {exports:?} {imports:?}",
                strs(&f.aliases),
                strs(&f.softdeps),
                strs(&f.weakdeps)
            )
        }
    }
}
