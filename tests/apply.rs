//! The executor against the fake kernel: a plan refused at any kernel request, interrupted,
//! reverted, or whose result does not verify, leaves the state exactly as it was found; a
//! plan in sync makes no requests.
//!
//! The scenarios are the golden plan cases (tests/cases/plan-*/): every one of their plans is
//! refused at every request in turn. One trial per check and case, `CHECK::CASE`
//! (`cargo test --test apply -- plan-foo` runs one case's).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::cases::{Check, PlanCase, per_case, plan_cases};
use libtest_mimic::{Arguments, Trial};
use mvtopo::apply::backend::{Backend, BackendError};
use mvtopo::apply::{self, ApplyError, Progress, Request};
use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::live::LiveState;
use mvtopo::model::Topology;
use mvtopo::plan::Step;

fn main() {
    let args = Arguments::from_args();
    let cases = plan_cases();
    let named: Vec<(String, Arc<PlanCase>)> = cases
        .iter()
        .map(|c| (c.name.clone(), Arc::clone(c)))
        .collect();
    let checks: [Check<PlanCase>; 6] = [
        (
            "every_plan_applies_and_verifies",
            every_plan_applies_and_verifies,
        ),
        (
            "a_failure_at_any_request_leaves_the_state_as_found",
            a_failure_at_any_request_leaves_the_state_as_found,
        ),
        ("in_sync_makes_no_calls", in_sync_makes_no_calls),
        (
            "an_interrupt_at_any_request_undoes_everything",
            an_interrupt_at_any_request_undoes_everything,
        ),
        (
            "multi_request_steps_are_refused_partway_and_undone",
            multi_request_steps_are_refused_partway_and_undone,
        ),
        (
            "the_observer_sees_every_request_in_order_with_done_and_total",
            the_observer_sees_every_request_in_order_with_done_and_total,
        ),
    ];
    let mut trials = per_case(&named, &checks);
    let single: [Check<[Arc<PlanCase>]>; 5] = [
        (
            "the_cases_exercise_enough_points",
            the_cases_exercise_enough_points,
        ),
        (
            "a_result_that_does_not_verify_is_undone",
            a_result_that_does_not_verify_is_undone,
        ),
        (
            "a_failed_verifying_read_or_plan_is_undone_and_reported",
            a_failed_verifying_read_or_plan_is_undone_and_reported,
        ),
        (
            "deletes_carried_by_a_parent_or_namespace_delete_make_no_call",
            deletes_carried_by_a_parent_or_namespace_delete_make_no_call,
        ),
        (
            "a_declined_confirmation_reverts_and_an_accepted_one_keeps",
            a_declined_confirmation_reverts_and_an_accepted_one_keeps,
        ),
    ];
    for (name, f) in single {
        let cases = cases.clone();
        trials.push(Trial::test(name, move || {
            f(&cases);
            Ok(())
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The case whose name contains `part`.
fn find<'c>(cases: &'c [Arc<PlanCase>], part: &str) -> &'c PlanCase {
    cases
        .iter()
        .find(|c| c.name.contains(part))
        .unwrap_or_else(|| panic!("no plan case named like {part}"))
}

/// The requests a clean run of the case's plan makes on the fake.
fn clean_calls(c: &PlanCase) -> Vec<Request> {
    let plan = diff(&c.topology, &c.live).unwrap();
    let mut clean = FakeBackend::new(c.live.clone());
    apply::run(
        &mut clean,
        &plan,
        &c.live,
        &verifier(&c.topology),
        Default::default(),
    )
    .unwrap();
    clean.calls
}

/// The case's plan lowered step by step against the state each reaches: its requests, and
/// how many points inside a step (between two requests of one step) there are.
fn lowered(c: &PlanCase) -> (Vec<Request>, usize) {
    let plan = diff(&c.topology, &c.live).unwrap();
    let mut state = c.live.clone();
    let mut per_step = Vec::new();
    let mut partway = 0;
    let implied = apply::implied_deletes(&plan.steps);
    for (i, s) in plan.steps.iter().enumerate() {
        if implied[i].is_some() {
            continue;
        }
        let rs = apply::lower(s, &state).unwrap();
        for r in &rs {
            apply::state::apply(&mut state, r, &plan.topology);
        }
        partway += rs.len().saturating_sub(1);
        per_step.push(rs);
    }
    // Runs of single deletes in one namespace go as one batch.
    apply::batch_deletes(&mut per_step);
    let requests: Vec<Request> = per_step.into_iter().flatten().collect();
    (requests, partway)
}

/// The per-case checks together exercise enough: failure points (every request of every
/// case), interrupt points (all but each case's last), points inside a step, and plans that
/// change something.
fn the_cases_exercise_enough_points(cases: &[Arc<PlanCase>]) {
    let (mut failures, mut interrupts, mut partway, mut changing) = (0, 0, 0, 0);
    for c in cases {
        let calls = clean_calls(c).len();
        failures += calls;
        interrupts += calls.saturating_sub(1);
        partway += lowered(c).1;
        if !diff(&c.topology, &c.live).unwrap().steps.is_empty() {
            changing += 1;
        }
    }
    assert!(failures > 30, "only {failures} failure points exercised");
    assert!(
        interrupts > 30,
        "only {interrupts} interrupt points exercised"
    );
    assert!(partway > 20, "only {partway} points inside a step");
    assert!(changing >= 5, "only {changing} changing plan cases");
}

fn verifier(t: &Topology) -> impl Fn(&LiveState) -> mvtopo::apply::Checked + '_ {
    move |after: &LiveState| diff(t, after).map(|p| p.steps)
}

fn every_plan_applies_and_verifies(c: &PlanCase) {
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut fake = FakeBackend::new(live.clone());
    let out = apply::run(&mut fake, &plan, live, &verifier(t), Default::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(out.executed, plan.steps.len(), "{name}");
    assert!(diff(t, &fake.state).unwrap().in_sync, "{name}");
}

fn a_failure_at_any_request_leaves_the_state_as_found(c: &PlanCase) {
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    // Some deletes are carried out by a later one (apply::implied_deletes) and make no
    // call of their own: fail at every call a clean run makes.
    let mut clean = FakeBackend::new(live.clone());
    apply::run(&mut clean, &plan, live, &verifier(t), Default::default()).unwrap();
    for n in 0..clean.calls.len() {
        let mut fake = FakeBackend::new(live.clone()).fail_at(n, libc::EINVAL);
        let err = apply::run(&mut fake, &plan, live, &verifier(t), Default::default())
            .expect_err("an injected failure must fail the apply");
        match &err {
            ApplyError::Step {
                error,
                undo,
                request,
                ..
            } => {
                assert_eq!(
                    request.as_deref(),
                    Some(&clean.calls[n]),
                    "{name}: the refused request is the one made at that point"
                );
                assert_eq!(error.errno, Some(libc::EINVAL), "{name}");
                assert!(
                    undo.complete(),
                    "{name} step {n}: undo failed: {:?}",
                    undo.failed
                );
            }
            other => panic!("{name}: unexpected error {other}"),
        }
        let mut after = fake.state.clone();
        after.normalize();
        // Kernel-picked MACs of links recreated by the undo are restored exactly,
        // because undo recreates from the live objects, MAC included.
        assert_eq!(
            after,
            *live,
            "{name}: failing at step {} did not restore the state",
            n + 1
        );
    }
}

fn in_sync_makes_no_calls(c: &PlanCase) {
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut fake = FakeBackend::new(live.clone());
    apply::run(&mut fake, &plan, live, &verifier(t), Default::default()).unwrap();
    let settled = fake.state.clone();
    let again = diff(t, &settled).unwrap();
    assert!(
        again.in_sync,
        "{name}: second plan not in sync: {:?}",
        again.steps
    );
    let mut fake = FakeBackend::new(settled.clone());
    let out = apply::run(
        &mut fake,
        &again,
        &settled,
        &verifier(t),
        Default::default(),
    )
    .unwrap();
    assert_eq!(out.executed, 0, "{name}");
    assert!(
        fake.calls.is_empty(),
        "{name}: calls on a no-op apply: {:?}",
        fake.calls
    );
}

/// A backend that reports success for one step without doing it: what verify exists to catch
/// (a kernel that silently adjusted or ignored a value).
struct Liar {
    inner: FakeBackend,
    skip: usize,
    n: usize,
}

impl Backend for Liar {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        self.inner.snapshot()
    }
    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError> {
        self.n += 1;
        if self.n - 1 == self.skip {
            return Ok(());
        }
        self.inner.request(request, owner)
    }
    fn claim(&mut self, object: &mvtopo::plan::Object, owner: &str) -> Result<(), BackendError> {
        self.inner.claim(object, owner)
    }
}

fn a_result_that_does_not_verify_is_undone(cases: &[Arc<PlanCase>]) {
    let c = find(cases, "empty");
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut clean = FakeBackend::new(live.clone());
    apply::run(&mut clean, &plan, live, &verifier(t), Default::default()).unwrap();
    // Skip the last request: everything before it ran, so there is something to undo.
    let skip = clean.calls.len() - 1;
    let mut liar = Liar {
        inner: FakeBackend::new(live.clone()),
        skip,
        n: 0,
    };
    let err = apply::run(&mut liar, &plan, live, &verifier(t), Default::default()).unwrap_err();
    let ApplyError::Verify { remaining, undo } = err else {
        panic!("{name}: expected a verification failure");
    };
    assert_eq!(remaining.len(), 1, "{name}: {remaining:?}");
    assert!(undo.complete());
    let mut after = liar.inner.state.clone();
    after.normalize();
    assert_eq!(
        after, *live,
        "{name}: verify failure did not restore the state"
    );
}

/// A backend whose every request works but whose reads fail: the verifying snapshot after
/// the run.
struct Blind(FakeBackend);

impl Backend for Blind {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        Err(BackendError::new(
            "dump links",
            "own namespace",
            Some(libc::ENOBUFS),
            "no buffer space available",
        ))
    }
    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError> {
        self.0.request(request, owner)
    }
    fn claim(&mut self, object: &mvtopo::plan::Object, owner: &str) -> Result<(), BackendError> {
        self.0.claim(object, owner)
    }
}

fn a_failed_verifying_read_or_plan_is_undone_and_reported(cases: &[Arc<PlanCase>]) {
    let c = find(cases, "empty");
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let restored = |state: &LiveState| {
        let mut after = state.clone();
        after.normalize();
        assert_eq!(after, *live, "{name}: the run was not undone");
    };
    let mut blind = Blind(FakeBackend::new(live.clone()));
    let err = apply::run(&mut blind, &plan, live, &verifier(t), Default::default()).unwrap_err();
    let ApplyError::Snapshot { error, undo } = &err else {
        panic!("{name}: expected a failed read, got {err}");
    };
    assert_eq!(error.errno, Some(libc::ENOBUFS));
    // What undo did is reported, as for every other failure after a request.
    assert!(
        !undo.undone.is_empty() && undo.complete(),
        "{name}: {undo:?}"
    );
    assert_eq!(err.undo(), Some(undo));
    restored(&blind.0.state);

    // The planner's refusal is kept typed: its own code is the diagnostic's source.
    let mut fake = FakeBackend::new(live.clone());
    let refuse = |_: &LiveState| -> mvtopo::apply::Checked {
        Err(mvtopo::diff::PlanError::Internal {
            what: "a state the planner believed impossible".into(),
        })
    };
    let err = apply::run(&mut fake, &plan, live, &refuse, Default::default()).unwrap_err();
    let ApplyError::Unverifiable { error, undo } = &err else {
        panic!("{name}: expected an unverifiable result, got {err}");
    };
    assert!(matches!(**error, mvtopo::diff::PlanError::Internal { .. }));
    assert!(
        !undo.undone.is_empty() && undo.complete(),
        "{name}: {undo:?}"
    );
    let d: &dyn miette::Diagnostic = &err;
    let code = |d: &dyn miette::Diagnostic| d.code().map(|c| c.to_string());
    assert_eq!(code(d).as_deref(), Some("mvtopo::apply::unverifiable"));
    assert_eq!(
        d.diagnostic_source().and_then(code),
        code(error.as_ref() as &dyn miette::Diagnostic)
    );
    restored(&fake.state);
}

fn deletes_carried_by_a_parent_or_namespace_delete_make_no_call(cases: &[Arc<PlanCase>]) {
    let c = find(cases, "prune-all");
    let (name, _t, live) = (&c.name, &c.topology, &c.live);
    let plan = mvtopo::diff::destroy("lab", live).unwrap();
    let implied = apply::implied_deletes(&plan.steps);
    assert!(
        implied.iter().any(Option::is_some),
        "{name}: nothing implied in {:?}",
        plan.steps
    );
    let mut fake = FakeBackend::new(live.clone());
    let out = apply::run(
        &mut fake,
        &plan,
        live,
        &|after: &LiveState| mvtopo::diff::destroy("lab", after).map(|p| p.steps),
        Default::default(),
    )
    .unwrap();
    // Every step is accounted as executed, but the implied ones made no call (a batch of
    // deletes counts as the deletes it carries).
    assert_eq!(out.executed, plan.steps.len());
    let made: usize = fake
        .calls
        .iter()
        .map(|c| match c {
            Request::DeleteLinks { links, .. } => links.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(made, implied.iter().filter(|i| i.is_none()).count());
    for (i, by) in implied.iter().enumerate() {
        if let Some(j) = by {
            assert!(*j > i, "a delete is carried by a later step");
            assert!(matches!(plan.steps[*j], Step::Delete { .. }));
        }
    }
}

/// Sets the stop flag (as a signal handler would) when request `at` has been made.
struct Signaller<'a> {
    inner: FakeBackend,
    stop: &'a std::sync::atomic::AtomicI32,
    at: usize,
}

impl Backend for Signaller<'_> {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        self.inner.snapshot()
    }
    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError> {
        let r = self.inner.request(request, owner);
        if self.inner.calls.len() == self.at + 1 {
            self.stop
                .store(libc::SIGINT, std::sync::atomic::Ordering::SeqCst);
        }
        r
    }
    fn claim(&mut self, object: &mvtopo::plan::Object, owner: &str) -> Result<(), BackendError> {
        self.inner.claim(object, owner)
    }
}

