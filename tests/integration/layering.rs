//! The README's arrows, checked: every `crate::` path in a top-level module of `src/` names a
//! module below it in the layering (or a leaf), so no import runs up and no circle forms.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, top first: a module may use the modules of later layers only.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["report"],
    &["experiment", "bench"],
    &["baseline", "commbench"],
    &["train"],
    &["ensemble"],
    &["model"],
    &["data"],
    &["linalg"],
    // Leaves: they use only each other, and anyone may use them.
    &["cluster", "paper"],
    &["launch", "real", "rng", "stats", "thread_pools", "util"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The `.rs` files of a top-level module (a file, or a directory's tree).
fn files_of(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        out.extend(files_of(&entry.path()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")));
    }
    out
}

/// The top-level modules a source text names through `crate::` (comments left out).
fn used_modules(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut used = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e as f}`: the first segment of each top-level path.
            Some(group) => {
                top_level_paths(group).into_iter().map(|p| p.split([':', ' ']).next().unwrap_or("")).collect()
            }
            None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
        };
        used.extend(names.into_iter().filter(|n| !n.is_empty()).map(str::to_string));
    }
    used
}

/// The comma-separated paths of a `{...}` group (the text after its `{`), nested groups
/// kept whole.
fn top_level_paths(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(group[start..i].trim());
                return out;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_import_runs_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    let mut unplaced = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if name == "main" || name == "lib" {
            continue;
        }
        let Some(layer) = layer_of(&name) else {
            unplaced.push(name);
            continue;
        };
        for file in files_of(&entry.path()) {
            for used in used_modules(&std::fs::read_to_string(&file).unwrap()) {
                let Some(used_layer) = layer_of(&used) else {
                    unplaced.push(used);
                    continue;
                };
                // Down the layers, within the module, or between leaves.
                let leaves = LAYERS.len() - 2;
                let allowed = used == name || used_layer > layer || (used_layer == layer && layer >= leaves);
                if !allowed {
                    upward.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(unplaced.is_empty(), "modules missing from LAYERS (say where they belong): {unplaced:?}");
    assert!(upward.is_empty(), "imports that run up the layers:\n{}", upward.join("\n"));
}

#[test]
fn the_import_scan_reads_paths_and_groups_and_skips_comments() {
    let text = "use crate::data::Samples;\nuse crate::{model as m, train::{Mode, SyncKind}, util};\n// crate::cli in a comment\nlet x = crate::stats::median(&v);";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["data", "model", "stats", "train", "util"]);
}
