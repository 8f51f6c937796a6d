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
//! * a file whose change time is not older than the run's start, cut down to the
//!   filesystem's timestamp granularity ([`SETTLE_SECS`] where the times may come from
//!   another machine's clock), is not stored: a later change within the same timestamp tick
//!   could otherwise go unnoticed;
//! * I/O errors are not stored, only what the content itself yields.
//!
//! Layout (fixed-size integers little-endian; `v` is an unsigned LEB128 varint):
//!
//! ```text
//! "DEPMODSC" format:u32 taglen:u8 tag count:u32 dirty:u32 bodylen:u64 crc:u32 body
//!   (crc: CRC-32 of count, dirty, bodylen and body)
//! body    = nstrings:v (len:v bytes)×nstrings  record×count
//! record  = dev:u64 ino:u64 size:u64 mtime:i64 mtime_ns:u32 ctime:i64 ctime_ns:u32 len:v facts
//! facts   = 0 strbytes:v naliases:v id:v… nsoftdeps:v id:v… nweakdeps:v id:v… exports imports
//!         | 1 errno:v message:v            (a load error; message = string id + 1, or 0)
//! exports = 0 n:v (id<<1|wide):v crc…     | 1 errno:v
//! imports = n:v (id<<2|weak<<1|wide):v crc…          (crc: u32, or u64 when wide)
//! ```
//!
//! Every string (symbol names, alias values, messages) is stored once for the whole cache:
//! a distribution kernel's 200,000 imports name about 23,000 distinct symbols.
//!
//! A rerun that changes a few records keeps the string table and the unchanged records as
//! they are and appends the new records' strings; `dirty` counts the records added or dropped
//! since the last full rebuild, which happens once they pass an eighth of the records
//! (bounding the strings no record uses any more).

use super::facts::{ElfFacts, Export, Import, Str};
use super::module::{LoadError, Scanned};
use rustc_hash::FxHashMap as HashMap;

/// The cache's file name in the output directory (`modules.`-prefixed, so that distribution
/// cleanup of `modules.*` removes it).
pub const FILE_NAME: &str = "modules.scan-cache";

/// On a filesystem whose times may come from another machine's clock (network filesystems,
/// FUSE), files whose change time is less than this many seconds before the run are not
/// stored.
pub const SETTLE_SECS: i64 = 2;

/// Whether a change time is old enough to be a key: any later change of the file must get a
/// different one.
#[derive(Clone, Copy, Debug)]
pub struct Settle {
    /// The time the run started, by the kernel's coarse clock (the one file times come from).
    now: (i64, u32),
    /// Whether the filesystem stamps files with this machine's clock.
    local: bool,
}

impl Settle {
    /// The rule for a run starting now on a filesystem that stamps files with this machine's
    /// clock (`local`) or possibly another's.
    pub fn now(local: bool) -> Settle {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        Settle::at(t.tv_sec, t.tv_nsec.clamp(0, 999_999_999) as u32, local)
    }

    /// The rule for a run that started at `secs`.`nanos`.
    pub fn at(secs: i64, nanos: u32, local: bool) -> Settle {
        Settle {
            now: (secs, nanos),
            local,
        }
    }
}

const MAGIC: &[u8; 8] = b"DEPMODSC";

/// The largest cache file read: far above a real one (3 MB for a distribution kernel of
/// 4,000 modules; the module limit is 65,534).
const MAX_FILE: u64 = 1 << 30;

/// The most string bytes one record may decode to: far above any module's (a few hundred
/// KiB for the largest), below what would wrap a [`Str`] offset.
const MAX_RECORD_STRINGS: usize = 64 << 20;