fn an_interrupt_at_any_request_undoes_everything(c: &PlanCase) {
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut clean = FakeBackend::new(live.clone());
    apply::run(&mut clean, &plan, live, &verifier(t), Default::default()).unwrap();
    // The signal arrives during request n; the run stops before request n + 1.
    for n in 0..clean.calls.len().saturating_sub(1) {
        let stop = std::sync::atomic::AtomicI32::new(0);
        let mut b = Signaller {
            inner: FakeBackend::new(live.clone()),
            stop: &stop,
            at: n,
        };
        let control = apply::Control {
            stop: &stop,
            confirm: None,
            progress: None,
        };
        let err = apply::run(&mut b, &plan, live, &verifier(t), control).unwrap_err();
        let ApplyError::Interrupted { signal, undo } = err else {
            panic!("{name}: request {n}: expected an interrupt, got {err}");
        };
        assert_eq!(signal, libc::SIGINT);
        assert!(undo.complete(), "{name}: {:?}", undo.failed);
        // The request in flight finished; nothing after it was made before the undo.
        assert_eq!(b.inner.calls[..=n], clean.calls[..=n], "{name}");
        let mut after = b.inner.state.clone();
        after.normalize();
        assert_eq!(after, *live, "{name}: interrupted at request {n}");
    }
}

