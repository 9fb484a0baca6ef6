//! `dpstudy paper`.

use std::path::Path;

use crate::paper as manuscript;

/// `dpstudy paper`: builds the paper's PDF from its sources and generated tables.
pub fn paper(paper_dir: &Path) -> anyhow::Result<()> {
    let pdf = manuscript::build(paper_dir)?;
    eprintln!("paper: {}", pdf.display());
    Ok(())
}
