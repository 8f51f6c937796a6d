//! The reader: [`IndexReader`] looks keys up in an index held in memory as libkmod does
//! (exact and wildcard lookups), and dumps it.

use crate::fnmatch::fnmatch;
use crate::{F_CHILDS, F_PREFIX, F_VALUES, HEADER_LEN, MAGIC, OFFSET_MASK, VERSION, cstr};
use std::fmt;

/// Why an index could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    /// Shorter than the 12-byte header.
    TooShort(usize),
    /// The first word is not `0xB007F457`.
    BadMagic(u32),
    /// The major version (high 16 bits of the second word) is not 2.
    BadVersion(u32),
    /// A node at this offset extends past the end of the data.
    Truncated(usize),
    /// The node at this offset has a child range with `first > last` or `last ≥ 128`.
    BadChildRange {
        /// Offset of the node.
        offset: usize,
        /// Its first child byte.
        first: u8,
        /// Its last child byte.
        last: u8,
    },
    /// A walk reached more nodes than the data can hold, the last one at this offset: some
    /// node is referenced more than once (a cycle or shared subtree, not a tree).
    NotATree(usize),
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::TooShort(len) => write!(f, "index too short ({len} bytes)"),
            IndexError::BadMagic(m) => write!(f, "bad index magic 0x{m:08x}"),
            IndexError::BadVersion(v) => write!(f, "unsupported index version 0x{v:08x}"),
            IndexError::Truncated(o) => write!(f, "index node at offset {o} is truncated"),
            IndexError::BadChildRange {
                offset,
                first,
                last,
            } => write!(
                f,
                "index node at offset {offset} has a bad child range 0x{first:02x}..0x{last:02x}"
            ),
            IndexError::NotATree(o) => {
                write!(f, "index is not a tree (node at offset {o} is shared)")
            }
        }
    }
}

impl std::error::Error for IndexError {}

/// One `(key, priority, value)` entry of [`IndexReader::dump`].
pub type DumpEntry = (Vec<u8>, u32, Vec<u8>);

/// A decoded node header: slices into the index data.
#[derive(Debug, Clone, Copy)]
struct NodeView<'a> {
    offset: usize,
    prefix: &'a [u8],
    first: u8,
    /// Raw child references (4 bytes each) for bytes `first..=last`; empty without children.
    children: &'a [u8],
    /// Value count (0 without values).
    value_count: u32,
    /// Offset of the first value (after the count).
    values_start: usize,
}

/// A step of the explicit-stack subtree walk.
enum Step<'a> {
    /// Visit the node `r`, reached by `edge` from a parent whose key was `buf[..base]`; skip
    /// the first `skip` prefix bytes (only for the start node of a wildcard walk).
    Enter {
        r: u32,
        base: usize,
        edge: Option<u8>,
        skip: usize,
    },
    /// All children of `node` are done; its key is `buf[..len]`.
    Leave { node: NodeView<'a>, len: usize },
}

/// Read access to an index file held in memory, with libkmod's lookups. Every offset is bounds-checked;
/// malformed data gives an [`IndexError`], never a panic.
#[derive(Debug, Clone, Copy)]
pub struct IndexReader<'a> {
    data: &'a [u8],
    root: u32,
}

impl<'a> IndexReader<'a> {
    /// Check the header: at least 12 bytes, magic `0xB007F457`, major version 2 (the minor
    /// version is ignored).
    ///
    /// # Errors
    /// [`IndexError::TooShort`], [`IndexError::BadMagic`] or [`IndexError::BadVersion`].
    pub fn new(data: &'a [u8]) -> Result<Self, IndexError> {
        if data.len() < HEADER_LEN {
            return Err(IndexError::TooShort(data.len()));
        }
        let magic = be32(data, 0).ok_or(IndexError::TooShort(data.len()))?;
        if magic != MAGIC {
            return Err(IndexError::BadMagic(magic));
        }
        let version = be32(data, 4).ok_or(IndexError::TooShort(data.len()))?;
        if version >> 16 != VERSION >> 16 {
            return Err(IndexError::BadVersion(version));
        }
        let root = be32(data, 8).ok_or(IndexError::TooShort(data.len()))?;
        Ok(IndexReader { data, root })
    }

