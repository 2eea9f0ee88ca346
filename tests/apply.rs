//! The executor against the fake kernel: a plan refused at any kernel request, interrupted,
//! reverted, or whose result does not verify, leaves the state exactly as it was found; a
//! plan in sync makes no requests.
//!
//! The scenarios are the golden plan cases (tests/cases/plan-*/): every one of their plans is
//! refused at every request in turn.

use std::path::{Path, PathBuf};

use mvtopo::apply::{self, ApplyError, Request};
use mvtopo::backend::{Backend, BackendError};
use mvtopo::check::load_str;
use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::live::LiveState;
use mvtopo::model::Topology;
use mvtopo::plan::Step;

fn cases() -> Vec<(String, Topology, LiveState)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("plan-"))
                && p.join("expected.json").exists()
        })
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected the golden plan cases, found {}",
        dirs.len()
    );
    dirs.into_iter()
        .map(|d| {
            let name = d.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(d.join("topology.toml")).unwrap();
            let t = load_str("topology.toml", &text, "topology").unwrap();
            let mut live: LiveState =
                serde_json::from_str(&std::fs::read_to_string(d.join("live.json")).unwrap())
                    .unwrap();
            live.normalize();
            (name, t, live)
        })
        .collect()
}

fn verifier(t: &Topology) -> impl Fn(&LiveState) -> Result<Vec<Step>, String> + '_ {
    move |after: &LiveState| diff(t, after).map(|p| p.steps).map_err(|e| e.to_string())
}

#[test]
fn every_plan_applies_and_verifies() {
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        let mut fake = FakeBackend::new(live.clone());
        let out = apply::run(&mut fake, &plan, &live, &verifier(&t), Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.executed, plan.steps.len(), "{name}");
        assert!(diff(&t, &fake.state).unwrap().in_sync, "{name}");
    }
}

#[test]
fn a_failure_at_any_request_leaves_the_state_as_found() {
    let mut checked = 0;
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        // Some deletes are carried out by a later one (apply::implied_deletes) and make no
        // call of their own: fail at every call a clean run makes.
        let mut clean = FakeBackend::new(live.clone());
        apply::run(&mut clean, &plan, &live, &verifier(&t), Default::default()).unwrap();
        for n in 0..clean.calls.len() {
            let mut fake = FakeBackend::new(live.clone()).fail_at(n, libc::EINVAL);
            let err = apply::run(&mut fake, &plan, &live, &verifier(&t), Default::default())
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
                live,
                "{name}: failing at step {} did not restore the state",
                n + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} failure points exercised");
}

#[test]
fn in_sync_makes_no_calls() {
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        let mut fake = FakeBackend::new(live.clone());
        apply::run(&mut fake, &plan, &live, &verifier(&t), Default::default()).unwrap();
        let settled = fake.state.clone();
        let again = diff(&t, &settled).unwrap();
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
            &verifier(&t),
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

#[test]
fn a_result_that_does_not_verify_is_undone() {
    let (name, t, live) = cases()
        .into_iter()
        .find(|(n, _, _)| n.contains("empty"))
        .expect("a plan case from an empty state");
    let plan = diff(&t, &live).unwrap();
    let mut clean = FakeBackend::new(live.clone());
    apply::run(&mut clean, &plan, &live, &verifier(&t), Default::default()).unwrap();
    // Skip the last request: everything before it ran, so there is something to undo.
    let skip = clean.calls.len() - 1;
    let mut liar = Liar {
        inner: FakeBackend::new(live.clone()),
        skip,
        n: 0,
    };
    let err = apply::run(&mut liar, &plan, &live, &verifier(&t), Default::default()).unwrap_err();
    let ApplyError::Verify { remaining, undo } = err else {
        panic!("{name}: expected a verification failure");
    };
    assert_eq!(remaining.len(), 1, "{name}: {remaining:?}");
    assert!(undo.complete());
    let mut after = liar.inner.state.clone();
    after.normalize();
    assert_eq!(
        after, live,
        "{name}: verify failure did not restore the state"
    );
}

#[test]
fn deletes_carried_by_a_parent_or_namespace_delete_make_no_call() {
    let (name, _t, live) = cases()
        .into_iter()
        .find(|(n, _, _)| n.contains("prune-all"))
        .expect("the prune-all case");
    let plan = mvtopo::diff::destroy("lab", &live).unwrap();
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
        &live,
        &|after: &LiveState| {
            mvtopo::diff::destroy("lab", after)
                .map(|p| p.steps)
                .map_err(|e| e.to_string())
        },
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

#[test]
fn an_interrupt_at_any_request_undoes_everything() {
    let mut checked = 0;
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        let mut clean = FakeBackend::new(live.clone());
        apply::run(&mut clean, &plan, &live, &verifier(&t), Default::default()).unwrap();
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
            let err = apply::run(&mut b, &plan, &live, &verifier(&t), control).unwrap_err();
            let ApplyError::Interrupted { signal, undo } = err else {
                panic!("{name}: request {n}: expected an interrupt, got {err}");
            };
            assert_eq!(signal, libc::SIGINT);
            assert!(undo.complete(), "{name}: {:?}", undo.failed);
            // The request in flight finished; nothing after it was made before the undo.
            assert_eq!(b.inner.calls[..=n], clean.calls[..=n], "{name}");
            let mut after = b.inner.state.clone();
            after.normalize();
            assert_eq!(after, live, "{name}: interrupted at request {n}");
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} interrupt points exercised");
}

#[test]
fn a_declined_confirmation_reverts_and_an_accepted_one_keeps() {
    let (name, t, live) = cases()
        .into_iter()
        .find(|(n, _, _)| n.contains("empty"))
        .expect("a plan case from an empty state");
    let plan = diff(&t, &live).unwrap();
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
    let err = apply::run(&mut fake, &plan, &live, &verifier(&t), control).unwrap_err();
    let ApplyError::Reverted { reason, undo } = err else {
        panic!("{name}: expected a revert, got {err}");
    };
    assert_eq!(reason, "the operator said no");
    assert!(undo.complete() && !undo.undone.is_empty());
    assert_eq!(asked, 1);
    let mut after = fake.state.clone();
    after.normalize();
    assert_eq!(after, live, "{name}: a revert restores the state");

    let mut fake = FakeBackend::new(live.clone());
    let mut yes = || Ok(());
    let control = apply::Control {
        stop: &stop,
        confirm: Some(&mut yes),
        progress: None,
    };
    apply::run(&mut fake, &plan, &live, &verifier(&t), control).unwrap();
    assert!(diff(&t, &fake.state).unwrap().in_sync, "{name}");
}

/// Lowering is the same whichever backend runs it: the requests of a golden plan on the
/// fake are exactly `lower` of each step against the state reached, and a step made of
/// several requests (a replace, an update of several fields) is refused between them.
#[test]
fn multi_request_steps_are_refused_partway_and_undone() {
    let mut partway = 0;
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        let mut state = live.clone();
        let mut per_step = Vec::new();
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
        let mut clean = FakeBackend::new(live.clone());
        apply::run(&mut clean, &plan, &live, &verifier(&t), Default::default()).unwrap();
        assert_eq!(clean.calls, requests, "{name}");
    }
    assert!(partway > 20, "only {partway} points inside a step");
}
