//! Properties of diff + the fake kernel over random valid topologies: a plan applied makes
//! the topology diff to nothing, from any messy owned state; plans are deterministic; and
//! no step ever deletes or changes something the topology does not own.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use mvtopo::apply::backend::Backend;
use mvtopo::diff::{PlanError, destroy, diff};
use mvtopo::fake::FakeBackend;
use mvtopo::live::{LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState};
use mvtopo::model::{Macvlan, Namespace, Parent, ParentKind, Route, Span, Topology};
use mvtopo::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};
use mvtopo::plan::{Object, Plan, Step};
use mvtopo::testing::{ln, ns};
use proptest::prelude::*;

const OWNER: &str = "lab";

/// Two NICs nobody owns: the existing parents every topology may use, on a kernel with the
/// broadcast queue attributes (so every macvlan made reports its queue length, as there).
fn base() -> LiveState {
    serde_json::from_str(
        r#"{"links":[
          {"name":"eth1","kind":"device","mtu":1500,"up":true,"mac":"52:54:00:00:00:01"},
          {"name":"eth2","kind":"device","mtu":1500,"up":false,"mac":"52:54:00:00:00:02"}],
          "kernel":{"macvlan_bc_queue_len":true,"macvlan_bc_cutoff":true}}"#,
    )
    .unwrap()
}

const NAMESPACES: [&str; 3] = ["n0", "n1", "n2"];
const LAB_PARENTS: [&str; 3] = ["lab0", "lab1", "lab2"];
const MACVLAN_NAMES: [&str; 4] = ["m0", "m1", "m2", "m3"];
const MODES: [Mode; 5] = [
    Mode::Vepa,
    Mode::Bridge,
    Mode::Private,
    Mode::Passthru,
    Mode::Source,
];

#[derive(Clone, Debug)]
struct MvSpec {
    name: usize,
    namespace: usize, // 0 = the tool's own, i+1 = NAMESPACES[i]
    parent: usize,    // index into the chosen parents
    mode: usize,
    has_mac: bool,
    mtu: usize,
    up: bool,
    addresses: usize, // 0..=2
    route: usize,     // 0 none, 1 via gateway, 2 on-link, 3 both
    sources: usize,
    /// One bit each: macvtap, the mode's flag, bcqueuelen, the parent's bc-cutoff.
    driver: usize,
}

