//! The kmod binary index (modules.*.bin): a radix trie, its pre-order writer and a reader.
//!
//! Format (spec §7): a 12-byte header (magic `0xB007F457`, version `0x00020001`, root node
//! reference) followed by trie nodes. A node reference is a big-endian u32 whose low 28 bits are
//! the absolute file offset of the node and whose high bits say which parts the node has
//! (prefix, children, values). [`IndexBuilder`] builds the trie exactly like kmod's depmod
//! (§7.2) and writes it in kmod 34's pre-order layout (§7.4); [`IndexReader`] reads any file
//! of that format (pre- or post-order) with libkmod's lookup semantics (§7.7), bounds-checking
//! every access so that garbage input yields an error instead of a panic.
//!
//! Keys, values and queries are handled as C strings: bytes from the first NUL on are ignored,
//! exactly as kmod would see them.

use std::fmt;

/// File magic, first word of every index.
const MAGIC: u32 = 0xB007_F457;
/// Format version written by depmod: major 2, minor 1.
const VERSION: u32 = 0x0002_0001;
/// Size of the header (magic, version, root reference).
const HEADER_LEN: usize = 12;
/// Node reference flag: the node has a non-empty prefix.
const F_PREFIX: u32 = 0x8000_0000;
/// Node reference flag: the node has at least one value.
const F_VALUES: u32 = 0x4000_0000;
/// Node reference flag: the node has children.
const F_CHILDS: u32 = 0x2000_0000;
/// Mask of the offset part of a node reference.
const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// Longest normalised alias kept by [`normalize_alias`] (PATH_MAX − 1).
pub const MAX_ALIAS_LEN: usize = 4095;

/// The part of `s` before its first NUL byte (the whole slice if there is none).
fn cstr(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => &s[..end],
        None => s,
    }
}

/// Error of [`IndexBuilder::insert`]: a key or value contains a byte ≥ 0x80 (kmod 34 refuses
/// those with a FATAL error, §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChar {
    /// The first offending byte.
    pub byte: u8,
    /// The whole key or value that contained it.
    pub string: Vec<u8>,
}

impl BadChar {
    /// kmod 34's message text, raw bytes included, without the `depmod: FATAL: ` prefix and
    /// without the final newline:
    /// `Module index: bad character '<byte>'=0x<hex> - only 7-bit ASCII is supported:\n<string>`.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(80 + self.string.len());
        m.extend_from_slice(b"Module index: bad character '");
        m.push(self.byte);
        m.extend_from_slice(
            format!("'=0x{:02x} - only 7-bit ASCII is supported:\n", self.byte).as_bytes(),
        );
        m.extend_from_slice(&self.string);
        m
    }
}

impl fmt::Display for BadChar {
    /// The text of [`BadChar::message`], with non-UTF-8 bytes replaced (use `message()` when
    /// the exact bytes matter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message()))
    }
}

impl std::error::Error for BadChar {}

/// Returns an error for the first byte ≥ 0x80 of `s`.
fn check_ascii(s: &[u8]) -> Result<(), BadChar> {
    match s.iter().find(|&&b| b >= 0x80) {
        Some(&byte) => Err(BadChar {
            byte,
            string: s.to_vec(),
        }),
        None => Ok(()),
    }
}

/// One value of a node: priority and the location of its bytes in the builder's pool.
#[derive(Debug, Clone, Copy)]
struct ValueRef {
    priority: u32,
    start: usize,
    len: usize,
}

/// A trie node of the builder. Prefix and values live in the builder's byte pool.
#[derive(Debug, Default)]
struct Node {
    prefix_start: usize,
    prefix_len: usize,
    /// `(edge byte, node index)`, sorted by edge byte.
    children: Vec<(u8, usize)>,
    /// Sorted by ascending priority; equal priorities: most recent first.
    values: Vec<ValueRef>,
}

/// The radix trie of one index being built (spec §7.2), written with [`IndexBuilder::write_to`].
///
/// Nodes live in an arena; prefixes and values are ranges of one shared byte pool, so a split
/// never copies bytes.
#[derive(Debug)]
pub struct IndexBuilder {
    nodes: Vec<Node>,
    pool: Vec<u8>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    /// An empty index (only a root node with no parts).
    pub fn new() -> Self {
        IndexBuilder {
            nodes: vec![Node::default()],
            pool: Vec::new(),
        }
    }

    /// Insert `(key, value, priority)` as kmod's depmod does.
    ///
    /// Returns `Ok(true)` if this exact value string already existed under that key (what `-w`
    /// reports as a duplicate), `Ok(false)` otherwise; the value is inserted in both cases,
    /// before the first existing value whose priority is ≥ `priority`.
    ///
    /// # Errors
    /// [`BadChar`] if any byte of the key (checked first) or of the value is ≥ 0x80; nothing is
    /// inserted then.
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, BadChar> {
        let key = cstr(key);
        let value = cstr(value);
        check_ascii(key)?;
        check_ascii(value)?;

        let mut node = 0usize;
        let mut i = 0usize;
        loop {
            let Node {
                prefix_start: ps,
                prefix_len: pl,
                ..
            } = self.nodes[node];
            let rest = &key[i..];
            let prefix = &self.pool[ps..ps + pl];
            let j = prefix.iter().zip(rest).take_while(|(a, b)| a == b).count();
            if j < pl {
                // Split: a new node takes over the prefix after the mismatch, the children
                // and the values; this node keeps prefix[..j] and gets it as only child.
                let edge = prefix[j];
                let new_index = self.nodes.len();
                let old = &mut self.nodes[node];
                let moved = Node {
                    prefix_start: ps + j + 1,
                    prefix_len: pl - j - 1,
                    children: std::mem::take(&mut old.children),
                    values: std::mem::take(&mut old.values),
                };
                old.prefix_len = j;
                old.children.push((edge, new_index));
                self.nodes.push(moved);
            }
            i += j;
            if i == key.len() {
                return Ok(self.add_value(node, value, priority));
            }
            let ch = key[i];
            match self.nodes[node]
                .children
                .binary_search_by_key(&ch, |&(b, _)| b)
            {
                Ok(pos) => {
                    node = self.nodes[node].children[pos].1;
                    i += 1;
                }
                Err(pos) => {
                    let prefix_start = self.pool.len();
                    self.pool.extend_from_slice(&key[i + 1..]);
                    let child = Node {
                        prefix_start,
                        prefix_len: key.len() - i - 1,
                        children: Vec::new(),
                        values: Vec::new(),
                    };
                    let child_index = self.nodes.len();
                    self.nodes.push(child);
                    self.nodes[node].children.insert(pos, (ch, child_index));
                    self.add_value(child_index, value, priority);
                    return Ok(false);
                }
            }
        }
    }

