//! Records what a reader of results needs to know about the binary that produced them:
//! the git revision of its source, the compiler, and candle's version (from Cargo.lock).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=DPSTUDY_GIT_REVISION");
    println!("cargo:rerun-if-env-changed=DPSTUDY_REQUIRE_REVISION");
    // HEAD names the branch, the index the staged tree, the branch's ref and the reflog
    // move with every commit (HEAD's own text does not).
    for path in [".git/HEAD", ".git/index", ".git/refs/heads", ".git/logs/HEAD", "src", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    // DPSTUDY_GIT_REVISION, where given, wins (a build from a tarball without .git).
    let revision = std::env::var("DPSTUDY_GIT_REVISION").ok().filter(|r| !r.is_empty()).or_else(|| {
        let head = output("git", &["rev-parse", "--short=12", "HEAD"])?;
        let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        Some(if dirty { format!("{head}-dirty") } else { head })
    });
    // A build whose results must say where they came from (the images) stops here rather
    // than record "unknown".
    if revision.is_none() && std::env::var("DPSTUDY_REQUIRE_REVISION").as_deref() == Ok("1") {
        panic!(
            "no git revision to record: build from a git clone (the build reads .git), or pass \
             DPSTUDY_GIT_REVISION (docker build --build-arg DPSTUDY_GIT_REVISION=$(git describe --always \
             --dirty --abbrev=12))"
        );
    }
    println!("cargo:rustc-env=DPSTUDY_GIT_REVISION={}", revision.unwrap_or_else(|| "unknown".into()));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    println!("cargo:rustc-env=DPSTUDY_RUSTC={}", output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into()));
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let candle = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"candle-core\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DPSTUDY_CANDLE_VERSION={candle}");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        compile_tensor_ops();
    }
}

/// The `cuda` feature's own kernels (src/model/tensor_ops.cu) as PTX for the compute capability
/// the build targets (CUDA_COMPUTE_CAP, as for candle's kernels; default 90, H100/H200),
/// which the driver compiles for the GPU it finds.
fn compile_tensor_ops() {
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("tensor_ops.ptx");
    let status = Command::new("nvcc")
        .args(["--ptx", &format!("-arch=compute_{cap}"), "src/model/tensor_ops.cu", "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("nvcc --ptx src/model/tensor_ops.cu: {s}"),
        Err(e) => panic!("nvcc: {e}: the cuda feature needs nvcc on PATH (artifact/gpu/build.sh provides it)"),
    }
}
