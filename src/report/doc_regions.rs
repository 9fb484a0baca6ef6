//! Marked regions of the Markdown documents (README, appendix) whose content a command
//! writes from committed results, so that no figure in them is typed by hand: `dpstudy
//! docs` rewrites every region, `dpstudy docs --check` (run by the tests) fails on a
//! region that differs from what the results make today.
//!
//! A region is everything between `<!-- generated: NAME -->` and `<!-- end generated -->`
//! (each on a line of its own); the text outside is the authors'.

use std::path::{Path, PathBuf};

/// What can be wrong with a document's regions.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error("{file}: region '{name}' opened on line {line} is never closed by `{END}`")]
    Unclosed { file: PathBuf, name: String, line: usize },
    #[error("{file}: line {line} closes a region that was never opened")]
    Stray { file: PathBuf, line: usize },
    #[error("{file}: region '{name}' on line {line} names no content dpstudy knows how to write")]
    Unknown { file: PathBuf, name: String, line: usize },
}

const BEGIN: &str = "<!-- generated: ";
const END: &str = "<!-- end generated -->";

/// The text of `doc` with each region's content replaced by `content(name)`; `None` from
/// `content` is an unknown region. Returns the new text and the names of the regions.
pub fn fill(
    file: &Path,
    doc: &str,
    content: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), RegionError> {
    let mut out = String::with_capacity(doc.len());
    let mut open: Option<(String, usize)> = None;
    let mut names = vec![];
    for (i, line) in doc.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix(BEGIN).and_then(|r| r.strip_suffix("-->")) {
            if let Some((name, line)) = open {
                return Err(RegionError::Unclosed { file: file.into(), name, line });
            }
            let name = name.trim().to_string();
            let Some(text) = content(&name) else {
                return Err(RegionError::Unknown { file: file.into(), name, line: i + 1 });
            };
            out += line;
            out += &text;
            if !text.is_empty() && !text.ends_with('\n') {
                out.push('\n');
            }
            names.push(name.clone());
            open = Some((name, i + 1));
        } else if trimmed == END {
            if open.take().is_none() {
                return Err(RegionError::Stray { file: file.into(), line: i + 1 });
            }
            out += line;
        } else if open.is_none() {
            out += line;
        }
    }
    match open {
        Some((name, line)) => Err(RegionError::Unclosed { file: file.into(), name, line }),
        None => Ok((out, names)),
    }
}

/// Each well-formed region of `doc`: its name and its current content.
pub fn bodies(doc: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut open: Option<(String, String)> = None;
    for line in doc.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix(BEGIN).and_then(|r| r.strip_suffix("-->")) {
            open = Some((name.trim().to_string(), String::new()));
        } else if trimmed == END {
            out.extend(open.take());
        } else if let Some((_, body)) = open.as_mut() {
            *body += line;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(name: &str) -> Option<String> {
        (name == "answer").then(|| "| 42 |\n".to_string())
    }

    #[test]
    fn a_region_gets_its_content_and_the_text_around_it_stays() {
        let doc = "# Title\n<!-- generated: answer -->\nold figure 41\n<!-- end generated -->\ntail\n";
        let (text, names) = fill(Path::new("README.md"), doc, &content).unwrap();
        assert_eq!(text, "# Title\n<!-- generated: answer -->\n| 42 |\n<!-- end generated -->\ntail\n");
        assert_eq!(names, ["answer"]);
        assert_eq!(bodies(&text), [("answer".to_string(), "| 42 |\n".to_string())]);
        // Filling again changes nothing: a fresh document passes the check.
        assert_eq!(fill(Path::new("README.md"), &text, &content).unwrap().0, text);
    }

    #[test]
    fn broken_markers_and_unknown_regions_are_named_with_file_and_line() {
        let file = Path::new("A.md");
        let err = |doc: &str| fill(file, doc, &content).unwrap_err().to_string();
        assert_eq!(
            err("x\n<!-- generated: answer -->\n"),
            format!("A.md: region 'answer' opened on line 2 is never closed by `{END}`")
        );
        assert_eq!(err("<!-- end generated -->\n"), "A.md: line 1 closes a region that was never opened");
        assert!(
            err("<!-- generated: other -->\n<!-- end generated -->\n").starts_with("A.md: region 'other' on line 1")
        );
    }
}
