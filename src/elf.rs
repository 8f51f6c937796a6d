//! Reading what depmod needs from a module's ELF image (spec §4), for both classes and both
//! byte orders, with every offset checked against the file.
//!
//! The image is read through [`Source`]: a byte slice (a decompressed module) or positioned
//! reads of a file, so an uncompressed module is never read whole: only its headers and the
//! five sections depmod uses.

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, pod};
use rustc_hash::FxHashMap as HashMap;

/// Random access to a module image.
pub trait Source {
    /// The image size in bytes.
    fn size(&self) -> u64;
    /// Read exactly `len` bytes at `offset` (the caller checked the range against `size`).
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Buf<'_>>;
    /// A hint that these `(offset, len)` ranges will be read: a source that reads a file may
    /// read them ahead with fewer system calls. Never changes what `read_at` returns.
    fn prefetch(&self, _ranges: &[(u64, u64)]) {}
}

/// Bytes read from a [`Source`]: borrowed from an image in memory, or a pooled buffer.
pub enum Buf<'a> {
    /// A slice of an in-memory image.
    Borrowed(&'a [u8]),
    /// A buffer from this thread's pool, returned to it when dropped.
    Pooled(Pooled),
}

impl std::ops::Deref for Buf<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buf::Borrowed(b) => b,
            Buf::Pooled(p) => &p.vec[..p.len],
        }
    }
}

/// A read buffer that goes back to its thread's pool: scanning thousands of modules reuses
/// a few buffers instead of allocating, zeroing and faulting in fresh pages for each.
pub struct Pooled {
    vec: Vec<u8>,
    len: usize,
}

/// Buffers kept per thread, and the largest one worth keeping.
const POOL_BUFFERS: usize = 8;
const POOL_MAX_BYTES: usize = 64 << 20;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Pooled {
    /// Fill a pooled buffer with `fill` (which appends to an empty vector, keeping its
    /// capacity): what decompression writes into.
    pub fn filled_with<E>(fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Pooled, E> {
        let mut vec = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        vec.clear();
        let result = fill(&mut vec);
        let len = vec.len();
        let pooled = Pooled { vec, len };
        result.map(|()| pooled)
    }

    /// A buffer of `len` bytes (contents unspecified until filled).
    fn take(len: usize) -> Pooled {
        let mut vec = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        if vec.len() < len {
            vec.resize(len, 0);
        }
        Pooled { vec, len }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let vec = std::mem::take(&mut self.vec);
        if vec.len() <= POOL_MAX_BYTES {
            POOL.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < POOL_BUFFERS {
                    p.push(vec);
                }
            });
        }
    }
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Buf<'_>> {
        let start = usize::try_from(offset).map_err(|_| einval())?;
        let end = start.checked_add(len).ok_or_else(einval)?;
        self.get(start..end).map(Buf::Borrowed).ok_or_else(einval)
    }
}

