//! Scanning one module file: open it, decompress it if its magic bytes say so, read its ELF
//! facts. This is the only stage that runs in parallel; its result is plain data.

use super::elf;
use super::facts::ElfFacts;
use super::source::{self, FileSource};
use std::io::{Read, Seek};
use std::os::unix::ffi::OsStrExt;

/// The largest decompressed module accepted: far above any real module (the largest in
/// Debian's kernels is about 19 MiB), so that a hostile stream cannot exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Modules up to this size are read whole with one system call; larger ones section by
/// section (most of a big module is code that depmod never looks at).
pub const WHOLE_READ_MAX: u64 = 64 << 10;

/// The largest compressed module file read (the decoded size is limited separately).
pub const MAX_COMPRESSED: u64 = 1 << 30;

/// Why a module could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The errno kmod would report in `failed to load symbols from <path>: <strerror>`.
    pub errno: i32,
    /// A decompressor's message (`xz: File is corrupt`), printed before that line.
    pub decompress: Option<Vec<u8>>,
}

impl LoadError {
    fn errno(errno: i32) -> Self {
        LoadError {
            errno,
            decompress: None,
        }
    }
}

/// The result of scanning one module file.
pub type Scanned = Result<ElfFacts, LoadError>;

/// Compression formats, told by magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain ELF file (or anything else).
    None,
    /// `1F 8B`
    Gzip,
    /// `FD 37 7A 58 5A 00`
    Xz,
    /// `28 B5 2F FD`
    Zstd,
}

/// Tell the format from the first bytes of a file.
pub fn compression_of(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Compression::Zstd
    } else if magic.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if magic.starts_with(&[0x1F, 0x8B]) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Scan the module at `path`.
///
/// A module up to [`WHOLE_READ_MAX`] bytes is read whole with one system call and parsed
/// from memory; a larger uncompressed one is read section by section; a compressed one is
/// read whole and decoded.
pub fn scan_path(path: &[u8]) -> Scanned {
    scan_path_with_meta(path).0
}

/// Scan the module at `path`, also returning the metadata of the file that was read (for
/// the cache's key; `None` when it could not be opened).
pub fn scan_path_with_meta(path: &[u8]) -> (Scanned, Option<std::fs::Metadata>) {
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    let io = |e: std::io::Error| LoadError::errno(crate::diag::errno_of(&e));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (Err(io(e)), None),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return (Err(io(e)), None),
    };
    let size = meta.len();
    (scan_file(file, size), Some(meta))
}

/// How much of a larger module is read first: enough for the magic bytes and an ELF header.
const PROBE_LEN: usize = 64;

/// Scan an open module file of `size` bytes.
fn scan_file(file: std::fs::File, size: u64) -> Scanned {
    let io = |e: std::io::Error| LoadError::errno(crate::diag::errno_of(&e));
    if size < 6 {
        return Err(LoadError::errno(libc::EINVAL));
    }
    let head_len = if size <= WHOLE_READ_MAX {
        size as usize
    } else {
        PROBE_LEN
    };
    let head = source::read_head(&file, head_len).map_err(io)?;
    if head.len() < 6 {
        return Err(LoadError::errno(libc::EINVAL));
    }
    let whole = head.len() as u64 == size;
    match compression_of(&head) {
        Compression::None if whole => elf::read_facts(&*head).map_err(LoadError::errno),
        Compression::None => {
            elf::read_facts(&FileSource::with_head(file, size, head)).map_err(LoadError::errno)
        }
        kind => {
            let plain = if whole {
                decompress(kind, &head)?
            } else {
                let mut input = Vec::with_capacity(size.min(MAX_COMPRESSED) as usize);
                input.extend_from_slice(&head);
                drop(head);
                // The head was read with pread: the file position is still 0.
                (&file)
                    .seek(std::io::SeekFrom::Start(input.len() as u64))
                    .map_err(io)?;
                (&file)
                    .take(MAX_COMPRESSED)
                    .read_to_end(&mut input)
                    .map_err(io)?;
                decompress(kind, &input)?
            };
            elf::read_facts(&*plain).map_err(LoadError::errno)
        }
    }
}

/// Scan a module image already in memory (decompressing it if needed).
pub fn scan_bytes(data: &[u8]) -> Scanned {
    if data.len() < 6 {
        return Err(LoadError::errno(libc::EINVAL));
    }
    match compression_of(data) {
        Compression::None => elf::read_facts(data).map_err(LoadError::errno),
        kind => {
            let plain = decompress(kind, data)?;
            elf::read_facts(&*plain).map_err(LoadError::errno)
        }
    }
}

/// Decode a compressed module into a pooled buffer.
fn decompress(kind: Compression, input: &[u8]) -> Result<source::Buf<'static>, LoadError> {
    let (name, result) = match kind {
        Compression::Xz => (
            "xz",
            read_limited(liblzma::read::XzDecoder::new(input), None),
        ),
        Compression::Zstd => (
            "zstd",
            match zstd::stream::read::Decoder::with_buffer(input) {
                // The kernel's install step stores the decoded size in the frame: reserve it.
                Ok(d) => read_limited(d, zstd_content_size(input)),
                Err(e) => Err(e),
            },
        ),
        Compression::Gzip => (
            "gzip",
            read_limited(flate2::read::GzDecoder::new(input), None),
        ),
        Compression::None => unreachable!("callers pass a compressed kind"),
    };
    result.map(source::Buf::Pooled).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "Unexpected end of input".to_string(),
            std::io::ErrorKind::OutOfMemory => "Cannot allocate memory".to_string(),
            _ => e.to_string(),
        };
        LoadError {
            errno: libc::EINVAL,
            decompress: Some(crate::msg!(name, b": ", reason, b"\n")),
        }
    })
}

/// The decoded size a zstd frame header states, if any and within the limit.
fn zstd_content_size(input: &[u8]) -> Option<usize> {
    match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(n)) if n <= MAX_DECOMPRESSED => usize::try_from(n).ok(),
        _ => None,
    }
}

/// Decode a whole stream into a pooled buffer, refusing output beyond [`MAX_DECOMPRESSED`].
fn read_limited(mut r: impl Read, size_hint: Option<usize>) -> std::io::Result<source::Pooled> {
    source::Pooled::filled_with(|out| {
        if let Some(n) = size_hint {
            out.reserve(n);
        }
        (&mut r).take(MAX_DECOMPRESSED + 1).read_to_end(out)?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "decompressed size over the limit",
            ));
        }
        if out.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "empty stream",
            ));
        }
        Ok(())
    })
}
