//! A compressed module too large to keep decoded, read as a sparse image: the stream is
//! decoded again, streaming, keeping only the byte ranges the ELF reader reads (section
//! headers, section names, `.modinfo`, the symbol tables, `__versions`, the CRC sections,
//! `__ksymtab_strings`), and [`elf::read_facts`] reads them through [`Source`] as it reads any
//! image.
//!
//! What is needed is known only by reading: the section headers usually come last in the
//! file, after the sections they describe, and the CRC sections are named by the symbol
//! table. So the image is read in passes, each decoding the whole stream:
//!
//! 1. keep the ELF header, the section header table it points to and the 1 MiB before it
//!    (where the section-name table and, in most modules, the symbol tables sit); learn the
//!    decoded size (a stream that fails to decode fails here, with the decoder's message);
//! 2. read the facts from what is kept. A read outside it is recorded and answered with
//!    zeros, so that the reading goes on and records everything it would read, then the
//!    next pass keeps all of that (plus, the first time, every small section: the CRC
//!    tables, so that a module needs only two passes);
//! 3. when a reading recorded nothing, its result is the module's: every byte it read was
//!    the image's own.
//!
//! Each pass reserves what it keeps from the shared budget before it starts; the kept
//! ranges are limited ([`Limits::sparse_max`]: a module needing more is reported as too
//! large), and a later pass must decode to the same size from the same compressed bytes (a
//! file that changed in between is EINVAL, as for a module cut short while read).

use super::budget::Budget;
use super::compressed::{self, CHUNK, HEAD_LEN, Hints, INPUT_BUF, Input, Limits, Trace};
use super::elf;
use super::module::{LoadError, Scanned};
use super::source::{Buf, Source};
use std::cell::{Cell, RefCell};
use std::io::Read;

/// The bytes before the section header table that the first pass keeps.
pub const BEFORE_TABLE: u64 = 1 << 20;
/// The largest section header table the first pass keeps (65,535 headers of 64 bytes).
const TABLE_MAX: u64 = 65_535 * 64;
/// Sections at most this large are kept on speculation by the second pass, up to
/// `SPECULATE_TOTAL` bytes together.
const SPECULATE_SECTION: u64 = 64 << 10;
const SPECULATE_TOTAL: u64 = 4 << 20;
/// Passes after the first before reading gives up (each keeps what the previous one lacked:
/// the dependencies are at most three deep).
const MAX_PASSES: u32 = 8;

/// Read the facts of a compressed module through a sparse image.
pub fn read(
    input: Input,
    hints: &Hints,
    limits: &Limits,
    budget: &Budget,
    trace: &mut Trace,
) -> Scanned {
    let kind = hints.kind;
    let fixed = hints.decoder_memory() + (CHUNK + INPUT_BUF) as u64;
    let mut _grant = budget.acquire(fixed + HEAD_LEN as u64 + BEFORE_TABLE + TABLE_MAX);
    trace.decodes += 1;
    let first = pass(input, hints, None)?;
    let (size, digest) = (first.size, first.digest);
    let mut kept = first.kept;
    for round in 0..MAX_PASSES {
        let image = SparseImage::new(size, kept, limits.sparse_max);
        let facts = elf::read_facts(&image);
        let misses = image.misses.take();
        if misses.is_empty() {
            return facts.map_err(LoadError::errno);
        }
        if image.oversize.get() {
            return Err(compressed::too_large(kind));
        }
        let mut wanted: Vec<(u64, u64)> = image
            .kept
            .iter()
            .map(|(start, data)| (*start, start + data.len() as u64))
            .chain(misses.iter().map(|&(offset, len)| (offset, offset + len)))
            .collect();
        if round == 0 {
            wanted.extend(speculate(&image));
        }
        let wanted = merge(wanted);
        let total: u64 = wanted.iter().map(|(start, end)| end - start).sum();
        if total > limits.sparse_max {
            return Err(compressed::too_large(kind));
        }
        drop(image);
        drop(_grant);
        _grant = budget.acquire(fixed + total);
        trace.decodes += 1;
        let next = pass(input, hints, Some(&wanted))?;
        if next.size != size || next.digest != digest {
            // Not the stream the first pass read.
            return Err(LoadError::errno(libc::EINVAL));
        }
        kept = next.kept;
    }
    Err(LoadError::errno(libc::EINVAL))
}

/// What one pass over the stream found: the decoded size, the digest of the compressed
/// bytes read (files), the kept ranges.
struct Pass {
    size: u64,
    digest: Option<u32>,
    kept: Vec<(u64, Vec<u8>)>,
}

