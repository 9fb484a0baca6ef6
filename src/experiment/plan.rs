//! From the manifest's tables to the cells to run: every table is expanded for one profile
//! and `--max-ranks`, and cells that several tables need are merged so they run once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, ManifestError, Profile, TableSpec};
use crate::cluster::Link;
use crate::data::DataConfig;
use crate::train::{Mode, Reduction, SyncKind, TrainConfig};

/// One training configuration: what a `dpstudy train` process is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    // Field order is the run order: sizes first, so consecutive runs differ in mode and
    // the machine's drift falls on every mode alike.
    pub n: usize,
    pub hidden: usize,
    pub test_n: usize,
    pub epochs: usize,
    pub iters: usize,
    pub mode: Mode,
    /// MPI processes (1 for the other modes).
    pub ranks: usize,
    /// Compute threads of each process.
    pub threads: usize,
    /// Gradient sync of MPI cells.
    pub sync: Option<SyncKind>,
    /// MPI cells across emulated hosts: the link between them (`None`: one host, shared
    /// memory between the ranks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// Ensemble cells: validation rows after the training rows (0 for the other modes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub validation_n: usize,
    /// Ensemble cells: each member on its own bootstrap sample.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bagging: bool,
    /// How the gradient sums are reduced (`exact`: the same bits for any split).
    #[serde(default, skip_serializing_if = "is_float")]
    pub reduce: Reduction,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn is_float(r: &Reduction) -> bool {
    *r == Reduction::Float
}

impl Cell {
    /// A stable, readable name: `mpi-allreduce-p2-n8000-h50-e2x10` (`-test2000` when it
    /// evaluates on held-out images).
    pub fn id(&self) -> String {
        let how = match (self.mode, self.sync) {
            (Mode::Mpi, Some(sync)) => match self.link {
                None => format!("mpi-{}-p{}", sync.as_str(), self.ranks),
                Some(link) => format!("mpi-{}-p{}-{link}", sync.as_str(), self.ranks),
            },
            (Mode::Model, _) => match self.link {
                None => format!("model-p{}", self.ranks),
                Some(link) => format!("model-p{}-{link}", self.ranks),
            },
            (Mode::Threads, _) => format!("threads-t{}", self.threads),
            (Mode::Torch, _) => format!("torch-t{}", self.threads),
            (Mode::Ensemble, _) if self.bagging => format!("ensemble-bagging-p{}", self.ranks),
            (Mode::Ensemble, _) => format!("ensemble-p{}", self.ranks),
            (Mode::Original | Mode::OriginalFixed | Mode::TorchDdp, _) => format!("{}-p{}", self.mode, self.ranks),
            (mode, _) => mode.to_string(),
        };
        let mut held_out = String::new();
        if self.validation_n > 0 {
            held_out += &format!("-val{}", self.validation_n);
        }
        if self.test_n > 0 {
            held_out += &format!("-test{}", self.test_n);
        }
        let exact = if self.reduce == Reduction::Exact { "-exact" } else { "" };
        format!("{how}-n{}-h{}-e{}x{}{held_out}{exact}", self.n, self.hidden, self.epochs, self.iters)
    }

    /// The same-work key: cells with equal keys train the same thing (a speedup's pair).
    pub fn work(&self) -> WorkKey {
        (self.n, self.test_n, self.hidden, self.epochs, self.iters, self.reduce)
    }

    /// Processes times threads: the cores the cell asks for.
    pub fn cores(&self) -> usize {
        self.ranks * self.threads
    }

    /// P as the tables show it: ranks for MPI, threads for the threads mode, else 1.
    pub fn parallelism(&self) -> usize {
        self.cores()
    }

    /// What a `dpstudy train` process runs for this cell of `profile`, on `data`.
    pub fn train_config(&self, profile: &Profile, data: &DataConfig) -> TrainConfig {
        TrainConfig {
            mode: self.mode,
            sync: self.sync,
            data: data.clone(),
            samples: Some(self.n),
            test_samples: self.test_n,
            hidden: self.hidden,
            epochs: self.epochs,
            iters: self.iters,
            lr: profile.lr,
            dtype: profile.dtype,
            batch_size: None,
            seed: profile.seed,
            threads: self.threads,
            ranks: if self.mode.is_baseline() { self.ranks } else { 1 },
            init: None,
            reduce: self.reduce,
            ensemble: (self.mode == Mode::Ensemble).then(|| crate::ensemble::EnsembleRecipe {
                member_hidden: vec![],
                member_lr: vec![],
                bagging: self.bagging,
                validation_samples: self.validation_n,
            }),
        }
    }
}

