//! `dpstudy merge`: a CPU machine's run and a GPU machine's run become one results
//! directory, each cell from the machine that ran it, which `report` and `check` read.

use std::path::{Path, PathBuf};
use std::process::Command;

use dpstudy::experiment::merge::{MACHINES_FILE, Machines};
use dpstudy::experiment::raw::{self, RawRow, RunMeta, Status};
use dpstudy::train::Mode;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run")
}

fn copy_fixture(to: &Path, hostname: &str) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["raw.csv", "run.json"] {
        std::fs::copy(fixture().join(name), to.join(name)).unwrap();
    }
    let env = std::fs::read_to_string(fixture().join("env.json")).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&env).unwrap();
    env["hostname"] = hostname.into();
    std::fs::write(to.join("env.json"), env.to_string()).unwrap();
    // The machine's communication sweep, named by its host.
    let sweep = std::fs::read_to_string(fixture().join("commbench/shared-memory-p2.json")).unwrap();
    let mut sweep: serde_json::Value = serde_json::from_str(&sweep).unwrap();
    sweep["hosts"] = serde_json::json!([hostname]);
    std::fs::create_dir_all(to.join("commbench")).unwrap();
    std::fs::write(to.join("commbench/shared-memory-p2.json"), sweep.to_string()).unwrap();
}

/// The fixture as a GPU machine would have run it: every GPU cell of T1 ran, at a tenth of
/// the sequential cell's time of the same N and H.
fn gpu_machine_run(dir: &Path) {
    copy_fixture(dir, "gpu-host");
    let rows = raw::read_rows(dir).unwrap();
    let mut out: Vec<RawRow> = Vec::new();
    for row in &rows {
        let gpu_of_t1 = row.mode == Mode::Gpu && row.tables.split(' ').any(|t| t == "T1");
        if !gpu_of_t1 {
            out.push(row.clone());
            continue;
        }
        // The sequential cell of the same work (T5's 10 x 100-step cell at the same N is not).
        let twin = |r: &&RawRow| {
            r.mode == Mode::Seq
                && (r.n, r.hidden, r.epochs, r.iters, r.test_n)
                    == (row.n, row.hidden, row.epochs, row.iters, row.test_n)
                && r.status == Status::Ok
                && !r.warmup
        };
        for seq in rows.iter().filter(twin) {
            let mut gpu = seq.clone();
            gpu.cell = row.cell.clone();
            gpu.tables = row.tables.clone();
            gpu.mode = Mode::Gpu;
            gpu.device = "NVIDIA H200".into();
            for t in [&mut gpu.compute_s, &mut gpu.update_s, &mut gpu.eval_s, &mut gpu.wall_s, &mut gpu.train_s] {
                *t = t.map(|s| s / 10.0);
            }
            out.push(gpu);
        }
    }
    raw::write_rows(dir, &out).unwrap();
}

fn dpstudy(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dpstudy")).args(args).current_dir(cwd).output().unwrap()
}

