//! The artifact's files that no Rust code path exercises: the Dockerfile's shape (pinned
//! bases, RUN steps that are scripts of the repository, MNIST checked with the checksums the
//! reader verifies, every target built by CI), the appendix's claims table (generated,
//! never stale) and the committed results' provenance (`dpstudy provenance`). CI builds and
//! runs the image itself (artifact/docker/ci/image-check.sh); these checks fail faster, and
//! on what a build on this machine cannot see (the pins).

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Dockerfile lines with continuations joined.
fn instructions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current += head;
            current.push(' ');
        } else {
            current += trimmed;
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[test]
fn every_base_image_is_pinned_by_digest() {
    let text = read("Dockerfile");
    let ins = instructions(&text);
    let images: Vec<&String> = ins.iter().filter(|l| l.starts_with("ARG ") && l.contains("_IMAGE=")).collect();
    assert_eq!(images.len(), 2, "{images:?}");
    for arg in &images {
        let (_, reference) = arg.split_once('=').unwrap();
        let (tag, digest) = reference.split_once("@sha256:").unwrap_or_else(|| panic!("not pinned: {arg}"));
        assert!(tag.contains(':') && !tag.ends_with(":latest"), "an exact tag: {arg}");
        assert!(digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()), "a full digest: {arg}");
    }
    let stages: Vec<&str> =
        ins.iter().filter_map(|l| l.strip_prefix("FROM ")).map(|l| l.split_whitespace().next().unwrap()).collect();
    for from in &stages {
        let ok = from.starts_with("${")
            || *from == "scratch"
            || ins.iter().any(|l| l.starts_with("FROM ") && l.ends_with(&format!(" AS {from}")));
        assert!(ok, "FROM {from}: neither a pinned ARG, scratch, nor an earlier stage");
    }
    // The default target is the last stage.
    assert!(ins.iter().rev().find(|l| l.starts_with("FROM ")).unwrap().ends_with(" AS cpu"));
    // Every image a user runs descends from cpu-base, which sets the entry point and the
    // Open MPI settings once.
    for image in ["cpu", "paper", "cuda"] {
        assert!(ins.iter().any(|l| l == &format!("FROM cpu-base AS {image}")), "{image} is not built on cpu-base");
    }
    assert!(ins.iter().any(|l| l == "ENTRYPOINT [\"dpstudy\"]"));
    for var in [
        "OMPI_ALLOW_RUN_AS_ROOT=1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
        "OMPI_MCA_btl_vader_single_copy_mechanism=none",
    ] {
        assert_eq!(ins.iter().filter(|l| l.starts_with("ENV ") && l.contains(var)).count(), 1, "{var} in cpu-base");
    }
}

#[test]
fn every_run_step_is_a_script_of_the_repository() {
    let ins = instructions(&read("Dockerfile"));
    let runs: Vec<&String> = ins.iter().filter(|l| l.starts_with("RUN ")).collect();
    assert!(runs.len() >= 5);
    for run in runs {
        for command in run["RUN ".len()..].split("&&") {
            // Skip cache mounts and environment assignments before the program.
            let program =
                command.split_whitespace().find(|w| !w.starts_with("--mount=") && !w.contains("=\"")).unwrap();
            let script = program.trim_start_matches("/src/").trim_start_matches("/artifact/");
            let ours =
                ["artifact/docker/", "artifact/gpu/", "artifact/baselines/"].iter().any(|d| script.starts_with(d));
            assert!(ours && script.ends_with(".sh"), "RUN calls {program}: {run}");
            let path = root().join(script);
            let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
            assert!(mode & 0o111 != 0, "{script} is not executable");
        }
    }
}

