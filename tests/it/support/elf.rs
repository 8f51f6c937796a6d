//! A small writer for relocatable ELF files that look like Linux kernel modules.
//!
//! Only what depmod looks at is modelled faithfully (`.modinfo`, `__versions`, `__ksymtab_strings`,
//! `__kcrctab`, `.symtab`, `.strtab`, section and symbol tables); the rest (`.text`, `__ksymtab`,
//! `.gnu.linkonce.this_module`) is present so that the files resemble real modules and pass
//! `readelf -a` cleanly. There are no relocation sections.
//!
//! Everything is written from the ELF specification: header, section header table and symbol
//! table layouts for ELFCLASS32/ELFCLASS64 in either byte order.

/// Target architecture of a synthetic module: fixes class, byte order, `e_machine` and `e_flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    I386,
    Aarch64,
    /// 32-bit little-endian ARM (EABI5).
    Arm,
    /// 64-bit big-endian.
    S390x,
    /// 64-bit big-endian PowerPC, ELFv1 ABI (function calls import `.foo` dot-symbols).
    Ppc64,
    /// 64-bit little-endian PowerPC, ELFv2 ABI.
    Ppc64le,
    Mips64el,
    /// 32-bit big-endian MIPS.
    Mips,
    /// 64-bit big-endian SPARC V9 (has STT_REGISTER symbols).
    Sparc64,
    Riscv64,
}

impl Arch {
    pub const ALL: [Arch; 11] = [
        Arch::X86_64,
        Arch::I386,
        Arch::Aarch64,
        Arch::Arm,
        Arch::S390x,
        Arch::Ppc64,
        Arch::Ppc64le,
        Arch::Mips64el,
        Arch::Mips,
        Arch::Sparc64,
        Arch::Riscv64,
    ];

    pub fn is_64(self) -> bool {
        !matches!(self, Arch::I386 | Arch::Arm | Arch::Mips)
    }

    pub fn is_big_endian(self) -> bool {
        matches!(self, Arch::S390x | Arch::Ppc64 | Arch::Mips | Arch::Sparc64)
    }

    pub fn e_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,                // EM_X86_64
            Arch::I386 => 3,                   // EM_386
            Arch::Aarch64 => 183,              // EM_AARCH64
            Arch::Arm => 40,                   // EM_ARM
            Arch::S390x => 22,                 // EM_S390
            Arch::Ppc64 | Arch::Ppc64le => 21, // EM_PPC64
            Arch::Mips64el | Arch::Mips => 8,  // EM_MIPS
            Arch::Sparc64 => 43,               // EM_SPARCV9
            Arch::Riscv64 => 243,              // EM_RISCV
        }
    }

    pub fn e_flags(self) -> u32 {
        match self {
            Arch::Arm => 0x0500_0000,      // EF_ARM_EABI_VER5
            Arch::Ppc64 => 1,              // ELFv1
            Arch::Ppc64le => 2,            // ELFv2
            Arch::Mips => 0x7000_1007,     // MIPS32R2, noreorder|pic|cpic
            Arch::Mips64el => 0x8000_0007, // MIPS64R2, noreorder|pic|cpic
            Arch::Riscv64 => 0x5,          // RVC, double-float ABI
            Arch::Sparc64 => 0,
            _ => 0,
        }
    }

    /// A short name usable in file names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::S390x => "s390x",
            Arch::Ppc64 => "ppc64",
            Arch::Ppc64le => "ppc64le",
            Arch::Mips64el => "mips64el",
            Arch::Mips => "mips",
            Arch::Sparc64 => "sparc64",
            Arch::Riscv64 => "riscv64",
        }
    }
}

