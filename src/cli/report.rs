//! How a failed run or a kernel error is reported: the report's code, the story of what
//! failed and what was undone, and the JSON beside it.

use crate::apply::backend::BackendError;
use crate::apply::{self, ApplyError};
use crate::code::Code;
use crate::plan::Plan;
use crate::render;

use miette::Report;

use super::{EXIT_OK, Exit, Format, guarded, json, ui};

/// The commands that change the kernel, as their failures are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Run {
    Apply,
    Destroy,
    Try,
}

impl Run {
    fn verb(self) -> &'static str {
        match self {
            Run::Apply => "apply",
            Run::Destroy => "destroy",
            Run::Try => "try",
        }
    }

    fn failed(self) -> Code {
        match self {
            Run::Apply => Code::ApplyFailed,
            Run::Destroy => Code::DestroyFailed,
            Run::Try => Code::TryFailed,
        }
    }
}

pub(super) fn report_run(
    plan: &Plan,
    format: Format,
    result: Result<apply::Outcome, ApplyError>,
    run: Run,
) -> Result<u8, Exit> {
    let verb = run.verb();
    match result {
        Ok(outcome) => {
            match format {
                Format::Json => {
                    let v = serde_json::json!({
                        "format_version": json::FORMAT_VERSION,
                        "in_sync": plan.in_sync,
                        "steps": plan.steps,
                        "notes": plan.notes,
                        "executed": outcome.executed,
                        "verified": true,
                    });
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
                Format::Text if outcome.executed == 0 => {}
                Format::Text => ui::say(&format!(
                    "{verb}: done, {} step(s) executed and verified",
                    outcome.executed
                )),
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            // With --format json, `run` writes these beside the "error" member.
            let v = serde_json::json!({
                "in_sync": plan.in_sync,
                "steps": plan.steps,
                "verified": false,
                "undone": e.undo().map(|u| u.undone.len()).unwrap_or(0),
                "undo_failed": e.undo().map(|u| u.failed.len()).unwrap_or(0),
            });
            let mut exit = Exit::new(
                guarded::exit_code(&e),
                miette::miette!(
                    code = run.failed().as_str(),
                    "{}",
                    apply_error_text(&e, verb)
                ),
            );
            exit.json = v.as_object().cloned();
            Err(exit)
        }
    }
}

/// The whole story of a failed apply, for a person: what failed, why, what was undone.
fn apply_error_text(e: &ApplyError, verb: &str) -> String {
    let mut s = match e {
        ApplyError::Interrupted { .. } => format!("{verb} {e}: undoing what it had done"),
        ApplyError::Reverted { .. } => format!("{verb}: reverted, {e}"),
        _ => format!("{verb} failed: {e}"),
    };
    if let ApplyError::Step { step, .. } = e {
        s.push_str(&format!("\n  failed step: {}", render::step_line(step)));
    }
    if let ApplyError::Verify { remaining, .. } = e {
        for st in remaining {
            s.push_str(&format!("\n  still pending: {}", render::step_line(st)));
        }
    }
    if let Some(h) = e.hint() {
        s.push_str(&format!("\n  hint: {h}"));
    }
    if let Some(u) = e.undo() {
        if u.undone.is_empty() && u.failed.is_empty() {
            s.push_str("\n  nothing had been changed yet");
        } else {
            s.push_str(&format!(
                "\n  undone: {} kernel request(s), in reverse order",
                u.undone.len()
            ));
            for r in &u.undone {
                s.push_str(&format!("\n    {r}"));
            }
        }
        if u.complete() {
            s.push_str("\n  the system is as it was found");
        } else {
            for (st, err) in &u.failed {
                s.push_str(&format!("\n  could not undo: {st} ({err})"));
            }
            s.push_str(
                "\n  the system may be partly changed: run `mvtopo plan` to see what remains",
            );
        }
    }
    s
}

pub(super) fn backend_report(e: &BackendError, context: Option<&str>) -> Report {
    let mut msg = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    if let Some(h) = e.hint() {
        msg.push_str(&format!("\n  hint: {h}"));
    }
    miette::miette!(code = Code::KernelFailed.as_str(), "{msg}")
}
