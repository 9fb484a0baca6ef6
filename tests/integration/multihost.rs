//! MPI across hosts: network namespaces joined by a bridge, one per "host", with Open MPI's
//! daemons started in them (artifact/cluster/emulate-hosts.sh). Ranks on different hosts
//! talk over TCP through the bridge, as on a cluster: the same weights as the sequential
//! run, traffic that really crossed the link, and the two faults a cluster adds (a remote
//! rank killed, a remote host's link down).
//!
//! Needs root (network namespaces). Without it the tests fail loudly, unless
//! `DPSTUDY_SKIP_MULTIHOST=1` says the caller knowingly runs without them.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dpstudy::model::init;

fn emulator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifact/cluster/emulate-hosts.sh")
}

/// Whether namespaces can be made here; a loud failure (or a loud skip) when they cannot.
fn hosts_available() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let netns = Command::new("ip").args(["netns", "list"]).output().is_ok_and(|o| o.status.success());
    if root && netns {
        return true;
    }
    let msg = "MULTI-HOST TEST NOT RUN: emulated hosts need root and `ip netns` (iproute2)";
    if std::env::var("DPSTUDY_SKIP_MULTIHOST").as_deref() == Ok("1") {
        eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_MULTIHOST=1) !!!!!!!!\n");
        false
    } else {
        panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_MULTIHOST=1 to skip these tests knowingly)");
    }
}

/// A namespace prefix no other test of this run uses (names are machine-wide).
fn prefix(tag: char) -> String {
    format!("t{}{tag}", std::process::id() % 10_000)
}

/// `sh -c SCRIPT` in the first of `hosts` emulated hosts; $BIN is dpstudy, $OUT a directory.
fn on_hosts(hosts: usize, prefix: &str, out: &Path, script: &str) -> Command {
    let mut cmd = Command::new(emulator());
    cmd.args(["--hosts", &hosts.to_string(), "--prefix", prefix, "--", "sh", "-c", script])
        .env("BIN", env!("CARGO_BIN_EXE_dpstudy"))
        .env("OUT", out)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd
}

/// The training flags every run of these tests shares (synthetic data: the real-data
/// equivalence is the single-host tests'; here the network is under test).
const TRAIN: &str = "train --data synthetic --samples 3000 --hidden 20 --epochs 1 --iters 20 --dtype f64 --quiet";

