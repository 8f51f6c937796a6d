//! The module array: kmod's hash order, then the stable modules.order sort.

use crate::discover::Candidate;
use crate::hash::{MODULE_BUCKETS, hash_order_indices};
use rustc_hash::FxHashMap as HashMap;

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
