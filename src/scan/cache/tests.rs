//! The cache's unit tests: encoding round trips, staleness, damage.

use super::*;

fn sample_facts() -> ElfFacts {
    let mut f = ElfFacts::default();
    let a = f.intern(b"pci:v00008086d*");
    f.aliases.push(a);
    let s = f.intern(b"pre: foo");
    f.softdeps.push(s);
    let e = f.intern(b"my_export");
    let wide = f.intern(b"wide_export");
    f.exports = Ok(vec![
        Export {
            name: e,
            crc: 0xdead_beef,
        },
        Export {
            name: wide,
            crc: u64::MAX,
        },
    ]);
    let i = f.intern(b"printk");
    f.imports.push(Import {
        name: i,
        crc: 7,
        weak: true,
    });
    let j = f.intern(b"my_export");
    f.imports.push(Import {
        name: j,
        crc: 1 << 40,
        weak: false,
    });
    f
}

/// A scan result as plain values (string ranges resolved), for comparisons.
type View = std::result::Result<
    (
        [Vec<Vec<u8>>; 3],
        std::result::Result<Vec<(Vec<u8>, u64)>, i32>,
        Vec<(Vec<u8>, u64, bool)>,
    ),
    LoadError,
>;

fn view(s: &Scanned) -> View {
    let f = match s {
        Ok(f) => f,
        Err(e) => return Err(e.clone()),
    };
    let strs = |l: &[Str]| l.iter().map(|&x| f.str(x).to_vec()).collect();
    Ok((
        [strs(&f.aliases), strs(&f.softdeps), strs(&f.weakdeps)],
        f.exports
            .as_ref()
            .map(|l| l.iter().map(|e| (f.str(e.name).to_vec(), e.crc)).collect())
            .map_err(|&e| e),
        f.imports
            .iter()
            .map(|i| (f.str(i.name).to_vec(), i.crc, i.weak))
            .collect(),
    ))
}

fn id(n: u64) -> Identity {
    Identity {
        dev: 1,
        ino: n,
        size: 100 + n,
        mtime: 5,
        mtime_ns: 6,
        ctime: 7,
        ctime_ns: 8,
    }
}

fn cases() -> Vec<Scanned> {
    vec![
        Ok(sample_facts()),
        Ok(ElfFacts {
            exports: Err(libc::ENODATA),
            ..ElfFacts::default()
        }),
        Err(LoadError {
            errno: libc::ENOEXEC,
            decompress: None,
        }),
        Err(LoadError {
            errno: libc::EINVAL,
            decompress: Some(b"xz: File is corrupt\n".to_vec()),
        }),
    ]
}

fn entries(cases: &[Scanned]) -> Vec<Entry<'_>> {
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| (id(i as u64), c, None))
        .collect()
}

fn ready(file: Vec<u8>) -> Cache {
    match parse(file) {
        Loaded::Ready(c) => c,
        other => panic!("valid cache rejected: {other:?}"),
    }
}

#[test]
fn results_round_trip_through_a_file() {
    let cases = cases();
    let file = build(None, &entries(&cases));
    let c = ready(file);
    assert_eq!(c.len(), cases.len());
    for (i, case) in cases.iter().enumerate() {
        let (got, _) = c.lookup(&id(i as u64)).expect("stored");
        assert_eq!(view(&got), view(case));
    }
    assert!(c.lookup(&id(99)).is_none());
    assert!(!c.contains(&id(99)));
}

#[test]
fn identities_are_stored_once_and_strings_shared() {
    let one = Ok(sample_facts());
    let file = build(
        None,
        &[
            (id(1), &one, None),
            (id(2), &one, None),
            (id(1), &one, None),
        ],
    );
    let c = ready(file.clone());
    assert_eq!(c.len(), 2);
    // "my_export" is both exported and imported, in two modules: stored once.
    let n = file.windows(9).filter(|w| w == b"my_export").count();
    assert_eq!(n, 1);
}

