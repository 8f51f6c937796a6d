//! The scan cache (`--cache`, `DEPMOD_CACHE=1`): what scanning each module file yielded, keyed
//! by the file's identity, so that a rerun on an unchanged module skips reading and decoding
//! it.
//!
//! Only the scan is cached. Linking, ordering and rendering always run on every module's
//! facts, so the outputs are those of a run without the cache whatever changed. A scan result
//! depends on the file's content alone (no option changes what a scan yields: `-P` is applied
//! when linking, CRCs are always read), so the key is the identity of the content:
//! device, inode, size, modification and change times to the nanosecond.
//!
//! The cache is never trusted blindly:
//! * its header names the format, this program's version and the host architecture; any
//!   other value and the cache is ignored and rebuilt;
//! * a CRC-32 covers every byte after the header, and every record is decoded with bounds
//!   checks (a record that does not decode is a miss);
//! * a file whose change time is not at least [`SETTLE_SECS`] older than the run is not
//!   stored: a later change within the same timestamp tick could otherwise go unnoticed;
//! * I/O errors are not stored, only what the content itself yields.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "DEPMODSC" format:u32 taglen:u8 tag count:u32 bodylen:u64 crc32(body):u32 body
//! body = count × ( dev:u64 ino:u64 size:u64 mtime:i64 mtime_ns:u32 ctime:i64 ctime_ns:u32
//!                  len:u32 record[len] )
//! ```

use crate::elf::{ElfFacts, Export, Import, Str};
use crate::module::{LoadError, Scanned};
use rustc_hash::FxHashMap as HashMap;

/// The cache's file name in the output directory (`modules.`-prefixed, so that distribution
/// cleanup of `modules.*` removes it).
pub const FILE_NAME: &str = "modules.scan-cache";

/// Files whose change time is less than this many seconds before the run are not stored
/// (covers filesystems with 1 or 2 second timestamps).
pub const SETTLE_SECS: i64 = 2;

const MAGIC: &[u8; 8] = b"DEPMODSC";
const FORMAT: u32 = 1;
const HEAD_FIXED: usize = 8 + 4 + 1;

/// What a cache must have been written by: this program's version and the host.
fn tag() -> String {
    format!(
        "depmod-rs {} {}-{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        usize::BITS,
        if cfg!(target_endian = "little") {
            "le"
        } else {
            "be"
        }
    )
}

/// The identity of a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_ns: u32,
    /// Change time, seconds.
    pub ctime: i64,
    /// Change time, nanoseconds.
    pub ctime_ns: u32,
}

impl Identity {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
            ctime: meta.ctime(),
            ctime_ns: meta.ctime_nsec().clamp(0, 999_999_999) as u32,
        }
    }

    /// Whether the file last changed at least [`SETTLE_SECS`] before `now` (seconds since the
    /// epoch), so that any later change gets a different change time.
    pub fn settled(&self, now: i64) -> bool {
        self.ctime < now - SETTLE_SECS
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Option<Identity> {
        Some(Identity {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime: r.u64()? as i64,
            mtime_ns: r.u32()?,
            ctime: r.u64()? as i64,
            ctime_ns: r.u32()?,
        })
    }
}