fn a_declined_confirmation_reverts_and_an_accepted_one_keeps(cases: &[Arc<PlanCase>]) {
    let c = find(cases, "empty");
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut fake = FakeBackend::new(live.clone());
    let mut asked = 0;
    let mut no = || {
        asked += 1;
        Err("the operator said no".to_owned())
    };
    let stop = std::sync::atomic::AtomicI32::new(0);
    let control = apply::Control {
        stop: &stop,
        confirm: Some(&mut no),
        progress: None,
    };
    let err = apply::run(&mut fake, &plan, live, &verifier(t), control).unwrap_err();
    let ApplyError::Reverted { reason, undo } = err else {
        panic!("{name}: expected a revert, got {err}");
    };
    assert_eq!(reason, "the operator said no");
    assert!(undo.complete() && !undo.undone.is_empty());
    assert_eq!(asked, 1);
    let mut after = fake.state.clone();
    after.normalize();
    assert_eq!(after, *live, "{name}: a revert restores the state");

    let mut fake = FakeBackend::new(live.clone());
    let mut yes = || Ok(());
    let control = apply::Control {
        stop: &stop,
        confirm: Some(&mut yes),
        progress: None,
    };
    apply::run(&mut fake, &plan, live, &verifier(t), control).unwrap();
    assert!(diff(t, &fake.state).unwrap().in_sync, "{name}");
}

