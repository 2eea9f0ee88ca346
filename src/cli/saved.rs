//! Saved plans: what `plan FILE --out PLAN.json` writes (the plan and what it was planned
//! against), and `apply --plan PLAN.json`, which executes exactly those steps once it has
//! checked that the file is intact and the live state the plan depends on is what it was.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    EXIT_CHANGES, EXIT_DATAERR, EXIT_OK, Exit, Format, Loaded, execute, live_state, load_topology,
    lock, make_plan, netlink, print_plan, read_json, read_kernel, recover,
};
use crate::code::Code;
use crate::diff;
use crate::live::LiveState;
use crate::model::Topology;
use crate::plan::{Plan, Step};

/// The file `plan --out` writes: the plan's own JSON (as `plan --format json` prints it),
/// plus `planned_against`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub topology: String,
    pub in_sync: bool,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub planned_against: PlannedAgainst,
}

/// What a saved plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedAgainst {
    /// The topology file as named on the command line (`<stdin>` for standard input).
    pub file: String,
    /// SHA-256 of the file's bytes, hex.
    pub file_sha256: String,
    /// The file's text: apply loads it again to verify the result as `apply FILE` does.
    pub source: String,
    /// SHA-256 (hex) of `state` as compact JSON.
    pub state_sha256: String,
    /// Everything in the live state the plan depends on (`diff::relevant`), as
    /// `show --format json FILE` writes it.
    pub state: LiveState,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn state_digest(state: &LiveState) -> String {
    sha256_hex(serde_json::to_string(state).unwrap_or_default().as_bytes())
}

impl SavedPlan {
    /// `plan` as made from `t` (read from `file`, whose text is `source`) against `live`.
    pub fn new(plan: &Plan, t: &Topology, live: &LiveState, file: &str, source: &str) -> SavedPlan {
        let state = diff::relevant(t, live);
        SavedPlan {
            topology: plan.topology.clone(),
            in_sync: plan.in_sync,
            steps: plan.steps.clone(),
            notes: plan.notes.clone(),
            planned_against: PlannedAgainst {
                file: file.to_owned(),
                file_sha256: sha256_hex(source.as_bytes()),
                source: source.to_owned(),
                state_sha256: state_digest(&state),
                state,
            },
        }
    }