#[test]
fn a_gpu_machines_cells_fill_the_cpu_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (cpu, gpu, merged) = (tmp.path().join("cpu"), tmp.path().join("gpu"), tmp.path().join("merged"));
    copy_fixture(&cpu, "laptop");
    gpu_machine_run(&gpu);

    let out = dpstudy(&["merge", "cpu", "gpu", "--out", "merged"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cells from gpu-host"), "{stderr}");

    // Every GPU cell of T1 comes from the GPU machine, everything else from the first run.
    let machines = Machines::read(&merged).unwrap().expect("machines.json");
    let labels: Vec<&str> = machines.machines.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, ["laptop", "gpu-host"]);
    let rows = raw::read_rows(&merged).unwrap();
    for row in &rows {
        let from = machines.of_cell(&row.cell).unwrap();
        let gpu_of_t1 = row.mode == Mode::Gpu && row.tables.split(' ').any(|t| t == "T1");
        assert_eq!(from, if gpu_of_t1 { "gpu-host" } else { "laptop" }, "{}", row.cell);
        if gpu_of_t1 {
            assert_eq!(row.status, Status::Ok);
            assert_eq!(row.device, "NVIDIA H200");
        }
    }
    // The first run's cells are its rows unchanged, in their order.
    let cpu_rows: Vec<RawRow> = raw::read_rows(&cpu).unwrap().into_iter().filter(|r| r.mode != Mode::Gpu).collect();
    let merged_cpu: Vec<RawRow> = rows.iter().filter(|r| r.mode != Mode::Gpu).cloned().collect();
    assert_eq!(cpu_rows, merged_cpu);
    let meta = RunMeta::read(&merged).unwrap();
    assert!(meta.finished.is_some());
    assert!(meta.cells_not_run < RunMeta::read(&cpu).unwrap().cells_not_run);
    // The sweep is the one of the machine whose MPI cells were chosen.
    let sweep = dpstudy::commbench::CommBenchRecord::read(&merged.join("commbench/shared-memory-p2.json")).unwrap();
    assert_eq!(sweep.hosts, ["laptop"]);

    // report labels the cells with their machines; the setup table has both.
    let out = dpstudy(&["report", "merged", "--no-paper"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t1 = std::fs::read_to_string(merged.join("tables/T1-time-vs-size.md")).unwrap();
    let note = t1.lines().find(|l| l.starts_with("Merged run.")).unwrap_or_else(|| panic!("no machines note: {t1}"));
    let (laptop, gpu_host) = note.split_once("Ran on gpu-host:").expect(note);
    assert_eq!(gpu_host.trim(), "gpu.", "{note}");
    for mode in ["seq", "mpi allreduce", "threads"] {
        assert!(laptop.contains(mode) && !laptop.contains("gpu"), "{note}");
    }
    let setup = std::fs::read_to_string(merged.join("tables/setup-environment.md")).unwrap();
    assert!(setup.contains("laptop") && setup.contains("gpu-host"), "{setup}");

    // The GPU claims now have GPU cells to read (the fabricated GPU is 10x the sequential).
    let out = dpstudy(&["check", "merged"], tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let c9 = text.lines().skip_while(|l| !l.starts_with("C9")).nth(1).unwrap_or_default();
    assert!(text.contains("C8   PASS") && text.contains("C9   PASS"), "{text}");
    assert_eq!(c9.trim(), "measured: H=50: GPU faster from N=2000", "{text}");
}

#[test]
fn runs_that_do_not_belong_together_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_fixture(&a, "one");
    copy_fixture(&b, "two");

    // Another profile.
    let run = b.join("run.json");
    let text = std::fs::read_to_string(&run).unwrap();
    std::fs::write(&run, text.replace("\"profile\": \"quick\"", "\"profile\": \"full\"")).unwrap();
    let out = dpstudy(&["merge", "a", "b", "--out", "m"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("b: its profile is full, but a's is quick"), "{stderr}");
    assert!(!tmp.path().join("m").exists(), "nothing is written");

    // An unfinished run.
    let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    meta["finished"] = serde_json::Value::Null;
    std::fs::write(&run, meta.to_string()).unwrap();
    let out = dpstudy(&["merge", "a", "b", "--out", "m"], tmp.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("b: the run did not finish"));

    // Another experiments file.
    let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    let toml = meta["experiments_toml"].as_str().expect("run.json records the experiments file").to_string();
    meta["experiments_toml"] = serde_json::Value::String(format!("{toml}\n# edited\n"));
    std::fs::write(&run, meta.to_string()).unwrap();
    let out = dpstudy(&["merge", "a", "b", "--out", "m"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("b: its run.json records a different experiments file than a's"), "{stderr}");
    assert!(!tmp.path().join("m").exists(), "nothing is written");

    // An existing output, and a single directory.
    std::fs::write(&run, text).unwrap();
    std::fs::create_dir(tmp.path().join("m")).unwrap();
    let out = dpstudy(&["merge", "a", "b", "--out", "m"], tmp.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("m exists"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dpstudy(&["merge", "a", "--out", "n"], tmp.path());
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--out"));
    assert!(!tmp.path().join(MACHINES_FILE).exists());
}
