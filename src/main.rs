//! `dpstudy`: parse, hand to the library, print the error chain, set the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match dpstudy::run(dpstudy::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // An MPI rank whose error another rank reports.
        Err(err) if err.is::<dpstudy::train::mpi::ReportedElsewhere>() => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
