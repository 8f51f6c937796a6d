//! Reading a compressed module (`.ko.xz`, `.ko.zst`, `.ko.gz`) in bounded memory, whatever the
//! stream holds.
//!
//! - The first 64 decoded bytes say whether the stream is an ELF image at all: when they do
//!   not, decoding stops there and the module is reported as not ELF (ENOEXEC, as kmod says
//!   for a compressed non-ELF file), so a stream of zeros costs nothing however long it is.
//! - An image up to [`Limits::whole_max`] is decoded whole into memory and read from there.
//! - A larger one (its ELF header or zstd frame says so, or it grows past the limit) is read
//!   as a sparse image ([`super::sparse`]): decoded again, streaming, keeping only the byte
//!   ranges depmod reads. Nothing caps the size of a module.
//! - Everything a decode holds (its image, its decoder's window, a sparse image's ranges) is
//!   reserved first from a budget all threads share ([`super::budget::DECODED`]); a thread
//!   that would exceed it gives back what it holds and waits for its turn.
//!
//! A decoder's failure is reported as before: `<decoder>: <reason>` then EINVAL.

use super::budget::{Budget, Grant};
use super::elf;
use super::module::{Compression, LoadError, Scanned};
use super::source::{Buf, Pooled};
use super::sparse;
use std::io::{BufRead, BufReader, Read};

/// How much of a stream is kept in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest image decoded whole into memory (far above any real module: the largest
    /// in Debian's kernels is about 19 MiB); a larger one is read sparse.
    pub whole_max: u64,
    /// The most bytes a sparse image keeps (its section headers and the sections depmod
    /// reads: a few MiB for the largest real modules).
    pub sparse_max: u64,
}

impl Limits {
    /// The limits of a run.
    pub const DEFAULT: Limits = Limits {
        whole_max: 64 << 20,
        sparse_max: 64 << 20,
    };
}

/// The identity bytes and ELF header: what is decoded before anything is decided.
pub const HEAD_LEN: usize = 64;

/// The buffer of compressed bytes read from a file.
pub const INPUT_BUF: usize = 128 << 10;
/// The decoded bytes a streaming pass reads at a time.
pub const CHUNK: usize = 256 << 10;

/// The smallest step a whole image's buffer grows by.
const MIN_STEP: usize = 64 << 10;

/// Where the compressed bytes come from: memory, or a file read from its start on each pass
/// (never read whole: the compressed file of a huge module is large too).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// A compressed file in memory.
    Bytes(&'a [u8]),
    /// An open compressed file and its size.
    File(&'a std::fs::File, u64),
}

impl Input<'_> {
    fn len(&self) -> u64 {
        match *self {
            Input::Bytes(b) => b.len() as u64,
            Input::File(_, size) => size,
        }
    }

    /// Run `f` on a reader of the input from its start. Also returns, for a file, a digest
    /// of every byte read (two passes over an unchanged file read the same bytes). An I/O
    /// error of the file is reported as itself, not as whatever the decoder made of it.
    pub(super) fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut dyn BufRead) -> Result<T, LoadError>,
    ) -> Result<(T, Option<u32>), LoadError> {
        match *self {
            Input::Bytes(mut b) => f(&mut b).map(|t| (t, None)),
            Input::File(file, _) => {
                let mut r = BufReader::with_capacity(
                    INPUT_BUF,
                    FileReader {
                        file,
                        pos: 0,
                        digest: crc32fast::Hasher::new(),
                        error: None,
                    },
                );
                let out = f(&mut r);
                let r = r.into_inner();
                if let Some(errno) = r.error {
                    return Err(LoadError::errno(errno));
                }
                out.map(|t| (t, Some(r.digest.finalize())))
            }
        }
    }
}

/// Positioned reads of a file from its start, digesting what they return and keeping the
/// first error aside.
struct FileReader<'a> {
    file: &'a std::fs::File,
    pos: u64,
    digest: crc32fast::Hasher,
    error: Option<i32>,
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        loop {
            match self.file.read_at(buf, self.pos) {
                Ok(n) => {
                    self.digest.update(&buf[..n]);
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error.get_or_insert(crate::diag::errno_of(&e));
                    return Err(e);
                }
            }
        }
    }
}

