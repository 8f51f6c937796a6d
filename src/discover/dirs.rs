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
