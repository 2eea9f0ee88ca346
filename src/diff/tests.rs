//! Unit tests of the planner: plans for hand-made states, and the linear-cost checks.

use super::*;
use crate::apply::backend::Backend;
use crate::fake::FakeBackend;
use crate::graph::tests::{cidr, ln, mv, ns};
use crate::live::LiveNamespace;
use crate::model::{Parent, ParentKind};
use crate::model::{Route, Span};
use crate::names::{MacAddr, Mode};
use crate::object::{Change, Key, MacvlanLink, Object};
use crate::plan::{Action, Plan, Step};
use crate::testing::mac;

fn topo(namespaces: &[&str], parents: Vec<(&str, ParentKind)>, macvlans: Vec<Macvlan>) -> Topology {
    let parents = parents
        .into_iter()
        .map(|(n, kind)| crate::testing::parent(n, kind, None))
        .collect();
    crate::testing::topology("lab", namespaces, parents, macvlans)
}

fn veth(peer: &str, peer_ns: Option<&str>) -> ParentKind {
    ParentKind::Veth {
        peer: ln(peer),
        peer_namespace: peer_ns.map(ns),
        peer_namespace_span: Span::default(),
    }
}

/// A host with one NIC, eth1, that nobody owns.
fn host_state() -> LiveState {
    serde_json::from_str(
        r#"{"links":[{"name":"eth1","kind":"device","mtu":1500,"up":true,"mac":"52:54:00:00:00:01"}]}"#,
    )
    .unwrap()
}

fn lab() -> Topology {
    let mut red = mv(Some("red"), "eth0", "lab0");
    red.addresses = vec![cidr("10.0.0.2/24")];
    red.routes = vec![Route {
        to: cidr("0.0.0.0/0"),
        via: Some("10.0.0.1".parse().unwrap()),
        metric: None,
    }];
    let mut blue = mv(Some("blue"), "eth0", "eth1");
    blue.mode = Mode::Source;
    blue.source_macs = vec![mac("02:00:00:00:00:bb"), mac("02:00:00:00:00:aa")];
    blue.source_macs.sort();
    topo(
        &["blue", "red"],
        vec![
            ("eth1", ParentKind::Existing),
            ("lab0", veth("lab0p", None)),
        ],
        vec![red, blue],
    )
}

/// Apply `t` to `state` with the fake; returns the fake.
fn applied(t: &Topology, state: LiveState) -> FakeBackend {
    let plan = diff(t, &state).unwrap();
    let mut fake = FakeBackend::new(state);
    fake.apply_all(&plan.steps, &t.name).unwrap();
    fake
}

fn summary(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| {
            let k = s.object().key();
            let what = match &k {
                Key::Namespace { name } => format!("namespace {name}"),
                Key::Parent { namespace, name } => {
                    format!("parent {}", LinkRef::new(namespace.clone(), name.clone()))
                }
                Key::Macvlan { at } => format!("macvlan {at}"),
                Key::Address { at, address } => format!("address {at} {address}"),
                Key::Route { at, to, metric } => match metric {
                    Some(m) => format!("route {at} {to} metric {m}"),
                    None => format!("route {at} {to}"),
                },
            };
            format!("{} {what}", s.action())
        })
        .collect()
}

#[test]
fn empty_live_state_creates_everything_in_dependency_order() {
    let p = diff(&lab(), &host_state()).unwrap();
    assert_eq!(
        summary(&p),
        [
            "create namespace blue",
            "create namespace red",
            "create parent lab0",
            "create macvlan blue/eth0",
            "create macvlan red/eth0",
            "create address red/eth0 10.0.0.2/24",
            "create route red/eth0 0.0.0.0/0",
        ]
    );
    assert!(!p.in_sync);
}