/// CI builds every target a user builds, and runs the images (not only their scripts).
#[test]
fn ci_builds_and_runs_every_target() {
    let ins = instructions(&read("Dockerfile"));
    let targets: Vec<&str> =
        ins.iter().filter_map(|l| l.strip_prefix("FROM ")).filter_map(|l| l.split(" AS ").nth(1)).collect();
    let check = read("artifact/docker/ci/image-check.sh");
    assert!(
        check.contains("for target in cpu paper cuda baselines; do"),
        "image-check.sh builds cpu, paper, cuda and baselines"
    );
    assert!(check.contains("--target gpu-bundle"));
    assert!(check.contains("artifact:baselines train"), "image-check.sh runs the baselines image");
    for user_target in ["cpu", "paper", "cuda", "gpu-bundle", "baselines"] {
        assert!(targets.contains(&user_target), "no stage {user_target}: {targets:?}");
    }
    assert!(
        read(".ci/run").lines().any(|l| l.starts_with("artifact/docker/ci/image-check.sh ")),
        ".ci/run does not run image-check.sh"
    );
}

/// A user's build compiles everything from an empty target directory; only CI seeds it (with
/// what its host tests compiled), and both build stages start from that seed.
#[test]
fn only_ci_seeds_the_target_directory() {
    let ins = instructions(&read("Dockerfile"));
    assert!(ins.iter().any(|l| l == "ARG TARGET_SEED=scratch"), "the seed defaults to an empty image");
    assert!(ins.iter().any(|l| l == "FROM ${TARGET_SEED} AS target-seed"));
    let builds: Vec<&String> =
        ins.iter().filter(|l| l.starts_with("RUN ") && l.contains("target=/src/target")).collect();
    assert_eq!(builds.len(), 2, "the cpu and cuda builds: {builds:?}");
    for run in builds {
        assert!(run.contains("--mount=type=cache,target=/src/target,from=target-seed,"), "{run}");
        // The seed's fingerprints name the sources under root's cargo home.
        assert!(run.contains("--mount=type=cache,target=/root/.cargo/registry,"), "{run}");
    }
    assert!(read(".ci/run").contains("image-check.sh build --seed \"$CARGO_TARGET_DIR\""));
}

/// The image's data stage fetches MNIST with fetch-mnist.sh, which checks each file against
/// the published SHA-256 of its .gz or decompressed form: the sums the reader verifies.
#[test]
fn mnist_is_fetched_with_the_checksums_the_reader_verifies() {
    let ins = instructions(&read("Dockerfile"));
    assert!(ins.iter().any(|l| l.starts_with("RUN ") && l.contains("artifact/docker/fetch-mnist.sh /mnist")));
    // The default data directory holds the test pair alone, which the quick profile reads as
    // on the host (with the training pair beside it, the pool would start with training
    // images); all four files sit in data/mnist-full.
    assert!(ins.iter().any(|l| l == "COPY --from=data /mnist/t10k-* /artifact/data/mnist/"));
    assert!(ins.iter().any(|l| l == "COPY --from=data /mnist/ /artifact/data/mnist-full/"));
    assert!(!ins.iter().any(|l| l.starts_with("ADD ")), "no ADD: Docker 20.10 cannot check an ADD's checksum");
    let script = read("artifact/docker/fetch-mnist.sh");
    let lines: Vec<&str> = script.lines().filter(|l| l.contains("-idx")).collect();
    for file in dpstudy::data::checksum::ALL {
        let line = format!("{} {} {}", file.raw_name(), file.gz_sha256, file.raw_sha256);
        assert!(lines.iter().any(|l| l.trim_start_matches("files=\"").trim_end_matches('"') == line), "{line}");
    }
}

#[test]
fn the_appendix_claims_table_is_generated_from_claims_toml() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy")).arg("claims").current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().count() >= 10, "{table}");
    let appendix = read("artifact/README.md");
    assert!(
        appendix.contains(&table),
        "artifact/README.md's claims table is stale: replace it with the output of `dpstudy claims`:\n{table}"
    );
}

