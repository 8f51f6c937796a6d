//! A GNU `getopt_long`-compatible parser over the option table: combined flags, attached
//! values, permutation of operands, unambiguous long prefixes and glibc's error texts.

use super::options::{HasArg, OPTIONS, OptId, OptSpec, long_table};

/// One step of parsing, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A recognised option with its argument.
    Opt(OptId, Option<Vec<u8>>),
    /// getopt's error line (without the program name prefix): parsing stops with exit 1.
    Error(Vec<u8>),
}

/// The result of getopt-style parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Options and errors in the order getopt returns them (stops at the first error).
    pub events: Vec<Event>,
    /// The operands, in order (after permutation).
    pub operands: Vec<Vec<u8>>,
}

/// Parse `args` (without argv\[0\]) as glibc's `getopt_long` does with kmod's table.
///
/// `posixly_correct` mirrors the `POSIXLY_CORRECT` environment variable: parsing stops at the
/// first operand instead of permuting.
pub fn parse(args: &[Vec<u8>], posixly_correct: bool) -> Parsed {
    let mut events = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.as_slice() == b"--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            operands.push(arg.clone());
            if posixly_correct {
                operands.extend(args[i..].iter().cloned());
                break;
            }
            continue;
        }
        if arg[1] == b'-' {
            let body = &arg[2..];
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(p) => (&body[..p], Some(body[p + 1..].to_vec())),
                None => (body, None),
            };
            let exact = long_table().find(|(l, _)| l.as_bytes() == name);
            let found = match exact {
                Some((l, spec)) => Some((l, spec)),
                None => {
                    let matching = |additions: bool| -> Vec<(&str, &OptSpec)> {
                        long_table()
                            .filter(|(l, s)| {
                                s.is_addition() == additions && l.as_bytes().starts_with(name)
                            })
                            .collect()
                    };
                    let mut candidates = matching(false);
                    if candidates.is_empty() {
                        candidates = matching(true);
                    }
                    match candidates.first() {
                        None => {
                            events.push(Event::Error(crate::msg!(
                                b"unrecognized option '--",
                                body,
                                b"'\n"
                            )));
                            return Parsed { events, operands };
                        }
                        Some(&first) => {
                            let ambiguous = candidates
                                .iter()
                                .any(|(_, s)| s.has_arg != first.1.has_arg || s.id != first.1.id);
                            if ambiguous {
                                let mut m = crate::msg!(
                                    b"option '--",
                                    body,
                                    b"' is ambiguous; possibilities:"
                                );
                                for (l, _) in &candidates {
                                    m.extend_from_slice(b" '--");
                                    m.extend_from_slice(l.as_bytes());
                                    m.push(b'\'');
                                }
                                m.push(b'\n');
                                events.push(Event::Error(m));
                                return Parsed { events, operands };
                            }
                            Some(first)
                        }
                    }
                }
            };
            let (long, spec) = found.expect("found is Some here");
            match spec.has_arg {
                HasArg::No => {
                    if value.is_some() {
                        events.push(Event::Error(crate::msg!(
                            b"option '--",
                            long,
                            b"' doesn't allow an argument\n"
                        )));
                        return Parsed { events, operands };
                    }
                    events.push(Event::Opt(spec.id, None));
                }
                HasArg::Required => {
                    let value = match value {
                        Some(v) => v,
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => {
                            events.push(Event::Error(crate::msg!(
                                b"option '--",
                                long,
                                b"' requires an argument\n"
                            )));
                            return Parsed { events, operands };
                        }
                    };
                    events.push(Event::Opt(spec.id, Some(value)));
                }
            }
            continue;
        }
        // A cluster of short options.
        let mut j = 1;
        while j < arg.len() {
            let c = arg[j];
            j += 1;
            let Some(spec) = OPTIONS.iter().find(|o| o.short == c && c != b':' && c != 0) else {
                events.push(Event::Error(crate::msg!(
                    b"invalid option -- '",
                    [c],
                    b"'\n"
                )));
                return Parsed { events, operands };
            };
            match spec.has_arg {
                HasArg::No => events.push(Event::Opt(spec.id, None)),
                HasArg::Required => {
                    let value = if j < arg.len() {
                        arg[j..].to_vec()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        events.push(Event::Error(crate::msg!(
                            b"option requires an argument -- '",
                            [c],
                            b"'\n"
                        )));
                        return Parsed { events, operands };
                    };
                    events.push(Event::Opt(spec.id, Some(value)));
                    break;
                }
            }
        }
    }
    Parsed { events, operands }
}