#[test]
fn applied_topology_diffs_to_nothing_and_plans_are_repeatable() {
    let t = lab();
    let a = diff(&t, &host_state()).unwrap();
    assert_eq!(a, diff(&t, &host_state()).unwrap());
    let fake = applied(&t, host_state());
    let p = diff(&t, &fake.state).unwrap();
    assert!(p.in_sync, "{p:#?}");
    assert!(p.steps.is_empty());
}

#[test]
fn drift_is_one_update_with_every_change() {
    let t = lab();
    let mut fake = applied(&t, host_state());
    let red = fake
        .state
        .links
        .iter_mut()
        .find(|l| l.name.as_str() == "eth0" && l.namespace == Some(ns("red")))
        .unwrap();
    red.up = false;
    red.mode = Some(Mode::Vepa);
    red.addresses.push(cidr("10.0.0.3/24"));
    red.routes.clear();
    let live_mac = red.mac;
    let mut t2 = t.clone();
    let m = t2
        .macvlans
        .iter_mut()
        .find(|m| m.namespace == Some(ns("red")))
        .unwrap();
    m.mtu = Some(1400);
    m.mac = Some(mac("02:00:00:00:00:01"));
    let p = diff(&t2, &fake.state).unwrap();
    assert_eq!(
        summary(&p),
        [
            "delete address red/eth0 10.0.0.3/24",
            "update macvlan red/eth0",
            "create route red/eth0 0.0.0.0/0",
        ]
    );
    let Step::Update { changes, .. } = &p.steps[1] else {
        panic!("not an update: {:?}", p.steps[1]);
    };
    assert_eq!(
        changes,
        &[
            Change::Mode {
                from: Mode::Vepa,
                to: Mode::Bridge
            },
            Change::Mac {
                from: live_mac,
                to: mac("02:00:00:00:00:01")
            },
            Change::Mtu {
                from: 1500,
                to: 1400
            },
            Change::Up {
                from: false,
                to: true
            },
        ]
    );
    fake.apply_all(&p.steps, "lab").unwrap();
    assert!(diff(&t2, &fake.state).unwrap().in_sync);
}

#[test]
fn parent_change_replaces_and_keeps_the_kernel_mac() {
    let t = lab();
    let fake = applied(&t, host_state());
    let old_mac = fake.state.link(Some(&ns("red")), &ln("eth0")).unwrap().mac;
    let mut t2 = t.clone();
    t2.macvlans
        .iter_mut()
        .find(|m| m.namespace == Some(ns("red")))
        .unwrap()
        .parent = ln("eth1");
    let p = diff(&t2, &fake.state).unwrap();
    assert_eq!(
        summary(&p),
        [
            "replace macvlan red/eth0",
            "create address red/eth0 10.0.0.2/24",
            "create route red/eth0 0.0.0.0/0",
        ]
    );
    let Step::Replace { to, reason, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(reason.to_string(), "parent changes from lab0 to eth1");
    let Object::Macvlan(to) = to else { panic!() };
    assert_eq!(to.mac, old_mac);
}

#[test]
fn passthru_in_or_out_is_a_replace_without_the_old_mac() {
    let t = lab();
    let fake = applied(&t, host_state());
    let mut t2 = t.clone();
    let m = t2
        .macvlans
        .iter_mut()
        .find(|m| m.namespace == Some(ns("red")))
        .unwrap();
    m.mode = Mode::Passthru;
    let p = diff(&t2, &fake.state).unwrap();
    let Step::Replace { to, reason, .. } = &p.steps[0] else {
        panic!("{p:#?}")
    };
    assert_eq!(reason.to_string(), "mode changes from bridge to passthru");
    let Object::Macvlan(to) = to else { panic!() };
    assert_eq!(to.mac, None);
}

#[test]
fn namespace_move_is_delete_then_create() {
    let t = lab();
    let mut fake = applied(&t, host_state());
    let mut t2 = t.clone();
    for m in &mut t2.macvlans {
        if m.namespace == Some(ns("red")) {
            m.namespace = Some(ns("blue"));
            m.name = ln("eth1");
        }
    }
    t2.macvlans
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    t2.namespaces.remove(&ns("red"));
    let p = diff(&t2, &fake.state).unwrap();
    assert_eq!(
        summary(&p),
        [
            "delete macvlan red/eth0",
            "delete namespace red",
            "create macvlan blue/eth1",
            "create address blue/eth1 10.0.0.2/24",
            "create route blue/eth1 0.0.0.0/0",
        ]
    );
    fake.apply_all(&p.steps, "lab").unwrap();
    assert!(diff(&t2, &fake.state).unwrap().in_sync);
}

#[test]
fn foreign_objects_in_the_way_are_all_named() {
    let mut live = host_state();
    live.namespaces.push(LiveNamespace {
        name: ns("red"),
        owner: None,
    });
    let mut l = live.links[0].clone();
    l.namespace = Some(ns("red"));
    l.name = ln("eth0");
    l.kind = LinkKind::Macvlan;
    live.links.push(l.clone());
    l.namespace = None;
    l.name = ln("lab0");
    l.owner = Some("other".into());
    live.links.push(l);
    let err = diff(&lab(), &live).unwrap_err();
    let PlanError::Blocked { problems, .. } = &err else {
        panic!("{err:?}")
    };
    let msgs: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "interface lab0 exists and is not owned by topology lab (owner: other)",
            "interface red/eth0 exists and is not owned by topology lab (owner: none)",
        ]
    );
    assert_eq!(err.to_string(), "2 problems stop the plan for topology lab");
}

