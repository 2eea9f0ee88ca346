//! Fixtures shared by the render tests: a rich topology (all five modes, a veth with a peer
//! namespace, a vlan, v4 and v6 routes, source MACs) and a live state that drifts from it.

#![allow(dead_code)]

use mvtopo::live::{LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState};
use mvtopo::model::{ParentKind, Span, Topology};
use mvtopo::names::{MacAddr, MacvlanFlag, MacvlanKind, Mode};

pub use mvtopo::testing::{at, cidr, ln, mac, macvlan, macvlan_link, ns, parent, route, topology};

/// The rich topology: every mode, every parent kind, routes of both families.
pub fn rich() -> Topology {
    let mut red = macvlan(Some("red"), "eth0", "lab0", Mode::Bridge);
    red.mac = Some(mac("02:00:00:00:00:01"));
    red.mtu = Some(1400);
    // Deliberately not sorted: the file's order is kept.
    red.addresses = vec![cidr("fd00::2/64"), cidr("10.0.0.2/24")];
    red.routes = vec![
        route("default", Some("10.0.0.1")),
        route("10.1.0.0/16", Some("10.0.0.254")),
        route("default", Some("fd00::1")),
        route("10.2.0.0/16", None),
    ];
    let mut blue = macvlan(Some("blue"), "eth0", "lab0", Mode::Private);
    blue.addresses = vec![cidr("10.0.0.3/24")];
    let mut src = macvlan(None, "mv-src", "eth1", Mode::Source);
    src.source_macs = vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")];
    let mut pt = macvlan(Some("red"), "pt0", "dummy0", Mode::Passthru);
    pt.up = false;
    let vepa = macvlan(Some("blue"), "vl0", "eth1.10", Mode::Vepa);
    topology(
        "lab",
        &["red", "blue", "switch"],
        vec![
            parent("eth1", ParentKind::Existing, Some(9000)),
            parent(
                "eth1.10",
                ParentKind::Vlan {
                    link: ln("eth1"),
                    vlan_id: 10,
                    link_span: Span::default(),
                },
                None,
            ),
            parent(
                "lab0",
                ParentKind::Veth {
                    peer: ln("lab0-peer"),
                    peer_namespace: Some(ns("switch")),
                    peer_namespace_span: Span::default(),
                },
                None,
            ),
            parent(
                "lab1",
                ParentKind::Veth {
                    peer: ln("lab1p"),
                    peer_namespace: None,
                    peer_namespace_span: Span::default(),
                },
                Some(1500),
            ),
            parent("dummy0", ParentKind::Dummy, None),
        ],
        vec![red, blue, src, pt, vepa],
    )
}

pub fn link(namespace: Option<&str>, name: &str, kind: LinkKind) -> LiveLink {
    LiveLink::new(at(namespace, name), kind, 1500, true)
}

pub fn owned(mut l: LiveLink, owner: &str) -> LiveLink {
    l.owner = Some(owner.to_owned());
    l
}

pub fn live_macvlan(
    namespace: Option<&str>,
    name: &str,
    parent: &str,
    mode: Mode,
    mac_addr: &str,
) -> LiveLink {
    let mut l = link(namespace, name, LinkKind::Macvlan);
    l.parent = Some(at(None, parent));
    l.mode = Some(mode);
    l.mac = Some(mac(mac_addr));
    l
}

pub fn state(namespaces: &[(&str, Option<&str>)], links: Vec<LiveLink>) -> LiveState {
    let mut s = LiveState {
        namespaces: namespaces
            .iter()
            .map(|(n, o)| LiveNamespace {
                name: ns(n),
                owner: o.map(str::to_owned),
            })
            .collect(),
        links,
        kernel: Default::default(),
    };
    s.normalize();
    s
}

