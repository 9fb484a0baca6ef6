//! The Python environment the baselines run in: where it is, and what it can import.
//!
//! `artifact/baselines/install.sh` makes it (a virtual environment with pinned numpy,
//! mpi4py and torch). dpstudy looks for its interpreter in `DPSTUDY_PYTHON`, else at
//! `~/.cache/dpstudy-python/bin/python3`, where the script installs by default. Where it
//! is missing or broken, the baseline cells of `reproduce` are "not run: <why>".

use std::path::PathBuf;
use std::process::Command;

/// The environment variable naming the baselines' Python interpreter.
pub const PYTHON_VAR: &str = "DPSTUDY_PYTHON";

/// How to make the environment, for messages.
pub const INSTALL_HINT: &str = "install it with artifact/baselines/install.sh, or point DPSTUDY_PYTHON at a Python \
                                with numpy, mpi4py and torch";

/// Why there is no usable baseline Python.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PythonError {
    #[error("HOME is not set, and {PYTHON_VAR} is not either")]
    NoHome,
    #[error("no baseline Python at {} ({found_by}): {INSTALL_HINT}", path.display())]
    Missing { path: PathBuf, found_by: &'static str },
    #[error("cannot run {}: {why}", path.display())]
    CannotRun { path: PathBuf, why: String },
    /// Not looked for: nothing asked for a baseline.
    #[error("no baseline cells in this plan")]
    NotProbed,
}

/// The interpreter: `DPSTUDY_PYTHON`, else the install script's default location.
pub fn interpreter() -> Result<PathBuf, PythonError> {
    let (path, found_by) = match std::env::var_os(PYTHON_VAR) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), PYTHON_VAR),
        _ => {
            let home = std::env::var_os("HOME").ok_or(PythonError::NoHome)?;
            (PathBuf::from(home).join(".cache/dpstudy-python/bin/python3"), "the default location")
        }
    };
    if path.is_file() { Ok(path) } else { Err(PythonError::Missing { path, found_by }) }
}

/// The packages a baseline imports.
pub fn modules_for(mode: crate::train::Mode) -> &'static [&'static str] {
    use crate::train::Mode;
    match mode {
        Mode::Original | Mode::OriginalFixed => &["numpy", "mpi4py"],
        Mode::Torch | Mode::TorchDdp => &["numpy", "torch"],
        _ => &[],
    }
}

/// What the environment offers: the interpreter and the versions of the packages that
/// import (a package that does not is absent, with why).
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub python: PathBuf,
    /// `(package, Ok(version) or Err(why it does not import))`.
    pub packages: Vec<(String, Result<String, String>)>,
}

impl Environment {
    /// Finds the interpreter and tries to import numpy, mpi4py and torch in it.
    pub fn probe() -> Result<Self, PythonError> {
        let python = interpreter()?;
        let mut packages = Vec::new();
        for package in ["numpy", "mpi4py", "torch"] {
            let out = Command::new(&python)
                .args(["-c", &format!("import {package}; print({package}.__version__)")])
                .output()
                .map_err(|e| PythonError::CannotRun { path: python.clone(), why: e.to_string() })?;
            let outcome = if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            } else {
                let err = String::from_utf8_lossy(&out.stderr);
                Err(err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("import failed").trim().to_string())
            };
            packages.push((package.to_string(), outcome));
        }
        Ok(Self { python, packages })
    }

    /// Why `mode` cannot run here, if it cannot.
    pub fn missing_for(&self, mode: crate::train::Mode) -> Option<String> {
        let missing: Vec<String> = modules_for(mode)
            .iter()
            .filter_map(|m| match self.packages.iter().find(|(p, _)| p == m) {
                Some((_, Ok(_))) => None,
                Some((_, Err(why))) => Some(format!("{m} ({why})")),
                None => Some(format!("{m} (not probed)")),
            })
            .collect();
        (!missing.is_empty()).then(|| {
            format!("{} cannot import {} in {}: {INSTALL_HINT}", mode, missing.join(", "), self.python.display())
        })
    }

    /// `numpy 2.3.5, mpi4py 4.1.2, torch 2.11.0` (what imports), for run records.
    pub fn describe(&self) -> String {
        let versions: Vec<String> = self
            .packages
            .iter()
            .map(|(p, v)| match v {
                Ok(v) => format!("{p} {v}"),
                Err(_) => format!("{p} missing"),
            })
            .collect();
        format!("{} ({})", self.python.display(), versions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Mode;

    #[test]
    fn a_missing_package_is_named_with_the_mode_and_the_remedy() {
        let env = Environment {
            python: "/venv/bin/python3".into(),
            packages: vec![
                ("numpy".into(), Ok("2.3.5".into())),
                ("mpi4py".into(), Err("ModuleNotFoundError: No module named 'mpi4py'".into())),
                ("torch".into(), Ok("2.11.0".into())),
            ],
        };
        assert_eq!(env.missing_for(Mode::Torch), None);
        let why = env.missing_for(Mode::OriginalFixed).unwrap();
        assert!(why.contains("original-fixed") && why.contains("mpi4py (ModuleNotFoundError"), "{why}");
        assert!(why.contains("install.sh") && why.contains("/venv/bin/python3"), "{why}");
        assert_eq!(env.describe(), "/venv/bin/python3 (numpy 2.3.5, mpi4py missing, torch 2.11.0)");
    }
}