#[test]
fn every_truncation_and_bit_flip_is_rejected() {
    let cases = cases();
    let file = build(None, &entries(&cases));
    for len in 0..file.len() {
        assert!(
            !matches!(parse(file[..len].to_vec()), Loaded::Ready(_)),
            "truncated at {len}"
        );
    }
    for byte in 0..file.len() {
        for bit in 0..8 {
            let mut f = file.clone();
            f[byte] ^= 1 << bit;
            assert!(
                !matches!(parse(f), Loaded::Ready(_)),
                "bit {bit} of byte {byte}"
            );
        }
    }
}

#[test]
fn inconsistent_records_do_not_decode() {
    let strings: Vec<&[u8]> = vec![b"a", b"b"];
    let lookup = |i: usize| strings.get(i).copied();
    let mut interner = Interner::default();
    let mut good = Vec::new();
    let facts = Ok(sample_facts());
    encode_record(&mut good, &facts, &mut interner);
    let table = interner.order.clone();
    let full = |i: usize| table.get(i).copied();
    assert_eq!(
        view(&decode_record(&good, &full).expect("decodes")),
        view(&facts)
    );
    for len in 0..good.len() {
        assert!(decode_record(&good[..len], &full).is_none(), "prefix {len}");
    }
    let mut long = good.clone();
    long.push(0);
    assert!(decode_record(&long, &full).is_none());
    // String ids beyond the table.
    assert!(decode_record(&good, &lookup).is_none());
    // A huge count cannot allocate: [facts, naliases = 2^63].
    let mut huge = vec![0u8];
    huge.extend_from_slice(&[0xff; 8]);
    huge.push(0x7f);
    assert!(decode_record(&huge, &full).is_none());
    // An unknown kind.
    assert!(decode_record(&[2], &full).is_none());
    // One long string named many times: refused, not copied 100,000 times.
    let long = vec![b'x'; 1 << 20];
    let long_table = |i: usize| (i == 0).then_some(&long[..]);
    let mut hostile = vec![0u8];
    put_var(&mut hostile, 100_000 << 20);
    put_var(&mut hostile, 100_000);
    hostile.extend(std::iter::repeat_n(0u8, 100_000));
    assert!(decode_record(&hostile, &long_table).is_none());
    // The same with a stated size that fits the record: the copies stop at the size.
    let mut hostile = vec![0u8];
    put_var(&mut hostile, 2 << 20);
    put_var(&mut hostile, 100_000);
    hostile.extend(std::iter::repeat_n(0u8, 100_000));
    assert!(decode_record(&hostile, &long_table).is_none());
}

#[test]
fn a_few_changes_append_and_many_rebuild() {
    // Sixteen modules; then module 0 changes (a fresh result under a new identity).
    let base: Vec<Scanned> = (0..16)
        .map(|i| {
            let mut f = sample_facts();
            let a = f.intern(format!("alias-{i}").as_bytes());
            f.aliases.push(a);
            Ok(f)
        })
        .collect();
    let old = ready(build(None, &entries(&base)));
    assert_eq!(old.dirty, 0);
    let mut changed = sample_facts();
    let a = changed.intern(b"a-new-alias");
    changed.aliases.push(a);
    let changed = Ok(changed);
    let looked: Vec<(Scanned, &[u8])> = (1..16)
        .map(|i| old.lookup(&id(i)).expect("stored"))
        .collect();
    let mut next: Vec<Entry<'_>> = vec![(id(100), &changed, None)];
    next.extend(
        looked
            .iter()
            .enumerate()
            .map(|(i, (s, raw))| (id(i as u64 + 1), s, Some(*raw))),
    );
    let file = build(Some(&old), &next);
    let new = ready(file.clone());
    // One added, one dropped: appended, not rebuilt.
    assert_eq!(new.dirty, 2);
    assert!(file.windows(11).any(|w| w == b"a-new-alias"));
    assert!(!new.contains(&id(0)));
    assert_eq!(view(&new.lookup(&id(100)).expect("new").0), view(&changed));
    for i in 1..16 {
        assert_eq!(
            view(&new.lookup(&id(i)).expect("kept").0),
            view(&base[i as usize])
        );
    }
    // The string of the dropped module stays until a rebuild.
    assert!(file.windows(7).any(|w| w == b"alias-0"));
    // Past an eighth of the records changed since the last rebuild: rebuilt, compact.
    let again = build(Some(&new), &next[..1]);
    let rebuilt = ready(again.clone());
    assert_eq!(rebuilt.dirty, 0);
    assert_eq!(rebuilt.len(), 1);
    assert!(!again.windows(7).any(|w| w == b"alias-0"));
}

