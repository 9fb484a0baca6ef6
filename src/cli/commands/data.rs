//! `dpstudy data prepare | fetch | info`.

use anyhow::Context;

use crate::cli::args::DataDirs;
use crate::data::{self, DataKind, checksum};
use crate::thread_pools;

/// `dpstudy data prepare`: reduces MNIST by PCA into the cache (or finds it there).
pub fn prepare(dirs: &DataDirs, force: bool) -> anyhow::Result<()> {
    thread_pools::configure(1)?;
    let loaded = data::cache::load_or_prepare(&dirs.config(DataKind::Mnist), force, None)?;
    println!(
        "{} {}: {} samples x {} features, explained variance {:.4}\nmanifest: {}",
        if loaded.reused { "reused" } else { "prepared" },
        loaded.prepared.source,
        loaded.prepared.len(),
        data::FEATURES,
        loaded.manifest.explained_variance_ratio,
        loaded.manifest_path.display()
    );
    Ok(())
}

/// `dpstudy data fetch`: downloads what is missing, from the given mirrors or the known ones.
pub fn fetch(dirs: &DataDirs, mirrors: Vec<String>) -> anyhow::Result<()> {
    if let Some(pool) = dirs.pool {
        anyhow::bail!("--pool {pool}: `data fetch` gets all four files; a pool is chosen where the data is read");
    }
    let mirrors =
        if mirrors.is_empty() { data::fetch::MIRRORS.iter().map(|m| m.to_string()).collect() } else { mirrors };
    let report = data::fetch::fetch(&dirs.data_dir, &mirrors);
    for name in &report.already_present {
        println!("{name}: already present, checksum ok");
    }
    for (name, url) in &report.downloaded {
        println!("{name}: downloaded from {url}, checksum ok");
    }
    match report.failure(&dirs.data_dir) {
        Some(message) => anyhow::bail!(message),
        None => Ok(()),
    }
}

/// `dpstudy data info`: which files are present, whether they verify, and the cache.
pub fn info(dirs: &DataDirs) -> anyhow::Result<()> {
    let data = dirs.config(DataKind::Mnist);
    println!("data directory: {}", data.dir.display());
    for file in checksum::ALL {
        let status = match &data::mnist::find(&data.dir, &file) {
            None => "absent".to_string(),
            Some(path) => {
                let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                let sum = checksum::sha256_hex(&bytes);
                let ok = sum == file.gz_sha256 || sum == file.raw_sha256;
                format!("{} ({})", path.display(), if ok { "checksum ok" } else { "CHECKSUM MISMATCH" })
            }
        };
        println!("  {:<28} {status}\n  {:<28} sha256 {}", file.gz_name, "", file.gz_sha256);
    }
    match data::cache::find(&data) {
        Ok(Some((path, manifest))) => println!(
            "prepared: {} ({} samples, explained variance {:.4})",
            path.display(),
            manifest.key.pool_size,
            manifest.explained_variance_ratio
        ),
        Ok(None) => println!("prepared: not yet (run `dpstudy data prepare`); cache dir {}", data.cache_dir.display()),
        Err(e) => println!("prepared: no usable data: {e:#}"),
    }
    Ok(())
}
