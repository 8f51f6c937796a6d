//! Publishing: every output is written to a temporary file in the output directory and
//! flushed to disk before any of them replaces the old file. Each then takes
//! its old file's place by an exchange of names, undone if a later one fails. A failure leaves
//! every old file untouched and no temporary file behind, except on a filesystem that cannot
//! exchange names, where a rename failing midway leaves the files renamed before it new.

use crate::diag::{Fatal, Log, errno_of, strerror};
use crate::msg;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

fn os(p: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(p))
}

/// Create `dir` and its parents (mode 0755 less the umask), like `mkdir -p`.
fn mkdir_p(dir: &[u8]) -> Result<(), Fatal> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(os(dir))
        .map_err(|e| {
            Fatal::new(msg!(
                b"could not create directory ",
                dir,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            ))
        })
}

/// Temporary files created so far; removed unless disarmed.
struct Temps<'a> {
    dir: &'a [u8],
    names: Vec<Vec<u8>>,
}

impl Drop for Temps<'_> {
    fn drop(&mut self) {
        for n in self.names.iter().filter(|n| !n.is_empty()) {
            let _ = std::fs::remove_file(os(&msg!(self.dir, b"/", n)));
        }
    }
}

/// Write `outputs` (file name, content) into `dir`, replacing the old files all or nothing.
/// When every output already holds exactly its new content, none is touched (no temporary
/// file, no flush, no rename): returns whether the outputs were replaced.
///
/// `extra` (the scan cache) is written with them but not flushed (a torn cache fails its
/// checksum and is rebuilt) and renamed after them; failing to write it is only a warning,
/// since an older cache is still correct (it is keyed by file identity), only less useful.
pub fn publish(
    dir: &[u8],
    outputs: &[(&str, Vec<u8>)],
    extra: Option<(&str, &[u8])>,
    log: &mut Log,
) -> Result<bool, Fatal> {
    mkdir_p(dir)?;
    let dir_file = std::fs::File::open(os(dir)).map_err(|e| {
        Fatal::new(msg!(
            b"could not open directory ",
            dir,
            b": ",
            strerror(errno_of(&e)),
            b"\n"
        ))
    })?;
    // Two runs on the same tree publish one after the other, each a complete set.
    let _ = rustix::fs::flock(&dir_file, rustix::fs::FlockOperation::LockExclusive);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let suffix = format!(
        ".{}.{}.{}",
        std::process::id(),
        now.subsec_micros(),
        now.as_secs()
    );
    // A final name that is a directory would make its rename fail after others were done:
    // refuse before replacing anything, in kmod's words.
    for (name, _) in outputs {
        let path = msg!(dir, b"/", name);
        if std::fs::symlink_metadata(os(&path)).is_ok_and(|m| m.is_dir()) {
            return Err(rename_failed(dir, &msg!(name, suffix), name, libc::EISDIR));
        }
    }
    // Compared under the lock, so that a concurrent run cannot change them in between.
    let current = outputs
        .iter()
        .all(|(name, data)| differs(&msg!(dir, b"/", name), data).is_none());
    let outputs = if current { &outputs[..0] } else { outputs };
    if current && extra.is_none() {
        return Ok(false);
    }
    let mut temps = Temps {
        dir,
        names: Vec::new(),
    };
    // Written, then flushed together: concurrent flushes of independent files share the
    // journal commits that one after the other each wait for. When the open-file limit is
    // reached, the files open so far are flushed and closed first.
    let mut open: Vec<(&str, std::fs::File)> = Vec::with_capacity(outputs.len());
    for (name, data) in outputs {
        let tmp = msg!(name, suffix);
        let path = msg!(dir, b"/", tmp);
        let created = match create_temp(&path) {
            Err(e) if is_out_of_descriptors(&e) && !open.is_empty() => {
                flush_batch(&mut open)?;
                create_temp(&path)
            }
            r => r,
        };
        let mut f = created.map_err(|e| {
            Fatal::error(msg!(
                b"openat(",
                dir,
                b", ",
                tmp,
                b", 301, 644): ",
                strerror(errno_of(&e)),
                b"\n"
            ))
        })?;
        temps.names.push(tmp);
        f.write_all(data).map_err(|e| truncated(name, &e))?;
        open.push((name, f));
    }
    flush_batch(&mut open)?;
    // The extra file: written now, renamed last.
    let extra_tmp = extra.and_then(|(name, data)| {
        let tmp = msg!(name, suffix);
        let path = msg!(dir, b"/", tmp);
        let written = create_temp(&path)
            .map(|mut f| {
                // Created: ours to remove if writing fails.
                f.write_all(data).inspect_err(|_| {
                    let _ = std::fs::remove_file(os(&path));
                })
            })
            .and_then(|w| w);
        match written {
            Ok(()) => Some((name, tmp)),
            Err(e) => {
                log.warning(msg!(
                    b"could not write ",
                    dir,
                    b"/",
                    name,
                    b": ",
                    strerror(errno_of(&e)),
                    b"\n"
                ));
                None
            }
        }
    });
    if let Some((_, tmp)) = &extra_tmp {
        temps.names.push(tmp.clone());
    }
    // Each output takes its old file's place by exchanging the two names, so that when a
    // later one fails, every earlier one is swapped back: no old file is replaced unless all
    // are. The temporary names then hold the old contents, removed when `temps` drops.
    let mut done: Vec<(usize, Replaced)> = Vec::with_capacity(outputs.len());
    for (i, (name, _)) in outputs.iter().enumerate() {
        let tmp = temps.names[i].clone();
        match replace(&dir_file, &tmp, name) {
            Ok(how) => done.push((i, how)),
            Err(errno) => {
                for &(j, how) in done.iter().rev() {
                    if !undo(&dir_file, &temps.names[j], outputs[j].0, how) {
                        // The old content stays under the temporary name: keep it, say where.
                        log.error(msg!(
                            b"could not restore ",
                            dir,
                            b"/",
                            outputs[j].0,
                            b": its old content is in ",
                            temps.names[j],
                            b"\n"
                        ));
                        temps.names[j].clear();
                    }
                }
                return Err(rename_failed(dir, &tmp, name, errno));
            }
        }
    }
    if let Some((name, tmp)) = extra_tmp {
        let from = msg!(dir, b"/", tmp);
        if let Err(e) = std::fs::rename(os(&from), os(&msg!(dir, b"/", name))) {
            let _ = std::fs::remove_file(os(&from));
            log.warning(msg!(
                b"could not replace ",
                dir,
                b"/",
                name,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            ));
        }
    }
    // The old contents (under the temporary names) go before the directory is flushed.
    drop(temps);
    // Make the renames durable; a failure here changes nothing already visible.
    if !current {
        let _ = dir_file.sync_all();
    }
    Ok(!current)
}

