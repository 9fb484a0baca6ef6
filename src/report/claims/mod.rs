//! `artifact/claims.toml` and `dpstudy check`: the study's findings as claims with
//! tolerances. This module is the claim schema and its parser; [`evaluate`] checks claims
//! against a results directory's aggregate, each kind by its own rule in [`kinds`], into a
//! [`CheckRecord`] ([`record`]: what `check.json` holds), and [`render`] turns records into
//! the text of `check.txt` and the appendix's Markdown table.

pub mod evaluate;
mod judge;
pub mod kinds;
pub mod record;
pub mod render;

use std::path::Path;

use serde::Deserialize;

use crate::experiment::manifest::PerProfile;
use crate::train::{Mode, SyncKind};
use crate::util::toml_file::{self, TomlFileError, line_of};

pub use evaluate::check;
pub use record::{CheckRecord, Outcome, Verdict};

pub const BUILTIN: &str = include_str!("../../../artifact/claims.toml");
pub const DEFAULT_PATH: &str = "artifact/claims.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    GrowsWithN,
    LinearInN,
    Speedup,
    WeakEfficiency,
    SameFinalCost,
    TestAccuracy,
    SyncRatio,
    GpuFaster,
    GpuCrossover,
    /// MPI across emulated hosts: the communication share is larger on the slowest link than
    /// on the fastest, for every H, sync and P.
    CommGrowsAsLinkSlows,
    /// On the slowest link, allreduce's efficiency over gather-broadcast's, for every H and
    /// P, is at least `min`.
    GatherBcastLosesMore,
    /// The cost model ([`crate::report::cost_model`]), fitted to the run's commbench sweeps
    /// and sequential cells, predicts every MPI cell it covers that has a measured interval
    /// (two runs or more) out of sample within a relative `max` of that interval.
    ModelPredicts,
    /// At the largest N both have with one process, the `baseline`'s best time over the
    /// `mode`'s is at least `min`: dpstudy is at least `min` times faster.
    FasterThanBaseline,
    /// At the largest N and the largest P both have, the `mode`'s parallel efficiency over
    /// the `baseline`'s is at least `min`, each against its own one-process time.
    ScalesBetterThanBaseline,
    /// Every ensemble of P > 1 members trained on all the rows (not bagging): the averaged
    /// prediction's test accuracy minus the best member's is at least `min`.
    EnsembleBeatsBestMember,
    /// Every cell of the claim's reduction (`reduce`, default exact) ends with the
    /// sequential cell's weights, bit for bit (the same SHA-256), for the same work.
    IdenticalWeights,
    /// On the slowest link, data against model parallelism: in every pair, the one that
    /// moves fewer numbers per step is faster by at least `min`.
    FewerNumbersWins,
}

/// Which of a claim's bounds its kind is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKey {
    /// `min`: the figure must be at least the bound.
    Min,
    /// `max`: the figure must be at most the bound.
    Max,
}

impl BoundKey {
    fn name(self) -> &'static str {
        match self {
            BoundKey::Min => "min",
            BoundKey::Max => "max",
        }
    }
}

impl Kind {
    /// The bound the claims file must give a claim of this kind; `None` for a kind whose
    /// bound is fixed (a trend: above 1, below 1, stays ahead).
    pub fn bound_key(self) -> Option<BoundKey> {
        match self {
            Kind::LinearInN | Kind::Speedup | Kind::WeakEfficiency | Kind::TestAccuracy => Some(BoundKey::Min),
            Kind::GatherBcastLosesMore | Kind::FasterThanBaseline | Kind::ScalesBetterThanBaseline => {
                Some(BoundKey::Min)
            }
            Kind::EnsembleBeatsBestMember | Kind::FewerNumbersWins => Some(BoundKey::Min),
            Kind::SameFinalCost | Kind::SyncRatio | Kind::ModelPredicts => Some(BoundKey::Max),
            Kind::GrowsWithN | Kind::GpuFaster | Kind::GpuCrossover | Kind::CommGrowsAsLinkSlows => None,
            Kind::IdenticalWeights => None,
        }
    }
}

