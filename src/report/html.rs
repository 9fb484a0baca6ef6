//! `report.html`: a results directory on one self-contained page for a reviewer. The
//! verdicts come first, then the comparison with the expected results, then every table and
//! figure, then the environment of both runs. Figures are embedded PNGs (data URIs), the
//! style sheet is inline, and there is no script: the file opens offline, on a phone, and
//! prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::claims::{CheckRecord, Outcome};
use super::compare::{self, CLAIMS_GROUP, Comparison};
use super::table_format::{Align, Table};

/// The file `reproduce` and `report --html` write into a results directory.
pub const HTML_FILE: &str = "report.html";

/// The expected results the page compares with, or why there are none.
#[derive(Debug)]
pub enum Expected {
    Compared {
        dir: PathBuf,
        comparison: Comparison,
        env: Option<serde_json::Value>,
    },
    /// The directory is missing or cannot be compared: the page says so instead.
    Unavailable {
        dir: PathBuf,
        why: String,
    },
}

/// A figure, ready to embed.
#[derive(Debug)]
pub struct Figure {
    pub title: String,
    pub png: Vec<u8>,
}

/// Everything the page shows.
#[derive(Debug)]
pub struct Page<'a> {
    /// The results directory's name, as the title.
    pub name: String,
    /// `profile quick · dpstudy 0.1.0 (abc1234) · started ... · finished ...`.
    pub run_line: String,
    pub check: &'a CheckRecord,
    /// Runs that failed, each with its reason.
    pub failed_runs: Vec<(String, String)>,
    pub expected: Expected,
    pub tables: &'a [Table],
    pub figures: Vec<Figure>,
    pub env: Option<serde_json::Value>,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding), for the embedded figures.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const STYLE: &str = "