    /// Decode the node a reference points to; `None` for a zero offset.
    fn node(&self, r: u32) -> Result<Option<NodeView<'a>>, IndexError> {
        let offset = (r & OFFSET_MASK) as usize;
        if offset == 0 {
            return Ok(None);
        }
        let data = self.data;
        let truncated = IndexError::Truncated(offset);
        if offset > data.len() {
            return Err(truncated);
        }
        let mut p = offset;
        let mut prefix: &[u8] = &[];
        if r & F_PREFIX != 0 {
            let len = data[p..]
                .iter()
                .position(|&b| b == 0)
                .ok_or(truncated.clone())?;
            prefix = &data[p..p + len];
            p += len + 1;
        }
        let mut first = 0;
        let mut children: &[u8] = &[];
        if r & F_CHILDS != 0 {
            let (&f, &l) = data.get(p).zip(data.get(p + 1)).ok_or(truncated.clone())?;
            if f > l || l >= 128 {
                return Err(IndexError::BadChildRange {
                    offset,
                    first: f,
                    last: l,
                });
            }
            p += 2;
            let len = 4 * (usize::from(l - f) + 1);
            children = data.get(p..p + len).ok_or(truncated.clone())?;
            first = f;
            p += len;
        }
        let mut value_count = 0;
        if r & F_VALUES != 0 {
            value_count = be32(data, p).ok_or(truncated.clone())?;
            p += 4;
            // Each value takes at least 5 bytes (priority and NUL).
            if value_count as usize > (data.len() - p) / 5 {
                return Err(truncated);
            }
        }
        Ok(Some(NodeView {
            offset,
            prefix,
            first,
            children,
            value_count,
            values_start: p,
        }))
    }

    /// The reference of `node`'s child for byte `ch` (0 if none).
    fn child(&self, node: &NodeView<'a>, ch: u8) -> u32 {
        if ch < node.first {
            return 0;
        }
        let i = 4 * usize::from(ch - node.first);
        match node.children.get(i..i + 4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    /// All `(byte, reference)` children of a node, ascending, absent ones skipped.
    fn children(&self, node: &NodeView<'a>) -> impl DoubleEndedIterator<Item = (u8, u32)> + 'a {
        let first = node.first;
        node.children
            .chunks_exact(4)
            .enumerate()
            .map(move |(i, b)| {
                (
                    first.wrapping_add(i as u8),
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                )
            })
            .filter(|&(_, r)| r & OFFSET_MASK != 0)
    }

    /// Decode at most `limit` values of a node, in stored order.
    fn values(
        &self,
        node: &NodeView<'a>,
        limit: usize,
    ) -> Result<Vec<(u32, &'a [u8])>, IndexError> {
        let data = self.data;
        let count = (node.value_count as usize).min(limit);
        let mut out = Vec::with_capacity(count);
        let mut p = node.values_start;
        for _ in 0..count {
            let priority = be32(data, p).ok_or(IndexError::Truncated(node.offset))?;
            p += 4;
            let len = data
                .get(p..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or(IndexError::Truncated(node.offset))?;
            out.push((priority, &data[p..p + len]));
            p += len + 1;
        }
        Ok(out)
    }

    /// Walk along an exact key; returns the node whose key is exactly `key`, if any.
    fn find(&self, key: &[u8]) -> Result<Option<NodeView<'a>>, IndexError> {
        let key = cstr(key);
        let mut r = self.root;
        let mut i = 0;
        loop {
            let Some(node) = self.node(r)? else {
                return Ok(None);
            };
            if !key[i..].starts_with(node.prefix) {
                return Ok(None);
            }
            i += node.prefix.len();
            if i == key.len() {
                return Ok(Some(node));
            }
            r = self.child(&node, key[i]);
            i += 1;
        }
    }

    /// Exact lookup (modules.dep.bin, modules.builtin.bin): the first stored value of `key`
    /// (the one with the lowest priority), or `None`.
    ///
    /// # Errors
    /// An [`IndexError`] if a node on the way is malformed.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        match self.find(key)? {
            Some(node) => Ok(self.values(&node, 1)?.first().map(|(_, v)| v.to_vec())),
            None => Ok(None),
        }
    }

    /// Exact lookup returning all `(priority, value)` pairs of `key` in stored order.
    ///
    /// # Errors
    /// An [`IndexError`] if a node on the way is malformed.
    pub fn lookup_all(&self, key: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        match self.find(key)? {
            Some(node) => Ok(self
                .values(&node, usize::MAX)?
                .into_iter()
                .map(|(p, v)| (p, v.to_vec()))
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    /// Wildcard lookup as libkmod does it for modules.alias.bin, modules.symbols.bin and
    /// modules.builtin.alias.bin: stored keys are fnmatch(3) patterns (flags 0) matched against
    /// `query`.
    ///
    /// While walking down along the query, the subtrees under the children `*`, `?` and `[` of
    /// each node on the path (and of a node whose prefix contains one of those bytes) are
    /// enumerated and every stored key there is matched, from that byte on, against the rest of
    /// the query; the node reached by the whole query contributes its values. Results are merged
    /// by ascending priority, equal priorities later-added first (a value can appear twice when
    /// the query itself contains `*`, `?` or `[`, as with libkmod).
    ///
    /// # Errors
    /// An [`IndexError`] if a visited node is malformed.
    pub fn lookup_wildcard(&self, query: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        let key = cstr(query);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut r = self.root;
        let mut i = 0;
        'walk: while let Some(node) = self.node(r)? {
            for (j, &ch) in node.prefix.iter().enumerate() {
                if matches!(ch, b'*' | b'?' | b'[') {
                    buf.clear();
                    self.wild_all(r, j, None, &mut buf, &key[i + j..], &mut out)?;
                    break 'walk;
                }
                if key.get(i + j) != Some(&ch) {
                    break 'walk;
                }
            }
            i += node.prefix.len();
            for w in [b'*', b'?', b'['] {
                let c = self.child(&node, w);
                if c & OFFSET_MASK != 0 {
                    buf.clear();
                    self.wild_all(c, 0, Some(w), &mut buf, &key[i..], &mut out)?;
                }
            }
            if i == key.len() {
                for (p, v) in self.values(&node, usize::MAX)? {
                    add_sorted(&mut out, p, v);
                }
                break;
            }
            r = self.child(&node, key[i]);
            i += 1;
        }
        Ok(out)
    }

    /// Enumerate the subtree at `r` (its key starting with `edge` and the prefix from `skip`)
    /// and add the values of every node whose key matches `subkey` as a pattern; children
    /// first, then the node itself (libkmod's order).
    fn wild_all(
        &self,
        r: u32,
        skip: usize,
        edge: Option<u8>,
        buf: &mut Vec<u8>,
        subkey: &[u8],
        out: &mut Vec<(u32, Vec<u8>)>,
    ) -> Result<(), IndexError> {
        self.walk(r, skip, edge, buf, |reader, node, key, post| {
            if post && node.value_count > 0 && fnmatch(key, subkey) {
                for (p, v) in reader.values(node, usize::MAX)? {
                    add_sorted(out, p, v);
                }
            }
            Ok(())
        })
    }

    /// Depth-first walk of the subtree at `r` in ascending byte order without recursion.
    /// `visit(reader, node, key, post)` is called with `post == false` when a node is entered
    /// and with `post == true` after its children; `key` is the node's key (from `edge`/`skip`
    /// on). Every node of a tree has its own offset, so a node reached a second time (a cycle,
    /// a shared subtree) is an error: each node is visited once, and a key is never longer
    /// than the data, whatever the input. (A count of visits alone bounds the work but not the
    /// keys: a node with a long prefix that is its own child makes every key longer.)
    fn walk(
        &self,
        r: u32,
        skip: usize,
        edge: Option<u8>,
        buf: &mut Vec<u8>,
        mut visit: impl FnMut(&Self, &NodeView<'a>, &[u8], bool) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        // One bit per byte offset of the data.
        let mut seen = vec![0u64; self.data.len() / 64 + 1];
        let mut stack = vec![Step::Enter {
            r,
            base: buf.len(),
            edge,
            skip,
        }];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter {
                    r,
                    base,
                    edge,
                    skip,
                } => {
                    let Some(node) = self.node(r)? else {
                        continue;
                    };
                    let (word, bit) = (node.offset / 64, 1u64 << (node.offset % 64));
                    if seen[word] & bit != 0 {
                        return Err(IndexError::NotATree(node.offset));
                    }
                    seen[word] |= bit;
                    buf.truncate(base);
                    buf.extend(edge);
                    buf.extend_from_slice(node.prefix.get(skip..).unwrap_or_default());
                    visit(self, &node, buf, false)?;
                    let len = buf.len();
                    stack.push(Step::Leave { node, len });
                    stack.extend(self.children(&node).rev().map(|(b, c)| Step::Enter {
                        r: c,
                        base: len,
                        edge: Some(b),
                        skip: 0,
                    }));
                }
                Step::Leave { node, len } => {
                    buf.truncate(len);
                    visit(self, &node, buf, true)?;
                }
            }
        }
        Ok(())
    }

    /// Every `(key, priority, value)` of the index, nodes in pre-order with children in
    /// ascending byte order (i.e. keys in ascending byte order), values in stored order.
    ///
    /// # Errors
    /// An [`IndexError`] if any node is malformed or reached twice.
    pub fn dump(&self) -> Result<Vec<DumpEntry>, IndexError> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        self.walk(self.root, 0, None, &mut buf, |reader, node, key, post| {
            if !post && node.value_count > 0 {
                for (p, v) in reader.values(node, usize::MAX)? {
                    out.push((key.to_vec(), p, v.to_vec()));
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// Big-endian u32 at `at`, if in bounds.
fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Insert into a list sorted by ascending priority, before the first entry whose priority is
/// ≥ `priority` (libkmod's result order).
fn add_sorted(out: &mut Vec<(u32, Vec<u8>)>, priority: u32, value: &[u8]) {
    let pos = out.partition_point(|(p, _)| *p < priority);
    out.insert(pos, (priority, value.to_vec()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexBuilder;
    use crate::writer::tests::{build, golden_pre, hex, strs};
    use test_rng::Rng;

    #[test]
    fn index_empty() {
        let bytes = IndexBuilder::new().to_bytes().unwrap();
        assert_eq!(bytes, hex("B007F457 00020001 0000000C"));
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.dump().unwrap(), vec![]);
        assert_eq!(r.lookup(b"").unwrap(), None);
        assert_eq!(r.lookup(b"x").unwrap(), None);
        assert_eq!(r.lookup_wildcard(b"x").unwrap(), vec![]);
    }

    #[test]
    fn index_reader_reads_golden_in_both_layouts() {
        let post = hex("b007f457 00020001 2000003e
                        00000002 00000000 6d3100 00000002 6d3300
                        00000001 00000001 6d3200
                        62 63 4000000c 4000001e
                        00000001 00000001 6d3200
                        61 62 20000029 40000033");
        for bytes in [golden_pre(), post] {
            let r = IndexReader::new(&bytes).unwrap();
            let dump: Vec<(String, u32, String)> = r
                .dump()
                .unwrap()
                .into_iter()
                .map(|(k, p, v)| {
                    (
                        String::from_utf8(k).unwrap(),
                        p,
                        String::from_utf8(v).unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                dump,
                [
                    ("ab", 0, "m1"),
                    ("ab", 2, "m3"),
                    ("ac", 1, "m2"),
                    ("b", 1, "m2")
                ]
                .map(|(k, p, v)| (k.to_string(), p, v.to_string()))
            );
            assert_eq!(r.lookup(b"ab").unwrap(), Some(b"m1".to_vec()));
            assert_eq!(r.lookup(b"a").unwrap(), None);
            assert_eq!(r.lookup(b"abc").unwrap(), None);
            assert_eq!(
                strs(r.lookup_all(b"ab").unwrap()),
                [(0, "m1".into()), (2, "m3".into())]
            );
            assert_eq!(strs(r.lookup_all(b"zz").unwrap()), []);
        }
    }

    #[test]
    fn index_reader_header_checks() {
        let good = golden_pre();
        assert_eq!(
            IndexReader::new(&good[..11]).unwrap_err(),
            IndexError::TooShort(11)
        );
        assert_eq!(IndexReader::new(&[]).unwrap_err(), IndexError::TooShort(0));
        let mut bad = good.clone();
        bad[0] = 0;
        assert_eq!(
            IndexReader::new(&bad).unwrap_err(),
            IndexError::BadMagic(0x0007_F457)
        );
        let mut v3 = good.clone();
        v3[5] = 3;
        assert_eq!(
            IndexReader::new(&v3).unwrap_err(),
            IndexError::BadVersion(0x0003_0001)
        );
        let mut minor = good.clone();
        minor[7] = 9;
        let r = IndexReader::new(&minor).unwrap();
        assert_eq!(r.lookup(b"b").unwrap(), Some(b"m2".to_vec()));
    }

    fn exercise(data: &[u8]) {
        if let Ok(r) = IndexReader::new(data) {
            let _ = r.dump();
            for q in [&b"ab"[..], b"a", b"b", b"", b"pci:v00001234d*", b"\x80\xff"] {
                let _ = r.lookup(q);
                let _ = r.lookup_all(q);
                let _ = r.lookup_wildcard(q);
            }
        }
    }

    #[test]
    fn index_reader_survives_garbage() {
        let mut rng = Rng(99);
        let b = build(&[
            ("ab", "m1", 0),
            ("ac", "m2", 1),
            ("b", "m2", 1),
            ("ab", "m3", 2),
            ("pci:v*d*", "w", 3),
            ("pci:v00001234d[0-9]", "x", 4),
            ("a?", "q", 0),
        ]);
        let good = b.to_bytes().unwrap();
        // Every truncation.
        for len in 0..good.len() {
            exercise(&good[..len]);
        }
        // Random byte and bit corruption of a valid file.
        for _ in 0..20_000 {
            let mut d = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = 8 + rng.below(d.len() - 8);
                if rng.below(2) == 0 {
                    d[i] ^= 1 << rng.below(8);
                } else {
                    d[i] = rng.next() as u8;
                }
            }
            exercise(&d);
        }
        // Random data behind a valid header.
        for _ in 0..5_000 {
            let len = rng.below(200);
            let mut d = hex("b007f457 00020001");
            d.extend((0..len + 4).map(|_| rng.next() as u8));
            // Keep offsets small so they point inside the data sometimes.
            d[8] &= 0xe0;
            d[9] = 0;
            d[10] = 0;
            exercise(&d);
        }
        // A cycle: the root's child points back to the root.
        let cyc = hex("b007f457 00020001 2000000c 61 61 2000000c");
        let r = IndexReader::new(&cyc).unwrap();
        assert_eq!(r.dump().unwrap_err(), IndexError::NotATree(12));
        assert_eq!(r.lookup(b"aaaa").unwrap(), None);
        assert_eq!(r.lookup_wildcard(b"aaaaa").unwrap(), vec![]);
        // A 128-way DAG explosion is cut short by the same rule.
        let mut dag = hex("b007f457 00020001 2000000c 00 7f");
        for _ in 0..128 {
            dag.extend_from_slice(&hex("2000000c"));
        }
        let r = IndexReader::new(&dag).unwrap();
        assert!(r.dump().is_err());
        assert!(r.lookup_wildcard(b"*").is_err());
        // A node with a long prefix that is its own child: counting visits alone let the
        // walk go round data-length times, each key a prefix longer (quadratic memory); a
        // node reached twice now ends it at once.
        let mut own = hex("b007f457 00020001 a000000c 2a");
        own.extend_from_slice(&[b'a'; 4000]);
        own.extend_from_slice(&hex("00 62 62 a000000c"));
        let r = IndexReader::new(&own).unwrap();
        assert_eq!(r.dump().unwrap_err(), IndexError::NotATree(12));
        // A stored key starting with `*` is enumerated as a pattern: the same walk.
        assert_eq!(
            r.lookup_wildcard(b"x").unwrap_err(),
            IndexError::NotATree(12)
        );
        // A shared subtree (two children pointing to one leaf) is not a tree either: it was
        // listed once under each key.
        let shared =
            hex("b007f457 00020001 2000000c 61 62 40000016 40000016 00000001 00000000 7600");
        let r = IndexReader::new(&shared).unwrap();
        assert_eq!(r.dump().unwrap_err(), IndexError::NotATree(22));
        assert_eq!(r.lookup(b"a").unwrap(), Some(b"v".to_vec()));
        // Bad child range and huge value count.
        let bad_range = hex("b007f457 00020001 2000000c 62 61 00000000");
        assert!(matches!(
            IndexReader::new(&bad_range).unwrap().dump(),
            Err(IndexError::BadChildRange { .. })
        ));
        let huge = hex("b007f457 00020001 4000000c ffffffff 00000000 00");
        assert_eq!(
            IndexReader::new(&huge).unwrap().dump().unwrap_err(),
            IndexError::Truncated(12)
        );
    }

    #[test]
    fn index_wildcard_lookup() {
        let b = build(&[
            ("pci:v00008086d*", "e1000", 5),
            ("pci:v00008086d00001234", "exact", 7),
            ("pci:v*d*", "generic", 5),
            ("pci:v0000808?d*", "question", 1),
            ("pci:v0000[0-9]086d*", "bracket", 9),
            ("usb:v1234p*", "usb", 0),
            ("plain", "p", 2),
            ("plain", "p2", 2),
            ("*", "all", 3),
        ]);
        let bytes = b.to_bytes().unwrap();
        let r = IndexReader::new(&bytes).unwrap();
        let got = strs(r.lookup_wildcard(b"pci:v00008086d00001234").unwrap());
        assert_eq!(
            got,
            [
                (1, "question"),
                (3, "all"),
                (5, "e1000"),
                (5, "generic"),
                (7, "exact"),
                (9, "bracket")
            ]
            .map(|(p, v)| (p, v.to_string()))
        );
        // Values of one node with equal priority come out reversed (later-added first).
        assert_eq!(
            strs(r.lookup_wildcard(b"plain").unwrap()),
            [(2, "p"), (2, "p2"), (3, "all")].map(|(p, v)| (p, v.to_string()))
        );
        assert_eq!(strs(r.lookup_wildcard(b"usb:v1234p5678").unwrap()).len(), 2);
        assert_eq!(
            strs(r.lookup_wildcard(b"nothing").unwrap()),
            [(3, "all".to_string())]
        );
        // A query containing '*' also walks into the '*' child literally (libkmod does too).
        let star = strs(r.lookup_wildcard(b"*").unwrap());
        assert_eq!(star, [(3, "all".to_string()), (3, "all".to_string())]);
    }

    #[test]
    fn index_wildcard_matches_brute_force() {
        let mut rng = Rng(4242);
        for _ in 0..300 {
            let mut b = IndexBuilder::new();
            let mut keys = Vec::new();
            for i in 0..rng.below(30) {
                let klen = 1 + rng.below(8);
                let key: Vec<u8> = (0..klen).map(|_| *rng.pick(b"ab:*?[]!-")).collect();
                b.insert(&key, format!("v{i}").as_bytes(), rng.below(3) as u32)
                    .unwrap();
                keys.push((key, i));
            }
            let bytes = b.to_bytes().unwrap();
            let r = IndexReader::new(&bytes).unwrap();
            for _ in 0..20 {
                let qlen = rng.below(9);
                let q: Vec<u8> = (0..qlen).map(|_| *rng.pick(b"ab:-]!")).collect();
                let mut got: Vec<Vec<u8>> = r
                    .lookup_wildcard(&q)
                    .unwrap()
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                let mut want: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|(k, _)| fnmatch(k, &q))
                    .map(|(_, i)| format!("v{i}").into_bytes())
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "query {:?}", String::from_utf8_lossy(&q));
                let res = r.lookup_wildcard(&q).unwrap();
                assert!(res.windows(2).all(|w| w[0].0 <= w[1].0));
            }
        }
    }
}
