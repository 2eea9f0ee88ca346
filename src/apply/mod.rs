//! Carrying out a plan: lower each step into kernel requests and make them one at a time
//! (independent ones at once: `batch::independent`), noting every accepted one; on the
//! first refusal, an interrupt, a failed verification or a declined confirmation, undo
//! exactly the accepted requests, last first. Then re-read the kernel and verify that nothing is left to do
//! (nmstate's apply → re-retrieve → verify). Pure over the `Backend` seam, so every failure
//! path is tested with the fake kernel.

pub mod backend;
pub mod batch;
pub mod requests;
pub mod state;
pub mod undo;

use std::sync::atomic::{AtomicI32, Ordering};

use self::backend::{Backend, BackendError};
use crate::code::Code;
use crate::diff::PlanError;
use crate::live::LiveState;
use crate::plan::{Plan, Step};

pub use batch::batch_deletes;
pub use requests::{MacvlanAttr, NewKind, NewLink, Request, lower};
pub use undo::{Accepted, UndoReport};

/// "SIGINT" for 2; the number for a signal nix does not know.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Steps executed (0 when the system was already in sync).
    pub executed: usize,
    /// Kernel requests made.
    pub requests: usize,
}

/// What a progress observer sees, just before each kernel request of a run is made.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'r> {
    /// Requests accepted so far in this run (0 for the first request; this one is
    /// number `done + 1`).
    pub done: usize,
    /// The requests the plan's steps lower into (undo's requests are not counted).
    pub total: usize,
    /// The request about to be made.
    pub request: &'r Request,
}

/// How a run is steered from outside: interrupts, a last confirmation, and an observer.
pub struct Control<'a> {
    /// Polled before each kernel request. Non-zero (a signal number) stops the run: the
    /// request in flight has finished; everything done so far is undone (a second signal
    /// during undo is ignored: undo always runs to the end) and `run` returns
    /// ApplyError::Interrupted { signal, undo }.
    pub stop: &'a AtomicI32,
    /// Called once after verification succeeded: Ok(()) keeps the change; Err(reason)
    /// undoes everything and `run` returns ApplyError::Reverted { reason, undo }.
    pub confirm: Option<&'a mut dyn FnMut() -> Result<(), String>>,
    /// Called just before each kernel request is made, in order (not for undo's requests).
    pub progress: Option<&'a mut dyn FnMut(Progress<'_>)>,
}

/// Never set: the stop flag of a run nobody interrupts.
static NEVER: AtomicI32 = AtomicI32::new(0);

impl Default for Control<'_> {
    /// Not interruptible, nothing to confirm.
    fn default() -> Self {
        Control {
            stop: &NEVER,
            confirm: None,
            progress: None,
        }
    }
}

/// Why an apply or destroy failed. In every case the requests already accepted were undone
/// (in reverse), and `undo` says what that took.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Reading the kernel to verify the run failed.
    #[error("reading the kernel state after apply failed: {error}")]
    Snapshot {
        #[source]
        error: Box<BackendError>,
        undo: UndoReport,
    },
    #[error("step {index} of {total} failed: {error}")]
    Step {
        /// 1-based, as printed in the plan.
        index: usize,
        total: usize,
        step: Box<Step>,
        /// The request the kernel refused (`None`: the step has no request the kernel
        /// could carry out, refused before any was made).
        request: Option<Box<Request>>,
        error: Box<BackendError>,
        undo: UndoReport,
    },
    #[error("verification failed: {} change(s) still pending after apply{}", remaining.len(), pending_summary(remaining))]
    Verify {
        remaining: Vec<Step>,
        undo: UndoReport,
    },
    /// Planning against the state after apply failed: something in the way appeared
    /// meanwhile, or the planner met a state it believed impossible.
    #[error("verification could not plan against the state after apply: {error}")]
    Unverifiable {
        #[source]
        error: Box<PlanError>,
        undo: UndoReport,
    },
    #[error("interrupted by {}", signal_name(*signal))]
    Interrupted { signal: i32, undo: UndoReport },
    #[error("reverted: {reason}")]
    Reverted { reason: String, undo: UndoReport },
}

/// ": red/eth0 mtu, ..." — what verification still found off, by object and field.
fn pending_summary(remaining: &[Step]) -> String {
    let items: Vec<String> = remaining
        .iter()
        .take(5)
        .map(|s| {
            let what = s
                .object()
                .link()
                .map_or_else(|| format!("{:?}", s.object().key()), |l| l.to_string());
            match s {
                Step::Update { changes, .. } => {
                    let fields: Vec<String> = changes
                        .iter()
                        .map(|c| {
                            serde_json::to_value(c)
                                .ok()
                                .and_then(|v| v["field"].as_str().map(str::to_owned))
                                .unwrap_or_default()
                        })
                        .collect();
                    format!("{} {what} ({})", s.object().kind(), fields.join(", "))
                }
                _ => format!("{} {} {what}", s.action(), s.object().kind()),
            }
        })
        .collect();
    let more = remaining.len().saturating_sub(items.len());
    let mut out = format!(": {}", items.join("; "));
    if more > 0 {
        out.push_str(&format!("; and {more} more"));
    }
    out
}