/// How exported symbols carry their CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrcMode {
    /// `__crc_<sym>` symbols defined in a `__kcrctab` section; `st_value` is the offset of a 32-bit
    /// CRC word (kernels >= 5.19 style).
    Kcrctab,
    /// `__crc_<sym>` symbols with `st_shndx = SHN_ABS` and the CRC as `st_value` (older kernels).
    Absolute,
    /// No modversions: no `__crc_` symbols, exports are only listed in `__ksymtab_strings`.
    None,
}

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_NOBITS: u32 = 8;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;
pub const SHF_MERGE: u64 = 0x10;
pub const SHF_STRINGS: u64 = 0x20;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
/// SPARC register symbol type.
pub const STT_REGISTER: u8 = 13;
pub const SHN_UNDEF: u16 = 0;
pub const SHN_ABS: u16 = 0xfff1;

/// Section a raw symbol lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shndx {
    Undef,
    Abs,
    /// The (first) section with this name; the build panics if it does not exist.
    Named(String),
    /// A raw section index, written as is.
    Raw(u16),
}

/// A symbol table entry in builder terms. Names are raw bytes (no NUL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: Vec<u8>,
    pub value: u64,
    pub size: u64,
    pub bind: u8,
    pub typ: u8,
    pub other: u8,
    pub shndx: Shndx,
    /// If set, written as `st_name` instead of the offset of `name` in `.strtab` (for malformed
    /// files; `name` is then not added to `.strtab`).
    pub raw_name_offset: Option<u32>,
}

impl Symbol {
    pub fn new(name: impl AsRef<[u8]>, bind: u8, typ: u8, shndx: Shndx, value: u64) -> Symbol {
        Symbol {
            name: name.as_ref().to_vec(),
            value,
            size: 0,
            bind,
            typ,
            other: 0,
            shndx,
            raw_name_offset: None,
        }
    }
}

/// A section in builder terms (`.symtab`, `.strtab` and `.shstrtab` are generated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: Vec<u8>,
    pub sh_type: u32,
    pub flags: u64,
    pub align: u64,
    pub entsize: u64,
    pub data: Vec<u8>,
}

impl Section {
    pub fn progbits(name: impl AsRef<[u8]>, flags: u64, align: u64, data: Vec<u8>) -> Section {
        Section {
            name: name.as_ref().to_vec(),
            sh_type: SHT_PROGBITS,
            flags,
            align,
            entsize: 0,
            data,
        }
    }
}

#[derive(Clone, Debug)]
struct Import {
    /// Name of the undefined symbol.
    sym: Vec<u8>,
    /// `__versions` record (name, crc), if any.
    version: Option<(Vec<u8>, u64)>,
    bind: u8,
    typ: u8,
}

/// Where a section ended up in the built file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionLayout {
    pub index: usize,
    pub name: String,
    /// File offset of the section's data.
    pub offset: usize,
    pub size: usize,
    /// File offset of the section's header in the section header table.
    pub header_offset: usize,
}

/// The built file plus where everything is, for tests that patch bytes afterwards.
#[derive(Clone, Debug)]
pub struct Layout {
    pub bytes: Vec<u8>,
    pub is_64: bool,
    pub big_endian: bool,
    pub shoff: usize,
    pub shentsize: usize,
    pub sections: Vec<SectionLayout>,
}

impl Layout {
    pub fn section(&self, name: &str) -> Option<&SectionLayout> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Write an unsigned integer of `width` bytes at `offset` in the file's byte order.
    pub fn put(&mut self, offset: usize, width: usize, value: u64) {
        let bytes = if self.big_endian {
            value.to_be_bytes()[8 - width..].to_vec()
        } else {
            value.to_le_bytes()[..width].to_vec()
        };
        self.bytes[offset..offset + width].copy_from_slice(&bytes);
    }

    /// Offset of the `e_shentsize`, `e_shnum`, `e_shstrndx` (…) header fields.
    pub fn e_shoff_offset(&self) -> usize {
        if self.is_64 { 0x28 } else { 0x20 }
    }
    pub fn e_shentsize_offset(&self) -> usize {
        if self.is_64 { 0x3a } else { 0x2e }
    }
    pub fn e_shnum_offset(&self) -> usize {
        self.e_shentsize_offset() + 2
    }
    pub fn e_shstrndx_offset(&self) -> usize {
        self.e_shentsize_offset() + 4
    }
}