/// Read up to `max` bytes from the start of `file` into a pooled buffer. Fewer bytes than
/// `max` means the whole file was read (a regular file reads short only at its end).
pub fn read_head(file: &std::fs::File, max: usize) -> std::io::Result<Buf<'static>> {
    use std::os::unix::fs::FileExt;
    let mut buf = Pooled::take(max);
    let mut n = 0;
    while n < max {
        match file.read_at(&mut buf.vec[n..max], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.len = n;
    Ok(Buf::Pooled(buf))
}

/// A file read with `pread`: never mapped, so a file that shrinks underneath gives an error,
/// not a SIGBUS.
///
/// Ranges announced with [`Source::prefetch`] are read ahead, nearby ones merged into one
/// read (a system call costs about as much as copying a few KiB), and later reads inside
/// them are served from memory.
pub struct FileSource {
    file: std::fs::File,
    size: u64,
    /// Ranges read ahead: each slot is filled at most once, so reads can borrow from it.
    ahead: [std::cell::OnceCell<(u64, Pooled)>; AHEAD_SLOTS],
}

/// How many read-ahead ranges a [`FileSource`] keeps.
const AHEAD_SLOTS: usize = 8;

/// Announced ranges at most this far apart are read with one system call.
pub const MERGE_GAP: u64 = 4 << 10;

/// The largest range read ahead: a bigger section is read when asked for.
const AHEAD_MAX: u64 = 16 << 20;

impl FileSource {
    /// Wrap an open file of the given size.
    pub fn new(file: std::fs::File, size: u64) -> Self {
        FileSource {
            file,
            size,
            ahead: Default::default(),
        }
    }

    /// Wrap an open file of the given size whose first bytes were already read.
    pub fn with_head(file: std::fs::File, size: u64, head: Buf<'static>) -> Self {
        let source = FileSource::new(file, size);
        if let Buf::Pooled(p) = head {
            let _ = source.ahead[0].set((0, p));
        }
        source
    }

    /// Give the file back (to read it as a stream).
    pub fn into_file(self) -> std::fs::File {
        self.file
    }

    /// The bytes of a read-ahead range that covers `offset..offset + len`, if any.
    fn ahead(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len as u64)?;
        self.ahead.iter().find_map(|slot| {
            let (start, buf) = slot.get()?;
            let have = &buf.vec[..buf.len];
            let from = usize::try_from(offset.checked_sub(*start)?).ok()?;
            let to = usize::try_from(end - start).ok()?;
            have.get(from..to)
        })
    }

    /// Read `len` bytes at `offset` into a pooled buffer.
    fn pread(&self, offset: u64, len: usize) -> std::io::Result<Pooled> {
        use std::os::unix::fs::FileExt;
        let mut buf = Pooled::take(len);
        self.file
            .read_exact_at(&mut buf.vec[..len], offset)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    einval()
                } else {
                    e
                }
            })?;
        Ok(buf)
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Buf<'_>> {
        if let Some(b) = self.ahead(offset, len) {
            return Ok(Buf::Borrowed(b));
        }
        self.pread(offset, len).map(Buf::Pooled)
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        for (start, end) in merge_ranges(ranges, self.size) {
            let Some(slot) = self.ahead.iter().find(|s| s.get().is_none()) else {
                return;
            };
            // A failed read-ahead is dropped: the read that needs the range reports it.
            if let Ok(buf) = self.pread(start, (end - start) as usize) {
                let _ = slot.set((start, buf));
            }
        }
    }
}

/// The `(offset, len)` ranges inside a file of `size` bytes, sorted and merged where at
/// most [`MERGE_GAP`] apart, as `start..end` pairs; empty and out-of-file ranges and those
/// over [`AHEAD_MAX`] dropped.
fn merge_ranges(ranges: &[(u64, u64)], size: u64) -> Vec<(u64, u64)> {
    let mut rs: Vec<(u64, u64)> = ranges
        .iter()
        .filter_map(|&(off, len)| {
            let end = off.checked_add(len)?;
            (len > 0 && len <= AHEAD_MAX && end <= size).then_some((off, end))
        })
        .collect();
    rs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(rs.len());
    for (start, end) in rs {
        match out.last_mut() {
            Some(last)
                if start <= last.1.saturating_add(MERGE_GAP) && end - last.0 <= AHEAD_MAX =>
            {
                last.1 = last.1.max(end);
            }
            _ => out.push((start, end)),
        }
    }
    out
}

fn einval() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EINVAL)
}

/// A string of a module, as a range of [`ElfFacts::strings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Str {
    start: u32,
    len: u32,
}

impl Str {
    /// The range as (start, length) in [`ElfFacts::strings`].
    pub fn parts(self) -> (u32, u32) {
        (self.start, self.len)
    }

    /// A range of `strings` (the caller checks it lies inside).
    pub fn from_parts(start: u32, len: u32) -> Str {
        Str { start, len }
    }
}

/// A symbol a module exports, with its CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Export {
    /// The name as found (before any `-P` stripping).
    pub name: Str,
    /// The CRC (0 without modversions; all-ones when unreadable).
    pub crc: u64,
}

