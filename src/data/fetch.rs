//! `dpstudy data fetch`: download the four MNIST files from public mirrors, verified.
//!
//! Each file is tried on each mirror in turn; a download counts only if its SHA-256 equals
//! the published one, and it is written atomically, so a failed or partial download never
//! leaves a file that looks like MNIST. `file://` URLs work too (a local mirror). Every file
//! is attempted before failures are reported, so one bad file does not hide the others.

use std::path::Path;
use std::time::Duration;

use super::checksum::{self, MnistFile};
use crate::util::files;

/// Public mirrors of the original files (the original site now asks for credentials).
pub const MIRRORS: &[&str] =
    &["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"];

/// What a fetch did, file by file.
#[derive(Debug, Default)]
pub struct FetchReport {
    /// (file name, URL it came from).
    pub downloaded: Vec<(String, String)>,
    pub already_present: Vec<String>,
    /// One entry per file no mirror delivered: its name and every mirror's failure.
    pub missing: Vec<String>,
}

impl FetchReport {
    /// What went wrong and what to do about it; `None` when all four files are in place.
    pub fn failure(&self, dir: &Path) -> Option<String> {
        (!self.missing.is_empty()).then(|| {
            format!(
                "could not fetch {} of the 4 MNIST files:\n{}\n\
                 Download them by hand (from one of the mirrors above, or any copy whose SHA-256 \
                 matches; `dpstudy data info` lists the sums), put them in {dir}, and run \
                 `dpstudy data prepare --data-dir {dir}`.",
                self.missing.len(),
                self.missing.join("\n"),
                dir = dir.display(),
            )
        })
    }
}

fn url_for(mirror: &str, file: &MnistFile) -> String {
    format!("{}/{}", mirror.trim_end_matches('/'), file.gz_name)
}

fn download(agent: &ureq::Agent, url: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(std::fs::read(path)?);
    }
    let response = agent.get(url).call()?;
    Ok(response.into_body().into_with_config().limit(64 << 20).read_to_vec()?)
}

/// Tries each mirror for `file`; returns the URL that delivered it, or every failure.
fn fetch_one(agent: &ureq::Agent, dir: &Path, file: &MnistFile, mirrors: &[String]) -> Result<String, Vec<String>> {
    let mut failures = vec![];
    for mirror in mirrors {
        let url = url_for(mirror, file);
        let attempt = download(agent, &url).and_then(|bytes| {
            checksum::verify(Path::new(&url), &bytes, file.gz_sha256)?;
            files::write_atomic(&dir.join(file.gz_name), &bytes)
        });
        match attempt {
            Ok(()) => return Ok(url),
            Err(e) => failures.push(format!("  {url}: {e:#}")),
        }
    }
    Err(failures)
}

/// Downloads whichever of the four files are missing or corrupt in `dir`; the report says
/// which arrived and which could not be had (see [`FetchReport::failure`]).
pub fn fetch(dir: &Path, mirrors: &[String]) -> FetchReport {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(120))).build().into();
    let mut report = FetchReport::default();
    for file in checksum::ALL {
        if std::fs::read(dir.join(file.gz_name)).is_ok_and(|b| checksum::sha256_hex(&b) == file.gz_sha256) {
            report.already_present.push(file.gz_name.to_string());
            continue;
        }
        match fetch_one(&agent, dir, &file, mirrors) {
            Ok(url) => report.downloaded.push((file.gz_name.to_string(), url)),
            Err(failures) => report.missing.push(format!("{}:\n{}", file.gz_name, failures.join("\n"))),
        }
    }
    report
}
