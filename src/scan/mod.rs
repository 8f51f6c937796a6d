//! Scanning: every module of the array read in parallel (decompressed when its magic bytes
//! say so, its ELF image read through positioned reads), or taken from the scan cache when
//! the file has not changed. The results come back in the array's order, whatever the
//! scheduling, so nothing downstream depends on the number of threads.

pub mod budget;
pub mod cache;
pub mod compressed;
pub mod elf;
pub mod facts;
pub mod module;
pub mod source;
pub mod sparse;

pub use facts::{ElfFacts, Export, Import, Str};
pub use module::{LoadError, Scanned, scan_path};

use crate::diag::{Level, Log, errno_of, strerror};
use crate::discover::Candidate;
use crate::msg;
use rayon::prelude::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Read every module, in parallel on `jobs` threads (default: one per core); the results
/// come back in the module array's order whatever the scheduling.
pub fn scan_all(modules: &[Candidate], jobs: Option<usize>) -> Vec<Scanned> {
    let scan = || -> Vec<Scanned> {
        modules
            .par_iter()
            .map(|m| module::scan_path(&m.path))
            .collect()
    };
    on_threads(jobs, modules.len(), scan)
}

/// The most threads `-j` starts: reading modules is bound by the disk or the decompressor
/// well before this, and a larger number (`-j 1000000`) means "as parallel as useful".
pub const MAX_JOBS: usize = 64;

/// Run `work`, which processes `items` pieces in parallel, on a pool of `jobs` threads
/// (`-j`: at most [`MAX_JOBS`] and at most one per item), or on rayon's default pool (a
/// thread per core) when not given. When the system refuses to start that many threads,
/// fewer are used: half as many, down to none beside the calling thread.
pub(crate) fn on_threads<R: Send>(
    jobs: Option<usize>,
    items: usize,
    work: impl FnOnce() -> R + Send,
) -> R {
    let Some(jobs) = jobs else {
        return work();
    };
    let mut n = jobs.min(MAX_JOBS).min(items.max(1));
    loop {
        let builder = rayon::ThreadPoolBuilder::new().num_threads(n);
        // With one thread, the calling thread is the pool: nothing to start, nothing to fail.
        let builder = if n == 1 {
            builder.use_current_thread()
        } else {
            builder
        };
        match builder.build() {
            Ok(pool) => return pool.install(work),
            Err(_) if n > 1 => n /= 2,
            Err(_) => return work(),
        }
    }
}

/// How a run uses the scan cache.
pub struct CacheUse<'a> {
    /// The module directory (its filesystem decides whether the cache can be trusted).
    pub dirname: &'a [u8],
    /// The cache file.
    pub path: Vec<u8>,
    /// Whether a changed cache is to be written back.
    pub write: bool,
}

/// Scan every module, through the cache when one is to be used. Returns the results in
/// array order and the new cache's bytes when it is to be written.
pub fn scan(
    modules: &[Candidate],
    jobs: Option<usize>,
    cache: Option<CacheUse>,
    log: &mut Log,
) -> (Vec<Scanned>, Option<Vec<u8>>) {
    match cache {
        Some(c) => match cache_usable(c.dirname, log) {
            // An empty tree needs no cache, and one left behind would keep the directory of a
            // removed kernel alive (its cleanup deletes the index files by name, then the
            // directory if empty).
            Some(_) if modules.is_empty() => {
                if c.write {
                    remove_cache(&c.path, log);
                }
                (Vec::new(), None)
            }
            Some(settle) => {
                let (old, store) = open_cache(&c.path, log);
                scan_cached(modules, jobs, old.as_ref(), store && c.write, settle, log)
            }
            None => (scan_all(modules, jobs), None),
        },
        _ => (scan_all(modules, jobs), None),
    }
}

