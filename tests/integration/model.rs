//! `dpstudy model`: the cost model of a results directory's cells, its tables and figure,
//! and the refusal of directories it cannot fit.

use std::path::Path;

use crate::common::{assert_fails_with, dpstudy, fixture_copy};
use dpstudy::experiment::raw;
use dpstudy::train::Mode;

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
    assert!(stdout.contains("| compute | H=50, 2x20 steps |"), "{stdout}");
    assert!(stdout.contains("| allreduce | shared memory, P=2 |"), "{stdout}");
    assert!(stdout.contains("| p2p | shared memory, P=2 |"), "{stdout}");
    assert!(stdout.contains("commbench, 12 sizes 65536-8388608 B"), "{stdout}");
    assert!(
        stdout.contains("**M2: Cost model: each MPI cell's step, measured and predicted out of sample**"),
        "{stdout}"
    );
    assert!(stdout.contains("Nothing beyond P = 2 was measured"), "{stdout}");
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

/// The M1 table of `dir`'s model.
fn fits_of(dir: &Path, out: &Path) -> String {
    let o = dpstudy(&["model", s(dir), "--out", s(out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("tables/M1-model-fits.md")).unwrap()
}

#[test]
fn the_cells_it_predicts_never_move_the_models_constants() {
    // The MPI cells of P > 1 three times slower: the predictions miss by more, and every
    // fitted constant of M1 stays, since they come from the sweep and the sequential and
    // one-rank cells only.
    let (tmp, dir) = fixture_copy();
    let before = fits_of(&dir, &tmp.path().join("before"));
    let mut rows = raw::read_rows(&dir).unwrap();
    for r in rows.iter_mut().filter(|r| r.mode == Mode::Mpi && r.ranks > 1) {
        r.train_s = r.train_s.map(|t| t * 3.0);
    }
    raw::write_rows(&dir, &rows).unwrap();
    let after = fits_of(&dir, &tmp.path().join("after"));
    assert_eq!(before, after, "M1 moved with the predicted cells");
    assert_eq!(before.lines().filter(|l| l.starts_with('|') && l.contains("commbench")).count(), 3, "{before}");
    let predictions =
        |name| std::fs::read_to_string(tmp.path().join(name).join("tables/M2-model-predictions.md")).unwrap();
    assert_ne!(predictions("before"), predictions("after"));
    // Without a sweep there is nothing to predict the MPI cells with: no M2.
    std::fs::remove_dir_all(dir.join("commbench")).unwrap();
    let o = dpstudy(&["model", s(&dir), "--out", s(&tmp.path().join("none"))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!tmp.path().join("none/tables/M2-model-predictions.md").exists());
}