/// The most string bytes per byte of record (a string id takes at least one byte; real
/// records average about ten).
const STRINGS_PER_RECORD_BYTE: usize = 4096;
/// The layout's version: bump it with any change to the encoding (the
/// `layout_is_pinned` test fails until then), so that no build decodes another's layout.
const FORMAT: u32 = 4;
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

    /// Whether any change of the file after the run started gets a different change time.
    ///
    /// A local filesystem stamps a change with the kernel's coarse clock cut down to its
    /// granularity, a power of ten nanoseconds up to a second. The granularity divides this
    /// change time's nanoseconds, so it is at most the largest power of ten that does; a later
    /// change is stamped at least the start time cut down to that, and differs when this time
    /// lies before it. So a module unpacked a moment before the run (a kernel package's
    /// postinst) is stored. Elsewhere the clock may be another machine's: [`SETTLE_SECS`].
    ///
    /// What no rule on change times sees: a single `write` that overwrites a module in place
    /// with as many bytes, begun before the run and still copying while the module is read
    /// (the time is stamped when the call starts). Installers write a new file and rename it,
    /// or truncate first, which changes the inode or the size.
    pub fn settled(&self, rule: &Settle) -> bool {
        let (secs, nanos) = rule.now;
        if !rule.local {
            return self.ctime < secs - SETTLE_SECS;
        }
        let mut grain = 1_000_000_000;
        while !self.ctime_ns.is_multiple_of(grain) {
            grain /= 10;
        }
        (self.ctime, self.ctime_ns) < (secs, nanos - nanos % grain)
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

/// A loaded cache: the file's bytes, where each string and each record lies.
#[derive(Debug, Default)]
pub struct Cache {
    data: Vec<u8>,
    /// Records added or dropped since the last full rebuild.
    dirty: u32,
    /// Where the string table's entries lie in `data` (after its count).
    table: (usize, usize),
    strings: Vec<(usize, usize)>,
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
    // Never more than MAX_FILE: a cache that large is not one this program wrote.
    match crate::cstd::read_at_most(path, MAX_FILE) {
        Ok((data, None)) => parse(data),
        Ok((_, Some(e))) if e.raw_os_error() == Some(libc::EFBIG) => Loaded::Damaged("too large"),
        Ok((_, Some(e))) => Loaded::Unreadable(crate::diag::errno_of(&e)),
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
    let (Some(count), Some(dirty), Some(body_len), Some(crc)) =
        (r.u32(), r.u32(), r.u64(), r.u32())
    else {
        return Loaded::Damaged("truncated header");
    };
    let body_start = r.pos;
    if (data.len() - body_start) as u64 != body_len {
        return Loaded::Damaged("wrong length");
    }
    if checksum(count, dirty, &data[body_start..]) != crc {
        return Loaded::Damaged("checksum mismatch");
    }
    let Some(nstrings) = r.count(1) else {
        return Loaded::Damaged("truncated string table");
    };
    let table_start = r.pos;
    let mut strings = Vec::with_capacity(nstrings);
    for _ in 0..nstrings {
        let Some(len) = r.var() else {
            return Loaded::Damaged("truncated string table");
        };
        let start = r.pos;
        if r.bytes(len).is_none() {
            return Loaded::Damaged("truncated string table");
        }
        strings.push((start, len));
    }
    let table = (table_start, r.pos);
    let mut records = HashMap::default();
    records.reserve(count.min(1 << 20) as usize);
    for _ in 0..count {
        let Some(id) = Identity::decode(&mut r) else {
            return Loaded::Damaged("truncated record");
        };
        let Some(len) = r.var() else {
            return Loaded::Damaged("truncated record");
        };
        let start = r.pos;
        if r.bytes(len).is_none() {
            return Loaded::Damaged("truncated record");
        }
        records.insert(id, (start, len));
    }
    if r.pos != data.len() {
        return Loaded::Damaged("trailing bytes");
    }
    Loaded::Ready(Cache {
        data,
        dirty,
        table,
        strings,
        records,
    })
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

    /// The identities of the stored records, in no particular order.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.records.keys()
    }

    /// Whether the cache holds a record for a file identity.
    pub fn contains(&self, id: &Identity) -> bool {
        self.records.contains_key(id)
    }

    /// The scan result stored for a file identity, if any and if it decodes, with its
    /// encoded record (for [`build`] to copy).
    pub fn lookup(&self, id: &Identity) -> Option<(Scanned, &[u8])> {
        let &(start, len) = self.records.get(id)?;
        let raw = self.data.get(start..start + len)?;
        let scanned = decode_record(raw, &|i| {
            let &(s, l) = self.strings.get(i)?;
            self.data.get(s..s + l)
        })?;
        Some((scanned, raw))
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

/// Assigns each distinct string an id, in order of first use, from `base` on.
#[derive(Default)]
struct Interner<'a> {
    base: u32,
    ids: HashMap<&'a [u8], u32>,
    order: Vec<&'a [u8]>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, s: &'a [u8]) -> u32 {
        let next = self.base + self.order.len() as u32;
        *self.ids.entry(s).or_insert_with(|| {
            self.order.push(s);
            next
        })
    }
}

/// Encode one scan result as a record, its strings interned.
fn encode_record<'a>(out: &mut Vec<u8>, scanned: &'a Scanned, strings: &mut Interner<'a>) {
    let crc = |out: &mut Vec<u8>, crc: u64| match u32::try_from(crc) {
        Ok(c) => out.extend_from_slice(&c.to_le_bytes()),
        Err(_) => out.extend_from_slice(&crc.to_le_bytes()),
    };
    match scanned {
        Err(e) => {
            out.push(1);
            put_var(out, e.errno as u32 as usize);
            let message = e.decompress.as_deref().map_or(0, |m| strings.id(m) + 1);
            put_var(out, message as usize);
        }
        Ok(f) => {
            out.push(0);
            // The decoder's string buffer size, reserved at once.
            let bytes: usize = [&f.aliases, &f.softdeps, &f.weakdeps]
                .into_iter()
                .flatten()
                .map(|&s| f.str(s).len())
                .chain(f.exports.iter().flatten().map(|e| f.str(e.name).len()))
                .chain(f.imports.iter().map(|i| f.str(i.name).len()))
                .sum();
            put_var(out, bytes);
            for list in [&f.aliases, &f.softdeps, &f.weakdeps] {
                put_var(out, list.len());
                for &s in list.iter() {
                    put_var(out, strings.id(f.str(s)) as usize);
                }
            }
            match &f.exports {
                Ok(list) => {
                    out.push(0);
                    put_var(out, list.len());
                    for e in list {
                        let wide = usize::from(e.crc > u64::from(u32::MAX));
                        put_var(out, (strings.id(f.str(e.name)) as usize) << 1 | wide);
                        crc(out, e.crc);
                    }
                }
                Err(errno) => {
                    out.push(1);
                    put_var(out, *errno as u32 as usize);
                }
            }
            put_var(out, f.imports.len());
            for i in &f.imports {
                let wide = usize::from(i.crc > u64::from(u32::MAX));
                let id = strings.id(f.str(i.name)) as usize;
                put_var(out, id << 2 | usize::from(i.weak) << 1 | wide);
                crc(out, i.crc);
            }
        }
    }
}

