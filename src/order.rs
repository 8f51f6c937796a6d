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

/// Read `<dirname>/modules.order`: its lines without newlines, or `None` when the array is
/// to stay in hash order (missing file, warned; or a line without its newline, an error).
pub fn read_modules_order(dirname: &[u8], log: &mut Log) -> Option<Vec<Vec<u8>>> {
    let path = msg!(dirname, b"/modules.order");
    let data = match crate::read_file(&path) {
        Ok(d) => d,
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
