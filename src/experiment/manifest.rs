//! `artifact/experiments.toml`: the study's profiles and tables, declared as data.
//!
//! Parsing keeps the span of every table so that a value that parses but makes no sense
//! (an unknown profile, a table without sizes) is reported with its line, like a syntax
//! error is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::table_rules::check_table;
use crate::data::Pool;
use crate::real::Dtype;
use crate::train::{Mode, SyncKind};
use crate::util::toml_file::{self, TomlFileError, line_of};

/// The manifest this binary was built with: used when no file is given and the default
/// path does not exist (for example when the binary runs outside the repository).
pub const BUILTIN: &str = include_str!("../../artifact/experiments.toml");
/// Where `reproduce` looks for the manifest by default.
pub const DEFAULT_PATH: &str = "artifact/experiments.toml";

/// A manifest that cannot be used (naming the file and the line), or a profile or table it
/// does not declare.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    File(#[from] TomlFileError),
    #[error("{path}: unknown profile `{name}` (the file defines: {known})")]
    UnknownProfile { path: PathBuf, name: String, known: String },
    #[error("unknown table `{id}` (known: {known})")]
    UnknownTable { id: String, known: String },
}

/// A value given once for every profile, or per profile by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerProfile<T> {
    All(T),
    Each(BTreeMap<String, T>),
}

impl<T: Clone> PerProfile<T> {
    /// The value for `profile`, `None` if this value names profiles and not that one.
    pub fn get(&self, profile: &str) -> Option<T> {
        match self {
            PerProfile::All(v) => Some(v.clone()),
            PerProfile::Each(map) => map.get(profile).cloned(),
        }
    }

    pub(super) fn profile_names(&self) -> Vec<&str> {
        match self {
            PerProfile::All(_) => vec![],
            PerProfile::Each(map) => map.keys().map(String::as_str).collect(),
        }
    }
}

/// The settings every cell of a profile shares unless its table says otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: String,
    /// The MNIST images the profile reads ([`Pool`]); every profile that runs on MNIST
    /// names one (older files, read back from a results directory, may not).
    #[serde(default)]
    pub pool: Pool,
    /// Images the profile needs in the pool (sizes and test images together).
    pub rows: usize,
    pub epochs: usize,
    pub iters: usize,
    /// Timed runs of each cell.
    pub reps: usize,
    /// The precision a cell's time must reach in the tables that allow more runs than
    /// `reps` (`max_reps`): the width of the 95% confidence interval of its median over
    /// the median. `reproduce` adds rounds until every such cell is within it or at its cap.
    #[serde(default)]
    pub precision: Option<f64>,
    /// Untimed runs of each cell before the timed ones.
    pub warmup: usize,
    pub dtype: Dtype,
    pub lr: f64,
    pub seed: u64,
    /// Held-out images of the tables that evaluate on a test set.
    pub test_samples: usize,
    /// The default of `--max-ranks`.
    pub max_ranks: usize,
}

/// Which P a table sweeps for MPI ranks and threads: `"max"`, `"doubling"`, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parallel {
    /// P = `--max-ranks` only.
    Max,
    /// P = 1, 2, 4, ... and `--max-ranks`.
    Doubling,
    /// Exactly these P, whatever `--max-ranks` and the cores are (a table that measures
    /// what P processes buy on fewer cores; its cells beyond the cores run oversubscribed,
    /// marked so).
    Fixed(Vec<usize>),
}

impl<'de> Deserialize<'de> for Parallel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            List(Vec<usize>),
        }
        match Raw::deserialize(d)? {
            Raw::Name(name) if name == "max" => Ok(Parallel::Max),
            Raw::Name(name) if name == "doubling" => Ok(Parallel::Doubling),
            Raw::List(ps) if !ps.is_empty() && !ps.contains(&0) => Ok(Parallel::Fixed(ps)),
            _ => Err(serde::de::Error::custom(
                "`parallel` must be \"max\", \"doubling\" or a list of P of at least 1, such as [1, 2, 4]",
            )),
        }
    }
}

impl Parallel {
    /// The values of P up to `max` (a fixed list: its values).
    pub fn values(&self, max: usize) -> Vec<usize> {
        match self {
            Parallel::Fixed(ps) => ps.clone(),
            Parallel::Max => vec![max],
            Parallel::Doubling => {
                let mut ps: Vec<usize> =
                    std::iter::successors(Some(1usize), |p| p.checked_mul(2)).take_while(|&p| p < max).collect();
                ps.push(max);
                ps
            }
        }
    }
}