/// Whether opening failed for want of a file descriptor (the process's or the system's).
fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// kmod's message when output `name` cannot be written.
fn truncated(name: &str, e: &std::io::Error) -> Fatal {
    Fatal::error(msg!(
        b"Could not create index '",
        name,
        b"'. Output is truncated: ",
        strerror(errno_of(e)),
        b"\n"
    ))
}

/// Flush the files of `open` together and close them; the first failure, in their order.
fn flush_batch(open: &mut Vec<(&str, std::fs::File)>) -> Result<(), Fatal> {
    let (names, files): (Vec<&str>, Vec<std::fs::File>) = open.drain(..).unzip();
    for (name, flushed) in names.into_iter().zip(flush_all(&files)) {
        flushed.map_err(|e| truncated(name, &e))?;
    }
    Ok(())
}

/// Flush every file to stable storage at the same time, each on a thread of its own (on the
/// calling thread when none can be started); the result of each, in order.
fn flush_all(files: &[std::fs::File]) -> Vec<std::io::Result<()>> {
    std::thread::scope(|scope| {
        let started: Vec<_> = files
            .iter()
            .map(|f| {
                std::thread::Builder::new()
                    .stack_size(FLUSH_STACK)
                    .spawn_scoped(scope, || f.sync_all())
                    .map_err(|_| f)
            })
            .collect();
        started
            .into_iter()
            .map(|t| match t {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(libc::EIO))),
                Err(f) => f.sync_all(),
            })
            .collect()
    })
}

