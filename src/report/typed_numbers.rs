//! Finds numbers typed into the paper's prose. Every measured figure there is a macro that
//! `report` writes from the run (`\NumRuns`, `\FindSpeedupMax`, ...); what may stay literal
//! is the study's setup, listed in [`SETTINGS`] once, with why. Identifiers (T12, C20,
//! H200), file names and commands in `\texttt`, references, labels and the preamble are
//! not prose and are skipped.

/// Numbers the prose may type: the study's fixed setup, never a measurement.
pub const SETTINGS: &[(&str, &str)] = &[
    ("784", "pixels of an MNIST image"),
    ("400", "PCA features, the network's inputs"),
    ("401", "inputs with the bias column"),
    ("10", "outputs and digits; epochs of the study"),
    ("100", "iterations per epoch of the study"),
    ("1{,}000", "iterations of the study (10 x 100)"),
    ("25", "a hidden layer size of the original"),
    ("50", "a hidden layer size of the original"),
    ("1600", "the largest hidden layer of the study"),
    ("70{,}000", "MNIST images, all"),
    ("60{,}000", "MNIST training images"),
    ("10{,}000", "MNIST test images; the smallest N of the study"),
    ("0.1", "learning rate; the slowest emulated link, Gbit/s"),
    ("0.12", "range of the initial weights"),
    ("0", "interval ends and axis origins in definitions"),
    ("1", "P = 1, the sequential reference, ratios' break-even"),
    ("2", "P = 2, this machine's cores"),
    ("4", "the original's P"),
    ("8", "bytes of an f64"),
    ("16", "cores of the GPU machine"),
    ("64", "blocks of the exact reduction"),
    ("95", "the confidence level, in per cent"),
    ("6", "fewest runs that give a 95% interval of a median"),
    ("1024", "the cost model's largest P"),
    ("2015", "year of a cited paper"),
    ("2024", "year of the original study"),
    ("3", "section numbers, P = 3 in the uneven-split test"),
    ("5", "the share of stolen CPU time that flags a run, per cent"),
    ("256", "SHA-256, the hash's name"),
    ("75", "the coverage of a three-run range, per cent (1 - 2/2^3)"),
];

/// A number typed into prose: its line (1-based) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub line: usize,
    pub text: String,
}

/// `\name{...}` commands whose argument is not prose.
const SKIPPED_ARGUMENTS: [&str; 10] =
    ["label", "ref", "input", "cite", "url", "texttt", "includegraphics", "IfFileExists", "prefixedinput", "gpuinput"];

/// Blanks the argument of every skipped command (and optional arguments in brackets), and
/// comments, keeping line breaks so that lines still count.
fn strip(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '%' && (i == 0 || chars[i - 1] != '\\') {
            break;
        }
        if c == '\\' {
            let name: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphabetic()).collect();
            i += 1 + name.len();
            out.push(' ');
            if SKIPPED_ARGUMENTS.contains(&name.as_str()) {
                // Skip [..] and {..} groups that follow, nested braces included.
                while i < chars.len() && (chars[i] == '{' || chars[i] == '[') {
                    let (open, close) = if chars[i] == '{' { ('{', '}') } else { ('[', ']') };
                    let mut depth = 0;
                    while i < chars.len() {
                        if chars[i] == open {
                            depth += 1;
                        } else if chars[i] == close {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        i += 1;
                    }
                }
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The numbers of `tex`'s body (after `\begin{document}`, before the bibliography, whose
/// volumes and years are references, not prose) that are not settings.
pub fn find(tex: &str) -> Vec<Typed> {
    let body_start = tex.lines().position(|l| l.contains("\\begin{document}")).map_or(0, |p| p + 1);
    let body_end = tex.lines().position(|l| l.contains("\\begin{thebibliography}")).unwrap_or(usize::MAX);
    let mut found = vec![];
    for (i, line) in tex.lines().enumerate().take(body_end).skip(body_start) {
        let text = strip(line);
        let chars: Vec<char> = text.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let starts = chars[j].is_ascii_digit() && (j == 0 || !(chars[j - 1].is_ascii_alphanumeric()));
            if !starts {
                j += 1;
                continue;
            }
            let mut k = j;
            while k < chars.len() {
                let rest: String = chars[k..].iter().take(4).collect();
                if chars[k].is_ascii_digit() {
                    k += 1;
                } else if rest.starts_with("{,}") && chars.get(k + 3).is_some_and(char::is_ascii_digit) {
                    k += 3;
                } else if chars[k] == '.' && chars.get(k + 1).is_some_and(char::is_ascii_digit) {
                    k += 1;
                } else {
                    break;
                }
            }
            // An identifier's tail (H200, T12) started with a letter and was skipped above;
            // a number glued to letters after it (2nd, 3x) is still a number.
            let number: String = chars[j..k].iter().collect();
            if !SETTINGS.iter().any(|(s, _)| *s == number) {
                found.push(Typed { line: i + 1, text: number });
            }
            j = k;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_measurement_is_found_and_settings_macros_and_names_are_not() {
        let tex = "\\newcommand{\\X}{1.37}\n\\begin{document}\n\
                   On all 70{,}000 images with $P=2$ (Table~\\ref{tab:T3}, \\texttt{--tables T12}),\n\
                   MPI is \\NumMpiOwnSpeedup{} times faster; claim C20 holds on the H200. % 1.85 in a comment\n\
                   The step took 13~ms, and 1.5 to 2.7 times PyTorch's time.\n\
                   \\begin{thebibliography}{9}\n\\bibitem{h} Proceedings of SC'15, 2015.\n";
        let typed = find(tex);
        let texts: Vec<(usize, &str)> = typed.iter().map(|t| (t.line, t.text.as_str())).collect();
        assert_eq!(texts, vec![(5, "13"), (5, "1.5"), (5, "2.7")]);
    }

    #[test]
    fn every_setting_says_why_it_may_stay() {
        for (number, why) in SETTINGS {
            assert!(!why.is_empty(), "{number}");
        }
        let mut numbers: Vec<&str> = SETTINGS.iter().map(|s| s.0).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), SETTINGS.len(), "a setting listed twice");
    }

    /// The paper itself: a number typed into its prose fails here, with its line, until it
    /// is a macro that `report` writes or a setting listed above with its reason.
    #[test]
    fn the_papers_prose_types_no_measurement() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/paper.tex");
        let tex = std::fs::read_to_string(&path).expect("paper/paper.tex");
        let typed = find(&tex);
        let listed: Vec<String> = typed.iter().map(|t| format!("line {}: {}", t.line, t.text)).collect();
        assert!(typed.is_empty(), "numbers typed into {}:\n{}", path.display(), listed.join("\n"));
    }
}