/// Builder for one synthetic kernel module.
#[derive(Clone, Debug)]
pub struct ModuleBuilder {
    arch: Arch,
    name: String,
    modinfo: Vec<u8>,
    exports: Vec<(String, u32)>,
    crc_mode: CrcMode,
    imports: Vec<Import>,
    extra_versions: Vec<(Vec<u8>, u64)>,
    raw_versions: Vec<u8>,
    extra_sections: Vec<Section>,
    extra_symbols: Vec<Symbol>,
    dropped: Vec<String>,
    force_versions: bool,
}

impl ModuleBuilder {
    pub fn new(arch: Arch) -> ModuleBuilder {
        ModuleBuilder {
            arch,
            name: "synth".to_string(),
            modinfo: Vec::new(),
            exports: Vec::new(),
            crc_mode: CrcMode::Kcrctab,
            imports: Vec::new(),
            extra_versions: Vec::new(),
            raw_versions: Vec::new(),
            extra_sections: Vec::new(),
            extra_symbols: Vec::new(),
            dropped: Vec::new(),
            force_versions: false,
        }
    }

    /// Name stored in `.gnu.linkonce.this_module` (cosmetic; depmod takes the file name).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// One `.modinfo` entry `key=value\0`. Raw bytes allowed.
    pub fn modinfo(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.modinfo.extend_from_slice(key.as_ref());
        self.modinfo.push(b'=');
        self.modinfo.extend_from_slice(value.as_ref());
        self.modinfo.push(0);
        self
    }

    /// Shorthand for `.modinfo("alias", a)`.
    pub fn alias(self, a: impl AsRef<[u8]>) -> Self {
        self.modinfo("alias", a)
    }

    /// Raw bytes appended to `.modinfo` (no terminator added).
    pub fn modinfo_raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.modinfo.extend_from_slice(bytes.as_ref());
        self
    }

    /// How exports carry their CRCs (default [`CrcMode::Kcrctab`]).
    pub fn crc_mode(mut self, mode: CrcMode) -> Self {
        self.crc_mode = mode;
        self
    }

    /// Export `name` with `crc`: a global function symbol, a `__ksymtab_strings` entry, a
    /// `__ksymtab_<name>` local, and (unless [`CrcMode::None`]) a `__crc_<name>` symbol.
    pub fn export(mut self, name: &str, crc: u32) -> Self {
        self.exports.push((name.to_string(), crc));
        self
    }

    /// Import `name`: an undefined global symbol, plus a `__versions` record if `crc` is given.
    pub fn import(self, name: &str, crc: Option<u64>) -> Self {
        self.import_raw(name, crc.map(|c| (name, c)), STB_GLOBAL, STT_NOTYPE)
    }

    /// Import `name` as an undefined STB_WEAK symbol (plus `__versions` record if `crc`).
    pub fn weak_import(self, name: &str, crc: Option<u64>) -> Self {
        self.import_raw(name, crc.map(|c| (name, c)), STB_WEAK, STT_NOTYPE)
    }

    /// ppc64 ELFv1 style function import: undefined symbol `.name`, `__versions` record `name`.
    pub fn import_dot(self, name: &str, crc: Option<u64>) -> Self {
        let sym = format!(".{name}");
        self.import_raw(&sym, crc.map(|c| (name, c)), STB_GLOBAL, STT_NOTYPE)
    }

    /// Fully general import: undefined symbol `sym` with binding/type, and an optional
    /// `__versions` record whose name may differ from the symbol.
    pub fn import_raw(
        mut self,
        sym: &str,
        version: Option<(&str, u64)>,
        bind: u8,
        typ: u8,
    ) -> Self {
        self.imports.push(Import {
            sym: sym.as_bytes().to_vec(),
            version: version.map(|(n, c)| (n.as_bytes().to_vec(), c)),
            bind,
            typ,
        });
        self
    }

    /// SPARC `.register` style symbol: undefined, global, type STT_REGISTER(13), value = register.
    pub fn register_symbol(self, name: &str, reg: u64) -> Self {
        self.symbol(Symbol::new(
            name,
            STB_GLOBAL,
            STT_REGISTER,
            Shndx::Undef,
            reg,
        ))
    }

    /// The `module_layout` `__versions` record that older kernels emit but no symbol uses.
    pub fn module_layout(self, crc: u64) -> Self {
        self.version_record("module_layout", crc)
    }

    /// An extra `__versions` record not tied to any symbol (appended after import records).
    /// Names longer than the field are truncated to fill it without a NUL.
    pub fn version_record(mut self, name: impl AsRef<[u8]>, crc: u64) -> Self {
        self.extra_versions.push((name.as_ref().to_vec(), crc));
        self
    }

    /// Raw bytes appended to the `__versions` section (e.g. a partial record).
    pub fn versions_raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.raw_versions.extend_from_slice(bytes.as_ref());
        self.force_versions = true;
        self
    }

    /// An additional section (placed after the generated data sections, before `.symtab`).
    pub fn section(mut self, section: Section) -> Self {
        self.extra_sections.push(section);
        self
    }

    /// An additional raw symbol (locals are placed with the locals, others with the globals).
    pub fn symbol(mut self, sym: Symbol) -> Self {
        self.extra_symbols.push(sym);
        self
    }

    /// Leave a section out entirely (e.g. `.symtab`, `.strtab`, `__versions`, `.modinfo`,
    /// `__ksymtab_strings`, `__kcrctab`, `__ksymtab`, `.gnu.linkonce.this_module`). Generated
    /// symbols that would point into a dropped section are left out, except `__crc_` symbols
    /// when `__kcrctab` is dropped: those become SHN_UNDEF with the table offset as value.
    /// Raw symbols naming a dropped section make the build panic.
    pub fn drop_section(mut self, name: &str) -> Self {
        self.dropped.push(name.to_string());
        self
    }

    pub fn build(&self) -> Vec<u8> {
        self.build_layout().bytes
    }

    pub fn build_layout(&self) -> Layout {
        Writer::new(self).finish()
    }
}

