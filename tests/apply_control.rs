//! `apply::Control` against the fake kernel: a stop requested before any step of any golden
//! plan undoes everything done so far (the state is exactly as found, and the run says
//! which signal stopped it); a refused confirmation does the same after a verified apply;
//! an accepted one keeps the change.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use mvtopo::apply::{self, ApplyError, Control};
use mvtopo::backend::{Backend, BackendError};
use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::live::LiveState;
use mvtopo::load::load_str;
use mvtopo::model::Topology;
use mvtopo::plan::{Object, Step};

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
    assert!(dirs.len() >= 10, "golden plan cases: {}", dirs.len());
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

fn verifier(t: &Topology) -> impl Fn(&LiveState) -> Vec<Step> + '_ {
    move |after: &LiveState| diff(t, after).map(|p| p.steps).unwrap_or_default()
}

/// The fake, raising "a signal" (setting the flag) right after its `at`-th call: the call
/// in flight finishes, as a real request does.
struct Signalled<'a> {
    inner: FakeBackend,
    at: usize,
    n: usize,
    flag: &'a AtomicI32,
}

impl Backend for Signalled<'_> {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        self.inner.snapshot()
    }
    fn execute(&mut self, step: &Step, owner: &str) -> Result<(), BackendError> {
        let r = self.inner.execute(step, owner);
        if self.n == self.at {
            self.flag.store(libc::SIGTERM, Ordering::SeqCst);
        }
        self.n += 1;
        r
    }
    fn claim(&mut self, object: &Object, owner: &str) -> Result<(), BackendError> {
        self.inner.claim(object, owner)
    }
}

#[test]
fn a_stop_at_any_step_undoes_everything_done() {
    let mut runs = 0;
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        let mut clean = FakeBackend::new(live.clone());
        let never = AtomicI32::new(0);
        let ctl = Control {
            stop: &never,
            confirm: None,
        };
        apply::run(&mut clean, &plan, &live, &verifier(&t), ctl).unwrap();
        for at in 0..clean.calls.len() {
            let flag = AtomicI32::new(0);
            let mut b = Signalled {
                inner: FakeBackend::new(live.clone()),
                at,
                n: 0,
                flag: &flag,
            };
            let ctl = Control {
                stop: &flag,
                confirm: None,
            };
            let err = apply::run(&mut b, &plan, &live, &verifier(&t), ctl)
                .expect_err("a stop must stop the run");
            let ApplyError::Interrupted { signal, undo } = &err else {
                panic!("{name} at {at}: {err:?}");
            };
            assert_eq!(*signal, libc::SIGTERM);
            assert!(undo.complete(), "{name} at {at}: {undo:?}");
            assert_eq!(b.inner.state, live, "{name}: stopped after call {at}");
            assert_eq!(err.to_string(), "interrupted by SIGTERM", "{name} at {at}");
            runs += 1;
        }
    }
    assert!(runs > 50, "only {runs} interrupted runs");
}

#[test]
fn a_stop_before_the_first_step_makes_no_call() {
    let (_, t, live) = cases()
        .into_iter()
        .find(|(n, _, _)| n.contains("empty"))
        .expect("a plan case from an empty state");
    let plan = diff(&t, &live).unwrap();
    let flag = AtomicI32::new(libc::SIGINT);
    let mut fake = FakeBackend::new(live.clone());
    let ctl = Control {
        stop: &flag,
        confirm: None,
    };
    let err = apply::run(&mut fake, &plan, &live, &verifier(&t), ctl).unwrap_err();
    assert!(matches!(
        err,
        ApplyError::Interrupted {
            signal: libc::SIGINT,
            ..
        }
    ));
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
}

#[test]
fn confirmation_keeps_the_change_and_refusal_reverts_it() {
    for (name, t, live) in cases() {
        let plan = diff(&t, &live).unwrap();
        if plan.steps.is_empty() {
            continue;
        }
        let never = AtomicI32::new(0);

        let mut asked = 0;
        let mut yes = || {
            asked += 1;
            Ok(())
        };
        let mut fake = FakeBackend::new(live.clone());
        let ctl = Control {
            stop: &never,
            confirm: Some(&mut yes),
        };
        apply::run(&mut fake, &plan, &live, &verifier(&t), ctl).unwrap();
        assert_eq!(asked, 1, "{name}: confirm is asked once");
        assert!(diff(&t, &fake.state).unwrap().in_sync, "{name}: kept");

        let mut state_when_asked = None;
        let mut fake = FakeBackend::new(live.clone());
        let seen = fake.state.clone();
        let mut no = || {
            state_when_asked = Some(());
            Err("no confirmation within 1 s".to_owned())
        };
        let ctl = Control {
            stop: &never,
            confirm: Some(&mut no),
        };
        let err = apply::run(&mut fake, &plan, &live, &verifier(&t), ctl).unwrap_err();
        assert!(state_when_asked.is_some(), "{name}: asked");
        let ApplyError::Reverted { reason, undo } = &err else {
            panic!("{name}: {err:?}");
        };
        assert_eq!(reason, "no confirmation within 1 s");
        assert!(undo.complete(), "{name}: {undo:?}");
        assert_eq!(fake.state, seen, "{name}: reverted to the state found");
    }
}
