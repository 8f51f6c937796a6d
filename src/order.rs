//! The module array: kmod's hash order, then the stable modules.order sort (spec §5.2).

use crate::diag::{Log, errno_of, strerror};
use crate::discover::Candidate;
use crate::hash::{MODULE_BUCKETS, hash_order_indices};
use crate::msg;
use rustc_hash::FxHashMap as HashMap;

/// Split a file into lines as C's `fgets` with a buffer of `size` bytes does: each piece ends
/// after a newline, after `size - 1` bytes, or at the end of the file. (A buffer of fewer
/// than 2 bytes, which C's `fgets` cannot make progress with, is taken as 2.)
pub fn fgets_lines(data: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    let max = size.max(2) - 1;
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let limit = rest.len().min(max);
        let end = rest[..limit]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(limit, |p| p + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The bytes up to the first NUL: what C string functions see of a line.
pub fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// A text input read as kmod reads it through a C stream: `Err` when opening fails; else the
/// bytes read, and the error that ended reading early, if one did. Opening a directory
/// succeeds (as `fopen(path, "r")` does), and reading it fails at once with `EISDIR`: the
/// callers that take a stream error for its end see an empty file.
///
/// At most [`MAX_TEXT_INPUT`] bytes are read: an endless input (`-F /dev/zero`, a FIFO whose
/// writer never stops) ends there with `EFBIG`, where kmod would read forever.
pub fn read_stream(path: &[u8]) -> std::io::Result<(Vec<u8>, Option<std::io::Error>)> {
    crate::read_at_most(path, MAX_TEXT_INPUT)
}

/// The most bytes read of a text input (modules.order, modules.builtin(.modinfo),
/// System.map, Module.symvers): far above any real one (a System.map is some MB).
pub const MAX_TEXT_INPUT: u64 = 256 << 20;

/// Read `<dirname>/modules.order`: its lines without newlines, or `None` when the array is
/// to stay in hash order (missing file, warned; or a line without its newline, an error).
/// A read error ends the file silently, as the end of a C stream does (a directory in its
/// place reads as an empty file).
///
/// Lines are C strings: a piece with a NUL is cut there, so the newline check looks at the
/// byte before the first NUL. A piece whose C string is empty (it starts with NUL) is
/// skipped, whatever follows the NUL, but still counts in the line numbers.
pub fn read_modules_order(dirname: &[u8], log: &mut Log) -> Option<Vec<Vec<u8>>> {
    let path = msg!(dirname, b"/modules.order");
    let data = match read_stream(&path) {
        Ok((d, _)) => d,
        Err(e) => {
            log.warning(msg!(
                b"could not open modules.order at ",
                dirname,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            ));
            return None;
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
                return None;
            }
        }
    }
    Some(lines)
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
    fn fgets_tiny_buffers_make_progress() {
        for size in [0, 1, 2] {
            let lines: Vec<&[u8]> = fgets_lines(b"ab\n", size).collect();
            assert_eq!(lines, vec![&b"a"[..], b"b", b"\n"]);
        }
    }

    #[test]
    fn fgets_splits_long_lines() {
        let data = [vec![b'a'; 5000], b"\nb".to_vec()].concat();
        let lines: Vec<&[u8]> = fgets_lines(&data, 4096).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), 4095);
        assert_eq!(lines[1].len(), 906);
        assert_eq!(lines[2], b"b");
    }

    #[test]
    fn read_stream_directory_opens_and_fails_to_read() {
        let dir = std::env::temp_dir();
        let path = dir.as_os_str().as_encoded_bytes();
        let (data, err) = read_stream(path).expect("a directory opens");
        assert!(data.is_empty());
        assert_eq!(err.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
        let missing = [path, b"/depmod-rs-no-such-file".as_slice()].concat();
        assert!(read_stream(&missing).is_err());
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