/// Decode the whole stream, keeping the `plan` ranges (sorted, disjoint), or for the first
/// pass (`None`) the header, the section header table and what precedes it.
fn pass(input: Input, hints: &Hints, plan: Option<&[(u64, u64)]>) -> Result<Pass, LoadError> {
    let kind = hints.kind;
    let io = |e: std::io::Error| compressed::decode_error(kind, &e);
    let ((size, kept), digest) = input.with_reader(|r| {
        let mut dec = compressed::decoder(kind, r, Some(hints.window)).map_err(io)?;
        let mut chunk = vec![0u8; CHUNK];
        let mut pos = 0u64;
        let mut capture = match plan {
            Some(plan) => Capture::new(plan),
            None => {
                let n = read_full(&mut *dec, &mut chunk[..HEAD_LEN]).map_err(io)?;
                let head = &chunk[..n];
                if compressed::not_elf(head) {
                    return Err(LoadError::errno(libc::ENOEXEC));
                }
                let mut plan = vec![(0, HEAD_LEN as u64)];
                if let Some((offset, len)) = compressed::section_table(head) {
                    plan.push((offset.saturating_sub(BEFORE_TABLE), offset));
                    if len <= TABLE_MAX {
                        plan.push((offset, offset.saturating_add(len)));
                    }
                }
                let mut capture = Capture::new(&merge(plan));
                capture.feed(0, head);
                pos = n as u64;
                capture
            }
        };
        loop {
            let n = match dec.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            capture.feed(pos, &chunk[..n]);
            pos += n as u64;
        }
        if pos == 0 {
            return Err(io(compressed::empty_stream()));
        }
        Ok((pos, capture.into_kept()))
    })?;
    Ok(Pass { size, digest, kept })
}

/// Read until `buf` is full or the stream ends; the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Ranges being kept from a stream that goes by once, in order.
struct Capture {
    /// `(start, end, bytes so far)`, sorted and disjoint.
    ranges: Vec<(u64, u64, Vec<u8>)>,
    /// The first range not yet complete.
    next: usize,
}

impl Capture {
    fn new(plan: &[(u64, u64)]) -> Capture {
        Capture {
            ranges: plan
                .iter()
                .filter(|(start, end)| end > start)
                .map(|&(start, end)| (start, end, Vec::new()))
                .collect(),
            next: 0,
        }
    }

    /// The stream's bytes at `pos..pos + data.len()` go by.
    fn feed(&mut self, pos: u64, data: &[u8]) {
        let end = pos + data.len() as u64;
        while self.ranges.get(self.next).is_some_and(|r| r.1 <= pos) {
            self.next += 1;
        }
        for (start, stop, bytes) in &mut self.ranges[self.next..] {
            if *start >= end {
                break;
            }
            let from = (*start).max(pos);
            let to = (*stop).min(end);
            if from < to {
                if bytes.capacity() == 0 {
                    bytes.reserve_exact(usize::try_from(*stop - *start).unwrap_or(0));
                }
                bytes.extend_from_slice(&data[(from - pos) as usize..(to - pos) as usize]);
            }
        }
    }

    /// The kept ranges as `(start, bytes)` (a range past the end of the stream is shorter or
    /// absent).
    fn into_kept(self) -> Vec<(u64, Vec<u8>)> {
        self.ranges
            .into_iter()
            .filter(|(_, _, bytes)| !bytes.is_empty())
            .map(|(start, _, bytes)| (start, bytes))
            .collect()
    }
}

/// `start..end` ranges sorted, empty ones dropped, overlapping and adjacent ones merged.
fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|(start, end)| end > start);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The small sections of the image, by its kept section headers: kept by the second pass on
/// speculation (the CRC tables are found through the symbol table, which the first pass
/// usually lacks).
fn speculate(image: &SparseImage) -> Vec<(u64, u64)> {
    let Some(head) = image.kept_at(0, HEAD_LEN) else {
        return Vec::new();
    };
    let Some((offset, len)) = compressed::section_table(head) else {
        return Vec::new();
    };
    let Some(table) = usize::try_from(len)
        .ok()
        .and_then(|len| image.kept_at(offset, len))
    else {
        return Vec::new();
    };
    let big = head[5] == 2;
    // (entry size, sh_type, sh_offset, sh_size, offset and size width)
    let (entsize, word) = if head[4] == 2 { (64, 8) } else { (40, 4) };
    let (at_offset, at_size) = if word == 8 {
        (0x18, 0x20)
    } else {
        (0x10, 0x14)
    };
    let mut out = Vec::new();
    let mut total = 0;
    for h in table.chunks_exact(entsize) {
        let sh_type = compressed::int(h, 4, 4, big);
        let start = compressed::int(h, at_offset, word, big);
        let size = compressed::int(h, at_size, word, big);
        let end = start.saturating_add(size);
        let nobits = sh_type == u64::from(object::elf::SHT_NOBITS.0);
        if nobits || size == 0 || size > SPECULATE_SECTION || end > image.size {
            continue;
        }
        total += size;
        if total > SPECULATE_TOTAL {
            break;
        }
        out.push((start, end));
    }
    out
}

