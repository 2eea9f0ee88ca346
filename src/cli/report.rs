//! How a failed run or a kernel error is reported: the report's code, the story of what
//! failed and what was undone, and the JSON beside it.

use crate::apply::backend::BackendError;
use crate::apply::{self, ApplyError};
use crate::code::Code;
use crate::plan::Plan;
use crate::render;

use miette::{Diagnostic, Report};

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
            let cause = json::diagnostic(&e, None);
            let mut exit = Exit::new(guarded::exit_code(&e), RunFailed { run, error: e });
            exit.json = v.as_object().cloned();
            // The typed cause (`mvtopo::apply::step`, ...), for a program reading the JSON.
            if let Some(members) = exit.json.as_mut() {
                members.insert("cause".into(), cause);
            }
            Err(exit)
        }
    }
}

/// A failed run as it is reported: the command's code (`mvtopo::apply::failed`, ...) and
/// the whole story, for a person: what failed, why (the cause's hint), what was undone.
/// The cause's own code is in the JSON beside it (`"cause"`).
#[derive(Debug)]
struct RunFailed {
    run: Run,
    error: ApplyError,
}

impl std::error::Error for RunFailed {}

impl miette::Diagnostic for RunFailed {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.run.failed()))
    }
}

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (e, verb) = (&self.error, self.run.verb());
        match e {
            ApplyError::Interrupted { .. } => write!(f, "{verb} {e}: undoing what it had done")?,
            ApplyError::Reverted { .. } => write!(f, "{verb}: reverted, {e}")?,
            _ => write!(f, "{verb} failed: {e}")?,
        }
        if let ApplyError::Step { step, .. } = e {
            write!(f, "\n  failed step: {}", render::step_line(step))?;
        }
        if let ApplyError::Verify { remaining, .. } = e {
            for st in remaining {
                write!(f, "\n  still pending: {}", render::step_line(st))?;
            }
        }
        if let Some(h) = e.help() {
            write!(f, "\n  hint: {h}")?;
        }
        match e.undo() {
            Some(u) => write_undo(f, u),
            None => Ok(()),
        }
    }
}

/// What undo did, and whether the system is as it was found.
fn write_undo(f: &mut std::fmt::Formatter<'_>, u: &apply::UndoReport) -> std::fmt::Result {
    if u.undone.is_empty() && u.failed.is_empty() {
        write!(f, "\n  nothing had been changed yet")?;
    } else {
        write!(
            f,
            "\n  undone: {} kernel request(s), in reverse order",
            u.undone.len()
        )?;
        for r in &u.undone {
            write!(f, "\n    {r}")?;
        }
    }
    if u.complete() {
        return write!(f, "\n  the system is as it was found");
    }
    for (st, err) in &u.failed {
        write!(f, "\n  could not undo: {st} ({err})")?;
    }
    write!(
        f,
        "\n  the system may be partly changed: run `mvtopo plan` to see what remains"
    )
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

#[cfg(test)]
mod tests {
    use miette::Diagnostic;

    use super::*;
    use crate::apply::UndoReport;

    /// The report carries the command's code and the whole story; the cause keeps its own.
    #[test]
    fn a_failed_run_reports_the_commands_code_and_the_causes_story() {
        let failed = RunFailed {
            run: Run::Destroy,
            error: ApplyError::Interrupted {
                signal: 15,
                undo: UndoReport::default(),
            },
        };
        let code = |d: &dyn Diagnostic| d.code().map(|c| c.to_string());
        assert_eq!(code(&failed).as_deref(), Some("mvtopo::destroy::failed"));
        assert_eq!(
            code(&failed.error).as_deref(),
            Some("mvtopo::apply::interrupted")
        );
        assert_eq!(
            failed.to_string(),
            "destroy interrupted by SIGTERM: undoing what it had done\n  nothing had been changed yet\n  the system is as it was found"
        );
    }
}
