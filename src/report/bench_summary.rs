//! `artifact/bench/bench.json`: what `dpstudy bench --out` writes (the figures, the command
//! that made them and the machine and revision they were measured on), and the Markdown
//! the documents' generated regions show of it ([`super::docs`]).

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::bench::{BenchReport, BenchRow};
use crate::experiment::env::Environment;
use crate::train::Reduction;

/// A benchmark run as committed: its figures and where they come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRecord {
    /// The command line that ran the benchmark.
    pub command: Vec<String>,
    pub environment: Environment,
    pub report: BenchReport,
}

impl BenchRecord {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a benchmark record of this dpstudy", path.display()))
    }

    /// The line that says what made the figures: command, revision, machine.
    fn provenance(&self) -> String {
        let env = &self.environment;
        let program = self.command.first().map_or("dpstudy", |p| if p.ends_with("dpstudy") { "dpstudy" } else { p });
        format!(
            "`{} {}` at revision {}, on {} ({} logical CPUs), load at start {}.",
            program,
            self.command.iter().skip(1).cloned().collect::<Vec<_>>().join(" "),
            env.git_revision,
            env.cpu_model,
            env.cores,
            env.load_at_start.trim()
        )
    }

    /// Every full- and mini-batch step beside the GEMM of the same run.
    pub fn steps_markdown(&self) -> String {
        let r = &self.report;
        let reps = r.rows.first().map_or(0, |row| row.step.samples);
        let mut out = format!(
            "{}\nN = {} ({}), {} thread(s); per case the median of {} repetitions and their range; \
             every kernel and the 2048^3 GEMM take turns in each repetition, and the share divides \
             by the GEMM rate of the same run.\n\n",
            self.provenance(),
            r.samples,
            r.data,
            r.threads,
            reps
        );
        out +=
            "| dtype | H | batch | kernel | step, median (min-max) | GFLOP/s | share of the GEMM rate | data read |\n";
        out += "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
        for row in &r.rows {
            out += &format!(
                "| {} | {} | {} | {} | {:.2} ms ({:.2}-{:.2}) | {:.1} of {:.1} | {:.0}% | {:.2} GB/s |\n",
                row.dtype,
                row.hidden,
                row.batch.map_or("full".to_string(), |b| b.to_string()),
                row.label(),
                row.step.median_s * 1e3,
                row.step.min_s * 1e3,
                row.step.max_s * 1e3,
                row.step_gflops,
                row.gemm_gflops,
                100.0 * row.ratio,
                row.data_gbs
            );
        }
        out
    }

    /// The triad's bandwidth and, when the run had one, the sequential / threads / MPI
    /// comparison.
    pub fn scaling_markdown(&self) -> String {
        let r = &self.report;
        let mut out =
            format!("{}\n\n| memory bandwidth (triad) | best | median |\n| --- | --- | --- |\n", self.provenance());
        for t in &r.triad {
            out += &format!("| {} thread(s) | {:.1} GB/s | {:.1} GB/s |\n", t.threads, t.best_gbs, t.median_gbs);
        }
        let Some(scaling) = &r.scaling else {
            return out + "\nThis run did not compare the modes (no `--scaling`).\n";
        };
        let spec = &scaling.spec;
        out += &format!(
            "\nN = {}, H = {}, {}; {} rounds, the modes taking turns in each, x {} measured epochs x {} steps; \
             step median (min-max) over all of them.\n\n\
             | case | step | step / sequential | speedup | efficiency | collectives | barrier wait |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n",
            spec.samples,
            spec.hidden,
            spec.dtype,
            spec.rounds,
            spec.epochs - 1,
            spec.iters
        );
        let seq = scaling.results.first().map_or(f64::NAN, |c| c.step.median_s);
        for c in &scaling.results {
            out += &format!(
                "| {} | {:.1} ms ({:.1}-{:.1}) | {:.3} | {:.2}x | {:.0}% | {:.1}% | {:.1}% |\n",
                c.case.name,
                c.step.median_s * 1e3,
                c.step.min_s * 1e3,
                c.step.max_s * 1e3,
                c.step.median_s / seq,
                c.speedup,
                100.0 * c.efficiency,
                100.0 * c.comm_share,
                100.0 * c.wait_share
            );
        }
        out
    }

    /// Per element type and H, the fastest kernel's full-batch step; then the P = 2
    /// speedups of the scaling comparison, when the run had one.
    pub fn summary_markdown(&self) -> String {
        let r = &self.report;
        let mut out = format!(
            "{}\n\n| dtype | H | fastest kernel | step, median (min-max) | share of the GEMM rate |\n| --- | --- | --- | --- | --- |\n",
            self.provenance()
        );
        let full: Vec<&BenchRow> =
            r.rows.iter().filter(|row| row.batch.is_none() && row.reduce == Reduction::Float).collect();
        let mut seen = std::collections::BTreeSet::new();
        for row in &full {
            if !seen.insert((row.dtype.to_string(), row.hidden)) {
                continue;
            }
            let best = full
                .iter()
                .filter(|o| o.dtype == row.dtype && o.hidden == row.hidden)
                .min_by(|a, b| a.step.median_s.total_cmp(&b.step.median_s))
                .expect("the row itself");
            out += &format!(
                "| {} | {} | {} | {:.1} ms ({:.1}-{:.1}) | {:.0}% |\n",
                best.dtype,
                best.hidden,
                best.label(),
                best.step.median_s * 1e3,
                best.step.min_s * 1e3,
                best.step.max_s * 1e3,
                100.0 * best.ratio
            );
        }
        if let Some(scaling) = &r.scaling {
            let seq = scaling.results.first().map_or(f64::NAN, |c| c.step.median_s);
            let parallel: Vec<String> = scaling
                .results
                .iter()
                .filter(|c| c.case.ranks * c.case.threads > 1)
                .map(|c| format!("{} {:.2}x", c.case.name, seq / c.step.median_s))
                .collect();
            out += &format!(
                "\nSpeedup over the sequential step of the same run (N = {}, H = {}, {}, medians): {}.\n",
                scaling.spec.samples,
                scaling.spec.hidden,
                scaling.spec.dtype,
                parallel.join(", ")
            );
        }
        out
    }

    /// Each kernel's exact-reduction step beside its float step, from the same run.
    pub fn reduce_markdown(&self) -> String {
        let r = &self.report;
        let mut out = format!(
            "{}\nN = {}, full batch, {} thread(s); medians of {} repetitions and their range, the two \
             reductions and every kernel taking turns in each.\n\n\
             | dtype | H | kernel | float step | exact step | exact / float |\n| --- | --- | --- | --- | --- | --- |\n",
            self.provenance(),
            r.samples,
            r.threads,
            r.rows.first().map_or(0, |row| row.step.samples)
        );
        let full = r.rows.iter().filter(|row| row.batch.is_none());
        for exact in full.clone().filter(|row| row.reduce == Reduction::Exact) {
            let Some(float) = full.clone().find(|o| {
                o.reduce == Reduction::Float
                    && o.kernel == exact.kernel
                    && o.dtype == exact.dtype
                    && o.hidden == exact.hidden
            }) else {
                continue;
            };
            let ms = |row: &BenchRow| {
                format!("{:.1} ms ({:.1}-{:.1})", row.step.median_s * 1e3, row.step.min_s * 1e3, row.step.max_s * 1e3)
            };
            out += &format!(
                "| {} | {} | {} | {} | {} | {:.3} |\n",
                exact.dtype,
                exact.hidden,
                exact.kernel.as_str(),
                ms(float),
                ms(exact),
                exact.step.median_s / float.step.median_s
            );
        }
        out
    }
}
