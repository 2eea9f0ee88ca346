//! Running a plan with the signal handlers installed (`interrupt::Guard`) for exactly as
//! long as it changes the system, and the exit status of a run a signal stopped.

use std::cell::RefCell;
use std::io::Write;

use crate::apply::backend::Backend;
use crate::apply::{self, ApplyError, Control, Outcome, Progress};
use crate::interrupt::{self, Guard};
use crate::live::LiveState;
use crate::plan::Plan;

use super::Exit;
use super::ui::RunProgress;

/// The signal exit statuses, for the help of the commands that change the system.
pub(super) const AFTER_HELP: &str = "\
SIGINT (Ctrl-C), SIGTERM or SIGHUP while the system is being changed: the step in flight \
finishes, everything done is undone and listed, and the exit status is 130, 143 or 129. A \
second signal does not stop the undo.";

/// `apply::run` with SIGINT, SIGTERM and SIGHUP (and SIGUSR1 when `confirm` is given)
/// turned into "stop and undo" (and "confirm") for its duration, and its requests shown as
/// `-v` and the terminal say (`ui::RunProgress`); the progress line is gone before
/// `confirm` is asked and before this returns.
pub(super) fn run(
    backend: &mut dyn Backend,
    plan: &Plan,
    live: &LiveState,
    check: &dyn Fn(&LiveState) -> apply::Checked,
    confirm: Option<&mut dyn FnMut() -> Result<(), String>>,
) -> Result<Result<Outcome, ApplyError>, Exit> {
    let guard = Guard::install(confirm.is_some()).map_err(|e| {
        Exit::failure(miette::miette!(
            "installing the signal handlers failed, nothing was changed: {e}"
        ))
    })?;
    let watch = RefCell::new(RunProgress::from_settings());
    let active = watch.borrow().active();
    let mut observe = |p: Progress<'_>| watch.borrow_mut().observe(p.done, p.total, p.request);
    let asks = confirm.is_some();
    let mut inner = confirm;
    let mut ask = || {
        watch.borrow_mut().clear();
        inner.as_mut().map_or(Ok(()), |c| c())
    };
    let result = apply::run(
        backend,
        plan,
        live,
        check,
        Control {
            stop: &interrupt::STOP,
            confirm: if asks { Some(&mut ask) } else { None },
            progress: if active { Some(&mut observe) } else { None },
        },
    );
    watch.borrow_mut().clear();
    let late = guard.stopped();
    drop(guard);
    if let (Ok(_), Some(signal)) = (&result, late) {
        // It came after the last look at the flag: the change was already complete and
        // verified, and it is kept.
        let _ = writeln!(
            std::io::stderr(),
            "mvtopo: {} came after the change was complete and verified: it is kept",
            apply::signal_name(signal)
        );
    }
    Ok(result)
}

/// The exit status for a failed run: 128 + the signal for an interrupted one (130, 143,
/// 129), 1 for any other failure.
pub(super) fn exit_code(e: &ApplyError) -> u8 {
    match e {
        ApplyError::Interrupted { signal, .. } => interrupt::exit_code(*signal),
        _ => super::EXIT_FAILURE,
    }
}
