//! `dpstudy merge`.

use crate::cli::args::MergeArgs;
use crate::experiment;

/// `dpstudy merge`: several machines' results directories into one.
pub fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    let merged = experiment::merge::merge(&args.config())?;
    for m in &merged.machines.machines {
        let count = merged.machines.cells.values().filter(|l| **l == m.label).count();
        eprintln!("merge: {count} cells from {} ({})", m.label, m.source.display());
    }
    let out = args.out.display();
    eprintln!(
        "merge: {} cells, {} not run on any machine, in {out}; next: dpstudy report {out} and dpstudy check {out}",
        merged.cells_total, merged.cells_not_run
    );
    Ok(())
}
