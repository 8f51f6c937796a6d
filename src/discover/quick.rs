//! `-A`/`--quick`: is any module newer than modules.dep?

use crate::diag::{Log, strerror};
use crate::discover::{dir_fd, is_module_name, open_dir};
use crate::msg;
use rustix::fs::{self, AtFlags, Dir, FileType, Mode, OFlags};

/// kmod's path buffer size.
const PATH_MAX: usize = crate::discover::PATH_MAX;
/// The longest file name.
const NAME_MAX: usize = 255;

/// Whether the indexes in `dirname` are up to date: no module file (in whole seconds) is
/// newer than `modules.dep`. Errors are reported and count as outdated.
pub fn up_to_date(dirname: &[u8], log: &mut Log) -> bool {
    // kmod opens the directory first and stats modules.dep relative to it: a missing
    // directory gives only the "could not open directory" error.
    let fd = match open_dir(dirname) {
        Ok(fd) => fd,
        Err(e) => {
            log.error(msg!(
                b"could not open directory ",
                dirname,
                b": ",
                strerror(crate::diag::errno_of(&e)),
                b"\n"
            ));
            return false;
        }
    };
    let dep = match fs::statat(&fd, "modules.dep", AtFlags::empty()) {
        Ok(st) => st.st_mtime,
        Err(e) => {
            log.error(msg!(
                b"could not fstatat(",
                dirname,
                b", modules.dep): ",
                strerror(e.raw_os_error()),
                b"\n"
            ));
            return false;
        }
    };
    let mut ancestors = Vec::new();
    if let Ok(st) = fs::fstat(&fd) {
        ancestors.push((st.st_dev, st.st_ino));
    }
    let Ok(d) = Dir::new(fd) else { return false };
    // kmod's path buffer: `<dirname>/`, each level appending `<name>/`, a module file
    // appending its name. Its "unsupported file type" message prints whatever the buffer holds.
    let mut path = msg!(dirname, b"/");
    let base = path.len();
    !newer_in(d, base, &mut path, dep, &mut ancestors, log)
}

/// Walk a directory (following links, skipping `build` and `source`) for a module newer
/// than `dep`; stops at the first.
fn newer_in(
    mut d: Dir,
    baselen: usize,
    path: &mut Vec<u8>,
    dep: i64,
    ancestors: &mut Vec<(u64, u64)>,
    log: &mut Log,
) -> bool {
    let dfd = dir_fd(&d);
    while let Some(Ok(entry)) = d.read() {
        let cname = entry.file_name();
        let name = cname.to_bytes();
        if name == b"." || name == b".." || name == b"build" || name == b"source" {
            continue;
        }
        if baselen + name.len() + 2 >= PATH_MAX {
            path.truncate(baselen);
            log.error(msg!(b"path is too long ", &path[..], name, b"\n"));
            continue;
        }
        let Ok(dirfd) = d.fd() else { continue };
        let st = match fs::statat(dirfd, cname, AtFlags::empty()) {
            Ok(st) => st,
            Err(e) => {
                log.error(msg!(
                    b"fstatat(",
                    dfd.to_string(),
                    b", ",
                    name,
                    b"): ",
                    strerror(e.raw_os_error()),
                    b"\n"
                ));
                continue;
            }
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                path.truncate(baselen);
                path.extend_from_slice(name);
                // kmod leaves room for one more name below this directory.
                if baselen + name.len() + 2 + NAME_MAX >= PATH_MAX {
                    log.error(msg!(b"directory path is too long ", &path[..], b"\n"));
                    continue;
                }
                let id = (st.st_dev, st.st_ino);
                if ancestors.contains(&id) {
                    // A symbolic-link loop: not followed (a difference from kmod, see depmod(8)).
                    continue;
                }
                let sub = match fs::openat(
                    dirfd,
                    cname,
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(e) => {
                        log.error(msg!(
                            b"openat(",
                            dfd.to_string(),
                            b", ",
                            name,
                            b", O_RDONLY): ",
                            strerror(e.raw_os_error()),
                            b"\n"
                        ));
                        continue;
                    }
                };
                let Ok(subdir) = Dir::new(sub) else { continue };
                path.push(b'/');
                ancestors.push(id);
                let found = newer_in(subdir, path.len(), path, dep, ancestors, log);
                ancestors.pop();
                if found {
                    return true;
                }
            }
            FileType::RegularFile => {
                if !is_module_name(name) {
                    continue;
                }
                path.truncate(baselen);
                path.extend_from_slice(name);
                if st.st_mtime > dep {
                    return true;
                }
            }
            _ => {
                let mode = st.st_mode & libc::S_IFMT;
                log.error(msg!(
                    b"unsupported file type ",
                    &path[..],
                    b": ",
                    format!("{mode:o}"),
                    b"\n"
                ));
            }
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
        let d = std::os::unix::ffi::OsStrExt::as_bytes(dir.path().as_os_str());
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
