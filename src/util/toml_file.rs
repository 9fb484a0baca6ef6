//! The artifact's TOML files (`experiments.toml`, `claims.toml`): where they are read from,
//! and errors that name the file and the line, for syntax and meaning alike.

use std::path::{Path, PathBuf};

/// A TOML file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TomlFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A syntax error (toml's message names the line) or a file-wide problem.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value that parses but makes no sense, at `line`.
    #[error("{path}, line {line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
}

/// The text to use and where it came from: `path` if given, else `default` if that file
/// exists, else the copy built into the binary (for a binary run outside the repository).
pub fn text_of(path: Option<&Path>, default: &str, builtin: &'static str) -> Result<(String, PathBuf), TomlFileError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|text| (text, p.to_path_buf()))
            .map_err(|source| TomlFileError::Read { path: p.into(), source })
    };
    match path {
        Some(p) => read(p),
        None if Path::new(default).exists() => read(Path::new(default)),
        None => {
            let name = Path::new(default).file_name().map_or(default.into(), |n| n.to_string_lossy());
            Ok((builtin.to_string(), PathBuf::from(format!("<built-in {name}>"))))
        }
    }
}

/// Parses `text` (from `path`) as `T`, naming the file in a syntax error.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, TomlFileError> {
    toml::from_str(text).map_err(|e| TomlFileError::Parse { path: path.into(), message: e.to_string() })
}

/// 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
