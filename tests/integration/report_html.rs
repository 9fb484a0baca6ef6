//! `report.html`: the reviewer's page, built from the fixture run and rendered by headless
//! Chromium. The page must open offline (everything embedded), show the verdict block
//! first, and log no console error; the screenshot is checked for its size and for the
//! verdict banner's colour (green when every claim passed, red when one failed).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{assert_fails_with, checked_fixture, chromium, dpstudy, failing_rows, fixture_copy};
use dpstudy::experiment::raw;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The banner colours of the page's style sheet (`--pass-banner`, `--fail-banner`), used
/// nowhere else on the page.
const PASS_GREEN: [u8; 3] = [0x2d, 0xa4, 0x4e];
const FAIL_RED: [u8; 3] = [0xcf, 0x22, 0x2e];

/// A checked copy of the fixture in `tmp/name`, its report written with the page.
fn reported(tmp: &Path, name: &str, rows: Option<Vec<raw::RawRow>>, expected: Option<&Path>) -> PathBuf {
    let dir = checked_fixture(tmp, name, rows);
    let mut args = vec!["report", s(&dir), "--no-paper", "--html"];
    if let Some(e) = expected {
        args.extend(["--expected", s(e)]);
    }
    let out = dpstudy(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

/// Renders `page` in headless Chromium at `width` x `height`; returns the screenshot and
/// the browser's console messages.
fn screenshot(browser: &Path, page: &Path, width: u32, height: u32) -> (image::RgbImage, Vec<String>) {
    let shot = page.with_extension("png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("start chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    let console = stderr.lines().filter(|l| l.contains("CONSOLE")).map(String::from).collect();
    let image = image::open(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", shot.display())).to_rgb8();
    (image, console)
}

/// Pixels of `colour` in the top `rows` rows of the screenshot.
fn pixels_of(image: &image::RgbImage, colour: [u8; 3], rows: u32) -> usize {
    image.enumerate_pixels().filter(|(_, y, p)| *y < rows && p.0 == colour).count()
}

#[test]
fn the_page_is_self_contained_and_in_the_reviewers_order() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = reported(tmp.path(), "expected", None, None);
    let run = reported(tmp.path(), "run", Some(failing_rows()), Some(&expected));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle:?} in the page"));
    assert!(
        at("id=\"verdicts\"") < at("id=\"comparison\"")
            && at("id=\"comparison\"") < at("id=\"tables\"")
            && at("id=\"tables\"") < at("id=\"figures\"")
            && at("id=\"figures\"") < at("id=\"environment\"")
    );
    let check = dpstudy::report::claims::CheckRecord::read(&run).unwrap();
    let failed = check.count(dpstudy::report::claims::Outcome::Fail);
    assert!(failed > 0 && html.contains(&format!("claims passed, {failed} failed")), "the failing verdicts lead");
    assert!(html.contains("<div class=\"banner fail\">"));
    // Every figure embedded, nothing fetched, no script.
    assert_eq!(html.matches("<img src=\"data:image/png;base64,").count(), html.matches("<img ").count());
    assert!(html.matches("<img ").count() >= 7, "one figure per table");
    for external in ["src=\"http", "href=\"http", "<link", "<script", "@import"] {
        assert!(!html.contains(external), "the page must open offline: {external}");
    }
    // The comparison: differences open, table by table; both environments.
    assert!(html.contains("<details open><summary>"), "differences are unfolded");
    assert!(html.contains("FAIL here, PASS expected"));
    assert!(html.contains(&format!("Against <code>{}</code>", expected.display())));
    assert!(html.contains("<th>this run</th><th>expected</th>"));
}

#[test]
fn reproduce_and_report_refuse_an_expected_directory_that_is_not_one() {
    let (_tmp, dir) = fixture_copy();
    assert!(dpstudy(&["check", s(&dir)]).status.success());
    let out = dpstudy(&["report", s(&dir), "--no-paper", "--html", "--expected", "/nonexistent/expected"]);
    assert_fails_with(&out, &["--expected /nonexistent/expected", "not a directory"]);
    assert!(!dir.join("report.html").exists() && !dir.join("tables").exists(), "nothing written");
    let out = dpstudy(&["reproduce", "--expected", "/nonexistent/expected", "--results-dir", s(&dir)]);
    assert_fails_with(&out, &["--expected /nonexistent/expected"]);
    // Without check.json the page cannot lead with verdicts: the error says what to run.
    std::fs::remove_file(dir.join("check.json")).unwrap();
    let out = dpstudy(&["report", s(&dir), "--no-paper", "--html"]);
    assert_fails_with(&out, &["check.json", "dpstudy check"]);
}

#[test]
fn chromium_renders_the_verdict_banner_first_without_console_errors() {
    let Some(browser) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let expected = reported(tmp.path(), "expected", None, None);
    let failing = reported(tmp.path(), "run", Some(failing_rows()), Some(&expected));
    for (dir, banner, other) in [(&expected, PASS_GREEN, FAIL_RED), (&failing, FAIL_RED, PASS_GREEN)] {
        // A desktop window and a phone's.
        for (width, height) in [(1200, 900), (390, 844)] {
            let (image, console) = screenshot(&browser, &dir.join("report.html"), width, height);
            assert_eq!(image.dimensions(), (width, height), "{}", dir.display());
            assert!(console.is_empty(), "console messages: {console:?}");
            // The banner spans the page's width near the top: thousands of its pixels in the
            // first screen, none of the other verdict's colour.
            let banner_pixels = pixels_of(&image, banner, height / 2);
            assert!(banner_pixels > 5_000, "{}: {banner_pixels} banner pixels at {width}px", dir.display());
            assert_eq!(pixels_of(&image, other, height), 0, "{}", dir.display());
        }
    }
    // The console check can fail: a page whose script throws is caught by the same function.
    let broken = tmp.path().join("broken.html");
    std::fs::write(&broken, "<!DOCTYPE html><p>x</p><script>throw new Error('dpstudy-broken');</script>").unwrap();
    let (_, console) = screenshot(&browser, &broken, 400, 300);
    assert!(console.iter().any(|l| l.contains("dpstudy-broken")), "{console:?}");
}
