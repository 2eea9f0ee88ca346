//! The shipped examples (examples/*.toml) do what their comments say: each passes `check`
//! and plans against a saved or a fresh state without root, and each one this kernel can
//! run is applied inside lab namespaces (its namespaces renamed under the lab's unique
//! prefix, its existing NICs made as veths on a lab switch), is then in sync, reaches what
//! its recipe says it reaches, and is destroyed without a trace.

mod common;
mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e_support::*;
use mvtopo::model::{ParentKind, Topology};
use mvtopo::names::NsName;
use serde_json::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/")
        .map(|e| e.expect("examples/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

fn load(path: &Path) -> (String, Topology) {
    let text = std::fs::read_to_string(path).expect("read example");
    let stem = path.file_stem().expect("stem").to_string_lossy();
    let t = mvtopo::check::load_str(&path.display().to_string(), &text, &stem)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    (text, t)
}

/// `mvtopo ARGS` as the invoking user, outside any lab (no kernel access needed).
fn mvtopo(args: &[&str]) -> Out {
    let out = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mvtopo");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The state of a fresh host for `t`: its existing NICs and nothing else.
fn fresh_state(t: &Topology) -> String {
    let links: Vec<Value> = t
        .parents
        .values()
        .filter(|p| p.kind == ParentKind::Existing)
        .map(|p| serde_json::json!({"name": p.name.as_str(), "kind": "device", "mtu": 1500, "up": true}))
        .collect();
    serde_json::json!({ "links": links }).to_string()
}

#[test]
fn there_are_at_least_six_examples_besides_the_quickstart() {
    let names: Vec<String> = example_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "quickstart.toml")
        .collect();
    assert!(names.len() >= 6, "examples: {names:?}");
}

#[test]
fn every_example_checks_and_plans_against_its_saved_or_a_fresh_state() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for path in example_files() {
        let file = path.to_str().expect("utf-8 path");
        let out = mvtopo(&["check", file]);
        assert_eq!(out.code, 0, "mvtopo check {file}: {out}");
        let saved = path.with_extension("state.json");
        if saved.exists() {
            // A saved state is the host the file describes: the plan is empty.
            let state = saved.to_str().expect("utf-8 path");
            let out = mvtopo(&["plan", file, "--state", state, "--detailed-exitcode"]);
            assert_eq!(out.code, 0, "plan against {state} is not in sync: {out}");
            assert!(out.stdout.contains("no changes"), "{out}");
        } else {
            let (_, t) = load(&path);
            let state = dir.path().join(format!("{}.state.json", t.name));
            std::fs::write(&state, fresh_state(&t)).expect("write state");
            let state = state.to_str().expect("utf-8 path");
            let out = mvtopo(&["plan", file, "--state", state, "--detailed-exitcode"]);
            assert_eq!(out.code, 2, "plan {file} on a fresh host: {out}");
            let out = mvtopo(&["plan", file, "--state", state, "--format", "json"]);
            assert_eq!(out.code, 0, "plan --format json {file}: {out}");
            let plan: Value = serde_json::from_str(&out.stdout).expect("plan JSON");
            let creates = plan["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .filter(|s| s["action"] == "create")
                .count();
            // Every namespace, created parent, macvlan and address is made from nothing.
            assert!(
                creates > t.macvlans.len(),
                "{file}: only {creates} creates on a fresh host\n{}",
                out.stdout
            );
            assert!(
                plan["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .all(|s| s["action"] == "create" || s["action"] == "update"),
                "{file}: a fresh host needs nothing deleted or replaced\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn the_ci_example_sees_an_edit_as_a_pending_change() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = std::fs::read_to_string(examples_dir().join("ci.toml")).expect("ci.toml");
    let edited = text.replace("10.40.0.80/24", "10.40.0.81/24");
    assert_ne!(edited, text);
    let file = dir.path().join("ci.toml");
    std::fs::write(&file, edited).expect("write");
    let state = examples_dir().join("ci.state.json");
    let out = mvtopo(&[
        "plan",
        file.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("10.40.0.81/24"), "{out}");
}

#[test]
fn gen_lab_prints_lab50_toml_and_refuses_bad_counts() {
    let script = examples_dir().join("gen-lab.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("50")
        .output()
        .expect("run gen-lab.sh");
    assert!(out.status.success(), "{out:?}");
    let committed = std::fs::read_to_string(examples_dir().join("lab50.toml")).expect("lab50");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "examples/lab50.toml is not `examples/gen-lab.sh 50`: regenerate it"
    );
    for bad in ["0", "100", "x"] {
        let out = Command::new("bash")
            .arg(&script)
            .arg(bad)
            .output()
            .expect("run gen-lab.sh");
        assert_eq!(out.status.code(), Some(64), "gen-lab.sh {bad}");
    }
    // Any size in range is a valid file with that many namespaces (plus the switch's).
    let out = Command::new("bash").arg(&script).arg("3").output().unwrap();
    let t = mvtopo::check::load_str("gen", &String::from_utf8_lossy(&out.stdout), "gen")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(t.namespaces.len(), 4);
    assert_eq!(t.macvlans.len(), 4);
}

// ---------------------------------------------------------------------------------------
// On the kernel.

/// What a recipe promises, checked after apply: `(from, to)` pings that must succeed or
/// fail; `from` is a namespace of the example ("host": where mvtopo runs, or an external
/// host the test adds behind the switch).
struct Recipe {
    file: &'static str,
    /// External hosts behind the switch: (short name, MAC, address/prefix).
    ext: &'static [(&'static str, &'static str, &'static str)],
    reach: &'static [(&'static str, &'static str)],
    unreachable: &'static [(&'static str, &'static str)],
}

/// Every example, and how the kernel test treats it. The quickstart is run end to end by
/// tests/e2e.rs and examples/quickstart.sh.
const RECIPES: &[Recipe] = &[
    Recipe {
        file: "host-shim.toml",
        ext: &[],
        reach: &[
            ("web", "192.168.50.2"),
            ("web", "192.168.50.66"),
            ("host", "192.168.50.65"),
            ("host", "192.168.50.66"),
        ],
        unreachable: &[],
    },
    Recipe {
        file: "source-allowlist.toml",
        ext: &[
            ("sensor1", "02:00:00:60:00:01", "10.60.0.1/24"),
            ("other", "02:00:00:60:00:99", "10.60.0.99/24"),
        ],
        reach: &[("sensor1", "10.60.0.10"), ("collector", "10.60.0.1")],
        unreachable: &[("other", "10.60.0.10")],
    },
    Recipe {
        file: "passthru-vm.toml",
        ext: &[],
        reach: &[],
        unreachable: &[],
    },
    Recipe {
        file: "lab50.toml",
        ext: &[],
        reach: &[
            ("lab-07", "10.50.0.23"),
            ("lab-50", "10.50.0.254"),
            ("host", "10.50.0.1"),
        ],
        unreachable: &[],
    },
    Recipe {
        file: "ci.toml",
        ext: &[],
        reach: &[("app", "10.40.0.80"), ("host", "10.40.0.70")],
        unreachable: &[],
    },
    Recipe {
        file: "vlan-parent.toml",
        ext: &[],
        reach: &[],
        unreachable: &[],
    },
];

#[test]
fn every_example_has_a_kernel_recipe() {
    let mut listed: BTreeSet<&str> = RECIPES.iter().map(|r| r.file).collect();
    listed.insert("quickstart.toml");
    let files: BTreeSet<String> = example_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let files: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(files, listed, "add the new example to RECIPES");
}

/// `t` with every namespace renamed `<lab prefix>-<name>` and the lab's prefix as owner.
fn in_lab(t: &Topology, lab: &common::Lab) -> Topology {
    let rename = |n: &NsName| NsName::new(&lab.ns(n.as_str())).expect("lab namespace name");
    let mut t = t.clone();
    t.name = lab.prefix.clone();
    t.namespaces = std::mem::take(&mut t.namespaces)
        .into_values()
        .map(|mut ns| {
            ns.name = rename(&ns.name);
            (ns.name.clone(), ns)
        })
        .collect::<BTreeMap<_, _>>();
    for p in t.parents.values_mut() {
        if let ParentKind::Veth { peer_namespace, .. } = &mut p.kind {
            *peer_namespace = peer_namespace.as_ref().map(rename);
        }
    }
    for m in &mut t.macvlans {
        m.namespace = m.namespace.as_ref().map(rename);
    }
    t
}

/// Whether the lab's kernel can make a parent of this kind (this development host has no
/// dummy and no 802.1Q); `Err` says what is missing.
fn can_create(lab: &common::Lab, kind: &ParentKind, existing: &str) -> Result<(), String> {
    let args: Vec<&str> = match kind {
        ParentKind::Dummy => vec!["link", "add", "mvt-probe", "type", "dummy"],
        ParentKind::Vlan { .. } => vec![
            "link",
            "add",
            "link",
            existing,
            "name",
            "mvt-probe",
            "type",
            "vlan",
            "id",
            "99",
        ],
        _ => return Ok(()),
    };
    let ns = lab.ns("host");
    let mut all = vec!["-n", ns.as_str()];
    all.extend(args);
    let out = Command::new("ip").args(&all).output().expect("run ip");
    if out.status.success() {
        common::run("ip", &["-n", &ns, "link", "del", "mvt-probe"]);
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            all.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `from` reaches `to`: a few tries, for ARP and the switch's learning on a busy
/// machine (as the kernel tests' connectivity matrix does).
fn reaches(lab: &common::Lab, from: &str, to: &str) -> bool {
    (0..3).any(|_| lab.ping(from, to))
}

fn run_on_kernel(r: &Recipe) {
    let Some(e) = E2e::new() else { return };
    let lab = &e.lab;
    let (_, t) = load(&examples_dir().join(r.file));
    // The example's existing NICs: veths whose other ends are ports of the lab's switch.
    let existing: Vec<String> = t
        .parents
        .values()
        .filter(|p| p.kind == ParentKind::Existing)
        .map(|p| p.name.as_str().to_owned())
        .collect();
    for (i, nic) in existing.iter().enumerate() {
        lab.switch_with_parent(nic, &format!("port{i}"), false);
    }
    for (i, (short, mac, addr)) in r.ext.iter().enumerate() {
        lab.ext_host(short, &format!("ext{i}"), mac, addr);
    }
    let first_nic = existing.first().map(String::as_str).unwrap_or("lo");
    for p in t.parents.values() {
        if let Err(why) = can_create(lab, &p.kind, first_nic) {
            // check and plan of this example ran above; only applying it needs the kernel
            // feature.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("NOT APPLIED: examples/{}: {why}\n", r.file).as_bytes(),
            );
            return;
        }
    }
    let lt = in_lab(&t, lab);
    let file = e.write(r.file, &mvtopo::render::topology_toml(&lt));
    e.expect(0, &["apply"], &file);
    e.expect(0, &["plan", "--detailed-exitcode"], &file);
    let again = e.expect(0, &["apply"], &file);
    assert!(again.stdout.contains("no changes"), "{again}");

    // The kernel holds each macvlan as the file says (iproute2's view).
    let alias = format!("mvtopo:{}", lab.prefix);
    for m in &t.macvlans {
        let short = m.namespace.as_ref().map_or("host", |n| n.as_str());
        let l = lab.link(short, m.name.as_str());
        let ctx = format!("{}: {short}/{}", r.file, m.name);
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{ctx}");
        assert_eq!(info(&l)["mode"], m.mode.as_str(), "{ctx}");
        assert_eq!(l["ifalias"], alias.as_str(), "{ctx}");
        let want: BTreeSet<String> = m.addresses.iter().map(ToString::to_string).collect();
        assert_eq!(user_addrs(lab, short, m.name.as_str()), want, "{ctx}");
        if let Some(mac) = &m.mac {
            assert_eq!(l["address"], mac.to_string(), "{ctx}");
        }
        if m.mode.as_str() == "passthru" && m.mac.is_none() {
            // A passthru macvlan takes its parent's MAC, and the parent goes promiscuous.
            let parent = lab.link("host", m.parent.as_str());
            assert_eq!(l["address"], parent["address"], "{ctx}");
            assert!(parent["promiscuity"].as_u64() >= Some(1), "{ctx}: {parent}");
        }
    }
    for (from, to) in r.reach {
        assert!(
            reaches(lab, from, to),
            "{}: {from} cannot reach {to}",
            r.file
        );
    }
    for (from, to) in r.unreachable {
        assert!(!reaches(lab, from, to), "{}: {from} reaches {to}", r.file);
    }

    e.expect(0, &["destroy"], &file);
    for short in shorts(lab) {
        assert!(
            owned_links(lab, &short, &lab.prefix).is_empty(),
            "{}: links left in {short} after destroy",
            r.file
        );
    }
    for ns in t.namespaces.keys() {
        assert!(
            !lab.has_ns(ns.as_str()),
            "{}: namespace {ns} left after destroy",
            r.file
        );
    }
    for nic in &existing {
        assert!(lab.has_link("host", nic), "{}: destroy took {nic}", r.file);
    }
}

fn recipe(file: &str) -> &'static Recipe {
    RECIPES
        .iter()
        .find(|r| r.file == file)
        .expect("recipe listed")
}

#[test]
fn kernel_host_shim() {
    run_on_kernel(recipe("host-shim.toml"));
}

#[test]
fn kernel_source_allowlist() {
    run_on_kernel(recipe("source-allowlist.toml"));
}

#[test]
fn kernel_passthru_vm() {
    run_on_kernel(recipe("passthru-vm.toml"));
}

#[test]
fn kernel_lab50() {
    run_on_kernel(recipe("lab50.toml"));
}

#[test]
fn kernel_ci() {
    run_on_kernel(recipe("ci.toml"));
}

#[test]
fn kernel_vlan_parent() {
    run_on_kernel(recipe("vlan-parent.toml"));
}