fn mv_spec() -> impl Strategy<Value = MvSpec> {
    (
        (0..4usize, 0..4usize, 0..8usize, 0..5usize, any::<bool>()),
        (0..3usize, any::<bool>(), 0..3usize, 0..4usize, 1..4usize),
        0..16usize,
    )
        .prop_map(
            |(
                (name, namespace, parent, mode, has_mac),
                (mtu, up, addresses, route, sources),
                driver,
            )| {
                MvSpec {
                    name,
                    namespace,
                    parent,
                    mode,
                    has_mac,
                    mtu,
                    up,
                    addresses,
                    route,
                    sources,
                    driver,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct TopoSpec {
    namespaces: [bool; 3],
    existing: [(bool, usize); 2],          // (used, mtu choice)
    lab: [(bool, usize, usize, usize); 3], // (used, kind 0 veth 1 dummy, peer ns, mtu choice)
    vlan: (bool, usize, u16),              // (used, link index into the non-vlan parents, id)
    macvlans: Vec<MvSpec>,
}

fn topo_spec() -> impl Strategy<Value = TopoSpec> {
    (
        [any::<bool>(), any::<bool>(), any::<bool>()],
        [(any::<bool>(), 0..3usize), (any::<bool>(), 0..3usize)],
        [
            (any::<bool>(), 0..2usize, 0..4usize, 0..3usize),
            (any::<bool>(), 0..2usize, 0..4usize, 0..3usize),
            (any::<bool>(), 0..2usize, 0..4usize, 0..3usize),
        ],
        (any::<bool>(), 0..8usize, 1..5u16),
        prop::collection::vec(mv_spec(), 0..8),
    )
        .prop_map(|(namespaces, existing, lab, vlan, macvlans)| TopoSpec {
            namespaces,
            existing,
            lab,
            vlan,
            macvlans,
        })
}

/// Small edits of a spec: (which object, which field, new value), applied modulo sizes.
fn edits() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    prop::collection::vec((0..8usize, 0..16usize, 0..8usize), 1..4)
}

fn edited(spec: &TopoSpec, edits: &[(usize, usize, usize)]) -> TopoSpec {
    let mut s = spec.clone();
    for &(which, field, v) in edits {
        match field {
            0 => s.namespaces[which % 3] = !s.namespaces[which % 3],
            1 => s.existing[which % 2].1 = v % 3,
            2 => s.lab[which % 3].1 = v % 2,
            3 => s.lab[which % 3].2 = v % 4,
            4 => s.lab[which % 3].3 = v % 3,
            5 => s.vlan = (v % 2 == 0, which, s.vlan.2),
            _ if s.macvlans.is_empty() => {}
            _ => {
                let n = s.macvlans.len();
                let m = &mut s.macvlans[which % n];
                match field {
                    6 => m.namespace = v % 4,
                    7 => m.parent = v,
                    8 => m.mode = v % 5,
                    9 => m.has_mac = !m.has_mac,
                    10 => m.mtu = v % 3,
                    11 => m.up = !m.up,
                    12 => m.addresses = v % 3,
                    13 => m.route = v % 4,
                    14 => m.sources = 1 + v % 3,
                    _ => m.name = v % 4,
                }
            }
        }
    }
    s
}

fn mtu_choice(i: usize) -> Option<u32> {
    [None, Some(1500), Some(9000)][i % 3]
}

/// Build a valid topology. `salt` keeps the MACs of two topologies apart (MAC swaps between
/// macvlans are a known ordering limit, see the report).
fn build(spec: &TopoSpec, salt: u8) -> Topology {
    let mut t = Topology {
        name: OWNER.into(),
        namespaces: BTreeMap::new(),
        parents: BTreeMap::new(),
        macvlans: vec![],
    };
    let chosen_ns: Vec<NsName> = NAMESPACES
        .iter()
        .zip(spec.namespaces)
        .filter(|(_, on)| *on)
        .map(|(n, _)| ns(n))
        .collect();
    for n in &chosen_ns {
        t.namespaces.insert(
            n.clone(),
            Namespace {
                name: n.clone(),
                span: Span::default(),
            },
        );
    }
    let mut parent = |name: &str, kind: ParentKind, mtu: Option<u32>| {
        t.parents
            .insert(ln(name), mvtopo::testing::parent(name, kind, mtu));
    };
    for (i, (used, mtu)) in spec.existing.iter().enumerate() {
        if *used {
            parent(
                &format!("eth{}", i + 1),
                ParentKind::Existing,
                mtu_choice(*mtu),
            );
        }
    }
    for (i, (used, kind, peer_ns, mtu)) in spec.lab.iter().enumerate() {
        if !*used {
            continue;
        }
        let name = LAB_PARENTS[i];
        let kind = if *kind == 0 {
            ParentKind::Veth {
                peer: ln(&format!("{name}p")),
                peer_namespace: chosen_ns.get(*peer_ns).cloned(),
                peer_namespace_span: Span::default(),
            }
        } else {
            ParentKind::Dummy
        };
        parent(name, kind, mtu_choice(*mtu));
    }
    let base_parents: Vec<LinkName> = t.parents.keys().cloned().collect();
    if spec.vlan.0 && !base_parents.is_empty() {
        let link = base_parents[spec.vlan.1 % base_parents.len()].clone();
        t.parents.insert(
            ln("vl0"),
            Parent {
                namespace: None,
                name: ln("vl0"),
                kind: ParentKind::Vlan {
                    link,
                    vlan_id: spec.vlan.2,
                    link_span: Span::default(),
                },
                mtu: None,
                span: Span::default(),
            },
        );
    }
    // A bridge every other time, its ports the far ends of the veths that stay in
    // mvtopo's namespace (macvlans sit on the near ends, never on a port).
    if spec.vlan.2 % 2 == 0 {
        let ports: Vec<LinkName> = t
            .parents
            .values()
            .filter_map(|p| match &p.kind {
                ParentKind::Veth {
                    peer,
                    peer_namespace: None,
                    ..
                } => Some(peer.clone()),
                _ => None,
            })
            .collect();
        t.parents.insert(
            ln("br0"),
            Parent {
                namespace: None,
                name: ln("br0"),
                kind: ParentKind::Bridge {
                    ports,
                    ports_span: Span::default(),
                },
                mtu: None,
                span: Span::default(),
            },
        );
    }
    let parents: Vec<LinkName> = t.parents.keys().cloned().collect();
    if parents.is_empty() {
        return t;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in spec.macvlans.iter().enumerate() {
        let namespace = match s.namespace {
            0 => None,
            n => chosen_ns.get(n - 1).cloned(),
        };
        let name = ln(MACVLAN_NAMES[s.name]);
        if !seen.insert((namespace.clone(), name.clone())) {
            continue;
        }
        let mode = MODES[s.mode];
        let i8 = i as u8;
        let mut addresses = vec![];
        for j in 0..s.addresses {
            addresses.push(Cidr::new(format!("10.{i}.{j}.2").parse().unwrap(), 24).unwrap());
        }
        if s.addresses == 2 {
            addresses[1] = Cidr::new(format!("fd00:{i}::2").parse().unwrap(), 64).unwrap();
        }
        let mut routes = vec![];
        if !addresses.is_empty() && s.route & 1 == 1 {
            routes.push(Route {
                to: Cidr::new(format!("10.{}.0.0", 100 + i).parse().unwrap(), 16).unwrap(),
                via: Some(format!("10.{i}.0.1").parse().unwrap()),
                metric: None,
            });
        }
        if s.route & 2 == 2 {
            routes.push(Route {
                to: Cidr::new(format!("192.168.{i}.0").parse().unwrap(), 24).unwrap(),
                via: None,
                // Odd macvlans' on-link route has a metric of its own.
                metric: (i % 2 == 1).then_some(100),
            });
        }
        routes.sort();
        let source_macs = if mode == Mode::Source {
            (0..s.sources)
                .map(|k| MacAddr([0x02, 0, 0, 0xaa, i8, k as u8]))
                .collect()
        } else {
            vec![]
        };
        let parent = s.parent % parents.len();
        t.macvlans.push(Macvlan {
            parent_namespace: None,
            name,
            parent: parents[parent].clone(),
            namespace,
            mode,
            mac: (s.has_mac && mode != Mode::Passthru).then_some(MacAddr([2, 0, 0, salt, 0, i8])),
            mtu: [None, Some(1280), Some(1400)][s.mtu],
            up: s.up,
            addresses,
            // A down link holds no routes (check rejects the pair).
            routes: if s.up { routes } else { vec![] },
            source_macs,
            kind: if s.driver & 1 != 0 {
                MacvlanKind::Macvtap
            } else {
                MacvlanKind::Macvlan
            },
            flags: MacvlanFlag::ALL
                .into_iter()
                .filter(|f| s.driver & 2 != 0 && f.mode() == mode)
                .collect(),
            bcqueuelen: (s.driver & 4 != 0).then_some(64 * (s.mtu as u32 + 1)),
            // One value per parent, or `check` refuses.
            bc_cutoff: (s.driver & 8 != 0).then_some(parent as i32 - 1),
            span: Span::default(),
        });
    }
    // A passthru macvlan must be its parent's only one.
    let mut per_parent: BTreeMap<LinkName, usize> = BTreeMap::new();
    for m in &t.macvlans {
        *per_parent.entry(m.parent.clone()).or_default() += 1;
    }
    for m in &mut t.macvlans {
        if m.mode == Mode::Passthru && per_parent[&m.parent] > 1 {
            m.mode = Mode::Bridge;
        }
    }
    t.macvlans
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    t
}

fn apply(fake: &mut FakeBackend, plan: &Plan) -> Result<(), TestCaseError> {
    for (i, s) in plan.steps.iter().enumerate() {
        fake.execute(s, OWNER).map_err(|e| {
            TestCaseError::fail(format!("step {i} {s:?} fails: {e}\nplan: {plan:#?}"))
        })?;
    }
    Ok(())
}

fn applied(t: &Topology, state: LiveState) -> Result<FakeBackend, TestCaseError> {
    let plan = diff(t, &state).map_err(|e| TestCaseError::fail(format!("diff: {e}")))?;
    let mut fake = FakeBackend::new(state);
    apply(&mut fake, &plan)?;
    Ok(fake)
}

/// The live state holds exactly what `t` describes, checked field by field without `diff`
/// (so a diff that overlooks something cannot hide it behind an empty re-plan).
fn check_matches(t: &Topology, live: &LiveState) -> Result<(), TestCaseError> {
    let mut accounted = std::collections::BTreeSet::new();
    for n in t.namespaces.keys() {
        prop_assert!(live.namespace(n).is_some(), "namespace {n} missing");
    }
    for n in &live.namespaces {
        prop_assert!(
            !n.owned_by(OWNER) || t.namespaces.contains_key(&n.name),
            "owned namespace {} left over",
            n.name
        );
    }
    for p in t.parents.values() {
        let l = live.link(None, &p.name);
        prop_assert!(l.is_some(), "parent {} missing", p.name);
        let l = l.unwrap();
        accounted.insert(l.at());
        prop_assert!(l.up, "parent {} down", p.name);
        if let Some(mtu) = p.mtu {
            prop_assert_eq!(l.mtu, mtu);
        }
        match &p.kind {
            ParentKind::Existing => prop_assert_eq!(&l.kind, &LinkKind::Device),
            ParentKind::Dummy => prop_assert_eq!(&l.kind, &LinkKind::Dummy),
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => {
                let want = LinkRef {
                    namespace: peer_namespace.clone(),
                    name: peer.clone(),
                };
                prop_assert_eq!(l.peer.as_ref(), Some(&want));
                prop_assert!(live.link(want.namespace.as_ref(), &want.name).is_some());
                accounted.insert(want);
            }
            ParentKind::Vlan { link, vlan_id, .. } => {
                prop_assert_eq!(l.vlan_id, Some(*vlan_id));
                prop_assert_eq!(l.parent.as_ref().map(|p| &p.name), Some(link));
            }
            ParentKind::Bridge { ports, .. } => {
                prop_assert_eq!(&l.kind, &LinkKind::Bridge);
                prop_assert_eq!(&live.ports(None, &p.name), ports);
            }
        }
    }
    for m in &t.macvlans {
        let l = live.link(m.namespace.as_ref(), &m.name);
        prop_assert!(l.is_some(), "macvlan {:?}/{} missing", m.namespace, m.name);
        let l = l.unwrap();
        accounted.insert(l.at());
        prop_assert_eq!(&l.kind, &LinkKind::from(m.kind));
        prop_assert_eq!(&l.flags, &m.flags);
        if let Some(q) = m.bcqueuelen {
            prop_assert_eq!(l.bcqueuelen, Some(q));
        }
        if let Some(c) = m.bc_cutoff {
            prop_assert_eq!(l.bc_cutoff.unwrap_or(1), c);
        }
        prop_assert_eq!(l.parent.as_ref().map(|p| &p.name), Some(&m.parent));
        prop_assert_eq!(l.mode, Some(m.mode));
        if m.mac.is_some() {
            prop_assert_eq!(l.mac, m.mac);
        }
        if let Some(mtu) = m.mtu {
            prop_assert_eq!(l.mtu, mtu);
        }
        prop_assert_eq!(l.up, m.up);
        let mut addresses = m.addresses.clone();
        addresses.sort();
        prop_assert_eq!(&l.addresses, &addresses);
        prop_assert_eq!(&l.routes, &m.routes);
        prop_assert_eq!(&l.source_macs, &m.source_macs);
    }
    for l in &live.links {
        prop_assert!(
            !l.owned_by(OWNER) || accounted.contains(&l.at()),
            "owned link {} left over",
            l.at()
        );
    }
    Ok(())
}

fn owned(live: &LiveState, at: &LinkRef) -> bool {
    let Some(l) = live.link(at.namespace.as_ref(), &at.name) else {
        return false;
    };
    l.owned_by(OWNER)
        || (l.kind == LinkKind::Veth
            && l.peer
                .as_ref()
                .and_then(|p| live.link(p.namespace.as_ref(), &p.name))
                .is_some_and(|p| p.owned_by(OWNER)))
}

/// Foreign clutter: unowned links and namespaces, and links of another topology, with
/// names from the same pools the topologies use.
fn clutter() -> impl Strategy<Value = Vec<(usize, usize, bool)>> {
    prop::collection::vec((0..4usize, 0..4usize, any::<bool>()), 0..4)
}

fn add_clutter(live: &mut LiveState, clutter: &[(usize, usize, bool)]) {
    for (k, (namespace, name, other_topology)) in clutter.iter().enumerate() {
        let namespace = match namespace {
            0 => None,
            n => {
                let n = ns(NAMESPACES[n - 1]);
                if live.namespace(&n).is_none() {
                    live.namespaces.push(LiveNamespace {
                        name: n.clone(),
                        owner: None,
                    });
                }
                Some(n)
            }
        };
        let name = ln(MACVLAN_NAMES[*name]);
        if live.link(namespace.as_ref(), &name).is_some() {
            continue;
        }
        live.links.push(LiveLink {
            parent: Some(LinkRef::host(ln("eth1"))),
            mode: Some(Mode::Bridge),
            mac: Some(MacAddr([2, 0xee, 0, 0, 0, k as u8])),
            owner: other_topology.then(|| "other".to_owned()),
            ..LiveLink::new(LinkRef::new(namespace, name), LinkKind::Macvlan, 1500, true)
        });
        live.normalize();
    }
}

/// Every step that removes or changes something is about an object the topology owns,
/// or an existing parent the file declares.
fn check_ownership(t: &Topology, live: &LiveState, plan: &Plan) -> Result<(), TestCaseError> {
    for s in &plan.steps {
        let (obj, touches_live) = match s {
            Step::Create { .. } => continue,
            Step::Delete { object } => (object, true),
            Step::Update { object, .. } => (object, true),
            Step::Replace { from, .. } => (from, true),
        };
        if !touches_live {
            continue;
        }
        let ok = match obj {
            Object::Namespace { name } => live.namespace(name).is_some_and(|n| n.owned_by(OWNER)),
            Object::Nic { name, .. } => {
                matches!(s, Step::Update { .. })
                    && t.parents
                        .get(name)
                        .is_some_and(|p| p.kind == ParentKind::Existing)
            }
            other => other.link().is_some_and(|at| owned(live, &at)),
        };
        prop_assert!(ok, "step touches something {OWNER} does not own: {s:?}");
    }
    Ok(())
}

fn shuffled(live: &LiveState) -> LiveState {
    let mut l = live.clone();
    l.links.reverse();
    l.namespaces.reverse();
    for link in &mut l.links {
        link.addresses.reverse();
        link.routes.reverse();
    }
    l
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    /// (1) From an empty host, the plan applied on the fake kernel leaves nothing to do.
    #[test]
    fn plan_from_empty_converges(spec in topo_spec()) {
        let t = build(&spec, 1);
        let fake = applied(&t, base())?;
        check_matches(&t, &fake.state)?;
        let again = diff(&t, &fake.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(again.in_sync, "not in sync after apply: {:#?}", again.steps);
        // And destroy takes it all away again, NICs aside.
        let mut fake = fake;
        let gone = destroy(OWNER, &fake.state).unwrap();
        apply(&mut fake, &gone)?;
        prop_assert!(fake.state.namespaces.is_empty());
        prop_assert!(fake.state.links.iter().all(|l| l.kind == LinkKind::Device));
    }

    /// (2) From the state another topology of the same owner left, diff → apply → diff is
    /// empty.
    #[test]
    fn plan_from_messy_owned_state_converges(a in topo_spec(), b in topo_spec()) {
        let (a, b) = (build(&a, 1), build(&b, 2));
        let fake = applied(&a, base())?;
        let plan = diff(&b, &fake.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut fake = fake;
        apply(&mut fake, &plan)?;
        check_matches(&b, &fake.state)?;
        let again = diff(&b, &fake.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(again.in_sync, "not in sync after apply of {plan:#?}:\n{:#?}", again.steps);
    }

    /// (2b) The same from a state one or more small edits away: updates, replaces and
    /// address/route changes of links that stay.
    #[test]
    fn plan_after_small_edits_converges(a in topo_spec(), e in edits()) {
        let b = build(&edited(&a, &e), 1);
        let a = build(&a, 1);
        let fake = applied(&a, base())?;
        let plan = diff(&b, &fake.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut fake = fake;
        apply(&mut fake, &plan)?;
        check_matches(&b, &fake.state)?;
        let again = diff(&b, &fake.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(again.in_sync, "not in sync after apply of {plan:#?}:\n{:#?}", again.steps);
    }

    /// (2c) The part of the state `relevant` keeps (what `show --format json FILE` writes)
    /// gives the same plan as the whole state, and the same destroy.
    #[test]
    fn the_relevant_state_gives_the_same_plan(a in topo_spec(), b in topo_spec(), junk in clutter()) {
        let (a, b) = (build(&a, 1), build(&b, 2));
        let mut live = applied(&a, base())?.state;
        add_clutter(&mut live, &junk);
        let part = mvtopo::diff::relevant(&b, &live);
        let whole = diff(&b, &live).map(|p| serde_json::to_string(&p).unwrap());
        let from_part = diff(&b, &part).map(|p| serde_json::to_string(&p).unwrap());
        match (whole, from_part) {
            (Ok(x), Ok(y)) => prop_assert_eq!(x, y),
            (Err(x), Err(y)) => prop_assert_eq!(x.to_string(), y.to_string()),
            (x, y) => prop_assert!(false, "{x:?} vs {y:?}"),
        }
        prop_assert_eq!(destroy(&b.name, &live).unwrap(), destroy(&b.name, &part).unwrap());
    }

    /// (2d) A plan from one topology's state to another's, refused at any kernel request,
    /// is undone: the state is exactly as it was found. Every request of the plan is tried
    /// in turn (apply::run with the fake's injected errno), so a step carried out by several
    /// requests is failed between each of them.
    #[test]
    fn a_failed_apply_leaves_the_state_as_found(a in topo_spec(), b in topo_spec()) {
        let (a, b) = (build(&a, 1), build(&b, 2));
        let mut start = applied(&a, base())?.state;
        start.normalize();
        let plan = diff(&b, &start).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let verify = |after: &LiveState| diff(&b, after).map(|p| p.steps);
        let mut clean = FakeBackend::new(start.clone());
        mvtopo::apply::run(&mut clean, &plan, &start, &verify, Default::default())
            .map_err(|e| TestCaseError::fail(format!("clean run: {e}")))?;
        for n in 0..clean.calls.len() {
            let mut fake = FakeBackend::new(start.clone()).fail_at(n, libc::EINVAL);
            let err = mvtopo::apply::run(&mut fake, &plan, &start, &verify, Default::default());
            let Err(mvtopo::apply::ApplyError::Step { undo, .. }) = err else {
                return Err(TestCaseError::fail(format!("request {n} did not fail the apply: {err:?}")));
            };
            prop_assert!(undo.complete(), "undo failed: {:?}\nundone: {:?}\nfailing request {} ({}) of plan {:#?}", undo.failed, undo.undone, n, clean.calls[n], plan.steps);
            let mut after = fake.state.clone();
            after.normalize();
            prop_assert_eq!(after, start.clone(), "failing at request {} ({}) of {:#?}", n, clean.calls[n], plan.steps);
        }
    }

    /// (3) The same input gives the same plan, whatever order the live state is listed in.
    #[test]
    fn plans_are_deterministic(a in topo_spec(), b in topo_spec(), junk in clutter()) {
        let (a, b) = (build(&a, 1), build(&b, 2));
        let mut live = applied(&a, base())?.state;
        add_clutter(&mut live, &junk);
        let one = diff(&b, &live).map(|p| serde_json::to_string(&p).unwrap());
        let two = diff(&b, &shuffled(&live)).map(|p| serde_json::to_string(&p).unwrap());
        match (one, two) {
            (Ok(x), Ok(y)) => prop_assert_eq!(x, y),
            (Err(x), Err(y)) => prop_assert_eq!(x.to_string(), y.to_string()),
            (x, y) => prop_assert!(false, "{x:?} vs {y:?}"),
        }
    }

    /// (4) No step deletes, updates or replaces anything the topology does not own (existing
    /// parents' MTU and up state aside); foreign objects in the way are errors instead.
    #[test]
    fn never_touches_foreign_objects(a in topo_spec(), b in topo_spec(), junk in clutter()) {
        let (a, b) = (build(&a, 1), build(&b, 2));
        let mut live = applied(&a, base())?.state;
        add_clutter(&mut live, &junk);
        match diff(&b, &live) {
            Ok(plan) => {
                check_ownership(&b, &live, &plan)?;
                check_ownership(&b, &live, &destroy(OWNER, &live).unwrap())?;
            }
            Err(PlanError::Foreign { .. }) => {}
            Err(PlanError::Blocked { problems, .. }) => {
                let all_foreign = problems.iter().all(|p| matches!(p, PlanError::Foreign { .. }));
                prop_assert!(all_foreign, "unexpected problems {problems:?}");
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