/// The live state `rich()` was applied to, then disturbed: the switch namespace and lab1 are
/// gone, blue/eth0 is missing, eth1 has the wrong MTU, red/eth0 drifted (mtu, up, one address
/// too many, a route missing), lab0's peer is in the wrong place, and objects the file no longer
/// has are still there (namespace old, parent old0, macvlan red/old-mv). Foreign things
/// (namespace foreign, macvlan docker-mv, the NIC eth0) are never the file's business.
pub fn drifted() -> LiveState {
    let mut eth1 = link(None, "eth1", LinkKind::Device);
    eth1.mac = Some(mac("52:54:00:12:34:56"));
    let mut vlan = owned(link(None, "eth1.10", LinkKind::Vlan), "lab");
    vlan.parent = Some(at(None, "eth1"));
    vlan.vlan_id = Some(10);
    let mut lab0 = owned(link(None, "lab0", LinkKind::Veth), "lab");
    lab0.peer = Some(at(None, "lab0-peer"));
    let mut lab0_peer = owned(link(None, "lab0-peer", LinkKind::Veth), "lab");
    lab0_peer.peer = Some(at(None, "lab0"));
    let dummy0 = owned(link(None, "dummy0", LinkKind::Dummy), "lab");
    let old0 = owned(link(None, "old0", LinkKind::Dummy), "lab");

    let mut red = owned(
        live_macvlan(
            Some("red"),
            "eth0",
            "lab0",
            Mode::Bridge,
            "02:00:00:00:00:01",
        ),
        "lab",
    );
    red.up = false;
    red.addresses = vec![cidr("10.0.0.2/24"), cidr("10.0.0.9/24"), cidr("fd00::2/64")];
    // Down: the kernel flushed its routes (it keeps none on a link that is down).
    red.routes = vec![];
    let mut src = owned(
        live_macvlan(None, "mv-src", "eth1", Mode::Source, "02:00:00:00:01:00"),
        "lab",
    );
    src.source_macs = vec![mac("02:00:00:00:00:aa")];
    let mut pt = owned(
        live_macvlan(
            Some("red"),
            "pt0",
            "dummy0",
            Mode::Passthru,
            "02:00:00:00:02:00",
        ),
        "lab",
    );
    pt.up = false;
    let vl0 = owned(
        live_macvlan(
            Some("blue"),
            "vl0",
            "eth1.10",
            Mode::Vepa,
            "02:00:00:00:03:00",
        ),
        "lab",
    );
    let mut old = owned(
        live_macvlan(
            Some("red"),
            "old-mv",
            "old0",
            Mode::Bridge,
            "02:00:00:00:04:00",
        ),
        "lab",
    );
    old.addresses = vec![cidr("10.9.0.1/24")];
    let foreign = live_macvlan(None, "docker-mv", "eth1", Mode::Bridge, "02:42:00:00:00:01");
    state(
        &[
            ("blue", Some("lab")),
            ("foreign", None),
            ("old", Some("lab")),
            ("red", Some("lab")),
        ],
        vec![
            link(None, "eth0", LinkKind::Device),
            eth1,
            vlan,
            lab0,
            lab0_peer,
            dummy0,
            old0,
            red,
            src,
            pt,
            vl0,
            old,
            foreign,
        ],
    )
}

/// `rich()` exactly as the kernel would hold it after a clean apply (MACs and MTUs the kernel
/// picked filled in).
pub fn applied() -> LiveState {
    let d = drifted();
    let keep = |l: &&LiveLink| !matches!(l.name.as_str(), "old0" | "old-mv" | "lab0-peer");
    let mut links: Vec<LiveLink> = d.links.iter().filter(keep).cloned().collect();
    for l in &mut links {
        match (l.namespace.as_ref().map(|n| n.as_str()), l.name.as_str()) {
            (None, "eth1") => l.mtu = 9000,
            (None, "lab0") => l.peer = Some(at(Some("switch"), "lab0-peer")),
            (Some("red"), "eth0") => {
                l.up = true;
                l.mtu = 1400;
                l.addresses = vec![cidr("10.0.0.2/24"), cidr("fd00::2/64")];
                l.routes = vec![
                    route("default", Some("10.0.0.1")),
                    route("10.1.0.0/16", Some("10.0.0.254")),
                    route("default", Some("fd00::1")),
                    route("10.2.0.0/16", None),
                ];
            }
            (None, "mv-src") => {
                l.source_macs = vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")]
            }
            _ => {}
        }
    }
    let mut peer = owned(link(Some("switch"), "lab0-peer", LinkKind::Veth), "lab");
    peer.peer = Some(at(None, "lab0"));
    let mut lab1 = owned(link(None, "lab1", LinkKind::Veth), "lab");
    lab1.peer = Some(at(None, "lab1p"));
    let mut lab1p = owned(link(None, "lab1p", LinkKind::Veth), "lab");
    lab1p.peer = Some(at(None, "lab1"));
    let mut blue = owned(
        live_macvlan(
            Some("blue"),
            "eth0",
            "lab0",
            Mode::Private,
            "02:00:00:00:05:00",
        ),
        "lab",
    );
    blue.addresses = vec![cidr("10.0.0.3/24")];
    links.extend([peer, lab1, lab1p, blue]);
    state(
        &[
            ("blue", Some("lab")),
            ("foreign", None),
            ("red", Some("lab")),
            ("switch", Some("lab")),
        ],
        links,
    )
}