/// A symbol a module needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Import {
    /// The raw name.
    pub name: Str,
    /// The CRC from `__versions` (0 when absent).
    pub crc: u64,
    /// An `STB_WEAK` reference.
    pub weak: bool,
}

/// What one module's ELF image yields (spec §4): plain data, all strings in one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFacts {
    /// Every name and value, concatenated; the other fields point into it.
    pub strings: Vec<u8>,
    /// `alias` values of `.modinfo`, in order.
    pub aliases: Vec<Str>,
    /// `softdep` values.
    pub softdeps: Vec<Str>,
    /// `weakdep` values.
    pub weakdeps: Vec<Str>,
    /// Exports, or the errno that made reading them fail (kmod reports it; ENODATA is silent).
    pub exports: Result<Vec<Export>, i32>,
    /// Imports in kmod's order (§4.5).
    pub imports: Vec<Import>,
}

impl Default for ElfFacts {
    fn default() -> Self {
        ElfFacts {
            strings: Vec::new(),
            aliases: Vec::new(),
            softdeps: Vec::new(),
            weakdeps: Vec::new(),
            exports: Ok(Vec::new()),
            imports: Vec::new(),
        }
    }
}

impl ElfFacts {
    /// The bytes of a string.
    pub fn str(&self, s: Str) -> &[u8] {
        &self.strings[s.start as usize..(s.start + s.len) as usize]
    }

    /// Store a string.
    pub fn intern(&mut self, b: &[u8]) -> Str {
        intern(&mut self.strings, b)
    }

    /// The `alias` values.
    pub fn alias_values(&self) -> impl Iterator<Item = &[u8]> {
        self.aliases.iter().map(|&s| self.str(s))
    }

    /// The `softdep` values.
    pub fn softdep_values(&self) -> impl Iterator<Item = &[u8]> {
        self.softdeps.iter().map(|&s| self.str(s))
    }

    /// The `weakdep` values.
    pub fn weakdep_values(&self) -> impl Iterator<Item = &[u8]> {
        self.weakdeps.iter().map(|&s| self.str(s))
    }
}

/// Read the facts of an ELF image. `Err(errno)` when the image is not a valid ELF file
/// (ENOEXEC for a bad magic, EINVAL for other damage, or the I/O error).
pub fn read_facts(src: &(impl Source + ?Sized)) -> Result<ElfFacts, i32> {
    let size = src.size();
    // The identity bytes: magic, class, data.
    if size < 6 {
        return Err(libc::EINVAL);
    }
    let ident_len = size.min(64) as usize;
    let head = src.read_at(0, ident_len).map_err(io_errno)?;
    if size <= 16 || head[..4] != *b"\x7fELF" {
        return Err(libc::ENOEXEC);
    }
    let endian = match head[5] {
        1 => Endianness::Little,
        2 => Endianness::Big,
        _ => return Err(libc::EINVAL),
    };
    match head[4] {
        1 => Elf::<FileHeader32<Endianness>, _>::open(src, endian, &head)?.facts(),
        2 => Elf::<FileHeader64<Endianness>, _>::open(src, endian, &head)?.facts(),
        _ => Err(libc::EINVAL),
    }
}

fn io_errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// How many bytes before the section headers are read with them, for the section-name
/// table.
const SHSTRTAB_GUESS: u64 = 1 << 10;

/// A located section: its file range.
#[derive(Clone, Copy, Debug)]
struct Sect {
    offset: u64,
    size: u64,
}

struct Elf<'s, H: FileHeader<Endian = Endianness>, S: Source + ?Sized> {
    src: &'s S,
    endian: Endianness,
    sections: Buf<'s>,
    shnum: usize,
    shstrtab: Buf<'s>,
    machine: u16,
    _h: std::marker::PhantomData<H>,
}

