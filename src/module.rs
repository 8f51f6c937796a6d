//! Scanning one module file: open it, decompress it if its magic bytes say so, read its ELF
//! facts. This is the only stage that runs in parallel; its result is plain data.

use crate::elf::{self, ElfFacts, FileSource};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// The largest decompressed module accepted: far above any real module (the largest in
/// Debian's kernels is about 19 MiB), so that a hostile stream cannot exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

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
    fn errno(errno: i32) -> Self {
        LoadError {
            errno,
            decompress: None,
        }
    }
}

/// The result of scanning one module file.
pub type Scanned = Result<ElfFacts, LoadError>;

/// Compression formats, told by magic bytes (spec §3.2).
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
pub fn scan_path(path: &[u8]) -> Scanned {
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    let file =
        std::fs::File::open(path).map_err(|e| LoadError::errno(crate::diag::errno_of(&e)))?;
    let size = file
        .metadata()
        .map_err(|e| LoadError::errno(crate::diag::errno_of(&e)))?
        .len();
    if size < 6 {
        return Err(LoadError::errno(libc::EINVAL));
    }
    let src = FileSource::new(file, size);
    let magic = elf::Source::read_at(&src, 0, 6)
        .map_err(|e| LoadError::errno(crate::diag::errno_of(&e)))?;
    let kind = compression_of(&magic);
    drop(magic);
    if kind == Compression::None {
        if size <= WHOLE_READ_MAX {
            let data = src.read_all().map_err(|e| LoadError::errno(crate::diag::errno_of(&e)))?;
            return elf::read_facts(&*data).map_err(LoadError::errno);
        }
        return elf::read_facts(&src).map_err(LoadError::errno);
    }
    let data = decompress(kind, src.into_file())?;
    elf::read_facts(data.as_slice()).map_err(LoadError::errno)
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
            elf::read_facts(plain.as_slice()).map_err(LoadError::errno)
        }
    }
}

fn decompress(kind: Compression, input: impl Read) -> Result<Vec<u8>, LoadError> {
    let (name, result) = match kind {
        Compression::Xz => ("xz", read_limited(liblzma::read::XzDecoder::new(input))),
        Compression::Zstd => match zstd::stream::read::Decoder::new(input) {
            Ok(d) => ("zstd", read_limited(d)),
            Err(e) => ("zstd", Err(e)),
        },
        Compression::Gzip => ("gzip", read_limited(flate2::read::GzDecoder::new(input))),
        Compression::None => unreachable!("callers pass a compressed kind"),
    };
    result.map_err(|e| {
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

fn read_limited(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    (&mut r).take(MAX_DECOMPRESSED + 1).read_to_end(&mut out)?;
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
    Ok(out)
}
