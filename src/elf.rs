//! Reading what depmod needs from a module's ELF image (spec §4), for both classes and both
//! byte orders, with every offset checked against the file.
//!
//! The image is read through [`Source`]: a byte slice (a decompressed module) or positioned
//! reads of a file, so an uncompressed module is never read whole: only its headers and the
//! five sections depmod uses.

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, pod};
use std::borrow::Cow;

/// Random access to a module image.
pub trait Source {
    /// The image size in bytes.
    fn size(&self) -> u64;
    /// Read exactly `len` bytes at `offset` (the caller checked the range against `size`).
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Cow<'_, [u8]>>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        let start = usize::try_from(offset).map_err(|_| einval())?;
        let end = start.checked_add(len).ok_or_else(einval)?;
        self.get(start..end).map(Cow::Borrowed).ok_or_else(einval)
    }
}

/// A file read with `pread`: never mapped, so a file that shrinks underneath gives an error,
/// not a SIGBUS.
pub struct FileSource {
    file: std::fs::File,
    size: u64,
}

impl FileSource {
    /// Wrap an open file of the given size.
    pub fn new(file: std::fs::File, size: u64) -> Self {
        FileSource { file, size }
    }

    /// Give the file back (to read it as a stream).
    pub fn into_file(self) -> std::fs::File {
        self.file
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                einval()
            } else {
                e
            }
        })?;
        Ok(Cow::Owned(buf))
    }
}

fn einval() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EINVAL)
}

/// A symbol a module exports, with its CRC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The name as found (before any `-P` stripping).
    pub name: Vec<u8>,
    /// The CRC (0 without modversions; all-ones when unreadable).
    pub crc: u64,
}

/// A symbol a module needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The raw name.
    pub name: Vec<u8>,
    /// The CRC from `__versions` (0 when absent).
    pub crc: u64,
    /// An `STB_WEAK` reference.
    pub weak: bool,
}

/// What one module's ELF image yields (spec §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFacts {
    /// `alias` values of `.modinfo`, in order.
    pub aliases: Vec<Vec<u8>>,
    /// `softdep` values.
    pub softdeps: Vec<Vec<u8>>,
    /// `weakdep` values.
    pub weakdeps: Vec<Vec<u8>>,
    /// Exports, or the errno that made reading them fail (kmod reports it; ENODATA is silent).
    pub exports: Result<Vec<Export>, i32>,
    /// Imports in kmod's order (§4.5).
    pub imports: Vec<Import>,
}

