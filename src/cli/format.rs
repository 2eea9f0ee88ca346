//! `mvtopo fmt FILE [--check]`: the canonical layout (`crate::fmt`) written back, checked,
//! or printed, never changing what the file means.

use std::path::Path;

use super::{EXIT_DATAERR, EXIT_OK, Exit, read_topology, ui};
use crate::{check, render};

/// `fmt FILE [--check]`.
pub(super) fn cmd_fmt(file: &Path, check: bool) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let formatted = crate::fmt::format(&l.text).map_err(|e| {
        Exit::new(
            EXIT_DATAERR,
            miette::miette!(
                code = "mvtopo::fmt::unreadable",
                "{}: cannot be formatted: {e}",
                l.name
            ),
        )
    })?;
    // The layout may change, the topology may not: formatting that would change what the
    // file means (a bug) writes nothing.
    let same = check::load_str(&l.name, &formatted, &l.topology.name)
        .is_ok_and(|t| render::topology_toml(&t) == render::topology_toml(&l.topology));
    if !same {
        return Err(Exit::failure(miette::miette!(
            code = "mvtopo::fmt::internal",
            help = "please report this as a bug in mvtopo, with the file",
            "{}: the canonical layout would change what the file means; nothing was written",
            l.name
        )));
    }
    let stdin = file == Path::new("-");
    let canonical = formatted == l.text;
    if check {
        if canonical {
            return Ok(EXIT_OK);
        }
        return Err(Exit::failure(miette::miette!(
            code = "mvtopo::fmt::not-canonical",
            help = format!("run `mvtopo fmt {}`", if stdin { "-" } else { &l.name }),
            "{} is not in the canonical layout",
            l.name
        )));
    }
    if stdin {
        print!("{formatted}");
    } else if !canonical {
        // In place (as rustfmt does): the file keeps its owner, mode and links.
        std::fs::write(file, &formatted).map_err(|e| {
            Exit::failure(miette::miette!(
                code = "mvtopo::io",
                "writing {}: {e}",
                l.name
            ))
        })?;
        ui::say(&format!("{}: reformatted", l.name));
    }
    Ok(EXIT_OK)
}
