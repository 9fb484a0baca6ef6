//! dpstudy: a reproducible study of data-parallel versus sequential versus GPU training of
//! the study's 400-H-10 network on PCA-reduced MNIST.
//!
//! This file is the list of modules and the entry point, [`run`]. `main.rs` parses the
//! arguments and reports errors; each subcommand is one function in [`cli::commands`], the
//! edge, where its arguments become a plain config ([`cli::config`]) before any module below
//! runs. Nothing below imports [`cli`].

pub mod baseline;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod commbench;
pub mod data;
pub mod ensemble;
pub mod experiment;
pub mod launch;
pub mod linalg;
pub mod model;
pub mod paper;
pub mod real;
pub mod report;
pub mod rng;
pub mod stats;
pub mod thread_pools;
pub mod train;
pub mod util;

pub use cli::{Failed, run};