/// One claim as the file states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    pub claim: String,
    pub kind: Kind,
    pub table: String,
    /// Only the cells of this mode (and sync) count.
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub sync: Option<SyncKind>,
    /// The baseline a comparison claim sets `mode` beside.
    #[serde(default)]
    pub baseline: Option<Mode>,
    /// Only the cells of this reduction count (kind identical-weights: default exact).
    #[serde(default)]
    pub reduce: Option<crate::train::Reduction>,
    #[serde(default)]
    pub min: Option<PerProfile<f64>>,
    #[serde(default)]
    pub max: Option<PerProfile<f64>>,
}

impl Claim {
    /// The bound its kind is held to, as given for `profile`: `None` when the kind takes
    /// none or the file gives none for this profile.
    pub fn bound(&self, profile: &str) -> Option<f64> {
        let given = match self.kind.bound_key()? {
            BoundKey::Min => &self.min,
            BoundKey::Max => &self.max,
        };
        given.as_ref().and_then(|v| v.get(profile))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    version: u32,
    claims: Vec<toml::Spanned<Claim>>,
}

/// Reads the claims: `path`, else [`DEFAULT_PATH`] if it exists, else the built-in copy.
pub fn load(path: Option<&Path>) -> Result<Vec<Claim>, TomlFileError> {
    let (text, path) = toml_file::text_of(path, DEFAULT_PATH, BUILTIN)?;
    parse(&text, &path)
}

pub fn parse(text: &str, path: &Path) -> Result<Vec<Claim>, TomlFileError> {
    let file: ClaimsFile = toml_file::parse(text, path)?;
    if file.version != 1 {
        return Err(TomlFileError::Parse {
            path: path.into(),
            message: format!("version {} (this dpstudy reads version 1)", file.version),
        });
    }
    let mut claims: Vec<Claim> = Vec::new();
    for spanned in file.claims {
        let line = line_of(text, spanned.span().start);
        let claim = spanned.into_inner();
        let invalid = |message: String| TomlFileError::Invalid { path: path.into(), line, message };
        if claims.iter().any(|c| c.id == claim.id) {
            return Err(invalid(format!("claim `{}` is declared twice", claim.id)));
        }
        let given = |key| match key {
            BoundKey::Min => claim.min.is_some(),
            BoundKey::Max => claim.max.is_some(),
        };
        if let Some(key) = claim.kind.bound_key().filter(|k| !given(*k)) {
            return Err(invalid(format!("claim `{}` needs `{}`", claim.id, key.name())));
        }
        if matches!(claim.kind, Kind::Speedup | Kind::WeakEfficiency) && claim.mode.is_none() {
            return Err(invalid(format!("claim `{}` needs `mode`", claim.id)));
        }
        if matches!(claim.kind, Kind::FasterThanBaseline | Kind::ScalesBetterThanBaseline) {
            match (claim.mode, claim.baseline) {
                (Some(m), Some(b)) if !m.is_baseline() && b.is_baseline() => {}
                _ => {
                    return Err(invalid(format!(
                        "claim `{}` needs `mode` (one of dpstudy's) and `baseline` (original, original-fixed, torch \
                         or torch-ddp)",
                        claim.id
                    )));
                }
            }
        }
        claims.push(claim);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_claims_parse() {
        let claims = parse(BUILTIN, Path::new("claims.toml")).unwrap();
        assert!(claims.len() >= 7);
        assert!(claims.iter().any(|c| c.kind == Kind::GpuFaster));
    }

    #[test]
    fn malformed_claims_name_the_line() {
        let e = parse(
            "version = 1\n[[claims]]\nid = \"C1\"\nclaim = \"x\"\nkind = \"faster\"\ntable = \"T1\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.toml") && e.contains("line 5") && e.contains("faster"), "{e}");
        let e = parse("version = 1\n\n[[claims]]\nid = \"C1\"\nclaim = \"x\"\nkind = \"speedup\"\ntable = \"T1\"\nmode = \"mpi\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml, line 3") && e.contains("needs `min`"), "{e}");
    }
}
