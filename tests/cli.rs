//! The command line as users (and the outside acceptance tests) drive it: exit codes, output
//! formats, and that no kernel is touched by `check`, `graph` and `plan --state`.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::cases::file as case;
use common::{code, root, stderr, stdout, tmp};

fn mvtopo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mvtopo"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mvtopo")
}

#[test]
fn examples_are_valid() {
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let o = mvtopo(&["check", &p.display().to_string()]);
            assert_eq!(code(&o), 0, "{}: {}", p.display(), stderr(&o));
        }
    }
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(code(&mvtopo(&[])), 64);
    assert_eq!(code(&mvtopo(&["frobnicate"])), 64);
    assert_eq!(code(&mvtopo(&["check"])), 64);
    assert_eq!(code(&mvtopo(&["plan", "x.toml", "--format", "yaml"])), 64);
    let o = mvtopo(&["check", "/nonexistent/topology.toml"]);
    assert_eq!(code(&o), 64, "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent/topology.toml"));
    assert_eq!(code(&mvtopo(&["--help"])), 0);
    assert_eq!(code(&mvtopo(&["--version"])), 0);
}

#[test]
fn garbage_is_invalid_input_not_a_crash() {
    for text in [
        "\u{0}\u{1}\u{2}",
        "[[macvlan]]\nname = 1\n[[macvlan]]",
        "[parent.a]\ncreate = \"vlan\"\nlink = \"a\"\nvlan-id = 1\n",
        "name = \"\"\n",
        "[[macvlan]]\nname = \"x\"\nparent = \"p\"\nroutes = [{ to = \"default\" }]\n",
    ] {
        let (_d, p) = tmp("bad.toml", text);
        let o = mvtopo(&["check", &p]);
        assert_eq!(code(&o), 65, "{text:?}: {}", stderr(&o));
        let o = mvtopo(&["plan", &p, "--state", &case("plan-empty-live", "live.json")]);
        assert_eq!(code(&o), 65, "{text:?}");
        let o = mvtopo(&["graph", &p]);
        assert_eq!(code(&o), 65, "{text:?}");
    }
    // A file that is not UTF-8 at all.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.toml");
    std::fs::write(&p, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let o = mvtopo(&["check", &p.display().to_string()]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
}

#[test]
fn a_vlan_cycle_is_invalid_input_pointing_at_the_file() {
    let text = "[parent.v1]\ncreate = \"vlan\"\nlink = \"v2\"\nvlan-id = 1\n\n[parent.v2]\ncreate = \"vlan\"\nlink = \"v1\"\nvlan-id = 2\n";
    let (_d, p) = tmp("cycle.toml", text);
    for cmd in ["check", "graph"] {
        let o = mvtopo(&[cmd, &p]);
        assert_eq!(code(&o), 65, "{cmd}");
        let err = stderr(&o);
        assert!(err.contains("cycle"), "{err}");
        assert!(
            err.contains("cycle.toml"),
            "diagnostic must name the file: {err}"
        );
    }
}

#[test]
fn plan_against_a_saved_state() {
    let topo = case("plan-empty-live", "topology.toml");
    let live = case("plan-empty-live", "live.json");
    let o = mvtopo(&["plan", &topo, "--state", &live]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("+ create"), "{text}");
    assert!(!text.contains('\u{1b}'), "NO_COLOR output has escapes");

    let o = mvtopo(&["plan", &topo, "--state", &live, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2);

    let o = mvtopo(&["plan", &topo, "--state", &live, "--format", "json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["in_sync"], false);
    let steps = v["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        let a = s["action"].as_str().unwrap();
        assert!(
            ["create", "update", "delete", "replace"].contains(&a),
            "{a}"
        );
    }
    // The JSON is exactly the plan the golden case expects.
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case("plan-empty-live", "expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["steps"], expected["steps"]);

    // apply --dry-run prints the same as plan.
    let dry = mvtopo(&[
        "apply",
        "--dry-run",
        &topo,
        "--state",
        &live,
        "--format",
        "json",
    ]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert_eq!(stdout(&dry), stdout(&o));
    let dry = mvtopo(&[
        "apply",
        "--dry-run",
        "--detailed-exitcode",
        &topo,
        "--state",
        &live,
    ]);
    assert_eq!(code(&dry), 2);
}

#[test]
fn in_sync_plan_says_so_and_exits_0_with_detailed_exitcode() {
    let topo = case("plan-in-sync", "topology.toml");
    let live = case("plan-in-sync", "live.json");
    let o = mvtopo(&["plan", &topo, "--state", &live, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("no changes"), "{}", stdout(&o));
    let o = mvtopo(&["plan", &topo, "--state", &live, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["in_sync"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 0);
}

#[test]
fn plans_are_byte_identical_across_runs() {
    let topo = case("plan-tie-break", "topology.toml");
    let live = case("plan-tie-break", "live.json");
    let a = mvtopo(&["plan", &topo, "--state", &live]);
    let b = mvtopo(&["plan", &topo, "--state", &live]);
    assert_eq!(a.stdout, b.stdout);
    let a = mvtopo(&["plan", &topo, "--state", &live, "--format", "json"]);
    let b = mvtopo(&["plan", &topo, "--state", &live, "--format", "json"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn a_blocked_plan_fails_with_the_blocker_named() {
    let topo = case("plan-foreign-one-blocker", "topology.toml");
    let live = case("plan-foreign-one-blocker", "live.json");
    let o = mvtopo(&["plan", &topo, "--state", &live]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not owned"), "{}", stderr(&o));
}

#[test]
fn bad_state_file_is_invalid_input() {
    let topo = case("plan-empty-live", "topology.toml");
    let (_d, p) = tmp("state.json", "{\"links\": [{\"name\": 5}]}");
    let o = mvtopo(&["plan", &topo, "--state", &p]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
}

#[test]
fn graph_prints_dot_with_namespace_clusters() {
    let o = mvtopo(&[
        "graph",
        &root()
            .join("examples/quickstart.toml")
            .display()
            .to_string(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(
        dot.contains("subgraph \"cluster_") || dot.contains("subgraph cluster_"),
        "{dot}"
    );
    assert!(dot.contains("->"));
    if Path::new("/usr/bin/dot").exists() {
        let out = common::with_stdin(Command::new("dot").arg("-Tsvg"), &dot);
        assert!(out.status.success(), "dot rejected the graph");
    }
}