impl<'s, H: FileHeader<Endian = Endianness>, S: Source + ?Sized> Elf<'s, H, S> {
    fn open(src: &'s S, endian: Endianness, head: &[u8]) -> Result<Self, i32> {
        let hsize = std::mem::size_of::<H>();
        if src.size() <= hsize as u64 || head.len() < hsize {
            return Err(libc::EINVAL);
        }
        let (hdr, _) = pod::from_bytes::<H>(&head[..hsize]).map_err(|_| libc::EINVAL)?;
        let shoff: u64 = hdr.e_shoff(endian).into();
        let shnum = usize::from(hdr.e_shnum(endian));
        let shentsize = usize::from(hdr.e_shentsize(endian));
        let shstrndx = usize::from(hdr.e_shstrndx(endian).0);
        if shentsize != std::mem::size_of::<H::SectionHeader>() {
            return Err(libc::EINVAL);
        }
        let table_len = (shnum as u64)
            .checked_mul(shentsize as u64)
            .ok_or(libc::EINVAL)?;
        let end = shoff.checked_add(table_len).ok_or(libc::EINVAL)?;
        if end > src.size() || shstrndx >= shnum {
            return Err(libc::EINVAL);
        }
        // The section-name table usually sits just before the headers: read both at once.
        src.prefetch(&[
            (
                shoff.saturating_sub(SHSTRTAB_GUESS),
                SHSTRTAB_GUESS.min(shoff),
            ),
            (shoff, table_len),
        ]);
        let sections = src.read_at(shoff, table_len as usize).map_err(io_errno)?;
        let mut elf = Elf {
            src,
            endian,
            sections,
            shnum,
            shstrtab: Buf::Borrowed(&[][..]),
            machine: hdr.e_machine(endian).0,
            _h: std::marker::PhantomData,
        };
        let strsect = elf.section(shstrndx).ok_or(libc::EINVAL)?;
        if strsect.size == 0 {
            return Err(libc::EINVAL);
        }
        let shstrtab = elf.read(strsect)?;
        if shstrtab.last() != Some(&0) {
            return Err(libc::EINVAL);
        }
        elf.shstrtab = shstrtab;
        Ok(elf)
    }

    fn header(&self, index: usize) -> Option<&H::SectionHeader> {
        if index >= self.shnum {
            return None;
        }
        let all: &[H::SectionHeader] = pod::slice_from_all_bytes(&self.sections).ok()?;
        all.get(index)
    }

    /// A section's file range, if it lies inside the file.
    fn section(&self, index: usize) -> Option<Sect> {
        let h = self.header(index)?;
        let offset: u64 = h.sh_offset(self.endian).into();
        let size: u64 = h.sh_size(self.endian).into();
        let end = offset.checked_add(size)?;
        (end <= self.src.size()).then_some(Sect { offset, size })
    }

    /// For each name, the first section (index 1 up) with exactly that name whose data range
    /// and name offset are valid (spec §4.1).
    fn find_all<const N: usize>(&self, names: [&[u8]; N]) -> [Option<Sect>; N] {
        let mut found = [None; N];
        for i in 1..self.shnum {
            let Some(h) = self.header(i) else { break };
            let Some(rest) = self.shstrtab.get(h.sh_name(self.endian) as usize..) else {
                continue;
            };
            for (slot, name) in found.iter_mut().zip(names) {
                if slot.is_none() && rest.starts_with(name) && rest.get(name.len()) == Some(&0) {
                    *slot = self.section(i);
                }
            }
        }
        found
    }