/// The plan a diff of `rich()` against `drifted()` could produce, written out by hand (the
/// renderer formats plans; it does not make them). Twelve steps, so numbers take two columns.
pub fn drift_plan() -> mvtopo::plan::Plan {
    use mvtopo::plan::{Change, MacvlanLink, Object, Plan, Step};
    let red_eth0 = MacvlanLink {
        mac: Some(mac("02:00:00:00:00:01")),
        mtu: Some(1400),
        ..macvlan_link(Some("red"), "eth0", "lab0", Mode::Bridge)
    };
    let mv_src = MacvlanLink {
        source_macs: vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")],
        ..macvlan_link(None, "mv-src", "eth1", Mode::Source)
    };
    let blue_eth0 = macvlan_link(Some("blue"), "eth0", "lab0", Mode::Private);
    let old_mv = MacvlanLink {
        mac: Some(mac("02:00:00:00:04:00")),
        mtu: Some(1500),
        ..macvlan_link(Some("red"), "old-mv", "old0", Mode::Bridge)
    };
    let veth = |peer_namespace: Option<&str>| Object::Veth {
        namespace: None,
        name: ln("lab0"),
        peer: ln("lab0-peer"),
        peer_namespace: peer_namespace.map(ns),
        mtu: None,
        mac: None,
        peer_mac: None,
    };
    Plan {
        topology: "lab".to_owned(),
        in_sync: false,
        steps: vec![
            Step::Create {
                object: Object::Namespace { name: ns("switch") },
            },
            Step::Update {
                object: Object::Nic {
                    namespace: None,
                    name: ln("eth1"),
                    mtu: Some(9000),
                    up: true,
                },
                changes: vec![Change::Mtu {
                    from: 1500,
                    to: 9000,
                }],
            },
            Step::Replace {
                from: veth(None),
                to: veth(Some("switch")),
                reason: "the peer moves from the host namespace to switch".into(),
            },
            Step::Create {
                object: Object::Veth {
                    namespace: None,
                    name: ln("lab1"),
                    peer: ln("lab1p"),
                    peer_namespace: None,
                    mtu: Some(1500),
                    mac: None,
                    peer_mac: None,
                },
            },
            Step::Update {
                object: Object::Macvlan(red_eth0),
                changes: vec![
                    Change::Mtu {
                        from: 1500,
                        to: 1400,
                    },
                    Change::Up {
                        from: false,
                        to: true,
                    },
                ],
            },
            Step::Update {
                object: Object::Macvlan(mv_src),
                changes: vec![Change::SourceMacs {
                    from: vec![mac("02:00:00:00:00:aa")],
                    to: vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")],
                }],
            },
            Step::Create {
                object: Object::Macvlan(blue_eth0),
            },
            Step::Create {
                object: Object::Address {
                    namespace: Some(ns("blue")),
                    link: ln("eth0"),
                    address: cidr("10.0.0.3/24"),
                },
            },
            Step::Delete {
                object: Object::Address {
                    namespace: Some(ns("red")),
                    link: ln("eth0"),
                    address: cidr("10.0.0.9/24"),
                },
            },
            Step::Create {
                object: route("10.1.0.0/16", Some("10.0.0.254"))
                    .object(&Some(ns("red")), &ln("eth0")),
            },
            Step::Delete {
                object: Object::Macvlan(old_mv),
            },
            Step::Delete {
                object: Object::Dummy {
                    namespace: None,
                    name: ln("old0"),
                    mtu: Some(1500),
                    mac: None,
                },
            },
        ],
        notes: vec!["namespace old is kept: it holds eth9, which lab does not own".to_owned()],
    }
}

/// Compares `actual` with the golden file `tests/render_support/golden/<case>/<file>`. With
/// `MVTOPO_BLESS=1` the file is (re)written instead: review the diff before committing it.
pub fn golden(case: &str, file: &str, actual: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/render_support/golden")
        .join(case);
    let path = dir.join(file);
    if std::env::var_os("MVTOPO_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e} (MVTOPO_BLESS=1 writes it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output:\n{}",
            path.display(),
            mvtopo::render::unified_diff(&expected, actual, "expected", "actual", false)
        );
    }
}

