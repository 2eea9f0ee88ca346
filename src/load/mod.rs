//! Reading topology files as written: TOML text → `Raw*` values that mirror the file, every
//! value with its byte span (`raw`), and the diagnostics that point into it (`problem`).
//! Validation is `resolve`'s; `check::load_str` runs both.

pub mod problem;
pub mod raw;

pub use problem::{CheckError, Problem, did_you_mean, edit_distance, render_plain};
