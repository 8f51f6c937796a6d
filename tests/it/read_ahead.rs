//! What the scan reads ahead of need (`source::Source::prefetch`): exactly the sections it then
//! reads, so that a malformed module cannot make it read anything the reads would not.

use crate::support::*;
use depmod::scan::{elf, source};

/// A source over bytes in memory that records what it is asked to read ahead.
struct Recording<'a> {
    bytes: &'a [u8],
    asked: std::cell::RefCell<Vec<(u64, u64)>>,
}

impl source::Source for Recording<'_> {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<source::Buf<'_>> {
        self.bytes.read_at(offset, len)
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        self.asked.borrow_mut().extend_from_slice(ranges);
    }
}

/// The (offset, size) of a section of a built module.
fn range_of(layout: &crate::support::elf::Layout, name: &str) -> (u64, u64) {
    let s = layout.section(name).expect(name);
    (s.offset as u64, s.size as u64)
}

#[test]
fn only_what_is_read_is_read_ahead() {
    use source::Source;
    // __versions not made of whole 64-byte records: never read, so never read ahead.
    let layout = ModuleBuilder::new(Arch::X86_64)
        .modinfo("license", "GPL")
        .import("printk", None)
        .versions_raw([0u8; 65])
        .build_layout();
    let src = Recording {
        bytes: &layout.bytes,
        asked: Default::default(),
    };
    elf::read_facts(&src).expect("reads");
    let asked = src.asked.borrow().clone();
    assert!(
        !asked.contains(&range_of(&layout, "__versions")),
        "{asked:?}"
    );
    assert!(asked.contains(&range_of(&layout, ".symtab")), "{asked:?}");
    assert!(asked.contains(&range_of(&layout, ".modinfo")), "{asked:?}");
    assert_eq!(src.size(), layout.bytes.len() as u64);

    // A symbol table without its string table (or the reverse): neither is read.
    let layout = ModuleBuilder::new(Arch::X86_64)
        .import("printk", Some(1))
        .drop_section(".strtab")
        .build_layout();
    let src = Recording {
        bytes: &layout.bytes,
        asked: Default::default(),
    };
    let _ = elf::read_facts(&src);
    let asked = src.asked.borrow().clone();
    assert!(!asked.contains(&range_of(&layout, ".symtab")), "{asked:?}");
    assert!(
        asked.contains(&range_of(&layout, "__versions")),
        "{asked:?}"
    );
}
