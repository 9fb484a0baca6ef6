//! `dpstudy`: parse, hand to the library, print the error chain, set the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dpstudy::cli::Cli::parse();
    // SAFETY: nothing has started a thread yet: only the arguments have been parsed, and
    // clap runs on this thread. The library starts threads (rayon, MPI) only in `run`.
    unsafe { dpstudy::thread_pools::pin_environment(cli.compute_threads()) };
    match dpstudy::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // An MPI rank whose error another rank reports.
        Err(err) if err.is::<dpstudy::train::mpi::ReportedElsewhere>() => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