/// Lowering is the same whichever backend runs it: the requests of a golden plan on the
/// fake are exactly `lower` of each step against the state reached, and a step made of
/// several requests (a replace, an update of several fields) is refused between them.
fn multi_request_steps_are_refused_partway_and_undone(c: &PlanCase) {
    let (requests, _) = lowered(c);
    assert_eq!(clean_calls(c), requests, "{}", c.name);
}

/// (done, total, request) as the observer saw them.
type Seen = Vec<(usize, usize, Request)>;

fn run_observed(
    fake: &mut FakeBackend,
    t: &Topology,
    plan: &mvtopo::plan::Plan,
    live: &LiveState,
) -> (Result<apply::Outcome, ApplyError>, Seen) {
    let mut seen: Seen = Vec::new();
    let mut observe = |p: Progress<'_>| seen.push((p.done, p.total, p.request.clone()));
    let result = apply::run(
        fake,
        plan,
        live,
        &verifier(t),
        apply::Control {
            progress: Some(&mut observe),
            ..apply::Control::default()
        },
    );
    (result, seen)
}

fn the_observer_sees_every_request_in_order_with_done_and_total(c: &PlanCase) {
    let (name, t, live) = (&c.name, &c.topology, &c.live);
    let plan = diff(t, live).unwrap();
    let mut fake = FakeBackend::new(live.clone());
    let (result, seen) = run_observed(&mut fake, t, &plan, live);
    let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    // Exactly the requests the kernel received, in order, numbered from 0, each with the
    // same total: the number of requests the run made.
    assert_eq!(seen.len(), fake.calls.len(), "{name}");
    assert_eq!(out.requests, fake.calls.len(), "{name}");
    for (n, ((done, total, request), call)) in seen.iter().zip(&fake.calls).enumerate() {
        assert_eq!(*done, n, "{name}");
        assert_eq!(*total, fake.calls.len(), "{name}");
        assert_eq!(request, call, "{name}: request {n}");
    }
    if plan.steps.is_empty() {
        assert!(seen.is_empty(), "{name}");
        return;
    }
    // Refused halfway: the observer saw the requests up to the refused one (the total still
    // counts the whole plan), and none of undo's.
    let n = fake.calls.len() / 2;
    let all = fake.calls.clone();
    let mut failing = FakeBackend::new(live.clone()).fail_at(n, libc::EEXIST);
    let (result, seen) = run_observed(&mut failing, t, &plan, live);
    assert!(result.is_err(), "{name}");
    assert_eq!(seen.len(), n + 1, "{name}");
    for (k, (done, total, request)) in seen.iter().enumerate() {
        assert_eq!((*done, *total), (k, all.len()), "{name}");
        assert_eq!(request, &all[k], "{name}");
    }
}
