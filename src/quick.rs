//! `-A`/`--quick`: is any module newer than modules.dep? (spec §1.5)

use crate::diag::{Log, errno_of, strerror};
use crate::discover::is_module_name;
use crate::msg;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

fn os(p: &[u8]) -> &std::path::Path {
    std::path::Path::new(OsStr::from_bytes(p))
}

/// Whether the indexes in `dirname` are up to date: no module file (in whole seconds) is
/// newer than `modules.dep`. Errors are reported and count as outdated.
pub fn up_to_date(dirname: &[u8], log: &mut Log) -> bool {
    // kmod opens the directory first and stats modules.dep relative to it: a missing
    // directory gives only the "could not open directory" error.
    let rd = match std::fs::read_dir(os(dirname)) {
        Ok(rd) => rd,
        Err(e) => {
            log.error(msg!(
                b"could not open directory ",
                dirname,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            ));
            return false;
        }
    };
    let dep = match std::fs::metadata(os(&msg!(dirname, b"/modules.dep"))) {
        Ok(m) => m.mtime(),
        Err(e) => {
            log.error(msg!(
                b"could not fstatat(",
                dirname,
                b", modules.dep): ",
                strerror(errno_of(&e)),
                b"\n"
            ));
            return false;
        }
    };
    let mut ancestors = Vec::new();
    if let Ok(m) = std::fs::metadata(os(dirname)) {
        ancestors.push((m.dev(), m.ino()));
    }
    !newer_in(dirname, rd, dep, &mut ancestors, log)
}

/// Walk a directory (following links, skipping `build` and `source`) for a module newer
/// than `dep`; stops at the first.
fn newer_in(
    dir: &[u8],
    rd: std::fs::ReadDir,
    dep: i64,
    ancestors: &mut Vec<(u64, u64)>,
    log: &mut Log,
) -> bool {
    for entry in rd.flatten() {
        let fname = entry.file_name();
        let name = fname.as_bytes();
        if name == b"build" || name == b"source" {
            continue;
        }
        let path = msg!(dir, b"/", name);
        let meta = match std::fs::metadata(os(&path)) {
            Ok(m) => m,
            Err(e) => {
                log.error(msg!(
                    b"fstatat(",
                    dir,
                    b", ",
                    name,
                    b"): ",
                    strerror(errno_of(&e)),
                    b"\n"
                ));
                continue;
            }
        };
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                continue;
            }
            match std::fs::read_dir(os(&path)) {
                Ok(sub) => {
                    ancestors.push(id);
                    let found = newer_in(&path, sub, dep, ancestors, log);
                    ancestors.pop();
                    if found {
                        return true;
                    }
                }
                Err(e) => log.error(msg!(
                    b"openat(",
                    dir,
                    b", ",
                    name,
                    b", O_RDONLY): ",
                    strerror(errno_of(&e)),
                    b"\n"
                )),
            }
        } else if meta.is_file() {
            if is_module_name(name) && meta.mtime() > dep {
                return true;
            }
        } else {
            let mode = meta.mode() & libc::S_IFMT;
            log.error(msg!(
                b"unsupported file type ",
                path,
                b": ",
                format!("{mode:o}"),
                b"\n"
            ));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(log: &Log) -> Vec<String> {
        log.diags
            .iter()
            .map(|d| String::from_utf8_lossy(&d.text).into_owned())
            .collect()
    }

    #[test]
    fn missing_directory_is_one_error() {
        let mut log = Log::default();
        assert!(!up_to_date(b"/nonexistent/depmod-quick/9.9", &mut log));
        assert_eq!(
            texts(&log),
            vec![
                "could not open directory /nonexistent/depmod-quick/9.9: No such file or directory\n"
            ]
        );
    }

    #[test]
    fn missing_modules_dep() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().as_os_str().as_bytes();
        let mut log = Log::default();
        assert!(!up_to_date(d, &mut log));
        assert_eq!(
            texts(&log),
            vec![format!(
                "could not fstatat({}, modules.dep): No such file or directory\n",
                dir.path().display()
            )]
        );
    }
}
