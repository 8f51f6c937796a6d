//! Compression bombs and huge compressed modules: memory stays bounded whatever a compressed
//! module decodes to, and a real module is read whatever its size.
//!
//! - 3 GiB of zeros as `.ko.zst` (with and without the frame's content size), `.ko.xz` and
//!   `.ko.gz`: not ELF, reported as such (`Exec format error`, as kmod reports a compressed
//!   non-ELF file) after 64 decoded bytes.
//! - An ELF header followed by 3 GiB of zeros: `Invalid argument`, as for the same file
//!   uncompressed (and as kmod reads that).
//! - A real module (exports with CRCs, imports with versions, aliases, a softdep) with a
//!   1.5 GiB section depmod does not read, before its symbol tables and section headers: the
//!   outputs equal kmod's (which decodes it whole) and those of the same module uncompressed
//!   (a sparse file); in xz and gzip, with 256 MiB, too.
//!
//! Every run of ours is measured (`support::measure`): peak RSS under 256 MiB. The streams are
//! generated as they are written, never whole in memory or on disk uncompressed: zstd by its
//! encoder (level 1, one thread); xz and gzip by repeating the compressed form of 1 MiB of
//! zeros (an LZMA2 chunk sequence that resets the dictionary, a deflate block ended by a
//! full flush) in a container written here.
//!
//! The library-level tests read small modules sparse on purpose (a tiny in-memory limit) and
//! require exactly the facts (or the error) of reading them whole.

use crate::support::measure::{Measured, run_measured};
use crate::support::*;
use depmod::scan::budget::Budget;
use depmod::scan::compressed::{self, Input, Limits, Trace};
use depmod::scan::module::{self, Compression, Scanned};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The peak RSS a run of ours may reach on any of these trees.
const RSS_MAX_KIB: u64 = 256 << 10;

static ZEROS: [u8; MIB as usize] = [0; MIB as usize];

/// A piece of a decoded stream.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Bytes(&'a [u8]),
    /// This many zero bytes (any number; repeated in 1 MiB units where it matters).
    Zeros(u64),
}

fn total(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Zeros(n) => *n,
        })
        .sum()
}

/// The CRC32 of the pieces (zeros in 1 MiB units, combined).
fn crc32(pieces: &[Piece]) -> u32 {
    let mut unit = crc32fast::Hasher::new();
    unit.update(&ZEROS);
    let mut h = crc32fast::Hasher::new();
    for p in pieces {
        match *p {
            Piece::Bytes(b) => h.update(b),
            Piece::Zeros(n) => {
                for _ in 0..n / MIB {
                    h.combine(&unit);
                }
                h.update(&ZEROS[..(n % MIB) as usize]);
            }
        }
    }
    h.finalize()
}

fn create(path: &Path) -> BufWriter<File> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    BufWriter::with_capacity(1 << 20, File::create(path).unwrap())
}

/// A zstd frame of the pieces (level 1, one thread), stating its size or not.
fn write_zst(w: impl Write, pieces: &[Piece], content_size: bool) {
    let mut e = zstd::stream::write::Encoder::new(w, 1).unwrap();
    e.include_contentsize(content_size).unwrap();
    if content_size {
        e.set_pledged_src_size(Some(total(pieces))).unwrap();
    }
    for p in pieces {
        match *p {
            Piece::Bytes(b) => e.write_all(b).unwrap(),
            Piece::Zeros(n) => {
                for _ in 0..n / MIB {
                    e.write_all(&ZEROS).unwrap();
                }
                e.write_all(&ZEROS[..(n % MIB) as usize]).unwrap();
            }
        }
    }
    e.finish().unwrap();
}

