//! The golden case folders, `tests/cases/<kind>-<name>/`: which there are, reading a plan
//! case, and one libtest-mimic trial per case, so that a failure names its case and the
//! other cases still run (`cargo test --test NAME -- plan-foo` runs one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libtest_mimic::{Failed, Trial};
use mvtopo::live::LiveState;
use mvtopo::model::Topology;

/// `tests/cases/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// The path of `file` in case folder `case`, as a string (for the command line).
pub fn file(case: &str, file: &str) -> String {
    root().join(case).join(file).display().to_string()
}

/// The case folders whose name starts with `prefix` (`check-`, `plan-`, `fmt-`), sorted.
pub fn dirs(prefix: &str) -> Vec<PathBuf> {
    let root = root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && name(p).starts_with(prefix))
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no {prefix}* cases under {}",
        root.display()
    );
    dirs
}

/// A case's name: its folder's.
pub fn name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One trial per case folder `prefix*`, named after the folder.
pub fn trials(prefix: &str, run: fn(&Path) -> Result<(), Failed>) -> Vec<Trial> {
    dirs(prefix)
        .into_iter()
        .map(|dir| Trial::test(name(&dir), move || run(&dir)))
        .collect()
}

/// One trial per plain test function, named as given.
pub fn plain(tests: &[(&'static str, fn())]) -> Vec<Trial> {
    tests
        .iter()
        .map(|&(name, f)| {
            Trial::test(name, move || {
                f();
                Ok(())
            })
        })
        .collect()
}

/// A golden plan case whose plan succeeds (it has `expected.json`): the topology and the
/// live state it is planned against.
#[derive(Debug)]
pub struct PlanCase {
    pub name: String,
    pub topology: Topology,
    pub live: LiveState,
}

/// Every golden plan case whose plan succeeds, read and loaded.
pub fn plan_cases() -> Vec<Arc<PlanCase>> {
    let cases: Vec<Arc<PlanCase>> = dirs("plan-")
        .into_iter()
        .filter(|d| d.join("expected.json").exists())
        .map(|d| {
            let read = |f: &str| {
                std::fs::read_to_string(d.join(f))
                    .unwrap_or_else(|e| panic!("{}/{f}: {e}", d.display()))
            };
            let topology =
                mvtopo::check::load_str("topology.toml", &read("topology.toml"), "topology")
                    .unwrap_or_else(|e| panic!("{}: {e:?}", d.display()));
            let mut live: LiveState = serde_json::from_str(&read("live.json"))
                .unwrap_or_else(|e| panic!("{}/live.json: {e}", d.display()));
            live.normalize();
            Arc::new(PlanCase {
                name: name(&d),
                topology,
                live,
            })
        })
        .collect();
    assert!(
        cases.len() >= 10,
        "expected the golden plan cases, found {}",
        cases.len()
    );
    cases
}

/// A named check of one case; it fails by panicking, with the case's name in its message.
pub type Check<C> = (&'static str, fn(&C));

/// One trial per case for each check: `CHECK::CASE`, running the check on the case.
pub fn per_case<C: Send + Sync + 'static>(
    cases: &[(String, Arc<C>)],
    checks: &[Check<C>],
) -> Vec<Trial> {
    let mut trials = Vec::new();
    for &(check, f) in checks {
        for (name, c) in cases {
            let c = Arc::clone(c);
            trials.push(Trial::test(format!("{check}::{name}"), move || {
                f(&c);
                Ok(())
            }));
        }
    }
    trials
}
