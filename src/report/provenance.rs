//! Provenance a machine checks: the paper stands on one committed run, and this module
//! says whether that run, and every other committed result, still describes today's code.
//!
//! Three questions, each answered with the results that fail it and the command that
//! remakes them:
//! 1. Was each expected directory made by a clean revision that is in the history?
//! 2. Has code that produces measurements ([`MEASURED_PATHS`]), or the paper profile's
//!    plan in the experiments file, changed since the paper run's revision?
//! 3. Are the paper's tables, figures and macros what `dpstudy report` and `dpstudy model`
//!    make today from the committed paper run?
//!
//! The list of measured code and the one named exception live here, in one place.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::experiment::manifest::Manifest;
use crate::experiment::plan::{Plan, PlanOptions};
use crate::experiment::raw::{self, RunMeta};

/// The committed run the paper's tables, figures and macros are made from.
pub const PAPER_RUN: &str = "artifact/expected/full-short";
/// Where the paper's copies of them live.
pub const PAPER_DIR: &str = "paper";
/// The committed runs the paper reads: the paper run, and the GPU machine's run (the one
/// exception, [`EXCEPTIONS`]).
pub const PAPER_READS: [&str; 2] = [PAPER_RUN, "artifact/expected/gpu"];
/// The folders of the paper that `dpstudy report` writes.
const PAPER_OUTPUTS: [&str; 2] = ["tables", "figures"];
/// The committed results.
pub const EXPECTED_ROOT: &str = "artifact/expected";

/// The code whose change changes what a run measures: the trainers and kernels, the data
/// pipeline, the baselines, the runner and what it launches, the emulated hosts, and the
/// dependencies. (The experiments file is compared by the plan it makes for the paper
/// profile, so editing another profile or a comment stales nothing.) A change to any of
/// these after the paper run's revision makes the paper's results stale.
pub const MEASURED_PATHS: &[&str] = &[
    "src/train",
    "src/model",
    "src/data",
    "src/baseline",
    "src/ensemble",
    "src/commbench",
    "src/experiment/runner.rs",
    "src/experiment/plan.rs",
    "src/experiment/precision.rs",
    "src/experiment/machine.rs",
    "src/launch.rs",
    "src/cluster.rs",
    "src/linalg.rs",
    "src/rng.rs",
    "src/thread_pools.rs",
    "src/real.rs",
    "artifact/baselines",
    "artifact/cluster",
    "Cargo.toml",
    "Cargo.lock",
];

/// Committed results that may stand although they fail a check, and why: the one exception.
pub const EXCEPTIONS: &[(&str, &str)] = &[(
    "artifact/expected/gpu",
    "the GPU part needs a lent GPU machine (issue 36); it stays from its earlier run, and the paper's GPU \
     section names that run's revision, machine and sizes",
)];

/// One result that no longer describes today's code, and how to remake it.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleResult {
    /// The directory or file, relative to the repository's root.
    pub what: String,
    pub why: String,
    pub remake: String,
}

/// What the checks found: the stale results, and the exceptions that were let stand.
#[derive(Debug, Default)]
pub struct Findings {
    pub stale: Vec<StaleResult>,
    pub excused: Vec<(String, String)>,
}

/// The command that remakes the paper run (and so everything made from it).
fn remake_paper_run() -> String {
    format!(
        "from a clean commit: `artifact/paper-run.sh <all 70,000 MNIST images>` (`dpstudy reproduce --profile \
         full-short`, then {PAPER_RUN} replaced by the run, and `report`, `model` and `docs` remade from it)"
    )
}

