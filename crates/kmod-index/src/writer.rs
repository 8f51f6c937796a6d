//! The writer: [`IndexBuilder`] records `(key, value, priority)` entries as kmod's depmod
//! inserts them, then builds the trie in bulk from the sorted entries and writes it in kmod 34's
//! pre-order layout.

use crate::{F_CHILDS, F_PREFIX, F_VALUES, HEADER_LEN, MAGIC, OFFSET_MASK, VERSION, cstr};
use std::cell::Cell;
use std::fmt;

/// Error of [`IndexBuilder::insert`]: a key or value contains a byte ≥ 0x80 (kmod 34 refuses
/// those with a FATAL error).
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

/// `s` as a C string (up to its first NUL), or an error for its first byte ≥ 0x80.
#[inline]
fn ascii_cstr(s: &[u8]) -> Result<&[u8], BadChar> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a word has neither a NUL nor a byte ≥ 0x80.
    let clean = |w: &[u8; 8]| {
        let w = u64::from_ne_bytes(*w);
        ((w.wrapping_sub(ONES) & !w) | w) & HIGH == 0
    };
    // The usual case, a word at a time: no NUL, all ASCII. The last word overlaps the one
    // before it, or is padded with ones.
    let mut chunks = s.chunks_exact(8);
    if chunks.all(|c| clean(c.try_into().expect("8 bytes"))) {
        let tail = match s.last_chunk::<8>() {
            Some(last) => *last,
            None => {
                let mut buf = [1u8; 8];
                buf[..s.len()].copy_from_slice(s);
                buf
            }
        };
        if clean(&tail) {
            return Ok(s);
        }
    }
    ascii_cstr_slow(s)
}

/// [`ascii_cstr`] byte by byte.
#[cold]
fn ascii_cstr_slow(s: &[u8]) -> Result<&[u8], BadChar> {
    for (j, &byte) in s.iter().enumerate() {
        if byte == 0 {
            return Ok(&s[..j]);
        }
        if byte >= 0x80 {
            return Err(BadChar {
                byte,
                string: cstr(s).to_vec(),
            });
        }
    }
    Ok(s)
}

/// "None" for the `u32` links of the bulk build.
const NONE: u32 = u32::MAX;

/// Bytes of an entry record in [`IndexBuilder::pool`] besides key and value: key length and
/// value length (u32 each, native order), priority (u32 big-endian) and a NUL after the value.
const RECORD_OVERHEAD: usize = 13;

/// Multiplier of [`pair_hash`] (FxHash's).
const HASH_K: u64 = 0x517c_c1b7_2722_0a95;

/// Fold `s` (8 bytes at a time, then its length) into the hash state `h`.
fn hash_bytes(mut h: u64, s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(HASH_K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(HASH_K);
    }
    (h.rotate_left(5) ^ s.len() as u64).wrapping_mul(HASH_K)
}

/// 32-bit hash of a `(key, value)` pair, all bits mixed (the duplicate table uses the low ones).
fn pair_hash(key: &[u8], value: &[u8]) -> u32 {
    let mut h = hash_bytes(hash_bytes(0, key), value);
    // MurmurHash3's finaliser.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    (h ^ (h >> 33)) as u32
}

/// A piece of a key as a number, for sorting.
type Chunk = u64;

/// Bytes in a [`Chunk`].
const CHUNK: usize = size_of::<Chunk>();

/// The [`CHUNK`] bytes of `key` from `depth` on as a big-endian number, zero-padded past the
/// end. Keys contain no NUL, so comparing chunks compares the keys' bytes there, a key that
/// ends sorting before its extensions.
fn chunk_at(key: &[u8], depth: usize) -> Chunk {
    let rest = key.get(depth..).unwrap_or_default();
    if let Some(c) = rest.first_chunk::<CHUNK>() {
        return Chunk::from_be_bytes(*c);
    }
    if rest.is_empty() {
        return 0;
    }
    // The key's last CHUNK bytes, shifted to drop those before `depth`.
    if let Some(c) = key.last_chunk::<CHUNK>() {
        return Chunk::from_be_bytes(*c) << (8 * (CHUNK - rest.len()));
    }
    let mut buf = [0u8; CHUNK];
    buf[..rest.len()].copy_from_slice(rest);
    Chunk::from_be_bytes(buf)
}

/// `u32` at `at` in `pool` (native order).
fn pool_u32(pool: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(pool[at..at + 4].try_into().expect("4 bytes"))
}

