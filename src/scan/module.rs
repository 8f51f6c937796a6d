//! Scanning one module file: open it, decompress it if its magic bytes say so, read its ELF
//! facts. This is the only stage that runs in parallel; its result is plain data.

use super::compressed::{self, Input};
use super::elf;
use super::facts::ElfFacts;
use super::source::{self, FileSource};
use std::os::unix::ffi::OsStrExt;

/// Modules up to this size are read whole with one system call; larger ones section by
/// section (most of a big module is code that depmod never looks at).
pub const WHOLE_READ_MAX: u64 = 64 << 10;

/// Why a module could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The errno kmod would report in `failed to load symbols from <path>: <strerror>`.
    pub errno: i32,
    /// A decompressor's message (`xz: File is corrupt`), printed before that line.
    pub decompress: Option<Vec<u8>>,
}

impl LoadError {
    pub(super) fn errno(errno: i32) -> Self {
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
/// decoded as it is read ([`compressed`]: whole into memory, or sparse when large).
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
            let input = if whole {
                Input::Bytes(&head)
            } else {
                Input::File(&file, size)
            };
            compressed::read(kind, input, &head)
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
        kind => compressed::read(kind, Input::Bytes(data), data),
    }
}
