//! Facts about this binary recorded at build time (see `build.rs`).

/// Git revision of the source (`-dirty` with uncommitted changes; `unknown` without git).
pub const GIT_REVISION: &str = env!("DPSTUDY_GIT_REVISION");
/// What `dpstudy --version` prints: the package version and the revision.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("DPSTUDY_GIT_REVISION"), ")");
/// `rustc --version` of the compiler that built it.
pub const RUSTC: &str = env!("DPSTUDY_RUSTC");
/// The candle-core version it links.
pub const CANDLE_VERSION: &str = env!("DPSTUDY_CANDLE_VERSION");