    fn read(&self, s: Sect) -> Result<Buf<'s>, i32> {
        let len = usize::try_from(s.size).map_err(|_| libc::EINVAL)?;
        self.src.read_at(s.offset, len).map_err(io_errno)
    }

    fn facts(&self) -> Result<ElfFacts, i32> {
        let [modinfo, symtab, strtab, versions, ksymtab] = self.find_all([
            b".modinfo",
            b".symtab",
            b".strtab",
            b"__versions",
            b"__ksymtab_strings",
        ]);
        // What is read: the symbol tables only as a pair, __versions only when made of whole
        // records. Exactly that is read ahead.
        let tables = symtab.zip(strtab);
        let versions = versions.filter(|s| s.size % 64 == 0);
        let wanted: Vec<(u64, u64)> = [modinfo, versions]
            .into_iter()
            .chain(
                tables
                    .into_iter()
                    .flat_map(|(sym, str_)| [Some(sym), Some(str_)]),
            )
            .flatten()
            .map(|s| (s.offset, s.size))
            .collect();
        self.src.prefetch(&wanted);
        let mut facts = ElfFacts::default();
        if let Some(s) = modinfo {
            let data = self.read(s)?;
            parse_modinfo(&data, &mut facts);
        }
        let tables = match tables {
            Some((sym, str_)) => Some((self.read(sym)?, self.read(str_)?)),
            None => None,
        };
        let versions = match versions {
            Some(s) => Some(self.read(s)?),
            None => None,
        };
        let scan = tables
            .as_ref()
            .and_then(|(symtab, strtab)| Some(self.scan_symbols(self.symbols(symtab)?, strtab)));
        if let Some(scan) = &scan {
            // The names to be stored: one allocation for them (growing by doubling would
            // touch up to twice the memory, and this is kept for every module).
            let crc_names: usize = scan.crcs.iter().flatten().map(|(n, _)| n.len()).sum();
            let undef_names: usize = scan.undefined.iter().flatten().map(|(n, _)| n.len()).sum();
            facts.strings.reserve_exact(crc_names + undef_names);
        }
        facts.exports = self.exports(scan.as_ref(), ksymtab, &mut facts.strings);
        facts.imports = self.imports(
            tables.is_some(),
            scan.as_ref(),
            versions.as_deref(),
            &mut facts.strings,
        );
        facts.strings.shrink_to_fit();
        Ok(facts)
    }

    /// One pass over the symbol table (entries 1..n) collecting what both the export and the
    /// import rules need (§4.3, §4.5).
    fn scan_symbols<'t>(&self, syms: &'t [H::Sym], strtab: &'t [u8]) -> SymbolScan<'t, H::Sym> {
        let sparc = matches!(self.machine(), 2 | 43);
        let mut crcs = Some(Vec::new());
        let mut undefined = Some(Vec::new());
        for sym in syms.iter().skip(1) {
            let off = sym.st_name(self.endian) as usize;
            let is_undef = sym.st_shndx(self.endian).0 == 0;
            if off >= strtab.len() {
                // Any bad name sends exports to the fallback; a bad undefined one (not a
                // SPARC register) drops all imports.
                crcs = None;
                if is_undef && !(sparc && sym.st_type().0 == 13) {
                    undefined = None;
                }
                if undefined.is_none() {
                    break;
                }
                continue;
            }
            let name = &strtab[off..];
            if let Some(list) = crcs.as_mut()
                && let Some(exported) = name.strip_prefix(b"__crc_")
            {
                list.push((cstr(exported), sym));
            }
            if is_undef
                && !(sparc && sym.st_type().0 == 13)
                && let Some(list) = undefined.as_mut()
            {
                let name = cstr(name);
                if !name.is_empty() {
                    list.push((name, sym.st_bind() == object::elf::STB_WEAK));
                }
            }
        }
        SymbolScan { crcs, undefined }
    }

    fn symbols<'a>(&self, symtab: &'a [u8]) -> Option<&'a [H::Sym]> {
        let entsize = std::mem::size_of::<H::Sym>();
        if !symtab.len().is_multiple_of(entsize) {
            return None;
        }
        pod::slice_from_all_bytes(symtab).ok()
    }

    /// Exports (§4.3): `__crc_` symbols, else `__ksymtab_strings`.
    fn exports(
        &self,
        scan: Option<&SymbolScan<H::Sym>>,
        ksymtab: Option<Sect>,
        strings: &mut Vec<u8>,
    ) -> Result<Vec<Export>, i32> {
        if let Some(scan) = scan
            && let Some(crcs) = &scan.crcs
            && !crcs.is_empty()
        {
            return self.crc_exports(crcs, strings);
        }
        let Some(s) = ksymtab else {
            return Err(libc::ENODATA);
        };
        let data = self.read(s)?;
        let start = data.iter().position(|&b| b != 0).unwrap_or(data.len());
        let data = &data[start..];
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if data.last() != Some(&0) {
            return Err(libc::EINVAL);
        }
        Ok(data
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|name| Export {
                name: intern(strings, name),
                crc: 0,
            })
            .collect())
    }

    /// The exports named by `__crc_` symbols, with their CRCs.
    fn crc_exports(
        &self,
        names: &[(&[u8], &H::Sym)],
        strings: &mut Vec<u8>,
    ) -> Result<Vec<Export>, i32> {
        let mut cache: Vec<(usize, Option<Buf>)> = Vec::new();
        let mut out = Vec::with_capacity(names.len());
        for &(name, sym) in names {
            let shndx = usize::from(sym.st_shndx(self.endian).0);
            let value: u64 = sym.st_value(self.endian).into();
            let crc = if shndx == 0 || shndx == 0xfff1 {
                value
            } else {
                let pos = match cache.iter().position(|(i, _)| *i == shndx) {
                    Some(p) => p,
                    None => {
                        let data = match self.section(shndx) {
                            Some(s) => Some(self.read(s)?),
                            None => None,
                        };
                        cache.push((shndx, data));
                        cache.len() - 1
                    }
                };
                match &cache[pos].1 {
                    Some(data) if data.len() >= 4 && value <= (data.len() - 4) as u64 => {
                        let v = value as usize;
                        let b = [data[v], data[v + 1], data[v + 2], data[v + 3]];
                        u64::from(match self.endian {
                            Endianness::Little => u32::from_le_bytes(b),
                            Endianness::Big => u32::from_be_bytes(b),
                        })
                    }
                    _ => u64::MAX,
                }
            };
            out.push(Export {
                name: intern(strings, name),
                crc,
            });
        }
        Ok(out)
    }

    /// Imports (§4.5): undefined symbols with their `__versions` CRCs, then unused records.
    fn imports(
        &self,
        has_tables: bool,
        scan: Option<&SymbolScan<H::Sym>>,
        versions: Option<&[u8]>,
        strings: &mut Vec<u8>,
    ) -> Vec<Import> {
        if !has_tables {
            return Vec::new();
        }
        let mark = strings.len();
        let found = scan
            .and_then(|s| s.undefined.as_deref())
            .and_then(|undefined| self.imports_inner(undefined, versions, strings));
        if found.is_none() {
            strings.truncate(mark);
        }
        found.unwrap_or_default()
    }

    /// `None` when the whole import list fails (§4.4, §4.5).
    fn imports_inner(
        &self,
        undefined: &[(&[u8], bool)],
        versions: Option<&[u8]>,
        strings: &mut Vec<u8>,
    ) -> Option<Vec<Import>> {
        let wide = std::mem::size_of::<H>() == std::mem::size_of::<FileHeader64<Endianness>>();
        let records: Vec<(u64, Option<&[u8]>)> = versions
            .map(|v| {
                v.chunks_exact(64)
                    .map(|r| version_record(r, wide, self.endian))
                    .collect()
            })
            .unwrap_or_default();
        let mut used = vec![false; records.len()];
        // The first record of each name (kmod looks names up in table order).
        let mut first: HashMap<&[u8], usize> =
            HashMap::with_capacity_and_hasher(records.len(), Default::default());
        for (i, (_, n)) in records.iter().enumerate() {
            if let Some(n) = n {
                first.entry(n).or_insert(i);
            }
        }
        let mut out = Vec::with_capacity(undefined.len());
        for &(name, weak) in undefined {
            let mut crc = 0;
            if let Some(&i) = first.get(name) {
                crc = records[i].0;
                used[i] = true;
            }
            out.push(Import {
                name: intern(strings, name),
                crc,
                weak,
            });
        }
        out.reserve_exact(used.iter().filter(|&&u| !u).count());
        for (i, (crc, name)) in records.iter().enumerate() {
            if used[i] {
                continue;
            }
            match name {
                Some(n) => out.push(Import {
                    name: intern(strings, n),
                    crc: *crc,
                    weak: false,
                }),
                None => return None,
            }
        }
        Some(out)
    }

    fn machine(&self) -> u16 {
        self.machine
    }
}

