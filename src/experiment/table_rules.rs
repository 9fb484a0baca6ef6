//! What a table of the manifest must say to be run: sizes given one way, every per-profile
//! value covering exactly the manifest's profiles, and the fields a mode needs. Each broken
//! rule is one [`TableError`], which the manifest names with the file and line.

use std::collections::BTreeMap;

use super::manifest::{Profile, TableSpec};
use crate::train::{Mode, Reduction};

/// A table that breaks a rule of the manifest; the message names the table and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table `{0}` is declared twice")]
    DeclaredTwice(String),
    #[error("table `{0}`: `modes` is empty")]
    NoModes(String),
    #[error("table `{0}`: give either `n` or `n_per_rank`, not both")]
    BothSizes(String),
    #[error("table `{0}`: needs `n` (sizes) or `n_per_rank` (weak scaling)")]
    NoSizes(String),
    #[error("table `{0}`: `syncs` is empty")]
    NoSyncs(String),
    #[error("table `{table}`: `{field}` names unknown profile `{profile}`")]
    UnknownProfile { table: String, field: &'static str, profile: String },
    #[error("table `{table}`: `{field}` has no value for profile `{profile}`")]
    MissingProfile { table: String, field: &'static str, profile: String },
    #[error("table `{0}`: sizes must be at least 1")]
    ZeroSize(String),
    #[error("table `{table}`: `n` is empty for profile `{profile}`")]
    EmptySizes { table: String, profile: String },
    #[error("table `{table}`: `baseline_n` size {size} is not one of `n` for profile `{profile}`")]
    BaselineSizeNotInN { table: String, size: usize, profile: String },
    #[error("table `{0}`: `baseline_n` is given but no baseline mode is listed in `modes`")]
    BaselineSizeWithoutBaseline(String),
    #[error("table `{table}`: mode `ensemble` needs `validation` (at least 1 row) for profile `{profile}`")]
    EnsembleWithoutValidation { table: String, profile: String },
    #[error("table `{0}`: `validation` is given but `modes` does not list `ensemble`")]
    ValidationWithoutEnsemble(String),
    #[error("table `{0}`: mode `ensemble` scores on test rows: set `test = true`")]
    EnsembleWithoutTest(String),
    #[error("table `{table}`: `hidden` must list sizes of at least 1 for profile `{profile}`")]
    NoHidden { table: String, profile: String },
    #[error("table `{table}`: `{field}` must be at least 1")]
    ZeroCount { table: String, field: &'static str },
    #[error("table `{0}`: `reductions` is empty")]
    NoReductions(String),
    #[error(
        "table `{table}`: `reductions` lists exact, which mode `{mode}` does not have (only seq, threads, mpi, ensemble)"
    )]
    ExactForMode { table: String, mode: String },
}

/// Checks `table` against the manifest's `profiles` and the tables declared before it.
pub(super) fn check_table(
    table: &TableSpec,
    profiles: &BTreeMap<String, Profile>,
    earlier: &[TableSpec],
) -> Result<(), TableError> {
    check_shape(table, earlier)?;
    check_profile_names(table, profiles)?;
    profiles.keys().try_for_each(|profile| check_profile(table, profile))
}

/// The rules that hold whatever the profile: a unique id, modes, sizes given one way.
/// (The order of every check is the order the manifest has always reported them in.)
fn check_shape(table: &TableSpec, earlier: &[TableSpec]) -> Result<(), TableError> {
    let id = || table.id.clone();
    if earlier.iter().any(|t| t.id == table.id) {
        return Err(TableError::DeclaredTwice(id()));
    }
    if table.modes.is_empty() {
        return Err(TableError::NoModes(id()));
    }
    match (&table.n, &table.n_per_rank) {
        (Some(_), Some(_)) => return Err(TableError::BothSizes(id())),
        (None, None) => return Err(TableError::NoSizes(id())),
        _ => {}
    }
    if table.syncs.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(TableError::NoSyncs(id()));
    }
    if let Some(reductions) = &table.reductions {
        if reductions.is_empty() {
            return Err(TableError::NoReductions(id()));
        }
        let exact_capable = |m: &Mode| matches!(m, Mode::Seq | Mode::Threads | Mode::Mpi | Mode::Ensemble);
        let incapable = table.modes.iter().find(|m| !exact_capable(m));
        if let Some(mode) = incapable.filter(|_| reductions.contains(&Reduction::Exact)) {
            return Err(TableError::ExactForMode { table: id(), mode: mode.to_string() });
        }
    }
    Ok(())
}

