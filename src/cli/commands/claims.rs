//! `dpstudy claims`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::report::claims::{self, CheckRecord};

/// `dpstudy claims`: the appendix's table of claims, with a column of verdicts per
/// results directory in `expected`.
pub fn claims(path: Option<&Path>, expected: &[PathBuf]) -> anyhow::Result<()> {
    let claims = claims::load(path)?;
    let every = if expected.is_empty() { every_expected_run()? } else { vec![] };
    let expected = if expected.is_empty() { &every } else { expected };
    // A column per directory, named by its profile (and by the directory too where that is
    // not the profile's name: `full-short: baselines`).
    let records = expected
        .iter()
        .map(|dir| {
            let record = CheckRecord::read(dir).with_context(|| format!("--expected {}", dir.display()))?;
            let dir_name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let name = if dir_name == record.profile {
                record.profile.clone()
            } else {
                format!("{}: {dir_name}", record.profile)
            };
            Ok((name, record))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The time column is the quick profile's, measured table by table.
    let times = expected
        .iter()
        .zip(&records)
        .find(|(_, (_, r))| r.profile == "quick")
        .and_then(|(dir, _)| std::fs::read_to_string(dir.join("table-times.txt")).ok())
        .unwrap_or_default();
    print!("{}", claims::render::markdown_table(&claims, &records, &times));
    Ok(())
}

/// Every committed run with verdicts, the paper run's first, then by name.
fn every_expected_run() -> anyhow::Result<Vec<PathBuf>> {
    let base = Path::new(crate::report::provenance::EXPECTED_ROOT);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(base)
        .with_context(|| format!("cannot list {}", base.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("check.json").is_file())
        .collect();
    let paper = Path::new(crate::report::provenance::PAPER_RUN);
    dirs.sort_by_key(|d| (d.as_path() != paper, d.clone()));
    Ok(dirs)
}
