//! One function per subcommand; [`run`] hands a parsed command line to its function, as
//! ripgrep's `main.rs` hands each mode to its own.

mod bench;
mod check;
mod claims;
mod commbench;
mod compare;
mod cost_model;
mod data;
mod docs;
mod merge;
mod paper;
mod provenance;
mod report;
mod reproduce;
mod train;

use super::args::{Cli, Command, DataCommand};
use crate::model::kernel::KernelChoice;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // A kernel choice that names no kernel stops every command, before any run (children
    // inherit the environment).
    KernelChoice::from_env()?;
    match cli.command {
        Command::Data(DataCommand::Prepare { dirs, force }) => data::prepare(&dirs, force),
        Command::Data(DataCommand::Fetch { dirs, mirrors }) => data::fetch(&dirs, mirrors),
        Command::Data(DataCommand::Info { dirs }) => data::info(&dirs),
        Command::Train(args) => train::train(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Commbench(args) => commbench::commbench(&args),
        Command::Reproduce(args) => reproduce::reproduce(&args),
        Command::Report(args) => report::report(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Check(args) => check::check(&args.dir, args.claims.as_deref()),
        Command::Merge(args) => merge::merge(&args),
        Command::Model(args) => cost_model::cost_model(&args),
        Command::Paper { paper_dir } => paper::paper(&paper_dir),
        Command::Claims { claims, expected } => claims::claims(claims.as_deref(), &expected),
        Command::Docs { check, root } => docs::docs(&root, check),
        Command::Provenance { root } => provenance::provenance(&root),
    }
}

/// A failure whose details were printed above (verdicts, run lines); the message sums it up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);