impl Default for ElfFacts {
    fn default() -> Self {
        ElfFacts {
            aliases: Vec::new(),
            softdeps: Vec::new(),
            weakdeps: Vec::new(),
            exports: Ok(Vec::new()),
            imports: Vec::new(),
        }
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

/// `.symtab` and `.strtab`, read.
type SymbolTables<'s> = (Cow<'s, [u8]>, Cow<'s, [u8]>);

/// A located section: its file range.
#[derive(Clone, Copy, Debug)]
struct Sect {
    offset: u64,
    size: u64,
}

struct Elf<'s, H: FileHeader<Endian = Endianness>, S: Source + ?Sized> {
    src: &'s S,
    endian: Endianness,
    sections: Cow<'s, [u8]>,
    shnum: usize,
    shstrtab: Cow<'s, [u8]>,
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
        let sections = src.read_at(shoff, table_len as usize).map_err(io_errno)?;
        let mut elf = Elf {
            src,
            endian,
            sections,
            shnum,
            shstrtab: Cow::Borrowed(&[][..]),
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

    /// The first section (index 1 up) with exactly this name whose range and name are valid.
    fn find(&self, name: &[u8]) -> Option<Sect> {
        (1..self.shnum).find_map(|i| {
            let h = self.header(i)?;
            let off = h.sh_name(self.endian) as usize;
            let rest = self.shstrtab.get(off..)?;
            let nul = rest.iter().position(|&b| b == 0)?;
            if &rest[..nul] != name {
                return None;
            }
            self.section(i)
        })
    }

    fn read(&self, s: Sect) -> Result<Cow<'s, [u8]>, i32> {
        let len = usize::try_from(s.size).map_err(|_| libc::EINVAL)?;
        self.src.read_at(s.offset, len).map_err(io_errno)
    }

    fn facts(&self) -> Result<ElfFacts, i32> {
        let mut facts = ElfFacts::default();
        if let Some(s) = self.find(b".modinfo") {
            let data = self.read(s)?;
            parse_modinfo(&data, &mut facts);
        }
        let symtab = match (self.find(b".symtab"), self.find(b".strtab")) {
            (Some(sym), Some(str_)) => Some((self.read(sym)?, self.read(str_)?)),
            _ => None,
        };
        let versions = match self.find(b"__versions") {
            Some(s) if s.size % 64 == 0 => Some(self.read(s)?),
            _ => None,
        };
        facts.exports = self.exports(symtab.as_ref());
        facts.imports = self.imports(symtab.as_ref(), versions.as_deref());
        Ok(facts)
    }

    fn symbols<'a>(&self, symtab: &'a [u8]) -> Option<&'a [H::Sym]> {
        let entsize = std::mem::size_of::<H::Sym>();
        if !symtab.len().is_multiple_of(entsize) {
            return None;
        }
        pod::slice_from_all_bytes(symtab).ok()
    }

    /// Exports (§4.3): `__crc_` symbols, else `__ksymtab_strings`.
    fn exports(&self, symtab: Option<&SymbolTables>) -> Result<Vec<Export>, i32> {
        if let Some((symtab, strtab)) = symtab
            && let Some(syms) = self.symbols(symtab)
            && let Some(found) = self.crc_exports(syms, strtab)?
        {
            return Ok(found);
        }
        let Some(s) = self.find(b"__ksymtab_strings") else {
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
                name: name.to_vec(),
                crc: 0,
            })
            .collect())
    }

    /// `Ok(None)` means: fall back to `__ksymtab_strings`.
    fn crc_exports(&self, syms: &[H::Sym], strtab: &[u8]) -> Result<Option<Vec<Export>>, i32> {
        let mut names = Vec::new();
        for sym in syms.iter().skip(1) {
            let off = sym.st_name(self.endian) as usize;
            if off >= strtab.len() {
                return Ok(None);
            }
            let name = cstr(&strtab[off..]);
            if let Some(exported) = name.strip_prefix(b"__crc_") {
                names.push((exported, sym));
            }
        }
        if names.is_empty() {
            return Ok(None);
        }
        let mut cache: Vec<(usize, Option<Cow<[u8]>>)> = Vec::new();
        let mut out = Vec::with_capacity(names.len());
        for (name, sym) in names {
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
                name: name.to_vec(),
                crc,
            });
        }
        Ok(Some(out))
    }

    /// Imports (§4.5): undefined symbols with their `__versions` CRCs, then unused records.
    fn imports(&self, symtab: Option<&SymbolTables>, versions: Option<&[u8]>) -> Vec<Import> {
        let Some((symtab, strtab)) = symtab else {
            return Vec::new();
        };
        let Some(syms) = self.symbols(symtab) else {
            return Vec::new();
        };
        let wide = std::mem::size_of::<H>() == std::mem::size_of::<FileHeader64<Endianness>>();
        let records: Vec<(u64, Option<&[u8]>)> = versions
            .map(|v| {
                v.chunks_exact(64)
                    .map(|r| version_record(r, wide, self.endian))
                    .collect()
            })
            .unwrap_or_default();
        let mut used = vec![false; records.len()];
        let machine = self.machine();
        let mut out = Vec::new();
        for sym in syms.iter().skip(1) {
            if sym.st_shndx(self.endian).0 != 0 {
                continue;
            }
            if (machine == 2 || machine == 43) && sym.st_type().0 == 13 {
                continue;
            }
            let off = sym.st_name(self.endian) as usize;
            if off >= strtab.len() {
                return Vec::new();
            }
            let name = cstr(&strtab[off..]);
            if name.is_empty() {
                continue;
            }
            let mut crc = 0;
            if let Some(i) = records.iter().position(|(_, n)| *n == Some(name)) {
                crc = records[i].0;
                used[i] = true;
            }
            out.push(Import {
                name: name.to_vec(),
                crc,
                weak: sym.st_bind() == object::elf::STB_WEAK,
            });
        }
        for (i, (crc, name)) in records.iter().enumerate() {
            if used[i] {
                continue;
            }
            match name {
                Some(n) => out.push(Import {
                    name: n.to_vec(),
                    crc: *crc,
                    weak: false,
                }),
                None => return Vec::new(),
            }
        }
        out
    }

    fn machine(&self) -> u16 {
        self.machine
    }
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
    (crc, name.iter().position(|&b| b == 0).map(|n| &name[..n]))
}

/// The bytes up to the first NUL (or the end).
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
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
            b"alias" => facts.aliases.push(value.to_vec()),
            b"softdep" => facts.softdeps.push(value.to_vec()),
            b"weakdep" => facts.weakdeps.push(value.to_vec()),
            _ => {}
        }
    }
}
