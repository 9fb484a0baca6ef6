//! `dpstudy model`: the cost model of a results directory's cells, its tables and figure,
//! and the refusal of directories it cannot fit.

use std::path::Path;

use crate::common::{assert_fails_with, dpstudy};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_model_of_the_fixture_fits_predicts_and_extrapolates() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run");
    let tmp = tempfile::tempdir().unwrap();
    let out = dpstudy(&["model", s(&fixture), "--out", s(&tmp.path().join("m"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The fixture has sequential cells at several N and MPI cells at several H on one host.
    assert!(stdout.contains("| compute | H=50 |"), "{stdout}");
    assert!(stdout.contains("| allreduce | shared memory, P=2 |"), "{stdout}");
    assert!(stdout.contains("**M2: Cost model: each MPI cell's step, measured and predicted**"), "{stdout}");
    assert!(stdout.contains("**M3: MODEL, not measurement"), "{stdout}");
    for stem in ["M1-model-fits", "M2-model-predictions", "M3-model-extrapolation"] {
        for ext in ["md", "tex"] {
            assert!(tmp.path().join(format!("m/tables/{stem}.{ext}")).is_file(), "{stem}.{ext}");
        }
    }
    assert!(tmp.path().join("m/figures/fig-M3-model-speedup.png").is_file());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("predictions; the worst"), "{stderr}");
}

#[test]
fn a_directory_without_results_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = dpstudy(&["model", s(&empty), "--out", s(&tmp.path().join("m"))]);
    assert_fails_with(&out, &[s(&empty)]);
    assert!(!tmp.path().join("m").exists(), "nothing written");
}