/// The index being built, written with [`IndexBuilder::write_to`].
///
/// [`insert`](IndexBuilder::insert) only checks and records its arguments (and tells whether
/// the pair is a duplicate); the trie is built in bulk when the index is written. That gives the
/// same file as kmod's incremental insertion because the trie is a function of the
/// inserted entries: the compressed trie of the keys, in which every node but the root is a
/// key end or has at least two children, each key's values ordered by ascending priority and,
/// among equal priorities, most recent insertion first.
#[derive(Debug)]
pub struct IndexBuilder {
    /// The entries in insertion order, one record each: key length, value length, key,
    /// priority (big-endian), value, NUL. Priority, value and NUL are the value's encoding in
    /// the file.
    pool: Vec<u8>,
    /// Number of entries.
    len: usize,
    /// Whether [`insert`](IndexBuilder::insert) looks for duplicates.
    check_duplicates: bool,
    /// Open-addressing table of the distinct `(key, value)` pairs: `(hash, record offset + 1)`,
    /// 0 = free slot. Its length is 0 or a power of two, more than twice the number of
    /// entries. Empty without duplicate checks.
    pairs: Vec<(u32, u32)>,
}

thread_local! {
    /// The largest pool of the builders dropped on this thread, and the largest sort buffer
    /// of [`IndexBuilder::write_to`], for reuse: building an index is cheap next to the page
    /// faults of touching fresh memory, which the next index of a run (depmod writes three big
    /// ones in a row) saves this way.
    static SPARE_POOL: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static SPARE_ITEMS: Cell<Vec<Item>> = const { Cell::new(Vec::new()) };
}

/// Take the spare buffer of `spare`, empty.
fn take_spare<T>(spare: &'static std::thread::LocalKey<Cell<Vec<T>>>) -> Vec<T> {
    let mut v = spare.take();
    v.clear();
    v
}

/// Offer `v` as the spare buffer of `spare`; the larger one is kept, unless over 64 MiB.
fn keep_spare<T>(spare: &'static std::thread::LocalKey<Cell<Vec<T>>>, v: Vec<T>) {
    let old = spare.take();
    let fits = v.capacity() * size_of::<T>() <= 64 << 20;
    spare.set(if fits && v.capacity() > old.capacity() {
        v
    } else {
        old
    });
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        keep_spare(&SPARE_POOL, std::mem::take(&mut self.pool));
    }
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// An entry in [`IndexBuilder::write_to`]; after the sort, the first entry of each distinct
/// key also stands for the key and the trie node where it ends.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// While sorting, the key's chunk at the depth being sorted ([`chunk_at`]). Then, for the
    /// first entry of a key: the branching nodes whose first key it is (bits 32..64, a
    /// [`NONE`]-terminated list through [`Branch::next`], by ascending depth) and the bytes
    /// of the first and the last child of the node where the key ends (bits 8..16 and 0..8;
    /// 0 without children, keys having no NUL).
    chunk: Chunk,
    /// Offset of the key in its record.
    start: u32,
    /// Length of the common prefix of this key and the previous one in the final order, or
    /// [`NONE`] if they are equal.
    lcp: u32,
}

impl Item {
    fn branches(&self) -> u32 {
        (self.chunk >> 32) as u32
    }

    fn set_branches(&mut self, b: u32) {
        self.chunk = (Chunk::from(b) << 32) | (self.chunk & 0xffff_ffff);
    }

    fn first(&self) -> u8 {
        (self.chunk >> 8) as u8
    }

    fn set_first(&mut self, first: u8) {
        self.chunk = (self.chunk & !0xff00) | (Chunk::from(first) << 8);
    }

    fn end(&self) -> u8 {
        self.chunk as u8
    }

    fn set_end(&mut self, end: u8) {
        self.chunk = (self.chunk & !0xff) | Chunk::from(end);
    }
}

/// A trie node without values and with at least two children.
#[derive(Debug, Clone, Copy)]
struct Branch {
    depth: u32,
    next: u32,
    /// Bytes of the first and the last child.
    first: u8,
    end: u8,
}

/// What [`IndexBuilder::find_nodes`] found besides the keys' nodes.
#[derive(Debug, Default)]
struct Shape {
    branches: Vec<Branch>,
    /// Bytes of the root's first and last child (0 without children).
    root_first: u8,
    root_end: u8,
    /// Size of the index file.
    size: usize,
}

/// Size of the child table of a node whose children go from byte `first` to byte `end`.
fn table_size(first: u8, end: u8) -> usize {
    2 + 4 * (usize::from(end - first) + 1)
}

/// A node being written whose children are still to come.
#[derive(Debug, Clone, Copy)]
struct OpenNode {
    depth: u32,
    /// Offset (in the output) of its child reference table.
    table: usize,
    /// Byte of the table's first reference.
    first: u8,
}

impl IndexBuilder {
    /// An empty index (only a root node with no parts).
    pub fn new() -> Self {
        Self::with_duplicate_check(true)
    }

    /// An empty index whose [`insert`](IndexBuilder::insert) looks for duplicates only if
    /// `check` (otherwise it always returns `Ok(false)`, saving a hash table when nobody asks).
    pub fn with_duplicate_check(check: bool) -> Self {
        IndexBuilder {
            pool: take_spare(&SPARE_POOL),
            len: 0,
            check_duplicates: check,
            pairs: Vec::new(),
        }
    }

