//! Module aliases as index keys: the normalisation depmod applies to an alias before it enters
//! modules.alias.bin or modules.builtin.alias.bin.

/// Longest normalised alias kept by [`normalize_alias`] (PATH_MAX − 1).
pub const MAX_ALIAS_LEN: usize = 4095;

/// Normalise a module alias into an index key: `-` becomes `_` except inside a bracket
/// expression `[...]`, which is copied verbatim. `None` for an unterminated `[` or a `]`
/// outside brackets. Only the first [`MAX_ALIAS_LEN`] bytes are scanned (a bracket opened there
/// is still looked for to its end) and the result is truncated to that length. The alias is
/// read as a C string (up to its first NUL).
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    normalize_alias_into(alias, &mut out).then_some(out)
}

/// [`normalize_alias`] into a reused buffer: `out` is cleared and receives the key; `false`
/// (with `out` unspecified) where `normalize_alias` gives `None`.
pub fn normalize_alias_into(alias: &[u8], out: &mut Vec<u8>) -> bool {
    // `alias` is read up to its first NUL, found on the way.
    let limit = alias.len().min(MAX_ALIAS_LEN);
    out.clear();
    out.reserve(limit);
    let mut i = 0;
    while i < limit {
        let Some(skip) = find_special(&alias[i..limit]) else {
            out.extend_from_slice(&alias[i..limit]);
            break;
        };
        let p = i + skip;
        out.extend_from_slice(&alias[i..p]);
        match alias[p] {
            0 => break,
            b'-' => {
                out.push(b'_');
                i = p + 1;
            }
            b'[' => {
                // Copied verbatim up to its `]`, which may lie past the limit.
                let close = alias[p..].iter().position(|&b| b == b']' || b == 0);
                let Some(close) = close.filter(|&c| alias[p + c] == b']') else {
                    return false;
                };
                out.extend_from_slice(&alias[p..=p + close]);
                i = p + close + 1;
            }
            _ => return false,
        }
    }
    out.truncate(MAX_ALIAS_LEN);
    true
}

/// Index of the first `-`, `[`, `]` or NUL in `s` (a word at a time: aliases are short, and
/// most have none).
fn find_special(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero iff some byte of `w` is `b`.
    let has = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut i = 0;
    while let Some(c) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_ne_bytes(*c);
        if has(w, b'-') | has(w, b'[') | has(w, b']') | has(w, 0) != 0 {
            break;
        }
        i += 8;
    }
    let rest = s[i..]
        .iter()
        .position(|&b| matches!(b, b'-' | b'[' | b']' | 0));
    rest.map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cstd::c_str;
    use test_rng::Rng;

    #[test]
    fn index_normalize_alias() {
        let n = |s: &[u8]| normalize_alias(s);
        assert_eq!(n(b"pci:v*d[0-9]-a"), Some(b"pci:v*d[0-9]_a".to_vec()));
        assert_eq!(n(b"dup-x"), Some(b"dup_x".to_vec()));
        assert_eq!(n(b"a[-]-[--]b"), Some(b"a[-]_[--]b".to_vec()));
        assert_eq!(n(b""), Some(Vec::new()));
        assert_eq!(n(b"x[0-9"), None);
        assert_eq!(n(b"x]"), None);
        assert_eq!(n(b"x[a]]"), None);
        assert_eq!(n(b"a-b\0c]"), Some(b"a_b".to_vec()));
        // Truncation to 4095 bytes; only the first 4095 bytes are scanned.
        let long = vec![b'-'; 5000];
        assert_eq!(n(&long), Some(vec![b'_'; MAX_ALIAS_LEN]));
        let mut tail_err = vec![b'a'; MAX_ALIAS_LEN];
        tail_err.extend_from_slice(b"]]][");
        assert_eq!(n(&tail_err), Some(vec![b'a'; MAX_ALIAS_LEN]));
        let mut early_err = vec![b'a'; MAX_ALIAS_LEN - 1];
        early_err.push(b']');
        assert_eq!(n(&early_err), None);
        // A bracket opened inside the limit must still be closed somewhere.
        let mut open = vec![b'a'; MAX_ALIAS_LEN - 2];
        open.extend_from_slice(b"[xyz");
        assert_eq!(n(&open), None);
        open.push(b']');
        let mut expect = vec![b'a'; MAX_ALIAS_LEN - 2];
        expect.extend_from_slice(b"[x");
        assert_eq!(n(&open), Some(expect));
    }

    /// [`normalize_alias`] byte by byte, the plain way.
    fn normalize_model(alias: &[u8]) -> Option<Vec<u8>> {
        let alias = c_str(alias);
        let mut out = Vec::new();
        let mut i = 0;
        while i < alias.len() && i < MAX_ALIAS_LEN {
            match alias[i] {
                b'-' => out.push(b'_'),
                b']' => return None,
                b'[' => {
                    let close = alias[i..].iter().position(|&b| b == b']')?;
                    out.extend_from_slice(&alias[i..=i + close]);
                    i += close;
                }
                c => out.push(c),
            }
            i += 1;
        }
        out.truncate(MAX_ALIAS_LEN);
        Some(out)
    }

    #[test]
    fn index_normalize_alias_matches_model() {
        let mut rng = Rng(0xA11A5);
        let mut buf = b"stale".to_vec();
        for round in 0..100_000 {
            let len = if round % 100 == 0 {
                MAX_ALIAS_LEN - 20 + rng.below(40)
            } else {
                rng.below(30)
            };
            let alphabet: &[u8] = match round % 3 {
                0 => b"abcdefgh:*?-[]\0\x7f",
                1 => b"abc-[",
                _ => b"ab-:*\0",
            };
            let mut alias: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
            if round % 3 == 1 && rng.below(2) == 0 {
                alias.push(b']');
            }
            let want = normalize_model(&alias);
            assert_eq!(normalize_alias(&alias), want, "{alias:?}");
            let ok = normalize_alias_into(&alias, &mut buf);
            assert_eq!(ok, want.is_some());
            if let Some(w) = want {
                assert_eq!(buf, w);
            }
        }
    }
}
