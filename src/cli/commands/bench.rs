//! `dpstudy bench`.

use crate::cli::args::BenchArgs;
use crate::experiment::env::Environment;
use crate::report::bench_summary::BenchRecord;
use crate::train::Machine;
use crate::util::files;
use crate::{bench as benchmark, thread_pools};

/// `dpstudy bench`: times the step beside a GEMM of this machine; prints the table and
/// writes the report as JSON if asked.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let config = args.config();
    // Before the thread pools exist: a runaway --threads is refused, not started.
    config.check_resources(Machine::here())?;
    thread_pools::configure(config.threads)?;
    let report = benchmark::run(&config)?;
    print!("{}", report.table());
    if let Some(path) = &args.out {
        let record = BenchRecord { command: std::env::args().collect(), environment: Environment::probe(), report };
        files::write_atomic(path, serde_json::to_string_pretty(&record)?.as_bytes())?;
    }
    Ok(())
}
