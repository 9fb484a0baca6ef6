//! `dpstudy docs`.

use std::path::Path;

use super::Failed;
use crate::report::docs;

/// `dpstudy docs [--check]`: fills the documents' generated regions from the committed
/// results, or (with `check`) fails naming each stale one and the command that mends it.
pub fn docs(root: &Path, check: bool) -> anyhow::Result<()> {
    let stale = docs::update(root, check)?;
    for s in &stale {
        let verb = if check { "stale" } else { "rewritten" };
        eprintln!("docs: {} {verb}: {}", s.file.display(), s.regions.join(", "));
    }
    if check && !stale.is_empty() {
        return Err(Failed(format!(
            "{} document(s) differ from the committed results: run `dpstudy docs` and commit",
            stale.len()
        ))
        .into());
    }
    if stale.is_empty() {
        eprintln!("docs: every generated region is current");
    }
    Ok(())
}
