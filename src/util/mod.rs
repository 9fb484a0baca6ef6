//! Small utilities several rooms use, none of them about the study: writing files so that
//! a reader never sees half of one ([`files`]), reading the TOML files with errors that name
//! the line ([`toml_file`]), and what the build recorded about itself ([`build_info`]).

pub mod build_info;
pub mod files;
pub mod toml_file;