/// What a table shows, which decides how it is drawn (its columns, its figures). A name the
/// file gives that is none of these is an error where the manifest is read, with its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableKind {
    /// Training time against N, per mode (the original's figure).
    TimeVsSize,
    /// Time per epoch and its spread.
    EpochTime,
    /// Speedup and efficiency over P at fixed N.
    StrongScaling,
    /// Time over P at fixed N per rank.
    WeakScaling,
    /// Final cost and accuracy of every mode beside the sequential one.
    Parity,
    /// Allreduce against the original's gather-and-broadcast.
    SyncPatterns,
    /// Where the GPU overtakes the CPU.
    GpuCrossover,
    /// MPI across emulated hosts, by the link between them.
    Network,
    /// Data parallelism against ensembles of independently trained members (meta-learners).
    Ensembles,
    /// The final cost and the trained weights' hash of every mode and P, under each
    /// reduction: which splits give the same bits.
    Determinism,
    /// Data parallelism against model parallelism (the hidden layer split over the ranks).
    ModelParallel,
}

/// How the members of a table's ensembles differ (see [`crate::ensemble`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnsembleKind {
    /// Every member on all the training rows, from its own initial weights (seed + rank).
    Seeds,
    /// Every member on its own bootstrap sample of the training rows, and its own seed.
    Bagging,
}

impl TableKind {
    /// The name the file uses, also in file names (`T1-time-vs-size.md`).
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::TimeVsSize => "time-vs-size",
            TableKind::EpochTime => "epoch-time",
            TableKind::StrongScaling => "strong-scaling",
            TableKind::WeakScaling => "weak-scaling",
            TableKind::Parity => "parity",
            TableKind::SyncPatterns => "sync-patterns",
            TableKind::GpuCrossover => "gpu-crossover",
            TableKind::Network => "network",
            TableKind::Ensembles => "ensembles",
            TableKind::Determinism => "determinism",
            TableKind::ModelParallel => "model-parallel",
        }
    }
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One table of the study as the file declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub id: String,
    /// The kind of table (the file's `name`).
    pub name: TableKind,
    pub title: String,
    pub modes: Vec<Mode>,
    /// Syncs of the MPI cells (default: allreduce).
    #[serde(default)]
    pub syncs: Option<Vec<SyncKind>>,
    /// The reductions each cell runs with (default: float; `exact` is for seq, threads,
    /// mpi and ensemble cells).
    #[serde(default)]
    pub reductions: Option<Vec<crate::train::Reduction>>,
    /// Where the MPI cells' ranks run: `shared-memory` (one host), or across emulated
    /// hosts, one per rank, over a link (`tcp`, `tcp-1gbit`, ...); a cell for each (default:
    /// shared memory only).
    #[serde(default)]
    pub links: Option<Vec<crate::cluster::Transport>>,
    pub parallel: Parallel,
    /// Training sizes (strong sweeps).
    #[serde(default)]
    pub n: Option<PerProfile<Vec<usize>>>,
    /// Training rows per rank (weak scaling): N = n_per_rank x P.
    #[serde(default)]
    pub n_per_rank: Option<PerProfile<usize>>,
    /// The sizes at which the table's baseline modes (original, torch, ...) run, a subset
    /// of `n` (default: every size): a Python process costs seconds to start, so the quick
    /// profile runs them at one size.
    #[serde(default)]
    pub baseline_n: Option<PerProfile<Vec<usize>>>,
    pub hidden: PerProfile<Vec<usize>>,
    /// Evaluate on the profile's held-out images.
    #[serde(default)]
    pub test: bool,
    /// Only meaningful on real MNIST.
    #[serde(default)]
    pub real_data: bool,
    /// Only meaningful with a GPU.
    #[serde(default)]
    pub needs_gpu: bool,
    #[serde(default)]
    pub reps: Option<PerProfile<usize>>,
    /// The most timed runs of a cell when the profile's `precision` asks for more than
    /// `reps` (default: `reps`, no rounds added).
    #[serde(default)]
    pub max_reps: Option<PerProfile<usize>>,
    #[serde(default)]
    pub warmup: Option<PerProfile<usize>>,
    #[serde(default)]
    pub epochs: Option<PerProfile<usize>>,
    #[serde(default)]
    pub iters: Option<PerProfile<usize>>,
    /// Ensemble cells: the validation rows after the training rows (the stacked
    /// meta-learner's), a number per profile. Required when `modes` lists `ensemble`.
    #[serde(default)]
    pub validation: Option<PerProfile<usize>>,
    /// Ensemble cells: one per kind of member recipe (default: seeds).
    #[serde(default)]
    pub ensembles: Option<Vec<EnsembleKind>>,
    /// MPI cells with P > 1 also run with P times the iterations per epoch: the data-parallel
    /// model given the compute of a P-member ensemble.
    #[serde(default)]
    pub equal_budget: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    version: u32,
    profiles: BTreeMap<String, Profile>,
    tables: Vec<toml::Spanned<TableSpec>>,
}

