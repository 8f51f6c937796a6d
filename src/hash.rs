//! kmod's hash-table iteration order, computed as on an x86 host.
//!
//! kmod keeps modules (512 buckets) and symbols (2048 buckets) in hash tables and writes some
//! outputs in their iteration order: buckets ascending, keys within a bucket in byte order.
//! So the order is a pure function of the key set, reproduced here without a table.

/// Paul Hsieh's SuperFastHash as kmod computes it: little-endian 16-bit loads and a signed
/// char in the 3- and 1-byte tails (x86), whatever the host.
pub fn kmod_hash(key: &[u8]) -> u32 {
    let le16 = |b: &[u8]| u32::from(b[0]) | (u32::from(b[1]) << 8);
    let signed = |b: u8| b as i8 as i32 as u32;
    let len = key.len();
    let mut h = len as u32;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        h = h.wrapping_add(le16(&c[0..2]));
        let t = (le16(&c[2..4]) << 11) ^ h;
        h = (h << 16) ^ t;
        h = h.wrapping_add(h >> 11);
    }
    let tail = chunks.remainder();
    match tail.len() {
        3 => {
            h = h.wrapping_add(le16(&tail[0..2]));
            h ^= h << 16;
            h ^= signed(tail[2]) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(le16(&tail[0..2]));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(signed(tail[0]));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

/// Buckets of kmod's module-name table.
pub const MODULE_BUCKETS: u32 = 512;
/// Buckets of kmod's symbol table.
pub const SYMBOL_BUCKETS: u32 = 2048;

/// The indices of `keys` in kmod's iteration order for a table of `buckets` buckets: a
/// counting sort by bucket, then each bucket's few keys by bytes.
pub fn hash_order_indices(keys: &[&[u8]], buckets: u32) -> Vec<usize> {
    let mask = buckets - 1;
    let bucket_of: Vec<u32> = keys.iter().map(|k| kmod_hash(k) & mask).collect();
    let mut starts = vec![0usize; buckets as usize + 1];
    for &b in &bucket_of {
        starts[b as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut idx = vec![0usize; keys.len()];
    for (i, &b) in bucket_of.iter().enumerate() {
        idx[next[b as usize]] = i;
        next[b as usize] += 1;
    }
    for w in starts.windows(2) {
        idx[w[0]..w[1]].sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_key_hash_is_zero() {
        // h starts at len 0 and every final step keeps 0.
        assert_eq!(kmod_hash(b""), 0);
    }

    #[test]
    fn tails_use_all_bytes() {
        let a = kmod_hash(b"abcd");
        assert_ne!(a, kmod_hash(b"abce"));
        assert_ne!(kmod_hash(b"abc"), kmod_hash(b"abd"));
        assert_ne!(kmod_hash(b"ab"), kmod_hash(b"ac"));
        assert_ne!(kmod_hash(b"a"), kmod_hash(b"b"));
    }

    #[test]
    fn signed_char_in_tail() {
        // 0xff as a signed char is -1: the tail adds 0xffffffff, not 0xff.
        let mut h: u32 = 1;
        h = h.wrapping_add(0xffff_ffff);
        h ^= h << 10;
        h = h.wrapping_add(h >> 1);
        h ^= h << 3;
        h = h.wrapping_add(h >> 5);
        h ^= h << 4;
        h = h.wrapping_add(h >> 17);
        h ^= h << 25;
        h = h.wrapping_add(h >> 6);
        assert_eq!(kmod_hash(&[0xff]), h);
    }

    #[test]
    fn counting_sort_equals_plain_sort() {
        let owned: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("sym_{}_{}", i.wrapping_mul(2654435761) % 977, i % 13).into_bytes())
            .collect();
        let keys: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        for buckets in [MODULE_BUCKETS, SYMBOL_BUCKETS] {
            let mut model: Vec<usize> = (0..keys.len()).collect();
            model.sort_by(|&a, &b| {
                (kmod_hash(keys[a]) & (buckets - 1), keys[a])
                    .cmp(&(kmod_hash(keys[b]) & (buckets - 1), keys[b]))
            });
            let got = hash_order_indices(&keys, buckets);
            let as_keys = |v: &[usize]| v.iter().map(|&i| keys[i]).collect::<Vec<_>>();
            assert_eq!(as_keys(&got), as_keys(&model));
        }
    }

    #[test]
    fn order_is_bucket_then_bytes() {
        let keys: Vec<&[u8]> = vec![b"snd", b"ext4", b"e1000", b"loop", b"zram", b"a", b"b"];
        let idx = hash_order_indices(&keys, MODULE_BUCKETS);
        let mut prev: Option<(u32, &[u8])> = None;
        for i in idx {
            let cur = (kmod_hash(keys[i]) & 511, keys[i]);
            if let Some(p) = prev {
                assert!(p < cur);
            }
            prev = Some(cur);
        }
    }
}
