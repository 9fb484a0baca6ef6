//! `dpstudy provenance`.

use std::path::Path;

use super::Failed;
use crate::report::provenance;

/// `dpstudy provenance`: names every stale committed result, why, and the command that
/// remakes it; fails when there is one. The exceptions let stand are printed too.
pub fn provenance(root: &Path) -> anyhow::Result<()> {
    let findings = provenance::check(root)?;
    for (what, why) in &findings.excused {
        eprintln!("provenance: {what}: excepted: {why}");
    }
    for s in &findings.stale {
        eprintln!("provenance: STALE {}: {}\n    remake: {}", s.what, s.why, s.remake);
    }
    if !findings.stale.is_empty() {
        return Err(
            Failed(format!("{} stale result(s): remake them with the commands above", findings.stale.len())).into()
        );
    }
    eprintln!("provenance: every committed result describes today's code ({})", provenance::PAPER_RUN);
    Ok(())
}