/// Decode a record, looking its strings up with `string`; `None` when it is inconsistent in
/// any way.
fn decode_record<'s>(bytes: &[u8], string: &dyn Fn(usize) -> Option<&'s [u8]>) -> Option<Scanned> {
    let mut r = Reader {
        data: bytes,
        pos: 0,
    };
    let scanned = match r.u8()? {
        1 => {
            let errno = i32::try_from(r.var()?).ok()?;
            let decompress = match r.var()? {
                0 => None,
                n => Some(string(n - 1)?.to_vec()),
            };
            Err(LoadError { errno, decompress })
        }
        0 => {
            let mut f = ElfFacts::default();
            // The strings' total size, checked as they are copied: a hostile record naming
            // one long string many times cannot make the decoder allocate more than
            // STRINGS_PER_RECORD_BYTE times its own size (nor past MAX_RECORD_STRINGS).
            let size = r.var()?;
            if size > MAX_RECORD_STRINGS || size / STRINGS_PER_RECORD_BYTE > bytes.len() {
                return None;
            }
            f.strings.reserve_exact(size);
            let add = |f: &mut ElfFacts, id: usize| -> Option<Str> {
                let s = string(id)?;
                (f.strings.len() + s.len() <= size).then(|| f.intern(s))
            };
            let strs = |r: &mut Reader<'_>, f: &mut ElfFacts| -> Option<Vec<Str>> {
                let n = r.count(1)?;
                (0..n).map(|_| add(f, r.var()?)).collect()
            };
            f.aliases = strs(&mut r, &mut f)?;
            f.softdeps = strs(&mut r, &mut f)?;
            f.weakdeps = strs(&mut r, &mut f)?;
            let crc = |r: &mut Reader<'_>, wide: bool| {
                if wide {
                    r.u64()
                } else {
                    r.u32().map(u64::from)
                }
            };
            f.exports = match r.u8()? {
                0 => {
                    let n = r.count(5)?;
                    let mut list = Vec::with_capacity(n);
                    for _ in 0..n {
                        let v = r.var()?;
                        let name = add(&mut f, v >> 1)?;
                        list.push(Export {
                            name,
                            crc: crc(&mut r, v & 1 == 1)?,
                        });
                    }
                    Ok(list)
                }
                1 => Err(i32::try_from(r.var()?).ok()?),
                _ => return None,
            };
            let n = r.count(5)?;
            f.imports.reserve_exact(n);
            for _ in 0..n {
                let v = r.var()?;
                let name = add(&mut f, v >> 2)?;
                f.imports.push(Import {
                    name,
                    crc: crc(&mut r, v & 1 == 1)?,
                    weak: v & 2 == 2,
                });
            }
            if f.strings.len() != size {
                return None;
            }
            Ok(f)
        }
        _ => return None,
    };
    (r.pos == bytes.len()).then_some(scanned)
}