/// `data` as raw LZMA2 chunks (1 MiB dictionary), starting with a dictionary reset, without
/// the end marker: such sequences can follow each other.
fn lzma2_chunks(data: &[u8]) -> Vec<u8> {
    let mut opts = liblzma::stream::LzmaOptions::new_preset(0).unwrap();
    opts.dict_size(MIB as u32);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&opts);
    let mut s = liblzma::stream::Stream::new_raw_encoder(&filters).unwrap();
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        let consumed = s.total_in() as usize;
        let status = s
            .process_vec(&data[consumed..], &mut out, liblzma::stream::Action::Finish)
            .unwrap();
        if status == liblzma::stream::Status::StreamEnd {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    assert_eq!(out.pop(), Some(0), "the LZMA2 end marker");
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn crc_of(bytes: &[u8]) -> [u8; 4] {
    crc32fast::hash(bytes).to_le_bytes()
}

/// An xz file (one stream, one block, LZMA2 with a 1 MiB dictionary, CRC32 check) of the
/// pieces, each compressed on its own, zeros as a repeated 1 MiB unit.
fn write_xz(mut f: impl Write, pieces: &[Piece]) {
    let flags = [0u8, 1]; // CRC32
    let mut header = b"\xfd7zXZ\0".to_vec();
    header.extend_from_slice(&flags);
    header.extend_from_slice(&crc_of(&flags));
    // Block header: size, flags (one filter, no sizes), LZMA2 (0x21) with one property byte
    // (dictionary 1 MiB = 16), padding, CRC32.
    let mut block = vec![2u8, 0, 0x21, 1, 16, 0, 0, 0];
    let block_crc = crc_of(&block);
    block.extend_from_slice(&block_crc);
    header.extend_from_slice(&block);
    f.write_all(&header).unwrap();
    let unit = lzma2_chunks(&ZEROS);
    let mut compressed = 0u64;
    let mut put = |f: &mut dyn Write, bytes: &[u8]| {
        f.write_all(bytes).unwrap();
        compressed += bytes.len() as u64;
    };
    for p in pieces {
        match *p {
            Piece::Bytes(b) if !b.is_empty() => put(&mut f, &lzma2_chunks(b)),
            Piece::Bytes(_) => {}
            Piece::Zeros(n) => {
                for _ in 0..n / MIB {
                    put(&mut f, &unit);
                }
                if n % MIB != 0 {
                    put(&mut f, &lzma2_chunks(&ZEROS[..(n % MIB) as usize]));
                }
            }
        }
    }
    put(&mut f, &[0]); // end of the LZMA2 data
    let padding = (4 - compressed % 4) % 4;
    f.write_all(&[0u8; 3][..padding as usize]).unwrap();
    f.write_all(&crc32(pieces).to_le_bytes()).unwrap();
    let unpadded = block.len() as u64 + compressed + 4;
    let mut index = vec![0u8];
    varint(&mut index, 1);
    varint(&mut index, unpadded);
    varint(&mut index, total(pieces));
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let index_crc = crc_of(&index);
    index.extend_from_slice(&index_crc);
    f.write_all(&index).unwrap();
    let mut footer = ((index.len() / 4 - 1) as u32).to_le_bytes().to_vec();
    footer.extend_from_slice(&flags);
    f.write_all(&crc_of(&footer)).unwrap();
    f.write_all(&footer).unwrap();
    f.write_all(b"YZ").unwrap();
}

/// `data` as raw deflate blocks ended by a full flush (byte-aligned, referring to nothing
/// before them): such runs can follow each other.
fn deflate_run(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Full)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    out
}

/// A gzip file of the pieces, each deflated on its own, zeros as a repeated 1 MiB unit.
fn write_gz(mut f: impl Write, pieces: &[Piece]) {
    f.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    let unit = deflate_run(&ZEROS);
    for p in pieces {
        match *p {
            Piece::Bytes(b) => f.write_all(&deflate_run(b)).unwrap(),
            Piece::Zeros(n) => {
                for _ in 0..n / MIB {
                    f.write_all(&unit).unwrap();
                }
                f.write_all(&deflate_run(&ZEROS[..(n % MIB) as usize]))
                    .unwrap();
            }
        }
    }
    // A final empty fixed-Huffman block.
    f.write_all(&[3, 0]).unwrap();
    f.write_all(&crc32(pieces).to_le_bytes()).unwrap();
    f.write_all(&(total(pieces) as u32).to_le_bytes()).unwrap();
}

/// The pieces as a plain file, zeros as holes.
fn write_sparse(path: &Path, pieces: &[Piece]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = File::create(path).unwrap();
    let mut at = 0;
    for p in pieces {
        match *p {
            Piece::Bytes(b) => {
                f.write_all_at(b, at).unwrap();
                at += b.len() as u64;
            }
            Piece::Zeros(n) => at += n,
        }
    }
    f.set_len(at).unwrap();
}

