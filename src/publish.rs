//! Publishing: every output is written to a temporary file in the output directory and
//! flushed to disk before any of them replaces the old file (spec §6.2, §13). A failure leaves
//! every old file untouched and no temporary file behind.

use crate::diag::{Fatal, errno_of, strerror};
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
        for n in &self.names {
            let _ = std::fs::remove_file(os(&msg!(self.dir, b"/", n)));
        }
    }
}

/// Write `outputs` (file name, content) into `dir`, replacing the old files all or nothing.
pub fn publish(dir: &[u8], outputs: &[(&str, Vec<u8>)]) -> Result<(), Fatal> {
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
            return Err(Fatal::new(msg!(
                b"renameat(",
                dir,
                b", ",
                name,
                suffix,
                b", ",
                dir,
                b", ",
                name,
                b"): ",
                strerror(libc::EISDIR),
                b"\n"
            )));
        }
    }
    let mut temps = Temps {
        dir,
        names: Vec::new(),
    };
    for (name, data) in outputs {
        let tmp = msg!(name, suffix);
        let path = msg!(dir, b"/", tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(os(&path))
            .map_err(|e| {
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
        f.write_all(data).and_then(|_| f.sync_all()).map_err(|e| {
            Fatal::error(msg!(
                b"Could not create index '",
                name,
                b"'. Output is truncated: ",
                strerror(errno_of(&e)),
                b"\n"
            ))
        })?;
    }
    for (i, (name, _)) in outputs.iter().enumerate() {
        let tmp = &temps.names[i];
        std::fs::rename(os(&msg!(dir, b"/", tmp)), os(&msg!(dir, b"/", name))).map_err(|e| {
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
                strerror(errno_of(&e)),
                b"\n"
            ))
        })?;
    }
    temps.names.clear();
    // Make the renames durable; a failure here changes nothing already visible.
    let _ = dir_file.sync_all();
    Ok(())
}