/// The manifest format this binary reads.
pub const VERSION: u32 = 1;

/// A parsed and checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it came from (`<built-in>` for [`BUILTIN`]).
    pub path: PathBuf,
    /// The file's text, kept so a run can record exactly what it ran.
    pub text: String,
    pub profiles: BTreeMap<String, Profile>,
    pub tables: Vec<TableSpec>,
}

impl Manifest {
    /// Reads `path`; without one, [`DEFAULT_PATH`] if it exists, else [`BUILTIN`].
    pub fn load(path: Option<&Path>) -> Result<Self, ManifestError> {
        let (text, path) = toml_file::text_of(path, DEFAULT_PATH, BUILTIN)?;
        Self::parse(&text, &path)
    }

    /// Parses and checks `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let file: ManifestFile = toml_file::parse(text, path)?;
        let invalid = |span: std::ops::Range<usize>, message: String| TomlFileError::Invalid {
            path: path.into(),
            line: line_of(text, span.start),
            message,
        };
        let whole = |message: String| TomlFileError::Parse { path: path.into(), message };
        if file.version != VERSION {
            return Err(whole(format!("version {} (this dpstudy reads version {VERSION})", file.version)).into());
        }
        if file.profiles.is_empty() {
            return Err(whole("no [profiles.*] defined".into()).into());
        }
        for (name, p) in &file.profiles {
            let zero = [("rows", p.rows), ("epochs", p.epochs), ("iters", p.iters), ("reps", p.reps)]
                .into_iter()
                .chain([("max_ranks", p.max_ranks)])
                .find(|(_, v)| *v == 0);
            if let Some((field, _)) = zero {
                return Err(whole(format!("profile `{name}`: {field} must be at least 1")).into());
            }
            if let Some(precision) = p.precision.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(whole(format!(
                    "profile `{name}`: precision {precision} must be a positive share of the median (0.1: 10%)"
                ))
                .into());
            }
        }
        let mut tables = Vec::new();
        for spanned in file.tables {
            let span = spanned.span();
            let table = spanned.into_inner();
            check_table(&table, &file.profiles, &tables).map_err(|e| invalid(span, e.to_string()))?;
            tables.push(table);
        }
        Ok(Self { path: path.into(), text: text.to_string(), profiles: file.profiles, tables })
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, ManifestError> {
        self.profiles.get(name).ok_or_else(|| ManifestError::UnknownProfile {
            path: self.path.clone(),
            name: name.into(),
            known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The tables with the given ids, in manifest order (all when `ids` is empty).
    pub fn select(&self, ids: &[String]) -> Result<Vec<&TableSpec>, ManifestError> {
        for id in ids {
            if !self.tables.iter().any(|t| t.id.eq_ignore_ascii_case(id)) {
                return Err(ManifestError::UnknownTable {
                    id: id.clone(),
                    known: self.tables.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(self
            .tables
            .iter()
            .filter(|t| ids.is_empty() || ids.iter().any(|id| t.id.eq_ignore_ascii_case(id)))
            .collect())
    }

    /// The table with this id.
    pub fn table(&self, id: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_manifest_parses() {
        let m = Manifest::parse(BUILTIN, Path::new("experiments.toml")).unwrap();
        let ids: Vec<_> = m.tables.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T12"]);
        assert!(m.profiles.contains_key("quick") && m.profiles.contains_key("full"));
    }

    #[test]
    fn doubling_ends_at_the_maximum() {
        assert_eq!(Parallel::Doubling.values(1), [1]);
        assert_eq!(Parallel::Doubling.values(2), [1, 2]);
        assert_eq!(Parallel::Doubling.values(6), [1, 2, 4, 6]);
        assert_eq!(Parallel::Max.values(3), [3]);
        assert_eq!(Parallel::Fixed(vec![1, 2, 4]).values(2), [1, 2, 4]);
    }

    #[test]
    fn parallel_is_a_rule_or_a_list() {
        #[derive(Deserialize)]
        struct T {
            parallel: Parallel,
        }
        let parse = |v: &str| toml::from_str::<T>(&format!("parallel = {v}")).map(|t| t.parallel);
        assert_eq!(parse("\"max\"").unwrap(), Parallel::Max);
        assert_eq!(parse("[1, 2, 4]").unwrap(), Parallel::Fixed(vec![1, 2, 4]));
        for bad in ["\"most\"", "[]", "[0, 2]"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("`parallel` must be"), "{bad}: {e}");
        }
    }

    fn error_of(text: &str) -> String {
        Manifest::parse(text, Path::new("bad.toml")).unwrap_err().to_string()
    }

    const HEAD: &str = "version = 1\n[profiles.quick]\ndescription = \"q\"\nrows = 10\nepochs = 1\niters = 1\n\
                        reps = 1\nwarmup = 0\ndtype = \"f64\"\nlr = 0.1\nseed = 1\ntest_samples = 0\nmax_ranks = 2\n";

    #[test]
    fn errors_name_the_line() {
        // line 18: an unknown mode (the table starts on line 14)
        let text = format!(
            "{HEAD}[[tables]]\nid = \"T1\"\nname = \"time-vs-size\"\ntitle = \"b\"\nmodes = [\"seq\", \"quantum\"]\n\
             parallel = \"max\"\nn = [5]\nhidden = [5]\n"
        );
        let e = error_of(&text);
        assert!(e.contains("bad.toml") && e.contains("line 18") && e.contains("quantum"), "{e}");
        // a semantic error: the table's line
        let text = format!(
            "{HEAD}[[tables]]\nid = \"T1\"\nname = \"time-vs-size\"\ntitle = \"b\"\nmodes = [\"seq\"]\nparallel = \"max\"\nhidden = [5]\n"
        );
        let e = error_of(&text);
        assert!(e.contains("bad.toml, line 14") && e.contains("needs `n`"), "{e}");
        let text = format!(
            "{HEAD}[[tables]]\nid = \"T1\"\nname = \"time-vs-size\"\ntitle = \"b\"\nmodes = [\"seq\"]\nparallel = \"max\"\n\
             n = {{ fast = [5] }}\nhidden = [5]\n"
        );
        let e = error_of(&text);
        assert!(e.contains("line 14") && e.contains("unknown profile `fast`"), "{e}");
        // an unknown kind of table: rejected where the file is read, with its line
        let text = format!(
            "{HEAD}[[tables]]\nid = \"T1\"\nname = \"time-vs-sise\"\ntitle = \"b\"\nmodes = [\"seq\"]\n\
             parallel = \"max\"\nn = [5]\nhidden = [5]\n"
        );
        let e = error_of(&text);
        assert!(e.contains("bad.toml") && e.contains("line 16") && e.contains("time-vs-sise"), "{e}");
        let e = error_of("version = 1\n[profiles.quick]\nrows = 'ten'\n");
        assert!(e.contains("bad.toml") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn the_exact_reduction_is_refused_for_modes_without_it() {
        let table = |modes: &str, reductions: &str| {
            format!(
                "{HEAD}[[tables]]\nid = \"T10\"\nname = \"determinism\"\ntitle = \"b\"\nmodes = {modes}\n\
                 reductions = {reductions}\nparallel = \"max\"\nn = [5]\nhidden = [5]\n"
            )
        };
        let e = error_of(&table(r#"["seq", "torch"]"#, r#"["float", "exact"]"#));
        assert!(e.contains("line 14") && e.contains("lists exact, which mode `torch` does not have"), "{e}");
        assert!(error_of(&table(r#"["seq"]"#, "[]")).contains("`reductions` is empty"));
        let ok = Manifest::parse(&table(r#"["seq", "torch"]"#, r#"["float"]"#), Path::new("ok.toml"));
        assert!(ok.is_ok(), "the float reduction is every mode's");
    }

    #[test]
    fn unknown_table_ids_list_the_known_ones() {
        let m = Manifest::parse(BUILTIN, Path::new("e.toml")).unwrap();
        let e = m.select(&["T11".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown table `T11`") && e.contains("T1, T2"), "{e}");
        assert_eq!(m.select(&["t3".into()]).unwrap().len(), 1);
    }
}