:root { --pass: #1a7f37; --fail: #c62828; --muted: #5f6368; --line: #d0d7de;
  --pass-banner: #2da44e; --fail-banner: #cf222e; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1f2328;
  margin: 0 auto; max-width: 1100px; padding: 12px; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { margin-top: 1.6em; border-bottom: 1px solid var(--line); }
h3 { margin-bottom: 0.3em; }
.muted { color: var(--muted); } code { font-size: 0.92em; }
.banner { padding: 12px 16px; border-radius: 6px; color: #fff; font-size: 1.2em; font-weight: 600; }
/* The banners' colours are used nowhere else: the browser test finds the banner by them. */
.banner.pass { background: var(--pass-banner); } .banner.fail { background: var(--fail-banner); }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.9em; }
th, td { border: 1px solid var(--line); padding: 3px 7px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; } td.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.PASS, td.ok, span.ok { color: var(--pass); font-weight: 600; }
td.FAIL, td.OUTSIDE, span.OUTSIDE { color: var(--fail); font-weight: 700; }
tr.OUTSIDE td { background: #fdecea; } td.NOTRUN, td.shown { color: var(--muted); }
td.INCONCLUSIVE { color: #8a5a00; font-weight: 600; }
details { margin: 4px 0 10px; } summary { cursor: pointer; color: var(--muted); }
figure { margin: 16px 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
.note { font-size: 0.85em; color: var(--muted); margin: 2px 0; }
@media (max-width: 600px) { body { font-size: 14px; padding: 6px; } th, td { padding: 2px 4px; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards tr:first-child { display: none; } table.cards tr { margin-bottom: 8px; border: 1px solid var(--line); }
  table.cards td { border: none; } table.cards td[data-label]::before { content: attr(data-label); color: var(--muted); } }
@media print { body { max-width: none; font-size: 10pt; } .scroll { overflow: visible; }
  h2 { break-after: avoid; } figure, tr { break-inside: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
";

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>dpstudy results: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>dpstudy results: {name}</h1>\n<p class=\"muted\">{line}</p>\n",
        name = escape(&page.name),
        line = escape(&page.run_line)
    );
    verdicts(&mut out, page);
    comparison(&mut out, &page.expected);
    out.push_str("<section id=\"tables\">\n<h2>Tables</h2>\n");
    for t in page.tables {
        table(&mut out, t);
    }
    out.push_str("</section>\n<section id=\"figures\">\n<h2>Figures</h2>\n");
    for f in &page.figures {
        let _ = writeln!(
            out,
            "<figure><img src=\"data:image/png;base64,{}\" alt=\"{t}\"><figcaption>{t}</figcaption></figure>",
            base64(&f.png),
            t = escape(&f.title)
        );
    }
    out.push_str("</section>\n");
    environment(&mut out, page);
    out.push_str("</body>\n</html>\n");
    out
}

/// The verdict block: one banner (green when every claim evaluated passed and every run
/// finished, red otherwise), then each claim.
fn verdicts(out: &mut String, page: &Page) {
    let c = page.check;
    let (passed, failed, not_run) = (c.count(Outcome::Pass), c.count(Outcome::Fail), c.count(Outcome::NotRun));
    let inconclusive = c.count(Outcome::Inconclusive);
    let good = failed == 0 && page.failed_runs.is_empty() && c.complete;
    let mut headline =
        format!("{passed} claims passed, {failed} failed, {inconclusive} inconclusive, {not_run} not run");
    if !page.failed_runs.is_empty() {
        let _ = write!(headline, "; {} runs failed", page.failed_runs.len());
    }
    if !c.complete {
        headline += "; the run is incomplete";
    }
    let _ = writeln!(
        out,
        "<section id=\"verdicts\">\n<h2>Verdicts</h2>\n<div class=\"banner {}\">{}</div>",
        if good { "pass" } else { "fail" },
        escape(&headline)
    );
    out.push_str("<div class=\"scroll\"><table class=\"cards\">\n<tr><th>claim</th><th>verdict</th><th>statement</th><th>measured</th><th>expected</th></tr>\n");
    for v in &c.verdicts {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td data-label=\"measured: \">{}</td>\
             <td data-label=\"expected: \">{}</td></tr>",
            escape(&v.id),
            v.outcome.as_str().replace(' ', ""),
            v.outcome.as_str(),
            escape(&v.claim),
            escape(&v.measured),
            escape(&v.expected)
        );
    }
    out.push_str("</table></div>\n");
    if !page.failed_runs.is_empty() {
        out.push_str("<h3>Failed runs</h3>\n<ul>\n");
        for (name, why) in &page.failed_runs {
            let _ = writeln!(out, "<li><code>{}</code>: {}</li>", escape(name), escape(why));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// The comparison, table by table: a summary per group, then its rows (differences first).
fn comparison(out: &mut String, expected: &Expected) {
    out.push_str("<section id=\"comparison\">\n<h2>Compared with the expected results</h2>\n");
    let (dir, c) = match expected {
        Expected::Unavailable { dir, why } => {
            let _ = writeln!(
                out,
                "<p>No comparison: {} ({}). Run <code>dpstudy compare RUN_DIR EXPECTED_DIR</code> with the \
                 expected results of this profile.</p>\n</section>",
                escape(why),
                escape(&dir.display().to_string())
            );
            return;
        }
        Expected::Compared { dir, comparison, .. } => (dir, comparison),
    };
    let _ = writeln!(
        out,
        "<p>Against <code>{}</code>. Seconds are shown, never judged; speedup and efficiency are judged on \
         their 95% confidence intervals (outside when the two sides' intervals lie apart by more than {}% of the \
         expected median), with the communication share, for cells that have a 95% interval on both sides. \
         <strong>{}</strong></p>",
        escape(&dir.display().to_string()),
        100.0 * compare::INTERVAL_TOLERANCE,
        escape(&c.summary())
    );
    for group in c.groups() {
        let rows: Vec<_> = c.rows.iter().filter(|r| r.group == group).collect();
        let outside = rows.iter().filter(|r| r.within == Some(false)).count();
        let judged = rows.iter().filter(|r| r.within.is_some()).count();
        let title = if group == CLAIMS_GROUP { "Claims".to_string() } else { format!("Tables {group}") };
        let _ = writeln!(
            out,
            "<h3>{}: <span class=\"{}\">{judged} judged, {outside} outside</span></h3>",
            escape(&title),
            if outside > 0 { "OUTSIDE" } else { "ok" }
        );
        // Differences open; agreement folded (a reader unfolds it, `<details>` needs no script).
        let _ = writeln!(
            out,
            "<details{}><summary>{} figures</summary>",
            if outside > 0 { " open" } else { "" },
            rows.len()
        );
        out.push_str(
            "<div class=\"scroll\"><table>\n<tr><th></th><th>cell or claim</th><th>figure</th><th>run</th>\
                <th>expected</th><th>difference</th><th>tolerance</th></tr>\n",
        );
        let mut ordered = rows.clone();
        ordered.sort_by_key(|r| match r.within {
            Some(false) => 0,
            Some(true) => 1,
            None => 2,
        });
        for r in ordered {
            let _ = writeln!(
                out,
                "<tr class=\"{v}\"><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td><td class=\"r\">{}</td>\
                 <td class=\"r\">{}</td><td class=\"r\">{}</td><td>{}</td></tr>",
                escape(&r.subject),
                escape(&r.figure),
                compare::figure_with_interval(r.run, r.run_interval),
                compare::figure_with_interval(r.expected, r.expected_interval),
                compare::difference_text(r),
                escape(&r.tolerance.describe()),
                v = r.verdict()
            );
        }
        out.push_str("</table></div>\n</details>\n");
    }
    if !c.one_sided.is_empty() {
        out.push_str("<h3>On one side only</h3>\n<ul>\n");
        for (subject, side) in &c.one_sided {
            let _ = writeln!(out, "<li>only in the {}: <code>{}</code></li>", side.as_str(), escape(subject));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "<h3 id=\"{}\">{}: {}</h3>", escape(&t.id), escape(&t.id), escape(&t.title));
    out.push_str("<div class=\"scroll\"><table>\n<tr>");
    for (c, _) in &t.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for (cell, (_, align)) in row.iter().zip(&t.columns) {
            let class = if *align == Align::Right { " class=\"r\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    for note in &t.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
}

/// env.json of both runs, flattened to one row per key.
fn environment(out: &mut String, page: &Page) {
    out.push_str("<section id=\"environment\">\n<h2>Environment</h2>\n");
    let expected_env = match &page.expected {
        Expected::Compared { env, .. } => env.as_ref(),
        Expected::Unavailable { .. } => None,
    };
    let run = page.env.as_ref().map(flatten).unwrap_or_default();
    let exp = expected_env.map(flatten).unwrap_or_default();
    let mut keys: Vec<&String> = run.iter().map(|(k, _)| k).collect();
    for (k, _) in &exp {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let value = |side: &[(String, String)], key: &str| {
        side.iter().find(|(k, _)| k == key).map_or(String::from("-"), |(_, v)| escape(v))
    };
    out.push_str("<div class=\"scroll\"><table>\n<tr><th>key</th><th>this run</th><th>expected</th></tr>\n");
    for k in keys {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(k),
            value(&run, k),
            value(&exp, k)
        );
    }
    out.push_str("</table></div>\n</section>\n");
}

/// A JSON value as (dotted key, value) pairs; arrays of scalars stay on one line.
fn flatten(value: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// Reads `dir/env.json` as JSON, if it is there.
pub fn read_env(dir: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let path = dir.join("env.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", path.display()))?;
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
    }

    #[test]
    fn nested_json_flattens_to_dotted_keys() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"cpu": {"model": "X", "cores": 2}, "flags": [1, 2], "ranks": [{"host": "a"}]}"#)
                .unwrap();
        let flat = flatten(&v);
        assert!(flat.contains(&("cpu.model".into(), "X".into())), "{flat:?}");
        assert!(flat.contains(&("cpu.cores".into(), "2".into())), "{flat:?}");
        assert!(flat.contains(&("flags".into(), "[1,2]".into())), "{flat:?}");
        assert!(flat.contains(&("ranks[0].host".into(), "a".into())), "{flat:?}");
    }
}
