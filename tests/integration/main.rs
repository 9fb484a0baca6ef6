//! The integration tests, as one test binary (one link of candle, polars and mpi instead of
//! one per file): a module per area, and [`common`] for what they share.

mod common;

mod artifact_files;
mod baselines;
mod child_args;
mod cli_errors;
mod commbench;
mod compare;
mod determinism;
mod ensemble;
mod fetch;
mod full_mnist;
mod gpu;
mod gradient;
mod layering;
mod merge;
mod model;
mod model_parallel;
mod mpi;
mod multihost;
mod real_mnist;
mod report_html;
mod reproduce;
mod slurm;