/// What the first bytes of a compressed file tell about its stream.
#[derive(Clone, Copy, Debug)]
pub struct Hints {
    /// The format.
    pub kind: Compression,
    /// The decoded size a zstd frame states.
    pub content_size: Option<u64>,
    /// The decoder's window: what its frame or block header states (zstd: at most the
    /// largest it decodes by default), else the largest assumed. The window is written as
    /// output comes, so it holds at most what was decoded; a streaming pass holds the decoder
    /// to it (a later frame or block asking for more is refused).
    pub window: u64,
    /// The compressed size.
    pub input_len: u64,
}

/// The largest window zstd decodes by default (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, as kmod's
/// libzstd), also assumed for an xz stream whose dictionary size could not be read.
const WINDOW_MAX: u64 = 1 << 27;
/// What a decoder holds beside its window (block buffers, state).
const DECODER_OVERHEAD: u64 = 1 << 20;

impl Hints {
    /// Read what the head of the compressed file (its first bytes, up to 64 or the whole
    /// file) states.
    pub fn of(kind: Compression, head: &[u8], input_len: u64) -> Hints {
        let (content_size, window) = match kind {
            Compression::Zstd => {
                let size = match zstd::zstd_safe::get_frame_content_size(head) {
                    Ok(Some(n)) => Some(n),
                    _ => None,
                };
                let window = zstd_window(head, size).map_or(WINDOW_MAX, |w| w.min(WINDOW_MAX));
                (size, window)
            }
            Compression::Xz => (None, xz_dictionary(head).unwrap_or(WINDOW_MAX)),
            Compression::Gzip | Compression::None => (None, 32 << 10),
        };
        Hints {
            kind,
            content_size,
            window,
            input_len,
        }
    }

    /// What a streaming pass's decoder may hold.
    pub fn decoder_memory(&self) -> u64 {
        self.window + DECODER_OVERHEAD
    }

    /// What holding a whole-image buffer of `cap` bytes costs: the buffer, and the part of
    /// the decoder's window that output so far can have filled.
    fn charge(&self, cap: usize) -> u64 {
        let cap = cap as u64;
        cap + cap.min(self.window) + DECODER_OVERHEAD
    }
}

/// The window a zstd frame header states (the content size for a single-segment frame).
fn zstd_window(head: &[u8], content_size: Option<u64>) -> Option<u64> {
    let descriptor = *head.get(4)?;
    if descriptor & 0x20 != 0 {
        return content_size;
    }
    let w = *head.get(5)?;
    let log = 10 + u32::from(w >> 3);
    let base = 1u64.checked_shl(log)?;
    Some(base + base / 8 * u64::from(w & 7))
}

/// The LZMA2 dictionary size of an xz stream's first block.
fn xz_dictionary(head: &[u8]) -> Option<u64> {
    // Stream header: magic (6), flags (2), CRC32 (4); then the block header, whose first byte
    // gives its size (0 is the index: no block).
    let block = head.get(12..)?;
    let size = usize::from(*block.first()?);
    if size == 0 {
        return None;
    }
    let header = block.get(..(size + 1) * 4)?;
    let flags = *header.get(1)?;
    let mut p = 2;
    let varint = |p: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let b = *header.get(*p)?;
            *p += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    if flags & 0x40 != 0 {
        varint(&mut p)?;
    }
    if flags & 0x80 != 0 {
        varint(&mut p)?;
    }
    for _ in 0..=(flags & 3) {
        let id = varint(&mut p)?;
        let len = usize::try_from(varint(&mut p)?).ok()?;
        let props = header.get(p..p.checked_add(len)?)?;
        p += len;
        if id == 0x21 {
            let b = *props.first()?;
            return match b {
                0..40 => Some((2 | u64::from(b & 1)) << (b / 2 + 11)),
                40 => Some(u64::from(u32::MAX)),
                _ => None,
            };
        }
    }
    None
}