    /// Insert `(key, value, priority)` as kmod's depmod does.
    ///
    /// Returns `Ok(true)` if this exact value string already existed under that key (what `-w`
    /// reports as a duplicate; always `Ok(false)` for a builder made without duplicate checks),
    /// `Ok(false)` otherwise; the value is inserted in both cases, before the first existing
    /// value whose priority is ≥ `priority`.
    ///
    /// # Errors
    /// [`BadChar`] if any byte of the key (checked first) or of the value is ≥ 0x80; nothing is
    /// inserted then.
    ///
    /// # Panics
    /// If the keys and values inserted add up to about 4 GiB (the index format cannot address
    /// a sixteenth of that).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, BadChar> {
        let key = ascii_cstr(key)?;
        let value = ascii_cstr(value)?;

        let record = self.pool.len();
        let size = RECORD_OVERHEAD + key.len() + value.len();
        assert!(
            record + size < u32::MAX as usize,
            "index data exceeds 4 GiB"
        );
        let duplicate = self.check_duplicates && self.find_pair(key, value, record);
        self.pool.reserve(size);
        self.pool
            .extend_from_slice(&(key.len() as u32).to_ne_bytes());
        self.pool
            .extend_from_slice(&(value.len() as u32).to_ne_bytes());
        self.pool.extend_from_slice(key);
        self.pool.extend_from_slice(&priority.to_be_bytes());
        self.pool.extend_from_slice(value);
        self.pool.push(0);
        self.len += 1;
        Ok(duplicate)
    }

    /// Whether the pair was inserted before; if not, enter it with the next entry's `record`.
    fn find_pair(&mut self, key: &[u8], value: &[u8], record: usize) -> bool {
        let hash = pair_hash(key, value);
        if (self.len + 1) * 2 >= self.pairs.len() {
            self.grow_pairs();
        }
        let mask = self.pairs.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            match self.pairs[slot] {
                (_, 0) => {
                    self.pairs[slot] = (hash, record as u32 + 1);
                    return false;
                }
                (h, r) if h == hash => {
                    let r = r as usize - 1;
                    let key_len = pool_u32(&self.pool, r) as usize;
                    let value_len = pool_u32(&self.pool, r + 4) as usize;
                    let k = &self.pool[r + 8..r + 8 + key_len];
                    let v = &self.pool[r + 12 + key_len..][..value_len];
                    if k == key && v == value {
                        return true;
                    }
                }
                _ => {}
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Double the pair table (at least 64 slots) and re-enter the distinct pairs.
    fn grow_pairs(&mut self) {
        let len = (self.pairs.len() * 2).max(64);
        let mut pairs = vec![(0u32, 0u32); len];
        for &(h, r) in self.pairs.iter().filter(|p| p.1 != 0) {
            let mut slot = h as usize & (len - 1);
            while pairs[slot].1 != 0 {
                slot = (slot + 1) & (len - 1);
            }
            pairs[slot] = (h, r);
        }
        self.pairs = pairs;
    }

    fn key_len(&self, it: &Item) -> u32 {
        pool_u32(&self.pool, it.start as usize - 8)
    }

    fn key(&self, it: &Item) -> &[u8] {
        &self.pool[it.start as usize..][..self.key_len(it) as usize]
    }

    /// The priority, value and NUL of an entry, as in the file.
    fn value_encoding(&self, it: &Item) -> &[u8] {
        let at = it.start as usize;
        let key_len = pool_u32(&self.pool, at - 8) as usize;
        let value_len = pool_u32(&self.pool, at - 4) as usize;
        &self.pool[at + key_len..at + key_len + value_len + 5]
    }

    /// The entries ordered by key, then ascending priority, then latest insertion first (the
    /// order of the keys in the file and of the values of each key), each with the length of
    /// its key's common prefix with the previous key ([`NONE`] for the same key).
    ///
    /// Also returns the size of the values' encodings (priority, value, NUL).
    ///
    /// A most-significant-digit sort on [`CHUNK`]-byte pieces of the keys: sort by the chunk at
    /// `depth`, then each run of equal chunks by the next one; a run whose chunk ends in a
    /// zero byte is a run of equal keys. Common prefixes fall out of the chunks on the way.
    fn sorted_entries(&self) -> (Vec<Item>, usize) {
        let mut items = take_spare(&SPARE_ITEMS);
        items.reserve(self.len);
        let mut value_bytes = 0;
        let mut at = 0;
        while at < self.pool.len() {
            let key_len = pool_u32(&self.pool, at);
            let value_len = pool_u32(&self.pool, at + 4);
            value_bytes += value_len as usize + 5;
            let start = at + 8;
            items.push(Item {
                chunk: chunk_at(&self.pool[start..start + key_len as usize], 0),
                start: start as u32,
                lcp: 0,
            });
            at = start + key_len as usize + value_len as usize + 5;
        }
        // Ranges of `items` still to sort, with the key offset of their chunks and the common
        // prefix length of the range's first key (whichever it turns out to be) with the
        // previous key.
        let mut work = vec![(0, items.len(), 0, 0)];
        while let Some((lo, hi, depth, first_lcp)) = work.pop() {
            let run = &mut items[lo..hi];
            if depth > 0 {
                for it in run.iter_mut() {
                    it.chunk = chunk_at(self.key(it), depth);
                }
            }
            run.sort_unstable_by_key(|it| it.chunk);
            if let Some(first) = run.first_mut() {
                first.lcp = first_lcp;
            }
            let mut a = 0;
            while a < run.len() {
                let c = run[a].chunk;
                if a > 0 {
                    let same = (run[a - 1].chunk ^ c).leading_zeros() / 8;
                    run[a].lcp = depth as u32 + same;
                }
                let b = a + 1 + run[a + 1..].iter().take_while(|it| it.chunk == c).count();
                if b - a > 1 {
                    let lcp = run[a].lcp;
                    if c & 0xff != 0 {
                        work.push((lo + a, lo + b, depth + CHUNK, lcp));
                    } else {
                        // Equal keys: by priority, then later insertions (records further
                        // into the pool) first.
                        let equal = &mut run[a..b];
                        let priority = |it: &Item| {
                            let v = self.value_encoding(it);
                            u32::from_be_bytes(v[..4].try_into().expect("4 bytes"))
                        };
                        equal.sort_unstable_by(|x, y| {
                            priority(x).cmp(&priority(y)).then(y.start.cmp(&x.start))
                        });
                        for it in equal.iter_mut() {
                            it.lcp = NONE;
                        }
                        equal[0].lcp = lcp;
                    }
                }
                a = b;
            }
        }
        (items, value_bytes)
    }

    /// Append the whole index, in kmod 34's pre-order layout, to `out`.
    ///
    /// Offsets are relative to the start of the index (the current end of `out`). A node
    /// reference holds 28 bits of offset: an index with a node past 256 MiB cannot be
    /// written (kmod writes a corrupt file); `out` is then left as it was.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), TooLarge> {
        self.write_limited(out, OFFSET_MASK as usize)
    }

    /// [`write_to`](Self::write_to) with another highest node offset than the format's.
    pub fn write_limited(&self, out: &mut Vec<u8>, max_offset: usize) -> Result<(), TooLarge> {
        let (mut items, value_bytes) = self.sorted_entries();
        let shape = self.find_nodes(&mut items, value_bytes);
        let base = out.len();
        let last = self.write_nodes(out, &items, &shape);
        keep_spare(&SPARE_ITEMS, items);
        if last > max_offset {
            let size = out.len() - base;
            out.truncate(base);
            return Err(TooLarge {
                size,
                offset: last,
                max_offset,
            });
        }
        Ok(())
    }

    /// The trie's shape: every node is the end of a key (or the root) or a branching node at
    /// the common prefix of two neighbouring keys. Sets each key's branching nodes and child
    /// bytes ([`Item::chunk`]) and returns the branching nodes, the root's child bytes and the
    /// file size (given the size of the values' encodings). Keys are named by the item of
    /// their first entry.
    ///
    /// Walks the keys in order along the path from the root to the previous key's node: the
    /// nodes deeper than the common prefix with the next key are complete and leave the path
    /// (their last child is on the previous key's path); if the path has no node at that
    /// depth, a branching node is inserted there, its first child the node that just left.
    fn find_nodes(&self, items: &mut [Item], value_bytes: usize) -> Shape {
        /// A node on the path.
        #[derive(Clone, Copy)]
        enum Ref {
            Root,
            Key(u32),
            Branch(u32),
        }
        // Per key, a value count is added below.
        let mut shape = Shape {
            size: HEADER_LEN + value_bytes,
            ..Shape::default()
        };
        if items.is_empty() {
            return shape;
        }
        let byte = |items: &[Item], k: u32, depth: u32| {
            self.pool[(items[k as usize].start + depth) as usize]
        };
        // The node at `depth` leaves the path, a child of the node at `parent`; `last` is the
        // last key under it.
        let close = |items: &mut [Item], shape: &mut Shape, node, depth, parent: u32, last| {
            if !matches!(node, Ref::Root) && depth - parent > 1 {
                shape.size += (depth - parent) as usize;
            }
            let (first, end) = match node {
                Ref::Root => {
                    if self.key_len(&items[last as usize]) == 0 {
                        return;
                    }
                    shape.root_end = byte(items, last, 0);
                    (shape.root_first, shape.root_end)
                }
                Ref::Key(k) => {
                    if k == last {
                        return;
                    }
                    let end = byte(items, last, depth);
                    items[k as usize].set_end(end);
                    (items[k as usize].first(), end)
                }
                Ref::Branch(b) => {
                    let br = &mut shape.branches[b as usize];
                    br.end = byte(items, last, depth);
                    (br.first, br.end)
                }
            };
            shape.size += table_size(first, end);
        };
        // (depth, first key, node)
        let mut path: Vec<(u32, u32, Ref)> = vec![(0, 0, Ref::Root)];
        let mut prev = 0;
        for k in 0..items.len() as u32 {
            let lcp = items[k as usize].lcp;
            if lcp == NONE {
                continue;
            }
            shape.size += 4;
            items[k as usize].chunk = Chunk::from(NONE) << 32;
            while let Some(&(depth, first, node)) = path.last() {
                if depth <= lcp {
                    break;
                }
                path.pop();
                let parent = path.last().expect("the root stays").0;
                if parent < lcp {
                    close(items, &mut shape, node, depth, lcp, prev);
                    // Created after the deeper branching nodes of the same first key, so
                    // prepending keeps each list in ascending depth.
                    let b = shape.branches.len() as u32;
                    shape.branches.push(Branch {
                        depth: lcp,
                        next: items[first as usize].branches(),
                        first: byte(items, prev, lcp),
                        end: 0,
                    });
                    items[first as usize].set_branches(b);
                    path.push((lcp, first, Ref::Branch(b)));
                } else {
                    close(items, &mut shape, node, depth, parent, prev);
                }
            }
            let key_len = self.key_len(&items[k as usize]);
            // The first child of a node that had none so far.
            match path.last().expect("the root stays") {
                &(depth, _, Ref::Key(p)) if items[p as usize].first() == 0 => {
                    let first = byte(items, k, depth);
                    items[p as usize].set_first(first);
                }
                (_, _, Ref::Root) if shape.root_first == 0 && key_len > 0 => {
                    shape.root_first = byte(items, k, 0);
                }
                _ => {}
            }
            // Only the empty key (the first) ends on the path: at the root.
            if key_len > lcp {
                path.push((key_len, k, Ref::Key(k)));
            }
            prev = k;
        }
        while let Some((depth, _, node)) = path.pop() {
            let parent = path.last().map_or(0, |p| p.0);
            close(items, &mut shape, node, depth, parent, prev);
        }
        shape
    }

    /// Write header and nodes in pre-order: a key's branching nodes, then its own node,
    /// key after key; each node's reference is filled into its parent's table when it starts.
    /// Returns the offset of the last node written (the highest).
    fn write_nodes(&self, out: &mut Vec<u8>, items: &[Item], shape: &Shape) -> usize {
        let base = out.len();
        out.reserve(shape.size);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let key = |k: u32| self.key(&items[k as usize]);
        // The next key after key `k` (the item after its values), `items.len()` if none.
        let next_key = |k: u32| {
            let k = k as usize + 1;
            (k + items[k..].iter().take_while(|it| it.lcp == NONE).count()) as u32
        };
        let mut open: Vec<OpenNode> = Vec::new();

        // Write the node at `depth` on the path of key `k`, child of the last open node, with
        // the given first and last child bytes and the values `items[values]`.
        let node = |out: &mut Vec<u8>,
                    open: &mut Vec<OpenNode>,
                    k: u32,
                    depth: u32,
                    children: Option<(u8, u8)>,
                    values: std::ops::Range<u32>| {
            let mut flags = 0;
            let slot;
            let prefix: &[u8];
            if let Some(parent) = open.last() {
                let kb = key(k);
                let pd = parent.depth as usize;
                slot = parent.table + 4 * usize::from(kb[pd] - parent.first);
                prefix = &kb[pd + 1..depth as usize];
            } else {
                slot = base + 8;
                prefix = &[];
            }
            if !prefix.is_empty() {
                flags |= F_PREFIX;
            }
            if !values.is_empty() {
                flags |= F_VALUES;
            }
            if children.is_some() {
                flags |= F_CHILDS;
            }
            let offset = out.len() - base;
            let reference = (offset as u32 & OFFSET_MASK) | flags;
            out[slot..slot + 4].copy_from_slice(&reference.to_be_bytes());

            if !prefix.is_empty() {
                out.extend_from_slice(prefix);
                out.push(0);
            }
            if let Some((first, end)) = children {
                out.push(first);
                out.push(end);
                open.push(OpenNode {
                    depth,
                    table: out.len(),
                    first,
                });
                out.resize(out.len() + 4 * (usize::from(end - first) + 1), 0);
            }
            if !values.is_empty() {
                out.extend_from_slice(&values.len().to_be_bytes()[4..]);
                for it in &items[values.start as usize..values.end as usize] {
                    out.extend_from_slice(self.value_encoding(it));
                }
            }
            offset
        };

        // The root: the node of the empty key if there is one, else a node without values
        // whose children start with the first key.
        let n = items.len() as u32;
        let children = (shape.root_first != 0).then_some((shape.root_first, shape.root_end));
        let root_values = match items.first() {
            Some(first) if self.key_len(first) == 0 => 0..next_key(0),
            _ => 0..0,
        };
        let mut last = node(out, &mut open, 0, 0, children, root_values);
        let mut k = 0;
        while k < n {
            let it = &items[k as usize];
            let next = next_key(k);
            // The nodes deeper than the common prefix with the previous key are complete.
            while open.last().is_some_and(|o| o.depth > it.lcp) {
                open.pop();
            }
            let mut b = it.branches();
            while b != NONE {
                let br = &shape.branches[b as usize];
                last = node(out, &mut open, k, br.depth, Some((br.first, br.end)), k..k);
                b = br.next;
            }
            let key_len = self.key_len(it);
            if key_len > 0 {
                let children = (it.first() != 0).then_some((it.first(), it.end()));
                last = node(out, &mut open, k, key_len, children, k..next);
            }
            k = next;
        }
        debug_assert_eq!(out.len() - base, shape.size);
        last
    }

    /// The whole index in kmod 34's pre-order layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TooLarge> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

/// An index whose nodes cannot all be addressed: one starts past the highest offset a node
/// reference holds (28 bits: 256 MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    /// The size the index would have.
    pub size: usize,
    /// The offset of its last node.
    pub offset: usize,
    /// The highest offset allowed.
    pub max_offset: usize,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a node would start at byte {} of {}, past the format's limit of {} bytes",
            self.offset,
            self.size,
            self.max_offset + 1
        )
    }
}

