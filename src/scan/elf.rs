//! Reading what depmod needs from a module's ELF image, for both classes and both
//! byte orders, with every offset checked against the file.
//!
//! The image is read through [`Source`]: a byte slice (a decompressed module) or positioned
//! reads of a file, so an uncompressed module is never read whole: only its headers and the
//! five sections depmod uses.

use super::facts::{ElfFacts, Export, Import, intern};
use super::source::{Buf, Source};
use crate::diag::errno_of;
use object::elf::{
    DataEncoding, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, EM_SPARC, EM_SPARCV9,
    FileClass, FileHeader32, FileHeader64, Machine, SHN_ABS, SHN_UNDEF, STT_SPARC_REGISTER,
};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, pod};

/// Where the class and the byte order sit in the identity bytes (`e_ident`).
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
use rustc_hash::FxHashMap as HashMap;

/// Read the facts of an ELF image. `Err(errno)` when the image is not a valid ELF file
/// (ENOEXEC for a bad magic, EINVAL for other damage, or the I/O error).
pub fn read_facts(src: &(impl Source + ?Sized)) -> Result<ElfFacts, i32> {
    let size = src.size();
    // The identity bytes: magic, class, data.
    if size < 6 {
        return Err(libc::EINVAL);
    }
    let ident_len = size.min(64) as usize;
    let head = src.read_at(0, ident_len).map_err(|e| errno_of(&e))?;
    if size <= 16 || head[..4] != ELFMAG {
        return Err(libc::ENOEXEC);
    }
    let endian = match DataEncoding(head[EI_DATA]) {
        ELFDATA2LSB => Endianness::Little,
        ELFDATA2MSB => Endianness::Big,
        _ => return Err(libc::EINVAL),
    };
    match FileClass(head[EI_CLASS]) {
        ELFCLASS32 => Elf::<FileHeader32<Endianness>, _>::open(src, endian, &head)?.facts(),
        ELFCLASS64 => Elf::<FileHeader64<Endianness>, _>::open(src, endian, &head)?.facts(),
        _ => Err(libc::EINVAL),
    }
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
        let sections = src
            .read_at(shoff, table_len as usize)
            .map_err(|e| errno_of(&e))?;
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
    /// and name offset are valid.
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
        self.src.read_at(s.offset, len).map_err(|e| errno_of(&e))
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
    /// import rules need.
    fn scan_symbols<'t>(&self, syms: &'t [H::Sym], strtab: &'t [u8]) -> SymbolScan<'t, H::Sym> {
        let sparc = matches!(Machine(self.machine()), EM_SPARC | EM_SPARCV9);
        let mut crcs = Some(Vec::new());
        let mut undefined = Some(Vec::new());
        for sym in syms.iter().skip(1) {
            let off = sym.st_name(self.endian) as usize;
            let is_undef = sym.st_shndx(self.endian) == SHN_UNDEF;
            if off >= strtab.len() {
                // Any bad name sends exports to the fallback; a bad undefined one (not a
                // SPARC register) drops all imports.
                crcs = None;
                if is_undef && !(sparc && sym.st_type() == STT_SPARC_REGISTER) {
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
                && !(sparc && sym.st_type() == STT_SPARC_REGISTER)
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

    /// Exports: `__crc_` symbols, else `__ksymtab_strings`.
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
            let section = sym.st_shndx(self.endian);
            let shndx = usize::from(section.0);
            let value: u64 = sym.st_value(self.endian).into();
            let crc = if section == SHN_UNDEF || section == SHN_ABS {
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

    /// Imports: undefined symbols with their `__versions` CRCs, then unused records.
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

    /// `None` when the whole import list fails.
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

/// The bytes up to the first NUL (or the end).
fn cstr(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Split `.modinfo` into strings and keep `alias`, `softdep`, `weakdep` values.
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