/// A decoder of `kind` over `r`. A `window` limit holds it to that window (streaming passes).
pub(super) fn decoder<'r>(
    kind: Compression,
    r: &'r mut dyn BufRead,
    window: Option<u64>,
) -> std::io::Result<Box<dyn Read + 'r>> {
    Ok(match kind {
        Compression::Xz => {
            let limit = window.map_or(u64::MAX, |w| w.saturating_add(DECODER_OVERHEAD));
            let stream = liblzma::stream::Stream::new_stream_decoder(limit, 0)
                .map_err(std::io::Error::from)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(r, stream))
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
            if let Some(w) = window {
                // The smallest power of two holding the window, at most the default limit.
                let log = 64 - w.saturating_sub(1).leading_zeros();
                d.window_log_max(log.clamp(10, WINDOW_MAX.trailing_zeros()))?;
            }
            Box::new(d)
        }
        Compression::Gzip => Box::new(flate2::bufread::GzDecoder::new(r)),
        Compression::None => unreachable!("callers pass a compressed kind"),
    })
}

/// The decoder's name, as its messages start.
fn name(kind: Compression) -> &'static str {
    match kind {
        Compression::Xz => "xz",
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
        Compression::None => "none",
    }
}

/// A decoder's failure: `<decoder>: <reason>`, then EINVAL.
pub(super) fn decode_error(kind: Compression, e: &std::io::Error) -> LoadError {
    let reason = match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "Unexpected end of input".to_string(),
        std::io::ErrorKind::OutOfMemory => "Cannot allocate memory".to_string(),
        _ => e.to_string(),
    };
    LoadError {
        errno: libc::EINVAL,
        decompress: Some(crate::msg!(name(kind), b": ", reason, b"\n")),
    }
}

/// The error of a stream that decodes to nothing.
pub(super) fn empty_stream() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "empty stream")
}

/// A module whose needed parts do not fit the memory allowed: reported as a decoder that ran
/// out of memory (as an oversized stream always was).
pub(super) fn too_large(kind: Compression) -> LoadError {
    decode_error(
        kind,
        &std::io::Error::new(std::io::ErrorKind::OutOfMemory, "over the limit"),
    )
}

/// Whether the head of an image is not ELF: [`HEAD_LEN`] bytes decoded, without the magic.
pub(super) fn not_elf(head: &[u8]) -> bool {
    head.len() >= HEAD_LEN && head[..4] != object::elf::ELFMAG
}

/// The section header table an ELF header states: `(e_shoff, e_shnum * e_shentsize)`.
pub(super) fn section_table(head: &[u8]) -> Option<(u64, u64)> {
    if head.len() < HEAD_LEN || head[..4] != object::elf::ELFMAG {
        return None;
    }
    let big = match head[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let int = |at: usize, width: usize| int(head, at, width, big);
    let (shoff, entsize_at) = match head[4] {
        1 => (int(0x20, 4), 0x2e),
        2 => (int(0x28, 8), 0x3a),
        _ => return None,
    };
    let len = int(entsize_at, 2) * int(entsize_at + 2, 2);
    Some((shoff, len))
}

/// The unsigned integer of `width` bytes at `at` (the caller checked the range).
pub(super) fn int(bytes: &[u8], at: usize, width: usize, big_endian: bool) -> u64 {
    let mut b = [0u8; 8];
    if big_endian {
        b[8 - width..].copy_from_slice(&bytes[at..at + width]);
        u64::from_be_bytes(b)
    } else {
        b[..width].copy_from_slice(&bytes[at..at + width]);
        u64::from_le_bytes(b)
    }
}

/// What reading a compressed module took (for tests): how many times the stream was decoded
/// (in part or whole) and whether the image read was sparse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Times the stream was decoded, whole or in part.
    pub decodes: u32,
    /// Whether the facts were read from a sparse image.
    pub sparse: bool,
}