/// A flushing thread's stack: it only makes one system call.
const FLUSH_STACK: usize = 64 << 10;

/// Give the file at `path` the current modification time, without changing its content
/// (best effort: a file that cannot be touched only makes a later `-A` run again).
pub fn touch(path: &[u8]) {
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .open(os(path))
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// Create a temporary file that no one else has (mode 0644 less the umask).
fn create_temp(path: &[u8]) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(os(path))
}

/// kmod's message when `tmp` cannot take the name `name` in `dir`.
fn rename_failed(dir: &[u8], tmp: &[u8], name: &str, errno: i32) -> Fatal {
    Fatal::new(msg!(
        b"renameat(",
        dir,
        b", ",
        tmp,
        b", ",
        dir,
        b", ",
        name,
        b"): ",
        strerror(errno),
        b"\n"
    ))
}

/// How an output took its final name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replaced {
    /// Exchanged with the old file, which now has the temporary name: can be undone.
    Exchanged,
    /// There was no old file.
    Created,
    /// Renamed over the old file (a filesystem without exchange): cannot be undone.
    Overwritten,
}

/// Give `tmp` the name `name` in `dir`.
fn replace(dir: &std::fs::File, tmp: &[u8], name: &str) -> Result<Replaced, i32> {
    use rustix::fs::{RenameFlags, renameat, renameat_with};
    use rustix::io::Errno;
    let tmp = OsStr::from_bytes(tmp);
    let plain = |how| {
        renameat(dir, tmp, dir, name)
            .map(|()| how)
            .map_err(|e| e.raw_os_error())
    };
    match renameat_with(dir, tmp, dir, name, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // An exchange also swaps with a directory, which may have appeared under the
            // name since the check before writing: put it back and fail as a rename would.
            let is_dir = rustix::fs::statat(dir, tmp, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
            if is_dir {
                let _ = renameat_with(dir, tmp, dir, name, RenameFlags::EXCHANGE);
                return Err(libc::EISDIR);
            }
            Ok(Replaced::Exchanged)
        }
        Err(Errno::NOENT) => plain(Replaced::Created),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => plain(Replaced::Overwritten),
        Err(e) => Err(e.raw_os_error()),
    }
}

/// Undo [`replace`] as far as possible (the run is failing already). `false` when an
/// exchange could not be undone: the old content is still under the temporary name.
fn undo(dir: &std::fs::File, tmp: &[u8], name: &str, how: Replaced) -> bool {
    use rustix::fs::{RenameFlags, renameat, renameat_with};
    let tmp = OsStr::from_bytes(tmp);
    match how {
        Replaced::Exchanged => renameat_with(dir, tmp, dir, name, RenameFlags::EXCHANGE).is_ok(),
        Replaced::Created => {
            let _ = renameat(dir, name, dir, tmp);
            true
        }
        Replaced::Overwritten => true,
    }
}
/// `--check`: compare the rendered outputs with the files in `outdir`, print each one that
/// would change, and say whether any would.
pub fn check(outdir: &[u8], files: &[(&str, Vec<u8>)], stdout: &mut Vec<u8>) -> bool {
    let mut stale = false;
    for (name, bytes) in files {
        let path = msg!(outdir, b"/", name);
        if let Some(state) = differs(&path, bytes) {
            stdout.extend_from_slice(&msg!(path, b": ", state, b"\n"));
            stale = true;
        }
    }
    stale
}

/// How the file at `path` differs from `bytes`: `None` when it holds exactly them, else
/// `outdated`, `missing` or `unreadable`.
fn differs(path: &[u8], bytes: &[u8]) -> Option<&'static [u8]> {
    // A file longer than the new content differs: no need to read past that.
    Some(match crate::cstd::read_at_most(path, bytes.len() as u64) {
        Ok((old, None)) if old == bytes => return None,
        Ok((_, None)) => b"outdated",
        Ok((_, Some(e))) if crate::cstd::is_too_large(&e) => b"outdated",
        Ok((_, Some(_))) => b"unreadable",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => b"missing",
        Err(_) => b"unreadable",
    })
}