/// A change of the encoding must come with a new [`FORMAT`]: update both together.
#[test]
fn layout_is_pinned() {
    let cases = cases();
    let file = build(None, &entries(&cases));
    let body_start = HEAD_FIXED + tag().len() + 20;
    let body = &file[body_start..];
    assert_eq!(
        (FORMAT, body.len(), crc32fast::hash(body)),
        (4, 324, 3704026146),
        "the cache layout changed: bump FORMAT and update this line"
    );
}

#[test]
fn varints() {
    for v in [0usize, 1, 127, 128, 300, 1 << 20, usize::MAX] {
        let mut b = Vec::new();
        put_var(&mut b, v);
        let mut r = Reader { data: &b, pos: 0 };
        assert_eq!(r.var(), Some(v));
        assert_eq!(r.pos, b.len());
    }
    // Eleven continuation bytes: more than 64 bits.
    let b = [0x80u8; 11];
    assert_eq!(Reader { data: &b, pos: 0 }.var(), None);
}

#[test]
fn foreign_tag_is_reported_as_foreign() {
    let mut file = build(None, &[]);
    // The tag starts after magic, format and its length byte; change its first byte.
    file[HEAD_FIXED] ^= 0x20;
    assert!(matches!(parse(file), Loaded::Foreign(_)));
    let mut file = build(None, &[]);
    file[8] = 99;
    assert!(matches!(parse(file), Loaded::Foreign(_)));
}

#[test]
fn only_content_results_are_storable() {
    assert!(storable(&Ok(sample_facts())));
    assert!(!storable(&Err(LoadError {
        errno: libc::EIO,
        decompress: None
    })));
    assert!(!storable(&Ok(ElfFacts {
        exports: Err(libc::EIO),
        ..ElfFacts::default()
    })));
    assert!(storable(&Err(LoadError {
        errno: libc::ENOEXEC,
        decompress: None
    })));
}

#[test]
fn settling_elsewhere_waits_whole_seconds() {
    let i = id(1);
    let remote = |secs, nanos| Settle::at(secs, nanos, false);
    assert!(i.settled(&remote(7 + SETTLE_SECS + 1, 0)));
    assert!(!i.settled(&remote(7 + SETTLE_SECS, 999_999_999)));
}

#[test]
fn settling_locally_waits_for_the_next_tick_of_the_granularity() {
    let at = |ctime, ctime_ns| Identity {
        ctime,
        ctime_ns,
        ..id(1)
    };
    let local = |secs, nanos| Settle::at(secs, nanos, true);
    // Nanosecond times: any later start will do.
    assert!(at(7, 8).settled(&local(7, 9)));
    assert!(!at(7, 8).settled(&local(7, 8)));
    assert!(!at(7, 8).settled(&local(7, 7)));
    // A time of whole milliseconds may come from a millisecond filesystem: a later change
    // within the same millisecond would get the same time.
    assert!(!at(7, 3_000_000).settled(&local(7, 3_999_999)));
    assert!(at(7, 3_000_000).settled(&local(7, 4_000_000)));
    // Whole seconds: the next second.
    assert!(!at(7, 0).settled(&local(7, 999_999_999)));
    assert!(at(7, 0).settled(&local(8, 0)));
    // The same rule across seconds.
    assert!(at(7, 999_999_999).settled(&local(8, 0)));
    assert!(!at(8, 100).settled(&local(7, 999_999_999)));
}
