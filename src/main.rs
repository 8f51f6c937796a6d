//! The `depmod` binary: parse, run, print what the library collected, exit.
#![forbid(unsafe_code)]

use depmod::cli::Diagnostics;
use depmod::report;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_else(|| "depmod".into());
    let rest: Vec<_> = argv.collect();
    let short = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_else(|| b"depmod".to_vec());
    let (outcome, text) = depmod::main_with_args(&rest, &String::from_utf8_lossy(&short));
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    if let Some(t) = text {
        let _ = stdout.write_all(t.as_bytes());
    }
    let _ = stdout.write_all(&outcome.stdout);
    let _ = stdout.flush();
    match outcome.diagnostics {
        Diagnostics::Text => {
            for d in &outcome.log.diags {
                // getopt's messages use argv[0] verbatim; depmod's use the short name.
                let line = match d.level {
                    None => depmod::msg!(argv0.as_bytes(), b": ", d.text),
                    Some(_) => d.render(&short),
                };
                let _ = stderr.write_all(&line);
            }
        }
        Diagnostics::Json => {
            for d in &outcome.log.diags {
                let _ = stderr.write_all(&report::json_line(d, &short));
            }
        }
        Diagnostics::Summary => {
            let _ = stderr.write_all(&report::summary(&outcome.log.diags, &short));
        }
    }
    // `exit` runs no destructors: the run's data (`outcome.retained`) is not freed piece by
    // piece, the kernel takes the whole address space back at once.
    std::process::exit(outcome.status);
}