#[test]
fn missing_existing_parent_is_an_error() {
    let err = diff(&lab(), &LiveState::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "existing parent eth1 does not exist in the namespace mvtopo runs in"
    );
    let d: &dyn miette::Diagnostic = &err;
    assert!(d.help().unwrap().to_string().contains("create = \"veth\""));
}

#[test]
fn pruning_keeps_namespaces_with_foreign_links() {
    let t = lab();
    let mut fake = applied(&t, host_state());
    // Someone else puts an interface into our namespace red.
    let mut intruder = fake.state.links[0].clone();
    intruder.namespace = Some(ns("red"));
    intruder.name = ln("eth9");
    fake.state.links.push(intruder);
    fake.state.normalize();
    let empty = topo(&[], vec![], vec![]);
    let p = diff(&empty, &fake.state).unwrap();
    assert_eq!(
        summary(&p),
        [
            "delete macvlan blue/eth0",
            "delete macvlan red/eth0",
            "delete parent lab0",
            "delete namespace blue",
        ]
    );
    assert_eq!(
        p.notes,
        [
            "namespace red is kept: deleting it would delete interface red/eth9, which topology lab does not own"
        ]
    );
    assert_eq!(destroy("lab", &fake.state).unwrap(), p);
    fake.apply_all(&p.steps, "lab").unwrap();
    // The NIC and the intruder are still there.
    assert_eq!(fake.state.links.len(), 2);
}

#[test]
fn veth_peer_namespace_change_replaces_the_parent_and_its_macvlans() {
    let t = lab();
    let mut fake = applied(&t, host_state());
    let mut t2 = t.clone();
    t2.parents.get_mut(&ln("lab0")).unwrap().kind = veth("lab0p", Some("blue"));
    let p = diff(&t2, &fake.state).unwrap();
    assert_eq!(
        summary(&p),
        [
            "replace parent lab0",
            "replace macvlan red/eth0",
            "create address red/eth0 10.0.0.2/24",
            "create route red/eth0 0.0.0.0/0",
        ]
    );
    let reasons: Vec<String> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Replace { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "peer changes from lab0p to blue/lab0p",
            "parent lab0 is replaced"
        ]
    );
    fake.apply_all(&p.steps, "lab").unwrap();
    assert!(diff(&t2, &fake.state).unwrap().in_sync);
}

