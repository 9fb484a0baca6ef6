//! `dpstudy compare`.

use anyhow::Context;

use super::Failed;
use crate::cli::args::CompareArgs;
use crate::report;

/// `dpstudy compare`: a run beside the expected results; fails if a figure is outside its
/// tolerance.
pub fn compare(args: &CompareArgs) -> anyhow::Result<()> {
    let expected = report::expected_dir(&args.run, args.expected.as_deref())?;
    let comparison = report::compare::compare(&args.run, &expected)
        .with_context(|| format!("comparing {} with {}", args.run.display(), expected.display()))?;
    print!("{}", report::compare::render(&comparison));
    let outside = comparison.outside();
    if outside > 0 {
        return Err(Failed(format!("{outside} figure(s) outside their tolerance (lines marked OUTSIDE)")).into());
    }
    Ok(())
}
