//! fnmatch(3) as libkmod calls it for wildcard lookups (flags 0, C locale), on bytes: the
//! stored keys of the alias and symbol indexes are patterns matched against the query.

use crate::cstr;

/// Byte at `i` of a C string, 0 past its end.
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Maximum length of a character class name in a bracket expression (glibc's
/// `CHARCLASS_NAME_MAX`).
const CHAR_CLASS_MAX_LENGTH: usize = 2048;

/// Does the C-locale character class `name` contain byte `c`? `None` for an unknown class.
fn class_contains(name: &[u8], c: u8) -> Option<bool> {
    let alpha = c.is_ascii_alphabetic();
    let digit = c.is_ascii_digit();
    let graph = (0x21..0x7f).contains(&c);
    Some(match name {
        b"alnum" => alpha || digit,
        b"alpha" => alpha,
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c < 0x20 || c == 0x7f,
        b"digit" => digit,
        b"graph" => graph,
        b"lower" => c.is_ascii_lowercase(),
        b"print" => graph || c == b' ',
        b"punct" => graph && !alpha && !digit,
        b"space" => c == b' ' || (b'\t'..=b'\r').contains(&c),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Outcome of a bracket expression against one subject byte.
enum Bracket {
    /// Matched; the pattern continues at this index (after the closing `]`).
    Match(usize),
    /// Does not match here.
    NoMatch,
    /// Unterminated bracket: the `[` is an ordinary character.
    Literal,
}

/// Match the bracket expression whose `[` is at `pat[start - 1]` against the byte `sc`,
/// following glibc's C-locale rules (flags 0).
fn match_bracket(pat: &[u8], start: usize, sc: u8) -> Bracket {
    let mut p = start;
    let negate = matches!(at(pat, p), b'!' | b'^');
    if negate {
        p += 1;
    }
    let mut c = at(pat, p);
    p += 1;
    loop {
        // `c` starts the current item, `p` is just after it.
        let mut plain = None;
        let mut range_from = None;
        if c == b'\\' {
            if at(pat, p) == 0 {
                return Bracket::NoMatch;
            }
            plain = Some(at(pat, p));
            p += 1;
        } else if c == b'[' && at(pat, p) == b':' {
            let startp = p;
            let mut name = Vec::new();
            let mut is_class = true;
            loop {
                if name.len() == CHAR_CLASS_MAX_LENGTH {
                    return Bracket::NoMatch;
                }
                p += 1;
                let c2 = at(pat, p);
                if c2 == b':' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
                // glibc accepts only `a`..`y` in a class name (no class name contains `z`).
                if !(b'a'..=b'y').contains(&c2) {
                    is_class = false;
                    p = startp;
                    break;
                }
                name.push(c2);
            }
            if is_class {
                match class_contains(&name, sc) {
                    None => return Bracket::NoMatch,
                    Some(true) => return skip_bracket(pat, p, negate),
                    Some(false) => {
                        c = at(pat, p);
                        p += 1;
                    }
                }
            } else {
                plain = Some(b'[');
            }
        } else if c == b'[' && at(pat, p) == b'=' {
            let x = at(pat, p + 1);
            if x != 0 && at(pat, p + 2) == b'=' && at(pat, p + 3) == b']' {
                if sc == x {
                    return skip_bracket(pat, p + 4, negate);
                }
                p += 4;
                c = at(pat, p);
                p += 1;
            } else {
                plain = Some(b'[');
            }
        } else if c == 0 {
            return Bracket::Literal;
        } else if c == b'[' && at(pat, p) == b'.' {
            // Collating symbol: only single characters exist in the C locale.
            let startp = p;
            let mut count = 0;
            loop {
                p += 1;
                let c2 = at(pat, p);
                if c2 == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
                if c2 == 0 {
                    return Bracket::NoMatch;
                }
                count += 1;
            }
            if count != 1 {
                return Bracket::NoMatch;
            }
            let sym = at(pat, startp + 1);
            let is_range = at(pat, p) == b'-' && at(pat, p + 1) != 0;
            if !is_range && sym == sc {
                return skip_bracket(pat, p, negate);
            }
            range_from = Some(sym);
            c = at(pat, p);
            p += 1;
        } else {
            plain = Some(c);
        }
        if let Some(ch) = plain {
            let is_range = at(pat, p) == b'-' && at(pat, p + 1) != 0 && at(pat, p + 1) != b']';
            if !is_range && ch == sc {
                return skip_bracket(pat, p, negate);
            }
            range_from = Some(ch);
            c = at(pat, p);
            p += 1;
        }
        if let Some(lo) = range_from
            && c == b'-'
            && at(pat, p) != b']'
        {
            let mut hi = at(pat, p);
            p += 1;
            if hi == b'\\' {
                hi = at(pat, p);
                p += 1;
            } else if hi == b'[' && at(pat, p) == b'.' {
                // The end of a range may be a collating symbol `[.c.]`.
                let mut q = p;
                let mut count = 0;
                loop {
                    q += 1;
                    let c2 = at(pat, q);
                    if c2 == b'.' && at(pat, q + 1) == b']' {
                        break;
                    }
                    if c2 == 0 {
                        return Bracket::NoMatch;
                    }
                    count += 1;
                }
                if count != 1 {
                    return Bracket::NoMatch;
                }
                hi = at(pat, p + 1);
                p = q + 2;
            }
            if hi == 0 {
                return Bracket::NoMatch;
            }
            if lo <= sc && sc <= hi {
                return skip_bracket(pat, p, negate);
            }
            c = at(pat, p);
            p += 1;
        }
        if c == b']' {
            break;
        }
    }
    if negate {
        Bracket::Match(p)
    } else {
        Bracket::NoMatch
    }
}

/// After a bracket item matched at `p`: find the closing `]` (glibc's skipping rules; an
/// unterminated bracket makes the `[` an ordinary character after all).
fn skip_bracket(pat: &[u8], mut p: usize, negate: bool) -> Bracket {
    loop {
        let c = at(pat, p);
        p += 1;
        match c {
            0 => return Bracket::Literal,
            b']' => break,
            b'\\' => {
                if at(pat, p) == 0 {
                    return Bracket::NoMatch;
                }
                p += 1;
            }
            b'[' if at(pat, p) == b':' => {
                // Skip `[:name:]`; if what follows is no class name, go on after the `[`.
                let mut q = p;
                let mut count = 0;
                loop {
                    q += 1;
                    count += 1;
                    if count == CHAR_CLASS_MAX_LENGTH {
                        return Bracket::NoMatch;
                    }
                    let c2 = at(pat, q);
                    if c2 == b':' && at(pat, q + 1) == b']' {
                        p = q + 2;
                        break;
                    }
                    if !(b'a'..=b'y').contains(&c2) {
                        break;
                    }
                }
            }
            b'[' if at(pat, p) == b'=' => {
                if at(pat, p + 1) == 0 || at(pat, p + 2) != b'=' || at(pat, p + 3) != b']' {
                    return Bracket::NoMatch;
                }
                p += 4;
            }
            b'[' if at(pat, p) == b'.' => loop {
                p += 1;
                let c2 = at(pat, p);
                if c2 == 0 {
                    return Bracket::NoMatch;
                }
                if c2 == b'.' && at(pat, p + 1) == b']' {
                    p += 2;
                    break;
                }
            },
            _ => {}
        }
    }
    if negate {
        Bracket::NoMatch
    } else {
        Bracket::Match(p)
    }
}

/// fnmatch(3) with flags 0 in the C locale, on bytes: does `string` match `pattern`?
///
/// `*` matches any sequence (including `/` and leading dots), `?` any byte, `[...]` a bracket
/// expression (ranges, `!`/`^` negation, `]` first is literal, `[:class:]`, `[=c=]`, `[.c.]`,
/// backslash escapes; an unterminated `[` is an ordinary character), `\c` the byte `c` (a
/// trailing backslash matches nothing). Both arguments are read as C strings.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let pat = cstr(pattern);
    let s = cstr(string);
    let mut p = 0;
    let mut n = 0;
    // Pattern position after the last `*` run and the subject position it was last tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = if p == pat.len() {
            if n == s.len() {
                return true;
            }
            None
        } else {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && matches!(pat[p], b'*' | b'?') {
                        if pat[p] == b'?' {
                            if n == s.len() {
                                return false;
                            }
                            n += 1;
                        }
                        p += 1;
                    }
                    if p == pat.len() {
                        return true;
                    }
                    star = Some((p, n));
                    continue;
                }
                b'?' => (n < s.len()).then_some((p + 1, n + 1)),
                b'\\' => {
                    let c = at(pat, p + 1);
                    (c != 0 && s.get(n) == Some(&c)).then_some((p + 2, n + 1))
                }
                b'[' => match s.get(n) {
                    None => None,
                    Some(&sc) => match match_bracket(pat, p + 1, sc) {
                        Bracket::Match(next) => Some((next, n + 1)),
                        Bracket::NoMatch => None,
                        Bracket::Literal => (sc == b'[').then_some((p + 1, n + 1)),
                    },
                },
                c => (s.get(n) == Some(&c)).then_some((p + 1, n + 1)),
            }
        };
        match step {
            Some((np, nn)) => {
                p = np;
                n = nn;
            }
            None => {
                // Every element consumes exactly one byte, so retrying only the last `*` one
                // byte further on is enough.
                let Some((sp, sn)) = star else {
                    return false;
                };
                if sn >= s.len() {
                    return false;
                }
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use test_rng::Rng;

    fn libc_fnmatch(p: &[u8], s: &[u8]) -> bool {
        let p = CString::new(p).unwrap();
        let s = CString::new(s).unwrap();
        // SAFETY: both arguments are valid NUL-terminated strings.
        unsafe { libc::fnmatch(p.as_ptr(), s.as_ptr(), 0) == 0 }
    }

    #[test]
    fn index_fnmatch_examples() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"*", b""),
            (b"*", b"a/b.c"),
            (b"a*c", b"abbbc"),
            (b"a?c", b"abc"),
            (b"[abc]", b"b"),
            (b"[!abc]", b"d"),
            (b"[^abc]", b"d"),
            (b"[a-c]x", b"bx"),
            (b"[]]", b"]"),
            (b"[!]]", b"a"),
            (b"[a-]", b"-"),
            (b"\\*", b"*"),
            (b"[\\]]", b"]"),
            (b"[", b"["),
            (b"[ab", b"[ab"),
            (b"[[:digit:]]", b"7"),
            (b"[[:space:]]", b"\x0b"),
            (b"pci:v*d[0-9]_a", b"pci:v1234d5_a"),
            (b"*?*", b"x"),
        ];
        let no: &[(&[u8], &[u8])] = &[
            (b"", b"a"),
            (b"?", b""),
            (b"a*c", b"abcd"),
            (b"[abc]", b"d"),
            (b"[!abc]", b"a"),
            (b"\\", b"\\"),
            (b"*\\", b"a\\"),
            (b"[ab", b"a"),
            (b"[[:nope:]]", b"a"),
            (b"*??", b"x"),
        ];
        for &(p, s) in yes {
            assert!(
                fnmatch(p, s),
                "{:?} {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
            assert!(libc_fnmatch(p, s));
        }
        for &(p, s) in no {
            assert!(
                !fnmatch(p, s),
                "{:?} {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
            assert!(!libc_fnmatch(p, s));
        }
    }

    #[test]
    fn index_fnmatch_matches_libc() {
        let mut rng = Rng(0xF00D);
        let tokens: &[&[u8]] = &[
            b"a",
            b"b",
            b"c",
            b"z",
            b"-",
            b"*",
            b"?",
            b"[",
            b"]",
            b"!",
            b"^",
            b"\\",
            b":",
            b".",
            b"=",
            b"[:alpha:]",
            b"[:digit:]",
            b"[:bogus:]",
            b"[:a",
            b"[=a=]",
            b"[.a.]",
            b"[.-.]",
            b"[.ab.]",
            b"[.z.]",
            b"-[.",
            b"[!",
            b"[^",
            b"\\]",
            b"[=]",
            b"[:]",
            b"[::]",
            b"[a-",
            b"]-",
            b"[.].]",
            b"[=",
            b"[.",
            b"a-c",
            b"z-a",
            b"\x80",
            b"\xe9",
            b"/",
            b" ",
        ];
        let subject_bytes: &[u8] = b"abcz-[]!^\\:.=/ 7\x80\xe9A";
        let mut mismatches = Vec::new();
        let mut positives = 0;
        for i in 0..300_000 {
            let plen = rng.below(8);
            let mut pat = Vec::new();
            for _ in 0..plen {
                let token: &[u8] = tokens[rng.below(tokens.len())];
                pat.extend_from_slice(token);
            }
            let s: Vec<u8> = if i % 2 == 0 {
                // Derive a subject from the pattern to get positive cases.
                let mut s = Vec::new();
                for &c in &pat {
                    match rng.below(6) {
                        0 => {}
                        1 | 2 => s.push(*rng.pick(subject_bytes)),
                        _ => s.push(c),
                    }
                }
                s
            } else {
                (0..rng.below(6))
                    .map(|_| *rng.pick(subject_bytes))
                    .collect()
            };
            let want = libc_fnmatch(&pat, &s);
            positives += usize::from(want);
            if fnmatch(&pat, &s) != want {
                mismatches.push((
                    String::from_utf8_lossy(&pat).into_owned(),
                    String::from_utf8_lossy(&s).into_owned(),
                    want,
                ));
            }
        }
        assert!(positives > 10_000, "too few positive cases: {positives}");
        mismatches.truncate(30);
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }
}