#[test]
fn nic_updates_are_the_only_changes_to_foreign_links() {
    let mut live = host_state();
    live.links[0].up = false;
    let mut t = lab();
    t.parents.get_mut(&ln("eth1")).unwrap().mtu = Some(9000);
    let p = diff(&t, &live).unwrap();
    let first = p
        .steps
        .iter()
        .find(|s| s.action() == Action::Update)
        .unwrap();
    assert_eq!(
        first,
        &Step::Update {
            object: Object::Nic {
                namespace: None,
                name: ln("eth1"),
                mtu: Some(9000),
                up: true
            },
            changes: vec![
                Change::Mtu {
                    from: 1500,
                    to: 9000
                },
                Change::Up {
                    from: false,
                    to: true
                }
            ]
        }
    );
}

#[test]
fn destroy_never_touches_nics() {
    let fake = applied(&lab(), host_state());
    let p = destroy("lab", &fake.state).unwrap();
    assert!(
        p.steps
            .iter()
            .all(|s| !matches!(s.object(), Object::Nic { .. }))
    );
    assert_eq!(destroy("other", &fake.state).unwrap().steps, vec![]);
    let mut fake = fake;
    fake.apply_all(&p.steps, "lab").unwrap();
    assert_eq!(fake.snapshot().unwrap(), host_state());
}

#[test]
fn vlan_cycle_is_a_plan_error() {
    let mut t = lab();
    t.parents.insert(
        ln("v1"),
        Parent {
            namespace: None,
            name: ln("v1"),
            kind: ParentKind::Vlan {
                link: ln("v1"),
                vlan_id: 1,
                link_span: Span::default(),
            },
            mtu: None,
            span: Span::default(),
        },
    );
    assert!(matches!(diff(&t, &host_state()), Err(PlanError::Cycle(_))));
}

// -------------------------------------------------------------------------------------
// Searches that once grew quadratically, held linear by counting what they look at.

fn mac_n(i: usize) -> MacAddr {
    let b = (i as u32).to_be_bytes();
    MacAddr([2, 0, b[0], b[1], b[2], b[3]])
}

fn owned_macvlan(namespace: &str, name: &str, parent: &str, mac: MacAddr) -> LiveLink {
    LiveLink {
        parent: Some(LinkRef::host(ln(parent))),
        mode: Some(Mode::Bridge),
        mac: Some(mac),
        owner: Some("lab".into()),
        ..LiveLink::new(
            crate::testing::at(Some(namespace), name),
            LinkKind::Macvlan,
            1500,
            true,
        )
    }
}

/// Run the planner and return its plan size and visit count.
fn visits(t: &Topology, live: &LiveState) -> (usize, u64) {
    let live = normalized(live);
    let cx = Context::new(t, &live);
    let d = phases(&cx).expect("the planner runs");
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let v = cx.visits.get();
    (order::finish(&cx, d).unwrap().steps.len(), v)
}

/// The live state holds `n` owned macvlans, the file wants `n` others on the same parent
/// in the same namespace (and the state's namespace `old` with `n` more is pruned): each
/// pruned link's casualty search looks at that link alone, not at every live link.
fn churn(n: usize) -> (usize, u64) {
    let wanted: Vec<Macvlan> = (0..n)
        .map(|i| mv(Some("ns0"), &format!("a{i}"), "eth1"))
        .collect();
    let t = topo(&["ns0"], vec![("eth1", ParentKind::Existing)], wanted);
    let mut live = host_state();
    for (space, prefix) in [("ns0", "b"), ("old", "c")] {
        live.namespaces.push(LiveNamespace {
            name: ns(space),
            owner: Some("lab".into()),
        });
        for i in 0..n {
            live.links.push(owned_macvlan(
                space,
                &format!("{prefix}{i}"),
                "eth1",
                mac_n(i),
            ));
        }
    }
    live.normalize();
    visits(&t, &live)
}