/// A loaded cache: the file's bytes and where each record lies.
#[derive(Debug, Default)]
pub struct Cache {
    data: Vec<u8>,
    records: HashMap<Identity, (usize, usize)>,
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded {
    /// No cache file (the first run with the cache on).
    Missing,
    /// A valid cache.
    Ready(Cache),
    /// A cache from another version of this program or another host: ignored, rebuilt.
    Foreign(String),
    /// A damaged cache: ignored, rebuilt.
    Damaged(&'static str),
    /// The cache could not be read (errno): ignored, and not rewritten.
    Unreadable(i32),
}

/// Load the cache at `path`.
pub fn load(path: &[u8]) -> Loaded {
    match crate::read_file(path) {
        Ok(data) => parse(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::Missing,
        Err(e) => Loaded::Unreadable(crate::diag::errno_of(&e)),
    }
}

/// Check a cache file's bytes and index its records.
pub fn parse(data: Vec<u8>) -> Loaded {
    let mut r = Reader {
        data: &data,
        pos: 0,
    };
    if data.len() < HEAD_FIXED || r.bytes(8) != Some(&MAGIC[..]) {
        return Loaded::Damaged("not a cache file");
    }
    let format = r.u32();
    let tag_len = r.u8().unwrap_or(0) as usize;
    let Some(found_tag) = r.bytes(tag_len) else {
        return Loaded::Damaged("truncated header");
    };
    if format != Some(FORMAT) || found_tag != tag().as_bytes() {
        return Loaded::Foreign(format!(
            "format {} of {}",
            format.unwrap_or(0),
            String::from_utf8_lossy(found_tag)
        ));
    }
    let (Some(count), Some(body_len), Some(crc)) = (r.u32(), r.u64(), r.u32()) else {
        return Loaded::Damaged("truncated header");
    };
    let body_start = r.pos;
    if (data.len() - body_start) as u64 != body_len {
        return Loaded::Damaged("wrong length");
    }
    if crc32fast::hash(&data[body_start..]) != crc {
        return Loaded::Damaged("checksum mismatch");
    }
    let mut records = HashMap::default();
    records.reserve(count.min(1 << 20) as usize);
    for _ in 0..count {
        let Some(id) = Identity::decode(&mut r) else {
            return Loaded::Damaged("truncated record");
        };
        let Some(len) = r.u32() else {
            return Loaded::Damaged("truncated record");
        };
        let start = r.pos;
        if r.bytes(len as usize).is_none() {
            return Loaded::Damaged("truncated record");
        }
        records.insert(id, (start, len as usize));
    }
    if r.pos != data.len() {
        return Loaded::Damaged("trailing bytes");
    }
    Loaded::Ready(Cache { data, records })
}

impl Cache {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the cache holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The encoded record for a file identity.
    pub fn record(&self, id: &Identity) -> Option<&[u8]> {
        self.records
            .get(id)
            .and_then(|&(start, len)| self.data.get(start..start + len))
    }

    /// The scan result stored for a file identity, if any and if it decodes.
    pub fn lookup(&self, id: &Identity) -> Option<Scanned> {
        self.record(id).and_then(decode_record)
    }
}

/// Whether a scan result depends only on the file's content (I/O errors are not stored).
pub fn storable(scanned: &Scanned) -> bool {
    let content = |errno: i32| matches!(errno, libc::EINVAL | libc::ENOEXEC | libc::ENODATA);
    match scanned {
        Ok(facts) => facts.exports.as_ref().err().is_none_or(|&e| content(e)),
        Err(e) => e.decompress.is_some() || content(e.errno),
    }
}

/// Encode one scan result as a record.
pub fn encode_record(scanned: &Scanned) -> Vec<u8> {
    let mut out = Vec::new();
    let strs = |out: &mut Vec<u8>, list: &[Str]| {
        put_u32(out, list.len() as u32);
        for s in list {
            let (start, len) = s.parts();
            put_u32(out, start);
            put_u32(out, len);
        }
    };
    match scanned {
        Err(e) => {
            out.push(1);
            out.extend_from_slice(&e.errno.to_le_bytes());
            match &e.decompress {
                Some(m) => {
                    put_u32(&mut out, m.len() as u32);
                    out.extend_from_slice(m);
                }
                None => put_u32(&mut out, u32::MAX),
            }
        }
        Ok(f) => {
            out.reserve(f.strings.len() + 16 * f.imports.len() + 64);
            out.push(0);
            put_u32(&mut out, f.strings.len() as u32);
            out.extend_from_slice(&f.strings);
            strs(&mut out, &f.aliases);
            strs(&mut out, &f.softdeps);
            strs(&mut out, &f.weakdeps);
            match &f.exports {
                Ok(list) => {
                    out.push(0);
                    put_u32(&mut out, list.len() as u32);
                    for e in list {
                        let (start, len) = e.name.parts();
                        put_u32(&mut out, start);
                        put_u32(&mut out, len);
                        out.extend_from_slice(&e.crc.to_le_bytes());
                    }
                }
                Err(errno) => {
                    out.push(1);
                    out.extend_from_slice(&errno.to_le_bytes());
                }
            }
            put_u32(&mut out, f.imports.len() as u32);
            for i in &f.imports {
                let (start, len) = i.name.parts();
                put_u32(&mut out, start);
                put_u32(&mut out, len);
                out.extend_from_slice(&i.crc.to_le_bytes());
                out.push(u8::from(i.weak));
            }
        }
    }
    out
}

/// Decode a record; `None` when it is inconsistent in any way.
pub fn decode_record(bytes: &[u8]) -> Option<Scanned> {
    let mut r = Reader {
        data: bytes,
        pos: 0,
    };
    let scanned = match r.u8()? {
        1 => {
            let errno = r.u32()? as i32;
            let decompress = match r.u32()? {
                u32::MAX => None,
                n => Some(r.bytes(n as usize)?.to_vec()),
            };
            Err(LoadError { errno, decompress })
        }
        0 => {
            let n = r.u32()? as usize;
            let strings = r.bytes(n)?.to_vec();
            let check = |start: u32, len: u32| -> Option<Str> {
                (start as usize)
                    .checked_add(len as usize)
                    .filter(|&end| end <= strings.len())
                    .map(|_| Str::from_parts(start, len))
            };
            let strs = |r: &mut Reader<'_>| -> Option<Vec<Str>> {
                let n = r.count(8)?;
                (0..n).map(|_| check(r.u32()?, r.u32()?)).collect()
            };
            let aliases = strs(&mut r)?;
            let softdeps = strs(&mut r)?;
            let weakdeps = strs(&mut r)?;
            let exports = match r.u8()? {
                0 => {
                    let n = r.count(16)?;
                    Ok((0..n)
                        .map(|_| {
                            let name = check(r.u32()?, r.u32()?)?;
                            Some(Export {
                                name,
                                crc: r.u64()?,
                            })
                        })
                        .collect::<Option<Vec<_>>>()?)
                }
                1 => Err(r.u32()? as i32),
                _ => return None,
            };
            let n = r.count(17)?;
            let imports = (0..n)
                .map(|_| {
                    let name = check(r.u32()?, r.u32()?)?;
                    let crc = r.u64()?;
                    let weak = match r.u8()? {
                        0 => false,
                        1 => true,
                        _ => return None,
                    };
                    Some(Import { name, crc, weak })
                })
                .collect::<Option<Vec<_>>>()?;
            Ok(ElfFacts {
                strings,
                aliases,
                softdeps,
                weakdeps,
                exports,
                imports,
            })
        }
        _ => return None,
    };
    (r.pos == bytes.len()).then_some(scanned)
}

/// Build a cache file from records (identity, encoded record), each identity once.
pub fn build<'a>(records: impl IntoIterator<Item = (Identity, &'a [u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut count: u32 = 0;
    let mut seen = rustc_hash::FxHashSet::default();
    for (id, record) in records {
        if !seen.insert(id) {
            continue;
        }
        id.encode(&mut body);
        put_u32(&mut body, record.len() as u32);
        body.extend_from_slice(record);
        count += 1;
    }
    let tag = tag();
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, FORMAT);
    out.push(tag.len() as u8);
    out.extend_from_slice(tag.as_bytes());
    put_u32(&mut out, count);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    put_u32(&mut out, crc32fast::hash(&body));
    out.extend_from_slice(&body);
    out
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// A count of items of at least `item` bytes each, refused when the rest is too short
    /// (so a damaged count cannot make the decoder allocate much).
    fn count(&mut self, item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(item)? <= self.data.len() - self.pos).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_facts() -> ElfFacts {
        let mut f = ElfFacts::default();
        let a = f.intern(b"pci:v00008086d*");
        f.aliases.push(a);
        let s = f.intern(b"pre: foo");
        f.softdeps.push(s);
        let e = f.intern(b"my_export");
        f.exports = Ok(vec![Export {
            name: e,
            crc: 0xdead_beef,
        }]);
        let i = f.intern(b"printk");
        f.imports.push(Import {
            name: i,
            crc: 7,
            weak: true,
        });
        f
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

    #[test]
    fn records_round_trip() {
        let cases: Vec<Scanned> = vec![
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
        ];
        for c in &cases {
            assert_eq!(decode_record(&encode_record(c)).as_ref(), Some(c));
        }
    }

    #[test]
    fn file_round_trip_and_dedup() {
        let r1 = encode_record(&Ok(sample_facts()));
        let r2 = encode_record(&Err(LoadError {
            errno: libc::EINVAL,
            decompress: None,
        }));
        let file = build([(id(1), &r1[..]), (id(2), &r2[..]), (id(1), &r2[..])]);
        let Loaded::Ready(c) = parse(file) else {
            panic!("valid cache rejected")
        };
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(&id(1)), Some(Ok(sample_facts())));
        assert!(c.lookup(&id(3)).is_none());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let r1 = encode_record(&Ok(sample_facts()));
        let file = build([(id(1), &r1[..])]);
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
        let good = encode_record(&Ok(sample_facts()));
        for len in 0..good.len() {
            assert!(decode_record(&good[..len]).is_none(), "prefix {len}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode_record(&long).is_none());
        // A string range past the strings: the alias (start, len) follows the strings.
        let strings_len = sample_facts().strings.len();
        let mut bad = good.clone();
        let at = 1 + 4 + strings_len + 4 + 4;
        bad[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(decode_record(&bad).is_none());
        // A huge count cannot allocate.
        let mut huge = good;
        let at = 1 + 4 + strings_len;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(&huge).is_none());
    }

    #[test]
    fn foreign_tag_is_reported_as_foreign() {
        let mut file = build([]);
        // The tag starts after magic, format and its length byte; change its first byte.
        file[HEAD_FIXED] ^= 0x20;
        assert!(matches!(parse(file), Loaded::Foreign(_)));
        let mut file = build([]);
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
    fn settling() {
        let i = id(1);
        assert!(i.settled(7 + SETTLE_SECS + 1));
        assert!(!i.settled(7 + SETTLE_SECS));
    }
}