/// What two cells must share for one's time to be compared with the other's: N, test
/// rows, H, epochs, steps per epoch, and the reduction (a float and an exact run
/// are not each other's pair).
pub type WorkKey = (usize, usize, usize, usize, usize, Reduction);

/// A cell with the tables that need it and how often it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCell {
    pub cell: Cell,
    pub tables: Vec<String>,
    pub reps: usize,
    /// The most timed runs when the profile's precision target asks for more than `reps`
    /// (0 in plans written before it: `reps`).
    #[serde(default)]
    pub max_reps: usize,
    pub warmup: usize,
    /// A table asked for this P whatever the cores (`parallel = [..]`): beyond the cores
    /// it runs oversubscribed (and is marked so) instead of being refused.
    #[serde(default)]
    pub oversubscribe: bool,
}

impl PlannedCell {
    /// The most timed runs this cell may take.
    pub fn cap(&self) -> usize {
        self.max_reps.max(self.reps)
    }
}

/// The whole run: the profile's settings and the cells.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile_name: String,
    pub profile: Profile,
    pub max_ranks: usize,
    pub tables: Vec<TableSpec>,
    pub cells: Vec<PlannedCell>,
}

/// Options that change the plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub profile: String,
    /// Table ids; empty: all.
    pub tables: Vec<String>,
    /// `None`: the profile's default.
    pub max_ranks: Option<usize>,
    /// Overrides the timed repetitions of every cell (tests, quick looks).
    pub reps: Option<usize>,
}

impl Plan {
    pub fn new(manifest: &Manifest, options: &PlanOptions) -> Result<Self, ManifestError> {
        let profile = manifest.profile(&options.profile)?.clone();
        let tables: Vec<TableSpec> = manifest.select(&options.tables)?.into_iter().cloned().collect();
        let max_ranks = options.max_ranks.unwrap_or(profile.max_ranks);
        let mut cells: BTreeMap<Cell, PlannedCell> = BTreeMap::new();
        for table in &tables {
            let oversubscribe = matches!(table.parallel, super::manifest::Parallel::Fixed(_));
            for (cell, reps, warmup, max_reps) in expand(table, &options.profile, &profile, max_ranks) {
                // `--reps` asks for exactly that many runs: no rounds added.
                let (reps, max_reps) = options.reps.map_or((reps, max_reps), |r| (r, r));
                let entry = cells.entry(cell.clone()).or_insert(PlannedCell {
                    cell,
                    tables: vec![],
                    reps,
                    max_reps,
                    warmup,
                    oversubscribe: false,
                });
                entry.oversubscribe |= oversubscribe;
                entry.tables.push(table.id.clone());
                entry.reps = entry.reps.max(reps);
                entry.max_reps = entry.max_reps.max(max_reps);
                entry.warmup = entry.warmup.max(warmup);
            }
        }
        Ok(Self {
            profile_name: options.profile.clone(),
            profile,
            max_ranks,
            tables,
            cells: cells.into_values().collect(),
        })
    }

    /// The most MPI ranks any cell starts (dpstudy's MPI and ensemble cells, and the
    /// baselines that run under mpirun): what an allocation must hold.
    pub fn widest_ranks(&self) -> usize {
        self.cells.iter().map(|c| c.cell.ranks).max().unwrap_or(1)
    }

    /// Images the plan needs: the largest training size plus the validation and test images.
    pub fn rows_needed(&self) -> usize {
        self.cells.iter().map(|c| c.cell.n + c.cell.validation_n + c.cell.test_n).max().unwrap_or(0)
    }

    /// Cells of one table.
    pub fn cells_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a PlannedCell> + 'a {
        self.cells.iter().filter(move |c| c.tables.iter().any(|t| t == table))
    }
}