#[test]
fn churn_planning_visits_grow_linearly() {
    let (steps, small) = churn(500);
    assert_eq!(
        steps,
        500 + 500 + 500 + 1,
        "creates, deletes, pruned namespace links and namespace"
    );
    let (_, large) = churn(4000);
    // One visit per pruned link (2n: both namespaces') and per link of the pruned
    // namespace (n). A scan of every live link per search (the old way) made it 4n²
    // (500: a million).
    assert_eq!(small, 3 * 500);
    assert_eq!(large, 3 * 4000);
}

/// `n` kept macvlans on one parent whose MACs rotate (a_i takes a_(i+1)'s): every MAC
/// change orders one update before the one that wants its old MAC. Finding that one
/// costs the macvlans given that MAC, not a scan of the parent.
fn mac_rotation(n: usize) -> (usize, u64) {
    let wanted: Vec<Macvlan> = (0..n)
        .map(|i| {
            let mut m = mv(Some("ns0"), &format!("a{i:05}"), "eth1");
            m.mac = Some(mac_n((i + 1) % n));
            m
        })
        .collect();
    let t = topo(&["ns0"], vec![("eth1", ParentKind::Existing)], wanted);
    let mut live = host_state();
    live.namespaces.push(LiveNamespace {
        name: ns("ns0"),
        owner: Some("lab".into()),
    });
    for i in 0..n {
        live.links
            .push(owned_macvlan("ns0", &format!("a{i:05}"), "eth1", mac_n(i)));
    }
    live.normalize();
    visits(&t, &live)
}

#[test]
fn mac_conflict_ordering_visits_grow_linearly() {
    // The rotation is one cycle: split once (a delete and a create), then ordered.
    let (steps, small) = mac_rotation(300);
    assert_eq!(steps, 300 + 1);
    let (_, large) = mac_rotation(2400);
    // Two passes over the steps (before and after the split), each finding one macvlan
    // per MAC change. A scan of the parent per change was n² per pass (300: 180,000).
    assert!(small <= 2 * 300, "{small}");
    assert!(large <= 2 * 2400, "{large}");
}

/// The phases are plain functions of the context and a draft: each runs alone.
#[test]
fn phases_run_alone_on_a_draft() {
    let t = lab();
    let mut live = host_state();
    live.namespaces = vec![
        LiveNamespace {
            name: ns("old"),
            owner: Some("lab".into()),
        },
        LiveNamespace {
            name: ns("red"),
            owner: Some("lab".into()),
        },
    ];
    let cx = Context::new(&t, &live);

    // Only the namespace the kernel lacks is made; nothing is deleted by this phase.
    let d = namespaces(&cx, Draft::default());
    let made: Vec<&Key> = d.steps.keys().collect();
    assert_eq!(made, [&Key::Namespace { name: ns("blue") }]);
    assert!(d.deletes.is_empty());

    // Pruning alone deletes the owned namespace the file no longer names, and only it.
    let d = ownership::prune_namespaces(&cx, Draft::default());
    let gone: Vec<&Key> = d.deletes.keys().collect();
    assert_eq!(gone, [&Key::Namespace { name: ns("old") }]);
    assert!(d.steps.is_empty() && d.notes.is_empty());
}

