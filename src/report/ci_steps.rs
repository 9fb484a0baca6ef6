//! The steps of a measured `.ci/run`, read from a committed excerpt of its log
//! (`artifact/ci/fresh-run.txt`: the log's own lines, selected by the `grep` its header
//! names) and written into the appendix by `dpstudy docs`, so that no build time, test
//! time or image size there is typed.

use std::fmt::Write as _;

/// The committed excerpt.
pub const RECORD: &str = "artifact/ci/fresh-run.txt";

/// Seconds of a cargo duration: `3m 03s`, `16m 23s`, `0.69s`.
fn cargo_seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in text.split_whitespace() {
        if let Some(m) = part.strip_suffix('m') {
            total += 60.0 * m.parse::<f64>().ok()?;
        } else if let Some(s) = part.strip_suffix('s') {
            total += s.parse::<f64>().ok()?;
        } else {
            return None;
        }
    }
    Some(total)
}

fn minutes_seconds(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s < 120 { format!("{s} s") } else { format!("{} min {:02} s", s / 60, s % 60) }
}

/// The text after `key` up to `end`.
fn between<'a>(line: &'a str, key: &str, end: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    Some(&rest[..rest.find(end).unwrap_or(rest.len())])
}

/// The table of steps, and a line for the whole run.
pub fn markdown(excerpt: &str) -> Result<String, String> {
    let lines: Vec<&str> = excerpt.lines().filter(|l| !l.starts_with('#')).collect();
    let header: Vec<&str> = excerpt.lines().filter_map(|l| l.strip_prefix("# ")).collect();
    let builds: Vec<f64> =
        lines.iter().filter_map(|l| between(l, "target(s) in ", "\n")).filter_map(cargo_seconds).collect();
    let mut rows: Vec<(String, String)> = vec![];
    let (clippy, test_build) = match builds.as_slice() {
        [clippy, test_build, ..] => (*clippy, *test_build),
        _ => return Err(format!("{RECORD}: fewer than two cargo builds (clippy, the test build)")),
    };
    rows.push(("clippy, every dependency in check mode".into(), minutes_seconds(clippy)));
    for l in lines.iter().filter(|l| l.starts_with("ci: ") && l.contains("(in the background)")) {
        let what = between(l, "ci: ", " (in the background)").unwrap_or("");
        let took = between(l, "after ", " s").and_then(|s| s.parse::<f64>().ok());
        if let Some(s) = took {
            rows.push((format!("in the background: `{what}`"), minutes_seconds(s)));
        }
    }
    rows.push(("the release test build".into(), minutes_seconds(test_build)));
    let tests: Vec<(u64, f64)> = lines
        .iter()
        .filter(|l| l.starts_with("test result:"))
        .filter_map(|l| {
            let passed = between(l, "ok. ", " passed")?.parse().ok()?;
            let s = between(l, "finished in ", "s")?.parse().ok()?;
            Some((passed, s))
        })
        .filter(|(passed, _)| *passed > 0)
        .collect();
    if !tests.is_empty() {
        let counts: Vec<String> = tests.iter().map(|t| t.0.to_string()).collect();
        let times: Vec<String> = tests.iter().map(|t| minutes_seconds(t.1)).collect();
        rows.push((format!("the tests ({} passed, unit and integration)", counts.join(" and ")), times.join(" and ")));
    }
    for l in lines.iter().filter(|l| l.starts_with("image-check: built --target ")) {
        let target = between(l, "--target ", " ").unwrap_or("");
        let took = between(l, " in ", " s").and_then(|s| s.parse::<f64>().ok());
        let size = l.rsplit(", ").next().unwrap_or("");
        if let Some(s) = took {
            rows.push((format!("image `--target {target}` (its size: {size})"), minutes_seconds(s)));
        }
    }
    for l in lines.iter().filter(|l| l.starts_with("reproduce: ") && l.contains(" runs done")) {
        let runs = between(l, "reproduce: ", " runs done").unwrap_or("?");
        // `... 17 cells not run in 12 min 32 s (estimated ...); results in DIR`
        let before_estimate = &l[..l.find(" (estimated").unwrap_or(l.len())];
        let took = before_estimate.rsplit(" in ").next().unwrap_or("?");
        rows.push((format!("the host's quick run ({runs} runs)"), took.to_string()));
    }
    for l in lines.iter().filter(|l| l.starts_with("image-check: docker run")) {
        rows.push(("`docker run artifact` (quick)".into(), between(l, " in ", "\n").unwrap_or("?").to_string()));
    }
    let mut out = String::new();
    if !header.is_empty() {
        let _ = writeln!(out, "From `{RECORD}`: {}\n", header.join(" "));
    }
    out.push_str("| step | time |\n| --- | --- |\n");
    for (step, time) in &rows {
        let _ = writeln!(out, "| {step} | {time} |");
    }
    if let Some(l) = lines.iter().find(|l| l.starts_with("rc=")) {
        let rc = between(l, "rc=", " ").unwrap_or("?");
        let total = between(l, "elapsed=", "\n").and_then(|s| s.parse::<f64>().ok());
        let verdict = if rc == "0" { "passed" } else { "stopped with a failure" };
        if let Some(t) = total {
            let _ = writeln!(out, "\nThe whole run {verdict} (exit status {rc}) after {}.", minutes_seconds(t));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_excerpt_becomes_the_step_table() {
        let excerpt = "# at commit abc\n    Finished `release` profile [optimized] target(s) in 3m 03s\n\
                       ci: bash -c x.sh (in the background): exit 0 after 125 s\n\
                       \x20   Finished `release` profile [optimized] target(s) in 16m 23s\n\
                       test result: ok. 162 passed; 0 failed; finished in 4.89s\n\
                       test result: ok. 0 passed; 0 failed; finished in 0.00s\n\
                       test result: ok. 128 passed; 0 failed; finished in 351.93s\n\
                       image-check: built --target cpu as artifact in 78 s, 420 MB\n\
                       reproduce: 505 runs done (104 added), 0 failed in 12 min 32 s (estimated 9 min); results in r/q\n\
                       rc=1 elapsed=3202\n";
        let table = markdown(excerpt).unwrap();
        for row in [
            "| clippy, every dependency in check mode | 3 min 03 s |",
            "| in the background: `bash -c x.sh` | 2 min 05 s |",
            "| the release test build | 16 min 23 s |",
            "| the tests (162 and 128 passed, unit and integration) | 5 s and 5 min 52 s |",
            "| image `--target cpu` (its size: 420 MB) | 78 s |",
            "| the host's quick run (505 runs) | 12 min 32 s |",
        ] {
            assert!(table.contains(row), "{row} missing:\n{table}");
        }
        assert!(table.contains("stopped with a failure (exit status 1) after 53 min 22 s"), "{table}");
        assert!(markdown("ci: nothing\n").is_err());
    }
}