struct Enc {
    is_64: bool,
    be: bool,
}

impl Enc {
    fn int(&self, out: &mut Vec<u8>, width: usize, v: u64) {
        if self.be {
            out.extend_from_slice(&v.to_be_bytes()[8 - width..]);
        } else {
            out.extend_from_slice(&v.to_le_bytes()[..width]);
        }
    }
    fn u16(&self, out: &mut Vec<u8>, v: u16) {
        self.int(out, 2, v.into());
    }
    fn u32(&self, out: &mut Vec<u8>, v: u32) {
        self.int(out, 4, v.into());
    }
    /// Address/offset/xword: 4 or 8 bytes depending on class.
    fn word(&self, out: &mut Vec<u8>, v: u64) {
        self.int(out, if self.is_64 { 8 } else { 4 }, v);
    }
}

#[derive(Default)]
struct StrTab {
    data: Vec<u8>,
}

impl StrTab {
    fn new() -> StrTab {
        StrTab { data: vec![0] }
    }
    fn add(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.data.len() as u32;
        self.data.extend_from_slice(s);
        self.data.push(0);
        off
    }
}

struct Writer<'a> {
    b: &'a ModuleBuilder,
    enc: Enc,
}

impl<'a> Writer<'a> {
    fn new(b: &'a ModuleBuilder) -> Writer<'a> {
        Writer {
            b,
            enc: Enc {
                is_64: b.arch.is_64(),
                be: b.arch.is_big_endian(),
            },
        }
    }

    fn dropped(&self, name: &str) -> bool {
        self.b.dropped.iter().any(|d| d == name)
    }

    fn finish(self) -> Layout {
        let b = self.b;
        let enc = &self.enc;
        let is_64 = enc.is_64;
        let word = if is_64 { 8 } else { 4 };

        // ---- data sections -------------------------------------------------------------
        let mut sections: Vec<Section> = Vec::new();
        // .text: one "function" per export plus init/cleanup; content is arch-neutral filler.
        let n_funcs = b.exports.len() + 2;
        sections.push(Section::progbits(
            ".text",
            SHF_ALLOC | SHF_EXECINSTR,
            4,
            vec![0; 4 * n_funcs],
        ));
        if !b.modinfo.is_empty() {
            sections.push(Section::progbits(
                ".modinfo",
                SHF_ALLOC,
                1,
                b.modinfo.clone(),
            ));
        }
        // __versions
        let mut versions = Vec::new();
        let name_len = 64 - word;
        let mut add_record = |name: &[u8], crc: u64| {
            enc.int(&mut versions, word, crc);
            let mut field = name.to_vec();
            field.resize(name_len, 0);
            versions.extend_from_slice(&field);
        };
        for imp in &b.imports {
            if let Some((name, crc)) = &imp.version {
                add_record(name, *crc);
            }
        }
        for (name, crc) in &b.extra_versions {
            add_record(name, *crc);
        }
        versions.extend_from_slice(&b.raw_versions);
        if !versions.is_empty() || b.force_versions {
            sections.push(Section::progbits(
                "__versions",
                SHF_ALLOC,
                word as u64,
                versions,
            ));
        }
        if !b.exports.is_empty() {
            // __ksymtab: one entry per export (value/name/namespace offsets; left zero as if
            // relocations had not been applied).
            let entry = 12;
            sections.push(Section::progbits(
                "__ksymtab",
                SHF_ALLOC,
                4,
                vec![0; entry * b.exports.len()],
            ));
            let mut strings = Vec::new();
            for (name, _) in &b.exports {
                strings.extend_from_slice(name.as_bytes());
                strings.push(0);
            }
            let mut s = Section::progbits(
                "__ksymtab_strings",
                SHF_ALLOC | SHF_MERGE | SHF_STRINGS,
                1,
                strings,
            );
            s.entsize = 1;
            sections.push(s);
            if b.crc_mode == CrcMode::Kcrctab {
                let mut crcs = Vec::new();
                for (_, crc) in &b.exports {
                    enc.u32(&mut crcs, *crc);
                }
                sections.push(Section::progbits("__kcrctab", SHF_ALLOC, 4, crcs));
            }
        }
        let mut this_module = vec![0u8; if is_64 { 0x40 } else { 0x30 }];
        let name_at = if is_64 { 0x18 } else { 0x0c };
        let nb = b.name.as_bytes();
        let n = nb.len().min(this_module.len() - name_at - 1);
        this_module[name_at..name_at + n].copy_from_slice(&nb[..n]);
        sections.push(Section::progbits(
            ".gnu.linkonce.this_module",
            SHF_ALLOC | SHF_WRITE,
            word as u64,
            this_module,
        ));
        sections.push(Section {
            name: b".bss".to_vec(),
            sh_type: SHT_NOBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            align: 4,
            entsize: 0,
            data: Vec::new(),
        });
        sections.extend(b.extra_sections.iter().cloned());
        sections.retain(|s| !self.dropped(&String::from_utf8_lossy(&s.name)));

        // Section indices: 0 = null, then data sections, then .symtab, .strtab, .shstrtab.
        let index_of = |name: &[u8]| -> Option<u16> {
            sections
                .iter()
                .position(|s| s.name == name)
                .map(|i| (i + 1) as u16)
        };

        // ---- symbols ---------------------------------------------------------------------
        let mut locals: Vec<Symbol> = Vec::new();
        let mut globals: Vec<Symbol> = Vec::new();
        for (i, s) in sections.iter().enumerate() {
            if s.sh_type == SHT_PROGBITS {
                locals.push(Symbol::new(
                    b"",
                    STB_LOCAL,
                    STT_SECTION,
                    Shndx::Raw((i + 1) as u16),
                    0,
                ));
            }
        }
        for (i, (name, _)) in b.exports.iter().enumerate() {
            if index_of(b"__ksymtab").is_some() {
                let mut s = Symbol::new(
                    format!("__ksymtab_{name}"),
                    STB_LOCAL,
                    STT_OBJECT,
                    Shndx::Named("__ksymtab".into()),
                    12 * i as u64,
                );
                s.size = 12;
                locals.push(s);
            }
        }
        let has_text = index_of(b".text").is_some();
        let text = Shndx::Named(".text".into());
        for (i, (name, crc)) in b.exports.iter().enumerate() {
            if has_text {
                let mut f = Symbol::new(name, STB_GLOBAL, STT_FUNC, text.clone(), 4 * i as u64);
                f.size = 4;
                globals.push(f);
            }
            match b.crc_mode {
                CrcMode::Kcrctab => {
                    let mut c = Symbol::new(
                        format!("__crc_{name}"),
                        STB_GLOBAL,
                        STT_NOTYPE,
                        Shndx::Named("__kcrctab".into()),
                        4 * i as u64,
                    );
                    if index_of(b"__kcrctab").is_none() {
                        c.shndx = Shndx::Undef;
                    }
                    globals.push(c);
                }
                CrcMode::Absolute => {
                    globals.push(Symbol::new(
                        format!("__crc_{name}"),
                        STB_GLOBAL,
                        STT_NOTYPE,
                        Shndx::Abs,
                        u64::from(*crc),
                    ));
                }
                CrcMode::None => {}
            }
        }
        if has_text {
            let base = 4 * b.exports.len() as u64;
            let mut init = Symbol::new("init_module", STB_GLOBAL, STT_FUNC, text.clone(), base);
            init.size = 4;
            globals.push(init);
            let mut exit = Symbol::new("cleanup_module", STB_GLOBAL, STT_FUNC, text, base + 4);
            exit.size = 4;
            globals.push(exit);
        }
        if index_of(b".gnu.linkonce.this_module").is_some() {
            let mut tm = Symbol::new(
                "__this_module",
                STB_GLOBAL,
                STT_OBJECT,
                Shndx::Named(".gnu.linkonce.this_module".into()),
                0,
            );
            tm.size = if is_64 { 0x40 } else { 0x30 };
            globals.push(tm);
        }
        for imp in &b.imports {
            globals.push(Symbol::new(&imp.sym, imp.bind, imp.typ, Shndx::Undef, 0));
        }
        for s in &b.extra_symbols {
            if s.bind == STB_LOCAL {
                locals.push(s.clone());
            } else {
                globals.push(s.clone());
            }
        }
        let first_global = 1 + locals.len();

        let mut strtab = StrTab::new();
        // Entry 0: all zero.
        let mut symtab = vec![0u8; if is_64 { 24 } else { 16 }];
        for s in locals.iter().chain(globals.iter()) {
            let st_name = match s.raw_name_offset {
                Some(o) => o,
                None => strtab.add(&s.name),
            };
            let shndx = match &s.shndx {
                Shndx::Undef => SHN_UNDEF,
                Shndx::Abs => SHN_ABS,
                Shndx::Raw(r) => *r,
                Shndx::Named(n) => index_of(n.as_bytes())
                    .unwrap_or_else(|| panic!("symbol refers to missing section {n}")),
            };
            let info = (s.bind << 4) | (s.typ & 0xf);
            if is_64 {
                enc.u32(&mut symtab, st_name);
                symtab.push(info);
                symtab.push(s.other);
                enc.u16(&mut symtab, shndx);
                enc.int(&mut symtab, 8, s.value);
                enc.int(&mut symtab, 8, s.size);
            } else {
                enc.u32(&mut symtab, st_name);
                enc.u32(&mut symtab, s.value as u32);
                enc.u32(&mut symtab, s.size as u32);
                symtab.push(info);
                symtab.push(s.other);
                enc.u16(&mut symtab, shndx);
            }
        }

        let data_count = sections.len();
        let with_symtab = !self.dropped(".symtab");
        let with_strtab = !self.dropped(".strtab");
        // The section index .strtab will get (for .symtab's sh_link).
        let strtab_index = data_count + 1 + usize::from(with_symtab);
        if with_symtab {
            sections.push(Section {
                name: b".symtab".to_vec(),
                sh_type: SHT_SYMTAB,
                flags: 0,
                align: word as u64,
                entsize: if is_64 { 24 } else { 16 },
                data: symtab,
            });
        }
        if with_strtab {
            sections.push(Section {
                name: b".strtab".to_vec(),
                sh_type: SHT_STRTAB,
                flags: 0,
                align: 1,
                entsize: 0,
                data: strtab.data,
            });
        }
        // .shstrtab is always present (it is the file's section name table).
        let mut shstr = StrTab::new();
        let mut name_offsets: Vec<u32> = sections.iter().map(|s| shstr.add(&s.name)).collect();
        name_offsets.push(shstr.add(b".shstrtab"));
        sections.push(Section {
            name: b".shstrtab".to_vec(),
            sh_type: SHT_STRTAB,
            flags: 0,
            align: 1,
            entsize: 0,
            data: shstr.data,
        });
        let shstrndx = sections.len(); // index in the file (null section is 0)

        // ---- file layout -----------------------------------------------------------------
        let ehsize = if is_64 { 64 } else { 52 };
        let shentsize = if is_64 { 64 } else { 40 };
        let mut out = vec![0u8; ehsize];
        let mut placed: Vec<(usize, usize)> = Vec::new();
        for s in &sections {
            let align = s.align.max(1) as usize;
            while out.len() % align != 0 {
                out.push(0);
            }
            placed.push((out.len(), s.data.len()));
            if s.sh_type != SHT_NOBITS {
                out.extend_from_slice(&s.data);
            }
        }
        while out.len() % word != 0 {
            out.push(0);
        }
        let shoff = out.len();
        let shnum = sections.len() + 1;

        // ELF header.
        let mut h = Vec::with_capacity(ehsize);
        h.extend_from_slice(&[0x7f, b'E', b'L', b'F']);
        h.push(if is_64 { 2 } else { 1 });
        h.push(if enc.be { 2 } else { 1 });
        h.push(1); // EI_VERSION
        h.push(0); // ELFOSABI_NONE
        h.resize(16, 0);
        enc.u16(&mut h, 1); // ET_REL
        enc.u16(&mut h, b.arch.e_machine());
        enc.u32(&mut h, 1); // EV_CURRENT
        enc.word(&mut h, 0); // e_entry
        enc.word(&mut h, 0); // e_phoff
        enc.word(&mut h, shoff as u64);
        enc.u32(&mut h, b.arch.e_flags());
        enc.u16(&mut h, ehsize as u16);
        enc.u16(&mut h, 0); // e_phentsize
        enc.u16(&mut h, 0); // e_phnum
        enc.u16(&mut h, shentsize as u16);
        enc.u16(&mut h, shnum as u16);
        enc.u16(&mut h, shstrndx as u16);
        assert_eq!(h.len(), ehsize);
        out[..ehsize].copy_from_slice(&h);

        // Section header table.
        out.resize(out.len() + shentsize, 0); // null section
        let mut layouts = Vec::new();
        for (i, s) in sections.iter().enumerate() {
            let (offset, size) = placed[i];
            let (link, info) = if s.sh_type == SHT_SYMTAB {
                (strtab_index as u32, first_global as u32)
            } else {
                (0, 0)
            };
            let header_offset = out.len();
            let mut sh = Vec::with_capacity(shentsize);
            enc.u32(&mut sh, name_offsets[i]);
            enc.u32(&mut sh, s.sh_type);
            enc.word(&mut sh, s.flags);
            enc.word(&mut sh, 0); // sh_addr
            enc.word(&mut sh, offset as u64);
            enc.word(&mut sh, size as u64);
            enc.u32(&mut sh, link);
            enc.u32(&mut sh, info);
            enc.word(&mut sh, s.align);
            enc.word(&mut sh, s.entsize);
            assert_eq!(sh.len(), shentsize);
            out.extend_from_slice(&sh);
            layouts.push(SectionLayout {
                index: i + 1,
                name: String::from_utf8_lossy(&s.name).into_owned(),
                offset,
                size,
                header_offset,
            });
        }

        Layout {
            bytes: out,
            is_64,
            big_endian: enc.be,
            shoff,
            shentsize,
            sections: layouts,
        }
    }
}