/// The live state a clean apply of `t` leaves (as topology "lab"... or whatever `t.name` is):
/// every object present and owned, the values the file leaves open filled in the way the
/// kernel would (a MAC of its choosing, MTU 1500).
pub fn as_applied(t: &Topology) -> LiveState {
    let owner = t.name.as_str();
    let mut links = Vec::new();
    for p in t.parents.values() {
        let mtu = p.mtu.unwrap_or(1500);
        let mut l = match &p.kind {
            ParentKind::Existing => link(None, p.name.as_str(), LinkKind::Device),
            ParentKind::Dummy => owned(link(None, p.name.as_str(), LinkKind::Dummy), owner),
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => {
                let mut end = owned(link(None, peer.as_str(), LinkKind::Veth), owner);
                end.namespace = peer_namespace.clone();
                end.peer = Some(LinkRef {
                    namespace: None,
                    name: p.name.clone(),
                });
                end.mtu = mtu;
                links.push(end);
                let mut l = owned(link(None, p.name.as_str(), LinkKind::Veth), owner);
                l.peer = Some(LinkRef {
                    namespace: peer_namespace.clone(),
                    name: peer.clone(),
                });
                l
            }
            ParentKind::Bridge { .. } => {
                owned(link(None, p.name.as_str(), LinkKind::Bridge), owner)
            }
            ParentKind::Vlan {
                link: lower,
                vlan_id,
                ..
            } => {
                let mut l = owned(link(None, p.name.as_str(), LinkKind::Vlan), owner);
                l.parent = Some(LinkRef {
                    namespace: None,
                    name: lower.clone(),
                });
                l.vlan_id = Some(*vlan_id);
                l
            }
        };
        l.mtu = mtu;
        links.push(l);
    }
    for p in t.parents.values() {
        if let ParentKind::Bridge { ports, .. } = &p.kind {
            for l in links
                .iter_mut()
                .filter(|l| l.namespace.is_none() && ports.contains(&l.name))
            {
                l.master = Some(p.name.clone());
            }
        }
    }
    for (i, m) in t.macvlans.iter().enumerate() {
        let mut l = owned(link(None, m.name.as_str(), LinkKind::Macvlan), owner);
        l.namespace = m.namespace.clone();
        l.parent = Some(LinkRef {
            namespace: None,
            name: m.parent.clone(),
        });
        l.mode = Some(m.mode);
        l.mac = Some(m.mac.unwrap_or(MacAddr([0x02, 0xfe, 0, 0, 0, i as u8])));
        l.mtu = m.mtu.unwrap_or(1500);
        l.up = m.up;
        l.addresses = m.addresses.clone();
        l.routes = m.routes.clone();
        l.source_macs = m.source_macs.clone();
        l.kind = m.kind.into();
        l.flags = m.flags.clone();
        l.bcqueuelen = m.bcqueuelen;
        // The cutoff is the parent's: every macvlan on it reports the one set.
        l.bc_cutoff = t
            .macvlans
            .iter()
            .filter(|o| o.parent == m.parent)
            .find_map(|o| o.bc_cutoff)
            .filter(|c| *c != 1);
        links.push(l);
    }
    let namespaces: Vec<(&str, Option<&str>)> = t
        .namespaces
        .keys()
        .map(|n| (n.as_str(), Some(owner)))
        .collect();
    state(&namespaces, links)
}