/// The sequential run of `train` (flags) on this host: `out/seq.safetensors`, its data and
/// weights cached in `out/cache` for the MPI runs to share.
fn train_sequential(out: &Path, train: &str) {
    let seq = Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(train.split(' '))
        .args(["--cache-dir", out.join("cache").to_str().unwrap()])
        .args(["--save-weights", out.join("seq.safetensors").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(seq.status.success(), "{}", String::from_utf8_lossy(&seq.stderr));
}

#[test]
fn ranks_on_several_hosts_train_the_sequential_model_over_tcp() {
    if !hosts_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    train_sequential(out, TRAIN);
    // The gradient is 20 x 401 + 10 x 21 doubles; each of the 20 steps moves at least half
    // of it out of the first host, whatever the collective's algorithm.
    let gradient_bytes = (20 * 401 + 10 * 21) * 8;
    for (hosts, np) in [(2, 2), (3, 3), (2, 4)] {
        for sync in ["allreduce", "gather-bcast"] {
            let name = format!("h{hosts}-p{np}-{sync}");
            let script = format!(
                "before=$(cat /sys/class/net/eth0/statistics/tx_bytes)
                 mpirun --oversubscribe --hostfile \"$DPSTUDY_HOSTFILE\" --map-by node -np {np} \"$BIN\" {TRAIN} \
                   --mode mpi --sync {sync} --cache-dir \"$OUT/cache\" --save-weights \"$OUT/{name}.safetensors\"
                 status=$?
                 echo tx_bytes=$(( $(cat /sys/class/net/eth0/statistics/tx_bytes) - before ))
                 exit $status"
            );
            let o: Output = on_hosts(hosts, &prefix('e'), out, &script).output().unwrap();
            assert_no_namespaces_left(&prefix('e'));
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{name}: {stdout}\n{}", String::from_utf8_lossy(&o.stderr));
            let (a, b) = (
                init::load_any(&out.join("seq.safetensors")).unwrap(),
                init::load_any(&out.join(format!("{name}.safetensors"))).unwrap(),
            );
            let diff = a.max_relative_diff(&b, 1e-12);
            assert!(diff <= 1e-10, "{name}: weights differ from the sequential run's by {diff:e}");
            let tx: usize = stdout.lines().find_map(|l| l.strip_prefix("tx_bytes=")).unwrap().trim().parse().unwrap();
            assert!(tx >= 20 * gradient_bytes / 2, "{name}: only {tx} bytes left the first host");
            eprintln!("{name}: relative weight difference {diff:e}, {tx} bytes out of h1");
        }
    }
}

/// A long MPI job over two hosts, started in the background; ranks 0 (h1) and 1 (h2).
fn long_job(prefix: &str, out: &Path, timeout_s: &str) -> Child {
    let script = format!(
        "mpirun --oversubscribe --hostfile \"$DPSTUDY_HOSTFILE\" --map-by node -np 2 \
           -x DPSTUDY_COLLECTIVE_TIMEOUT={timeout_s} \"$BIN\" train --mode mpi --data synthetic --samples 20000 \
           --epochs 1000 --quiet --cache-dir \"$OUT/cache\" --out \"$OUT/never.json\""
    );
    on_hosts(2, prefix, out, &script).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits until rank 1 trains, runs `fault`, and returns the job's status, stderr and the
/// seconds from the fault to its end (killing the job after `limit`).
fn fault_run(prefix: &str, timeout_s: &str, limit: Duration, fault: impl FnOnce(u32)) -> (bool, String, f64, bool) {
    let tmp = tempfile::tempdir().unwrap();
    let never = tmp.path().join("never.json");
    let mut child = long_job(prefix, tmp.path(), timeout_s);
    let rank1 = common::wait_for_rank(never.to_str().unwrap(), 1);
    std::thread::sleep(Duration::from_secs(4));
    assert!(child.try_wait().unwrap().is_none(), "the job ended before the fault");
    let at = Instant::now();
    fault(rank1);
    let Some(status) = common::wait_at_most(&mut child, limit) else {
        let ps = Command::new("ps").args(["-eo", "pid,ppid,stat,etime,args", "--forest"]).output().unwrap();
        // TERM, not KILL: the emulator's teardown ends every process of its hosts.
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
        assert_no_namespaces_left(prefix);
        panic!(
            "the job was still running {limit:?} after the fault; its stderr:\n{stderr}\nprocesses:\n{}",
            String::from_utf8_lossy(&ps.stdout)
        );
    };
    let seconds = at.elapsed().as_secs_f64();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_no_namespaces_left(prefix);
    (status.success(), stderr, seconds, never.exists())
}

#[test]
fn a_rank_killed_on_a_remote_host_ends_the_job_naming_it() {
    if !hosts_available() {
        return;
    }
    let (ok, stderr, seconds, wrote) = fault_run(&prefix('k'), "30", Duration::from_secs(30), |rank1| {
        assert!(Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap().success());
    });
    eprintln!("killed rank 1 on h2: the job ended {seconds:.1} s later");
    assert!(!ok, "the job exited 0:\n{stderr}");
    assert!(stderr.contains("rank 1") && stderr.contains("h2"), "the message names neither rank 1 nor h2:\n{stderr}");
    assert!(seconds < 15.0, "took {seconds:.1} s");
    assert!(!wrote, "a result file was written");
}

#[test]
fn a_remote_hosts_link_going_down_ends_the_job_by_the_watchdog() {
    if !hosts_available() {
        return;
    }
    let prefix = prefix('l');
    let h2 = format!("{prefix}h2");
    let (ok, stderr, seconds, wrote) = fault_run(&prefix, "5", Duration::from_secs(40), |_| {
        assert!(Command::new("ip").args(["-n", &h2, "link", "set", "eth0", "down"]).status().unwrap().success());
    });
    eprintln!("h2's link down: the job ended {seconds:.1} s later");
    assert!(!ok, "the job exited 0:\n{stderr}");
    assert!(
        stderr.contains("rank 0 on host h1") && stderr.contains("rank 1 on h2") && stderr.contains("got no answer"),
        "the watchdog's message is missing:\n{stderr}"
    );
    // The 5 s limit, the watchdog's 0.2 s tick, and mpirun's end (within 2 s of each of its signals).
    assert!(seconds < 15.0, "took {seconds:.1} s");
    assert!(!wrote, "a result file was written");
}

/// The README's recipe: `reproduce` with a hostfile in --mpirun-args runs its MPI cells
/// across the hosts, and every run records the host of each rank.
#[test]
fn reproduce_runs_its_mpi_cells_across_hosts() {
    if !hosts_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let prefix = prefix('r');
    let script = "\"$BIN\" reproduce --tables T3 --reps 1 --data synthetic --results-dir \"$OUT/results\" \
                  --no-paper --cache-dir \"$OUT/cache\" --mpirun-args \"--hostfile $DPSTUDY_HOSTFILE --map-by node\"";
    let o = on_hosts(2, &prefix, out, script).output().unwrap();
    assert_no_namespaces_left(&prefix);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // The verdicts may differ on emulated hosts; every run must have finished.
    let results = std::fs::read_dir(out.join("results")).unwrap().next().unwrap().unwrap().path();
    let raw =
        std::fs::read_to_string(results.join("raw.csv")).unwrap_or_else(|e| panic!("no raw.csv ({e}):\n{stderr}"));
    let mut header = raw.lines().next().unwrap().split(',');
    let status = header.position(|c| c == "status").unwrap();
    for row in raw.lines().skip(1) {
        if row.split(',').nth(status) != Some("ok") {
            // The failed run's own log, which the temporary directory takes with it.
            let logs: Vec<String> = std::fs::read_dir(results.join("logs"))
                .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| row.split(',').nth(3).is_some_and(|cell| p.to_string_lossy().contains(cell)))
                .map(|p| format!("{}:\n{}", p.display(), std::fs::read_to_string(&p).unwrap_or_default()))
                .collect();
            panic!("a run failed: {row}\n{}\n{stderr}", logs.join("\n"));
        }
    }
    let mut mpi_runs = 0;
    for entry in std::fs::read_dir(results.join("runs")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let run: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        let hosts: Vec<&str> = run["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        if name.starts_with("mpi-") && name.contains("-p2-") {
            assert_eq!(hosts, ["h1", "h2"], "{name}");
            mpi_runs += 1;
        } else if name.starts_with("original") || name.starts_with("torch-ddp") {
            // The baselines are one-host programs: their ranks stay on the first host,
            // whatever hostfile the environment gives mpirun.
            assert!(!hosts.is_empty() && hosts.iter().all(|h| *h == "h1"), "{name}: {hosts:?}");
        } else {
            assert_eq!(hosts, ["h1"], "{name}: every single-process run trains on the first host");
        }
    }
    assert!(mpi_runs >= 2, "only {mpi_runs} MPI runs with P = 2");
    // The communication sweep ran where the cells ran, and names no transport it cannot know.
    let sweep = dpstudy::commbench::CommBenchRecord::read(&results.join("commbench/hostfile-p2.json"))
        .unwrap_or_else(|e| panic!("{e:#}\n{stderr}"));
    assert_eq!((sweep.hosts.clone(), sweep.transport, sweep.wrong()), (vec!["h1".into(), "h2".into()], None, 0));
}

/// A sweep across two emulated hosts: every result right, both hosts named, the transport
/// as given; and a sweep that claims shared memory across hosts refused.
#[test]
fn commbench_sweeps_across_hosts_and_refuses_a_wrong_transport() {
    if !hosts_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let prefix = prefix('c');
    let mpirun = "mpirun --oversubscribe --hostfile \"$DPSTUDY_HOSTFILE\" --map-by node -np 2 \"$BIN\" commbench \
                  --max-bytes 65536 --budget-ms 2";
    let script = format!(
        "{mpirun} --transport tcp --out \"$OUT/tcp.json\" && ! {mpirun} --transport shared-memory --out \"$OUT/shm.json\" 2>\"$OUT/err\""
    );
    let o = on_hosts(2, &prefix, out, &script).output().unwrap();
    assert_no_namespaces_left(&prefix);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sweep = dpstudy::commbench::CommBenchRecord::read(&out.join("tcp.json")).unwrap();
    assert_eq!(sweep.hosts, ["h1", "h2"]);
    assert_eq!(sweep.transport.map(|t| t.name()).as_deref(), Some("tcp"));
    assert_eq!((sweep.rows.len(), sweep.wrong()), (3 * 14, 0));
    let err = std::fs::read_to_string(out.join("err")).unwrap();
    assert!(err.contains("--transport shared-memory, but the ranks ran on 2 hosts"), "{err}");
    assert!(!out.join("shm.json").exists());
}

/// Every namespace an emulated cluster made is gone once its command ended.
fn assert_no_namespaces_left(prefix: &str) {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left: Vec<String> =
        String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.starts_with(prefix)).map(String::from).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// Stopped while its command still runs (as when a test fails or CI is cancelled), the
/// emulator removes its hosts and ends their processes.
#[test]
fn a_cluster_stopped_mid_command_leaves_nothing_behind() {
    if !hosts_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prefix = prefix('t');
    let mut child =
        on_hosts(2, &prefix, tmp.path(), "sleep 600").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        if String::from_utf8_lossy(&list.stdout).contains(&format!("{prefix}h2")) {
            break;
        }
        assert!(Instant::now() < deadline, "the hosts never came up");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let Some(status) = common::wait_at_most(&mut child, Duration::from_secs(10)) else {
        let _ = child.kill();
        panic!("the emulator still ran 10 s after TERM");
    };
    assert!(!status.success());
    assert_no_namespaces_left(&prefix);
}

#[test]
fn the_exact_reduction_gives_the_sequential_bits_across_hosts() {
    if !hosts_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // 3,001 rows: divisible neither by 2 or 3 ranks nor by the 64 blocks.
    let train = format!("{} --samples 3001 --reduce exact", TRAIN.replace(" --samples 3000", ""));
    train_sequential(out, &train);
    let expected = std::fs::read(out.join("seq.safetensors")).unwrap();
    for (hosts, sync) in [(2, "allreduce"), (3, "gather-bcast"), (3, "allreduce")] {
        let name = format!("exact-h{hosts}-{sync}");
        let script = format!(
            "mpirun --oversubscribe --hostfile \"$DPSTUDY_HOSTFILE\" --map-by node -np {hosts} \"$BIN\" {train} \
               --mode mpi --sync {sync} --cache-dir \"$OUT/cache\" --save-weights \"$OUT/{name}.safetensors\""
        );
        let o: Output = on_hosts(hosts, &prefix('x'), out, &script).output().unwrap();
        assert_no_namespaces_left(&prefix('x'));
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let weights = std::fs::read(out.join(format!("{name}.safetensors"))).unwrap();
        assert!(weights == expected, "{name}: the weights are not the sequential run's bits");
    }
}