impl ApplyError {
    pub fn undo(&self) -> Option<&UndoReport> {
        match self {
            ApplyError::Snapshot { undo, .. }
            | ApplyError::Step { undo, .. }
            | ApplyError::Verify { undo, .. }
            | ApplyError::Unverifiable { undo, .. }
            | ApplyError::Interrupted { undo, .. }
            | ApplyError::Reverted { undo, .. } => Some(undo),
        }
    }
    /// The kernel's hint for the failing step, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Snapshot { error: e, .. } | ApplyError::Step { error: e, .. } => {
                e.hint()
            }
            ApplyError::Verify { .. } => Some(
                "something changed the system while mvtopo ran, or the kernel adjusted a value; run `mvtopo plan` to see what differs".to_owned(),
            ),
            ApplyError::Unverifiable { .. } => Some(
                "run `mvtopo plan`: if it names something in the way, remove that; if it plans without complaint, this is a bug in mvtopo, please report it with the output of `mvtopo show --format json`".to_owned(),
            ),
            ApplyError::Interrupted { .. } | ApplyError::Reverted { .. } => None,
        }
    }
}

/// A failed run as a diagnostic: a code per way of failing, the hint as its help.
impl miette::Diagnostic for ApplyError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(match self {
            ApplyError::Snapshot { .. } => Code::ApplySnapshot,
            ApplyError::Step { .. } => Code::ApplyStep,
            ApplyError::Verify { .. } => Code::ApplyVerify,
            ApplyError::Unverifiable { .. } => Code::ApplyUnverifiable,
            ApplyError::Interrupted { .. } => Code::ApplyInterrupted,
            ApplyError::Reverted { .. } => Code::ApplyReverted,
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.hint()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display + 'a>)
    }

    /// What verification met, as its own diagnostic (the plan's code: which object is in
    /// the way; the kernel's errno).
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        match self {
            ApplyError::Unverifiable { error, .. } => Some(error.as_ref()),
            ApplyError::Snapshot { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// The most requests made at once (`Backend::request_many`).
const MAX_IN_FLIGHT: usize = 256;

/// How often verification re-reads the kernel when something is still off, and how long
/// it waits before each re-read: some state settles asynchronously (a namespace's links
/// are torn down by a workqueue after `ip netns del` returns), so one read right after the
/// last request can see a moment that is already over.
const VERIFY_RETRIES: [u64; 3] = [10, 40, 150];

/// Execute `plan` (made against `live`) through `backend`, then verify with `check`, which gets
/// the fresh snapshot and returns the steps still pending (empty when the system matches),
/// or why it could not plan against it at all (then everything is undone too: an apply
/// that cannot be verified is not kept).
/// On any failure, every accepted request is undone in reverse order.
pub fn run(
    backend: &mut dyn Backend,
    plan: &Plan,
    live: &LiveState,
    check: &dyn Fn(&LiveState) -> Checked,
    mut control: Control<'_>,
) -> Result<Outcome, ApplyError> {
    // Nothing to do: the snapshot the plan was made from is the verification, and a
    // no-op apply makes no request at all, not even a second read.
    if plan.steps.is_empty() {
        return Ok(Outcome {
            executed: 0,
            requests: 0,
        });
    }
    let Requests {
        steps,
        requests,
        unlowerable,
    } = requests_of(plan, live);
    let mut run = Running {
        backend,
        plan,
        owner: plan.topology.as_str(),
        live,
        accepted: Vec::with_capacity(requests.len()),
        steps,
        requests,
    };
    run.execute(&mut control)?;
    if let Some((i, e)) = unlowerable {
        return Err(run.fail(i, None, e));
    }
    let requests = run.accepted.len();
    // Undo can make them again (`Running::undo`): not held while verification reads the
    // kernel and plans, the run's peak of memory.
    run.requests = Vec::new();
    run.verify_and_confirm(check, &mut control)?;
    Ok(Outcome {
        executed: plan.steps.len(),
        requests,
    })
}

/// The requests a run makes, in order.
struct Requests {
    /// Each request's step (an index into the plan's steps).
    steps: Vec<usize>,
    requests: Vec<Request>,
    /// The step that could not be lowered, after the requests, if any.
    unlowerable: Option<(usize, BackendError)>,
}

/// The requests `plan`, made against `live`, lowers into (`lower_plan`, `batch_lowered`):
/// a function of the two alone, so the same every time.
fn requests_of(plan: &Plan, live: &LiveState) -> Requests {
    let mut lowered = lower_plan(plan, live);
    let total = batch_lowered(&mut lowered);
    let mut out = Requests {
        steps: Vec::with_capacity(total),
        requests: Vec::with_capacity(total),
        unlowerable: None,
    };
    for (i, lowering) in lowered {
        match lowering {
            Ok(r) => {
                out.steps.extend(std::iter::repeat_n(i, r.len()));
                out.requests.extend(r);
            }
            Err(e) => out.unlowerable = Some((i, e)),
        }
    }
    out
}

/// Every step of `plan` lowered up front, against the state the requests before it leave
/// behind (as `state::apply` predicts it), so the observer knows the total. Lowering is
/// pure and the run's own state evolves by exactly these requests, so these are the
/// requests the run makes. A step that cannot be lowered ends the list; the run fails
/// there, after the requests before it, as it would lowering step by step. Steps another
/// delete carries out (see `implied_deletes`) are left out.
type Lowered = Vec<(usize, Result<Vec<Request>, BackendError>)>;

fn lower_plan(plan: &Plan, live: &LiveState) -> Lowered {
    let owner = plan.topology.as_str();
    let implied = implied_deletes(&plan.steps);
    let mut lowered: Lowered = Vec::with_capacity(plan.steps.len());
    let mut ahead = live.clone();
    // Single deletes that join one batch are applied to `ahead` together, when the run
    // ends: one pass over the state instead of one per link (a run's deletes lower the
    // same against the state before it; see `DeleteRun`).
    let mut run = batch::DeleteRun::default();
    for (i, step) in plan.steps.iter().enumerate() {
        if implied[i].is_some() {
            // Carried out by a later delete (see `implied_deletes`).
            continue;
        }
        let mut lowering = lower(step, &ahead);
        if let Ok(r) = &lowering
            && run.join(r)
        {
            lowered.push((i, lowering));
            continue;
        }
        if let Some(batch) = run.take() {
            state::apply(&mut ahead, &batch, owner);
            lowering = lower(step, &ahead);
            if let Ok(r) = &lowering
                && run.join(r)
            {
                lowered.push((i, lowering));
                continue;
            }
        }
        match lowering {
            Ok(requests) => {
                for r in &requests {
                    state::apply(&mut ahead, r, owner);
                }
                lowered.push((i, Ok(requests)));
            }
            Err(e) => {
                lowered.push((i, Err(e)));
                break;
            }
        }
    }
    lowered
}

/// Runs of single-link deletes in one namespace go to the kernel as one batch each
/// (same effect, one RCU grace period instead of one per link; see `batch_deletes`).
/// The batch is made as the first step of its run: a refusal names that step.
/// Returns how many requests the lowered steps now make.
fn batch_lowered(lowered: &mut Lowered) -> usize {
    let ok = lowered.iter().take_while(|(_, r)| r.is_ok()).count();
    let mut runs: Vec<Vec<Request>> = lowered[..ok]
        .iter_mut()
        .map(|(_, r)| r.as_mut().map(std::mem::take).unwrap_or_default())
        .collect();
    batch::batch_deletes(&mut runs);
    let total = runs.iter().map(Vec::len).sum();
    for ((_, r), batched) in lowered.iter_mut().zip(runs) {
        *r = Ok(batched);
    }
    total
}

/// A run under way: its requests, and which of them the kernel accepted, in the order it
/// did. Undo needs the state the run has reached and each accepted request's prior state
/// (`Accepted`); they are worked out when undo runs, by applying the accepted requests to
/// the state before the run in that order, exactly as the kernel did (`state::apply` is
/// deterministic). Keeping them up to date along the way held a copy of the state and one
/// of every link a request touched for the whole run: at W2 (10,000 macvlans) some 30 MB.
struct Running<'a> {
    backend: &'a mut dyn Backend,
    plan: &'a Plan,
    owner: &'a str,
    /// The state before the run.
    live: &'a LiveState,
    /// Each request's step (an index into the plan's steps).
    steps: Vec<usize>,
    /// Empty once every request is made (see `undo`).
    requests: Vec<Request>,
    /// Indices into `requests` of those accepted, in the order they were.
    accepted: Vec<usize>,
}

impl Running<'_> {
    /// Undo every accepted request, last first.
    fn undo(&mut self) -> UndoReport {
        if self.requests.is_empty() && !self.accepted.is_empty() {
            self.requests = requests_of(self.plan, self.live).requests;
        }
        let mut now = self.live.clone();
        let journal: Vec<Accepted> = self
            .accepted
            .iter()
            .map(|&k| {
                let request = self.requests[k].clone();
                let prior = state::apply(&mut now, &request, self.owner);
                Accepted { request, prior }
            })
            .collect();
        undo::undo(self.backend, &journal, &mut now, self.owner)
    }

    /// Step `i` failed (at `request`, if it got that far): undo, and say so.
    fn fail(&mut self, i: usize, request: Option<Request>, error: BackendError) -> ApplyError {
        let undo = self.undo();
        ApplyError::Step {
            index: i + 1,
            total: self.plan.steps.len(),
            step: Box::new(self.plan.steps[i].clone()),
            request: request.map(Box::new),
            error: Box::new(error),
            undo,
        }
    }

    /// Make the requests in order, independent ones in flight at once, noting every
    /// accepted one.
    fn execute(&mut self, control: &mut Control<'_>) -> Result<(), ApplyError> {
        let stop = control.stop;
        let total = self.requests.len();
        let mut first = 0;
        while first < total {
            // Independent requests after it go with it, all in flight at once.
            let mut end = first + 1;
            while end < total
                && end - first < MAX_IN_FLIGHT
                && batch::independent(&self.requests[first..end], &self.requests[end])
            {
                end += 1;
            }
            let signal = stop.load(Ordering::SeqCst);
            if signal != 0 {
                let undo = self.undo();
                return Err(ApplyError::Interrupted { signal, undo });
            }
            if let Some(observe) = control.progress.as_mut() {
                for (k, request) in self.requests[first..end].iter().enumerate() {
                    observe(Progress {
                        done: self.accepted.len() + k,
                        total,
                        request,
                    });
                }
            }
            self.make(first..end, stop)?;
            first = end;
        }
        Ok(())
    }

    /// Make one group of requests (all at once when more than one) and note every accepted
    /// one, also those after a refusal (made at once).
    fn make(&mut self, group: std::ops::Range<usize>, stop: &AtomicI32) -> Result<(), ApplyError> {
        let requests = &self.requests[group.clone()];
        let results = match requests {
            [one] => vec![self.backend.request(one, self.owner)],
            many => self.backend.request_many(many, self.owner, stop),
        };
        let made = results.len() == group.len();
        let mut refused = None;
        for (k, result) in group.zip(results) {
            match result {
                Ok(()) => self.accepted.push(k),
                Err(e) => {
                    refused.get_or_insert((k, e));
                }
            }
        }
        if let Some((k, e)) = refused {
            let request = self.requests[k].clone();
            return Err(self.fail(self.steps[k], Some(request), e));
        }
        // A backend making them one at a time stopped before the rest: an interrupt.
        if !made {
            let signal = stop.load(Ordering::SeqCst);
            let undo = self.undo();
            return Err(ApplyError::Interrupted { signal, undo });
        }
        Ok(())
    }

    /// Re-read the kernel and check nothing is left to do, then ask for the last
    /// confirmation; on either failing, undo everything.
    fn verify_and_confirm(
        &mut self,
        check: &dyn Fn(&LiveState) -> Checked,
        control: &mut Control<'_>,
    ) -> Result<(), ApplyError> {
        let remaining = match verify(self.backend, check) {
            Ok(Ok(r)) => r,
            Ok(Err(error)) => {
                let undo = self.undo();
                return Err(ApplyError::Unverifiable {
                    error: Box::new(error),
                    undo,
                });
            }
            Err(error) => {
                let undo = self.undo();
                return Err(ApplyError::Snapshot {
                    error: Box::new(error),
                    undo,
                });
            }
        };
        if !remaining.is_empty() {
            let undo = self.undo();
            return Err(ApplyError::Verify { remaining, undo });
        }
        if let Some(confirm) = control.confirm.as_mut()
            && let Err(reason) = confirm()
        {
            let undo = self.undo();
            return Err(ApplyError::Reverted { reason, undo });
        }
        Ok(())
    }
}

/// What verification found: the steps still pending (none when the system matches the
/// file), or why no plan can be made against the state after the run.
pub type Checked = Result<Vec<Step>, PlanError>;

/// Re-read the kernel and return what is still pending, re-reading a few times (briefly)
/// while something is.
fn verify(
    backend: &mut dyn Backend,
    check: &dyn Fn(&LiveState) -> Checked,
) -> Result<Checked, BackendError> {
    let mut remaining = check(&backend.snapshot()?);
    for ms in VERIFY_RETRIES {
        if remaining.as_ref().is_ok_and(Vec::is_empty) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(ms));
        remaining = check(&backend.snapshot()?);
    }
    Ok(remaining)
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
    // Each hop goes to a later step (the filter above), so a chain ends. Walking backwards,
    // every later carrier's own carrier is already final: one hop each.
    for i in (0..by.len()).rev() {
        if let Some(j) = by[i]
            && let Some(k) = by[j]
        {
            by[i] = Some(k);
        }
    }
    by
}
