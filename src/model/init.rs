//! The shared initial weights: uniform in [-0.12, 0.12], drawn once from a seed, saved as
//! safetensors (f64) and loaded by every run, so every mode starts from the same point.
//! f32 runs round the stored f64 values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::Device;

use super::Params;
use crate::rng::SplitMix64;
use crate::util::files;

/// Half-width of the uniform initialisation interval, as in the study.
pub const INIT_EPSILON: f64 = 0.12;

/// Draws fresh weights from `seed` (theta1 first, then theta2, row-major).
pub fn draw(hidden: usize, seed: u64) -> Params<f64> {
    let mut rng = SplitMix64::for_purpose(seed, "initial-weights");
    let data = (0..Params::<f64>::len_for(hidden)).map(|_| rng.uniform(-INIT_EPSILON, INIT_EPSILON)).collect();
    Params::from_flat(hidden, data).expect("length from len_for")
}

/// The default file for `hidden` and `seed` inside `cache_dir`.
pub fn default_path(cache_dir: &Path, hidden: usize, seed: u64) -> PathBuf {
    cache_dir.join(format!("init-h{hidden}-seed{seed}.safetensors"))
}

/// Saves weights as safetensors (`theta1`, `theta2`), atomically.
pub fn save(path: &Path, params: &Params<f64>) -> anyhow::Result<()> {
    let (t1, t2) = params.to_tensors(&Device::Cpu)?;
    let tensors = HashMap::from([("theta1".to_string(), t1), ("theta2".to_string(), t2)]);
    files::write_atomic_with(path, |tmp| candle_core::safetensors::save(&tensors, tmp).map_err(Into::into))
}

/// Loads weights saved by [`save`], checking they are for `hidden` units.
pub fn load(path: &Path, hidden: usize) -> anyhow::Result<Params<f64>> {
    let params = load_any(path)?;
    anyhow::ensure!(
        params.hidden() == hidden,
        "initial weights {} are for {} hidden units, not {hidden}",
        path.display(),
        params.hidden()
    );
    Ok(params)
}

/// Loads weights saved by [`save`], whatever their hidden size.
pub fn load_any(path: &Path) -> anyhow::Result<Params<f64>> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("cannot read weights {}", path.display()))?;
    let get = |name: &str| tensors.get(name).with_context(|| format!("weights {}: no tensor `{name}`", path.display()));
    Params::from_tensors(get("theta1")?, get("theta2")?).with_context(|| format!("weights {}", path.display()))
}

/// Loads the weights at `path`, first creating them from `seed` if the file does not exist.
pub fn load_or_create(path: &Path, hidden: usize, seed: u64) -> anyhow::Result<Params<f64>> {
    if !path.exists() {
        save(path, &draw(hidden, seed))?;
    }
    load(path, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_once_saved_and_loaded_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path(), 7, 3);
        let created = load_or_create(&path, 7, 3).unwrap();
        assert_eq!(created, draw(7, 3));
        assert!(created.as_slice().iter().all(|w| w.abs() <= INIT_EPSILON));
        // A second call loads the file instead of drawing: overwrite it and see.
        save(&path, &draw(7, 99)).unwrap();
        assert_eq!(load_or_create(&path, 7, 3).unwrap(), draw(7, 99));
    }

    #[test]
    fn wrong_hidden_size_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        save(&path, &draw(5, 1)).unwrap();
        let err = format!("{:#}", load(&path, 6).unwrap_err());
        assert!(err.contains("w.safetensors") && err.contains("5 hidden units"), "{err}");
    }
}
