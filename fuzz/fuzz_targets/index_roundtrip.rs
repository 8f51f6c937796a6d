//! Index writer/reader: a fuzzer-chosen set of (key, value, priority) triples is built with
//! `IndexBuilder`, written, read back with `IndexReader` and compared with a model. The raw
//! input is also fed to `IndexReader` directly, which must never panic.
#![no_main]
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

#[derive(Arbitrary, Debug)]
struct Triple {
    key: Vec<u8>,
    value: Vec<u8>,
    priority: u32,
}

/// What `insert` sees of a string: the bytes before the first NUL.
fn cstr(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |p| &s[..p])
}

fn raw_reader(data: &[u8]) {
    if let Ok(reader) = kmod_index::IndexReader::new(data) {
        let _ = reader.dump();
        let _ = reader.lookup(b"a");
        let _ = reader.lookup(b"");
        let _ = reader.lookup_all(b"pci:v*");
        let _ = reader.lookup_wildcard(b"usb:v1234p5678");
        let _ = reader.lookup_wildcard(b"");
    }
}

fuzz_target!(|data: &[u8]| {
    raw_reader(data);

    let mut u = Unstructured::new(data);
    let Ok(triples) = Vec::<Triple>::arbitrary(&mut u) else {
        return;
    };
    let mut builder = kmod_index::IndexBuilder::new();
    // key -> values in the order the reader must return them.
    let mut model: BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    for t in &triples {
        let (k, v) = (cstr(&t.key), cstr(&t.value));
        let ascii = k.is_ascii() && v.is_ascii();
        let res = builder.insert(&t.key, &t.value, t.priority);
        if !ascii {
            assert!(res.is_err(), "non-ASCII accepted: {t:?}");
            continue;
        }
        let dup = res.expect("ASCII insert must succeed");
        let list = model.entry(k.to_vec()).or_default();
        assert_eq!(
            dup,
            list.iter().any(|(_, x)| x == v),
            "duplicate flag for {t:?}"
        );
        let pos = list.partition_point(|(p, _)| *p < t.priority);
        list.insert(pos, (t.priority, v.to_vec()));
    }

    let bytes = builder.to_bytes().expect("a small index fits");
    let reader = kmod_index::IndexReader::new(&bytes).expect("own index must parse");
    let dump = reader.dump().expect("own index must dump");
    let expected: Vec<(Vec<u8>, u32, Vec<u8>)> = model
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |(p, v)| (k.clone(), *p, v.clone())))
        .collect();
    assert_eq!(dump, expected);
    for (k, vs) in &model {
        assert_eq!(
            reader.lookup(k).expect("lookup"),
            Some(vs[0].1.clone()),
            "key {k:?}"
        );
        assert_eq!(reader.lookup_all(k).expect("lookup_all"), *vs, "key {k:?}");
    }
    raw_reader(&bytes);
});
