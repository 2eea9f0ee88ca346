//! Checking a topology file: its text read as written (`load::raw`), then validated into a
//! `model::Topology` (`resolve`), every problem in the file reported at once.

use std::path::{Path, PathBuf};

use crate::load::{CheckError, raw};
use crate::model::Topology;

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    #[error("read topology file {}", path.display())]
    #[diagnostic(code(mvtopo::load::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] CheckError),
}

/// Parse and validate topology text. `source_name` is the path shown in diagnostics;
/// `default_name` is the topology name used when the file has no `name` (the file's stem).
pub fn load_str(source_name: &str, text: &str, default_name: &str) -> Result<Topology, CheckError> {
    let (raw, mut problems) =
        raw::parse(text).map_err(|syntax| CheckError::new(source_name, text, syntax))?;
    match crate::resolve::resolve(&raw, default_name) {
        Ok(topology) if problems.is_empty() => return Ok(topology),
        Ok(_) => {}
        Err(more) => problems.extend(more),
    }
    Err(CheckError::new(source_name, text, problems))
}

/// Read a file and load it (default name = file stem).
pub fn load_file(path: &Path) -> Result<Topology, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(load_str(&path.display().to_string(), &text, &stem)?)
}
