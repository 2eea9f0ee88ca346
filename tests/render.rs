//! Golden tests for everything mvtopo prints: topology TOML, live view, show, diffs, plans,
//! step lines. The golden files are in tests/render_support/golden/ (`MVTOPO_BLESS=1`
//! rewrites them).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod render_support;

use mvtopo::live::LinkKind;
use mvtopo::model::ParentKind;
use mvtopo::names::Mode;
use mvtopo::plan::{Change, MacvlanLink, Object, Plan, Step};
use mvtopo::render;
use render_support::*;

const ESC: char = '\x1b';

#[test]
fn topology_toml_golden() {
    golden("rich", "topology.toml", &render::topology_toml(&rich()));
}

#[test]
fn live_view_golden() {
    golden(
        "rich",
        "live-view.toml",
        &render::live_view_toml(&rich(), &drifted()),
    );
}

#[test]
fn live_view_of_a_clean_apply_is_the_file() {
    let t = rich();
    assert_eq!(
        render::live_view_toml(&t, &applied()),
        render::topology_toml(&t)
    );
}

#[test]
fn show_golden() {
    golden(
        "rich",
        "show-lab.toml",
        &render::show_toml(&drifted(), Some("lab")),
    );
    golden(
        "rich",
        "show-all.toml",
        &render::show_toml(&drifted(), None),
    );
    golden(
        "rich",
        "show-applied.toml",
        &render::show_toml(&applied(), Some("lab")),
    );
}

#[test]
fn show_for_another_owner_has_only_its_objects() {
    let s = render::show_toml(&drifted(), Some("other"));
    assert_eq!(s, "name = \"other\"\n");
}

#[test]
fn plan_text_golden() {
    let (t, live, plan) = (rich(), drifted(), drift_plan());
    let plain = render::plan_text(&plan, &t, &live, "lab.toml", false);
    assert!(!plain.contains(ESC), "escape without color:\n{plain}");
    golden("rich", "plan.txt", &plain);
    let colored = render::plan_text(&plan, &t, &live, "lab.toml", true);
    golden("rich", "plan-color.txt", &colored);
    // Color only decorates: strip it and the plain text is left.
    assert_eq!(strip_ansi(&colored), plain);
}

#[test]
fn plan_text_in_sync_is_one_line() {
    let (t, live) = (rich(), applied());
    let plan = Plan {
        topology: "lab".to_owned(),
        in_sync: true,
        steps: vec![],
        notes: vec![],
    };
    for color in [false, true] {
        assert_eq!(
            render::plan_text(&plan, &t, &live, "lab.toml", color),
            "no changes: the live state matches lab\n"
        );
    }
}

#[test]
fn plan_text_in_sync_keeps_notes() {
    let plan = Plan {
        topology: "lab".to_owned(),
        in_sync: true,
        steps: vec![],
        notes: vec!["namespace red is kept: it holds eth9, which lab does not own".to_owned()],
    };
    assert_eq!(
        render::plan_text(&plan, &rich(), &applied(), "lab.toml", false),
        "note: namespace red is kept: it holds eth9, which lab does not own\n\
         no changes: the live state matches lab\n"
    );
}

#[test]
fn steps_text_golden() {
    let mut plan = drift_plan();
    plan.steps.retain(|s| matches!(s, Step::Delete { .. }));
    plan.notes.clear();
    let plain = render::steps_text(&plan, false);
    assert!(!plain.contains(ESC));
    assert_eq!(
        plain,
        "  1. - delete address 10.0.0.9/24 on red/eth0\n\
         \x20 2. - delete macvlan red/old-mv on old0\n\
         \x20 3. - delete dummy old0\n\
         \n\
         plan: 0 to create, 0 to update, 0 to replace, 3 to delete\n"
    );
    let colored = render::steps_text(&plan, true);
    assert!(colored.contains("  1. \x1b[31m-\x1b[0m delete address"));
    assert_eq!(strip_ansi(&colored), plain);

    let empty = Plan {
        topology: "lab".to_owned(),
        in_sync: true,
        steps: vec![],
        notes: vec![],
    };
    assert_eq!(
        render::steps_text(&empty, false),
        "no changes: nothing to do for lab\n"
    );
}