/// Read the facts of a compressed module. `head` is the start of the compressed file (the
/// whole of it when small).
pub fn read(kind: Compression, input: Input, head: &[u8]) -> Scanned {
    read_with(kind, input, head, &Limits::DEFAULT, &super::budget::DECODED).0
}

/// [`read`] with given limits and budget, also telling what it took.
pub fn read_with(
    kind: Compression,
    input: Input,
    head: &[u8],
    limits: &Limits,
    budget: &Budget,
) -> (Scanned, Trace) {
    let hints = Hints::of(kind, head, input.len());
    let mut trace = Trace::default();
    if hints.content_size.is_none_or(|n| n <= limits.whole_max) {
        let mut need = hints.charge(first_capacity(&hints, limits));
        loop {
            let mut grant = budget.acquire(need);
            trace.decodes += 1;
            match whole(input, &hints, limits, &mut grant) {
                Whole::Done(scanned) => return (scanned, trace),
                Whole::Wait(more) => need = more,
                Whole::Sparse => break,
            }
        }
    }
    trace.sparse = true;
    let scanned = sparse::read(input, &hints, limits, budget, &mut trace);
    (scanned, trace)
}

/// The buffer a whole decode starts with: the stated size, else a guess from the compressed
/// size (modules compress about 4:1).
fn first_capacity(hints: &Hints, limits: &Limits) -> usize {
    let max = usize::try_from(limits.whole_max).unwrap_or(usize::MAX);
    let guess = match hints.content_size {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::try_from(hints.input_len.saturating_mul(4)).unwrap_or(usize::MAX),
    };
    guess.clamp(HEAD_LEN, max.max(HEAD_LEN))
}

enum Whole {
    /// Read (or failed for good).
    Done(Scanned),
    /// The budget could not grow to this now: give everything back, wait for it, retry.
    Wait(u64),
    /// Too large to keep: read it sparse.
    Sparse,
}

