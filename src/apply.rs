//! Carrying out a plan: execute step by step, undo everything on the first failure, then
//! re-read the kernel and verify that nothing is left to do (nmstate's apply → re-retrieve →
//! verify). Pure over the `Backend` seam, so every failure path is tested with the fake.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::backend::{Backend, BackendError};
use crate::live::LiveState;
use crate::plan::{Executed, Plan, Step, inverse_in};

/// How a run is steered from outside: stopped by a signal, and kept only when confirmed.
pub struct Control<'a> {
    /// Polled before each step (here the unit of execution and undo: a step's requests
    /// all finish before the flag is looked at), before verifying and after. Non-zero (a
    /// signal number) stops the run: everything done so far is undone (a second signal
    /// during undo is ignored: undo always runs to the end) and `run` returns
    /// ApplyError::Interrupted { signal, undo }.
    pub stop: &'a AtomicI32,
    /// Called once after verification succeeded: Ok(()) keeps the change; Err(reason)
    /// undoes everything and `run` returns ApplyError::Reverted { reason, undo }.
    pub confirm: Option<&'a mut dyn FnMut() -> Result<(), String>>,
}

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
    Snapshot(#[source] Box<BackendError>),
    #[error("step {index} of {total} failed: {error}")]
    Step {
        /// 1-based, as printed in the plan.
        index: usize,
        total: usize,
        step: Box<Step>,
        error: Box<BackendError>,
        undo: UndoReport,
    },
    #[error("verification failed: {} change(s) still pending after apply", remaining.len())]
    Verify {
        remaining: Vec<Step>,
        undo: UndoReport,
    },
    #[error("interrupted by {}", signal_name(*signal))]
    Interrupted { signal: i32, undo: UndoReport },
    #[error("not confirmed: {reason}")]
    Reverted { reason: String, undo: UndoReport },
}

/// "SIGINT" for 2; the number for a signal nix does not know.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
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
            ApplyError::Step { undo, .. }
            | ApplyError::Verify { undo, .. }
            | ApplyError::Interrupted { undo, .. }
            | ApplyError::Reverted { undo, .. } => Some(undo),
        }
    }
    /// The kernel's hint for the failing step, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Snapshot(e) | ApplyError::Step { error: e, .. } => e.hint(),
            ApplyError::Verify { .. } => Some(
                "something changed the system while mvtopo ran, or the kernel adjusted a value; run `mvtopo plan` to see what differs".to_owned(),
            ),
            ApplyError::Interrupted { .. } | ApplyError::Reverted { .. } => None,
        }
    }
}

/// Execute `plan` (made against `live`) through `backend`, then verify with `check`, which gets
/// the fresh snapshot and returns the steps still pending (empty when the system matches).
/// On any failure, every executed step is undone in reverse order; so it is when `control`
/// says stop (polled before each step, before verifying and after) or the change is not
/// confirmed.
pub fn run(
    backend: &mut dyn Backend,
    plan: &Plan,
    live: &LiveState,
    check: &dyn Fn(&LiveState) -> Vec<Step>,
    control: Control<'_>,
) -> Result<Outcome, ApplyError> {
    let Control { stop, confirm } = control;
    let stopped = || match stop.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    };
    // Nothing to do: the snapshot the plan was made from is the verification, and a
    // no-op apply makes no request at all, not even a second read.
    if plan.steps.is_empty() {
        return Ok(Outcome { executed: 0 });
    }
    let owner = plan.topology.as_str();
    let total = plan.steps.len();
    let implied = implied_deletes(&plan.steps);
    let mut carried: Vec<Vec<usize>> = vec![Vec::new(); total];
    for (i, by) in implied.iter().enumerate() {
        if let Some(j) = by {
            carried[*j].push(i);
        }
    }
    let mut done: Vec<&Step> = Vec::with_capacity(total);
    for (i, step) in plan.steps.iter().enumerate() {
        if implied[i].is_some() {
            // Carried out by a later delete (see `implied_deletes`); it counts as done
            // when that one has run.
            continue;
        }
        if let Some(signal) = stopped() {
            let undo = undo(backend, &done, live, owner);
            return Err(ApplyError::Interrupted { signal, undo });
        }
        if let Err(error) = backend.execute(step, owner) {
            let undo = undo(backend, &done, live, owner);
            return Err(ApplyError::Step {
                index: i + 1,
                total,
                step: Box::new(step.clone()),
                error: Box::new(error),
                undo,
            });
        }
        // The links this delete took along are undone after it is (undo runs in reverse):
        // the parent or namespace comes back first, then they do.
        done.extend(carried[i].iter().map(|&k| &plan.steps[k]));
        done.push(step);
    }
    if let Some(signal) = stopped() {
        let undo = undo(backend, &done, live, owner);
        return Err(ApplyError::Interrupted { signal, undo });
    }
    let after = match backend.snapshot() {
        Ok(s) => s,
        Err(e) => {
            undo(backend, &done, live, owner);
            return Err(ApplyError::Snapshot(Box::new(e)));
        }
    };
    let remaining = check(&after);
    if !remaining.is_empty() {
        let undo = undo(backend, &done, live, owner);
        return Err(ApplyError::Verify { remaining, undo });
    }
    // A signal that came while verifying still stops the run: the caller asked for it
    // before the change was complete.
    if let Some(signal) = stopped() {
        let undo = undo(backend, &done, live, owner);
        return Err(ApplyError::Interrupted { signal, undo });
    }
    if let Some(confirm) = confirm
        && let Err(reason) = confirm()
    {
        let undo = undo(backend, &done, live, owner);
        return Err(ApplyError::Reverted { reason, undo });
    }
    Ok(Outcome {
        executed: done.len(),
    })
}

