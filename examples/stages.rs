//! What each stage of the pipeline costs on its own: every stage run several times in one
//! process on the same inputs (page cache, allocator and CPU caches warm), the fastest run
//! printed. The sum is a floor for a whole run, which also pays for process start, fresh
//! memory and cold caches. `BENCHMARKS.md` uses it to say what bounds the uncompressed figure.
//!
//! ```sh
//! cargo run --release --example stages -- ~/.cache/depmod-rs/trees/amd64/lib/modules/6.1.0-57-amd64
//! ```
//!
//! Arguments: the module directory, then optionally the number of runs per stage (default
//! 15) and of threads for the parallel stages (default: one per core).

use std::time::Instant;

/// The fastest of `runs` runs of `f` in milliseconds, and the last result.
fn fastest<R>(runs: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: stages MODULE_DIR [RUNS [THREADS]]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let jobs: Option<usize> = args.next().and_then(|s| s.parse().ok());
    // depmod works on absolute paths (it makes `-b` absolute); so must the stages, or the
    // outputs would keep whole paths where depmod writes paths relative to the directory.
    let dir = std::path::absolute(&dir)
        .expect("an absolute path")
        .into_os_string()
        .into_encoded_bytes();
    let quiet = || depmod::diag::Log::default();

    let config = depmod::config::Config::default();
    let (t, found) = fastest(runs, || {
        depmod::discover::discover(&dir, &config, &mut quiet())
            .expect("the module directory")
            .candidates
    });
    println!("discover  {t:7.2} ms  {} modules", found.len());

    let order = depmod::inputs::read_modules_order(&dir, &mut quiet()).expect("modules.order");
    let (t, modules) = fastest(runs, || {
        depmod::order::module_array(found.clone(), order.as_deref())
    });
    println!("order     {t:7.2} ms  (with a copy of the candidates)");

    let (t, _) = fastest(runs, || {
        use std::os::unix::ffi::OsStrExt;
        for m in &modules {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&m.path));
            let _ = std::hint::black_box(std::fs::File::open(path));
        }
    });
    println!("  (open and close every module, one thread: {t:.2} ms)");

    let (t, scanned) = fastest(runs, || depmod::scan::scan_all(&modules, jobs));
    println!("scan      {t:7.2} ms");

    let facts: Vec<Option<&depmod::scan::ElfFacts>> =
        scanned.iter().map(|s| s.as_ref().ok()).collect();
    let opts = depmod::link::LinkOptions::default();
    let (t, graph) = fastest(runs, || {
        depmod::link::link(&modules, &facts, &opts, &mut quiet(), &mut Vec::new())
            .expect("no dependency cycle")
    });
    println!("link      {t:7.2} ms");

    let builtin = depmod::inputs::read_builtin(&dir).expect("builtin files");
    let linked = depmod::render::Linked {
        modules: &modules,
        facts: &facts,
        graph: &graph,
        dirname: &dir,
        builtin: &builtin,
        warn: false,
    };
    let mut render = 0.0;
    let mut files = Vec::new();
    for (name, _, f) in depmod::render::OUTPUTS {
        let (t, bytes) = fastest(runs, || f(&linked, &mut quiet()).expect("renders"));
        render += t;
        println!("  {name:27} {t:6.2} ms  {} bytes", bytes.len());
        files.push((*name, bytes));
    }
    println!("render    {render:7.2} ms");

    let out = tempfile::tempdir().expect("a temporary directory");
    let outdir = std::os::unix::ffi::OsStrExt::as_bytes(out.path().as_os_str()).to_vec();
    let (t, _) = fastest(runs, || {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = [outdir.as_slice(), format!("/run-{n}").as_bytes()].concat();
        depmod::publish::publish(&dir, &files, None, &mut quiet()).expect("publishes")
    });
    println!("publish   {t:7.2} ms  (into {})", out.path().display());
}