/// The facts of each module, `None` for one that could not be read; reports what kmod
/// reports for each failure, in array order.
pub fn facts<'s>(
    modules: &[Candidate],
    scanned: &'s [Scanned],
    log: &mut Log,
) -> Vec<Option<&'s ElfFacts>> {
    let mut facts = Vec::with_capacity(modules.len());
    for (m, s) in modules.iter().zip(scanned) {
        match s {
            Ok(f) => {
                if let Err(errno) = f.exports
                    && errno != libc::ENODATA
                {
                    log.error(msg!(
                        b"failed to load symbols from ",
                        m.path,
                        b": ",
                        strerror(errno),
                        b"\n"
                    ));
                }
                facts.push(Some(f));
            }
            Err(e) => {
                if let Some(d) = &e.decompress {
                    log.error(d.clone());
                }
                log.error(msg!(
                    b"failed to load symbols from ",
                    m.path,
                    b": ",
                    strerror(e.errno),
                    b"\n"
                ));
                facts.push(None);
            }
        }
    }
    facts
}

/// Whether the module directory's filesystem keeps the change times the cache relies on:
/// not a read-only mount (an image can be replaced by another with the same inode numbers,
/// sizes and stored times) nor a FAT filesystem (whose "ctime" is the creation time). Returns
/// the rule for which change times are old enough to be keys.
fn cache_usable(dirname: &[u8], log: &mut Log) -> Option<cache::Settle> {
    let path = OsStr::from_bytes(dirname);
    // Magic numbers are 32-bit; `f_type` is a signed word (32 bits on 32-bit targets).
    let fs = rustix::fs::statfs(path).map(|f| u64::from(f.f_type as u32));
    let why: &[u8] = match (rustix::fs::statvfs(path), fs) {
        (Ok(v), _) if v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) => {
            b"a read-only filesystem"
        }
        // MSDOS_SUPER_MAGIC, EXFAT_SUPER_MAGIC
        (_, Ok(0x4d44 | 0x2011_bab0)) => b"a FAT filesystem",
        _ => return Some(cache::Settle::now(fs.is_ok_and(local_clock))),
    };
    log.log(
        Level::Notice,
        msg!(b"not using the cache: ", dirname, b" is on ", why, b"\n"),
    );
    None
}

/// Whether a filesystem (by its magic number) stamps files with this machine's kernel clock:
/// the local disk and memory filesystems. Network filesystems and FUSE take the server's.
fn local_clock(magic: u64) -> bool {
    matches!(
        magic,
        0xef53 // ext2, ext3, ext4
            | 0x5846_5342 // xfs
            | 0x9123_683e // btrfs
            | 0x0102_1994 // tmpfs
            | 0x8584_58f6 // ramfs
            | 0xf2f5_2010 // f2fs
            | 0x794c_7630 // overlayfs
            | 0x2fc1_2fc1 // zfs
            | 0xca45_1a4e // bcachefs
            | 0x3153_464a // jfs
            | 0x5265_4973 // reiserfs
    )
}

