//! `dpstudy model`'s input and output: the cells of several results directories in, the
//! tables and figure written out.

use std::path::{Path, PathBuf};

use super::Model;
use crate::commbench::CommBenchRecord;
use crate::report::aggregate::{CellStats, aggregate_dir};
use crate::report::figures::Chart;
use crate::report::table_format::Table;

/// `dpstudy model DIR... --out OUT`: the model of the cells of several results directories
/// and their commbench sweeps (a cell id, or a sweep of one transport and P, seen twice is
/// taken from the first directory), its tables and figure written
/// into `OUT/tables` and `OUT/figures` (and into `paper_dir` too when given).
pub fn model_command(dirs: &[PathBuf], out: &Path, paper_dir: Option<&Path>) -> anyhow::Result<Model> {
    let mut cells: Vec<CellStats> = Vec::new();
    let mut sweeps: Vec<CommBenchRecord> = Vec::new();
    for dir in dirs {
        let agg = aggregate_dir(dir)?;
        for c in agg.cells {
            if !cells.iter().any(|k| k.cell == c.cell) {
                cells.push(c);
            }
        }
        for s in agg.commbench {
            if !sweeps.iter().any(|k| (k.transport, k.ranks) == (s.transport, s.ranks)) {
                sweeps.push(s);
            }
        }
    }
    let refs: Vec<&CellStats> = cells.iter().collect();
    let model = Model::of(&refs, &sweeps);
    anyhow::ensure!(
        !model.compute.is_empty() || !model.comm.is_empty(),
        "{}: no sequential cells and no commbench sweep: nothing to fit (a run of T1, T2 or T3 has both)",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut targets = vec![out.to_path_buf()];
    targets.extend(paper_dir.map(Path::to_path_buf));
    let (tables, charts): (Vec<Table>, Vec<Chart>) = (model.tables(), model.chart().into_iter().collect());
    for target in &targets {
        crate::report::write_tables_and_figures(target, &tables, &charts)?;
    }
    Ok(model)
}