impl std::error::Error for TooLarge {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    #[cfg(feature = "reader")]
    use crate::IndexReader;
    #[cfg(feature = "reader")]
    use std::collections::BTreeMap;
    use test_rng::Rng;

    #[test]
    fn offsets_past_the_limit_are_an_error_not_a_corrupt_index() {
        let mut b = IndexBuilder::new();
        for i in 0..50 {
            b.insert(format!("key{i}").as_bytes(), b"value", i).unwrap();
        }
        let whole = b.to_bytes().unwrap();
        // The exact limit that still fits: the last node's offset.
        let mut out = b"prefix".to_vec();
        let mut lo = 0;
        while b.write_limited(&mut out, lo).is_err() {
            assert_eq!(out, b"prefix", "nothing is left behind on failure");
            lo += 1;
        }
        assert_eq!(&out[6..], &whole[..]);
        let err = b.write_limited(&mut Vec::new(), lo - 1).unwrap_err();
        assert_eq!(err.offset, lo);
        assert_eq!(err.size, whole.len());
        assert!(err.to_string().contains("past the format's limit"));
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) fn build(entries: &[(&str, &str, u32)]) -> IndexBuilder {
        let mut b = IndexBuilder::new();
        for &(k, v, p) in entries {
            b.insert(k.as_bytes(), v.as_bytes(), p).unwrap();
        }
        b
    }

