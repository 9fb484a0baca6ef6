//! `dpstudy paper`: builds `paper/paper.pdf` from `paper.tex` and the generated tables and
//! figures, with latexmk (Debian's TeX Live: artifact/docker/install-paper-deps.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::launch::find_on_path;

/// The generated inputs the paper cannot build without.
const GENERATED: [&str; 3] =
    ["tables/T1-time-vs-size.tex", "tables/setup-environment.tex", "figures/fig-T1-time-vs-size.png"];

/// Builds `dir/paper.pdf`; returns its path.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let tex = dir.join("paper.tex");
    anyhow::ensure!(tex.is_file(), "{} does not exist: --paper-dir must name the paper's directory", tex.display());
    for generated in GENERATED {
        let path = dir.join(generated);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: generate the tables and figures first (`dpstudy reproduce`, or `dpstudy report DIR \
             --paper-dir {}`)",
            path.display(),
            dir.display()
        );
    }
    let latexmk = find_on_path("latexmk").context(
        "latexmk is not on PATH: install it and TeX Live with artifact/docker/install-paper-deps.sh (Debian: \
         latexmk texlive-latex-recommended lmodern)",
    )?;
    let output = Command::new(latexmk)
        .args(["-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"])
        .current_dir(dir)
        .output()
        .context("cannot start latexmk")?;
    if !output.status.success() {
        let log = dir.join("paper.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let first_error = text.lines().find(|l| l.starts_with('!')).unwrap_or("(no LaTeX error line)");
        anyhow::bail!("latexmk failed ({}): {first_error}; see {}", output.status, log.display());
    }
    Ok(dir.join("paper.pdf"))
}
