//! Helpers shared by the integration tests, one concern per file.

mod browser;
mod fixtures;
mod prerequisites;
mod process;

pub use browser::chromium;
pub use fixtures::{checked_fixture, config, failing_rows, fixture, fixture_copy};
pub use prerequisites::{baseline_python, mnist_dir, mnist_full_dir, shared_cache};
pub use process::{
    assert_fails_with, dpstudy, entries, mpirun, reproduce_running_every_cell, wait_at_most, wait_for_rank,
};
