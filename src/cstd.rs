//! C semantics in one place.
//!
//! kmod reads its inputs with the C library: `isspace`, `strtoull`, `sscanf("%u")`, `fgets`
//! into a fixed buffer, and strings that end at the first NUL byte. Matching its output byte
//! for byte means doing exactly what those functions do in the "C" locale, including on bytes
//! no real input contains. Every such rule of this crate lives here, and the tests below check
//! each one against the C library itself, byte value by byte value.
//!
//! Reading a whole file is here too ([`read_at_most`]): kmod would read an endless input
//! forever; this crate stops at a bound and says so.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// What reading a stream gave: the bytes read, and the error that ended it early, if one did.
pub type Partial = (Vec<u8>, Option<std::io::Error>);

/// C's `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`. (Rust's
/// `is_ascii_whitespace` leaves out `\v`.)
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The bytes up to the first NUL: what C string functions see of a buffer.
pub fn c_str(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(n) => &b[..n],
        None => b,
    }
}

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
        let end = memchr::memchr(b'\n', &rest[..limit]).map_or(limit, |p| p + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The value of an ASCII digit or letter as a digit in base 36.
fn digit_value(b: u8) -> Option<u32> {
    (b as char).to_digit(36)
}

/// C's `strtoull(s, &end, base)` for a base from 2 to 36, or 0 (decimal, or octal after `0`,
/// or hexadecimal after `0x`): skips [`is_space`] bytes, takes a sign, then the longest run
/// of digits. Returns the value and the number of bytes consumed (0, as C's `end == s`, when
/// there is no number). An overflowing number gives `u64::MAX`; a negative one is negated in
/// unsigned arithmetic, as C does.
pub fn strtoull(s: &[u8], base: u32) -> (u64, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex_prefix = s.get(i) == Some(&b'0')
        && s.get(i + 1).is_some_and(|&b| b | 0x20 == b'x')
        && s.get(i + 2)
            .and_then(|&b| digit_value(b))
            .is_some_and(|d| d < 16);
    let base = match base {
        0 if hex_prefix => 16,
        0 if s.get(i) == Some(&b'0') => 8,
        0 => 10,
        b => b,
    };
    if base == 16 && hex_prefix {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&b| digit_value(b)).filter(|&d| d < base) {
        match v
            .checked_mul(u64::from(base))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    let v = if overflow {
        u64::MAX
    } else if neg {
        v.wrapping_neg()
    } else {
        v
    };
    (v, i)
}

/// `strtoull(token, &end, 16)` that must consume the whole token (`*end == '\0'`).
pub fn strtoull_whole(token: &[u8], base: u32) -> Option<u64> {
    match strtoull(token, base) {
        (v, n) if n > 0 && n == token.len() => Some(v),
        _ => None,
    }
}

/// One `%u` conversion of `sscanf`: skips [`is_space`] bytes, then reads an unsigned number
/// as `strtoul` does (a sign allowed; on this 64-bit C library the value saturates at 64
/// bits and is then cut to 32). Returns the value and the rest of the input, or `None` when
/// no digit follows (the conversion fails).
pub fn scan_u32(s: &[u8]) -> Option<(u32, &[u8])> {
    match strtoull(s, 10) {
        (_, 0) => None,
        (v, n) => Some((v as u32, &s[n..])),
    }
}

/// `sscanf(s, "%u.%u") == 2`.
pub fn scans_dotted_pair(s: &[u8]) -> bool {
    match scan_u32(s) {
        Some((_, rest)) if rest.first() == Some(&b'.') => scan_u32(&rest[1..]).is_some(),
        _ => false,
    }
}

/// Read at most `max` bytes of the file named by bytes: `Err` when it cannot be opened;
/// else the bytes read and the error that ended reading early, if one did ([`TOO_LARGE`] for
/// a file longer than `max`, which may be endless: a FIFO, `/dev/zero`). The buffer is sized
/// from the file's length.
///
/// A FIFO is opened without waiting for a writer (a FIFO nobody writes to reads as empty)
/// where C's `fopen` would wait forever.
pub fn read_at_most(path: &[u8], max: u64) -> std::io::Result<Partial> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    let path = std::path::Path::new(OsStr::from_bytes(path));
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    // Back to blocking reads, as a stream reads (only a FIFO or a device can tell them apart).
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    let f = std::fs::File::from(fd);
    let size = f.metadata().map_or(0, |m| m.len()).min(max);
    let mut data = Vec::with_capacity(size as usize);
    // On an error `read_to_end` keeps what it read before it in `data`.
    let mut err = f.take(max + 1).read_to_end(&mut data).err();
    if data.len() as u64 > max {
        data.truncate(max as usize);
        err = Some(std::io::Error::from_raw_os_error(TOO_LARGE));
    }
    Ok((data, err))
}

/// The error [`read_at_most`] reports for a file longer than its bound: `EFBIG`.
pub const TOO_LARGE: i32 = libc::EFBIG;

/// Whether an error is [`read_at_most`]'s "longer than the bound".
pub fn is_too_large(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(TOO_LARGE)
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// Every byte value, and a few multi-byte pieces, in front of / inside / after numbers.
    fn inputs() -> Vec<Vec<u8>> {
        let bodies: [&[u8]; 12] = [
            b"",
            b"0",
            b"7",
            b"42",
            b"0x1f",
            b"0X",
            b"0x",
            b"-3",
            b"+9",
            b"1.2",
            b"077",
            b"18446744073709551616",
        ];
        let mut out = Vec::new();
        for b in 1..=255u8 {
            for body in bodies {
                let mut v = vec![b];
                v.extend_from_slice(body);
                out.push(v.clone());
                let mut w = body.to_vec();
                w.push(b);
                w.extend_from_slice(b"5");
                out.push(w);
                if let Some((first, rest)) = body.split_first() {
                    let mut x = vec![*first, b];
                    x.extend_from_slice(rest);
                    out.push(x);
                }
            }
        }
        out.extend([
            b"99999999999999999999".to_vec(),
            b"-18446744073709551615".to_vec(),
            b"4294967296.4294967297".to_vec(),
            b" \t\x0b\x0c\r\n12".to_vec(),
        ]);
        out
    }

    #[test]
    fn is_space_is_libc_isspace() {
        for b in 0..=255u8 {
            let c = unsafe { libc::isspace(i32::from(b)) } != 0;
            assert_eq!(is_space(b), c, "byte {b:#04x}");
        }
    }

    #[test]
    fn strtoull_is_libc_strtoull() {
        for s in inputs() {
            let c = CString::new(s.clone()).unwrap_or_else(|_| CString::new("").unwrap());
            if c.as_bytes() != s {
                continue;
            }
            for base in [0, 8, 10, 16, 36] {
                let mut end: *mut libc::c_char = std::ptr::null_mut();
                let v = unsafe { libc::strtoull(c.as_ptr(), &mut end, base) };
                let used = unsafe { end.offset_from(c.as_ptr()) } as usize;
                assert_eq!(
                    strtoull(&s, base as u32),
                    (v, used),
                    "strtoull({:?}, {base})",
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }

    #[test]
    fn scans_are_libc_sscanf() {
        for s in inputs() {
            let Ok(c) = CString::new(s.clone()) else {
                continue;
            };
            let (mut a, mut b): (libc::c_uint, libc::c_uint) = (0, 0);
            let mut used: libc::c_int = 0;
            let n = unsafe { libc::sscanf(c.as_ptr(), c"%u%n".as_ptr(), &mut a, &mut used) };
            let ours = scan_u32(&s);
            if n == 1 {
                assert_eq!(ours, Some((a, &s[used as usize..])), "%u of {s:?}");
            } else {
                assert_eq!(ours, None, "%u of {s:?}");
            }
            let n = unsafe { libc::sscanf(c.as_ptr(), c"%u.%u".as_ptr(), &mut a, &mut b) };
            assert_eq!(scans_dotted_pair(&s), n == 2, "%u.%u of {s:?}");
        }
    }

    #[test]
    fn fgets_is_libc_fgets() {
        let data = b"a\nbb\n\nccccccc\x00d\nlast";
        for size in 2..12 {
            let f = unsafe { libc::fmemopen(data.as_ptr() as *mut _, data.len(), c"r".as_ptr()) };
            assert!(!f.is_null());
            let mut buf = vec![0u8; size];
            let mut theirs = Vec::new();
            loop {
                let before = unsafe { libc::ftell(f) };
                let p = unsafe { libc::fgets(buf.as_mut_ptr().cast(), size as i32, f) };
                if p.is_null() {
                    break;
                }
                let after = unsafe { libc::ftell(f) };
                theirs.push(data[before as usize..after as usize].to_vec());
                // What C sees of the piece ends at its first NUL.
                assert_eq!(c_str(&buf), c_str(&data[before as usize..after as usize]));
            }
            unsafe { libc::fclose(f) };
            let ours: Vec<Vec<u8>> = fgets_lines(data, size).map(<[u8]>::to_vec).collect();
            assert_eq!(ours, theirs, "buffer of {size}");
        }
    }

    #[test]
    fn fgets_tiny_buffers_make_progress() {
        for size in [0, 1, 2] {
            let lines: Vec<&[u8]> = fgets_lines(b"ab\n", size).collect();
            assert_eq!(lines, vec![&b"a"[..], b"b", b"\n"]);
        }
    }

    #[test]
    fn whole_token_numbers() {
        assert_eq!(strtoull_whole(b"0x1a", 16), Some(0x1a));
        assert_eq!(strtoull_whole(b"\x0b0x1A", 16), Some(0x1a));
        assert_eq!(strtoull_whole(b"0x", 16), None);
        assert_eq!(strtoull_whole(b"12g", 16), None);
        assert_eq!(strtoull_whole(b"", 16), None);
        assert_eq!(strtoull_whole(b"ffffffffffffffffff", 16), Some(u64::MAX));
        assert!(scans_dotted_pair(b"\x0b4.4"));
        assert!(scans_dotted_pair(b"\x0c4.\x0b4"));
        assert!(!scans_dotted_pair(b"4 .4"));
    }

    #[test]
    fn c_str_stops_at_nul() {
        assert_eq!(c_str(b"ab\0cd"), b"ab");
        assert_eq!(c_str(b"abc"), b"abc");
        assert_eq!(c_str(b"\0"), b"");
    }

    #[test]
    fn read_at_most_bounds_endless_inputs() {
        let (data, err) = read_at_most(b"/dev/zero", 1000).expect("opens");
        assert_eq!(data.len(), 1000);
        assert!(err.as_ref().is_some_and(is_too_large));
        let dir = std::env::temp_dir();
        let (data, err) = read_at_most(dir.as_os_str().as_bytes(), 10).expect("a directory opens");
        assert!(data.is_empty());
        assert_eq!(err.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
        assert!(read_at_most(b"/nonexistent/file", 10).is_err());
    }

    #[test]
    fn read_at_most_does_not_wait_for_a_fifo_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let (data, err) = read_at_most(fifo.as_os_str().as_bytes(), 10).expect("opens");
        assert!(data.is_empty());
        assert!(err.is_none());
    }
}
