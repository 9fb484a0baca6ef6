//! Training: what a run is ([`mode`], [`config`]), what it records ([`record`]), the loop
//! ([`descent`]), the ways gradients are combined ([`sync`], [`mpi`]), and the runs of each
//! mode ([`local`], [`mpi`], [`model_parallel`], [`ensemble`], [`gpu`]).

pub mod child_args;
pub mod config;
pub mod descent;
pub mod ensemble;
pub mod gpu;
pub mod local;
pub mod mode;
pub mod model_parallel;
pub mod mpi;
pub mod record;
pub mod sync;
pub mod watchdog;

pub use config::{ConfigError, Machine, TrainConfig};
pub use local::{Inputs, TrainError, TrainingRun, finite, run_local, this_host};
pub use mode::{Mode, Reduction, SyncKind};
pub use record::{BaselineRuntime, EpochRecord, MemberScores, TrainResult};