#[test]
fn plan_json_golden_and_round_trip() {
    let plan = drift_plan();
    let json = render::plan_json(&plan);
    golden("rich", "plan.json", &json);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["in_sync"], false);
    assert_eq!(v["steps"][0]["action"], "create");
    assert_eq!(v["steps"][0]["object"]["kind"], "namespace");
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn unified_diff_colors_only_when_asked() {
    let old = "a\nb\nc\n";
    let new = "a\nB\nc\n";
    let plain = render::unified_diff(old, new, "live", "lab.toml", false);
    assert_eq!(
        plain,
        "--- live\n+++ lab.toml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
    );
    let colored = render::unified_diff(old, new, "live", "lab.toml", true);
    assert_eq!(
        colored,
        "\x1b[1m--- live\x1b[0m\n\x1b[1m+++ lab.toml\x1b[0m\n\x1b[36m@@ -1,3 +1,3 @@\x1b[0m\n \
         a\n\x1b[31m-b\x1b[0m\n\x1b[32m+B\x1b[0m\n c\n"
    );
    assert_eq!(render::unified_diff(old, old, "live", "lab.toml", true), "");
}

#[test]
fn unified_diff_keeps_three_lines_of_context_and_marks_missing_newline() {
    let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
    let new = old.replace("10\n", "ten\n");
    let d = render::unified_diff(&old, &new, "live", "f", false);
    assert_eq!(
        d,
        "--- live\n+++ f\n@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n"
    );
    let d = render::unified_diff("a\n", "a\nb", "live", "f", false);
    assert_eq!(
        d,
        "--- live\n+++ f\n@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n"
    );
}