/// What one pass over a symbol table found.
struct SymbolScan<'t, S> {
    /// `__crc_` symbols (exported name, symbol); `None` when a name offset was out of range.
    crcs: Option<Vec<(&'t [u8], &'t S)>>,
    /// Undefined symbols (name, weak); `None` when one's name offset was out of range.
    undefined: Option<Vec<(&'t [u8], bool)>>,
}

/// One `__versions` record: CRC and the NUL-terminated name (None when the field has no NUL).
fn version_record(r: &[u8], wide: bool, endian: Endianness) -> (u64, Option<&[u8]>) {
    let (crc, name) = if wide {
        let b: [u8; 8] = r[..8].try_into().unwrap_or([0; 8]);
        let v = match endian {
            Endianness::Little => u64::from_le_bytes(b),
            Endianness::Big => u64::from_be_bytes(b),
        };
        (v, &r[8..])
    } else {
        let b: [u8; 4] = r[..4].try_into().unwrap_or([0; 4]);
        let v = match endian {
            Endianness::Little => u32::from_le_bytes(b),
            Endianness::Big => u32::from_be_bytes(b),
        };
        (u64::from(v), &r[4..])
    };
    (crc, memchr::memchr(0, name).map(|n| &name[..n]))
}

/// Append a string to a module's string buffer.
fn intern(strings: &mut Vec<u8>, b: &[u8]) -> Str {
    let start = strings.len() as u32;
    strings.extend_from_slice(b);
    Str {
        start,
        len: b.len() as u32,
    }
}