    pub fn plan(&self) -> Plan {
        Plan {
            topology: self.topology.clone(),
            in_sync: self.in_sync,
            steps: self.steps.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Whether the file is as `plan --out` wrote it: the digests match what they digest.
    /// `Err` says what does not.
    pub fn intact(&self) -> Result<(), String> {
        let p = &self.planned_against;
        if sha256_hex(p.source.as_bytes()) != p.file_sha256 {
            return Err("its topology text does not match its file_sha256".into());
        }
        let mut state = p.state.clone();
        state.normalize();
        if state_digest(&state) != p.state_sha256 {
            return Err("its state does not match its state_sha256".into());
        }
        Ok(())
    }
}

/// What differs between the live state a plan was made against (`then`) and now, one line
/// per object, in the words of `show --format json`. Empty when nothing the plan depends on
/// changed. Both are `diff::relevant` of the same topology.
pub fn changes(then: &LiveState, now: &LiveState) -> Vec<String> {
    let mut out = Vec::new();
    let ns = |s: &LiveState| -> BTreeMap<String, Value> {
        s.namespaces
            .iter()
            .map(|n| (n.name.to_string(), to_value(n)))
            .collect()
    };
    compare("namespace", &ns(then), &ns(now), &mut out);
    let links = |s: &LiveState| -> BTreeMap<String, Value> {
        s.links
            .iter()
            .map(|l| (l.at().to_string(), to_value(l)))
            .collect()
    };
    compare("link", &links(then), &links(now), &mut out);
    out
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn compare(
    what: &str,
    then: &BTreeMap<String, Value>,
    now: &BTreeMap<String, Value>,
    out: &mut Vec<String>,
) {
    for (id, old) in then {
        match now.get(id) {
            None => out.push(format!("{what} {id}: gone")),
            Some(new) if new != old => {
                let fields = |v: &Value| v.as_object().cloned().unwrap_or_default();
                let (old, new) = (fields(old), fields(new));
                let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
                keys.sort();
                keys.dedup();
                let diffs: Vec<String> = keys
                    .into_iter()
                    .filter(|k| old.get(*k) != new.get(*k))
                    .map(|k| {
                        let show = |v: Option<&Value>| v.map_or("(none)".into(), Value::to_string);
                        format!("{k} {} → {}", show(old.get(k)), show(new.get(k)))
                    })
                    .collect();
                out.push(format!("{what} {id}: {}", diffs.join(", ")));
            }
            Some(_) => {}
        }
    }
    for id in now.keys().filter(|id| !then.contains_key(*id)) {
        out.push(format!("{what} {id}: appeared"));
    }
}

/// A saved plan whose checksums hold, and its topology loaded again from the saved text.
fn read_saved(path: &Path) -> Result<(SavedPlan, Loaded), Exit> {
    let saved: SavedPlan = read_json(
        path,
        "a saved plan",
        "a saved plan is the file that `mvtopo plan FILE --out PLAN.json` writes",
    )?;
    let damaged = |why: String| {
        Exit::new(
            EXIT_DATAERR,
            miette::miette!(
                code = Code::SavedPlanDamaged.as_str(),
                help = "make the plan again with `mvtopo plan FILE --out PLAN.json`",
                "{} is damaged: {why}",
                path.display()
            ),
        )
    };
    saved.intact().map_err(damaged)?;
    let against = &saved.planned_against;
    // The topology is loaded again from the saved text: verification after the steps is
    // the same as `apply FILE`'s, and the file need not exist here. Should the text no
    // longer pass check (another version of mvtopo), the diagnostics point into it.
    let l = load_topology(
        against.source.clone(),
        format!("{} (planned_against.source)", path.display()),
        &saved.topology,
    )?;
    let l = Loaded {
        name: against.file.clone(),
        ..l
    };
    if l.topology.name != saved.topology {
        return Err(damaged(format!(
            "it is for topology {:?}, its text names {:?}",
            saved.topology, l.topology.name
        )));
    }
    Ok((saved, l))
}

/// `apply --plan PLAN.json`: executes exactly the saved steps, or refuses, changing nothing,
/// when the live state they depend on is not what it was when the plan was made. With
/// `--dry-run` (and `--state`) it only says whether the plan still holds.
pub(super) fn cmd_apply_saved(
    path: &Path,
    dry_run: bool,
    state: Option<&Path>,
    format: Format,
    detailed: bool,
    lock_timeout: Option<std::time::Duration>,
) -> Result<u8, Exit> {
    let (saved, l) = read_saved(path)?;
    let _lock = if dry_run {
        None
    } else {
        Some(lock::acquire(lock_timeout)?)
    };
    let mut backend = match (dry_run, state) {
        (true, Some(_)) => None,
        _ => Some(netlink(Some(&l.topology))?),
    };
    if let (Some(b), false) = (&mut backend, dry_run) {
        recover(b)?;
    }
    let live = match &mut backend {
        Some(b) => read_kernel(b)?,
        None => live_state(state, Some(&l.topology))?,
    };
    let plan = still_holds(path, &saved, &l, &live)?;
    let Some(mut backend) = backend.filter(|_| !dry_run) else {
        print_plan(&plan, &l, &live, format);
        return Ok(if detailed && !plan.in_sync {
            EXIT_CHANGES
        } else {
            EXIT_OK
        });
    };
    execute(&mut backend, &plan, &l, &live, format)
}

/// The saved plan, if it still holds against `live`: refused, changing nothing, when the
/// live state it depends on changed since it was made, or when its steps are not what its
/// topology plans.
fn still_holds(path: &Path, saved: &SavedPlan, l: &Loaded, live: &LiveState) -> Result<Plan, Exit> {
    let against = &saved.planned_against;
    let now = diff::relevant(&l.topology, live);
    let changed = changes(&against.state, &now);
    if !changed.is_empty() {
        let mut msg = format!(
            "{} was planned against a live state that has changed since; nothing was changed",
            path.display()
        );
        for c in &changed {
            msg.push_str(&format!("\n  {c}"));
        }
        let mut exit = Exit::failure(miette::miette!(
            code = Code::SavedPlanStateChanged.as_str(),
            help = "review a fresh plan: `mvtopo plan FILE --out PLAN.json`",
            "{msg}"
        ));
        exit.json = json!({"refused": true, "changed": changed})
            .as_object()
            .cloned();
        return Err(exit);
    }
    let plan = saved.plan();
    // Same input, same plan (plans are deterministic): anything else means the file's steps
    // were edited, or were planned by a different mvtopo. Either way they are not what was
    // reviewed against this state, so they are not run.
    if make_plan(&l.topology, live)? != plan {
        let mut exit = Exit::failure(miette::miette!(
            code = Code::SavedPlanStepsDiffer.as_str(),
            help = "make the plan again with this mvtopo: `mvtopo plan FILE --out PLAN.json`",
            "{}: its steps are not what its topology plans against this state (edited, or made by another version of mvtopo); nothing was changed",
            path.display()
        ));
        exit.json = json!({"refused": true}).as_object().cloned();
        return Err(exit);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::load_str;

    const TOPO: &str = "name = \"lab\"\n[namespace.red]\n[parent.eth1]\n[[macvlan]]\nname = \"mv0\"\nparent = \"eth1\"\nnamespace = \"red\"\nmtu = 1400\n";

    fn live(mtu: u32) -> LiveState {
        serde_json::from_str(&format!(
            r#"{{"namespaces": [{{"name": "red", "owner": "lab"}}],
                "links": [{{"name": "eth1", "kind": "device", "mtu": 1500, "up": true}},
                          {{"name": "other", "kind": "device", "mtu": 1500, "up": true}},
                          {{"namespace": "red", "name": "mv0", "kind": "macvlan", "parent": {{"name": "eth1"}},
                            "mode": "vepa", "mac": "02:00:00:00:00:01", "mtu": {mtu}, "up": true, "owner": "lab"}}]}}"#
        ))
        .unwrap()
    }

    fn saved(mtu: u32) -> SavedPlan {
        let t = load_str("lab.toml", TOPO, "lab").unwrap();
        let l = live(mtu);
        let plan = diff::diff(&t, &l).unwrap();
        SavedPlan::new(&plan, &t, &l, "lab.toml", TOPO)
    }

    #[test]
    fn a_saved_plan_round_trips_and_is_intact() {
        let s = saved(1500);
        assert!(!s.in_sync);
        let back: SavedPlan = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.intact(), Ok(()));
        // Only what the plan depends on is kept: `other` is nobody's business here.
        assert!(
            s.planned_against
                .state
                .links
                .iter()
                .all(|l| l.name.as_str() != "other")
        );
        let mut bad = s.clone();
        bad.planned_against.source.push(' ');
        assert!(bad.intact().is_err());
        let mut bad = s;
        bad.planned_against.state.links[0].mtu = 9000;
        assert!(bad.intact().is_err());
    }

    #[test]
    fn changes_name_each_object_and_field() {
        let t = load_str("lab.toml", TOPO, "lab").unwrap();
        let then = diff::relevant(&t, &live(1500));
        assert!(changes(&then, &then).is_empty());
        let now = diff::relevant(&t, &live(1450));
        assert_eq!(changes(&then, &now), vec!["link red/mv0: mtu 1500 → 1450"]);
        let mut gone = now.clone();
        gone.links.retain(|l| l.name.as_str() != "mv0");
        gone.namespaces.clear();
        let c = changes(&then, &gone);
        assert_eq!(c, vec!["namespace red: gone", "link red/mv0: gone"]);
        assert_eq!(
            changes(&gone, &then),
            vec!["namespace red: appeared", "link red/mv0: appeared"]
        );
    }
}