/// One record of a new cache: its identity, the scan result, and its encoded record in the
/// old cache when it came from there.
pub type Entry<'a> = (Identity, &'a Scanned, Option<&'a [u8]>);

/// Build a cache file from its records, each identity once. With the old cache and few
/// changes, its string table and unchanged records are kept as they are (new strings are
/// appended); otherwise everything is encoded afresh.
pub fn build<'a>(old: Option<&'a Cache>, entries: &[Entry<'a>]) -> Vec<u8> {
    let mut seen = rustc_hash::FxHashSet::default();
    let entries: Vec<&Entry<'a>> = entries.iter().filter(|e| seen.insert(e.0)).collect();
    let kept = entries.iter().filter(|e| e.2.is_some()).count();
    let old = old.filter(|o| o.records.len() >= kept);
    let dirty = old.map_or(u64::MAX, |o| {
        let changes = (entries.len() - kept) + (o.records.len() - kept);
        u64::from(o.dirty) + changes as u64
    });
    let incremental = old.filter(|_| dirty.saturating_mul(8) <= entries.len() as u64);

    // Appending: new strings get ids after the old table's (a string already there may be
    // stored again; the rebuild that `dirty` triggers removes such copies).
    let mut strings = Interner {
        base: incremental.map_or(0, |o| o.strings.len() as u32),
        ..Interner::default()
    };
    // Encode what is not copied first: that decides the string table, which comes first.
    let encoded: Vec<Option<Vec<u8>>> = entries
        .iter()
        .map(|(_, scanned, raw)| match (incremental, raw) {
            (Some(_), Some(_)) => None,
            _ => {
                let mut record = Vec::new();
                encode_record(&mut record, scanned, &mut strings);
                Some(record)
            }
        })
        .collect();
    let size = incremental.map_or(0, |o| o.data.len())
        + strings.order.iter().map(|s| s.len() + 2).sum::<usize>()
        + encoded
            .iter()
            .flatten()
            .map(|r| r.len() + 52)
            .sum::<usize>();
    let tag = tag();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, FORMAT);
    out.push(tag.len() as u8);
    out.extend_from_slice(tag.as_bytes());
    let counts_at = out.len();
    out.extend_from_slice(&[0; 20]);
    let body_start = out.len();
    put_var(&mut out, strings.base as usize + strings.order.len());
    if let Some(o) = incremental {
        out.extend_from_slice(&o.data[o.table.0..o.table.1]);
    }
    for s in &strings.order {
        put_var(&mut out, s.len());
        out.extend_from_slice(s);
    }
    for ((id, _, raw), record) in entries.iter().zip(&encoded) {
        let record = match record {
            Some(r) => &r[..],
            None => raw.unwrap_or_default(),
        };
        id.encode(&mut out);
        put_var(&mut out, record.len());
        out.extend_from_slice(record);
    }
    let count = entries.len() as u32;
    let dirty = if incremental.is_some() {
        dirty as u32
    } else {
        0
    };
    let body_len = (out.len() - body_start) as u64;
    let crc = checksum(count, dirty, &out[body_start..]);
    let mut counts = Vec::with_capacity(20);
    put_u32(&mut counts, count);
    put_u32(&mut counts, dirty);
    counts.extend_from_slice(&body_len.to_le_bytes());
    put_u32(&mut counts, crc);
    out[counts_at..body_start].copy_from_slice(&counts);
    out
}

/// The checksum over the header's counts and the body.
fn checksum(count: u32, dirty: u32, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&count.to_le_bytes());
    h.update(&dirty.to_le_bytes());
    h.update(&(body.len() as u64).to_le_bytes());
    h.update(body);
    h.finalize()
}

fn put_var(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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

    /// An unsigned LEB128 number (at most 64 bits, minimal or not).
    fn var(&mut self) -> Option<usize> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return usize::try_from(v).ok();
            }
        }
        None
    }

    /// A count of items of at least `item` bytes each, refused when the rest is too short
    /// (so a damaged count cannot make the decoder allocate much).
    fn count(&mut self, item: usize) -> Option<usize> {
        let n = self.var()?;
        (n.checked_mul(item)? <= self.data.len() - self.pos).then_some(n)
    }
}

#[cfg(test)]
mod tests;