/// For each step, the later step that carries it out implicitly, if any.
///
/// Deleting a link one request at a time costs a network-wide RCU grace period each
/// (~20 ms here: 1000 macvlans took 20 s), while the kernel deletes every macvlan (and
/// vlan) on a parent in one batch, in the same request, when the parent goes
/// (macvlan_device_event, NETDEV_UNREGISTER → unregister_netdevice_many). So a delete of a
/// link, or of its addresses and routes, whose parent is deleted later in the same plan is
/// left to that later delete. The plan still lists it: it is what happens, only not a
/// request of its own.
///
/// Deleting a namespace would batch its links too, but the kernel tears a namespace down
/// asynchronously (cleanup_net, from a workqueue, after the last reference is gone): its
/// links, and their MACs on a parent outside it, linger for a while after the request
/// returns, and a create right after could collide with them. So namespaces carry nothing.
pub fn implied_deletes(steps: &[Step]) -> Vec<Option<usize>> {
    use std::collections::HashMap;

    use crate::live::LinkRef;
    use crate::plan::Object;

    // The delete steps of links, by place.
    let mut link_delete: HashMap<LinkRef, usize> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        if let Step::Delete { object } = s
            && object.is_link()
            && let Some(at) = object.link()
        {
            link_delete.insert(at, i);
        }
    }
    let lower = |o: &Object| -> Option<LinkRef> {
        let name = match o {
            Object::Macvlan(m) => &m.parent,
            Object::Vlan { link, .. } => link,
            _ => return None,
        };
        Some(LinkRef {
            namespace: None,
            name: name.clone(),
        })
    };
    let mut by: Vec<Option<usize>> = vec![None; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        let Step::Delete { object } = s else { continue };
        let Some(at) = object.link() else { continue };
        // A link goes with its parent; an address or route with its link.
        let carrier = if object.is_link() {
            lower(object)
        } else {
            Some(at)
        };
        by[i] = carrier
            .and_then(|c| link_delete.get(&c).copied())
            .filter(|&j| j > i);
    }
    // Follow chains (a macvlan on a vlan on a deleted veth) to the step really executed.
    for i in 0..by.len() {
        let mut j = by[i];
        let mut hops = 0;
        while let Some(k) = j.and_then(|k| by[k]) {
            j = Some(k);
            hops += 1;
            if hops > steps.len() {
                break;
            }
        }
        by[i] = j;
    }
    by
}

/// Undo executed steps, last first. Keeps going past a failed undo step: leaving less behind
/// is better than stopping at the first problem, and every failure is reported.
fn undo(backend: &mut dyn Backend, done: &[&Step], live: &LiveState, owner: &str) -> UndoReport {
    let mut report = UndoReport::default();
    let executed = Executed::of(done.iter().copied());
    // Each executed step is undone by a group of steps (a link, then its addresses and
    // routes); a group stops at its first failure, since what follows builds on it.
    let groups: Vec<Vec<Step>> = done
        .iter()
        .rev()
        .map(|step| inverse_in(step, live, &executed))
        .collect();
    let mut deferred: Vec<(Vec<Step>, BackendError)> = Vec::new();
    for group in groups {
        if let Err(failed) = run_group(backend, group, owner, &mut report) {
            deferred.push(failed);
        }
    }
    // A group undone too early can fail and succeed later: raising a macvlan's MTU back, or
    // recreating it with its old MTU, fails (EINVAL) until its parent's MTU is raised back,
    // which an earlier step of the plan lowered and whose undo comes after. One more pass
    // over what failed, in the same order.
    for (group, first) in deferred {
        if let Err((rest, _)) = run_group(backend, group, owner, &mut report) {
            let mut rest = rest.into_iter();
            if let Some(head) = rest.next() {
                report.failed.push((head, first));
            }
            // What builds on the failed step was never tried: report it too.
            for s in rest {
                let e = BackendError::new(
                    "undo",
                    s.object().link().map(|l| l.to_string()).unwrap_or_default(),
                    None,
                    "not tried: an undo step it depends on failed",
                );
                report.failed.push((s, e));
            }
        }
    }
    report
}

/// Run one undo group; on failure, the failed step and the rest of the group, untried.
fn run_group(
    backend: &mut dyn Backend,
    group: Vec<Step>,
    owner: &str,
    report: &mut UndoReport,
) -> Result<(), (Vec<Step>, BackendError)> {
    let mut steps = group.into_iter();
    while let Some(inv) = steps.next() {
        match backend.execute(&inv, owner) {
            Ok(()) => report.undone.push(inv),
            // Undo wants the object gone; if it is already gone (the step it undoes never
            // took effect, or its parent took it along), that is the state we want.
            Err(e) if matches!(inv, Step::Delete { .. }) && already_gone(&e) => {
                report.undone.push(inv)
            }
            Err(e) => {
                let mut rest = vec![inv];
                rest.extend(steps);
                return Err((rest, e));
            }
        }
    }
    Ok(())
}

/// The errnos the kernel gives for deleting something that is not there: ENODEV for a link,
/// EADDRNOTAVAIL for an address, ESRCH for a route, ENOENT for a namespace file.
fn already_gone(e: &BackendError) -> bool {
    matches!(
        e.errno,
        Some(libc::ENOENT | libc::ENODEV | libc::EADDRNOTAVAIL | libc::ESRCH)
    )
}
