//! The text inputs besides the modules: `modules.order`, the kernel's symbols (`-E`
//! Module.symvers, `-F` System.map). Each is read as kmod reads it, through C's stream
//! functions (see [`crate::cstd`]), into plain data, and bounded: an input longer than
//! [`MAX_TEXT_INPUT`] ends the run before anything is written.

use crate::cstd::{c_str, fgets_lines, strtoull_whole};
use crate::diag::{Fatal, Log, errno_of, strerror};
use crate::link::strip_prefix;
use crate::msg;
use std::os::unix::ffi::OsStrExt;

/// A text input read as kmod reads it through a C stream: `Err` when opening fails; else the
/// bytes read, and the error that ended reading early, if one did. Opening a directory
/// succeeds (as `fopen(path, "r")` does), and reading it fails at once with `EISDIR`: the
/// callers that take a stream error for its end see an empty file.
///
/// At most [`MAX_TEXT_INPUT`] bytes are read: a longer input (`-F /dev/zero`, a FIFO whose
/// writer never stops), where kmod would read forever, stops the run with a fatal error
/// before anything is written.
pub fn read_stream(path: &[u8]) -> Result<std::io::Result<crate::cstd::Partial>, Fatal> {
    let read = crate::cstd::read_at_most(path, MAX_TEXT_INPUT);
    if let Ok((_, Some(e))) = &read
        && crate::cstd::is_too_large(e)
    {
        return Err(Fatal::new(msg!(
            b"could not read ",
            path,
            b": ",
            strerror(crate::cstd::TOO_LARGE),
            b" (text inputs are read up to ",
            (MAX_TEXT_INPUT >> 20).to_string(),
            b" MiB)\n"
        )));
    }
    Ok(read)
}

/// The most bytes read of a text input (modules.order, modules.builtin(.modinfo),
/// System.map, Module.symvers, depmod.d files): far above any real one (a System.map is
/// some MB).
pub const MAX_TEXT_INPUT: u64 = 128 << 20;

/// Read `<dirname>/modules.order`: its lines without newlines, or `None` when the array is
/// to stay in hash order (missing file, warned; or a line without its newline, an error).
/// A read error ends the file silently, as the end of a C stream does (a directory in its
/// place reads as an empty file).
///
/// Lines are C strings: a piece with a NUL is cut there, so the newline check looks at the
/// byte before the first NUL. A piece whose C string is empty (it starts with NUL) is
/// skipped, whatever follows the NUL, but still counts in the line numbers.
pub fn read_modules_order(dirname: &[u8], log: &mut Log) -> Result<Option<Vec<Vec<u8>>>, Fatal> {
    let path = msg!(dirname, b"/modules.order");
    let data = match read_stream(&path)? {
        Ok((d, _)) => d,
        Err(e) => {
            log.warning(open_warning(dirname, "modules.order", &e));
            return Ok(None);
        }
    };
    let mut lines = Vec::new();
    for (i, raw) in fgets_lines(&data, 4096).enumerate() {
        let line = c_str(raw);
        if line.is_empty() {
            continue;
        }
        match line.strip_suffix(b"\n") {
            Some(l) => lines.push(l.to_vec()),
            None => {
                log.error(msg!(
                    path,
                    b":",
                    (i + 1).to_string(),
                    b" corrupted line misses '\\n'\n"
                ));
                return Ok(None);
            }
        }
    }
    Ok(Some(lines))
}

/// A symbol the kernel itself provides (from `-E` or `-F`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    /// The name, prefix removed.
    pub name: Vec<u8>,
    /// Its CRC (0 from System.map).
    pub crc: u64,
}

/// Read a `-E`/`-F` file; kmod stops with FATAL when it cannot open it. A read error ends
/// the file as its end would (kmod reads with `fgets` until NULL): a directory opens, as
/// with `fopen`, and reads as an empty file.
fn read_kernel_file(path: &[u8]) -> Result<Vec<u8>, Fatal> {
    match read_stream(path)? {
        Ok((data, _)) => Ok(data),
        Err(e) => Err(Fatal::new(msg!(
            b"could not load ",
            path,
            b": ",
            strerror(errno_of(&e)),
            b"\n"
        ))),
    }
}

/// The kernel's symbols from `-E` or `-F`, and whether `-e` stays on: it needs one of them
/// (warned about when missing).
pub fn kernel_symbols(
    args: &crate::cli::Args,
    log: &mut Log,
) -> Result<(Option<Vec<KernelSymbol>>, bool), Fatal> {
    Ok(if let Some(f) = &args.symvers {
        (
            Some(load_symvers(f, args.symbol_prefix, log)?),
            args.errsyms,
        )
    } else if let Some(f) = &args.filesyms {
        (
            Some(load_system_map(f, args.symbol_prefix, log)?),
            args.errsyms,
        )
    } else {
        if args.errsyms {
            log.warning("-e needs -E or -F\n");
        }
        (None, false)
    })
}