    /// Add a value to a node's sorted list; true if the same string was already there.
    fn add_value(&mut self, node: usize, value: &[u8], priority: u32) -> bool {
        let pool = &self.pool;
        let values = &self.nodes[node].values;
        let duplicate = values
            .iter()
            .any(|v| &pool[v.start..v.start + v.len] == value);
        let pos = values.partition_point(|v| v.priority < priority);
        let start = self.pool.len();
        self.pool.extend_from_slice(value);
        self.nodes[node].values.insert(
            pos,
            ValueRef {
                priority,
                start,
                len: value.len(),
            },
        );
        duplicate
    }

    /// Flag bits of a node's reference.
    fn flags(&self, node: usize) -> u32 {
        let n = &self.nodes[node];
        let mut f = 0;
        if n.prefix_len > 0 {
            f |= F_PREFIX;
        }
        if !n.values.is_empty() {
            f |= F_VALUES;
        }
        if !n.children.is_empty() {
            f |= F_CHILDS;
        }
        f
    }

    /// Encoded size of a node alone (§7.4).
    fn node_size(&self, node: usize) -> usize {
        let n = &self.nodes[node];
        let mut size = 0;
        if n.prefix_len > 0 {
            size += n.prefix_len + 1;
        }
        if let (Some(first), Some(last)) = (n.children.first(), n.children.last()) {
            size += 2 + 4 * (usize::from(last.0 - first.0) + 1);
        }
        if !n.values.is_empty() {
            size += 4 + n.values.iter().map(|v| 4 + v.len + 1).sum::<usize>();
        }
        size
    }

