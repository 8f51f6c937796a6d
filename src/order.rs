//! The module array: kmod's hash order, then the stable modules.order sort (spec §5.2).

use crate::cstd::{c_str, fgets_lines};
use crate::diag::{Fatal, Log, errno_of, strerror};
use crate::discover::Candidate;
use crate::hash::{MODULE_BUCKETS, hash_order_indices};
use crate::msg;
use rustc_hash::FxHashMap as HashMap;

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
            log.warning(msg!(
                b"could not open modules.order at ",
                dirname,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            ));
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

/// Put the chosen modules in kmod's array order: hash order of their names, then modules
/// listed in modules.order first, by their first line (stable).
pub fn module_array(cands: Vec<Candidate>, order: Option<&[Vec<u8>]>) -> Vec<Candidate> {
    let keys: Vec<&[u8]> = cands.iter().map(|c| c.name.as_slice()).collect();
    let hashed = hash_order_indices(&keys, MODULE_BUCKETS);
    let mut slots: Vec<Option<Candidate>> = cands.into_iter().map(Some).collect();
    let mut array: Vec<Candidate> = hashed
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect();
    if let Some(lines) = order {
        let mut rank: HashMap<&[u8], usize> =
            HashMap::with_capacity_and_hasher(lines.len(), Default::default());
        for (i, l) in lines.iter().enumerate() {
            rank.entry(l.as_slice()).or_insert(i);
        }
        let ranks: Vec<usize> = array
            .iter()
            .map(|c| {
                c.order_key()
                    .and_then(|k| rank.get(k).copied())
                    .unwrap_or(usize::MAX)
            })
            .collect();
        let mut idx: Vec<usize> = (0..array.len()).collect();
        idx.sort_by_key(|&i| ranks[i]);
        let mut slots: Vec<Option<Candidate>> = array.into_iter().map(Some).collect();
        array = idx
            .into_iter()
            .map(|i| slots[i].take().expect("each index once"))
            .collect();
    }
    array
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

    #[test]
    fn order_first_occurrence_wins() {
        let c = |p: &str| Candidate::new(format!("/m/{p}").into_bytes(), b"/m").unwrap();
        let cands = vec![c("a.ko"), c("b.ko"), c("x/c.ko.xz"), c("d.ko")];
        let order = vec![
            b"x/c.ko".to_vec(),
            b"b.ko".to_vec(),
            b"c.ko".to_vec(),
            b"x/c.ko".to_vec(),
        ];
        let arr = module_array(cands, Some(&order));
        let names: Vec<&[u8]> = arr.iter().map(|c| c.name.as_slice()).collect();
        assert_eq!(&names[..2], &[b"c" as &[u8], b"b"]);
        assert_eq!(names.len(), 4);
    }
}
