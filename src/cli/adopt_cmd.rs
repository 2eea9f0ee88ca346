//! `mvtopo adopt FILE`: claim for FILE's topology the existing, unowned objects that match
//! the file exactly (`crate::adopt` decides), and say what is claimed and what is not.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::adopt;
use crate::apply::backend::Backend;

use super::{EXIT_FAILURE, EXIT_OK, Exit, backend_report, read_topology, state_for_change};

pub(super) const AFTER_HELP: &str = "\
An object is claimed only when it exists, is owned by no topology, and matches the file \
exactly: kind, parent, mode, and every field the file gives (addresses and routes as \
sets). A namespace is claimed only when everything in it is the topology's or is claimed \
too. Existing NICs used as parents are never owned. Afterwards `mvtopo plan FILE` has no \
step for what was claimed.

Exit status: 0 nothing refused; 1 something was refused or a claim failed (the rest is \
claimed); 64, 65 usage error, invalid file (nothing changed).";

pub(super) fn run(file: &Path, dry_run: bool, lock_timeout: Option<Duration>) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let (_lock, mut backend, live) = state_for_change(&l.topology, dry_run, lock_timeout)?;
    let owner = l.topology.name.as_str();
    let adoption = adopt::adopt(&l.topology, &live);
    for e in &adoption.entries {
        println!("{e}");
    }
    let wanted = adoption.claims().count();
    let refused = adoption.refused();
    let mut failed = 0;
    if dry_run {
        println!(
            "adopt --dry-run: {wanted} to claim for topology {owner}, {refused} refused; nothing changed"
        );
    } else {
        let mut claimed = 0;
        for (what, object) in adoption.claims() {
            match backend.claim(object, owner) {
                Ok(()) => claimed += 1,
                Err(e) => {
                    failed += 1;
                    let hint = e.hint().map_or_else(String::new, |h| format!(" ({h})"));
                    eprintln!("adopt: claiming {what} failed: {e}{hint}");
                }
            }
        }
        // Read back, as apply verifies: each claim must now show as this topology's.
        if claimed > 0 {
            let after = backend.snapshot().map_err(|e| {
                Exit::failure(backend_report(
                    &e,
                    Some("reading the kernel state after adopt"),
                ))
            })?;
            let now = adopt::adopt(&l.topology, &after);
            for (what, _) in adoption.claims() {
                let owned = now
                    .entries
                    .iter()
                    .any(|e| e.what == what && e.verdict == adopt::Verdict::Owned);
                if !owned {
                    failed += 1;
                    let _ = writeln!(
                        std::io::stderr(),
                        "adopt: {what} was claimed but does not read back as owned by {owner}"
                    );
                }
            }
        }
        let failed_text = if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        };
        println!("adopt: {claimed} claimed for topology {owner}, {refused} refused{failed_text}");
    }
    Ok(if refused > 0 || failed > 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}