/// Write the pieces in a format (`zst`, `zst-nosize`, `xz`, `gz`, `ko`).
fn write_as(format: &str, path: &Path, pieces: &[Piece]) {
    if format == "ko" {
        return write_sparse(path, pieces);
    }
    let mut f = create(path);
    encode(format, &mut f, pieces);
    f.flush().unwrap();
}

/// The pieces compressed in a format (`zst`, `zst-nosize`, `xz`, `gz`).
fn encode(format: &str, w: impl Write, pieces: &[Piece]) {
    match format {
        "zst" => write_zst(w, pieces, true),
        "zst-nosize" => write_zst(w, pieces, false),
        "xz" => write_xz(w, pieces),
        "gz" => write_gz(w, pieces),
        _ => unreachable!("{format}"),
    }
}

fn suffix(format: &str) -> &'static str {
    match format {
        "zst" | "zst-nosize" => ".ko.zst",
        "xz" => ".ko.xz",
        "gz" => ".ko.gz",
        _ => ".ko",
    }
}

#[test]
fn streamed_containers_decode_to_their_pieces() {
    let text: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let pieces = [
        Piece::Bytes(b"head"),
        Piece::Zeros(3 * MIB + 5),
        Piece::Bytes(&text),
        Piece::Zeros(MIB),
        Piece::Bytes(b""),
        Piece::Zeros(17),
    ];
    let mut want = b"head".to_vec();
    want.resize(want.len() + (3 * MIB + 5) as usize, 0);
    want.extend_from_slice(&text);
    want.resize(want.len() + MIB as usize + 17, 0);
    let dir = tempfile::tempdir().unwrap();
    for format in ["zst", "zst-nosize", "xz", "gz", "ko"] {
        let path = dir.path().join(format!("m{}", suffix(format)));
        write_as(format, &path, &pieces);
        let bytes = std::fs::read(&path).unwrap();
        let mut got = Vec::new();
        use std::io::Read;
        match format {
            "zst" | "zst-nosize" => {
                let size = zstd::zstd_safe::get_frame_content_size(&bytes).unwrap();
                assert_eq!(size.is_some(), format == "zst");
                zstd::stream::read::Decoder::new(&bytes[..])
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap()
            }
            "xz" => liblzma::read::XzDecoder::new(&bytes[..])
                .read_to_end(&mut got)
                .unwrap(),
            "gz" => flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut got)
                .unwrap(),
            _ => {
                got = bytes.clone();
                got.len()
            }
        };
        assert!(got == want, "{format}: {} bytes decoded", got.len());
        if format == "xz" {
            // The container is checked by its own tool too, when it is there.
            if let Ok(out) = std::process::Command::new("xz")
                .arg("-t")
                .arg(&path)
                .output()
            {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        if format == "gz"
            && let Ok(out) = std::process::Command::new("gzip")
                .arg("-t")
                .arg(&path)
                .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runs of ours on bombs

/// A tree with two ordinary modules (c.ko needs b.ko) and room for the module under test,
/// `kernel/<stem><suffix>`, listed in modules.order.
fn tree_around(stem: &str) -> Tree {
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.add_module(
        "kernel/b.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("fb", 0x3333_4444)
            .build(),
    );
    t.add_module(
        "kernel/c.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("fb", Some(0x3333_4444))
            .build(),
    );
    let me = format!("kernel/{stem}.ko");
    t.modules_order(&[&me, "kernel/b.ko", "kernel/c.ko"]);
    t
}

/// Run ours on the tree, measured; report it.
fn run_measured_ours(t: &Tree, what: &str) -> Measured {
    let m = run_measured(&our_bin(), &standard_argv(t, &[]));
    eprintln!(
        "{what}: peak RSS {:.1} MiB, {:.2} s, exit {:?}",
        m.peak_rss_kib as f64 / 1024.0,
        m.elapsed.as_secs_f64(),
        m.status
    );
    m
}

fn out_bytes(t: &Tree, name: &str) -> Vec<u8> {
    std::fs::read(t.out_moddir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn out_text(t: &Tree, name: &str) -> String {
    std::fs::read_to_string(t.out_moddir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The module `kernel/<stem><suffix>` could not be used: exit 0, exactly one
/// `failed to load symbols from <path>: <strerror>` line, the module listed without
/// dependencies, the others as usual; and the run stayed under [`RSS_MAX_KIB`].
fn assert_unusable(t: &Tree, m: &Measured, name: &str, strerror: &str) {
    let stderr = String::from_utf8_lossy(&m.stderr);
    assert_eq!(m.status, Some(0), "{stderr}");
    let path = t.moddir().join(name);
    assert_eq!(
        stderr,
        format!(
            "depmod: ERROR: failed to load symbols from {}: {strerror}\n",
            path.display()
        )
    );
    let dep = out_text(t, "modules.dep");
    assert_eq!(
        dep,
        format!("{name}:\nkernel/b.ko:\nkernel/c.ko: kernel/b.ko\n"),
        "{dep}"
    );
    assert!(
        m.peak_rss_kib < RSS_MAX_KIB,
        "{name}: peak RSS {} KiB",
        m.peak_rss_kib
    );
}

/// 3 GiB of zeros in `format`: not ELF.
fn zeros(format: &str) {
    let t = tree_around("bomb");
    let name = format!("kernel/bomb{}", suffix(format));
    write_as(format, &t.moddir().join(&name), &[Piece::Zeros(3 * GIB)]);
    let m = run_measured_ours(&t, &format!("3 GiB of zeros, {format}"));
    assert_unusable(&t, &m, &name, "Exec format error");
}

#[test]
fn zeros_zstd_with_content_size() {
    zeros("zst");
}

#[test]
fn zeros_zstd_without_content_size() {
    zeros("zst-nosize");
}

#[test]
fn zeros_xz() {
    zeros("xz");
}

#[test]
fn zeros_gzip() {
    zeros("gz");
}

/// The first 64 bytes of a module, with `e_shoff` set to `shoff` (when given).
fn elf_header(shoff: Option<u64>) -> Vec<u8> {
    let mut l = ModuleBuilder::new(Arch::X86_64)
        .export("fa", 0x1111_2222)
        .alias("x:a")
        .build_layout();
    if let Some(off) = shoff {
        let at = l.e_shoff_offset();
        l.put(at, 8, off);
    }
    l.bytes[..64].to_vec()
}

/// An ELF header followed by 3 GiB of zeros (zstd, `format`): its section headers (inside the
/// zeros, or at their end) are all zero, so the image is invalid, as the same file
/// uncompressed is.
fn header_then_zeros(format: &str, shoff: Option<u64>, what: &str) {
    let head = elf_header(shoff);
    let pieces = [Piece::Bytes(&head), Piece::Zeros(3 * GIB)];
    let t = tree_around("bomb");
    write_as(format, &t.moddir().join("kernel/bomb.ko.zst"), &pieces);
    let m = run_measured_ours(&t, what);
    assert_unusable(&t, &m, "kernel/bomb.ko.zst", "Invalid argument");

    // The same image uncompressed (a sparse file): the same result. (Not `run_ours`, which
    // would read the sparse file whole to see that it is unchanged.)
    let plain = tree_around("bomb");
    write_as("ko", &plain.moddir().join("kernel/bomb.ko"), &pieces);
    let r = run_measured_ours(&plain, "the same uncompressed");
    assert_eq!(r.status, Some(0));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&m.stderr).replace(
            &format!("{}/kernel/bomb.ko.zst", t.moddir().display()),
            &format!("{}/kernel/bomb.ko", plain.moddir().display())
        )
    );
}

#[test]
fn elf_header_then_zeros_tables_inside() {
    // The section headers a few KiB in, and no size in the frame: decoded into memory up to
    // the limit, then read sparse.
    header_then_zeros("zst-nosize", None, "ELF header + 3 GiB of zeros, zstd");
    // kmod reads the file whole; as it says on a smaller one (the section headers are in the
    // zeros all the same).
    let head = elf_header(None);
    let plain = tree_around("bomb");
    write_as(
        "ko",
        &plain.moddir().join("kernel/bomb.ko"),
        &[Piece::Bytes(&head), Piece::Zeros(8 * MIB)],
    );
    compare_with_reference(&plain, &[]);
}

#[test]
fn elf_header_then_zeros_tables_at_the_end() {
    // The section headers at the very end, and the size in the frame: sparse from the start.
    let shoff = 64 + 3 * GIB - 64 * 20;
    header_then_zeros(
        "zst",
        Some(shoff),
        "ELF header (section headers at 3 GiB) + 3 GiB of zeros, zstd",
    );
}

// ---------------------------------------------------------------------------------------------
// A real module with a huge section it does not read

/// A module exporting `huge_a`, `huge_b` (CRCs in `__kcrctab`, or absolute), needing
/// `huge_dep` (with a `__versions` record), with aliases and a softdep, and a `.debug_info`
/// of `big` zero bytes (a multiple of 4 KiB) before its symbol tables and section headers.
/// Returned as the bytes before the zeros, their length and the bytes after.
fn huge_module(arch: Arch, crc: CrcMode, big: u64) -> (Vec<u8>, u64, Vec<u8>) {
    huge_module_with(arch, crc, big, None)
}

/// [`huge_module`] with an extra local symbol named `symbol` (its name lands in `.strtab`).
fn huge_module_with(
    arch: Arch,
    crc: CrcMode,
    big: u64,
    symbol: Option<&str>,
) -> (Vec<u8>, u64, Vec<u8>) {
    assert_eq!(big % 4096, 0);
    const HOLE: usize = 4096;
    let mut b = ModuleBuilder::new(arch)
        .crc_mode(crc)
        .export("huge_a", 0x0a0a_0a0a)
        .export("huge_b", 0x0b0b_0b0b)
        .import("huge_dep", Some(0x0d0d_0d0d))
        .alias("pci:v0000BEEFd*sv*sd*bc*sc*i*")
        .alias("huge-alias")
        .modinfo("softdep", "pre: b")
        .section(Section::progbits(".debug_info", 0, 1, vec![0; HOLE]));
    if let Some(name) = symbol {
        b = b.symbol(Symbol::new(
            name,
            crate::support::elf::STB_LOCAL,
            crate::support::elf::STT_OBJECT,
            Shndx::Named(".debug_info".into()),
            0,
        ));
    }
    let mut l = b.build_layout();
    let debug = l.section(".debug_info").expect(".debug_info").clone();
    let (at, after) = (debug.offset, debug.offset + HOLE);
    let grow = big - HOLE as u64;
    let word = if l.is_64 { 8 } else { 4 };
    let (off_field, size_field) = if l.is_64 { (0x18, 0x20) } else { (0x10, 0x14) };
    for s in l.sections.clone() {
        if s.offset >= after {
            l.put(s.header_offset + off_field, word, s.offset as u64 + grow);
        }
    }
    l.put(debug.header_offset + size_field, word, big);
    let shoff_at = l.e_shoff_offset();
    l.put(shoff_at, word, l.shoff as u64 + grow);
    (l.bytes[..at].to_vec(), big, l.bytes[after..].to_vec())
}

/// The tree around a huge module `kernel/huge<suffix>`: `b.ko` exports what it needs,
/// `user.ko` needs what it exports.
fn huge_tree(format: &str, pieces: &[Piece]) -> Tree {
    let t = Tree::new();
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.add_module(
        "kernel/b.ko",
        ModuleBuilder::new(Arch::X86_64)
            .export("huge_dep", 0x0d0d_0d0d)
            .build(),
    );
    t.add_module(
        "kernel/user.ko",
        ModuleBuilder::new(Arch::X86_64)
            .import("huge_a", Some(0x0a0a_0a0a))
            .import("huge_b", Some(0x0b0b_0b0b))
            .build(),
    );
    write_as(
        format,
        &t.moddir().join(format!("kernel/huge{}", suffix(format))),
        pieces,
    );
    t.modules_order(&["kernel/user.ko", "kernel/huge.ko", "kernel/b.ko"]);
    t
}

/// Every output of a run (`read` gives each by name), the index files as their decoded
/// entries, with the huge module's suffix made `.ko`.
fn outputs_as_plain(read: impl Fn(&str) -> Vec<u8>, suffix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in OUTPUTS {
        let bytes = read(name);
        let text = if name.ends_with(".bin") {
            kmod_index::IndexReader::new(&bytes)
                .expect(name)
                .dump()
                .expect(name)
                .into_iter()
                .map(|(k, p, v)| {
                    format!(
                        "{} {p} {}\n",
                        String::from_utf8_lossy(&k),
                        String::from_utf8_lossy(&v)
                    )
                })
                .collect()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        out.push((name.to_string(), text.replace(suffix, ".ko")));
    }
    out
}

/// The huge module in `format` gives exactly the outputs of the same module uncompressed;
/// ours stays under [`RSS_MAX_KIB`].
fn huge_equals_plain(format: &str, big: u64) -> Tree {
    let m = huge_module(Arch::X86_64, CrcMode::Kcrctab, big);
    let pieces = pieces_of(&m);
    let t = huge_tree(format, &pieces);
    let m = run_measured_ours(
        &t,
        &format!("a module with {} MiB of debug info, {format}", big / MIB),
    );
    assert_eq!(m.status, Some(0));
    assert_eq!(String::from_utf8_lossy(&m.stderr), "");
    assert!(
        m.peak_rss_kib < RSS_MAX_KIB,
        "peak RSS {} KiB",
        m.peak_rss_kib
    );
    // (Not `run_ours`, which would read the sparse file whole to see that it is unchanged.)
    let plain = huge_tree("ko", &pieces);
    let r = run_measured_ours(&plain, "the same uncompressed");
    assert_eq!(r.status, Some(0));
    assert_eq!(String::from_utf8_lossy(&r.stderr), "");
    assert_eq!(
        outputs_as_plain(|name| out_bytes(&t, name), suffix(format)),
        outputs_as_plain(|name| out_bytes(&plain, name), ".ko")
    );
    // Everything the module holds made it through.
    let dep = out_text(&t, "modules.dep");
    let s = suffix(format);
    assert_eq!(
        dep,
        format!(
            "kernel/user.ko: kernel/huge{s} kernel/b.ko\nkernel/huge{s}: kernel/b.ko\nkernel/b.ko:\n"
        )
    );
    let alias = out_text(&t, "modules.alias");
    assert!(alias.contains("alias huge-alias huge\n"), "{alias}");
    assert!(out_text(&t, "modules.softdep").contains("softdep huge pre: b"));
    t
}

#[test]
fn huge_module_zstd_equals_plain_and_kmod() {
    // Over the 1 GiB that used to be refused; kmod decodes it whole (1.5 GiB of memory).
    let t = huge_equals_plain("zst", 1536 * MIB);
    compare_with_reference(&t, &[]);
}

#[test]
fn large_module_xz_equals_plain_and_kmod() {
    let t = huge_equals_plain("xz", 256 * MIB);
    compare_with_reference(&t, &[]);
}

#[test]
fn large_module_gzip_equals_plain() {
    // The reference has no zlib.
    huge_equals_plain("gz", 256 * MIB);
}

/// Every kind of bomb and a huge module in one tree, read by 8 threads at once: what they
/// hold together stays bounded by the shared budget, not multiplied by the threads.
#[test]
fn all_at_once() {
    let t = huge_tree(
        "zst",
        &pieces_of(&huge_module(Arch::X86_64, CrcMode::Kcrctab, 1536 * MIB)),
    );
    let mut order = vec!["kernel/user.ko", "kernel/huge.ko", "kernel/b.ko"];
    let zeros = [Piece::Zeros(3 * GIB)];
    for (stem, format) in [
        ("z1", "zst"),
        ("z2", "zst-nosize"),
        ("z3", "xz"),
        ("z4", "gz"),
    ] {
        write_as(
            format,
            &t.moddir().join(format!("kernel/{stem}{}", suffix(format))),
            &zeros,
        );
    }
    let inside = elf_header(None);
    let at_end = elf_header(Some(64 + 3 * GIB - 64 * 20));
    for (stem, format, head) in [
        ("h1", "zst-nosize", &inside),
        ("h2", "zst", &at_end),
        ("h3", "gz", &inside),
    ] {
        write_as(
            format,
            &t.moddir().join(format!("kernel/{stem}{}", suffix(format))),
            &[Piece::Bytes(head), Piece::Zeros(3 * GIB)],
        );
    }
    let stems = ["z1", "z2", "z3", "z4", "h1", "h2", "h3"].map(|s| format!("kernel/{s}.ko"));
    order.extend(stems.iter().map(String::as_str));
    t.modules_order(&order);
    let m = run_measured(&our_bin(), &standard_argv(&t, &["-j", "8"]));
    eprintln!(
        "all at once, -j 8: peak RSS {:.1} MiB, {:.2} s, exit {:?}",
        m.peak_rss_kib as f64 / 1024.0,
        m.elapsed.as_secs_f64(),
        m.status
    );
    let stderr = String::from_utf8_lossy(&m.stderr);
    assert_eq!(m.status, Some(0), "{stderr}");
    let failed = |name: &str, why: &str| {
        format!(
            "depmod: ERROR: failed to load symbols from {}: {why}\n",
            t.moddir().join(name).display()
        )
    };
    let mut want = String::new();
    for name in ["z1.ko.zst", "z2.ko.zst", "z3.ko.xz", "z4.ko.gz"] {
        want += &failed(&format!("kernel/{name}"), "Exec format error");
    }
    for name in ["h1.ko.zst", "h2.ko.zst", "h3.ko.gz"] {
        want += &failed(&format!("kernel/{name}"), "Invalid argument");
    }
    assert_eq!(stderr, want);
    assert!(
        out_text(&t, "modules.dep").starts_with("kernel/user.ko: kernel/huge.ko.zst kernel/b.ko\n")
    );
    assert!(
        m.peak_rss_kib < RSS_MAX_KIB,
        "peak RSS {} KiB",
        m.peak_rss_kib
    );
}

// ---------------------------------------------------------------------------------------------
// Sparse reading, at the library level

/// Limits that read every ELF image sparse.
const SPARSE: Limits = Limits {
    whole_max: 0,
    sparse_max: 64 << 20,
};

/// Read compressed bytes with the given limits and budget.
fn read_with(bytes: &[u8], limits: &Limits, budget: &Budget) -> (Scanned, Trace) {
    let kind = module::compression_of(bytes);
    assert_ne!(kind, Compression::None);
    compressed::read_with(
        kind,
        Input::Bytes(bytes),
        &bytes[..bytes.len().min(64)],
        limits,
        budget,
    )
}

fn plain_of(pieces: &[Piece]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in pieces {
        match *p {
            Piece::Bytes(b) => v.extend_from_slice(b),
            Piece::Zeros(n) => v.resize(v.len() + n as usize, 0),
        }
    }
    v
}

fn compress(format: &str, pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(format, &mut out, pieces);
    out
}

/// A [`huge_module`] as pieces.
fn pieces_of(m: &(Vec<u8>, u64, Vec<u8>)) -> [Piece<'_>; 3] {
    [Piece::Bytes(&m.0), Piece::Zeros(m.1), Piece::Bytes(&m.2)]
}

/// Every architecture and CRC style, with 2 MiB depmod does not read before the tables (more
/// than the first pass keeps before the section headers), with and without a string table
/// over 1 MiB (so that the first pass does not hold the symbol table either), in the three
/// formats in turn: the sparse image gives exactly the facts of the whole image, in two
/// passes.
#[test]
fn sparse_reads_equal_whole_reads() {
    let budget = Budget::new(256 << 20);
    let long_name = "n".repeat(1_200_000);
    let mut cases = 0;
    for arch in Arch::ALL {
        for crc in [CrcMode::Kcrctab, CrcMode::Absolute, CrcMode::None] {
            for long_strtab in [false, true] {
                let symbol = long_strtab.then_some(long_name.as_str());
                let m = huge_module_with(arch, crc, 2 << 20, symbol);
                let want = module::scan_bytes(&plain_of(&pieces_of(&m)));
                let facts = want.as_ref().expect("the module reads");
                assert_eq!(facts.aliases.len(), 2);
                let format = ["zst", "xz", "gz"][cases % 3];
                let c = compress(format, &pieces_of(&m));
                let what = format!("{arch:?} {crc:?} long strtab {long_strtab} {format}");
                let (whole, trace) = read_with(&c, &Limits::DEFAULT, &budget);
                assert_eq!(whole, want, "{what}: whole");
                assert_eq!(
                    trace,
                    Trace {
                        decodes: 1,
                        sparse: false
                    },
                    "{what}"
                );
                let (sparse, trace) = read_with(&c, &SPARSE, &budget);
                assert_eq!(sparse, want, "{what}: sparse");
                // A zstd frame states its size: sparse from the start. Otherwise the header
                // is decoded first.
                let header = u32::from(format != "zst");
                assert_eq!(
                    trace,
                    Trace {
                        decodes: header + 2,
                        sparse: true
                    },
                    "{what}"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(budget.held(), 0);
    eprintln!("{cases} modules read sparse and whole");
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Damaged modules (bytes changed in the ELF header, the section headers, anywhere): read
/// sparse, whole and uncompressed, the result (facts or error) is the same.
#[test]
fn sparse_and_whole_agree_on_damaged_modules() {
    let budget = Budget::new(256 << 20);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut errors = 0;
    for case in 0..300 {
        let arch = Arch::ALL[rng.below(Arch::ALL.len())];
        let crc = [CrcMode::Kcrctab, CrcMode::Absolute, CrcMode::None][rng.below(3)];
        // More than the first pass keeps before the section headers.
        let m = huge_module(arch, crc, 1280 << 10);
        let mut plain = plain_of(&pieces_of(&m));
        // The end of the file: the section headers and the name tables.
        let table = plain.len() - m.2.len().min(2048);
        for _ in 0..1 + rng.below(4) {
            let at = match rng.below(3) {
                0 => rng.below(64),
                1 => table + rng.below(plain.len() - table),
                _ => rng.below(plain.len()),
            };
            plain[at] = match rng.below(3) {
                0 => 0,
                1 => 0xff,
                _ => rng.next() as u8,
            };
        }
        let want = module::scan_bytes(&plain);
        errors += usize::from(want.is_err());
        // The encoders' own streams (zstd level 3, gzip level 6, xz preset 6: slower, fewer).
        let c = match case % 10 {
            0 => crate::support::compress::xz(&plain),
            n if n % 2 == 1 => crate::support::compress::zst(&plain),
            _ => crate::support::compress::gz(&plain),
        };
        let (whole, _) = read_with(&c, &Limits::DEFAULT, &budget);
        assert_eq!(whole, want, "case {case}: whole");
        let (sparse, trace) = read_with(&c, &SPARSE, &budget);
        assert_eq!(sparse, want, "case {case}: sparse ({trace:?})");
        assert!(trace.decodes <= 4, "case {case}: {trace:?}");
    }
    assert_eq!(budget.held(), 0);
    eprintln!("300 damaged modules, {errors} unreadable");
}

/// What a sparse image would keep is limited: past it, the module is reported as too large,
/// with the decoder's out-of-memory message.
#[test]
fn sparse_images_keep_at_most_their_limit() {
    let budget = Budget::new(256 << 20);
    let m = huge_module(Arch::X86_64, CrcMode::Kcrctab, 2 << 20);
    let c = compress("xz", &pieces_of(&m));
    let tiny = Limits {
        whole_max: 0,
        sparse_max: 16,
    };
    let (got, trace) = read_with(&c, &tiny, &budget);
    let e = got.expect_err("too large");
    assert_eq!(e.errno, libc::EINVAL);
    assert_eq!(
        e.decompress.as_deref(),
        Some(&b"xz: Cannot allocate memory\n"[..])
    );
    assert_eq!(trace.decodes, 2);
}

/// Many threads reading modules whose images do not all fit a small budget at once: each
/// waits for its turn (or reads sparse), every result is right, and everything is given back.
#[test]
fn threads_share_a_small_budget() {
    let budget = Budget::new(12 << 20);
    let mut modules = Vec::new();
    for (i, format) in ["zst", "xz", "gz", "zst", "xz", "gz"].iter().enumerate() {
        let m = huge_module(Arch::X86_64, CrcMode::Kcrctab, (3 + i as u64) << 20);
        let want = module::scan_bytes(&plain_of(&pieces_of(&m)));
        assert!(want.is_ok());
        modules.push((compress(format, &pieces_of(&m)), want));
    }
    let sparse = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..6 {
            let (modules, budget, sparse) = (&modules, &budget, &sparse);
            s.spawn(move || {
                for round in 0..4 {
                    let (c, want) = &modules[(t + round) % modules.len()];
                    let (got, trace) = read_with(c, &Limits::DEFAULT, budget);
                    assert_eq!(&got, want, "thread {t} round {round}");
                    if trace.sparse {
                        sparse.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(budget.held(), 0);
    // Each fits the budget alone: none had to be read sparse.
    assert_eq!(sparse.into_inner(), 0);
}