    #[cfg(feature = "reader")]
    pub(crate) fn strs(v: Vec<(u32, Vec<u8>)>) -> Vec<(u32, String)> {
        v.into_iter()
            .map(|(p, s)| (p, String::from_utf8(s).unwrap()))
            .collect()
    }

    pub(crate) fn golden_pre() -> Vec<u8> {
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
        let bytes = b.to_bytes().unwrap();
        assert_eq!(bytes.len(), 72);
        assert_eq!(bytes, golden_pre());
        // write_to appends.
        let mut out = b"xx".to_vec();
        b.write_to(&mut out).unwrap();
        assert_eq!(&out[2..], &bytes[..]);
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
        assert_eq!(b.to_bytes().unwrap(), expect);
    }

    #[cfg(feature = "reader")]
    #[test]
    fn index_split_key_ends_inside_prefix() {
        let b = build(&[("abc", "x", 0), ("a", "y", 3)]);
        // root -'a'-> node "" {y} -'b'-> node "c" {x}
        let expect = hex("b007f457 00020001 2000000c
                          61 61 60000012
                          62 62 c0000022 00000001 00000003 7900
                          6300 00000001 00000000 7800");
        assert_eq!(b.to_bytes().unwrap(), expect);
        let bytes = b.to_bytes().unwrap();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.lookup(b"a").unwrap(), Some(b"y".to_vec()));
        assert_eq!(r.lookup(b"abc").unwrap(), Some(b"x".to_vec()));
        assert_eq!(r.lookup(b"ab").unwrap(), None);
    }

