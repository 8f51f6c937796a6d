//! libkmod's binary index format, the `modules.*.bin` files that `modprobe` and `modinfo` read:
//! a radix trie, a writer that lays it out as kmod 34's depmod does and, with the `reader`
//! feature, a reader with libkmod's lookups.
//!
//! An index is a 12-byte header (magic `0xB007F457`, version `0x00020001`, root node
//! reference) followed by trie nodes. A node reference is a big-endian u32 whose low 28 bits are
//! the absolute file offset of the node and whose high bits say which parts the node has
//! (prefix, children, values). [`IndexBuilder`] builds the same trie as kmod's depmod, in bulk
//! from the sorted entries, and writes it in kmod 34's pre-order layout; `IndexReader` (feature
//! `reader`) reads any file of that format (pre- or post-order) with libkmod's lookup
//! semantics, bounds-checking every access so that garbage input yields an error instead of a
//! panic. The crate's README describes the format byte by byte.
//!
//! Keys, values and queries are handled as C strings: bytes from the first NUL on are ignored,
//! exactly as kmod would see them.
//!
//! # Example
//!
//! ```
//! use kmod_index::IndexBuilder;
//!
//! let mut index = IndexBuilder::new();
//! index.insert(b"snd_pcm", b"kernel/sound/core/snd-pcm.ko:", 0)?;
//! index.insert(b"snd_timer", b"kernel/sound/core/snd-timer.ko:", 1)?;
//! let bytes = index.to_bytes()?;
//! assert_eq!(bytes[..8], [0xb0, 0x07, 0xf4, 0x57, 0x00, 0x02, 0x00, 0x01]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
#![warn(missing_docs)]

#[cfg(feature = "reader")]
mod fnmatch;
#[cfg(feature = "reader")]
mod reader;
mod writer;

#[cfg(feature = "reader")]
pub use fnmatch::fnmatch;
#[cfg(feature = "reader")]
pub use reader::{DumpEntry, IndexError, IndexReader};
pub use writer::{BadChar, IndexBuilder, TooLarge};

/// File magic, first word of every index.
pub(crate) const MAGIC: u32 = 0xB007_F457;
/// Format version written by depmod: major 2, minor 1.
pub(crate) const VERSION: u32 = 0x0002_0001;
/// Size of the header (magic, version, root reference).
pub(crate) const HEADER_LEN: usize = 12;
/// Node reference flag: the node has a non-empty prefix.
pub(crate) const F_PREFIX: u32 = 0x8000_0000;
/// Node reference flag: the node has at least one value.
pub(crate) const F_VALUES: u32 = 0x4000_0000;
/// Node reference flag: the node has children.
pub(crate) const F_CHILDS: u32 = 0x2000_0000;
/// Mask of the offset part of a node reference.
pub(crate) const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// The part of `s` before its first NUL byte (the whole slice if there is none).
pub(crate) fn cstr(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => &s[..end],
        None => s,
    }
}