/// The cells of `table` under `profile`, each with its reps, warm-up runs and most reps.
fn expand(
    table: &TableSpec,
    profile_name: &str,
    profile: &Profile,
    max_ranks: usize,
) -> Vec<(Cell, usize, usize, usize)> {
    // The manifest check guarantees every per-profile value has this profile.
    let pick = |v: &Option<super::manifest::PerProfile<usize>>, default: usize| {
        v.as_ref().and_then(|v| v.get(profile_name)).unwrap_or(default)
    };
    let reps = pick(&table.reps, profile.reps);
    let max_reps = if profile.precision.is_some() { pick(&table.max_reps, reps).max(reps) } else { reps };
    let warmup = pick(&table.warmup, profile.warmup);
    let grid = Grid {
        table,
        profile_name,
        epochs: pick(&table.epochs, profile.epochs),
        iters: pick(&table.iters, profile.iters),
        test_n: if table.test { profile.test_samples } else { 0 },
        ps: table.parallel.values(max_ranks),
    };
    let hidden = table.hidden.get(profile_name).unwrap_or_default();
    let reductions = table.reductions.clone().unwrap_or_else(|| vec![Reduction::Float]);
    let mut cells = Vec::new();
    for &mode in &table.modes {
        for &h in &hidden {
            for &reduce in &reductions {
                // The exact reduction is dpstudy's CPU trainers' (the manifest check says so).
                cells.extend(grid.cells(mode, h).into_iter().map(|c| Cell { reduce, ..c }));
            }
        }
    }
    cells.into_iter().map(|c| (c, reps, warmup, max_reps)).collect()
}

/// A table's grid for one profile: what all its cells share, and its sizes at each P.
struct Grid<'a> {
    table: &'a TableSpec,
    profile_name: &'a str,
    epochs: usize,
    iters: usize,
    test_n: usize,
    /// The table's P values, up to the run's largest.
    ps: Vec<usize>,
}

