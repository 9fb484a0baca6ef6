//! The arguments each command takes, as clap parses them.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cluster::Transport;
use crate::commbench::CommOp;
use crate::data::DataKind;
use crate::real::Dtype;
use crate::train::{Mode, Reduction, SyncKind};

#[derive(Debug, Parser)]
#[command(
    name = "dpstudy",
    version = crate::util::build_info::VERSION,
    about = "How much does data-parallel training buy over sequential CPU training and a single GPU?",
    long_about = "Reproduces an empirical study: a 400-H-10 sigmoid network trained by full-batch \
                  gradient descent on PCA-reduced MNIST, sequentially, data-parallel over MPI, and \
                  on a GPU, with every figure measured and checked."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The compute threads of each process the command asks for (`--threads` of `train`
    /// and `bench`; 1 for the rest, whose children set their own).
    pub fn compute_threads(&self) -> usize {
        match &self.command {
            Command::Train(args) => args.threads,
            Command::Bench(args) => args.threads,
            _ => 1,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get, verify and preprocess MNIST.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train the study's network once; print or write the per-epoch record as JSON.
    Train(TrainArgs),
    /// Time the training step at the study's largest size beside a GEMM of this machine.
    Bench(BenchArgs),
    /// Under mpirun: time allreduce, gather + broadcast and a ping-pong over a sweep of
    /// message sizes (min/avg/max over ranks, algorithm and bus bandwidth), checking every
    /// result; the cost model's latencies and bandwidths come from these sweeps.
    Commbench(CommbenchArgs),
    /// Run every table of the study, aggregate, draw the tables and figures, check the claims.
    Reproduce(ReproduceArgs),
    /// Redraw the tables and figures of a results directory without training.
    Report(ReportArgs),
    /// Check a results directory against the study's claims: one verdict per claim.
    Check(CheckArgs),
    /// Merge the results directories of several machines (e.g. a GPU machine's and a CPU
    /// machine's) into one that `report` and `check` read, each cell from the first
    /// directory that ran it, labelled with its machine.
    Merge(MergeArgs),
    /// A run beside the expected results: every cell's speedup, efficiency, communication
    /// share, final cost and accuracies, and every claim's verdict, each judged against its
    /// tolerance (seconds shown, never judged); exits non-zero when one is outside.
    Compare(CompareArgs),
    /// Fit the cost model (compute per sample, latency and bandwidth of each collective) to
    /// the cells of results directories, predict each MPI cell, and extrapolate to 1024 ranks.
    Model(ModelArgs),
    /// Build paper/paper.pdf (latexmk) from the generated tables and figures.
    Paper {
        /// The paper's directory.
        #[arg(long, value_name = "DIR", default_value = "paper")]
        paper_dir: PathBuf,
    },
    /// Print the claims as the Markdown table of the artifact appendix.
    Claims {
        /// The claims file [default: artifact/claims.toml, else the built-in copy].
        #[arg(long, value_name = "FILE")]
        claims: Option<PathBuf>,
        /// Reference results whose check.json gives a "measured here" column each (named by
        /// its profile, and by the directory where its name is not the profile's); the quick
        /// run's table-times.txt gives the time column [default: every directory under
        /// artifact/expected with a check.json, the paper run's first].
        #[arg(long, value_name = "DIR", value_delimiter = ',')]
        expected: Vec<PathBuf>,
    },
    /// Rewrite the generated regions of the README and the appendix from the committed
    /// results (the benchmark record); with --check, change nothing and fail on a stale one.
    Docs {
        /// Only check: exit non-zero, naming the document and region, when one is stale.
        #[arg(long)]
        check: bool,
        /// The repository's root.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
    /// Check that the committed results still describe today's code: every expected run
    /// made by a clean revision in the history, no measured code changed since the paper
    /// run, and the paper's tables and figures what `report` makes from it today.
    Provenance {
        /// The repository's root.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ReproduceArgs {
    /// Profile of artifact/experiments.toml: `quick` (minutes, 10,000 real images),
    /// `full-short` (the study's 70,000 images and sizes, shorter timing cells) or `full`
    /// (the study's protocol) [default: quick; with --resume, the run's].
    #[arg(long)]
    pub profile: Option<String>,
    /// Only these tables (comma-separated ids, e.g. T1,T3) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Largest P for MPI ranks and threads [default: the profile's].
    #[arg(long, value_name = "P")]
    pub max_ranks: Option<usize>,
    /// Allow P beyond this host's cores (such cells are marked in every table).
    #[arg(long)]
    pub oversubscribe: bool,
    /// Extra options for mpirun, e.g. "--hostfile hosts" [with --resume: the run's].
    #[arg(long, allow_hyphen_values = true)]
    pub mpirun_args: Option<String>,
    /// Real MNIST, or synthetic data for the timing tables (T5 is then not run) [default:
    /// mnist; with --resume, the run's].
    #[arg(long, value_enum)]
    pub data: Option<DataKind>,
    #[command(flatten)]
    pub dirs: DataDirs,
    /// Timed repetitions of every cell [default: the profile's].
    #[arg(long, value_name = "R")]
    pub reps: Option<usize>,
    /// Where new results directories are created.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Continue an interrupted run in DIR: finished runs are kept, the rest run; the plan,
    /// the data and the mpirun options are the run's (run.json), and a flag that
    /// contradicts them is refused.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// The experiments file [default: artifact/experiments.toml, else the built-in copy].
    #[arg(long, value_name = "FILE")]
    pub experiments: Option<PathBuf>,
    /// Print the plan (tables, cells, runs, oversubscribed and not-run cells) and the wall
    /// time estimated from a short calibration on this machine; train nothing, write nothing.
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    /// Write a Slurm batch script that runs this same command in an allocation (a node per
    /// rank of the widest MPI cell, the time limit from the dry run's estimate), and run
    /// nothing: submit it with `sbatch FILE`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "dry_run"])]
    pub emit_sbatch: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportOptions,
}

/// Where report and check read their inputs and write their outputs.
#[derive(Debug, Clone, Args)]
pub struct ReportOptions {
    /// The claims file [default: artifact/claims.toml, else the built-in copy].
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
    /// Also write the tables and figures into DIR/tables and DIR/figures (the paper's).
    #[arg(long, value_name = "DIR", default_value = "paper")]
    pub paper_dir: PathBuf,
    /// Do not copy the tables and figures into --paper-dir.
    #[arg(long)]
    pub no_paper: bool,
    /// The expected results that report.html compares the run with [default:
    /// artifact/expected/PROFILE, the run's profile, where it exists].
    #[arg(long, value_name = "DIR")]
    pub expected: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A results directory written by `reproduce`.
    pub dir: PathBuf,
    /// Also write DIR/report.html: the verdicts, the comparison with the expected results,
    /// every table and figure and both environments on one self-contained page (the run
    /// must have been checked: `dpstudy check DIR`). `reproduce` always writes it.
    #[arg(long)]
    pub html: bool,
    #[command(flatten)]
    pub report: ReportOptions,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// A results directory written (and checked) by `reproduce`.
    pub run: PathBuf,
    /// The expected results [default: artifact/expected/PROFILE, the run's profile].
    pub expected: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Results directories written by `reproduce` with the same profile and experiments, in
    /// order of preference: a cell is taken from the first that ran it.
    #[arg(required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// The merged results directory to create (it must not exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CommbenchArgs {
    /// Patterns to time (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = CommOp::ALL)]
    pub ops: Vec<CommOp>,
    /// Smallest message, bytes (a multiple of 8: f64 elements).
    #[arg(long, default_value_t = 8)]
    pub min_bytes: usize,
    /// Largest message, bytes; the sweep doubles from --min-bytes and adds the gradient of
    /// each of the study's H (H = 1600: 5,260,880 bytes) within the range.
    #[arg(long, default_value_t = 8 << 20)]
    pub max_bytes: usize,
    /// Untimed passes before each size's timed ones (at least one runs: its time decides
    /// the iteration count).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Time to spend on each size's timed passes, ms (the iteration count follows from the
    /// warm-up's time, within --min-iters and --max-iters).
    #[arg(long, default_value_t = 100.0)]
    pub budget_ms: f64,
    #[arg(long, default_value_t = 5)]
    pub min_iters: usize,
    #[arg(long, default_value_t = 1000)]
    pub max_iters: usize,
    /// Where the ranks talk, as the record names it (shared-memory, tcp, tcp-1gbit, ...)
    /// [default: shared-memory when every rank is on one host, else unnamed].
    #[arg(long)]
    pub transport: Option<Transport>,
    /// Write the sweep as JSON here (rank 0).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Make each size's checked pass wrong on purpose (a maximum for the sum, a rank left
    /// out, a corrupted echo): shows that the check catches it.
    #[arg(long, hide = true)]
    pub inject_fault: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Results directories written by `reproduce` (e.g. a full-short run and a T8 run); a
    /// cell found in several is taken from the first.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the model's tables and figure go (`tables/`, `figures/`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write them into this paper directory.
    #[arg(long, value_name = "DIR")]
    pub paper_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// A results directory written by `reproduce`.
    pub dir: PathBuf,
    /// The claims file [default: artifact/claims.toml, else the built-in copy].
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Verify the MNIST files, run PCA (784 -> 400) and standardise; cache the result.
    Prepare {
        #[command(flatten)]
        dirs: DataDirs,
        /// Rebuild the cache even if a matching entry exists.
        #[arg(long)]
        force: bool,
    },
    /// Download the four MNIST files from public mirrors, checksum-verified.
    Fetch {
        #[command(flatten)]
        dirs: DataDirs,
        /// Mirror base URL to try (repeatable; http(s):// or file://). Default: the public mirrors.
        #[arg(long = "mirror", value_name = "URL")]
        mirrors: Vec<String>,
    },
    /// Show which MNIST files are present, whether they verify, and the cache state.
    Info {
        #[command(flatten)]
        dirs: DataDirs,
    },
}

/// Where the data and the cache live.
#[derive(Debug, Clone, Args)]
pub struct DataDirs {
    /// Directory holding the MNIST IDX files (gzip or raw).
    #[arg(long, env = "DPSTUDY_DATA_DIR", default_value = crate::data::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Cache for the prepared data and initial weights [default: $XDG_CACHE_HOME/dpstudy or ~/.cache/dpstudy].
    #[arg(long, env = "DPSTUDY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Accept IDX files that are not the published MNIST (e.g. Fashion-MNIST); every output
    /// then says UNVERIFIED.
    #[arg(long)]
    pub no_verify: bool,
    /// Which MNIST images to read: test (the 10,000 test images), train (the 60,000 training
    /// images), all (the 70,000, training images first), present (every pair in --data-dir)
    /// [default: present; reproduce: the profile's pool].
    #[arg(long, value_enum)]
    pub pool: Option<crate::data::Pool>,
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// How to train. `mpi` must be started by `mpirun -np P`.
    #[arg(long, value_enum, default_value_t = Mode::Seq)]
    pub mode: Mode,
    /// How MPI ranks combine gradients (mode mpi).
    #[arg(long, value_enum, default_value_t = SyncKind::Allreduce)]
    pub sync: SyncKind,
    /// How the rows' gradient sums are reduced: `float` (the split's floating-point order,
    /// the same bits for the same split) or `exact` (64 global blocks summed as fixed-point
    /// integers: the same bits for any P, sync, thread count or host layout; full batch).
    #[arg(long, value_enum, default_value_t = Reduction::Float)]
    pub reduce: Reduction,
    /// Real MNIST, or synthetic data of the same shape (timing only).
    #[arg(long, value_enum, default_value_t = DataKind::Mnist)]
    pub data: DataKind,
    #[command(flatten)]
    pub dirs: DataDirs,
    /// Training samples: the first N of the pool [default: all but --test-samples; synthetic: 70000].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Held-out test samples: the last M of the pool.
    #[arg(long, value_name = "M", default_value_t = 0)]
    pub test_samples: usize,
    /// Hidden units H (the study: 25 and 50).
    #[arg(long, default_value_t = 50)]
    pub hidden: usize,
    /// Epochs E.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Gradient steps per epoch I.
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Element type.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Mini-batch size B (shuffled with --seed); omit for full-batch descent, as the study.
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Seed of the initial weights, the shuffle and synthetic data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compute threads of each process, exactly (candle and rayon are pinned to this).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Processes of the baselines original, original-fixed and torch-ddp (started under
    /// mpirun by dpstudy; dpstudy's own `--mode mpi` takes P from mpirun -np).
    #[arg(long, default_value_t = 1)]
    pub ranks: usize,
    /// Allow more compute threads (threads x ranks) than this machine has cores: they then
    /// time-share the cores (without it such a request is refused).
    #[arg(long)]
    pub oversubscribe: bool,
    /// Initial weights (safetensors); created from --seed if missing [default: in the cache dir].
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Mode ensemble: validation rows, the V rows after the training rows, on which the
    /// stacked meta-learner is fitted.
    #[arg(long, value_name = "V")]
    pub validation_samples: Option<usize>,
    /// Mode ensemble: hidden units of member r, cycling through the list (e.g. 25,50,100)
    /// [default: --hidden for every member].
    #[arg(long, value_name = "H,...", value_delimiter = ',')]
    pub member_hidden: Vec<usize>,
    /// Mode ensemble: learning rate of member r, cycling through the list [default: --lr].
    #[arg(long, value_name = "LR,...", value_delimiter = ',')]
    pub member_lr: Vec<f64>,
    /// Mode ensemble: each member trains on its own bootstrap sample of the training rows.
    #[arg(long)]
    pub bagging: bool,
    /// Write the JSON result here (atomically) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also save the trained weights (safetensors, f64).
    #[arg(long, value_name = "FILE")]
    pub save_weights: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Samples N (synthetic data).
    #[arg(long, default_value_t = 70_000)]
    pub samples: usize,
    /// Hidden units H (comma-separated list; the scaling comparison uses the first).
    #[arg(long, value_delimiter = ',', default_values_t = [50])]
    pub hidden: Vec<usize>,
    /// Also time mini-batch steps of B rows (reported in samples/s).
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 11)]
    pub reps: usize,
    /// Untimed warm-up repetitions.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Compute threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Element types to time.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Dtype::F32, Dtype::F64])]
    pub dtype: Vec<Dtype>,
    /// Reductions to time each full-batch step with (float,exact: also the step of
    /// `train --reduce exact`).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Reduction::Float])]
    pub reduce: Vec<Reduction>,
    /// Write the figures as JSON here too.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also compare sequential, threads (T = P) and MPI (P ranks, both syncs) step times,
    /// each as its own process, in the first --dtype; a comma-separated list of P (e.g.
    /// 1,2,4,8,16) compares each.
    #[arg(long, value_name = "P", value_delimiter = ',')]
    pub scaling: Option<Vec<usize>>,
    /// Epochs per scaling run (the first is warm-up).
    #[arg(long, default_value_t = 4)]
    pub scaling_epochs: usize,
    /// Steps per epoch of a scaling run.
    #[arg(long, default_value_t = 5)]
    pub scaling_iters: usize,
    /// Rounds of the scaling comparison (the modes take turns in each).
    #[arg(long, default_value_t = 3)]
    pub scaling_rounds: usize,
    /// Extra options for mpirun, e.g. "--hostfile hosts".
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub mpirun_args: String,
    /// Allow more compute threads (--threads) and MPI ranks (--scaling) than cores.
    #[arg(long)]
    pub oversubscribe: bool,
}
