//! Carrying out a plan: execute step by step, undo everything on the first failure, then
//! re-read the kernel and verify that nothing is left to do (nmstate's apply → re-retrieve →
//! verify). Pure over the `Backend` seam, so every failure path is tested with the fake.

use crate::backend::{Backend, BackendError};
use crate::live::LiveState;
use crate::plan::{Plan, Step, inverse};

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Steps executed (0 when the system was already in sync).
    pub executed: usize,
}

/// Why an apply or destroy failed. In every case the steps already done were undone (in
/// reverse), and `undone` / `undo_failed` say what that took.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("reading the kernel state failed: {0}")]
    Snapshot(#[source] BackendError),
    #[error("step {index} of {total} failed: {error}")]
    Step {
        /// 1-based, as printed in the plan.
        index: usize,
        total: usize,
        step: Box<Step>,
        error: BackendError,
        undo: UndoReport,
    },
    #[error("verification failed: {} change(s) still pending after apply", remaining.len())]
    Verify {
        remaining: Vec<Step>,
        undo: UndoReport,
    },
}

/// What undoing the executed steps did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoReport {
    pub undone: Vec<Step>,
    pub failed: Vec<(Step, BackendError)>,
}

impl UndoReport {
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }
}

impl ApplyError {
    pub fn undo(&self) -> Option<&UndoReport> {
        match self {
            ApplyError::Snapshot(_) => None,
            ApplyError::Step { undo, .. } | ApplyError::Verify { undo, .. } => Some(undo),
        }
    }
    /// The kernel's hint for the failing step, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Snapshot(e) | ApplyError::Step { error: e, .. } => e.hint(),
            ApplyError::Verify { .. } => Some(
                "something changed the system while mvtopo ran, or the kernel adjusted a value; run `mvtopo plan` to see what differs".to_owned(),
            ),
        }
    }
}

/// Execute `plan` (made against `live`) through `backend`, then verify with `check`, which gets
/// the fresh snapshot and returns the steps still pending (empty when the system matches).
/// On any failure, every executed step is undone in reverse order.
pub fn run(
    backend: &mut dyn Backend,
    plan: &Plan,
    live: &LiveState,
    check: &dyn Fn(&LiveState) -> Vec<Step>,
) -> Result<Outcome, ApplyError> {
    let owner = plan.topology.as_str();
    let total = plan.steps.len();
    let mut done: Vec<&Step> = Vec::with_capacity(total);
    for (i, step) in plan.steps.iter().enumerate() {
        if let Err(error) = backend.execute(step, owner) {
            let undo = undo(backend, &done, live, owner);
            return Err(ApplyError::Step {
                index: i + 1,
                total,
                step: Box::new(step.clone()),
                error,
                undo,
            });
        }
        done.push(step);
    }
    let after = match backend.snapshot() {
        Ok(s) => s,
        Err(e) => {
            undo(backend, &done, live, owner);
            return Err(ApplyError::Snapshot(e));
        }
    };
    let remaining = check(&after);
    if !remaining.is_empty() {
        let undo = undo(backend, &done, live, owner);
        return Err(ApplyError::Verify { remaining, undo });
    }
    Ok(Outcome {
        executed: done.len(),
    })
}

/// Undo executed steps, last first. Keeps going past a failed undo step: leaving less behind
/// is better than stopping at the first problem, and every failure is reported.
fn undo(backend: &mut dyn Backend, done: &[&Step], live: &LiveState, owner: &str) -> UndoReport {
    let mut report = UndoReport::default();
    for step in done.iter().rev() {
        for inv in inverse(step, live) {
            match backend.execute(&inv, owner) {
                Ok(()) => report.undone.push(inv),
                Err(e) => report.failed.push((inv, e)),
            }
        }
    }
    report
}
