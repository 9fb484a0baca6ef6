//! The headless browser that renders report.html.

use std::path::PathBuf;

/// Headless Chromium (`DPSTUDY_CHROMIUM`, else `chromium` on PATH). Missing, it is a
/// failure, loudly, unless `DPSTUDY_SKIP_BROWSER=1` says the caller knowingly runs without
/// it (then `None`, and the test says it did not run).
pub fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("DPSTUDY_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join("chromium")).find(|p| p.is_file()))
    });
    if let Some(browser) = found.filter(|p| p.is_file()) {
        return Some(browser);
    }
    let msg = "BROWSER TEST NOT RUN: no headless Chromium (install Debian's `chromium`, or set DPSTUDY_CHROMIUM)";
    if std::env::var("DPSTUDY_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_BROWSER=1) !!!!!!!!\n");
        None
    } else {
        panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_BROWSER=1 to skip these tests knowingly)");
    }
}
