//! The command line, the edge of the library: clap's definitions ([`args`]), their
//! translation into the library's plain configs ([`config`]), and one function per
//! subcommand ([`commands`]) that runs the library on that config and prints what it found.
//! Nothing below this module imports it: the library sees configs, never arguments.

pub mod args;
pub mod commands;
pub mod config;

pub use args::{Cli, Command};
pub use commands::{Failed, run};