impl Grid<'_> {
    /// The cells of `mode` with `h` hidden units, in the order the table lists them.
    fn cells(&self, mode: Mode, h: usize) -> Vec<Cell> {
        let cell = |n, ranks, threads| self.cell(mode, h, n, ranks, threads);
        // A cell at every size of every P of `ps`.
        let at_each = |ps: &[usize], sizes: &dyn Fn(usize) -> Vec<usize>, make: &dyn Fn(usize, usize) -> Cell| {
            ps.iter().flat_map(|&p| sizes(p).into_iter().map(move |n| make(n, p))).collect::<Vec<_>>()
        };
        let sizes = |p| self.sizes(p);
        let baseline_sizes = |p| self.baseline_sizes(p);
        match mode {
            Mode::Seq | Mode::Gpu => self.sizes(1).into_iter().map(|n| cell(n, 1, 1)).collect(),
            Mode::Threads => at_each(&self.ps, &sizes, &|n, p| cell(n, 1, p)),
            Mode::Original | Mode::OriginalFixed | Mode::TorchDdp => {
                at_each(&self.baseline_ps(), &baseline_sizes, &|n, p| cell(n, p, 1))
            }
            Mode::Torch => at_each(&self.baseline_ps(), &baseline_sizes, &|n, p| cell(n, 1, p)),
            Mode::Mpi | Mode::Model => self.mpi_cells(mode, h),
            Mode::Ensemble => self.ensemble_cells(h),
        }
    }

    fn cell(&self, mode: Mode, hidden: usize, n: usize, ranks: usize, threads: usize) -> Cell {
        let (test_n, epochs, iters) = (self.test_n, self.epochs, self.iters);
        let (sync, link, validation_n, bagging, reduce) = (None, None, 0, false, Reduction::Float);
        Cell { n, hidden, test_n, epochs, iters, mode, ranks, threads, sync, link, validation_n, bagging, reduce }
    }

    /// Strong sweeps take every size for every P; weak ones N = n_per_rank P.
    fn sizes(&self, p: usize) -> Vec<usize> {
        match (&self.table.n, &self.table.n_per_rank) {
            (Some(n), _) => n.get(self.profile_name).unwrap_or_default(),
            (None, Some(per)) => vec![per.get(self.profile_name).unwrap_or(0) * p],
            (None, None) => vec![],
        }
    }

    /// Baselines run at `baseline_n` only (a subset of the sizes), and with P = 1 beside the
    /// table's P ([`Self::baseline_ps`]), so that each has its own one-process time (the
    /// original's sequential program, PyTorch on one thread) in every table it appears in.
    fn baseline_sizes(&self, p: usize) -> Vec<usize> {
        let only = self.table.baseline_n.as_ref().and_then(|b| b.get(self.profile_name));
        self.sizes(p).into_iter().filter(|n| only.as_ref().is_none_or(|o| o.contains(n))).collect()
    }

    fn baseline_ps(&self) -> Vec<usize> {
        let mut ps = self.ps.clone();
        if !ps.contains(&1) {
            ps.insert(0, 1);
        }
        ps
    }

    /// MPI cells (data-parallel: for every sync; model-parallel: one kind) for every P, on
    /// one host or across emulated hosts for each link the table names; with
    /// `equal_budget`, also P times the steps at each P > 1.
    fn mpi_cells(&self, mode: Mode, h: usize) -> Vec<Cell> {
        let links: Vec<Option<Link>> =
            self.table.links.as_ref().map_or(vec![None], |l| l.iter().map(|t| t.link()).collect());
        let syncs: Vec<Option<SyncKind>> = match mode {
            Mode::Mpi => {
                self.table.syncs.clone().unwrap_or_else(|| vec![SyncKind::Allreduce]).into_iter().map(Some).collect()
            }
            _ => vec![None],
        };
        let mut out = Vec::new();
        for &sync in &syncs {
            for &p in &self.ps {
                // One rank crosses no link: its cell is the one-host cell, once.
                let here: &[Option<Link>] = if p == 1 { &[None] } else { &links };
                for &link in here {
                    let cell = |n| Cell { link, sync, ..self.cell(mode, h, n, p, 1) };
                    out.extend(self.sizes(p).into_iter().map(cell));
                    if self.table.equal_budget && p > 1 {
                        out.extend(self.sizes(p).into_iter().map(|n| Cell { iters: self.iters * p, ..cell(n) }));
                    }
                }
            }
        }
        out
    }

    /// Ensembles of P members, of every kind the table names (different seeds by default).
    fn ensemble_cells(&self, h: usize) -> Vec<Cell> {
        let validation_n = self.table.validation.as_ref().and_then(|v| v.get(self.profile_name)).unwrap_or(0);
        let kinds = self.table.ensembles.clone().unwrap_or_else(|| vec![super::manifest::EnsembleKind::Seeds]);
        let mut out = Vec::new();
        for &p in &self.ps {
            for &kind in &kinds {
                let bagging = kind == super::manifest::EnsembleKind::Bagging;
                let cell = |n| Cell { validation_n, bagging, ..self.cell(Mode::Ensemble, h, n, p, 1) };
                out.extend(self.sizes(p).into_iter().map(cell));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::experiment::manifest::BUILTIN;

    fn plan(tables: &[&str], max_ranks: Option<usize>) -> Plan {
        let m = Manifest::parse(BUILTIN, Path::new("e.toml")).unwrap();
        let options = PlanOptions {
            profile: "quick".into(),
            tables: tables.iter().map(|s| s.to_string()).collect(),
            max_ranks,
            reps: None,
        };
        Plan::new(&m, &options).unwrap()
    }

    #[test]
    fn cells_shared_by_tables_run_once() {
        let p = plan(&["T1", "T2"], None);
        let seq_8000_h50 =
            p.cells.iter().find(|c| c.cell.mode == Mode::Seq && c.cell.n == 8000 && c.cell.hidden == 50).unwrap();
        assert_eq!(seq_8000_h50.tables, ["T1", "T2"]);
        // T1: 4 sizes x (seq, threads, mpi, gpu) and 4 baselines x P = 1, 2 at N = 8000;
        // T2 adds H = 25.
        assert_eq!(p.cells.len(), 4 * 4 * 2 + 8);
        assert_eq!(p.cells_of("T1").count(), 16 + 8);
    }

    #[test]
    fn a_table_with_links_runs_its_mpi_cells_once_per_link() {
        let text = format!(
            "{BUILTIN}\n[[tables]]\nid = \"TL\"\nname = \"sync-patterns\"\ntitle = \"links\"\nmodes = [\"seq\", \"mpi\"]\n\
             parallel = \"max\"\nn = [2000]\nhidden = [50]\nlinks = [\"tcp\", \"tcp-100mbit\"]\n"
        );
        let m = Manifest::parse(&text, Path::new("e.toml")).unwrap();
        let options = PlanOptions { profile: "quick".into(), tables: vec!["TL".into()], max_ranks: None, reps: None };
        let p = Plan::new(&m, &options).unwrap();
        let ids: Vec<String> = p.cells.iter().map(|c| c.cell.id()).collect();
        assert_eq!(
            ids,
            [
                "seq-n2000-h50-e2x20",
                "mpi-allreduce-p2-tcp-n2000-h50-e2x20",
                "mpi-allreduce-p2-tcp-100mbit-n2000-h50-e2x20"
            ]
        );
        let shaped = &p.cells[2].cell;
        assert_eq!(shaped.link, Some(Link::TcpShaped { mbit_per_s: 100 }));
        // The plan's record keeps the link, and a cell without one reads as before.
        let json = serde_json::to_string(shaped).unwrap();
        assert!(json.contains("\"link\":\"tcp-100mbit\""), "{json}");
        assert_eq!(serde_json::from_str::<Cell>(&json).unwrap(), *shaped);
        assert!(!serde_json::to_string(&p.cells[0].cell).unwrap().contains("link"));
    }

    #[test]
    fn the_model_parallel_table_pairs_each_split_on_every_transport_and_one_rank_once() {
        let p = plan(&["T12"], None);
        let ids: Vec<String> =
            p.cells.iter().filter(|c| c.cell.n == 1000 && c.cell.hidden == 50).map(|c| c.cell.id()).collect();
        // P = 1 on one host only: a single rank crosses no link.
        assert_eq!(
            ids,
            [
                "mpi-allreduce-p1-n1000-h50-e1x5",
                "mpi-allreduce-p2-n1000-h50-e1x5",
                "mpi-allreduce-p2-tcp-100mbit-n1000-h50-e1x5",
                "mpi-allreduce-p2-tcp-1gbit-n1000-h50-e1x5",
                "model-p1-n1000-h50-e1x5",
                "model-p2-n1000-h50-e1x5",
                "model-p2-tcp-100mbit-n1000-h50-e1x5",
                "model-p2-tcp-1gbit-n1000-h50-e1x5",
            ]
        );
        assert_eq!(p.cells.len(), 8 * 2 * 2, "two sizes and two H");
        // The model-parallel cells run under mpirun, and their links are swept.
        let sweeps = crate::experiment::sweeps::planned(&p);
        assert_eq!(sweeps.len(), 3, "{sweeps:?}");
    }

    #[test]
    fn baselines_run_at_their_sizes_with_one_process_and_p() {
        let p = plan(&["T1", "T3"], None);
        let baselines: Vec<String> =
            p.cells.iter().filter(|c| c.cell.mode.is_baseline()).map(|c| c.cell.id()).collect();
        assert_eq!(
            baselines,
            [
                "original-p1-n8000-h50-e2x20",
                "original-p2-n8000-h50-e2x20",
                "original-fixed-p1-n8000-h50-e2x20",
                "original-fixed-p2-n8000-h50-e2x20",
                "torch-t1-n8000-h50-e2x20",
                "torch-t2-n8000-h50-e2x20",
                "torch-ddp-p1-n8000-h50-e2x20",
                "torch-ddp-p2-n8000-h50-e2x20"
            ]
        );
        // T1 and T3 share them (same N and steps), and each process count reaches the child.
        let ddp = p.cells.iter().find(|c| c.cell.id() == "torch-ddp-p2-n8000-h50-e2x20").unwrap();
        assert_eq!(ddp.tables, ["T1", "T3"]);
        let profile = p.profile.clone();
        let data = DataConfig {
            kind: crate::data::DataKind::Synthetic,
            dir: ".".into(),
            cache_dir: ".".into(),
            verify: true,
            pool: Default::default(),
        };
        assert_eq!(ddp.cell.train_config(&profile, &data).ranks, 2);
        let torch = p.cells.iter().find(|c| c.cell.id() == "torch-t2-n8000-h50-e2x20").unwrap();
        assert_eq!((torch.cell.train_config(&profile, &data).ranks, torch.cell.threads), (1, 2));
    }

    #[test]
    fn baseline_sizes_outside_the_tables_sizes_are_refused() {
        let text = BUILTIN.replacen("baseline_n = { quick = [8000]", "baseline_n = { quick = [9000]", 1);
        let e = Manifest::parse(&text, Path::new("e.toml")).unwrap_err().to_string();
        assert!(e.contains("T1") && e.contains("baseline_n") && e.contains("9000"), "{e}");
    }

    #[test]
    fn the_ensembles_table_runs_its_fixed_p_with_both_recipes_and_the_equal_budget() {
        let p = plan(&["T9"], None);
        let ids: Vec<String> = p.cells.iter().map(|c| c.cell.id()).collect();
        assert_eq!(
            ids,
            [
                "mpi-allreduce-p1-n4000-h50-e5x100-test2000",
                "mpi-allreduce-p2-n4000-h50-e5x100-test2000",
                "mpi-allreduce-p4-n4000-h50-e5x100-test2000",
                "ensemble-p1-n4000-h50-e5x100-val2000-test2000",
                "ensemble-bagging-p1-n4000-h50-e5x100-val2000-test2000",
                "ensemble-p2-n4000-h50-e5x100-val2000-test2000",
                "ensemble-bagging-p2-n4000-h50-e5x100-val2000-test2000",
                "ensemble-p4-n4000-h50-e5x100-val2000-test2000",
                "ensemble-bagging-p4-n4000-h50-e5x100-val2000-test2000",
                // P times the steps: the compute of a P-member ensemble.
                "mpi-allreduce-p2-n4000-h50-e5x200-test2000",
                "mpi-allreduce-p4-n4000-h50-e5x400-test2000",
            ]
        );
        // P = 4 whatever --max-ranks, oversubscribed where the cores are fewer.
        assert!(p.cells.iter().all(|c| c.oversubscribe));
        assert_eq!(p.rows_needed(), 4000 + 2000 + 2000);
        let data = DataConfig {
            kind: crate::data::DataKind::Synthetic,
            dir: ".".into(),
            cache_dir: ".".into(),
            verify: true,
            pool: Default::default(),
        };
        let bagging = p.cells.iter().find(|c| c.cell.bagging).unwrap();
        let recipe = bagging.cell.train_config(&p.profile, &data).ensemble.unwrap();
        assert!(recipe.bagging && recipe.validation_samples == 2000 && recipe.member_hidden.is_empty());
        assert_eq!(p.cells[0].cell.train_config(&p.profile, &data).ensemble, None);
        // Other tables' cells keep their ids and are not oversubscribed on purpose.
        assert!(plan(&["T3"], None).cells.iter().all(|c| !c.oversubscribe));
    }

    #[test]
    fn an_ensemble_table_needs_validation_and_test_rows() {
        let t9 = BUILTIN.find("id = \"T9\"").unwrap();
        let without = format!(
            "{}{}",
            &BUILTIN[..t9],
            BUILTIN[t9..].replace("validation = { quick = 2000, full = 10000, full-short = 10000 }\n", "")
        );
        let e = Manifest::parse(&without, Path::new("e.toml")).unwrap_err().to_string();
        assert!(e.contains("T9") && e.contains("needs `validation`"), "{e}");
        let untested = format!("{}{}", &BUILTIN[..t9], BUILTIN[t9..].replacen("test = true", "test = false", 1));
        let e = Manifest::parse(&untested, Path::new("e.toml")).unwrap_err().to_string();
        assert!(e.contains("T9") && e.contains("test = true"), "{e}");
    }

    #[test]
    fn weak_scaling_grows_n_with_p() {
        let p = plan(&["T4"], Some(4));
        let mpi: Vec<(usize, usize)> =
            p.cells.iter().filter(|c| c.cell.mode == Mode::Mpi).map(|c| (c.cell.ranks, c.cell.n)).collect();
        assert_eq!(mpi, [(1, 4000), (2, 8000), (4, 16000)]);
        assert_eq!(p.rows_needed(), 16000);
    }

    #[test]
    fn ids_are_unique_and_readable() {
        let p = plan(&[], None);
        let ids: std::collections::HashSet<String> = p.cells.iter().map(|c| c.cell.id()).collect();
        assert_eq!(ids.len(), p.cells.len());
        assert!(ids.contains("mpi-gather-bcast-p2-n8000-h50-e10x100-test2000"), "{ids:?}");
        assert!(ids.contains("threads-t2-n8000-h50-e2x20"));
    }
}
