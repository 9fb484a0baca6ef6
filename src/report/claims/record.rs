//! What `dpstudy check` writes: one [`Verdict`] per claim, with the figure measured and the
//! bound it was held to, gathered into the [`CheckRecord`] that `check.json` holds and
//! every consumer (`check`'s exit code, `check.txt`, `dpstudy claims`) reads.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stats::Estimate;

/// The file `check` writes into a results directory, beside the text it renders.
pub const CHECK_FILE: &str = "check.json";
/// The layout of [`CHECK_FILE`] this binary writes and reads.
pub const CHECK_FORMAT: u32 = 2;
/// Older layouts this binary still reads: format 1 had no intervals and no inconclusive
/// verdict.
const CHECK_FORMATS_READ: [u32; 2] = [1, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The interval of the figure holds the bound: the runs cannot tell a pass from a fail.
    Inconclusive,
    /// Could not be evaluated here for a stated reason (no GPU, table not run).
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::NotRun => "NOT RUN",
        }
    }
}

/// One claim's verdict with what was measured and what was expected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub id: String,
    pub claim: String,
    pub outcome: Outcome,
    /// What was measured, in words (the cells and figures behind the verdict).
    pub measured: String,
    /// The bound, in words; empty when the claim was not evaluated.
    pub expected: String,
    /// The figure held to the bound (the worst case over the claim's cells: lowest R²,
    /// efficiency or accuracy, largest ratio or difference); `None` for claims that are
    /// trends rather than figures, and for claims not evaluated.
    pub value: Option<f64>,
    /// The figure's interval, for a timing claim: the median over rounds of the worst
    /// figure with its confidence interval (the level it reached, the rounds behind it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Estimate>,
}

/// What `dpstudy check` found in a results directory: `check.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub format: u32,
    /// The profile of the run checked.
    pub profile: String,
    /// Whether the run finished; the claims of an unfinished one are checked on the cells
    /// done so far.
    pub complete: bool,
    pub verdicts: Vec<Verdict>,
}

impl CheckRecord {
    /// Verdicts with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.verdicts.iter().filter(|v| v.outcome == outcome).count()
    }

    /// The verdict of claim `id`, if it was checked.
    pub fn verdict(&self, id: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.id == id)
    }

    /// Reads `dir/check.json`, naming the file at fault.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CHECK_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (run `dpstudy check {}`)", path.display(), dir.display()))?;
        let record: Self =
            serde_json::from_str(&text).with_context(|| format!("{}: not a check record", path.display()))?;
        anyhow::ensure!(
            CHECK_FORMATS_READ.contains(&record.format),
            "{}: check format {}, this dpstudy reads formats {CHECK_FORMATS_READ:?}",
            path.display(),
            record.format
        );
        Ok(record)
    }

    /// The record as the JSON `check.json` holds.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
