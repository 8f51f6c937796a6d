//! Diagnostics: kmod's message levels and the collected messages of one run.
//!
//! The library never prints: it records each message with its level, and the binary writes
//! them to stderr as `<prog>: <LEVEL>: <text>` (or verbatim for getopt's own messages).

use std::fmt;

/// A message level, from most to least severe, as kmod's logging uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Ends the run with exit status 1.
    Fatal,
    /// Shown by default.
    Error,
    /// Shown by default.
    Warning,
    /// Shown with `-v`.
    Notice,
    /// Shown with `-vv`.
    Info,
    /// Shown with `-vvv`.
    Debug,
}

impl Level {
    /// The least severe level shown with `verbose` times `-v`.
    pub fn of_verbosity(verbose: u32) -> Level {
        match verbose {
            0 => Level::Warning,
            1 => Level::Notice,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The word kmod prints for this level.
    pub fn word(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// One message. `level == None` marks a line printed verbatim (getopt's messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// The level, or `None` for a verbatim line.
    pub level: Option<Level>,
    /// The message text as bytes, including its trailing newline.
    pub text: Vec<u8>,
}

impl Diag {
    /// Render the message as it appears on stderr, with `prog` as the program name.
    pub fn render(&self, prog: &[u8]) -> Vec<u8> {
        match self.level {
            None => self.text.clone(),
            Some(level) => {
                let mut out = Vec::with_capacity(prog.len() + self.text.len() + 12);
                out.extend_from_slice(prog);
                out.extend_from_slice(b": ");
                out.extend_from_slice(level.word().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(&self.text);
                out
            }
        }
    }
}

/// The messages of one run, filtered by the verbosity threshold in force when each is logged.
#[derive(Debug)]
pub struct Log {
    threshold: Level,
    /// Messages that passed the threshold, in the order they were logged.
    pub diags: Vec<Diag>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            threshold: Level::Warning,
            diags: Vec::new(),
        }
    }
}

impl Log {
    /// Set the threshold: messages less severe than `level` are dropped from now on.
    pub fn set_threshold(&mut self, level: Level) {
        self.threshold = level;
    }

    /// Whether a message of `level` would be kept.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.threshold
    }

    /// An empty log with this one's threshold, for work done apart (on another thread)
    /// whose messages are appended later with [`Log::append`].
    pub fn fork(&self) -> Log {
        Log {
            threshold: self.threshold,
            diags: Vec::new(),
        }
    }

    /// Append the messages of a forked log, after this one's.
    pub fn append(&mut self, other: Log) {
        self.diags.extend(other.diags);
    }

    /// Record a message (its text must carry its own trailing newline).
    pub fn log(&mut self, level: Level, text: impl Into<Vec<u8>>) {
        if self.enabled(level) {
            self.diags.push(Diag {
                level: Some(level),
                text: text.into(),
            });
        }
    }

    /// Record an ERROR message.
    pub fn error(&mut self, text: impl Into<Vec<u8>>) {
        self.log(Level::Error, text);
    }

    /// Record a WARNING message.
    pub fn warning(&mut self, text: impl Into<Vec<u8>>) {
        self.log(Level::Warning, text);
    }

    /// Whether a warning or an error (or worse) was recorded (`--strict`).
    pub fn warned(&self) -> bool {
        self.diags
            .iter()
            .any(|d| d.level.is_some_and(|l| l <= Level::Warning))
    }

    /// Record a verbatim line (getopt's messages).
    pub fn raw(&mut self, text: impl Into<Vec<u8>>) {
        self.diags.push(Diag {
            level: None,
            text: text.into(),
        });
    }
}

/// A fatal condition: the run stops, the message is printed at FATAL (or ERROR) level, exit 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    /// The level the message is printed at (kmod ends some runs with an ERROR line).
    pub level: Option<Level>,
    /// The message, with its trailing newline.
    pub text: Vec<u8>,
}

impl Fatal {
    /// A `FATAL:` message.
    pub fn new(text: impl Into<Vec<u8>>) -> Self {
        Fatal {
            level: Some(Level::Fatal),
            text: text.into(),
        }
    }
    /// An `ERROR:` message that ends the run.
    pub fn error(text: impl Into<Vec<u8>>) -> Self {
        Fatal {
            level: Some(Level::Error),
            text: text.into(),
        }
    }
    /// The run ends with no further message (it was already logged).
    pub fn silent() -> Self {
        Fatal {
            level: None,
            text: Vec::new(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(&self.text))
    }
}

/// The text of an OS error number, as C's `strerror` gives it.
pub fn strerror(errno: i32) -> String {
    let msg = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; strip it.
    match msg.rfind(" (os error ") {
        Some(pos) => msg[..pos].to_string(),
        None => msg,
    }
}

/// The errno of an I/O error (EIO when it has none).
pub fn errno_of(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// Concatenate byte pieces into one message.
#[macro_export]
macro_rules! msg {
    ($($part:expr),* $(,)?) => {{
        let mut v: Vec<u8> = Vec::new();
        $crate::put!(v, $($part),*);
        v
    }};
}

/// Append byte pieces to a `Vec<u8>`, reserving their total length once.
#[macro_export]
macro_rules! put {
    ($out:expr, $($part:expr),* $(,)?) => {{
        // Temporaries in a match scrutinee live until the end of the match.
        match [$(AsRef::<[u8]>::as_ref(&$part)),*] {
            parts => {
                let out: &mut Vec<u8> = &mut $out;
                out.reserve(parts.iter().map(|p| p.len()).sum());
                for p in parts {
                    out.extend_from_slice(p);
                }
            }
        }
    }};
}

/// Phase timings, logged at DEBUG level (`-vvv`).
pub struct Clock(std::time::Instant, std::cell::Cell<std::time::Instant>);

impl Clock {
    /// Start the clock.
    pub fn start() -> Self {
        let now = std::time::Instant::now();
        Clock(now, std::cell::Cell::new(now))
    }

    /// Log the time since the previous lap (or the start) under `phase`.
    pub fn lap(&self, log: &mut Log, phase: &str) {
        if log.enabled(Level::Debug) {
            let now = std::time::Instant::now();
            let lap = now - self.1.replace(now);
            let total = now - self.0;
            log.log(
                Level::Debug,
                format!(
                    "timing: {phase} {:.1} ms (total {:.1} ms)\n",
                    lap.as_secs_f64() * 1e3,
                    total.as_secs_f64() * 1e3
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_wording() {
        assert_eq!(strerror(libc::ENOENT), "No such file or directory");
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
        assert_eq!(strerror(libc::ENOEXEC), "Exec format error");
    }

    #[test]
    fn threshold_filters() {
        let mut log = Log::default();
        log.log(Level::Notice, "hidden\n");
        log.warning("shown\n");
        assert_eq!(log.diags.len(), 1);
        assert_eq!(log.diags[0].render(b"depmod"), b"depmod: WARNING: shown\n");
    }
}
