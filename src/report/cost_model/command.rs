//! `dpstudy model`'s input and output: the cells of several results directories in, the
//! tables and figure written out.

use std::path::{Path, PathBuf};

use super::Model;
use crate::report::aggregate::{CellStats, aggregate_dir};
use crate::report::figures::Chart;
use crate::report::table_format::Table;

/// `dpstudy model DIR... --out OUT`: the model of the cells of several results directories
/// (a cell id seen twice is taken from the first directory), its tables and figure written
/// into `OUT/tables` and `OUT/figures` (and into `paper_dir` too when given).
pub fn model_command(dirs: &[PathBuf], out: &Path, paper_dir: Option<&Path>) -> anyhow::Result<Model> {
    let mut cells: Vec<CellStats> = Vec::new();
    for dir in dirs {
        let agg = aggregate_dir(dir)?;
        for c in agg.cells {
            if !cells.iter().any(|k| k.cell == c.cell) {
                cells.push(c);
            }
        }
    }
    let refs: Vec<&CellStats> = cells.iter().collect();
    let model = Model::of(&refs);
    anyhow::ensure!(
        !model.compute.is_empty() || !model.comm.is_empty(),
        "{}: no sequential cells at two sizes and no MPI cells at two hidden sizes: nothing to fit (run T1, T3, T6 or T8)",
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
