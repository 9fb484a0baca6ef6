//! `dpstudy docs`: the documents' generated regions ([`super::doc_regions`]) filled from the
//! committed results. The list of documents and of the regions dpstudy writes is here, in
//! one place.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::bench_summary::BenchRecord;
use super::doc_regions;
use crate::util::files::write_atomic;

/// The documents with generated regions, relative to the repository's root.
pub const DOCUMENTS: &[&str] = &["README.md", "artifact/README.md", "artifact/bench/README.md"];
/// The benchmark record of every kernel, the triad and the scaling comparison.
pub const BENCH_RECORD: &str = "artifact/bench/bench.json";
/// The benchmark record of the float and exact reductions' steps.
pub const REDUCE_RECORD: &str = "artifact/bench/reduce.json";

/// The content dpstudy writes into a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// The step beside the GEMM, every kernel: `bench-steps`.
    BenchSteps,
    /// The fastest kernel's full-batch step at each size, and the P = 2 speedups:
    /// `bench-summary`.
    BenchSummary,
    /// Memory bandwidth and the sequential / threads / MPI comparison: `bench-scaling`.
    BenchScaling,
    /// The exact reduction's step beside the float one's: `reduce-steps`.
    ReduceSteps,
    /// The paper run in a paragraph (command, revision, duration, runs, verdicts):
    /// `paper-run`.
    PaperRun,
    /// Each table of the paper, the command that makes it, its time and needs: `paper-map`.
    PaperMap,
    /// The steps of a measured fresh-machine `.ci/run`, from its log's excerpt: `ci-steps`.
    CiSteps,
}

impl Region {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "bench-steps" => Some(Self::BenchSteps),
            "bench-summary" => Some(Self::BenchSummary),
            "bench-scaling" => Some(Self::BenchScaling),
            "reduce-steps" => Some(Self::ReduceSteps),
            "paper-run" => Some(Self::PaperRun),
            "paper-map" => Some(Self::PaperMap),
            "ci-steps" => Some(Self::CiSteps),
            _ => None,
        }
    }

    /// The committed record the region shows.
    fn record(self) -> &'static str {
        match self {
            Self::BenchSteps | Self::BenchSummary | Self::BenchScaling => BENCH_RECORD,
            Self::ReduceSteps => REDUCE_RECORD,
            Self::PaperRun | Self::PaperMap => super::provenance::PAPER_RUN,
            Self::CiSteps => super::ci_steps::RECORD,
        }
    }
}

/// The committed records the regions are made from, each read once.
struct Sources {
    root: PathBuf,
    records: std::cell::RefCell<std::collections::BTreeMap<&'static str, Result<BenchRecord, String>>>,
}

impl Sources {
    fn new(root: &Path) -> Self {
        Self { root: root.to_path_buf(), records: Default::default() }
    }

    fn render(&self, region: Region) -> Result<String, String> {
        let run = super::provenance::PAPER_RUN;
        match region {
            Region::PaperRun => return super::paper_map::summary(&self.root, run).map_err(|e| format!("{e:#}")),
            Region::PaperMap => return super::paper_map::markdown(&self.root, run).map_err(|e| format!("{e:#}")),
            Region::CiSteps => {
                let path = self.root.join(super::ci_steps::RECORD);
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                return super::ci_steps::markdown(&text);
            }
            _ => {}
        }
        let mut records = self.records.borrow_mut();
        let record = records
            .entry(region.record())
            .or_insert_with(|| BenchRecord::read(&self.root.join(region.record())).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)?;
        Ok(match region {
            Region::BenchSteps => record.steps_markdown(),
            Region::BenchSummary => record.summary_markdown(),
            Region::BenchScaling => record.scaling_markdown(),
            Region::ReduceSteps => record.reduce_markdown(),
            Region::PaperRun | Region::PaperMap | Region::CiSteps => unreachable!("rendered above"),
        })
    }
}

/// A document whose regions differ from what the results make today.
#[derive(Debug)]
pub struct Stale {
    pub file: PathBuf,
    pub regions: Vec<String>,
}

/// Fills every region of every document under `root`; with `check`, writes nothing and
/// returns the documents that would change.
pub fn update(root: &Path, check: bool) -> anyhow::Result<Vec<Stale>> {
    let sources = Sources::new(root);
    let mut stale = vec![];
    for doc in DOCUMENTS {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let failure = std::cell::RefCell::new(None);
        let content = |name: &str| {
            let region = Region::parse(name)?;
            Some(sources.render(region).unwrap_or_else(|e| {
                failure.borrow_mut().get_or_insert(format!("{}: region '{name}': {e}", path.display()));
                String::new()
            }))
        };
        let (filled, _) = doc_regions::fill(&path, &text, &content)?;
        if let Some(message) = failure.into_inner() {
            anyhow::bail!(message);
        }
        if filled != text {
            stale.push((Stale { file: path.clone(), regions: changed_regions(&text, &filled) }, filled));
        }
    }
    // Written only once every document has been filled: a failure leaves none half-updated.
    if !check {
        for (doc, filled) in &stale {
            write_atomic(&doc.file, filled.as_bytes())?;
        }
    }
    Ok(stale.into_iter().map(|(doc, _)| doc).collect())
}

/// The names of the regions whose content differs between two texts of a document.
fn changed_regions(before: &str, after: &str) -> Vec<String> {
    let old = doc_regions::bodies(before);
    doc_regions::bodies(after).into_iter().filter(|region| !old.contains(region)).map(|(name, _)| name).collect()
}