#[test]
fn step_lines_for_every_action_and_kind() {
    let red = Some(ns("red"));
    let mv = MacvlanLink {
        namespace: red.clone(),
        mtu: Some(1400),
        ..macvlan_link(None, "eth0", "lab0", Mode::Bridge)
    };
    let src = MacvlanLink {
        mac: Some(mac("02:00:00:00:00:01")),
        up: false,
        source_macs: vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")],
        ..macvlan_link(None, "mv-src", "eth1", Mode::Source)
    };
    let nic = Object::Nic {
        namespace: None,
        name: ln("eth1"),
        mtu: Some(9000),
        up: true,
    };
    let veth = Object::Veth {
        namespace: None,
        name: ln("lab0"),
        peer: ln("lab0-peer"),
        peer_namespace: Some(ns("switch")),
        mtu: Some(9000),
        mac: None,
        peer_mac: None,
    };
    let dummy = Object::Dummy {
        namespace: None,
        name: ln("dummy0"),
        mtu: None,
        mac: Some(mac("02:00:00:00:00:10")),
    };
    let vlan = Object::Vlan {
        namespace: None,
        name: ln("eth1.10"),
        link: ln("eth1"),
        vlan_id: 10,
        mtu: None,
        mac: None,
    };
    let addr = Object::Address {
        namespace: red.clone(),
        link: ln("eth0"),
        address: cidr("10.0.0.9/24"),
    };
    let default4 = route("default", Some("10.0.0.1")).object(&red, &ln("eth0"));
    let default6 = route("default", Some("fd00::1")).object(&red, &ln("eth0"));
    let onlink = route("10.2.0.0/16", None).object(&None, &ln("mv-src"));
    let ns_obj = Object::Namespace { name: ns("red") };
    let create = |o: &Object| Step::Create { object: o.clone() };
    let delete = |o: &Object| Step::Delete { object: o.clone() };
    let cases: Vec<(Step, &str)> = vec![
        (create(&ns_obj), "+ create namespace red"),
        (create(&nic), "+ create nic eth1 (mtu 9000)"),
        (
            create(&veth),
            "+ create veth lab0 (peer switch/lab0-peer, mtu 9000)",
        ),
        (
            create(&dummy),
            "+ create dummy dummy0 (mac 02:00:00:00:00:10)",
        ),
        (create(&vlan), "+ create vlan eth1.10 on eth1 (id 10)"),
        (
            create(&Object::Macvlan(mv.clone())),
            "+ create macvlan red/eth0 on lab0 (bridge, mtu 1400)",
        ),
        (
            create(&Object::Macvlan(src.clone())),
            "+ create macvlan mv-src on eth1 (source, mac 02:00:00:00:00:01, down, \
             source-macs [02:00:00:00:00:aa, 02:00:00:00:00:bb])",
        ),
        (create(&addr), "+ create address 10.0.0.9/24 on red/eth0"),
        (
            create(&default4),
            "+ create route default via 10.0.0.1 on red/eth0",
        ),
        (
            create(&default6),
            "+ create route default via fd00::1 on red/eth0",
        ),
        (create(&onlink), "+ create route 10.2.0.0/16 on mv-src"),
        (delete(&ns_obj), "- delete namespace red"),
        (delete(&nic), "- delete nic eth1"),
        (delete(&veth), "- delete veth lab0"),
        (delete(&dummy), "- delete dummy dummy0"),
        (delete(&vlan), "- delete vlan eth1.10 on eth1"),
        (
            delete(&Object::Macvlan(mv.clone())),
            "- delete macvlan red/eth0 on lab0",
        ),
        (delete(&addr), "- delete address 10.0.0.9/24 on red/eth0"),
        (
            delete(&default6),
            "- delete route default via fd00::1 on red/eth0",
        ),
        (
            Step::Update {
                object: Object::Macvlan(mv.clone()),
                changes: vec![
                    Change::Mtu {
                        from: 1500,
                        to: 9000,
                    },
                    Change::Up {
                        from: false,
                        to: true,
                    },
                ],
            },
            "~ update macvlan red/eth0: mtu 1500 → 9000, up false → true",
        ),
        (
            Step::Update {
                object: Object::Macvlan(src.clone()),
                changes: vec![
                    Change::Mode {
                        from: Mode::Vepa,
                        to: Mode::Source,
                    },
                    Change::Mac {
                        from: Some(mac("02:00:00:00:00:02")),
                        to: mac("02:00:00:00:00:01"),
                    },
                    Change::SourceMacs {
                        from: vec![],
                        to: vec![mac("02:00:00:00:00:aa")],
                    },
                ],
            },
            "~ update macvlan mv-src: mode vepa → source, mac 02:00:00:00:00:02 → \
             02:00:00:00:00:01, source-macs [] → [02:00:00:00:00:aa]",
        ),
        (
            Step::Update {
                object: dummy.clone(),
                changes: vec![Change::Mac {
                    from: None,
                    to: mac("02:00:00:00:00:10"),
                }],
            },
            "~ update dummy dummy0: mac (unknown) → 02:00:00:00:00:10",
        ),
        (
            Step::Update {
                object: nic.clone(),
                changes: vec![Change::Mtu {
                    from: 1500,
                    to: 9000,
                }],
            },
            "~ update nic eth1: mtu 1500 → 9000",
        ),
        (
            Step::Update {
                object: veth.clone(),
                changes: vec![],
            },
            "~ update veth lab0",
        ),
        (
            Step::Replace {
                from: Object::Macvlan(MacvlanLink {
                    parent: ln("lab1"),
                    ..mv.clone()
                }),
                to: Object::Macvlan(mv.clone()),
                reason: "parent changes from lab1 to lab0".into(),
            },
            "± replace macvlan red/eth0: parent changes from lab1 to lab0",
        ),
        (
            Step::Replace {
                from: dummy.clone(),
                to: Object::Veth {
                    namespace: None,
                    name: ln("dummy0"),
                    peer: ln("dummy0p"),
                    peer_namespace: None,
                    mtu: None,
                    mac: None,
                    peer_mac: None,
                },
                reason: "the kind changes".into(),
            },
            "± replace veth dummy0 (was dummy): the kind changes",
        ),
    ];
    let mut failures = Vec::new();
    for (step, expected) in &cases {
        let got = render::step_line(step);
        if got != *expected {
            failures.push(format!("expected {expected:?}\n     got {got:?}"));
        }
        assert!(!got.contains(ESC));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rendering_is_deterministic() {
    let (t, live) = (rich(), drifted());
    assert_eq!(render::topology_toml(&t), render::topology_toml(&t.clone()));
    assert_eq!(
        render::live_view_toml(&t, &live),
        render::live_view_toml(&t.clone(), &live.clone())
    );
    // The model keeps macvlans sorted, but the renderer must not depend on it.
    let mut reversed = t.clone();
    reversed.macvlans.reverse();
    assert_eq!(render::topology_toml(&reversed), render::topology_toml(&t));
}

#[test]
fn names_that_need_quoting_are_quoted_and_escaped() {
    let mut t = topology(
        "lab \"one\"\\",
        &["my ns", "red"],
        vec![parent("eth1.10", ParentKind::Existing, None)],
        vec![macvlan(Some("my ns"), "mv0", "eth1.10", Mode::Bridge)],
    );
    t.macvlans[0].up = false;
    let text = render::topology_toml(&t);
    assert_eq!(
        text,
        "name = \"lab \\\"one\\\"\\\\\"\n\
         \n\
         [namespace.\"my ns\"]\n\
         [namespace.red]\n\
         \n\
         [parent.\"eth1.10\"]\n\
         \n\
         [[macvlan]]\n\
         name = \"mv0\"\n\
         parent = \"eth1.10\"\n\
         namespace = \"my ns\"\n\
         mode = \"bridge\"\n\
         up = false\n"
    );
    // And a TOML parser reads back exactly the names that went in.
    let v: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(v["name"].as_str(), Some("lab \"one\"\\"));
    assert!(v["namespace"].as_table().unwrap().contains_key("my ns"));
    assert!(v["parent"].as_table().unwrap().contains_key("eth1.10"));
}

#[test]
fn default_route_without_gateway_keeps_its_family() {
    let mut t = topology(
        "lab",
        &[],
        vec![parent("eth1", ParentKind::Existing, None)],
        vec![macvlan(None, "mv0", "eth1", Mode::Vepa)],
    );
    t.macvlans[0].routes = vec![
        mvtopo::model::Route {
            to: cidr("::/0"),
            via: None,
            metric: None,
        },
        route("default", Some("10.0.0.1")),
    ];
    let text = render::topology_toml(&t);
    assert!(
        text.contains("routes = [{ to = \"::/0\" }, { to = \"default\", via = \"10.0.0.1\" }]\n"),
        "{text}"
    );
}

#[test]
fn live_view_leaves_out_what_the_file_leaves_unset() {
    // The file names no mac and no mtu; the kernel has both. No drift may show.
    let t = topology(
        "lab",
        &[],
        vec![parent("eth1", ParentKind::Existing, None)],
        vec![macvlan(None, "mv0", "eth1", Mode::Vepa)],
    );
    let mut l = owned(
        live_macvlan(None, "mv0", "eth1", Mode::Vepa, "02:00:00:00:00:77"),
        "lab",
    );
    l.mtu = 1234;
    let live = state(&[], vec![link(None, "eth1", LinkKind::Device), l]);
    assert_eq!(render::live_view_toml(&t, &live), render::topology_toml(&t));
    // A foreign veth used as an existing parent is just an existing parent.
    let live = state(&[], vec![link(None, "eth1", LinkKind::Veth)]);
    assert!(!render::live_view_toml(&t, &live).contains("create"));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn diff_never_matches_lines_of_different_entries() {
    // Plain line diffing would keep `up = true` as common context between the removed entry
    // b and the changed entry a; then the diff no longer says which macvlan changed.
    let old = "[[macvlan]]\nname = \"a\"\nmtu = 1500\nup = false\n\n\
               [[macvlan]]\nname = \"b\"\nmtu = 1500\nup = true\n\n\
               [[macvlan]]\nname = \"c\"\nup = true\n";
    let new = "[[macvlan]]\nname = \"a\"\nmtu = 9000\nup = true\n\n\
               [[macvlan]]\nname = \"c\"\nup = true\n";
    assert_eq!(
        render::unified_diff(old, new, "live", "f", false),
        "--- live\n+++ f\n@@ -1,13 +1,8 @@\n \
         [[macvlan]]\n \
         name = \"a\"\n\
         -mtu = 1500\n\
         -up = false\n\
         +mtu = 9000\n\
         +up = true\n \
         \n\
         -[[macvlan]]\n\
         -name = \"b\"\n\
         -mtu = 1500\n\
         -up = true\n\
         -\n \
         [[macvlan]]\n \
         name = \"c\"\n \
         up = true\n"
    );
}

#[test]
fn hostile_names_cannot_drive_the_terminal() {
    // Namespace names are file names: ESC and newlines are allowed in them.
    let evil = ns("x\x1b[31m\ny");
    let step = Step::Create {
        object: Object::Namespace { name: evil.clone() },
    };
    let line = render::step_line(&step);
    assert_eq!(line, "+ create namespace x\\u{1b}[31m\\ny");
    let plan = Plan {
        topology: "lab\x1b".to_owned(),
        in_sync: false,
        steps: vec![step],
        notes: vec![format!("namespace {evil} is kept")],
    };
    for text in [
        render::steps_text(&plan, false),
        render::plan_text(&plan, &rich(), &applied(), "lab\x1b.toml", false),
    ] {
        assert!(!text.contains(ESC), "{text:?}");
    }
    let mut t = rich();
    t.namespaces.insert(
        evil.clone(),
        mvtopo::model::Namespace {
            name: evil,
            span: Default::default(),
        },
    );
    assert!(!render::topology_toml(&t).contains(ESC));
    assert!(render::topology_toml(&t).contains("[namespace.\"x\\u001B[31m\\ny\"]\n"));
}
