//! Files mode: the modules named on the command line, no configuration, no walk.

use super::Candidate;
use crate::diag::{self, Fatal, Log, strerror};
use crate::msg;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Files mode: the modules named on the command line, no configuration.
pub fn files_mode(
    files: &[Vec<u8>],
    dirname: &[u8],
    log: &mut Log,
) -> Result<Vec<Candidate>, Fatal> {
    let mut list: Vec<Candidate> = Vec::new();
    for path in files {
        if path.first() != Some(&b'/') {
            return Err(Fatal::new(msg!(path, b": not absolute path.\n")));
        }
        if let Err(e) = std::fs::metadata(std::path::Path::new(OsStr::from_bytes(path))) {
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                strerror(diag::errno_of(&e)),
                b"\n"
            )));
        }
        let Some(cand) = Candidate::new(path.clone(), dirname) else {
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                strerror(libc::EINVAL),
                b"\n"
            )));
        };
        if let Some(old) = list.iter().find(|c| c.name == cand.name) {
            let exists = strerror(libc::EEXIST);
            if old.path == cand.path {
                log.error(msg!(b"hash_add_unique ", cand.name, b": ", exists, b"\n"));
                return Err(Fatal::new(msg!(
                    b"could not add module ",
                    path,
                    b": ",
                    exists,
                    b"\n"
                )));
            }
            log.error(msg!(
                b"kmod_module '",
                cand.name,
                b"' already exists with different path: new-path='",
                path,
                b"' old-path='",
                old.path,
                b"'\n"
            ));
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                exists,
                b"\n"
            )));
        }
        list.push(cand);
    }
    Ok(list)
}