#[test]
fn only_a_parents_mtu_going_down_moves_to_the_end() {
    let nic = |mtu| Object::Nic {
        namespace: None,
        name: ln("eth1"),
        mtu: Some(mtu),
        up: true,
    };
    let mut m = MacvlanLink::from_model(&mv(Some("red"), "eth0", "eth1"));
    m.mtu = Some(1400);
    let steps = vec![
        Step::Update {
            object: nic(1400),
            changes: vec![
                Change::Mtu {
                    from: 9000,
                    to: 1400,
                },
                Change::Up {
                    from: false,
                    to: true,
                },
            ],
        },
        Step::Update {
            object: Object::Macvlan(m.clone()),
            changes: vec![Change::Mtu {
                from: 9000,
                to: 1400,
            }],
        },
    ];
    let out = order::lower_mtus_last(steps);
    let fields: Vec<(&str, Vec<&Change>)> = out
        .iter()
        .map(|s| match s {
            Step::Update { object, changes } => (object.kind(), changes.iter().collect()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            (
                "nic",
                vec![&Change::Up {
                    from: false,
                    to: true
                }]
            ),
            (
                "macvlan",
                vec![&Change::Mtu {
                    from: 9000,
                    to: 1400
                }]
            ),
            (
                "nic",
                vec![&Change::Mtu {
                    from: 9000,
                    to: 1400
                }]
            ),
        ]
    );
}

#[test]
fn a_kernel_without_the_broadcast_attributes_is_refused_before_any_change() {
    // What such a kernel does with them: nothing, and no error (the fake, told the
    // kernel lacks them, ignores them as that kernel's netlink policy does).
    let mut t = lab();
    t.macvlans[1].bcqueuelen = Some(300);
    let mut old = host_state();
    old.kernel.macvlan_bc_queue_len = Some(false);
    old.kernel.macvlan_bc_cutoff = Some(false);
    let mut quiet = t.clone();
    quiet.macvlans[1].bcqueuelen = None;
    let mut plan = diff(&quiet, &old).unwrap();
    for s in &mut plan.steps {
        if let Step::Create {
            object: Object::Macvlan(m),
        } = s
        {
            m.bcqueuelen = Some(300);
            m.bc_cutoff = Some(5);
        }
    }
    let mut fake = FakeBackend::new(old.clone());
    fake.apply_all(&plan.steps, &t.name).unwrap();
    assert!(
        fake.state
            .links
            .iter()
            .all(|l| l.bcqueuelen.is_none() && l.bc_cutoff.is_none())
    );
    // So the plan refuses, naming the key and the kernel's feature, and makes no step.
    let e = diff(&t, &old).unwrap_err();
    assert!(
        matches!(
            &e,
            PlanError::KernelFeature {
                key: "bcqueuelen",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("IFLA_MACVLAN_BC_QUEUE_LEN"), "{e}");
    t.macvlans[1].bcqueuelen = None;
    t.macvlans[0].bc_cutoff = Some(2);
    let e = diff(&t, &old).unwrap_err();
    assert!(
        matches!(
            &e,
            PlanError::KernelFeature {
                key: "bc-cutoff",
                ..
            }
        ),
        "{e:?}"
    );
    // A kernel that has them, or one not known (a state file from before), plans.
    old.kernel = Default::default();
    assert!(diff(&t, &old).is_ok());
}

#[test]
fn macvtap_kind_flags_and_queue_converge_and_a_kind_change_is_a_replace() {
    let mut t = lab();
    let mut live = host_state();
    live.kernel.macvlan_bc_queue_len = Some(true);
    live.kernel.macvlan_bc_cutoff = Some(true);
    t.macvlans[0].kind = crate::names::MacvlanKind::Macvtap;
    t.macvlans[0].flags = vec![crate::names::MacvlanFlag::Nodst];
    t.macvlans[0].bcqueuelen = Some(64);
    t.macvlans[1].bc_cutoff = Some(-1);
    let fake = applied(&t, live);
    let tap = fake
        .state
        .link(Some(&ns("blue")), &ln("eth0"))
        .expect("blue/eth0");
    assert_eq!(tap.kind, LinkKind::Macvtap);
    assert_eq!(tap.bcqueuelen, Some(64));
    assert!(diff(&t, &fake.state).unwrap().in_sync);
    t.macvlans[0].kind = crate::names::MacvlanKind::Macvlan;
    let p = diff(&t, &fake.state).unwrap();
    let Step::Replace { reason, to, .. } = &p.steps[0] else {
        panic!("{p:#?}")
    };
    assert_eq!(reason.to_string(), "kind changes from macvtap to macvlan");
    let Object::Macvlan(to) = to else { panic!() };
    assert_eq!(to.mac, tap.mac, "the kernel's MAC is kept");
}
