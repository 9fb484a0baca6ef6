//! `dpstudy data fetch` against local mirrors: a `file://` directory and an HTTP server on
//! loopback (this machine cannot reach the public mirrors). The real MNIST test files are
//! served; the training files are absent or corrupt, so the fetch must keep the good files,
//! reject the bad ones and say where to put them.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::common::{assert_fails_with, dpstudy, entries};
use dpstudy::data::checksum::{self, TEST_IMAGES, TEST_LABELS};

fn sha256_of(path: &Path) -> String {
    checksum::sha256_hex(&std::fs::read(path).unwrap())
}

/// Serves files from `root` on 127.0.0.1; `/train-*` paths get corrupt bytes. Handles at
/// most `max_requests` requests, then stops. Returns the base URL.
fn serve(root: PathBuf, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let body = if path.starts_with("train-") {
                Some(b"not the MNIST training set".to_vec())
            } else {
                std::fs::read(root.join(&path)).ok()
            };
            let response = match body {
                Some(b) => {
                    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                        .into_bytes();
                    r.extend(b);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{addr}/")
}

#[test]
fn fetch_from_a_file_mirror_keeps_what_verifies_and_says_what_to_do() {
    let Some(mnist) = common::mnist_dir() else { return };
    let target = tempfile::tempdir().unwrap();
    let mirror = format!("file://{}/", std::fs::canonicalize(&mnist).unwrap().display());
    let out = dpstudy(&["data", "fetch", "--data-dir", target.path().to_str().unwrap(), "--mirror", &mirror]);
    assert_fails_with(
        &out,
        &[
            "could not fetch 2 of the 4 MNIST files",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "put them in",
            target.path().to_str().unwrap(),
        ],
    );
    let mut got = entries(target.path());
    got.sort();
    assert_eq!(got, vec![TEST_IMAGES.gz_name, TEST_LABELS.gz_name]);
    assert_eq!(sha256_of(&target.path().join(TEST_IMAGES.gz_name)), TEST_IMAGES.gz_sha256);

    // A second fetch finds the test pair present and verified.
    let out = dpstudy(&["data", "fetch", "--data-dir", target.path().to_str().unwrap(), "--mirror", &mirror]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("t10k-images-idx3-ubyte.gz: already present, checksum ok"), "{stdout}");
}

#[test]
fn fetch_over_http_rejects_corrupt_downloads() {
    let Some(mnist) = common::mnist_dir() else { return };
    let target = tempfile::tempdir().unwrap();
    let url = serve(mnist, 16);
    let out = dpstudy(&["data", "fetch", "--data-dir", target.path().to_str().unwrap(), "--mirror", &url]);
    let stderr =
        assert_fails_with(&out, &["could not fetch 2 of the 4", "SHA-256 mismatch", "train-images-idx3-ubyte.gz"]);
    assert!(!stderr.contains("t10k-images-idx3-ubyte.gz:\n"), "the test images were fetched: {stderr}");
    let mut got = entries(target.path());
    got.sort();
    assert_eq!(got, vec![TEST_IMAGES.gz_name, TEST_LABELS.gz_name], "no corrupt or partial file may remain");
    assert_eq!(sha256_of(&target.path().join(TEST_LABELS.gz_name)), TEST_LABELS.gz_sha256);
}

#[test]
fn unreachable_mirror_explains_what_to_do() {
    let target = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let out =
        dpstudy(&["data", "fetch", "--data-dir", target.path().to_str().unwrap(), "--mirror", "http://127.0.0.1:9/"]);
    assert_fails_with(
        &out,
        &["could not fetch 4 of the 4", "http://127.0.0.1:9/t10k-images-idx3-ubyte.gz", "Download them by hand"],
    );
    assert!(entries(target.path()).is_empty());
}
