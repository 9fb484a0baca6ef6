//! `dpstudy report`.

use crate::cli::args::ReportArgs;
use crate::report::{self as reporting, Written};

/// `dpstudy report`: redraws a results directory's tables and figures (and its page).
pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let config = args.report.config();
    config.validate()?;
    let written = reporting::report(&args.dir, &config)?;
    print_written(&written);
    if args.html {
        let page = reporting::html_report(&args.dir, config.expected.as_deref())?;
        eprintln!("report: {}", page.display());
    }
    Ok(())
}

/// One line on what a report wrote, and whether its run was complete.
pub(super) fn print_written(w: &Written) {
    let dirs: Vec<String> = w.dirs.iter().map(|d| d.display().to_string()).collect();
    eprintln!(
        "report: {} tables and {} figures (SVG and PNG) written to {}{}",
        w.tables.len(),
        w.figures.len(),
        dirs.join(" and "),
        if w.complete { "" } else { " (INCOMPLETE RUN)" }
    );
}
