//! `dpstudy commbench`.

use crate::cli::args::CommbenchArgs;

/// `dpstudy commbench`: the sweep on the ranks of mpirun ([`crate::commbench`]).
pub fn commbench(args: &CommbenchArgs) -> anyhow::Result<()> {
    crate::commbench::run(&args.config())
}