/// Read Module.symvers (`-E`): `vmlinux` symbols with their CRCs.
pub fn load_symvers(
    path: &[u8],
    prefix: Option<u8>,
    log: &mut Log,
) -> Result<Vec<KernelSymbol>, Fatal> {
    let data = read_kernel_file(path)?;
    let mut out = Vec::new();
    for (i, raw) in fgets_lines(&data, 10240).enumerate() {
        let line = c_str(raw);
        let mut tokens = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let (Some(crc), Some(name), Some(place)) = (tokens.next(), tokens.next(), tokens.next())
        else {
            continue;
        };
        if place != b"vmlinux" {
            continue;
        }
        let crc = match strtoull_whole(crc, 16) {
            Some(v) => v,
            None => {
                log.error(msg!(
                    path,
                    b":",
                    (i + 1).to_string(),
                    b" Invalid symbol version ",
                    crc,
                    b": ",
                    strerror(libc::EINVAL),
                    b"\n"
                ));
                continue;
            }
        };
        out.push(KernelSymbol {
            name: strip_prefix(name, prefix).to_vec(),
            crc,
        });
    }
    Ok(out)
}

/// Read System.map (`-F`): `__ksymtab_` entries name the kernel's exports.
pub fn load_system_map(
    path: &[u8],
    prefix: Option<u8>,
    log: &mut Log,
) -> Result<Vec<KernelSymbol>, Fatal> {
    let data = read_kernel_file(path)?;
    let mut out = Vec::new();
    for (i, raw) in fgets_lines(&data, 10240).enumerate() {
        let line = c_str(raw);
        let mut spaces = line.iter().enumerate().filter(|(_, b)| **b == b' ');
        let (Some(_), Some((second, _))) = (spaces.next(), spaces.next()) else {
            log.error(msg!(
                path,
                b":",
                (i + 1).to_string(),
                b": invalid line: ",
                line,
                b"\n"
            ));
            continue;
        };
        // One leading byte equal to the prefix is dropped and the line is still used: with
        // `-P _`, `___ksymtab_foo` names `foo` and `__ksymtab_foo` names nothing.
        let sym = strip_prefix(&line[second + 1..], prefix);
        if let Some(name) = sym.strip_prefix(b"__ksymtab_") {
            let name = name.strip_suffix(b"\n").unwrap_or(name);
            out.push(KernelSymbol {
                name: name.to_vec(),
                crc: 0,
            });
        }
    }
    Ok(out)
}

/// kmod's warning when a file of the module directory cannot be opened: it opens the
/// directory first, then the file in it, and names whichever failed.
pub fn open_warning(dirname: &[u8], name: &str, err: &std::io::Error) -> Vec<u8> {
    match std::fs::File::open(std::path::Path::new(std::ffi::OsStr::from_bytes(dirname))) {
        Err(e) => msg!(
            b"could not open directory ",
            dirname,
            b": ",
            strerror(errno_of(&e)),
            b"\n"
        ),
        Ok(_) => msg!(
            b"could not open ",
            name,
            b" at ",
            dirname,
            b": ",
            strerror(errno_of(err)),
            b"\n"
        ),
    }
}

/// A builtin file as read: its bytes and the error that ended reading early, or the warning
/// to give because it could not be opened.
pub type BuiltinFile = Result<crate::cstd::Partial, Vec<u8>>;

/// modules.builtin and modules.builtin.modinfo as read from the module directory: each
/// `None` when not read, else what opening and reading it gave (judged, and warned about,
/// by the renderer of its index, where kmod reads it).
#[derive(Debug, Default)]
pub struct Builtin {
    /// modules.builtin.
    pub modules: Option<BuiltinFile>,
    /// modules.builtin.modinfo.
    pub modinfo: Option<BuiltinFile>,
}

/// Read both builtin files of `dirname` (bounded: a file longer than [`MAX_TEXT_INPUT`] is
/// fatal).
pub fn read_builtin(dirname: &[u8]) -> Result<Builtin, Fatal> {
    let read = |name: &str| -> Result<Option<BuiltinFile>, Fatal> {
        Ok(Some(
            read_stream(&msg!(dirname, b"/", name))?.map_err(|e| open_warning(dirname, name, &e)),
        ))
    };
    Ok(Builtin {
        modules: read("modules.builtin")?,
        modinfo: read("modules.builtin.modinfo")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_stream_directory_opens_and_fails_to_read() {
        let dir = std::env::temp_dir();
        let path = dir.as_os_str().as_encoded_bytes();
        let (data, err) = read_stream(path)
            .expect("not too large")
            .expect("a directory opens");
        assert!(data.is_empty());
        assert_eq!(err.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
        let missing = [path, b"/depmod-rs-no-such-file".as_slice()].concat();
        assert!(read_stream(&missing).expect("not too large").is_err());
    }

    #[test]
    fn endless_input_is_fatal() {
        let fatal = read_stream(b"/dev/zero").expect_err("longer than the bound");
        assert_eq!(fatal.level, Some(crate::diag::Level::Fatal));
        assert_eq!(
            String::from_utf8_lossy(&fatal.text),
            "could not read /dev/zero: File too large (text inputs are read up to 128 MiB)\n"
        );
    }
}