/// Valid topologies by construction (every `check` rule holds), varied in everything the
/// renderer prints: namespaces that need quoting, all parent kinds, all five modes, optional
/// MACs and MTUs, v4 and v6 addresses, routes with and without gateways, source MACs.
pub fn arb_topology() -> impl proptest::strategy::Strategy<Value = Topology> {
    use proptest::prelude::*;
    const NAMESPACES: [&str; 3] = ["red", "blue green", "x.y"];
    // (mode, namespace choice, mac?, mtu, up, v4?, v6?, default route?, onlink route?, sources)
    let mv = (
        0usize..5,
        0usize..4,
        any::<bool>(),
        prop::option::of(68u32..=1500),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0u8..4, 1..4),
        // The driver's keys, one bit each: macvtap, the mode's flag, bcqueuelen, bc-cutoff.
        0u8..16,
    );
    (
        prop::collection::vec(any::<bool>(), 3),
        prop::option::of(Just(9000u32)),
        0usize..4,
        any::<bool>(),
        prop::collection::vec((mv, 0usize..4), 0..6),
    )
        .prop_map(|(ns_on, eth1_mtu, peer_ns, passthru_on_d0, mvs)| {
            let chosen: Vec<&str> = NAMESPACES
                .iter()
                .zip(&ns_on)
                .filter(|(_, on)| **on)
                .map(|(n, _)| *n)
                .collect();
            let pick_ns = |k: usize| chosen.get(k).copied();
            let parents = vec![
                parent("eth1", ParentKind::Existing, eth1_mtu),
                parent("d0", ParentKind::Dummy, None),
                parent(
                    "v0",
                    ParentKind::Veth {
                        peer: ln("v0p"),
                        peer_namespace: pick_ns(peer_ns).map(ns),
                        peer_namespace_span: Span::default(),
                    },
                    None,
                ),
                parent(
                    "eth1.10",
                    ParentKind::Vlan {
                        link: ln("eth1"),
                        vlan_id: 10,
                        link_span: Span::default(),
                    },
                    None,
                ),
                parent(
                    "v1",
                    ParentKind::Veth {
                        peer: ln("v1p"),
                        peer_namespace: None,
                        peer_namespace_span: Span::default(),
                    },
                    None,
                ),
                // A switch for the lab: its port is a veth's far end.
                parent(
                    "br0",
                    ParentKind::Bridge {
                        ports: vec![ln("v1p")],
                        ports_span: Span::default(),
                    },
                    None,
                ),
            ];
            let mut defaults_in: Vec<(Option<&str>, bool)> = Vec::new();
            let mut macvlans = Vec::new();
            for (i, ((mode, nsk, has_mac, mtu, up, v4, v6, default, onlink, srcs, driver), pk)) in
                mvs.into_iter().enumerate()
            {
                let namespace = pick_ns(nsk);
                // The first macvlan may have d0 to itself, and only it may be passthru.
                let on_d0 = i == 0 && passthru_on_d0;
                let parent_name = if on_d0 {
                    "d0"
                } else {
                    ["eth1", "v0", "eth1.10", "br0"][pk]
                };
                let mode = match Mode::ALL[mode] {
                    Mode::Passthru if !on_d0 => Mode::Bridge,
                    m => m,
                };
                let name = format!("m{i}");
                let mut m = macvlan(namespace, &name, parent_name, mode);
                m.mac = has_mac.then(|| MacAddr([0x02, 0, 0, 0, 0, i as u8 + 1]));
                m.mtu = mtu;
                m.up = up;
                let i = i as u8;
                if v4 {
                    m.addresses.push(cidr(&format!("10.{i}.0.2/24")));
                }
                if v6 {
                    m.addresses.push(cidr(&format!("fd{i}::2/64")));
                }
                for (family_v4, has) in [(true, v4), (false, v6)] {
                    // One default route per family and namespace, or `check` refuses.
                    if has && default && !defaults_in.contains(&(namespace, family_v4)) {
                        defaults_in.push((namespace, family_v4));
                        let via = if family_v4 {
                            format!("10.{i}.0.1")
                        } else {
                            format!("fd{i}::1")
                        };
                        m.routes.push(route("default", Some(&via)));
                    }
                }
                if v4 {
                    m.routes.push(route(
                        &format!("10.{}.0.0/16", 100 + i),
                        Some(&format!("10.{i}.0.254")),
                    ));
                }
                if onlink {
                    // Odd macvlans' on-link routes carry a metric of their own.
                    let mut r = route(&format!("10.{}.0.0/16", 200 + i), None);
                    r.metric = (i % 2 == 1).then_some(u32::from(i) * 10 + 5);
                    m.routes.push(r);
                }
                // A down link holds no routes (check rejects the pair).
                if !m.up {
                    m.routes.clear();
                }
                if mode == Mode::Source {
                    let mut s: Vec<MacAddr> = srcs
                        .iter()
                        .map(|k| MacAddr([0x02, 0xaa, 0, 0, i, *k]))
                        .collect();
                    s.sort();
                    s.dedup();
                    m.source_macs = s;
                }
                if driver & 1 != 0 {
                    m.kind = MacvlanKind::Macvtap;
                }
                if driver & 2 != 0 {
                    m.flags = MacvlanFlag::ALL
                        .into_iter()
                        .filter(|f| f.mode() == mode)
                        .collect();
                }
                if driver & 4 != 0 {
                    m.bcqueuelen = Some(100 * u32::from(i) + 50);
                }
                if driver & 8 != 0 {
                    // One cutoff per parent, or `check` refuses.
                    m.bc_cutoff = Some(parent_name.len() as i32 - 3);
                }
                macvlans.push(m);
            }
            // A namespace a macvlan lives in must be declared, which `chosen` guarantees.
            topology("lab", &chosen, parents, macvlans)
        })
}