    #[cfg(feature = "reader")]
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
            let bytes = b.to_bytes().unwrap();
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

    #[cfg(feature = "reader")]
    #[test]
    fn index_value_order_equal_priorities() {
        let b = build(&[
            ("k", "a", 1),
            ("k", "b", 0),
            ("k", "c", 1),
            ("k", "d", 2),
            ("k", "e", 0),
        ]);
        let bytes = b.to_bytes().unwrap();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(
            strs(r.lookup_all(b"k").unwrap()),
            [(0, "e"), (0, "b"), (1, "c"), (1, "a"), (2, "d")].map(|(p, v)| (p, v.to_string()))
        );
        assert_eq!(r.lookup(b"k").unwrap(), Some(b"e".to_vec()));
    }

    #[cfg(feature = "reader")]
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
        let bytes = b.to_bytes().unwrap();
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
        assert_eq!(
            b.to_bytes().unwrap(),
            IndexBuilder::new().to_bytes().unwrap()
        );
        // 0x7f is fine.
        assert!(b.insert(b"\x7f", b"\x01", 0).is_ok());
    }

    #[cfg(feature = "reader")]
    #[test]
    fn index_keys_are_c_strings() {
        let mut b = IndexBuilder::new();
        b.insert(b"ab\0cd", b"v\0w", 0).unwrap();
        assert_eq!(
            b.to_bytes().unwrap(),
            build(&[("ab", "v", 0)]).to_bytes().unwrap()
        );
        let bytes = b.to_bytes().unwrap();
        let r = IndexReader::new(&bytes).unwrap();
        assert_eq!(r.lookup(b"ab\0zz").unwrap(), Some(b"v".to_vec()));
    }

    /// kmod's incremental insertion and pre-order writer, node by node: the
    /// reference for [`IndexBuilder`]'s bulk build (and this crate's builder before it).
    mod incremental {
        use crate::{F_CHILDS, F_PREFIX, F_VALUES, HEADER_LEN, MAGIC, VERSION, cstr};

        #[derive(Default)]
        struct Node {
            prefix: Vec<u8>,
            /// `(edge byte, node index)`, sorted by edge byte.
            children: Vec<(u8, usize)>,
            /// `(priority, value)`, ascending priority, equal priorities most recent first.
            values: Vec<(u32, Vec<u8>)>,
        }

        pub struct Trie {
            nodes: Vec<Node>,
        }

        impl Trie {
            pub fn new() -> Self {
                Trie {
                    nodes: vec![Node::default()],
                }
            }

            /// Insert as kmod does; true if the value string was already under the key.
            pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> bool {
                let (key, value) = (cstr(key), cstr(value));
                let mut node = 0;
                let mut i = 0;
                loop {
                    let prefix = &self.nodes[node].prefix;
                    let j = prefix
                        .iter()
                        .zip(&key[i..])
                        .take_while(|(a, b)| a == b)
                        .count();
                    if j < prefix.len() {
                        // Split: a new node takes the rest of the prefix after the mismatch,
                        // the children and the values; this one keeps prefix[..j] and gets it
                        // as its only child.
                        let new_index = self.nodes.len();
                        let old = &mut self.nodes[node];
                        let edge = old.prefix[j];
                        let moved = Node {
                            prefix: old.prefix[j + 1..].to_vec(),
                            children: std::mem::take(&mut old.children),
                            values: std::mem::take(&mut old.values),
                        };
                        old.prefix.truncate(j);
                        old.children.push((edge, new_index));
                        self.nodes.push(moved);
                    }
                    i += j;
                    if i == key.len() {
                        let values = &mut self.nodes[node].values;
                        let duplicate = values.iter().any(|(_, v)| v == value);
                        let pos = values.partition_point(|&(p, _)| p < priority);
                        values.insert(pos, (priority, value.to_vec()));
                        return duplicate;
                    }
                    let children = &self.nodes[node].children;
                    match children.binary_search_by_key(&key[i], |&(b, _)| b) {
                        Ok(pos) => {
                            node = children[pos].1;
                            i += 1;
                        }
                        Err(pos) => {
                            let child = self.nodes.len();
                            self.nodes.push(Node {
                                prefix: key[i + 1..].to_vec(),
                                children: Vec::new(),
                                values: vec![(priority, value.to_vec())],
                            });
                            self.nodes[node].children.insert(pos, (key[i], child));
                            return false;
                        }
                    }
                }
            }

            fn flags(&self, n: usize) -> u32 {
                let n = &self.nodes[n];
                let mut f = 0;
                if !n.prefix.is_empty() {
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

            fn size(&self, n: usize) -> usize {
                let n = &self.nodes[n];
                let mut size = 0;
                if !n.prefix.is_empty() {
                    size += n.prefix.len() + 1;
                }
                if let (Some(first), Some(last)) = (n.children.first(), n.children.last()) {
                    size += 2 + 4 * (usize::from(last.0 - first.0) + 1);
                }
                if !n.values.is_empty() {
                    size += 4 + n.values.iter().map(|(_, v)| 4 + v.len() + 1).sum::<usize>();
                }
                size
            }

            /// The file: nodes in pre-order, each child's offset the sum of the sizes of the
            /// nodes before it.
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut order = Vec::new();
                let mut stack = vec![0];
                while let Some(n) = stack.pop() {
                    order.push(n);
                    stack.extend(self.nodes[n].children.iter().rev().map(|&(_, c)| c));
                }
                let mut refs = vec![0u32; self.nodes.len()];
                let mut pos = HEADER_LEN;
                for &n in &order {
                    refs[n] = pos as u32 | self.flags(n);
                    pos += self.size(n);
                }
                let mut out = Vec::new();
                out.extend_from_slice(&MAGIC.to_be_bytes());
                out.extend_from_slice(&VERSION.to_be_bytes());
                out.extend_from_slice(&refs[0].to_be_bytes());
                for &n in &order {
                    let node = &self.nodes[n];
                    if !node.prefix.is_empty() {
                        out.extend_from_slice(&node.prefix);
                        out.push(0);
                    }
                    if let (Some(&(first, _)), Some(&(last, _))) =
                        (node.children.first(), node.children.last())
                    {
                        out.extend_from_slice(&[first, last]);
                        for byte in first..=last {
                            let r = node
                                .children
                                .iter()
                                .find(|&&(b, _)| b == byte)
                                .map_or(0, |&(_, c)| refs[c]);
                            out.extend_from_slice(&r.to_be_bytes());
                        }
                    }
                    if !node.values.is_empty() {
                        out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
                        for (p, v) in &node.values {
                            out.extend_from_slice(&p.to_be_bytes());
                            out.extend_from_slice(v);
                            out.push(0);
                        }
                    }
                }
                assert_eq!(out.len(), pos);
                out
            }
        }
    }

    /// A random key for [`index_bulk_build_matches_incremental`]: from a few bytes, often
    /// extending or diverging from an earlier key, to get long shared prefixes (beyond the
    /// 8-byte pieces the sort works with) and keys that are prefixes of others.
    fn random_key(rng: &mut Rng, keys: &[Vec<u8>], alphabet: &[u8]) -> Vec<u8> {
        let mut key = match rng.below(4) {
            0 if !keys.is_empty() => {
                let k = rng.pick(keys);
                k[..rng.below(k.len() + 1)].to_vec()
            }
            1 if !keys.is_empty() => rng.pick(keys).clone(),
            _ => Vec::new(),
        };
        let extra = match rng.below(8) {
            0 => 0,
            1 => 8 + rng.below(40),
            _ => rng.below(6),
        };
        key.extend((0..extra).map(|_| *rng.pick(alphabet)));
        key
    }

    #[test]
    fn index_bulk_build_matches_incremental() {
        let alphabets: [&[u8]; 4] = [b"a", b"ab", b"abc:*-_09", b"\x01\x7f\x30\x31\x32"];
        let mut rng = Rng(0x00B0_07F4);
        let mut sizes = 0;
        for round in 0..3000 {
            let alphabet = alphabets[round % alphabets.len()];
            let mut model = incremental::Trie::new();
            let mut bulk = IndexBuilder::new();
            let mut unchecked = IndexBuilder::with_duplicate_check(false);
            let mut keys: Vec<Vec<u8>> = Vec::new();
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let n = [0, 1, 2, 5, 20, 100, 400][rng.below(7)];
            for i in 0..n {
                let (mut key, mut value) = if !pairs.is_empty() && rng.below(5) == 0 {
                    // The same pair again: a duplicate.
                    rng.pick(&pairs).clone()
                } else {
                    let key = random_key(&mut rng, &keys, alphabet);
                    let value: Vec<u8> = (0..rng.below(4)).map(|_| *rng.pick(b"xyz")).collect();
                    (key, value)
                };
                if rng.below(50) == 0 {
                    // Bytes after a NUL do not count.
                    key.extend_from_slice(b"\0tail");
                    value.extend_from_slice(b"\0");
                }
                // Few priorities, so that many are equal.
                let priority = rng.below(3) as u32;
                let want = model.insert(&key, &value, priority);
                assert_eq!(
                    bulk.insert(&key, &value, priority),
                    Ok(want),
                    "round {round}"
                );
                assert_eq!(unchecked.insert(&key, &value, priority), Ok(false));
                keys.push(cstr(&key).to_vec());
                pairs.push((key, value));
                if i == n / 2 && rng.below(4) == 0 {
                    // Writing does not disturb later insertions.
                    assert_eq!(
                        bulk.to_bytes().unwrap(),
                        model.to_bytes(),
                        "round {round}, half"
                    );
                }
            }
            let want = model.to_bytes();
            assert_eq!(bulk.to_bytes().unwrap(), want, "round {round}");
            assert_eq!(unchecked.to_bytes().unwrap(), want, "round {round}");
            let mut out = b"header".to_vec();
            bulk.write_to(&mut out).unwrap();
            assert_eq!(&out[6..], &want[..]);
            sizes += want.len();
        }
        assert!(sizes > 1_000_000, "too little coverage: {sizes} bytes");
    }

    /// Model of the value list of one key.
    #[cfg(feature = "reader")]
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

    #[cfg(feature = "reader")]
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
            let bytes = b.to_bytes().unwrap();
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

    #[cfg(feature = "reader")]
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
        let bytes = b.to_bytes().unwrap();
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
}
