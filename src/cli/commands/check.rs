//! `dpstudy check`.

use std::path::Path;

use super::Failed;
use crate::report::{self, claims::Outcome};

/// `dpstudy check`: prints the verdicts; fails if a claim fails or the run is incomplete.
pub fn check(dir: &Path, claims: Option<&Path>) -> anyhow::Result<()> {
    let (record, text) = report::check(dir, claims)?;
    print!("{text}");
    let failed = record.count(Outcome::Fail);
    if failed > 0 {
        return Err(Failed(format!("{failed} claim(s) failed (details in {})", dir.join("check.txt").display())).into());
    }
    if !record.complete {
        return Err(Failed(format!("{} is an incomplete run", dir.display())).into());
    }
    Ok(())
}
