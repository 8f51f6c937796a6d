//! What one module yields: plain data, every string in one buffer.

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

/// What one module's ELF image yields: plain data, all strings in one buffer.
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
    /// Imports in kmod's order.
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

/// Append a string to a module's string buffer.
pub(crate) fn intern(strings: &mut Vec<u8>, b: &[u8]) -> Str {
    let start = strings.len() as u32;
    strings.extend_from_slice(b);
    Str {
        start,
        len: b.len() as u32,
    }
}