/// Runs git in `root`; its trimmed output, or why it failed.
fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .with_context(|| format!("cannot run git in {}", root.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Why a run's revision cannot be trusted (`None`: clean and in the history).
fn revision_problem(root: &Path, revision: &str) -> Option<String> {
    if revision.ends_with("-dirty") {
        return Some(format!("made by {revision}: a revision with uncommitted changes"));
    }
    if revision.is_empty() || revision == "unknown" {
        return Some("made by a build that did not know its revision".into());
    }
    match git(root, &["cat-file", "-e", &format!("{revision}^{{commit}}")]) {
        Ok(_) => None,
        Err(_) => Some(format!("made by {revision}, which is not in this repository's history")),
    }
}

/// The expected directories, sorted (each holds a `run.json`).
fn expected_dirs(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let base = root.join(EXPECTED_ROOT);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .with_context(|| format!("cannot list {}", base.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(raw::RUN_FILE).is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Check 1: every expected directory's revision.
fn check_revisions(root: &Path, findings: &mut Findings) -> anyhow::Result<()> {
    for dir in expected_dirs(root)? {
        let what = relative(root, &dir);
        let meta = RunMeta::read(&dir)?;
        let Some(why) = revision_problem(root, &meta.git_revision) else { continue };
        if let Some((_, excuse)) = EXCEPTIONS.iter().find(|(path, _)| *path == what) {
            findings.excused.push((what, format!("{why}; let stand: {excuse}")));
            continue;
        }
        let remake = if what == PAPER_RUN {
            remake_paper_run()
        } else {
            format!(
                "remake it at a clean commit with `dpstudy reproduce --profile {}` (tables {}), or remove it if no \
                 result of the paper or the appendix reads it",
                meta.profile,
                meta.tables.join(",")
            )
        };
        findings.stale.push(StaleResult { what, why, remake });
    }
    Ok(())
}

/// The measured code that differs between `revision` and the working tree.
pub fn measured_changes(root: &Path, revision: &str) -> anyhow::Result<Vec<String>> {
    let mut args = vec!["diff", "--name-only", revision, "--"];
    args.extend(MEASURED_PATHS);
    let listed = git(root, &args)?;
    Ok(listed.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
}

/// The paper profile's plan as the run made it and as today's experiments file makes it.
fn plans(root: &Path, meta: &RunMeta, run_dir: &Path) -> anyhow::Result<(Plan, Plan)> {
    let options = PlanOptions {
        profile: meta.profile.clone(),
        tables: meta.tables.clone(),
        max_ranks: Some(meta.max_ranks),
        reps: meta.reps,
    };
    let then = Manifest::parse(&meta.experiments_toml, &run_dir.join(raw::RUN_FILE))?;
    let now = Manifest::load(Some(&root.join("artifact/experiments.toml")))?;
    Ok((Plan::new(&then, &options)?, Plan::new(&now, &options)?))
}

/// What differs between two plans, in words (`None`: the same cells, runs and settings).
/// The profile's description is prose, not a setting: rewording it stales nothing.
fn plan_difference(then: &Plan, now: &Plan) -> Option<String> {
    let settings = |p: &Plan| {
        let mut profile = p.profile.clone();
        profile.description.clear();
        format!("{profile:?}")
    };
    if settings(then) != settings(now) {
        return Some(format!("the profile's settings changed in artifact/experiments.toml ({})", now.profile_name));
    }
    let ids = |p: &Plan| p.cells.iter().map(|c| c.cell.id()).collect::<std::collections::BTreeSet<_>>();
    let (old, new) = (ids(then), ids(now));
    let added: Vec<&String> = new.difference(&old).collect();
    let gone: Vec<&String> = old.difference(&new).collect();
    if !added.is_empty() || !gone.is_empty() {
        let first = |v: &[&String]| v.iter().take(3).map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Some(format!(
            "artifact/experiments.toml plans other cells: {} new ({}), {} gone ({})",
            added.len(),
            first(&added),
            gone.len(),
            first(&gone)
        ));
    }
    (then.cells != now.cells)
        .then(|| "artifact/experiments.toml changed the runs or tables of the paper's cells".into())
}

/// Check 2: the runs the paper reads against today's measured code, and the paper run's
/// plan against today's experiments file.
fn check_measured_code(root: &Path, findings: &mut Findings) -> anyhow::Result<()> {
    for what in PAPER_READS {
        let dir = root.join(what);
        if !dir.join(raw::RUN_FILE).is_file() {
            continue;
        }
        let meta = RunMeta::read(&dir)?;
        let revision = meta.git_revision.trim_end_matches("-dirty");
        let changed = measured_changes(root, revision).unwrap_or_default();
        if !changed.is_empty() {
            let shown: Vec<&str> = changed.iter().take(6).map(String::as_str).collect();
            let more = if changed.len() > shown.len() {
                format!(" and {} more", changed.len() - shown.len())
            } else {
                "".into()
            };
            let why = format!("code that produces measurements changed since {revision}: {}{more}", shown.join(", "));
            match EXCEPTIONS.iter().find(|(path, _)| *path == what) {
                Some((_, excuse)) => findings.excused.push((what.to_string(), format!("{why}; let stand: {excuse}"))),
                None => findings.stale.push(StaleResult { what: what.into(), why, remake: remake_paper_run() }),
            }
        }
        if what == PAPER_RUN {
            let (then, now) = plans(root, &meta, &dir)?;
            if let Some(why) = plan_difference(&then, &now) {
                findings.stale.push(StaleResult { what: what.into(), why, remake: remake_paper_run() });
            }
        }
    }
    Ok(())
}

/// The files under `dir`'s report folders, relative to `dir`, sorted.
fn outputs(dir: &Path) -> Vec<String> {
    let mut files = vec![];
    for sub in PAPER_OUTPUTS {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| format!("{sub}/{}", e.file_name().to_string_lossy())),
        );
    }
    files.sort();
    files
}

/// Check 3: the paper's tables, figures and macros against what `report` makes today from
/// the committed paper run (in a scratch copy, so the committed directory is untouched).
fn check_paper_outputs(root: &Path, findings: &mut Findings) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let run = scratch.0.join("run");
    copy_dir(&root.join(PAPER_RUN), &run)?;
    let made = scratch.0.join("paper");
    let config = super::ReportConfig {
        claims: Some(root.join("artifact/claims.toml")),
        paper_dir: Some(made.clone()),
        expected: None,
    };
    super::report(&run, &config).context("cannot make the paper's tables and figures from the paper run")?;
    // The cost model's tables (M1-M3) and figure come from the same run, by `dpstudy model`.
    super::cost_model::model_command(std::slice::from_ref(&run), &scratch.0.join("model"), Some(&made))
        .context("cannot make the cost model's tables from the paper run")?;
    let paper = root.join(PAPER_DIR);
    let (want, have) = (outputs(&made), outputs(&paper));
    let remake = format!(
        "`dpstudy report {PAPER_RUN} --paper-dir {PAPER_DIR}` and `dpstudy model {PAPER_RUN} --out <scratch> \
         --paper-dir {PAPER_DIR}`, then commit {PAPER_DIR}/tables and {PAPER_DIR}/figures"
    );
    let mut differ = vec![];
    for file in &want {
        let (a, b) = (std::fs::read(made.join(file)).ok(), std::fs::read(paper.join(file)).ok());
        match b {
            None => differ.push(format!("{file} missing")),
            Some(b) if Some(&b) != a.as_ref() => differ.push(format!("{file} differs")),
            Some(_) => {}
        }
    }
    differ.extend(have.iter().filter(|f| !want.contains(f)).map(|f| format!("{f} is not made by the paper run")));
    if !differ.is_empty() {
        let shown: Vec<&str> = differ.iter().take(6).map(String::as_str).collect();
        let more =
            if differ.len() > shown.len() { format!(" and {} more", differ.len() - shown.len()) } else { "".into() };
        findings.stale.push(StaleResult {
            what: format!("{PAPER_DIR}/{{tables,figures}}"),
            why: format!("not what today's code makes from {PAPER_RUN}: {}{more}", shown.join("; ")),
            remake,
        });
    }
    Ok(())
}

/// A directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("dpstudy-provenance-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}

/// Every check on the repository at `root`.
pub fn check(root: &Path) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();
    check_revisions(root, &mut findings)?;
    check_measured_code(root, &mut findings)?;
    check_paper_outputs(root, &mut findings)?;
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with one commit, in a scratch directory.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["init", "-q"]);
        std::fs::create_dir_all(dir.path().join("src/train")).unwrap();
        std::fs::write(dir.path().join("src/train/step.rs"), "fn step() {}\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "readme\n").unwrap();
        run(&["add", "."]);
        run(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"]);
        dir
    }

    fn head(root: &Path) -> String {
        git(root, &["rev-parse", "--short=12", "HEAD"]).unwrap()
    }

    #[test]
    fn a_dirty_or_unknown_revision_is_named() {
        let dir = repo();
        let rev = head(dir.path());
        assert_eq!(revision_problem(dir.path(), &rev), None);
        let dirty = revision_problem(dir.path(), &format!("{rev}-dirty")).unwrap();
        assert!(dirty.contains("uncommitted"), "{dirty}");
        let lost = revision_problem(dir.path(), "8db1e5a0c0de").unwrap();
        assert!(lost.contains("not in this repository's history"), "{lost}");
    }

    #[test]
    fn a_change_to_measured_code_is_found_and_other_changes_are_not() {
        let dir = repo();
        let rev = head(dir.path());
        std::fs::write(dir.path().join("README.md"), "a new readme\n").unwrap();
        assert!(measured_changes(dir.path(), &rev).unwrap().is_empty());
        std::fs::write(dir.path().join("src/train/step.rs"), "fn step() { /* faster */ }\n").unwrap();
        assert_eq!(measured_changes(dir.path(), &rev).unwrap(), vec!["src/train/step.rs".to_string()]);
    }

    #[test]
    fn the_exception_is_an_expected_directory() {
        for (path, why) in EXCEPTIONS {
            assert!(path.starts_with(EXPECTED_ROOT) && *path != PAPER_RUN && !why.is_empty());
        }
    }

    /// The paper profile's plan from `toml`, the experiments file's text.
    fn plan_of(toml: &str) -> Plan {
        let manifest = Manifest::parse(toml, Path::new("experiments.toml")).unwrap();
        let options =
            PlanOptions { profile: "full-short".into(), tables: vec!["T1".into()], max_ranks: Some(2), reps: None };
        Plan::new(&manifest, &options).unwrap()
    }

    #[test]
    fn a_reworded_description_stales_nothing_and_a_changed_setting_does() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("artifact/experiments.toml")).unwrap();
        let then = plan_of(&text);
        let reworded = text.replacen("the paper's profile:", "the profile of the paper:", 1);
        assert_ne!(reworded, text);
        assert_eq!(plan_difference(&then, &plan_of(&reworded)), None);
        let start = text.find("[profiles.full-short]").unwrap();
        let iters = start + text[start..].find("\niters = 50").unwrap();
        let longer = format!("{}\niters = 60{}", &text[..iters], &text[iters + "\niters = 50".len()..]);
        let why = plan_difference(&then, &plan_of(&longer)).expect("50 to 60 iterations is a new plan");
        assert!(why.contains("settings changed"), "{why}");
    }
}