#[test]
fn every_build_stage_records_the_clones_revision_or_stops() {
    // The context carries .git (build.rs reads the revision from it), and no stage falls
    // back to a revision of "unknown": without one the build stops (DPSTUDY_REQUIRE_REVISION).
    let ignored = read(".dockerignore");
    assert!(!ignored.lines().any(|l| l.trim().trim_end_matches('/') == ".git"), ".dockerignore drops .git");
    let ins = instructions(&read("Dockerfile"));
    let builds: Vec<&String> = ins.iter().filter(|l| l.contains("build.sh /out")).collect();
    assert_eq!(builds.len(), 2, "the cpu and cuda builds: {builds:?}");
    let args: Vec<&String> = ins.iter().filter(|l| l.starts_with("ARG DPSTUDY_GIT_REVISION")).collect();
    assert!(!args.is_empty() && args.iter().all(|a| a.as_str() == "ARG DPSTUDY_GIT_REVISION="), "{args:?}");
    let required = ins.iter().filter(|l| l.starts_with("ENV ") && l.contains("DPSTUDY_REQUIRE_REVISION=1")).count();
    assert_eq!(required, 2, "both build stages require a revision");
    assert!(read("artifact/docker/install-deps.sh").contains("missing+=(git)"), "the build image has git");
}

#[test]
fn the_version_names_the_revision() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy")).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("dpstudy {} (revision ", env!("CARGO_PKG_VERSION"));
    let revision = text.trim().strip_prefix(&prefix).and_then(|r| r.strip_suffix(')'));
    assert!(revision.is_some_and(|r| !r.is_empty() && r != "unknown"), "{text}");
}

#[test]
fn the_documents_generated_regions_match_the_committed_records() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["docs", "--check", "--root", root().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a generated region of README.md or the appendix is stale (run `dpstudy docs` and commit):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_stale_region_is_named_and_nothing_is_written_under_check() {
    let tmp = tempfile::tempdir().unwrap();
    for doc in dpstudy::report::docs::DOCUMENTS {
        let to = tmp.path().join(doc);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join(doc), &to).unwrap();
    }
    for record in
        [dpstudy::report::docs::BENCH_RECORD, dpstudy::report::docs::REDUCE_RECORD, dpstudy::report::ci_steps::RECORD]
    {
        std::fs::create_dir_all(tmp.path().join(record).parent().unwrap()).unwrap();
        std::fs::copy(root().join(record), tmp.path().join(record)).unwrap();
    }
    // The paper run, which the paper-run and paper-map regions are made from.
    let run = dpstudy::report::provenance::PAPER_RUN;
    std::fs::create_dir_all(tmp.path().join(run)).unwrap();
    for file in ["run.json", "raw.csv", "check.json"] {
        std::fs::copy(root().join(run).join(file), tmp.path().join(run).join(file)).unwrap();
    }
    let readme = tmp.path().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let marker = "<!-- generated: bench-summary -->\n";
    let stale = text.replacen(marker, &format!("{marker}| f32 | 50 | typed by hand | 1.0 ms | 99% |\n"), 1);
    assert_ne!(stale, text, "README.md has the bench-summary region");
    std::fs::write(&readme, &stale).unwrap();
    let check = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
            .args(args)
            .args(["--root", tmp.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = check(&["docs", "--check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stale region passed the check");
    assert!(stderr.contains("README.md stale: bench-summary") && stderr.contains("run `dpstudy docs`"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), stale, "--check wrote the file");
    // Without --check the region is rewritten, and then the check passes.
    assert!(check(&["docs"]).status.success());
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), text);
    assert!(check(&["docs", "--check"]).status.success());
}

/// The paper stands on one committed run of today's measured code: `dpstudy provenance`
/// fails on an expected directory made by a dirty or unknown revision, on measured code
/// changed since the paper run, and on paper tables or figures that `report` and `model`
/// would make differently today. Its message names each stale result and its remake.
#[test]
fn every_committed_result_describes_todays_code() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .arg("provenance")
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dpstudy provenance failed:\n{stderr}");
    assert!(stderr.contains("every committed result describes today's code"), "{stderr}");
}