/// Why filling a whole image stopped early.
enum Stop {
    Io(std::io::Error),
    NotElf,
    Wait(u64),
    Sparse,
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// Decode the whole image into memory and read it.
fn whole(input: Input, hints: &Hints, limits: &Limits, grant: &mut Grant) -> Whole {
    let kind = hints.kind;
    let filled = input.with_reader(|r| {
        let mut dec = decoder(kind, r, None).map_err(|e| decode_error(kind, &e))?;
        Ok(Pooled::filled_with(|vec| {
            fill(&mut *dec, vec, hints, limits, grant)
        }))
    });
    match filled {
        Err(e) => Whole::Done(Err(e)),
        Ok((Ok(image), _)) => {
            let image = Buf::Pooled(image);
            Whole::Done(elf::read_facts(&*image).map_err(LoadError::errno))
        }
        Ok((Err(stop), _)) => match stop {
            Stop::Io(e) => Whole::Done(Err(decode_error(kind, &e))),
            Stop::NotElf => Whole::Done(Err(LoadError::errno(libc::ENOEXEC))),
            Stop::Wait(n) => Whole::Wait(n),
            Stop::Sparse => Whole::Sparse,
        },
    }
}

/// Decode into `vec`, growing it (and the grant with it) up to the limit.
fn fill(
    dec: &mut dyn Read,
    vec: &mut Vec<u8>,
    hints: &Hints,
    limits: &Limits,
    grant: &mut Grant,
) -> Result<(), Stop> {
    let max = usize::try_from(limits.whole_max).unwrap_or(usize::MAX);
    // A buffer from the pool larger than this module needs, which the budget cannot cover
    // now, is freed rather than waited for.
    let first = first_capacity(hints, limits);
    if vec.capacity() > first && !grant.try_grow(hints.charge(vec.capacity())) {
        *vec = Vec::new();
    }
    // The buffer may come from the pool larger than asked: all of it counts.
    let mut ensure = |vec: &mut Vec<u8>, cap: usize| -> Result<(), Stop> {
        let need = hints.charge(cap.max(vec.capacity()));
        if !grant.try_grow(need) {
            return Err(Stop::Wait(need));
        }
        vec.reserve_exact(cap.saturating_sub(vec.len()));
        let need = hints.charge(vec.capacity());
        if !grant.try_grow(need) {
            return Err(Stop::Wait(need));
        }
        Ok(())
    };
    ensure(vec, first)?;
    // The identity bytes and the ELF header first.
    (&mut *dec).take(HEAD_LEN as u64).read_to_end(vec)?;
    if not_elf(vec) {
        return Err(Stop::NotElf);
    }
    if section_table(vec).is_some_and(|(off, len)| off.saturating_add(len) > limits.whole_max) {
        return Err(Stop::Sparse);
    }
    loop {
        if vec.len() == vec.capacity() {
            // Full: is there more?
            let mut probe = [0u8; 64];
            let n = loop {
                match dec.read(&mut probe) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    r => break r?,
                }
            };
            if n == 0 {
                break;
            }
            if vec.len() + n > max {
                return Err(Stop::Sparse);
            }
            let next = vec.capacity().saturating_mul(2).max(MIN_STEP).min(max);
            ensure(vec, next.max(vec.len() + n))?;
            vec.extend_from_slice(&probe[..n]);
        }
        let room = vec.capacity() - vec.len();
        let n = (&mut *dec).take(room as u64).read_to_end(vec)?;
        if n < room {
            break;
        }
    }
    if vec.is_empty() {
        return Err(Stop::Io(empty_stream()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that do not compress to nothing.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 16) as u8
            })
            .collect()
    }

    #[test]
    fn zstd_windows_are_read_from_the_frame_header() {
        let data = noise(300_000);
        for level in [1, 3, 19] {
            let c = zstd::bulk::compress(&data, level).unwrap();
            let h = Hints::of(Compression::Zstd, &c[..64.min(c.len())], c.len() as u64);
            assert_eq!(h.content_size, Some(300_000));
            let w = h.window;
            assert!((1 << 10..WINDOW_MAX).contains(&w), "level {level}: {w}");
        }
        // Without a content size: a window descriptor.
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut e, &data).unwrap();
        let c = e.finish().unwrap();
        let h = Hints::of(Compression::Zstd, &c[..64], c.len() as u64);
        assert_eq!(h.content_size, None);
        assert!(h.window < WINDOW_MAX, "{}", h.window);
        // Garbage: the largest window is assumed.
        let h = Hints::of(Compression::Zstd, &[0x28, 0xb5, 0x2f, 0xfd], 4);
        assert_eq!(h.window, WINDOW_MAX);
    }

    #[test]
    fn xz_dictionaries_are_read_from_the_block_header() {
        let data = noise(100_000);
        for (preset, dict) in [
            (0u32, 256u64 << 10),
            (1, 1 << 20),
            (6, 8 << 20),
            (9, 64 << 20),
        ] {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), preset);
            std::io::Write::write_all(&mut e, &data).unwrap();
            let c = e.finish().unwrap();
            let h = Hints::of(Compression::Xz, &c[..64], c.len() as u64);
            assert_eq!(h.window, dict, "preset {preset}");
        }
        assert_eq!(xz_dictionary(b"\xfd7zXZ\0\0\x01\0\0\0\0"), None);
    }

    #[test]
    fn section_tables_are_read_from_elf_headers() {
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[0x28..0x30].copy_from_slice(&0x1234_5678u64.to_le_bytes());
        h[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        h[0x3c..0x3e].copy_from_slice(&10u16.to_le_bytes());
        assert_eq!(section_table(&h), Some((0x1234_5678, 640)));
        h[4] = 1;
        h[5] = 2;
        h[0x20..0x24].copy_from_slice(&0x10u32.to_be_bytes());
        h[0x2e..0x30].copy_from_slice(&40u16.to_be_bytes());
        h[0x30..0x32].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(section_table(&h), Some((0x10, 120)));
        h[5] = 3;
        assert_eq!(section_table(&h), None);
        assert!(!not_elf(&h));
        assert!(not_elf(&[0u8; 64]));
        // Too short to tell: the ELF reader decides.
        assert!(!not_elf(&[0u8; 63]));
    }
}