/// The bytes up to the first NUL (or the end).
fn cstr(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Split `.modinfo` into strings and keep `alias`, `softdep`, `weakdep` values (§4.2).
fn parse_modinfo(data: &[u8], facts: &mut ElfFacts) {
    for s in data.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let (key, value) = match s.iter().position(|&b| b == b'=') {
            Some(p) => (&s[..p], &s[p + 1..]),
            None => (s, &s[s.len()..]),
        };
        match key {
            b"alias" => {
                let v = facts.intern(value);
                facts.aliases.push(v)
            }
            b"softdep" => {
                let v = facts.intern(value);
                facts.softdeps.push(v)
            }
            b"weakdep" => {
                let v = facts.intern(value);
                facts.weakdeps.push(v)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_merged_and_bounded() {
        // Sorted, and merged when the gap is at most MERGE_GAP.
        let g = MERGE_GAP;
        assert_eq!(
            merge_ranges(&[(100 + g + 50, 10), (0, 100), (100 + g, 50)], 1 << 20),
            vec![(0, 100 + g + 60)]
        );
        // One byte more of gap: two reads.
        assert_eq!(
            merge_ranges(&[(0, 100), (100 + g + 1, 10)], 1 << 20),
            vec![(0, 100), (100 + g + 1, 100 + g + 11)]
        );
        // Overlapping and nested ranges.
        assert_eq!(
            merge_ranges(&[(0, 1000), (10, 20), (500, 1000)], 1 << 20),
            vec![(0, 1500)]
        );
        // Empty, past the end, wrapping and oversized ranges are not read ahead.
        assert_eq!(
            merge_ranges(
                &[(5, 0), (900, 200), (u64::MAX, 2), (0, AHEAD_MAX + 1)],
                1000
            ),
            vec![]
        );
        // A merged range never grows past AHEAD_MAX.
        assert_eq!(
            merge_ranges(&[(0, AHEAD_MAX), (AHEAD_MAX, 10)], u64::MAX).len(),
            2
        );
    }

    fn temp_file(bytes: &[u8]) -> std::fs::File {
        use std::io::Write;
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        f
    }

    #[test]
    fn read_ahead_never_changes_what_is_read() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        let size = bytes.len() as u64;
        let file = temp_file(&bytes);
        let cut = file.try_clone().expect("clone");
        let src = FileSource::new(file, size);
        src.prefetch(&[(1000, 100), (1200, 300), (50_000, 20_000), (199_990, 10)]);
        // (offset, length, inside a merged read-ahead range)
        let probes = [
            (1000, 100, true),
            (1050, 400, true),      // inside the first merged range
            (999, 10, false),       // starts before it
            (1400, 2000, false),    // runs past it
            (60_000, 10_000, true), // inside the second
            (69_999, 2, false),     // crosses its end
            (199_990, 10, true),    // the last bytes
            (150_000, 64, false),   // not read ahead
        ];
        for (off, len, _) in probes {
            let got = src.read_at(off, len).expect("read");
            assert_eq!(
                &*got,
                &bytes[off as usize..off as usize + len],
                "{off}+{len}"
            );
        }
        // Past the end: EINVAL, read ahead or not.
        let err = src.read_at(199_995, 10).err().expect("past the end");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        // Emptied, the file still gives the read-ahead bytes (so they come from memory) and
        // EINVAL for the rest.
        cut.set_len(0).expect("truncate");
        for (off, len, ahead) in probes {
            match src.read_at(off, len) {
                Ok(got) => {
                    assert!(ahead, "{off}+{len} read from an empty file");
                    assert_eq!(&*got, &bytes[off as usize..off as usize + len]);
                }
                Err(e) => {
                    assert!(!ahead, "{off}+{len} not served from memory: {e}");
                    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Whatever is read ahead (ranges anywhere, overlapping, past the end, more than
        /// there are slots), and wherever the file is then cut, every read returns the
        /// file's original bytes or EINVAL, and the original bytes below the cut.
        #[test]
        fn reads_equal_the_file_whatever_was_read_ahead(
            len in 0usize..40_000,
            ahead in proptest::collection::vec((0u64..45_000, 0u64..20_000), 0..12),
            cut in 0usize..45_000,
            reads in proptest::collection::vec((0u64..45_000, 0usize..20_000), 1..24),
        ) {
            let bytes: Vec<u8> = (0..len as u32).map(|i| (i ^ (i >> 8)) as u8).collect();
            let file = temp_file(&bytes);
            let handle = file.try_clone().expect("clone");
            let src = FileSource::new(file, len as u64);
            src.prefetch(&ahead);
            let cut = cut.min(len);
            handle.set_len(cut as u64).expect("truncate");
            for (off, n) in reads {
                let end = off as usize + n;
                match src.read_at(off, n) {
                    Ok(got) => proptest::prop_assert_eq!(&*got, &bytes[off as usize..end]),
                    Err(e) => {
                        proptest::prop_assert!(end > cut, "{off}+{n} failed below the cut: {e}");
                        proptest::prop_assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
                    }
                }
            }
        }
    }

    #[test]
    fn the_head_serves_the_first_bytes() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let file = temp_file(&bytes);
        let head = read_head(&file, 64).expect("head");
        assert_eq!(&*head, &bytes[..64]);
        let handle = file.try_clone().expect("clone");
        let src = FileSource::with_head(file, bytes.len() as u64, head);
        handle.set_len(0).expect("truncate");
        // From memory: the file is empty now.
        assert_eq!(&*src.read_at(0, 64).expect("read"), &bytes[..64]);
        assert_eq!(&*src.read_at(10, 50).expect("read"), &bytes[10..60]);
        let err = src.read_at(10, 100).err().expect("beyond the head");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn a_file_cut_before_the_read_ahead_reads_as_einval() {
        let bytes = vec![7u8; 50_000];
        let file = temp_file(&bytes);
        file.set_len(10_000).expect("truncate");
        // The stated size is the old one, as after an fstat that raced with the cut.
        let src = FileSource::new(file, bytes.len() as u64);
        src.prefetch(&[(20_000, 1000)]);
        let err = src.read_at(20_000, 1000).err().expect("cut");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(&*src.read_at(0, 100).expect("read"), &bytes[..100]);
    }
}