    /// Append the whole index, in kmod 34's pre-order layout (§7.4), to `out`.
    ///
    /// Offsets are relative to the start of the index (the current end of `out`). Like kmod,
    /// the format cannot address more than 256 MiB; larger indexes are not supported.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // Pre-order sequence, children in ascending byte order, without recursion.
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            order.push(n);
            stack.extend(self.nodes[n].children.iter().rev().map(|&(_, c)| c));
        }
        // In the pre-order layout a node's offset is the sum of the sizes of the nodes
        // written before it; a reference is that offset with the node's flags.
        let mut refs = vec![0u32; self.nodes.len()];
        let mut pos = HEADER_LEN;
        for &n in &order {
            refs[n] = (pos as u32 & OFFSET_MASK) | self.flags(n);
            pos += self.node_size(n);
        }
        debug_assert!(
            pos <= OFFSET_MASK as usize,
            "index too large for 28-bit offsets"
        );

        out.reserve(pos);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&refs[0].to_be_bytes());
        for &n in &order {
            let node = &self.nodes[n];
            if node.prefix_len > 0 {
                out.extend_from_slice(
                    &self.pool[node.prefix_start..node.prefix_start + node.prefix_len],
                );
                out.push(0);
            }
            if let (Some(&(first, _)), Some(&(last, _))) =
                (node.children.first(), node.children.last())
            {
                out.push(first);
                out.push(last);
                let mut children = node.children.iter().peekable();
                for byte in first..=last {
                    let r = match children.next_if(|&&(b, _)| b == byte) {
                        Some(&(_, c)) => refs[c],
                        None => 0,
                    };
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
            if !node.values.is_empty() {
                out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
                for v in &node.values {
                    out.extend_from_slice(&v.priority.to_be_bytes());
                    out.extend_from_slice(&self.pool[v.start..v.start + v.len]);
                    out.push(0);
                }
            }
        }
    }

    /// The whole index in kmod 34's pre-order layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

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

/// Read access to an index file held in memory (spec §7.7). Every offset is bounds-checked;
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
    /// on). Every node of a tree has its own offset and all but an empty one take at least a
    /// byte, so reaching more nodes than the data has bytes is an error: this bounds the work
    /// on malformed data (cycles, shared subtrees) without remembering visited nodes.
    fn walk(
        &self,
        r: u32,
        skip: usize,
        edge: Option<u8>,
        buf: &mut Vec<u8>,
        mut visit: impl FnMut(&Self, &NodeView<'a>, &[u8], bool) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let mut budget = self.data.len() + 1;
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
                    if budget == 0 {
                        return Err(IndexError::NotATree(node.offset));
                    }
                    budget -= 1;
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

/// Normalise a module alias into an index key (spec §6.3): `-` becomes `_` except inside a
/// bracket expression `[...]`, which is copied verbatim. `None` for an unterminated `[` or a
/// `]` outside brackets. Only the first [`MAX_ALIAS_LEN`] bytes are scanned (a bracket opened
/// there is still looked for to its end) and the result is truncated to that length. The alias
/// is read as a C string (up to its first NUL).
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let alias = cstr(alias);
    let mut out = Vec::with_capacity(alias.len().min(MAX_ALIAS_LEN));
    let mut i = 0;
    while i < alias.len() && i < MAX_ALIAS_LEN {
        match alias[i] {
            b'-' => out.push(b'_'),
            b']' => return None,
            b'[' => {
                let close = alias[i..].iter().position(|&b| b == b']')?;
                out.extend_from_slice(&alias[i..=i + close]);
                i += close;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out.truncate(MAX_ALIAS_LEN);
    Some(out)
}

/// Byte at `i` of a C string, 0 past its end.
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Maximum length of a character class name in a bracket expression (glibc's
/// `CHARCLASS_NAME_MAX`).
const CHAR_CLASS_MAX_LENGTH: usize = 2048;

/// Does the C-locale character class `name` contain byte `c`? `None` for an unknown class.
fn class_contains(name: &[u8], c: u8) -> Option<bool> {
    let alpha = c.is_ascii_alphabetic();
    let digit = c.is_ascii_digit();
    let graph = (0x21..0x7f).contains(&c);
    Some(match name {
        b"alnum" => alpha || digit,
        b"alpha" => alpha,
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c < 0x20 || c == 0x7f,
        b"digit" => digit,
        b"graph" => graph,
        b"lower" => c.is_ascii_lowercase(),
        b"print" => graph || c == b' ',
        b"punct" => graph && !alpha && !digit,
        b"space" => c == b' ' || (b'\t'..=b'\r').contains(&c),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Outcome of a bracket expression against one subject byte.
enum Bracket {
    /// Matched; the pattern continues at this index (after the closing `]`).
    Match(usize),
    /// Does not match here.
    NoMatch,
    /// Unterminated bracket: the `[` is an ordinary character.
    Literal,
}

/// Match the bracket expression whose `[` is at `pat[start - 1]` against the byte `sc`,
/// following glibc's C-locale rules (flags 0).
fn match_bracket(pat: &[u8], start: usize, sc: u8) -> Bracket {
    let mut p = start;
    let negate = matches!(at(pat, p), b'!' | b'^');
    if negate {
        p += 1;
    }
    let mut c = at(pat, p);
    p += 1;
    loop {
        // `c` starts the current item, `p` is just after it.
        let mut plain = None;
        let mut range_from = None;
        if c == b'\\' {
            if at(pat, p) == 0 {
                return Bracket::NoMatch;
            }
            plain = Some(at(pat, p));
            p += 1;
        } else if c == b'[' && at(pat, p) == b':' {
            let startp = p;
            let mut name = Vec::new();
            let mut is_class = true;
            loop {
                if name.len() == CHAR_CLASS_MAX_LENGTH {
                    return Bracket::NoMatch;
                }
                p += 1;
                let c2 = at(pat, p);
                if c2 == b':' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
                // glibc accepts only `a`..`y` in a class name (no class name contains `z`).
                if !(b'a'..=b'y').contains(&c2) {
                    is_class = false;
                    p = startp;
                    break;
                }
                name.push(c2);
            }
            if is_class {
                match class_contains(&name, sc) {
                    None => return Bracket::NoMatch,
                    Some(true) => return skip_bracket(pat, p, negate),
                    Some(false) => {
                        c = at(pat, p);
                        p += 1;
                    }
                }
            } else {
                plain = Some(b'[');
            }
        } else if c == b'[' && at(pat, p) == b'=' {
            let x = at(pat, p + 1);
            if x != 0 && at(pat, p + 2) == b'=' && at(pat, p + 3) == b']' {
                if sc == x {
                    return skip_bracket(pat, p + 4, negate);
                }
                p += 4;
                c = at(pat, p);
                p += 1;
            } else {
                plain = Some(b'[');
            }
        } else if c == 0 {
            return Bracket::Literal;
        } else if c == b'[' && at(pat, p) == b'.' {
            // Collating symbol: only single characters exist in the C locale.
            let startp = p;
            let mut count = 0;
            loop {
                p += 1;
                let c2 = at(pat, p);
                if c2 == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
                if c2 == 0 {
                    return Bracket::NoMatch;
                }
                count += 1;
            }
            if count != 1 {
                return Bracket::NoMatch;
            }
            let sym = at(pat, startp + 1);
            let is_range = at(pat, p) == b'-' && at(pat, p + 1) != 0;
            if !is_range && sym == sc {
                return skip_bracket(pat, p, negate);
            }
            range_from = Some(sym);
            c = at(pat, p);
            p += 1;
        } else {
            plain = Some(c);
        }
        if let Some(ch) = plain {
            let is_range = at(pat, p) == b'-' && at(pat, p + 1) != 0 && at(pat, p + 1) != b']';
            if !is_range && ch == sc {
                return skip_bracket(pat, p, negate);
            }
            range_from = Some(ch);
            c = at(pat, p);
            p += 1;
        }
        if let Some(lo) = range_from
            && c == b'-'
            && at(pat, p) != b']'
        {
            let mut hi = at(pat, p);
            p += 1;
            if hi == b'\\' {
                hi = at(pat, p);
                p += 1;
            } else if hi == b'[' && at(pat, p) == b'.' {
                // The end of a range may be a collating symbol `[.c.]`.
                let mut q = p;
                let mut count = 0;
                loop {
                    q += 1;
                    let c2 = at(pat, q);
                    if c2 == b'.' && at(pat, q + 1) == b']' {
                        break;
                    }
                    if c2 == 0 {
                        return Bracket::NoMatch;
                    }
                    count += 1;
                }
                if count != 1 {
                    return Bracket::NoMatch;
                }
                hi = at(pat, p + 1);
                p = q + 2;
            }
            if hi == 0 {
                return Bracket::NoMatch;
            }
            if lo <= sc && sc <= hi {
                return skip_bracket(pat, p, negate);
            }
            c = at(pat, p);
            p += 1;
        }
        if c == b']' {
            break;
        }
    }
    if negate {
        Bracket::Match(p)
    } else {
        Bracket::NoMatch
    }
}

/// After a bracket item matched at `p`: find the closing `]` (glibc's skipping rules; an
/// unterminated bracket makes the `[` an ordinary character after all).
fn skip_bracket(pat: &[u8], mut p: usize, negate: bool) -> Bracket {
    loop {
        let c = at(pat, p);
        p += 1;
        match c {
            0 => return Bracket::Literal,
            b']' => break,
            b'\\' => {
                if at(pat, p) == 0 {
                    return Bracket::NoMatch;
                }
                p += 1;
            }
            b'[' if at(pat, p) == b':' => {
                // Skip `[:name:]`; if what follows is no class name, go on after the `[`.
                let mut q = p;
                let mut count = 0;
                loop {
                    q += 1;
                    count += 1;
                    if count == CHAR_CLASS_MAX_LENGTH {
                        return Bracket::NoMatch;
                    }
                    let c2 = at(pat, q);
                    if c2 == b':' && at(pat, q + 1) == b']' {
                        p = q + 2;
                        break;
                    }
                    if !(b'a'..=b'y').contains(&c2) {
                        break;
                    }
                }
            }
            b'[' if at(pat, p) == b'=' => {
                if at(pat, p + 1) == 0 || at(pat, p + 2) != b'=' || at(pat, p + 3) != b']' {
                    return Bracket::NoMatch;
                }
                p += 4;
            }
            b'[' if at(pat, p) == b'.' => loop {
                p += 1;
                let c2 = at(pat, p);
                if c2 == 0 {
                    return Bracket::NoMatch;
                }
                if c2 == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
            },
            _ => {}
        }
    }
    if negate {
        Bracket::NoMatch
    } else {
        Bracket::Match(p)
    }
}

/// fnmatch(3) with flags 0 in the C locale, on bytes: does `string` match `pattern`?
///
/// `*` matches any sequence (including `/` and leading dots), `?` any byte, `[...]` a bracket
/// expression (ranges, `!`/`^` negation, `]` first is literal, `[:class:]`, `[=c=]`, `[.c.]`,
/// backslash escapes; an unterminated `[` is an ordinary character), `\c` the byte `c` (a
/// trailing backslash matches nothing). Both arguments are read as C strings.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let pat = cstr(pattern);
    let s = cstr(string);
    let mut p = 0;
    let mut n = 0;
    // Pattern position after the last `*` run and the subject position it was last tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = if p == pat.len() {
            if n == s.len() {
                return true;
            }
            None
        } else {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && matches!(pat[p], b'*' | b'?') {
                        if pat[p] == b'?' {
                            if n == s.len() {
                                return false;
                            }
                            n += 1;
                        }
                        p += 1;
                    }
                    if p == pat.len() {
                        return true;
                    }
                    star = Some((p, n));
                    continue;
                }
                b'?' => (n < s.len()).then_some((p + 1, n + 1)),
                b'\\' => {
                    let c = at(pat, p + 1);
                    (c != 0 && s.get(n) == Some(&c)).then_some((p + 2, n + 1))
                }
                b'[' => match s.get(n) {
                    None => None,
                    Some(&sc) => match match_bracket(pat, p + 1, sc) {
                        Bracket::Match(next) => Some((next, n + 1)),
                        Bracket::NoMatch => None,
                        Bracket::Literal => (sc == b'[').then_some((p + 1, n + 1)),
                    },
                },
                c => (s.get(n) == Some(&c)).then_some((p + 1, n + 1)),
            }
        };
        match step {
            Some((np, nn)) => {
                p = np;
                n = nn;
            }
            None => {
                // Every element consumes exactly one byte, so retrying only the last `*` one
                // byte further on is enough.
                let Some((sp, sn)) = star else {
                    return false;
                };
                if sn >= s.len() {
                    return false;
                }
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::CString;

    /// Small deterministic PRNG (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
            &items[self.below(items.len())]
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn build(entries: &[(&str, &str, u32)]) -> IndexBuilder {
        let mut b = IndexBuilder::new();
        for &(k, v, p) in entries {
            b.insert(k.as_bytes(), v.as_bytes(), p).unwrap();
        }
        b
    }

    fn strs(v: Vec<(u32, Vec<u8>)>) -> Vec<(u32, String)> {
        v.into_iter()
            .map(|(p, s)| (p, String::from_utf8(s).unwrap()))
            .collect()
    }

    fn golden_pre() -> Vec<u8> {
        hex("b007f457 00020001 2000000c
             61 62 20000016 4000003d
             62 63 40000020 40000032
             00000002 00000000 6d3100 00000002 6d3300
             00000001 00000001 6d3200
             00000001 00000001 6d3200")
    }

    #[test]
    fn index_golden_vector_pre_order() {
        let b = build(&[
            ("ab", "m1", 0),
            ("ac", "m2", 1),
            ("b", "m2", 1),
            ("ab", "m3", 2),
        ]);
        let bytes = b.to_bytes();
        assert_eq!(bytes.len(), 72);
        assert_eq!(bytes, golden_pre());
        // write_to appends.
        let mut out = b"xx".to_vec();
        b.write_to(&mut out);
        assert_eq!(&out[2..], &bytes[..]);
    }

    #[test]
    fn index_empty() {
        let bytes = IndexBuilder::new().to_bytes();
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
    fn index_split_mid_prefix() {
        // "abc" then "abd": the 'a' child "bc" splits into "b" with children 'c' and 'd'.
        let b = build(&[("abc", "x", 0), ("abd", "y", 0)]);
        let expect = hex("b007f457 00020001 2000000c
                          61 61 a0000012
                          6200 63 64 4000001e 40000028
                          00000001 00000000 7800
                          00000001 00000000 7900");
        assert_eq!(b.to_bytes(), expect);
    }

    #[test]
    fn index_split_key_ends_inside_prefix() {
        let b = build(&[("abc", "x", 0), ("a", "y", 3)]);
        // root -'a'-> node "" {y} -'b'-> node "c" {x}
        let expect = hex("b007f457 00020001 2000000c
                          61 61 60000012
                          62 62 c0000022 00000001 00000003 7900
                          6300 00000001 00000000 7800");
        assert_eq!(b.to_bytes(), expect);
        let bytes = b.to_bytes();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.lookup(b"a").unwrap(), Some(b"y".to_vec()));
        assert_eq!(r.lookup(b"abc").unwrap(), Some(b"x".to_vec()));
        assert_eq!(r.lookup(b"ab").unwrap(), None);
    }

    #[test]
    fn index_split_orders_and_empty_key() {
        // Inserting shorter/longer/diverging keys in several orders gives the same file.
        let keys = ["", "a", "ab", "abc", "abd", "b", "abcdef", "abx"];
        let mut reference: Option<Vec<u8>> = None;
        let mut rng = Rng(7);
        for _ in 0..50 {
            let mut ks = keys.to_vec();
            for i in (1..ks.len()).rev() {
                ks.swap(i, rng.below(i + 1));
            }
            let mut b = IndexBuilder::new();
            for k in &ks {
                b.insert(k.as_bytes(), k.as_bytes(), 0).unwrap();
            }
            let bytes = b.to_bytes();
            match &reference {
                None => reference = Some(bytes),
                Some(r) => assert_eq!(r, &bytes),
            }
        }
        let bytes = reference.unwrap();
        let r = IndexReader::new(&bytes).unwrap();
        let mut sorted = keys.to_vec();
        sorted.sort();
        let dump: Vec<Vec<u8>> = r.dump().unwrap().into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(
            dump,
            sorted
                .iter()
                .map(|k| k.as_bytes().to_vec())
                .collect::<Vec<_>>()
        );
        assert_eq!(r.lookup(b"").unwrap(), Some(Vec::new()));
    }

    #[test]
    fn index_value_order_equal_priorities() {
        let b = build(&[
            ("k", "a", 1),
            ("k", "b", 0),
            ("k", "c", 1),
            ("k", "d", 2),
            ("k", "e", 0),
        ]);
        let bytes = b.to_bytes();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(
            strs(r.lookup_all(b"k").unwrap()),
            [(0, "e"), (0, "b"), (1, "c"), (1, "a"), (2, "d")].map(|(p, v)| (p, v.to_string()))
        );
        assert_eq!(r.lookup(b"k").unwrap(), Some(b"e".to_vec()));
    }

    #[test]
    fn index_duplicate_detection() {
        let mut b = IndexBuilder::new();
        assert!(!b.insert(b"pci:v1", b"m", 0).unwrap());
        assert!(!b.insert(b"pci:v1", b"n", 0).unwrap());
        assert!(b.insert(b"pci:v1", b"m", 5).unwrap());
        assert!(!b.insert(b"pci:v", b"m", 0).unwrap());
        assert!(!b.insert(b"pci:v12", b"m", 0).unwrap());
        assert!(b.insert(b"pci:v12", b"m", 0).unwrap());
        // builtin: several empty values under one key
        assert!(!b.insert(b"foo", b"", 0).unwrap());
        assert!(b.insert(b"foo", b"", 0).unwrap());
        let bytes = b.to_bytes();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.lookup_all(b"pci:v1").unwrap().len(), 3);
        assert_eq!(r.lookup_all(b"pci:v12").unwrap().len(), 2);
        assert_eq!(
            r.lookup_all(b"foo").unwrap(),
            vec![(0, vec![]), (0, vec![])]
        );
    }

    #[test]
    fn index_bad_char_message() {
        let mut b = IndexBuilder::new();
        let e = b.insert(b"f\xe9o", b"v", 0).unwrap_err();
        assert_eq!(
            e,
            BadChar {
                byte: 0xe9,
                string: b"f\xe9o".to_vec()
            }
        );
        assert_eq!(
            e.message(),
            b"Module index: bad character '\xe9'=0xe9 - only 7-bit ASCII is supported:\nf\xe9o"
        );
        assert_eq!(
            e.to_string(),
            "Module index: bad character '\u{fffd}'=0xe9 - only 7-bit ASCII is supported:\nf\u{fffd}o"
        );
        // The value is checked too, after the key.
        let e = b.insert(b"key", b"va\x80l\xff", 0).unwrap_err();
        assert_eq!(e.byte, 0x80);
        assert_eq!(e.string, b"va\x80l\xff");
        assert!(
            e.message()
                .starts_with(b"Module index: bad character '\x80'=0x80 - ")
        );
        let e = b.insert(b"k\xffey", b"va\x80l", 0).unwrap_err();
        assert_eq!(e.byte, 0xff);
        // Nothing was inserted.
        assert_eq!(b.to_bytes(), IndexBuilder::new().to_bytes());
        // 0x7f is fine.
        assert!(b.insert(b"\x7f", b"\x01", 0).is_ok());
    }

    #[test]
    fn index_keys_are_c_strings() {
        let mut b = IndexBuilder::new();
        b.insert(b"ab\0cd", b"v\0w", 0).unwrap();
        assert_eq!(b.to_bytes(), build(&[("ab", "v", 0)]).to_bytes());
        let bytes = b.to_bytes();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.lookup(b"ab\0zz").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn index_normalize_alias() {
        let n = |s: &[u8]| normalize_alias(s);
        assert_eq!(n(b"pci:v*d[0-9]-a"), Some(b"pci:v*d[0-9]_a".to_vec()));
        assert_eq!(n(b"dup-x"), Some(b"dup_x".to_vec()));
        assert_eq!(n(b"a[-]-[--]b"), Some(b"a[-]_[--]b".to_vec()));
        assert_eq!(n(b""), Some(Vec::new()));
        assert_eq!(n(b"x[0-9"), None);
        assert_eq!(n(b"x]"), None);
        assert_eq!(n(b"x[a]]"), None);
        assert_eq!(n(b"a-b\0c]"), Some(b"a_b".to_vec()));
        // Truncation to 4095 bytes; only the first 4095 bytes are scanned.
        let long = vec![b'-'; 5000];
        assert_eq!(n(&long), Some(vec![b'_'; MAX_ALIAS_LEN]));
        let mut tail_err = vec![b'a'; MAX_ALIAS_LEN];
        tail_err.extend_from_slice(b"]]][");
        assert_eq!(n(&tail_err), Some(vec![b'a'; MAX_ALIAS_LEN]));
        let mut early_err = vec![b'a'; MAX_ALIAS_LEN - 1];
        early_err.push(b']');
        assert_eq!(n(&early_err), None);
        // A bracket opened inside the limit must still be closed somewhere.
        let mut open = vec![b'a'; MAX_ALIAS_LEN - 2];
        open.extend_from_slice(b"[xyz");
        assert_eq!(n(&open), None);
        open.push(b']');
        let mut expect = vec![b'a'; MAX_ALIAS_LEN - 2];
        expect.extend_from_slice(b"[x");
        assert_eq!(n(&open), Some(expect));
    }

    /// Model of the value list of one key.
    fn model_insert(
        m: &mut BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
        k: &[u8],
        v: &[u8],
        p: u32,
    ) -> bool {
        let list = m.entry(k.to_vec()).or_default();
        let dup = list.iter().any(|(_, x)| x == v);
        let pos = list.partition_point(|(q, _)| *q < p);
        list.insert(pos, (p, v.to_vec()));
        dup
    }

    #[test]
    fn index_round_trip_random() {
        let mut rng = Rng(0x1234_5678);
        for round in 0..200 {
            let alphabet: &[u8] = if round % 2 == 0 {
                b"ab"
            } else {
                b"abcdefgh:*?[]-_\x01\x7f"
            };
            let mut b = IndexBuilder::new();
            let mut model = BTreeMap::new();
            let n = rng.below(60);
            for _ in 0..n {
                let klen = rng.below(12);
                let key: Vec<u8> = (0..klen).map(|_| *rng.pick(alphabet)).collect();
                let vlen = rng.below(4);
                let val: Vec<u8> = (0..vlen).map(|_| *rng.pick(b"xyz")).collect();
                let prio = rng.below(4) as u32;
                let dup = b.insert(&key, &val, prio).unwrap();
                assert_eq!(dup, model_insert(&mut model, &key, &val, prio));
            }
            let bytes = b.to_bytes();
            let r = IndexReader::new(&bytes).unwrap();
            let expect: Vec<(Vec<u8>, u32, Vec<u8>)> = model
                .iter()
                .flat_map(|(k, l)| l.iter().map(move |(p, v)| (k.clone(), *p, v.clone())))
                .collect();
            assert_eq!(r.dump().unwrap(), expect);
            for (k, l) in &model {
                assert_eq!(&r.lookup_all(k).unwrap(), l);
                assert_eq!(r.lookup(k).unwrap(), Some(l[0].1.clone()));
            }
            for _ in 0..20 {
                let klen = rng.below(12);
                let key: Vec<u8> = (0..klen).map(|_| *rng.pick(alphabet)).collect();
                assert_eq!(
                    r.lookup(&key).unwrap(),
                    model.get(&key).map(|l| l[0].1.clone())
                );
            }
        }
    }

    #[test]
    fn index_long_keys_no_recursion() {
        let mut b = IndexBuilder::new();
        let mut model = BTreeMap::new();
        // Long chain of nested keys: a, aa, aaa, ... creates a very deep trie.
        for len in (1..3000).step_by(1) {
            let key = vec![b'a'; len];
            b.insert(&key, b"v", 0).unwrap();
            model_insert(&mut model, &key, b"v", 0);
        }
        let big = vec![b'z'; 200_000];
        b.insert(&big, b"big", 1).unwrap();
        model_insert(&mut model, &big, b"big", 1);
        let bytes = b.to_bytes();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(
            r.dump().unwrap().len(),
            model.values().map(Vec::len).sum::<usize>()
        );
        assert_eq!(r.lookup(&big).unwrap(), Some(b"big".to_vec()));
        assert_eq!(r.lookup(&vec![b'a'; 2999]).unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            r.lookup_wildcard(&vec![b'a'; 1500]).unwrap(),
            vec![(0, b"v".to_vec())]
        );
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
        let good = b.to_bytes();
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
        let bytes = b.to_bytes();
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
            let bytes = b.to_bytes();
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

    fn libc_fnmatch(p: &[u8], s: &[u8]) -> bool {
        let p = CString::new(p).unwrap();
        let s = CString::new(s).unwrap();
        // SAFETY: both arguments are valid NUL-terminated strings.
        unsafe { libc::fnmatch(p.as_ptr(), s.as_ptr(), 0) == 0 }
    }

    #[test]
    fn index_fnmatch_examples() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"*", b""),
            (b"*", b"a/b.c"),
            (b"a*c", b"abbbc"),
            (b"a?c", b"abc"),
            (b"[abc]", b"b"),
            (b"[!abc]", b"d"),
            (b"[^abc]", b"d"),
            (b"[a-c]x", b"bx"),
            (b"[]]", b"]"),
            (b"[!]]", b"a"),
            (b"[a-]", b"-"),
            (b"\\*", b"*"),
            (b"[\\]]", b"]"),
            (b"[", b"["),
            (b"[ab", b"[ab"),
            (b"[[:digit:]]", b"7"),
            (b"[[:space:]]", b"\x0b"),
            (b"pci:v*d[0-9]_a", b"pci:v1234d5_a"),
            (b"*?*", b"x"),
        ];
        let no: &[(&[u8], &[u8])] = &[
            (b"", b"a"),
            (b"?", b""),
            (b"a*c", b"abcd"),
            (b"[abc]", b"d"),
            (b"[!abc]", b"a"),
            (b"\\", b"\\"),
            (b"*\\", b"a\\"),
            (b"[ab", b"a"),
            (b"[[:nope:]]", b"a"),
            (b"*??", b"x"),
        ];
        for &(p, s) in yes {
            assert!(
                fnmatch(p, s),
                "{:?} {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
            assert!(libc_fnmatch(p, s));
        }
        for &(p, s) in no {
            assert!(
                !fnmatch(p, s),
                "{:?} {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
            assert!(!libc_fnmatch(p, s));
        }
    }

    #[test]
    fn index_fnmatch_matches_libc() {
        let mut rng = Rng(0xF00D);
        let tokens: &[&[u8]] = &[
            b"a",
            b"b",
            b"c",
            b"z",
            b"-",
            b"*",
            b"?",
            b"[",
            b"]",
            b"!",
            b"^",
            b"\\",
            b":",
            b".",
            b"=",
            b"[:alpha:]",
            b"[:digit:]",
            b"[:bogus:]",
            b"[:a",
            b"[=a=]",
            b"[.a.]",
            b"[.-.]",
            b"[.ab.]",
            b"[.z.]",
            b"-[.",
            b"[!",
            b"[^",
            b"\\]",
            b"[=]",
            b"[:]",
            b"[::]",
            b"[a-",
            b"]-",
            b"[.].]",
            b"[=",
            b"[.",
            b"a-c",
            b"z-a",
            b"\x80",
            b"\xe9",
            b"/",
            b" ",
        ];
        let subject_bytes: &[u8] = b"abcz-[]!^\\:.=/ 7\x80\xe9A";
        let mut mismatches = Vec::new();
        let mut positives = 0;
        for i in 0..300_000 {
            let plen = rng.below(8);
            let mut pat = Vec::new();
            for _ in 0..plen {
                let token: &[u8] = tokens[rng.below(tokens.len())];
                pat.extend_from_slice(token);
            }
            let s: Vec<u8> = if i % 2 == 0 {
                // Derive a subject from the pattern to get positive cases.
                let mut s = Vec::new();
                for &c in &pat {
                    match rng.below(6) {
                        0 => {}
                        1 | 2 => s.push(*rng.pick(subject_bytes)),
                        _ => s.push(c),
                    }
                }
                s
            } else {
                (0..rng.below(6))
                    .map(|_| *rng.pick(subject_bytes))
                    .collect()
            };
            let want = libc_fnmatch(&pat, &s);
            positives += usize::from(want);
            if fnmatch(&pat, &s) != want {
                mismatches.push((
                    String::from_utf8_lossy(&pat).into_owned(),
                    String::from_utf8_lossy(&s).into_owned(),
                    want,
                ));
            }
        }
        assert!(positives > 10_000, "too few positive cases: {positives}");
        mismatches.truncate(30);
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    /// Module name of a modules.builtin line (spec §3.3): basename up to the first `.`, `-` → `_`.
    fn builtin_modname(line: &[u8]) -> Vec<u8> {
        let base = line.rsplit(|&b| b == b'/').next().unwrap();
        base.iter()
            .take_while(|&&b| b != b'.')
            .map(|&b| if b == b'-' { b'_' } else { b })
            .collect()
    }

    /// Compare the writer with the reference depmod (kmod 34.2) on modules.builtin.bin and
    /// modules.builtin.alias.bin, and the wildcard reader with the reference modprobe
    /// (`modprobe -R`, which resolves aliases through modules.builtin.alias.bin).
    #[test]
    #[ignore = "runs the reference kmod 34.2 (scripts/fetch-reference downloads it on first use)"]
    fn index_matches_reference_kmod() {
        use std::process::Command;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-reference");
        let out = Command::new(script).output().expect("run fetch-reference");
        assert!(out.status.success(), "fetch-reference failed");
        let depmod = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let tmp = tempfile::tempdir().unwrap();
        let modprobe = tmp.path().join("modprobe");
        let wrapper = std::fs::read_to_string(&depmod).unwrap();
        std::fs::write(
            &modprobe,
            wrapper.replace("--argv0 depmod", "--argv0 modprobe"),
        )
        .unwrap();
        let conf = tmp.path().join("conf");
        std::fs::create_dir(&conf).unwrap();

        let mut rng = Rng(0x000D_E90D);
        for round in 0..3 {
            let root = tmp.path().join(format!("root{round}"));
            let dir = root.join("lib/modules/1.0");
            std::fs::create_dir_all(&dir).unwrap();
            let names: Vec<String> = (0..[20, 500, 3000][round])
                .map(|i| match i % 3 {
                    0 => format!("drv-{i}"),
                    1 => format!("mod_{i}x"),
                    _ => format!("a-b-{i}"),
                })
                .collect();

            // modules.builtin
            let mut builtin = Vec::new();
            let mut want_builtin = IndexBuilder::new();
            for _ in 0..names.len() * 2 {
                let name = rng.pick(&names);
                let line = format!("kernel/drivers/d{}/{name}.ko", rng.below(5));
                builtin.extend_from_slice(line.as_bytes());
                builtin.push(b'\n');
                want_builtin
                    .insert(&builtin_modname(line.as_bytes()), b"", 0)
                    .unwrap();
            }
            std::fs::write(dir.join("modules.builtin"), &builtin).unwrap();

            // modules.builtin.modinfo
            let prefixes: &[&[u8]] = &[
                b"pci:v",
                b"usb:v",
                b"of:N",
                b"acpi*:",
                b"platform:",
                b"dmi*:",
                b"input:b",
                b"i2c:",
            ];
            let mut modinfo = Vec::new();
            let mut want_alias = IndexBuilder::new();
            let mut aliases = Vec::new();
            for _ in 0..names.len() * 10 {
                let name = rng.pick(&names).clone();
                let key = *rng.pick(&["alias", "alias", "alias", "license", "description"]);
                let mut value = rng.pick(prefixes).to_vec();
                for _ in 0..rng.below(14) {
                    match rng.below(40) {
                        0..=3 => value.push(b'*'),
                        4 => value.push(b'?'),
                        5 | 6 => value.extend_from_slice(b"[0-9]"),
                        7 => value.extend_from_slice(b"[a-c-]"),
                        8..=10 => value.push(b'-'),
                        11 => value.push(*rng.pick(b"[].")),
                        _ => value.push(*rng.pick(b"0123456789ABCDEFabc:_")),
                    }
                }
                modinfo.extend_from_slice(format!("{name}.{key}=").as_bytes());
                modinfo.extend_from_slice(&value);
                modinfo.push(0);
                if key == "alias"
                    && let Some(norm) = normalize_alias(&value)
                {
                    want_alias.insert(&norm, name.as_bytes(), 0).unwrap();
                    aliases.push(norm);
                }
            }
            std::fs::write(dir.join("modules.builtin.modinfo"), &modinfo).unwrap();

            let st = Command::new(&depmod)
                .arg("-b")
                .arg(&root)
                .arg("1.0")
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
            let got_builtin = std::fs::read(dir.join("modules.builtin.bin")).unwrap();
            assert_eq!(
                got_builtin,
                want_builtin.to_bytes(),
                "modules.builtin.bin, round {round}"
            );
            let got_alias = std::fs::read(dir.join("modules.builtin.alias.bin")).unwrap();
            let mine = want_alias.to_bytes();
            assert_eq!(got_alias, mine, "modules.builtin.alias.bin, round {round}");
            eprintln!(
                "round {round}: builtin.bin {} bytes, builtin.alias.bin {} bytes ({} aliases): identical",
                got_builtin.len(),
                got_alias.len(),
                aliases.len()
            );

            // Wildcard lookups against libkmod: queries made from stored aliases.
            let r = IndexReader::new(&mine).unwrap();
            let queries = if round == 0 { 30 } else { 60 };
            let mut nonempty = 0;
            for _ in 0..queries {
                let a = rng.pick(&aliases).clone();
                let mut q = Vec::new();
                let mut in_bracket = false;
                for &c in &a {
                    match c {
                        b'[' => in_bracket = true,
                        b']' => {
                            in_bracket = false;
                            q.push(*rng.pick(b"0129ab"));
                        }
                        _ if in_bracket => {}
                        b'*' => q.extend((0..rng.below(3)).map(|_| *rng.pick(b"0A:_b"))),
                        b'?' => q.push(*rng.pick(b"0A:_b")),
                        b'.' => q.push(b'.'),
                        c => q.push(if rng.below(15) == 0 { b'7' } else { c }),
                    }
                }
                let want: Vec<Vec<u8>> = r
                    .lookup_wildcard(&q)
                    .unwrap()
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                let out = Command::new("sh")
                    .arg(&modprobe)
                    .arg("-C")
                    .arg(&conf)
                    .arg("-d")
                    .arg(&root)
                    .arg("-S")
                    .arg("1.0")
                    .arg("-R")
                    .arg(String::from_utf8(q.clone()).unwrap())
                    .output()
                    .unwrap();
                let got: Vec<Vec<u8>> = out
                    .stdout
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                nonempty += usize::from(!want.is_empty());
                assert_eq!(got, want, "query {:?}", String::from_utf8_lossy(&q));
            }
            eprintln!("round {round}: {queries} modprobe -R lookups agree ({nonempty} non-empty)");
        }
    }
}
