//! Readable differences for the comparison report: a line diff for text, a decoded dump of
//! kmod binary indexes (`modules.*.bin`) plus the first differing byte.

use std::fmt::Write as _;

/// Escape bytes for display (non-printable bytes as `\xNN`, keep `\n` out: callers split lines).
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

fn lines(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = bytes.split(|&b| b == b'\n').map(show).collect();
    if bytes.last() == Some(&b'\n') {
        v.pop();
    } else if let Some(l) = v.last_mut() {
        l.push_str("⏎(no newline at end)");
    }
    v
}

/// A unified-style line diff (`-` = expected/reference, `+` = actual/ours) with 3 lines of
/// context, truncated to `max_lines` output lines.
pub fn line_diff(expected: &[u8], actual: &[u8], max_lines: usize) -> String {
    let a = lines(expected);
    let b = lines(actual);
    let ops = diff_ops(&a, &b);
    let mut out = String::new();
    let mut emitted = 0;
    // Mark which ops are within 3 of a change.
    let n = ops.len();
    let mut keep = vec![false; n];
    for (i, op) in ops.iter().enumerate() {
        if !matches!(op, Op::Same(..)) {
            for k in keep
                .iter_mut()
                .take((i + 4).min(n))
                .skip(i.saturating_sub(3))
            {
                *k = true;
            }
        }
    }
    let mut last_kept = true;
    for (i, op) in ops.iter().enumerate() {
        if !keep[i] {
            if last_kept {
                out.push_str("  ...\n");
            }
            last_kept = false;
            continue;
        }
        last_kept = true;
        if emitted >= max_lines {
            out.push_str("  ... (diff truncated)\n");
            break;
        }
        emitted += 1;
        match op {
            Op::Same(i) => {
                let _ = writeln!(out, "   {}", a[*i]);
            }
            Op::Del(i) => {
                let _ = writeln!(out, " - {}", a[*i]);
            }
            Op::Add(j) => {
                let _ = writeln!(out, " + {}", b[*j]);
            }
        }
    }
    out
}

/// One step of the diff: a line of `a` kept or deleted, or a line of `b` added.
enum Op {
    Same(usize),
    Del(usize),
    Add(usize),
}

fn diff_ops(a: &[String], b: &[String]) -> Vec<Op> {
    // Trim common prefix/suffix, LCS on the middle (bounded), else replace block.
    let mut pre = 0;
    while pre < a.len() && pre < b.len() && a[pre] == b[pre] {
        pre += 1;
    }
    let mut suf = 0;
    while suf < a.len() - pre && suf < b.len() - pre && a[a.len() - 1 - suf] == b[b.len() - 1 - suf]
    {
        suf += 1;
    }
    let am = &a[pre..a.len() - suf];
    let bm = &b[pre..b.len() - suf];
    let mut ops: Vec<Op> = (0..pre).map(Op::Same).collect();
    if am.len() * bm.len() <= 4_000_000 {
        let (n, m) = (am.len(), bm.len());
        let mut t = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                t[i * (m + 1) + j] = if am[i] == bm[j] {
                    t[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    t[(i + 1) * (m + 1) + j].max(t[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push(Op::Same(pre + i));
                i += 1;
                j += 1;
            } else if i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]) {
                ops.push(Op::Del(pre + i));
                i += 1;
            } else {
                ops.push(Op::Add(pre + j));
                j += 1;
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| Op::Del(pre + i)));
        ops.extend((0..bm.len()).map(|j| Op::Add(pre + j)));
    }
    for k in 0..suf {
        ops.push(Op::Same(a.len() - suf + k));
    }
    ops
}

/// Decode a kmod index file into `key => [priority] value` lines (pre-order, as stored).
pub fn dump_index(data: &[u8]) -> Result<Vec<u8>, String> {
    if data.len() < 12 {
        return Err(format!("{} bytes: too short for an index", data.len()));
    }
    let be32 = |o: usize| -> Result<u32, String> {
        data.get(o..o + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("read past end at {o:#x}"))
    };
    if be32(0)? != 0xB007_F457 {
        return Err("bad magic".into());
    }
    if be32(4)? != 0x0002_0001 {
        return Err(format!("version {:#x}", be32(4)?));
    }
    let mut out = Vec::new();
    let mut budget = 1_000_000usize;
    let mut stack: Vec<(u32, Vec<u8>)> = vec![(be32(8)?, Vec::new())];
    while let Some((r, mut key)) = stack.pop() {
        budget = budget.checked_sub(1).ok_or("too many nodes (loop?)")?;
        let mut o = (r & 0x0fff_ffff) as usize;
        if o == 0 {
            continue;
        }
        if r & 0x8000_0000 != 0 {
            let end = data[o.min(data.len())..]
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| format!("unterminated prefix at {o:#x}"))?;
            key.extend_from_slice(&data[o..o + end]);
            o += end + 1;
        }
        let mut children = Vec::new();
        if r & 0x2000_0000 != 0 {
            let (first, last) = match data.get(o..o + 2) {
                Some(b) => (b[0], b[1]),
                None => return Err(format!("read past end at {o:#x}")),
            };
            if first > last {
                return Err(format!("child range {first}..{last} at {o:#x}"));
            }
            o += 2;
            for c in first..=last {
                let cr = be32(o)?;
                o += 4;
                if cr != 0 {
                    let mut k = key.clone();
                    k.push(c);
                    children.push((cr, k));
                }
            }
        }
        if r & 0x4000_0000 != 0 {
            let count = be32(o)? as usize;
            o += 4;
            for _ in 0..count.min(1_000_000) {
                let prio = be32(o)?;
                o += 4;
                let end = data[o.min(data.len())..]
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| format!("unterminated value at {o:#x}"))?;
                out.extend_from_slice(show(&key).as_bytes());
                out.extend_from_slice(format!(" => [{prio}] ").as_bytes());
                out.extend_from_slice(show(&data[o..o + end]).as_bytes());
                out.push(b'\n');
                o += end + 1;
            }
        }
        // Pre-order, ascending child byte: push in reverse.
        stack.extend(children.into_iter().rev());
    }
    Ok(out)
}

/// Explain how two binary files differ: decoded index dump diff (when both decode) and the
/// first differing offset with a little hex context.
pub fn binary_diff(expected: &[u8], actual: &[u8]) -> String {
    let mut out = String::new();
    match (dump_index(expected), dump_index(actual)) {
        (Ok(e), Ok(a)) if e != a => {
            out.push_str("  decoded index entries (key, priority, value) differ:\n");
            out.push_str(&line_diff(&e, &a, 60));
        }
        (Ok(_), Ok(_)) => out.push_str("  decoded entries are equal; the layout differs\n"),
        (e, a) => {
            if let Err(err) = e {
                let _ = writeln!(out, "  reference file does not decode: {err}");
            }
            if let Err(err) = a {
                let _ = writeln!(out, "  our file does not decode: {err}");
            }
        }
    }
    let first = expected
        .iter()
        .zip(actual.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(expected.len().min(actual.len()));
    let _ = writeln!(
        out,
        "  sizes: reference {} bytes, ours {} bytes; first difference at offset {first:#x}",
        expected.len(),
        actual.len()
    );
    let from = first & !0xf;
    let hex = |d: &[u8]| -> String {
        d.get(from..(from + 32).min(d.len()))
            .unwrap_or(&[])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(out, "  reference @{from:#x}: {}", hex(expected));
    let _ = writeln!(out, "  ours      @{from:#x}: {}", hex(actual));
    out
}