/// An image of which only some ranges are kept. A read inside one is served from it; a read
/// outside is recorded and answered with zeros (or EINVAL when larger than `fill_max`), so
/// that a reader goes on and shows everything it reads.
pub struct SparseImage {
    size: u64,
    /// `(start, bytes)`, sorted and disjoint.
    kept: Vec<(u64, Vec<u8>)>,
    fill_max: u64,
    misses: RefCell<Vec<(u64, u64)>>,
    oversize: Cell<bool>,
}

impl SparseImage {
    /// An image of `size` bytes of which `kept` (sorted, disjoint `(start, bytes)`) is known.
    pub fn new(size: u64, kept: Vec<(u64, Vec<u8>)>, fill_max: u64) -> SparseImage {
        debug_assert!(
            kept.windows(2)
                .all(|w| w[0].0 + w[0].1.len() as u64 <= w[1].0)
        );
        SparseImage {
            size,
            kept,
            fill_max,
            misses: RefCell::new(Vec::new()),
            oversize: Cell::new(false),
        }
    }

    /// The `(offset, len)` reads not served so far.
    pub fn misses(&self) -> Vec<(u64, u64)> {
        self.misses.borrow().clone()
    }

    /// Kept bytes at `offset..offset + len`, if all kept.
    fn kept_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let i = self.kept.partition_point(|(start, _)| *start <= offset);
        let (start, data) = &self.kept[i.checked_sub(1)?];
        let from = usize::try_from(offset - start).ok()?;
        data.get(from..from.checked_add(len)?)
    }
}

impl Source for SparseImage {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Buf<'_>> {
        let einval = || std::io::Error::from_raw_os_error(libc::EINVAL);
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => {}
            _ => return Err(einval()),
        }
        if len == 0 {
            return Ok(Buf::Borrowed(&[]));
        }
        if let Some(bytes) = self.kept_at(offset, len) {
            return Ok(Buf::Borrowed(bytes));
        }
        self.misses.borrow_mut().push((offset, len as u64));
        if len as u64 > self.fill_max {
            self.oversize.set(true);
            return Err(einval());
        }
        // Zeroed pages that nobody writes are never made resident.
        Ok(Buf::Owned(vec![0; len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge() {
        assert_eq!(
            merge(vec![(10, 20), (0, 5), (5, 7), (15, 30), (40, 40), (50, 60)]),
            vec![(0, 7), (10, 30), (50, 60)]
        );
        assert_eq!(merge(vec![]), vec![]);
    }

    #[test]
    fn a_capture_keeps_exactly_its_ranges_whatever_the_chunks() {
        let stream: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let plan = merge(vec![(0, 64), (100, 101), (4000, 5000), (9990, 12_000)]);
        for chunk in [1, 7, 64, 1000, 20_000] {
            let mut c = Capture::new(&plan);
            let mut pos = 0;
            for piece in stream.chunks(chunk) {
                c.feed(pos, piece);
                pos += piece.len() as u64;
            }
            let kept = c.into_kept();
            let want: Vec<(u64, Vec<u8>)> = vec![
                (0, stream[..64].to_vec()),
                (100, stream[100..101].to_vec()),
                (4000, stream[4000..5000].to_vec()),
                (9990, stream[9990..].to_vec()),
            ];
            assert_eq!(kept, want, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_sparse_image_serves_what_it_kept_and_records_the_rest() {
        let img = SparseImage::new(1000, vec![(0, vec![1; 64]), (500, vec![2; 100])], 300);
        assert_eq!(&*img.read_at(10, 20).unwrap(), &[1; 20][..]);
        assert_eq!(&*img.read_at(550, 50).unwrap(), &[2; 50][..]);
        assert!(img.misses().is_empty());
        // Across a kept range's end, and outside: zeros, recorded.
        assert_eq!(&*img.read_at(550, 51).unwrap(), &[0; 51][..]);
        assert_eq!(&*img.read_at(700, 300).unwrap(), &[0; 300][..]);
        assert_eq!(img.misses(), vec![(550, 51), (700, 300)]);
        // Too large to stand in for: EINVAL, recorded.
        assert!(img.read_at(0, 301).is_err());
        assert!(img.oversize.get());
        // Past the end: EINVAL, as for an image in memory, not recorded.
        assert!(img.read_at(990, 11).is_err());
        assert!(img.read_at(u64::MAX, 2).is_err());
        assert_eq!(img.misses().len(), 3);
        assert!(img.read_at(1000, 0).unwrap().is_empty());
    }
}