/// Delete the cache of a tree that has no modules, if there is one.
fn remove_cache(path: &[u8], log: &mut Log) {
    match std::fs::remove_file(OsStr::from_bytes(path)) {
        Ok(()) => log.log(
            Level::Info,
            msg!(b"removed cache ", path, b": no modules\n"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log.warning(msg!(
            b"could not remove cache ",
            path,
            b": ",
            strerror(errno_of(&e)),
            b"\n"
        )),
    }
}

/// Load the scan cache (spec-free addition, `--cache`). Returns the cache, if usable, and
/// whether a new one may be written (not when the old one could not even be read).
fn open_cache(path: &[u8], log: &mut Log) -> (Option<cache::Cache>, bool) {
    match cache::load(path) {
        cache::Loaded::Ready(c) => (Some(c), true),
        cache::Loaded::Missing => {
            log.log(
                Level::Info,
                msg!(b"no cache ", path, b" yet: creating it\n"),
            );
            (None, true)
        }
        cache::Loaded::Foreign(by) => {
            log.log(
                Level::Notice,
                msg!(b"ignoring cache ", path, b" (", by, b"): rebuilding it\n"),
            );
            (None, true)
        }
        cache::Loaded::Damaged(why) => {
            log.warning(msg!(
                b"ignoring damaged cache ",
                path,
                b" (",
                why,
                b"): rebuilding it\n"
            ));
            (None, true)
        }
        cache::Loaded::Unreadable(errno) => {
            log.warning(msg!(
                b"could not read cache ",
                path,
                b": ",
                strerror(errno),
                b"; not using it\n"
            ));
            (None, false)
        }
    }
}

/// One module's scan through the cache.
struct Probe<'c> {
    scanned: Scanned,
    /// The identity under which the result is (or will be) stored, if it may be.
    key: Option<cache::Identity>,
    /// The encoded record in the old cache, when served by it.
    hit: Option<&'c [u8]>,
}

/// Scan every module, reusing the cache's result for each file whose identity it holds.
/// Returns the results in array order and, if `write`, the new cache's bytes when it differs
/// from the old.
fn scan_cached(
    modules: &[Candidate],
    jobs: Option<usize>,
    old: Option<&cache::Cache>,
    write: bool,
    settle: cache::Settle,
    log: &mut Log,
) -> (Vec<Scanned>, Option<Vec<u8>>) {
    // root can read every module, so the identity is looked up with `stat`; anyone else
    // opens the file first, so that a module they cannot read fails as it would uncached.
    let root = rustix::process::geteuid().is_root();
    let identify = |path: &std::path::Path| {
        if root {
            std::fs::metadata(path)
        } else {
            std::fs::File::open(path).and_then(|f| f.metadata())
        }
    };
    let probe = |m: &Candidate| -> Probe<'_> {
        if let Some(c) = old
            && let Ok(meta) = identify(std::path::Path::new(OsStr::from_bytes(&m.path)))
        {
            let id = cache::Identity::of(&meta);
            if let Some((scanned, raw)) = c.lookup(&id) {
                return Probe {
                    scanned,
                    key: Some(id),
                    hit: Some(raw),
                };
            }
        }
        let (scanned, meta) = module::scan_path_with_meta(&m.path);
        let key = meta
            .map(|m| cache::Identity::of(&m))
            .filter(|id| id.settled(&settle) && cache::storable(&scanned));
        Probe {
            scanned,
            key,
            hit: None,
        }
    };
    let run = || -> Vec<Probe> { modules.par_iter().map(probe).collect() };
    let probes = on_threads(jobs, modules.len(), run);
    let hits = probes.iter().filter(|p| p.hit.is_some()).count();
    let old_len = old.map_or(0, cache::Cache::len);
    log.log(
        Level::Info,
        format!(
            "cache: reused {hits} of {} modules ({old_len} records)\n",
            modules.len()
        ),
    );
    // Rewritten when a result is to be added or a record is no longer used.
    let mut kept = rustc_hash::FxHashSet::default();
    let mut changed = old.is_none();
    for p in &probes {
        if let Some(k) = p.key {
            changed |= p.hit.is_none();
            kept.insert(k);
        }
    }
    changed |= kept.len() != old_len;
    let started = std::time::Instant::now();
    let new_cache = (changed && write).then(|| {
        let entries: Vec<cache::Entry<'_>> = probes
            .iter()
            .filter_map(|p| p.key.map(|k| (k, &p.scanned, p.hit)))
            .collect();
        cache::build(old, &entries)
    });
    if new_cache.is_some() {
        log.log(
            Level::Debug,
            format!(
                "timing: cache build {:.1} ms\n",
                started.elapsed().as_secs_f64() * 1e3
            ),
        );
    }
    (probes.into_iter().map(|p| p.scanned).collect(), new_cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_capped_by_items_and_ceiling() {
        let threads = |jobs, items| on_threads(jobs, items, rayon::current_num_threads);
        assert_eq!(threads(Some(1_000_000), 3), 3);
        assert_eq!(threads(Some(usize::MAX), 100_000), MAX_JOBS);
        assert_eq!(threads(Some(2), 100), 2);
        assert_eq!(threads(Some(5), 0), 1);
    }
}
