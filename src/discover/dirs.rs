//! Where the modules are read and the outputs written, from the arguments and the version.

use crate::cli;
use crate::diag::Fatal;
use crate::msg;

/// The module directory used when `-m` is not given (a build-time setting: `DEPMOD_MODULE_DIR`).
pub const DEFAULT_MODULE_DIR: &str = match option_env!("DEPMOD_MODULE_DIR") {
    Some(d) => d,
    None => "/lib/modules",
};

/// One more than the number of modules kmod accepts (its array indexes are 16-bit).
pub const MAX_MODULES: usize = 65535;

/// The kernel release (`uname -r`).
pub fn uname_release() -> Vec<u8> {
    rustix::system::uname().release().to_bytes().to_vec()
}

/// The kernel version: the one given (checked as kmod checks it), else `uname -r`.
pub fn version(args: &cli::Args) -> Result<Vec<u8>, Fatal> {
    match &args.version {
        Some(v) if !cli::version_is_valid(v) => {
            Err(Fatal::error(msg!(b"Bad version passed ", v, b"\n")))
        }
        Some(v) => Ok(v.clone()),
        None => Ok(uname_release()),
    }
}

/// Input and output directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// `<root>/<moduledir>/<version>`: where modules and the input files are read.
    pub dirname: Vec<u8>,
    /// Where the outputs are written.
    pub outdirname: Vec<u8>,
}

/// The module directory below the root (`-m`, or the default), without leading slashes.
fn moduledir(args: &cli::Args) -> &[u8] {
    let moduledir = args
        .moduledir
        .as_deref()
        .unwrap_or(DEFAULT_MODULE_DIR.as_bytes());
    let first = moduledir
        .iter()
        .position(|&b| b != b'/')
        .unwrap_or(moduledir.len());
    &moduledir[first..]
}

/// `<root>/<moduledir>`: where the kernels' directories are.
pub fn module_root(args: &cli::Args) -> Vec<u8> {
    msg!(
        args.basedir.as_deref().unwrap_or(b""),
        b"/",
        moduledir(args)
    )
}

/// Compute the directories from the arguments and the version.
pub fn dirs(args: &cli::Args, version: &[u8]) -> Result<Dirs, Fatal> {
    let moduledir = moduledir(args);
    let root = args.basedir.as_deref().unwrap_or(b"");
    let dirname = msg!(root, b"/", moduledir, b"/", version);
    let outroot = args.outdir.as_deref().unwrap_or(root);
    let outdirname = msg!(outroot, b"/", moduledir, b"/", version);
    for (base, d) in [(root, &dirname), (outroot, &outdirname)] {
        if d.len() >= 4096 {
            return Err(Fatal::error(msg!(
                b"Bad directory ",
                base,
                b"/",
                moduledir,
                b"/",
                version,
                b": path too long\n"
            )));
        }
    }
    Ok(Dirs {
        dirname,
        outdirname,
    })
}

impl Dirs {
    /// How the scan cache is used, if at all. It is on by default where depmod indexes the
    /// running system (no other root, no other output directory), so that an image or cross
    /// build stays reproducible; `--cache`/`--no-cache` (or `DEPMOD_CACHE`) decide otherwise.
    /// Files mode (`whole_tree` false) sees a few modules only: it reads the cache but does
    /// not rewrite it (that would drop every other module's record).
    pub fn cache_use(
        &self,
        args: &cli::Args,
        whole_tree: bool,
    ) -> Option<crate::scan::CacheUse<'_>> {
        let running_system = args
            .basedir
            .as_deref()
            .is_none_or(|b| b.iter().all(|&c| c == b'/'))
            && args.outdir.is_none();
        args.cache
            .unwrap_or(running_system)
            .then(|| crate::scan::CacheUse {
                dirname: &self.dirname,
                path: msg!(self.outdirname, b"/", crate::scan::cache::FILE_NAME),
                // `-n`, `--check` and the queries write nothing, the cache included.
                write: whole_tree
                    && !args.dry_run
                    && !args.check
                    && !args.graph
                    && args.explain.is_empty(),
            })
    }

    /// After a run that replaced nothing: modules.dep kept its time, and `-A` compares the
    /// modules' times with it. When a module is newer (touched, or rewritten with the same
    /// content), modules.dep gets the current time, so that a later `-A` sees the tree as
    /// current.
    pub fn keep_current(&self) {
        if self.outdirname == self.dirname
            && !super::quick::up_to_date(&self.dirname, &mut crate::diag::Log::default())
        {
            crate::publish::touch(&msg!(self.dirname, b"/modules.dep"));
        }
    }
}