/// Every per-profile value names known profiles and, when given per profile, covers every
/// profile.
fn check_profile_names(table: &TableSpec, profiles: &BTreeMap<String, Profile>) -> Result<(), TableError> {
    fn names(v: Option<Vec<&str>>) -> Vec<&str> {
        v.unwrap_or_default()
    }
    let per_profile: [(&'static str, Vec<&str>); 10] = [
        ("validation", names(table.validation.as_ref().map(|v| v.profile_names()))),
        ("baseline_n", names(table.baseline_n.as_ref().map(|v| v.profile_names()))),
        ("n", names(table.n.as_ref().map(|v| v.profile_names()))),
        ("n_per_rank", names(table.n_per_rank.as_ref().map(|v| v.profile_names()))),
        ("hidden", table.hidden.profile_names()),
        ("reps", names(table.reps.as_ref().map(|v| v.profile_names()))),
        ("max_reps", names(table.max_reps.as_ref().map(|v| v.profile_names()))),
        ("warmup", names(table.warmup.as_ref().map(|v| v.profile_names()))),
        ("epochs", names(table.epochs.as_ref().map(|v| v.profile_names()))),
        ("iters", names(table.iters.as_ref().map(|v| v.profile_names()))),
    ];
    for (field, names) in &per_profile {
        if let Some(unknown) = names.iter().find(|n| !profiles.contains_key(**n)) {
            let profile = unknown.to_string();
            return Err(TableError::UnknownProfile { table: table.id.clone(), field, profile });
        }
        if !names.is_empty()
            && let Some(missing) = profiles.keys().find(|p| !names.contains(&p.as_str()))
        {
            return Err(TableError::MissingProfile { table: table.id.clone(), field, profile: missing.clone() });
        }
    }
    Ok(())
}

/// The rules on the values one profile gets: sizes, hidden sizes, counts, validation rows.
fn check_profile(table: &TableSpec, profile: &str) -> Result<(), TableError> {
    let (id, named) = (|| table.id.clone(), || profile.to_string());
    let sizes = table.n.as_ref().and_then(|n| n.get(profile)).unwrap_or_default();
    if sizes.contains(&0) || table.n_per_rank.as_ref().and_then(|n| n.get(profile)) == Some(0) {
        return Err(TableError::ZeroSize(id()));
    }
    if table.n.is_some() && sizes.is_empty() {
        return Err(TableError::EmptySizes { table: id(), profile: named() });
    }
    let baseline_sizes = table.baseline_n.as_ref().and_then(|b| b.get(profile)).unwrap_or_default();
    if let Some(size) = baseline_sizes.into_iter().find(|b| !sizes.contains(b)) {
        return Err(TableError::BaselineSizeNotInN { table: id(), size, profile: named() });
    }
    if table.baseline_n.is_some() && !table.modes.iter().any(|m| m.is_baseline()) {
        return Err(TableError::BaselineSizeWithoutBaseline(id()));
    }
    let ensemble = table.modes.contains(&Mode::Ensemble);
    match table.validation.as_ref().and_then(|v| v.get(profile)) {
        None | Some(0) if ensemble => {
            return Err(TableError::EnsembleWithoutValidation { table: id(), profile: named() });
        }
        Some(_) if !ensemble => return Err(TableError::ValidationWithoutEnsemble(id())),
        _ => {}
    }
    if ensemble && !table.test {
        return Err(TableError::EnsembleWithoutTest(id()));
    }
    let hidden = table.hidden.get(profile).unwrap_or_default();
    if hidden.is_empty() || hidden.contains(&0) {
        return Err(TableError::NoHidden { table: id(), profile: named() });
    }
    for (field, value) in [("epochs", &table.epochs), ("iters", &table.iters), ("reps", &table.reps)] {
        if value.as_ref().and_then(|v| v.get(profile)) == Some(0) {
            return Err(TableError::ZeroCount { table: id(), field });
        }
    }
    Ok(())
}
