//! Where a module's bytes come from: a slice (a decompressed module) or positioned reads of a
//! file, read ahead in merged ranges so that an uncompressed module is never read whole: only
//! its headers and the sections depmod uses.

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

/// Bytes read from a [`Source`]: borrowed from an image in memory, a pooled buffer, or a
/// vector of its own.
pub enum Buf<'a> {
    /// A slice of an in-memory image.
    Borrowed(&'a [u8]),
    /// A buffer from this thread's pool, returned to it when dropped.
    Pooled(Pooled),
    /// A vector of its own (a sparse image's stand-in for bytes it did not keep).
    Owned(Vec<u8>),
}

impl std::ops::Deref for Buf<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buf::Borrowed(b) => b,
            Buf::Pooled(p) => &p.vec[..p.len],
            Buf::Owned(v) => v,
        }
    }
}

/// A read buffer that goes back to its thread's pool: scanning thousands of modules reuses
/// a few buffers instead of allocating, zeroing and faulting in fresh pages for each.
pub struct Pooled {
    vec: Vec<u8>,
    len: usize,
}

/// Buffers kept per thread, and the largest one worth keeping: a few modules decode to tens of
/// MiB, and keeping their buffers for reuse cost more peak memory than reallocating them
/// costs time (sid 7.2: 81 → 71 MiB at 64 → 8 MiB, same time).
const POOL_BUFFERS: usize = 8;
const POOL_MAX_BYTES: usize = 8 << 20;
/// The most bytes (of capacity) all threads' pools keep together: more threads never mean
/// proportionally more memory kept idle.
pub const POOL_TOTAL_MAX: usize = 128 << 20;

/// The capacity of every buffer in every thread's pool.
static POOLED_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A thread's pool; what it still holds when the thread ends is taken off [`POOLED_BYTES`].
struct Pool(Vec<Vec<u8>>);

impl Drop for Pool {
    fn drop(&mut self) {
        let bytes: usize = self.0.iter().map(Vec::capacity).sum();
        POOLED_BYTES.fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const { std::cell::RefCell::new(Pool(Vec::new())) };
}

/// A buffer from this thread's pool, or a new empty one.
fn pool_pop() -> Vec<u8> {
    let vec = POOL
        .try_with(|p| p.borrow_mut().0.pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    POOLED_BYTES.fetch_sub(vec.capacity(), std::sync::atomic::Ordering::Relaxed);
    vec
}

/// Give a buffer to this thread's pool, if it is worth keeping and there is room.
fn pool_push(vec: Vec<u8>) {
    use std::sync::atomic::Ordering::Relaxed;
    let cap = vec.capacity();
    if cap == 0 || cap > POOL_MAX_BYTES {
        return;
    }
    let room = POOLED_BYTES.fetch_update(Relaxed, Relaxed, |total| {
        (total + cap <= POOL_TOTAL_MAX).then_some(total + cap)
    });
    if room.is_err() {
        return;
    }
    let kept = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.0.len() < POOL_BUFFERS {
            p.0.push(vec);
            true
        } else {
            false
        }
    });
    if kept != Ok(true) {
        POOLED_BYTES.fetch_sub(cap, Relaxed);
    }
}

/// The bytes all pools hold (for tests).
pub fn pooled_bytes() -> usize {
    POOLED_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

impl Pooled {
    /// Fill a pooled buffer with `fill` (which appends to an empty vector, keeping its
    /// capacity): what decompression writes into.
    pub fn filled_with<E>(fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Pooled, E> {
        let mut vec = pool_pop();
        vec.clear();
        let result = fill(&mut vec);
        let len = vec.len();
        let pooled = Pooled { vec, len };
        result.map(|()| pooled)
    }

    /// A buffer of `len` bytes (contents unspecified until filled).
    fn take(len: usize) -> Pooled {
        let mut vec = pool_pop();
        if vec.len() < len {
            vec.resize(len, 0);
        }
        Pooled { vec, len }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        pool_push(std::mem::take(&mut self.vec));
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
                    // An empty read succeeds anywhere, even past the end.
                    Ok(got) if n == 0 => proptest::prop_assert!(got.is_empty()),
                    Ok(got) => proptest::prop_assert_eq!(Some(&*got), bytes.get(off as usize..end)),
                    Err(e) => {
                        proptest::prop_assert!(end > cut, "{off}+{n} failed below the cut: {e}");
                        proptest::prop_assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
                    }
                }
            }
        }
    }

    #[test]
    fn the_pools_keep_a_bounded_total() {
        // Eight threads each give back buffers of 48 MiB (reserved, never touched): the
        // pools keep at most POOL_TOTAL_MAX of them together.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let bufs: Vec<Pooled> = (0..3)
                        .map(|_| {
                            Pooled::filled_with(|v| {
                                v.reserve_exact(48 << 20);
                                Ok::<(), ()>(())
                            })
                            .unwrap()
                        })
                        .collect();
                    drop(bufs);
                    assert!(pooled_bytes() <= POOL_TOTAL_MAX);
                });
            }
        });
        assert!(pooled_bytes() <= POOL_TOTAL_MAX);
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
