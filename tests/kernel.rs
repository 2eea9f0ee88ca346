//! The rtnetlink backend against the real kernel, checked with iproute2 (`ip -j -d`).
//!
//! Every test builds a private lab (namespaces `mvt<pid>-<n>-*`) and roots the backend in
//! its `host` namespace; the lab guard deletes all of it, even when the test panics. Not
//! root or no netns support: "SKIPPED: ..." and a failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;

use common::Lab;
use mvtopo::apply::backend::Backend;
use mvtopo::live::{LinkKind, LinkRef, LiveState};
use mvtopo::names::{Mode, NsName};
use mvtopo::plan::{Change, Object, Step};
use mvtopo::testing::{cidr, ln, mac, macvlan_link as macvlan, ns};
use serde_json::Value;

const OWNER: &str = "labtest";

fn create(b: &mut impl Backend, object: Object) {
    b.execute(&Step::Create { object }, OWNER)
        .unwrap_or_else(|e| panic!("create failed: {e}"));
}

fn info(l: &Value) -> &Value {
    &l["linkinfo"]["info_data"]
}

fn is_up(l: &Value) -> bool {
    l["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

fn find<'a>(
    live: &'a LiveState,
    namespace: Option<&str>,
    name: &str,
) -> &'a mvtopo::live::LiveLink {
    let n = namespace.map(ns);
    live.link(n.as_ref(), &ln(name))
        .unwrap_or_else(|| panic!("snapshot has no {namespace:?}/{name}"))
}

/// The snapshot of every lab namespace equals what `ip -j -d link` / `ip -j addr` report,
/// link for link: names, kind, MTU, MAC, up, owner alias, mode, source list, VLAN id, bridge,
/// IPv4 and global IPv6 addresses, and the parent or peer (same namespace by name, across
/// namespaces by ifindex in the namespace the snapshot names).
fn assert_snapshot_matches_ip(lab: &Lab, live: &LiveState) {
    let mut shorts = vec!["host".to_owned()];
    for full in lab.all_namespaces() {
        let short = full[lab.prefix.len() + 1..].to_owned();
        if short != "host" {
            shorts.push(short);
        }
    }
    let ns_of = |short: &str| (short != "host").then(|| ns(&lab.ns(short)));
    let short_of = |n: &Option<NsName>| match n {
        None => "host".to_owned(),
        Some(n) => n.as_str()[lab.prefix.len() + 1..].to_owned(),
    };
    for short in &shorts {
        let namespace = ns_of(short);
        let ip_links: Vec<Value> = lab
            .links(short)
            .into_iter()
            .filter(|l| l["link_type"] != "loopback")
            .collect();
        let mut ip_names: Vec<&str> = ip_links
            .iter()
            .map(|l| l["ifname"].as_str().unwrap())
            .collect();
        ip_names.sort();
        let snap_names: Vec<&str> = live
            .links_in(namespace.as_ref())
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(snap_names, ip_names, "links of {short}");
        for ip in &ip_links {
            let name = ip["ifname"].as_str().unwrap();
            let got = live.link(namespace.as_ref(), &ln(name)).unwrap();
            let ctx = format!("{short}/{name}");
            let kind = ip["linkinfo"]["info_kind"].as_str().unwrap_or("device");
            assert_eq!(got.kind.as_str(), kind, "{ctx} kind");
            assert_eq!(Some(u64::from(got.mtu)), ip["mtu"].as_u64(), "{ctx} mtu");
            assert_eq!(
                got.mac.map(|m| m.to_string()).as_deref(),
                ip["address"].as_str(),
                "{ctx} mac"
            );
            assert_eq!(got.up, is_up(ip), "{ctx} up");
            let owner = ip["ifalias"]
                .as_str()
                .and_then(|a| a.strip_prefix("mvtopo:"));
            assert_eq!(got.owner.as_deref(), owner, "{ctx} owner");
            let macvlan = kind == "macvlan" || kind == "macvtap";
            assert_eq!(
                got.mode.map(|m| m.as_str()),
                info(ip)["mode"].as_str().filter(|_| macvlan),
                "{ctx} mode"
            );
            // iproute2 prints each flag as a key of its own, and bcqueuelen (what this
            // macvlan asked for) beside usedbcqueuelen (the parent's largest).
            let flags: Vec<&str> = ["nopromisc", "nodst"]
                .into_iter()
                .filter(|f| info(ip)[*f].as_bool() == Some(true))
                .collect();
            let got_flags: Vec<&str> = got.flags.iter().map(|f| f.as_str()).collect();
            assert_eq!(got_flags, flags, "{ctx} flags");
            assert_eq!(
                got.bcqueuelen.map(u64::from),
                info(ip)["bcqueuelen"].as_u64().filter(|_| macvlan),
                "{ctx} bcqueuelen"
            );
            let macs: Vec<String> = got.source_macs.iter().map(|m| m.to_string()).collect();
            assert_eq!(macs, ip_macs(ip), "{ctx} source macs");
            assert_eq!(
                got.vlan_id.map(u64::from),
                info(ip)["id"].as_u64().filter(|_| kind == "vlan"),
                "{ctx} vlan id"
            );
            assert_eq!(
                got.master.as_ref().map(|m| m.as_str()),
                ip["master"].as_str(),
                "{ctx} master"
            );
            let lower = if kind == "veth" {
                &got.peer
            } else {
                &got.parent
            };
            match (ip["link_index"].as_u64(), ip["link"].as_str()) {
                (_, Some(same_ns)) => {
                    let r = lower
                        .as_ref()
                        .unwrap_or_else(|| panic!("{ctx}: no parent/peer"));
                    assert_eq!(
                        (&r.namespace, r.name.as_str()),
                        (&namespace, same_ns),
                        "{ctx} lower"
                    );
                }
                (Some(index), None) => {
                    let r = lower
                        .as_ref()
                        .unwrap_or_else(|| panic!("{ctx}: no parent/peer"));
                    let there = lab.link(&short_of(&r.namespace), r.name.as_str());
                    assert_eq!(
                        there["ifindex"].as_u64(),
                        Some(index),
                        "{ctx} lower across namespaces"
                    );
                }
                (None, None) => assert!(lower.is_none(), "{ctx}: unexpected parent/peer"),
            }
            let mut addrs: Vec<String> = lab
                .addrs(short, name)
                .into_iter()
                .map(|(a, _)| a)
                .filter(|a| !a.starts_with("fe80:"))
                .collect();
            addrs.sort();
            let mut got_addrs: Vec<String> = got.addresses.iter().map(|c| c.to_string()).collect();
            got_addrs.sort();
            assert_eq!(got_addrs, addrs, "{ctx} addresses");
        }
    }
}

/// The five modes, each created by the backend straight into its own namespace, are what
/// `ip -j -d` sees, and the snapshot reports exactly that.
#[test]
fn five_modes_created_in_namespaces_match_ip() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    // passthru must be its parent's only macvlan: it gets a parent of its own.
    lab.switch_with_parent("up1", "sw1", false);
    let mut nl = lab.netlink();
    let cases = [
        ("a", "m-vepa", "up0", Mode::Vepa),
        ("b", "m-bridge", "up0", Mode::Bridge),
        ("c", "m-private", "up0", Mode::Private),
        ("d", "m-source", "up0", Mode::Source),
        ("e", "m-pass", "up1", Mode::Passthru),
    ];
    for (i, (short, name, parent, mode)) in cases.iter().enumerate() {
        let full = lab.add_ns(short);
        let mut m = macvlan(Some(&full), name, parent, *mode);
        m.mtu = Some(1400);
        if *mode != Mode::Passthru {
            m.mac = Some(mac(&format!("02:00:00:00:01:0{i}")));
        }
        if *mode == Mode::Source {
            m.source_macs = vec![mac("02:00:00:00:00:bb"), mac("02:00:00:00:00:aa")];
        }
        // One of them stays down, to see `up` both ways.
        m.up = *mode != Mode::Private;
        create(&mut nl, Object::Macvlan(m));
    }
    let host_index = |dev: &str| lab.link("host", dev)["ifindex"].as_u64().unwrap();

    let live = nl.snapshot().unwrap();
    for (i, (short, name, parent, mode)) in cases.iter().enumerate() {
        let full = lab.ns(short);
        let ip = lab.link(short, name);
        assert_eq!(ip["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(info(&ip)["mode"], mode.as_str(), "{name}");
        // The parent lives in the host namespace: IFLA_LINK + IFLA_LINK_NETNSID.
        assert!(
            ip["link_netnsid"].is_u64(),
            "{name}: parent not across namespaces"
        );
        assert_eq!(ip["link_index"].as_u64(), Some(host_index(parent)));
        assert_eq!(ip["mtu"], 1400);
        assert_eq!(ip["ifalias"], format!("mvtopo:{OWNER}"));
        assert_eq!(is_up(&ip), *mode != Mode::Private, "{name} up");
        if *mode == Mode::Passthru {
            // A passthru link takes its parent's MAC.
            assert_eq!(ip["address"], lab.link("host", parent)["address"]);
        } else {
            assert_eq!(ip["address"], format!("02:00:00:00:01:0{i}"));
        }

        let got = find(&live, Some(&full), name);
        assert_eq!(got.kind, LinkKind::Macvlan);
        assert_eq!(got.mode, Some(*mode));
        assert_eq!(
            got.parent,
            Some(LinkRef {
                namespace: None,
                name: ln(parent)
            })
        );
        assert_eq!(
            got.mac.map(|m| m.to_string()).as_deref(),
            ip["address"].as_str()
        );
        assert_eq!(got.mtu, 1400);
        assert_eq!(got.up, is_up(&ip));
        assert_eq!(got.owner.as_deref(), Some(OWNER));
        let ip_macs: Vec<String> = info(&ip)["macaddr_data"]
            .as_array()
            .map(|a| a.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let mut ip_macs_sorted = ip_macs.clone();
        ip_macs_sorted.sort();
        let got_macs: Vec<String> = got.source_macs.iter().map(|m| m.to_string()).collect();
        assert_eq!(got_macs, ip_macs_sorted, "{name} source list");
        if *mode == Mode::Source {
            assert_eq!(got_macs, ["02:00:00:00:00:aa", "02:00:00:00:00:bb"]);
        }
    }
    // The parents, in the own namespace: veths, peers resolved into the switch namespace;
    // foreign to mvtopo (no alias).
    let up0 = find(&live, None, "up0");
    assert_eq!(up0.kind, LinkKind::Veth);
    assert_eq!(
        up0.peer,
        Some(LinkRef {
            namespace: Some(ns(&lab.ns("sw"))),
            name: ln("sw0")
        })
    );
    assert_eq!(up0.owner, None);
    assert!(up0.up);
    // The lab's namespaces are listed, without owner (made by `ip netns add`).
    let sw = live
        .namespace(&ns(&lab.ns("sw")))
        .expect("switch namespace listed");
    assert_eq!(sw.owner, None);
    // The own namespace is never listed as a named one, even though it has a name.
    assert!(live.namespace(&ns(&lab.ns("host"))).is_none());
    assert!(live.links_in(Some(&ns(&lab.ns("host")))).next().is_none());
    // No loopback anywhere.
    assert!(live.links.iter().all(|l| l.name.as_str() != "lo"));
    assert_snapshot_matches_ip(&lab, &live);
}

fn update(b: &mut impl Backend, object: &Object, changes: Vec<Change>) {
    b.execute(
        &Step::Update {
            object: object.clone(),
            changes,
        },
        OWNER,
    )
    .unwrap_or_else(|e| panic!("update failed: {e}"));
}

fn ip_macs(l: &Value) -> Vec<String> {
    let mut v: Vec<String> = info(l)["macaddr_data"]
        .as_array()
        .map(|a| a.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Every kind of in-place change takes effect, as iproute2 sees it.
#[test]
fn every_update_change_takes_effect() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let a = lab.add_ns("a");
    let mut nl = lab.netlink();
    let mut m = macvlan(Some(&a), "m0", "up0", Mode::Bridge);
    m.mtu = Some(1400);
    m.mac = Some(mac("02:00:00:00:00:01"));
    create(&mut nl, Object::Macvlan(m.clone()));
    assert!(is_up(&lab.link("a", "m0")));

    m.mode = Mode::Vepa;
    m.up = false;
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![
            Change::Mtu {
                from: 1400,
                to: 1300,
            },
            Change::Mac {
                from: Some(mac("02:00:00:00:00:01")),
                to: mac("02:00:00:00:00:02"),
            },
            Change::Up {
                from: true,
                to: false,
            },
            Change::Mode {
                from: Mode::Bridge,
                to: Mode::Vepa,
            },
        ],
    );
    let l = lab.link("a", "m0");
    assert_eq!(l["mtu"], 1300);
    assert_eq!(l["address"], "02:00:00:00:00:02");
    assert!(!is_up(&l));
    assert_eq!(info(&l)["mode"], "vepa");

    // Into source mode with its list, in one step.
    m.mode = Mode::Source;
    m.source_macs = vec![mac("02:00:00:00:00:aa"), mac("02:00:00:00:00:bb")];
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![
            Change::Mode {
                from: Mode::Vepa,
                to: Mode::Source,
            },
            Change::SourceMacs {
                from: vec![],
                to: m.source_macs.clone(),
            },
        ],
    );
    let l = lab.link("a", "m0");
    assert_eq!(info(&l)["mode"], "source");
    assert_eq!(ip_macs(&l), ["02:00:00:00:00:aa", "02:00:00:00:00:bb"]);

    // The list is replaced as a whole.
    let before = m.source_macs.clone();
    m.source_macs = vec![mac("02:00:00:00:00:cc")];
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![Change::SourceMacs {
            from: before,
            to: m.source_macs.clone(),
        }],
    );
    assert_eq!(ip_macs(&lab.link("a", "m0")), ["02:00:00:00:00:cc"]);

    // ... and emptied.
    m.source_macs = vec![];
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![Change::SourceMacs {
            from: vec![mac("02:00:00:00:00:cc")],
            to: vec![],
        }],
    );
    assert_eq!(ip_macs(&lab.link("a", "m0")), Vec::<String>::new());

    // Out of source mode with a list: the kernel drops the list itself.
    m.source_macs = vec![mac("02:00:00:00:00:dd")];
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![Change::SourceMacs {
            from: vec![],
            to: m.source_macs.clone(),
        }],
    );
    m.mode = Mode::Private;
    m.up = true;
    update(
        &mut nl,
        &Object::Macvlan(m.clone()),
        vec![
            Change::Mode {
                from: Mode::Source,
                to: Mode::Private,
            },
            Change::SourceMacs {
                from: vec![mac("02:00:00:00:00:dd")],
                to: vec![],
            },
            Change::Up {
                from: false,
                to: true,
            },
        ],
    );
    let l = lab.link("a", "m0");
    assert_eq!(info(&l)["mode"], "private");
    assert_eq!(ip_macs(&l), Vec::<String>::new());
    assert!(is_up(&l));

    // The snapshot agrees.
    let live = nl.snapshot().unwrap();
    let got = find(&live, Some(&a), "m0");
    assert_eq!(got.mode, Some(Mode::Private));
    assert_eq!(got.mtu, 1300);
    assert_eq!(got.mac, Some(mac("02:00:00:00:00:02")));
    assert!(got.up);
    assert!(got.source_macs.is_empty());

    // An existing NIC: MTU and up state only.
    let nic = Object::Nic {
        namespace: None,
        name: ln("up0"),
        mtu: Some(1600),
        up: false,
    };
    update(
        &mut nl,
        &nic,
        vec![
            Change::Mtu {
                from: 1500,
                to: 1600,
            },
            Change::Up {
                from: true,
                to: false,
            },
        ],
    );
    let l = lab.link("host", "up0");
    assert_eq!(l["mtu"], 1600);
    assert!(!is_up(&l));
}

/// A lab veth made by the backend: peer created straight in its namespace, both ends up
/// and owned; an MTU change reaches both ends; delete removes both.
#[test]
fn veth_parent_lifecycle() {
    let Some(lab) = Lab::new() else { return };
    let sw = lab.add_ns("sw");
    let mut nl = lab.netlink();
    let veth = Object::Veth {
        namespace: None,
        name: ln("lab0"),
        peer: ln("lab0p"),
        peer_namespace: Some(ns(&sw)),
        mtu: Some(1450),
        mac: Some(mac("02:00:00:00:0a:01")),
        peer_mac: Some(mac("02:00:00:00:0a:02")),
    };
    create(&mut nl, veth.clone());
    let end = lab.link("host", "lab0");
    let peer = lab.link("sw", "lab0p");
    assert_eq!(end["linkinfo"]["info_kind"], "veth");
    assert_eq!(end["address"], "02:00:00:00:0a:01");
    assert_eq!(peer["address"], "02:00:00:00:0a:02");
    assert_eq!(end["mtu"], 1450);
    assert_eq!(peer["mtu"], 1450);
    assert!(is_up(&end) && is_up(&peer));
    assert_eq!(end["ifalias"], format!("mvtopo:{OWNER}"));
    assert_eq!(peer["ifalias"], format!("mvtopo:{OWNER}"));

    let live = nl.snapshot().unwrap();
    assert_snapshot_matches_ip(&lab, &live);
    let got = find(&live, None, "lab0");
    assert_eq!(got.kind, LinkKind::Veth);
    assert_eq!(
        got.peer,
        Some(LinkRef {
            namespace: Some(ns(&sw)),
            name: ln("lab0p")
        })
    );
    assert_eq!(got.owner.as_deref(), Some(OWNER));
    let got_peer = find(&live, Some(&sw), "lab0p");
    assert_eq!(
        got_peer.peer,
        Some(LinkRef {
            namespace: None,
            name: ln("lab0")
        })
    );

    update(
        &mut nl,
        &veth,
        vec![Change::Mtu {
            from: 1450,
            to: 1400,
        }],
    );
    assert_eq!(lab.link("host", "lab0")["mtu"], 1400);
    assert_eq!(lab.link("sw", "lab0p")["mtu"], 1400);

    nl.execute(&Step::Delete { object: veth }, OWNER).unwrap();
    assert!(!lab.has_link("host", "lab0"));
    assert!(!lab.has_link("sw", "lab0p"));
}

/// Delete removes a macvlan; replace swaps it for one the kernel cannot change in place.
#[test]
fn delete_and_replace() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    lab.switch_with_parent("up1", "sw1", false);
    let a = lab.add_ns("a");
    let b = lab.add_ns("b");
    let mut nl = lab.netlink();
    let from = macvlan(Some(&a), "m0", "up0", Mode::Bridge);
    create(&mut nl, Object::Macvlan(from.clone()));
    // Into passthru on another parent, in another namespace: only a replace can do that.
    let to = macvlan(Some(&b), "m0", "up1", Mode::Passthru);
    nl.execute(
        &Step::Replace {
            from: Object::Macvlan(from),
            to: Object::Macvlan(to.clone()),
            reason: "mode passthru".into(),
        },
        OWNER,
    )
    .unwrap();
    assert!(!lab.has_link("a", "m0"));
    let l = lab.link("b", "m0");
    assert_eq!(info(&l)["mode"], "passthru");
    assert_eq!(l["link_index"], lab.link("host", "up1")["ifindex"]);
    assert_eq!(l["ifalias"], format!("mvtopo:{OWNER}"));

    // A macvlan in the own namespace.
    let local = macvlan(None, "m1", "up0", Mode::Vepa);
    create(&mut nl, Object::Macvlan(local.clone()));
    assert_eq!(lab.link("host", "m1")["link"], "up0");
    let live = nl.snapshot().unwrap();
    assert_eq!(
        find(&live, None, "m1").parent,
        Some(LinkRef {
            namespace: None,
            name: ln("up0")
        })
    );

    for object in [Object::Macvlan(to), Object::Macvlan(local)] {
        nl.execute(&Step::Delete { object }, OWNER).unwrap();
    }
    assert!(!lab.has_link("b", "m0"));
    assert!(!lab.has_link("host", "m1"));
}

/// IPv4 and IPv6 addresses and routes (with a gateway, and straight onto the link) land
/// in the link's namespace; IPv6 addresses are usable at once (not tentative).
#[test]
fn addresses_and_routes() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let a = lab.add_ns("a");
    let mut nl = lab.netlink();
    create(
        &mut nl,
        Object::Macvlan(macvlan(Some(&a), "m0", "up0", Mode::Bridge)),
    );
    let addr = |s: &str| Object::Address {
        namespace: Some(ns(&a)),
        link: ln("m0"),
        address: cidr(s),
    };
    let route = |to: &str, via: Option<&str>, metric: Option<u32>| Object::Route {
        namespace: Some(ns(&a)),
        link: ln("m0"),
        to: cidr(to),
        via: via.map(|v| v.parse::<IpAddr>().unwrap()),
        metric,
    };
    for o in [addr("10.9.0.2/24"), addr("fd00::2/64")] {
        create(&mut nl, o);
    }
    // Two routes to 10.3.0.0/16 that differ only in metric are two routes, as are two to
    // fd02::/64 (one with the kernel's default IPv6 metric, 1024).
    let routes = [
        route("0.0.0.0/0", Some("10.9.0.1"), None),
        route("10.1.0.0/16", Some("10.9.0.254"), None),
        route("10.2.0.0/16", None, None),
        route("10.3.0.0/16", Some("10.9.0.1"), Some(100)),
        route("10.3.0.0/16", None, Some(200)),
        route("fd01::/64", Some("fd00::1"), None),
        route("fd02::/64", None, None),
        route("fd02::/64", Some("fd00::1"), Some(10)),
    ];
    for r in routes.clone() {
        create(&mut nl, r);
    }

    let addrs = lab.addrs("a", "m0");
    let v4 = addrs
        .iter()
        .find(|(a, _)| a == "10.9.0.2/24")
        .expect("10.9.0.2/24");
    assert!(v4.1["tentative"].is_null());
    let v6 = addrs
        .iter()
        .find(|(a, _)| a == "fd00::2/64")
        .expect("fd00::2/64");
    assert!(
        v6.1["tentative"].is_null(),
        "IPv6 address is tentative: {}",
        v6.1
    );

    let r4 = lab.routes("a", "-4");
    let has = |rs: &[Value], dst: &str, gw: Option<&str>| {
        rs.iter()
            .any(|r| r["dst"] == dst && r["dev"] == "m0" && r["gateway"].as_str() == gw)
    };
    assert!(has(&r4, "default", Some("10.9.0.1")), "{r4:?}");
    assert!(has(&r4, "10.1.0.0/16", Some("10.9.0.254")));
    assert!(has(&r4, "10.2.0.0/16", None));
    let on_link = r4.iter().find(|r| r["dst"] == "10.2.0.0/16").unwrap();
    assert_eq!(on_link["scope"], "link");
    assert!(has(&lab.routes("a", "-6"), "fd01::/64", Some("fd00::1")));
    let metric = |rs: &[Value], dst: &str, gw: Option<&str>| -> Vec<u64> {
        rs.iter()
            .filter(|r| r["dst"] == dst && r["dev"] == "m0" && r["gateway"].as_str() == gw)
            .map(|r| r["metric"].as_u64().unwrap_or(0))
            .collect()
    };
    assert_eq!(metric(&r4, "10.3.0.0/16", Some("10.9.0.1")), [100]);
    assert_eq!(metric(&r4, "10.3.0.0/16", None), [200]);
    assert_eq!(metric(&r4, "10.2.0.0/16", None), [0]);
    let r6 = lab.routes("a", "-6");
    assert_eq!(metric(&r6, "fd02::/64", None), [1024]);
    assert_eq!(metric(&r6, "fd02::/64", Some("fd00::1")), [10]);

    let live = nl.snapshot().unwrap();
    assert_snapshot_matches_ip(&lab, &live);
    let got = find(&live, Some(&a), "m0");
    let got_addrs: Vec<String> = got.addresses.iter().map(|c| c.to_string()).collect();
    assert_eq!(got_addrs, ["10.9.0.2/24", "fd00::2/64"]);
    let got_routes: Vec<String> = got
        .routes
        .iter()
        .map(|r| format!("{} {:?} {:?}", r.to, r.via.map(|v| v.to_string()), r.metric))
        .collect();
    assert_eq!(
        got_routes,
        [
            "0.0.0.0/0 Some(\"10.9.0.1\") None",
            "10.1.0.0/16 Some(\"10.9.0.254\") None",
            "10.2.0.0/16 None None",
            "10.3.0.0/16 None Some(200)",
            "10.3.0.0/16 Some(\"10.9.0.1\") Some(100)",
            "fd01::/64 Some(\"fd00::1\") None",
            "fd02::/64 None None",
            "fd02::/64 Some(\"fd00::1\") Some(10)",
        ]
    );

    // Delete what was made.
    for o in routes {
        nl.execute(&Step::Delete { object: o }, OWNER).unwrap();
    }
    nl.execute(
        &Step::Delete {
            object: addr("fd00::2/64"),
        },
        OWNER,
    )
    .unwrap();
    assert!(!has(&lab.routes("a", "-4"), "default", Some("10.9.0.1")));
    assert!(!has(&lab.routes("a", "-4"), "10.2.0.0/16", None));
    assert!(!has(&lab.routes("a", "-6"), "fd01::/64", Some("fd00::1")));
    assert!(metric(&lab.routes("a", "-4"), "10.3.0.0/16", None).is_empty());
    assert!(metric(&lab.routes("a", "-6"), "fd02::/64", None).is_empty());
    let addrs: Vec<String> = lab.addrs("a", "m0").into_iter().map(|(a, _)| a).collect();
    assert!(addrs.contains(&"10.9.0.2/24".to_owned()));
    assert!(!addrs.contains(&"fd00::2/64".to_owned()));
    let live = nl.snapshot().unwrap();
    let got = find(&live, Some(&a), "m0");
    assert_eq!(got.addresses, vec![cidr("10.9.0.2/24")]);
    assert!(got.routes.is_empty());
}

/// Kernel refusals come back with their errno, and a failed create leaves nothing behind.
#[test]
fn errors_carry_the_errno() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let a = lab.add_ns("a");
    let mut nl = lab.netlink();

    let mut big = macvlan(Some(&a), "m0", "up0", Mode::Bridge);
    big.mtu = Some(9000);
    let e = nl
        .execute(
            &Step::Create {
                object: Object::Macvlan(big),
            },
            OWNER,
        )
        .unwrap_err();
    assert_eq!(e.errno, Some(libc::EINVAL), "{e}");
    assert_eq!(e.op, "create macvlan");
    assert_eq!(e.object, format!("{a}/m0"));
    assert!(!lab.has_link("a", "m0"));

    let m = Object::Macvlan(macvlan(Some(&a), "m0", "up0", Mode::Bridge));
    create(&mut nl, m.clone());
    let e = nl.execute(&Step::Create { object: m }, OWNER).unwrap_err();
    assert_eq!(e.errno, Some(libc::EEXIST), "{e}");
    assert_eq!(e.message, "file exists");
    assert!(e.hint().is_some());

    let e = nl
        .execute(
            &Step::Create {
                object: Object::Macvlan(macvlan(Some(&a), "m1", "nosuch0", Mode::Bridge)),
            },
            OWNER,
        )
        .unwrap_err();
    assert_eq!(e.errno, Some(libc::ENODEV), "{e}");

    let e = nl
        .execute(
            &Step::Delete {
                object: Object::Macvlan(macvlan(Some(&a), "gone0", "up0", Mode::Bridge)),
            },
            OWNER,
        )
        .unwrap_err();
    assert_eq!(e.errno, Some(libc::ENODEV), "{e}");

    let e = nl
        .execute(
            &Step::Create {
                object: Object::Macvlan(macvlan(Some("mvt-no-such-ns"), "m2", "up0", Mode::Bridge)),
            },
            OWNER,
        )
        .unwrap_err();
    assert_eq!(e.errno, Some(libc::ENOENT), "{e}");
}

/// Namespaces made and removed by the backend: visible to `ip netns`, usable, marked with
/// their owner; a marker never outlives its namespace's identity.
#[test]
fn namespace_create_and_delete() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let x = lab.ns("x");
    let mut nl = lab.netlink();
    let nso = Object::Namespace { name: ns(&x) };
    create(&mut nl, nso.clone());
    assert!(std::path::Path::new(&format!("/run/netns/{x}")).exists());
    common::run("ip", &["netns", "exec", &x, "ip", "link", "show", "lo"]);
    let marker = std::fs::read_to_string(format!("/run/mvtopo/netns/{x}")).unwrap();
    assert_eq!(marker.lines().next(), Some(OWNER));
    // A different namespace from the host's.
    assert!(!lab.has_link("x", "up0"));

    let e = nl
        .execute(
            &Step::Create {
                object: nso.clone(),
            },
            OWNER,
        )
        .unwrap_err();
    assert_eq!(e.errno, Some(libc::EEXIST));

    create(
        &mut nl,
        Object::Macvlan(macvlan(Some(&x), "m0", "up0", Mode::Bridge)),
    );
    assert!(lab.has_link("x", "m0"));
    let live = nl.snapshot().unwrap();
    assert_eq!(
        live.namespace(&ns(&x)).unwrap().owner.as_deref(),
        Some(OWNER)
    );

    nl.execute(
        &Step::Delete {
            object: nso.clone(),
        },
        OWNER,
    )
    .unwrap();
    assert!(!std::path::Path::new(&format!("/run/netns/{x}")).exists());
    assert!(!std::path::Path::new(&format!("/run/mvtopo/netns/{x}")).exists());
    let live = nl.snapshot().unwrap();
    assert!(live.namespace(&ns(&x)).is_none());

    // Created again under the same name: a new namespace, and the backend follows it.
    create(&mut nl, nso.clone());
    create(
        &mut nl,
        Object::Macvlan(macvlan(Some(&x), "m0", "up0", Mode::Bridge)),
    );
    assert!(lab.has_link("x", "m0"));

    // Deleted behind the backend's back and made again by someone else: not ours.
    common::run("ip", &["netns", "del", &x]);
    common::run("ip", &["netns", "add", &x]);
    let live = nl.snapshot().unwrap();
    assert_eq!(live.namespace(&ns(&x)).unwrap().owner, None);
}

/// `Netlink::new()` is rooted in the calling thread's namespace.
#[test]
fn new_is_rooted_where_it_runs() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let host = lab.host_path();
    let live = std::thread::spawn(move || {
        let f = std::fs::File::open(host).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut nl = mvtopo::kernel::Netlink::new().unwrap();
        nl.snapshot().unwrap()
    })
    .join()
    .unwrap();
    assert!(live.link(None, &ln("up0")).is_some());
}

// ---------------------------------------------------------------------------------------
// Connectivity per mode (spec/MODES.md), wired like shared/lab/mode-matrix.sh but with the
// macvlans, their addresses and their namespaces' contents created by the backend.

/// Ping until it works (a few tries, for ARP and bridge learning) or until every try
/// failed; returns whether any got through.
fn reaches(lab: &Lab, from: &str, to: &str) -> bool {
    (0..3).any(|_| lab.ping(from, to))
}

/// The row of the matrix for `mode` with hairpin on or off:
/// (a → b when there is a b, a → ext, ext → a, ext2 → a).
fn matrix(mode: Mode, hairpin: bool) -> Option<(Option<bool>, bool, bool, bool)> {
    let lab = Lab::new()?;
    lab.switch_with_parent("up0", "sw0", hairpin);
    lab.ext_host("ext", "sw1", "02:00:00:00:00:aa", "10.9.0.100/24");
    lab.ext_host("ext2", "sw2", "02:00:00:00:00:bb", "10.9.0.101/24");
    let a = lab.add_ns("a");
    let b = lab.add_ns("b");
    let mut nl = lab.netlink();
    let mut ma = macvlan(Some(&a), "mA", "up0", mode);
    if mode == Mode::Source {
        ma.source_macs = vec![mac("02:00:00:00:00:aa")];
    }
    create(&mut nl, Object::Macvlan(ma));
    create(
        &mut nl,
        Object::Address {
            namespace: Some(ns(&a)),
            link: ln("mA"),
            address: cidr("10.9.0.1/24"),
        },
    );
    // passthru owns its parent alone; source mode is shown with a single macvlan.
    let with_b = mode != Mode::Passthru && mode != Mode::Source;
    if with_b {
        create(
            &mut nl,
            Object::Macvlan(macvlan(Some(&b), "mB", "up0", mode)),
        );
        create(
            &mut nl,
            Object::Address {
                namespace: Some(ns(&b)),
                link: ln("mB"),
                address: cidr("10.9.0.2/24"),
            },
        );
    }
    let a_b = with_b.then(|| reaches(&lab, "a", "10.9.0.2"));
    Some((
        a_b,
        reaches(&lab, "a", "10.9.0.100"),
        reaches(&lab, "ext", "10.9.0.1"),
        reaches(&lab, "ext2", "10.9.0.1"),
    ))
}

macro_rules! connectivity {
    ($name:ident, $mode:expr, $hairpin:expr, $expected:expr) => {
        #[test]
        fn $name() {
            if let Some(got) = matrix($mode, $hairpin) {
                assert_eq!(
                    got, $expected,
                    "(a->b, a->ext, ext->a, ext2->a) for {} hairpin {}",
                    $mode, $hairpin
                );
            }
        }
    };
}

connectivity!(
    connectivity_bridge_hairpin_off,
    Mode::Bridge,
    false,
    (Some(true), true, true, true)
);
connectivity!(
    connectivity_bridge_hairpin_on,
    Mode::Bridge,
    true,
    (Some(true), true, true, true)
);
connectivity!(
    connectivity_vepa_hairpin_off,
    Mode::Vepa,
    false,
    (Some(false), true, true, true)
);
connectivity!(
    connectivity_vepa_hairpin_on,
    Mode::Vepa,
    true,
    (Some(true), true, true, true)
);
connectivity!(
    connectivity_private_hairpin_off,
    Mode::Private,
    false,
    (Some(false), true, true, true)
);
connectivity!(
    connectivity_private_hairpin_on,
    Mode::Private,
    true,
    (Some(false), true, true, true)
);
connectivity!(
    connectivity_passthru,
    Mode::Passthru,
    false,
    (None, true, true, true)
);
connectivity!(
    connectivity_source,
    Mode::Source,
    false,
    (None, true, true, false)
);

/// Dummy and 802.1Q parents. This host kernel has neither (EOPNOTSUPP, ENVIRONMENT.md):
/// then the error must say so with its errno; where they exist (the VM tier) they must be
/// created, owned and up.
#[test]
fn dummy_and_vlan_parents() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let mut nl = lab.netlink();
    let dummy = Object::Dummy {
        namespace: None,
        name: ln("dum0"),
        mtu: Some(1400),
        mac: Some(mac("02:00:00:00:0d:01")),
    };
    match nl.execute(
        &Step::Create {
            object: dummy.clone(),
        },
        OWNER,
    ) {
        Err(e) => {
            assert_eq!(e.errno, Some(libc::EOPNOTSUPP), "{e}");
            assert!(!lab.has_link("host", "dum0"));
        }
        Ok(()) => {
            let l = lab.link("host", "dum0");
            assert_eq!(l["linkinfo"]["info_kind"], "dummy");
            assert_eq!(l["mtu"], 1400);
            assert_eq!(l["address"], "02:00:00:00:0d:01");
            assert_eq!(l["ifalias"], format!("mvtopo:{OWNER}"));
            assert!(is_up(&l));
            nl.execute(&Step::Delete { object: dummy }, OWNER).unwrap();
            assert!(!lab.has_link("host", "dum0"));
        }
    }
    let vlan = Object::Vlan {
        namespace: None,
        name: ln("up0.10"),
        link: ln("up0"),
        vlan_id: 10,
        mtu: None,
        mac: None,
    };
    match nl.execute(
        &Step::Create {
            object: vlan.clone(),
        },
        OWNER,
    ) {
        Err(e) => {
            assert_eq!(e.errno, Some(libc::EOPNOTSUPP), "{e}");
            assert!(!lab.has_link("host", "up0.10"));
        }
        Ok(()) => {
            let l = lab.link("host", "up0.10");
            assert_eq!(l["linkinfo"]["info_kind"], "vlan");
            assert_eq!(info(&l)["id"], 10);
            assert_eq!(l["ifalias"], format!("mvtopo:{OWNER}"));
            let live = nl.snapshot().unwrap();
            let got = find(&live, None, "up0.10");
            assert_eq!(got.kind, LinkKind::Vlan);
            assert_eq!(got.vlan_id, Some(10));
            assert_eq!(
                got.parent,
                Some(LinkRef {
                    namespace: None,
                    name: ln("up0")
                })
            );
            nl.execute(&Step::Delete { object: vlan }, OWNER).unwrap();
            assert!(!lab.has_link("host", "up0.10"));
        }
    }
}

/// One step through `apply::run` (no verification): the step's error, after the undo.
fn run_one(
    nl: &mut mvtopo::kernel::Netlink,
    step: Step,
    owner: &str,
) -> mvtopo::apply::backend::BackendError {
    let plan = mvtopo::plan::Plan {
        topology: owner.into(),
        in_sync: false,
        steps: vec![step],
        notes: vec![],
    };
    match mvtopo::apply::run(
        nl,
        &plan,
        &LiveState::default(),
        &|_| Ok(vec![]),
        Default::default(),
    ) {
        Err(mvtopo::apply::ApplyError::Step { error, undo, .. }) => {
            assert!(undo.complete(), "undo failed: {:?}", undo.failed);
            *error
        }
        other => panic!("expected a refused step, got {other:?}"),
    }
}

/// When marking a new link as owned fails (here: an alias over the kernel's 255 bytes), the
/// create is undone: the link is deleted again, so no unowned leftover stays behind.
#[test]
fn failed_claim_deletes_the_new_link() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let a = lab.add_ns("a");
    let mut nl = lab.netlink();
    let long_owner = "o".repeat(300);
    let e = run_one(
        &mut nl,
        Step::Create {
            object: Object::Macvlan(macvlan(Some(&a), "m0", "up0", Mode::Bridge)),
        },
        &long_owner,
    );
    assert_eq!(e.op, "set owner");
    assert!(e.errno.is_some(), "{e}");
    assert!(!lab.has_link("a", "m0"));
    let sw = lab.ns("sw");
    let veth = Object::Veth {
        namespace: None,
        name: ln("lab0"),
        peer: ln("lab0p"),
        peer_namespace: Some(ns(&sw)),
        mtu: None,
        mac: None,
        peer_mac: None,
    };
    let e = run_one(&mut nl, Step::Create { object: veth }, &long_owner);
    assert_eq!(e.op, "set owner");
    assert!(!lab.has_link("host", "lab0"));
    assert!(!lab.has_link("sw", "lab0p"));
}

/// Through `apply::run` with a hand-made plan: a step the kernel refuses makes the
/// executor undo, with this backend, everything done before it (links, addresses, the
/// namespace), leaving the lab as it was.
#[test]
fn apply_undoes_on_kernel_refusal() {
    let Some(lab) = Lab::new() else { return };
    lab.switch_with_parent("up0", "sw0", false);
    let x = lab.ns("x");
    let mut nl = lab.netlink();
    let before = nl.snapshot().unwrap();
    let mut too_big = macvlan(Some(&x), "m1", "up0", Mode::Bridge);
    too_big.mtu = Some(9000);
    let steps = vec![
        Step::Create {
            object: Object::Namespace { name: ns(&x) },
        },
        Step::Create {
            object: Object::Macvlan(macvlan(Some(&x), "m0", "up0", Mode::Bridge)),
        },
        Step::Create {
            object: Object::Address {
                namespace: Some(ns(&x)),
                link: ln("m0"),
                address: cidr("10.9.0.2/24"),
            },
        },
        Step::Create {
            object: Object::Macvlan(too_big),
        },
    ];
    let plan = mvtopo::plan::Plan {
        topology: OWNER.into(),
        in_sync: false,
        steps,
        notes: vec![],
    };
    let err = mvtopo::apply::run(&mut nl, &plan, &before, &|_| Ok(vec![]), Default::default())
        .unwrap_err();
    match &err {
        mvtopo::apply::ApplyError::Step {
            index, error, undo, ..
        } => {
            assert_eq!(*index, 4);
            assert_eq!(error.errno, Some(libc::EINVAL));
            assert!(undo.complete(), "undo failed: {:?}", undo.failed);
            // The macvlan's delete takes its claim and address along; then the namespace.
            assert_eq!(undo.undone.len(), 2, "{:?}", undo.undone);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(!lab.has_ns("x"));
    assert_eq!(
        nl.snapshot().unwrap().links_in(None).count(),
        before.links_in(None).count()
    );
}

// ---------------------------------------------------------------------------------------
// Through the whole pipeline: load → diff → apply::run with this backend → verify.

fn topology(text: &str) -> mvtopo::model::Topology {
    mvtopo::check::load_str("lab.toml", text, "lab").unwrap_or_else(|e| panic!("{e:?}"))
}

/// Apply `t` through the executor with this backend; the verify step re-diffs the fresh
/// snapshot, so success means the kernel now holds exactly what the file says.
fn apply(nl: &mut mvtopo::kernel::Netlink, t: &mvtopo::model::Topology) -> usize {
    let live = nl.snapshot().unwrap();
    let plan = mvtopo::diff::diff(t, &live).unwrap_or_else(|e| panic!("{e:?}"));
    let check = |after: &LiveState| {
        Ok(mvtopo::diff::diff(t, after)
            .map(|p| p.steps)
            .unwrap_or_else(|e| panic!("{e:?}")))
    };
    match mvtopo::apply::run(nl, &plan, &live, &check, Default::default()) {
        Ok(o) => o.executed,
        Err(e) => panic!("apply failed: {e}\nplan: {plan:#?}\nerror: {e:?}"),
    }
}

/// A topology with namespaces, a lab veth parent, all of bridge/source macvlans, addresses
/// and routes: applied, idempotent (the second apply does nothing), usable (siblings
/// ping), changed in place, and destroyed, as `ip -j` sees it.
#[test]
fn pipeline_apply_change_destroy() {
    let Some(lab) = Lab::new() else { return };
    let (red, blue) = (lab.ns("red"), lab.ns("blue"));
    let owner = lab.prefix.clone();
    let file = |mode_blue: &str, mtu: u32, with_src: bool| {
        let mut t = format!(
            r#"
# The lab's own prefix: tests of other processes never share an owner with this one.
name = "{owner}"
[namespace."{red}"]
[namespace."{blue}"]
[parent.lab0]
create = "veth"

[[macvlan]]
name = "eth0"
parent = "lab0"
namespace = "{red}"
mode = "bridge"
mac = "02:00:00:00:e2:01"
mtu = {mtu}
addresses = ["10.9.0.2/24", "fd00::2/64"]
routes = [{{ to = "default", via = "10.9.0.1" }}, {{ to = "fd01::/64", via = "fd00::1" }}]

[[macvlan]]
name = "eth0"
parent = "lab0"
namespace = "{blue}"
mode = "{mode_blue}"
addresses = ["10.9.0.3/24"]
"#
        );
        if with_src {
            t.push_str(&format!(
                r#"
[[macvlan]]
name = "src0"
parent = "lab0"
namespace = "{blue}"
mode = "source"
source-macs = ["02:00:00:00:00:aa", "02:00:00:00:00:bb"]
"#
            ));
        }
        topology(&t)
    };
    let mut nl = lab.netlink();

    let t1 = file("bridge", 1400, true);
    assert!(apply(&mut nl, &t1) > 0);
    let l = lab.link("red", "eth0");
    assert_eq!(info(&l)["mode"], "bridge");
    assert_eq!(l["mtu"], 1400);
    assert_eq!(l["address"], "02:00:00:00:e2:01");
    assert_eq!(l["ifalias"], format!("mvtopo:{owner}"));
    assert!(is_up(&l));
    assert_eq!(
        ip_macs(&lab.link("blue", "src0")),
        ["02:00:00:00:00:aa", "02:00:00:00:00:bb"]
    );
    assert!(lab.has_link("host", "lab0") && lab.has_link("host", "lab0p"));
    let marker = std::fs::read_to_string(format!("/run/mvtopo/netns/{red}")).unwrap();
    assert_eq!(marker.lines().next(), Some(owner.as_str()));
    assert!(
        lab.routes("red", "-4")
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.9.0.1")
    );
    // Bridge-mode siblings switch inside the kernel: red reaches blue at once.
    assert!(reaches(&lab, "red", "10.9.0.3"));
    assert_snapshot_matches_ip(&lab, &nl.snapshot().unwrap());

    // Idempotent: nothing left to do.
    assert_eq!(apply(&mut nl, &t1), 0);

    // In place: blue's mode, red's MTU; src0 removed from the file is deleted.
    let red_index = lab.link("red", "eth0")["ifindex"].clone();
    let t2 = file("vepa", 1300, false);
    assert!(apply(&mut nl, &t2) > 0);
    assert_eq!(info(&lab.link("blue", "eth0"))["mode"], "vepa");
    let l = lab.link("red", "eth0");
    assert_eq!(l["mtu"], 1300);
    assert_eq!(
        l["ifindex"], red_index,
        "red/eth0 was recreated, not changed in place"
    );
    assert!(!lab.has_link("blue", "src0"));
    assert_eq!(apply(&mut nl, &t2), 0);

    // Destroy: everything the topology owns goes, namespaces included.
    let live = nl.snapshot().unwrap();
    let plan = mvtopo::diff::destroy(&owner, &live).unwrap();
    mvtopo::apply::run(&mut nl, &plan, &live, &|_| Ok(vec![]), Default::default()).unwrap();
    assert!(!lab.has_ns("red") && !lab.has_ns("blue"));
    assert!(!lab.has_link("host", "lab0"));
    assert!(!std::path::Path::new(&format!("/run/mvtopo/netns/{red}")).exists());
}

// ---------------------------------------------------------------------------------------
// The macvlan driver's other keys: kind = "macvtap", flags, bcqueuelen, bc-cutoff.

/// The tap character device of macvtap `name` in lab namespace `short`: its sysfs entry
/// (`/sys/class/net/NAME/macvtap/tapN`, read inside the namespace) and `/dev/tapN`, a
/// character device with the number sysfs gives. `None` when the link has no tap device.
fn tap_device(lab: &Lab, short: &str, name: &str) -> Option<String> {
    let ns = lab.ns(short);
    // `ip netns exec` mounts the namespace's own /sys.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sh", "-c"])
        .arg(format!(
            "ls /sys/class/net/{name}/macvtap/ && cat /sys/class/net/{name}/macvtap/*/dev"
        ))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let (tap, dev) = (lines.next()?.to_owned(), lines.next()?.to_owned());
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(format!("/dev/{tap}")).ok()?;
    assert!(meta.file_type().is_char_device(), "/dev/{tap}");
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    assert_eq!(dev, format!("{major}:{minor}"), "/dev/{tap} is {name}'s");
    Some(tap)
}

fn ifindex(lab: &Lab, short: &str, name: &str) -> Value {
    lab.link(short, name)["ifindex"].clone()
}

/// Each new key applied in lab namespaces and checked with `ip -j -d` (and sysfs, /dev);
/// re-planned in sync; changed in place (same ifindex) where the kernel allows it, a kind
/// change replaced; destroyed, the tap devices with it.
#[test]
fn macvtap_flags_and_broadcast_queue_through_the_pipeline() {
    let Some(lab) = Lab::new() else { return };
    let vm = lab.ns("vm");
    let owner = lab.prefix.clone();
    let file = |tap: &str, tap_tail: &str, pt_flags: &str, src_flags: &str| {
        topology(&format!(
            r#"
name = "{owner}"
[namespace."{vm}"]
[parent.lab0]
create = "veth"
[parent.lab1]
create = "veth"
[parent.lab2]
create = "veth"

[[macvlan]]
name = "tap0"
parent = "lab0"
namespace = "{vm}"
kind = "{tap}"
mac = "02:00:00:00:e3:01"
{tap_tail}

[[macvlan]]
name = "mv0"
parent = "lab0"
namespace = "{vm}"
mode = "bridge"

[[macvlan]]
name = "pt0"
parent = "lab1"
namespace = "{vm}"
kind = "macvtap"
mode = "passthru"
flags = [{pt_flags}]

[[macvlan]]
name = "src0"
parent = "lab2"
namespace = "{vm}"
mode = "source"
flags = [{src_flags}]
source-macs = ["02:00:00:00:00:aa"]
"#
        ))
    };
    let promiscuity = |parent: &str| lab.link("host", parent)["promiscuity"].as_u64();
    let mut nl = lab.netlink();

    let t1 = file(
        "macvtap",
        "mode = \"bridge\"\nbcqueuelen = 2000\nbc-cutoff = 3",
        "\"nopromisc\"",
        "\"nodst\"",
    );
    assert!(apply(&mut nl, &t1) > 0);
    let tap0 = lab.link("vm", "tap0");
    assert_eq!(tap0["linkinfo"]["info_kind"], "macvtap");
    assert_eq!(info(&tap0)["mode"], "bridge");
    assert_eq!(info(&tap0)["bcqueuelen"], 2000);
    // The parent uses the largest any macvlan on it asks for; mv0 asks for the default.
    assert_eq!(info(&tap0)["usedbcqueuelen"], 2000);
    assert_eq!(info(&lab.link("vm", "mv0"))["bcqueuelen"], 1000);
    let pt0 = lab.link("vm", "pt0");
    assert_eq!(pt0["linkinfo"]["info_kind"], "macvtap");
    assert_eq!(info(&pt0)["mode"], "passthru");
    assert_eq!(info(&pt0)["nopromisc"], true);
    assert!(is_up(&pt0));
    assert_eq!(
        promiscuity("lab1"),
        Some(0),
        "nopromisc: the parent is left alone"
    );
    assert_eq!(info(&lab.link("vm", "src0"))["nodst"], true);
    // iproute2 6.1 does not print the cutoff: the snapshot has it, on both macvlans of the
    // parent (it is the parent's).
    let live = nl.snapshot().unwrap();
    assert_eq!(find(&live, Some(&vm), "tap0").bc_cutoff, Some(3));
    assert_eq!(find(&live, Some(&vm), "mv0").bc_cutoff, Some(3));
    assert_snapshot_matches_ip(&lab, &live);
    let tap_dev = tap_device(&lab, "vm", "tap0").expect("tap0's tap device");
    let pt_dev = tap_device(&lab, "vm", "pt0").expect("pt0's tap device");
    assert!(
        tap_device(&lab, "vm", "mv0").is_none(),
        "a macvlan has none"
    );
    assert_eq!(apply(&mut nl, &t1), 0, "in sync after the first apply");

    // In place: the macvtap's mode, queue and the parent's cutoff; nopromisc cleared on the
    // up passthru (the parent becomes promiscuous), nodst cleared.
    let before: Vec<Value> = ["tap0", "pt0", "src0"]
        .iter()
        .map(|n| ifindex(&lab, "vm", n))
        .collect();
    let t2 = file(
        "macvtap",
        "mode = \"vepa\"\nbcqueuelen = 500\nbc-cutoff = -1",
        "",
        "",
    );
    assert!(apply(&mut nl, &t2) > 0);
    let after: Vec<Value> = ["tap0", "pt0", "src0"]
        .iter()
        .map(|n| ifindex(&lab, "vm", n))
        .collect();
    assert_eq!(after, before, "changed in place, not made again");
    let tap0 = lab.link("vm", "tap0");
    assert_eq!(info(&tap0)["mode"], "vepa");
    assert_eq!(info(&tap0)["bcqueuelen"], 500);
    assert_eq!(info(&lab.link("vm", "pt0"))["nopromisc"], Value::Null);
    assert_eq!(promiscuity("lab1"), Some(1));
    assert_eq!(info(&lab.link("vm", "src0"))["nodst"], Value::Null);
    let live = nl.snapshot().unwrap();
    assert_eq!(find(&live, Some(&vm), "mv0").bc_cutoff, Some(-1));
    assert_snapshot_matches_ip(&lab, &live);
    assert_eq!(apply(&mut nl, &t2), 0);

    // A kind change is a replace: tap0 becomes a plain macvlan and its tap device goes.
    let t3 = file("macvlan", "mode = \"vepa\"", "", "");
    assert!(apply(&mut nl, &t3) > 0);
    let tap0 = lab.link("vm", "tap0");
    assert_eq!(tap0["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(tap0["address"], "02:00:00:00:e3:01");
    assert!(tap_device(&lab, "vm", "tap0").is_none());
    assert!(!std::path::Path::new(&format!("/dev/{tap_dev}")).exists());
    assert_eq!(apply(&mut nl, &t3), 0);

    // Destroy: everything goes, pt0's tap device too.
    let live = nl.snapshot().unwrap();
    let plan = mvtopo::diff::destroy(&owner, &live).unwrap();
    mvtopo::apply::run(&mut nl, &plan, &live, &|_| Ok(vec![]), Default::default()).unwrap();
    assert!(!lab.has_ns("vm"));
    assert!(!lab.has_link("host", "lab0") && !lab.has_link("host", "lab1"));
    assert!(!std::path::Path::new(&format!("/dev/{pt_dev}")).exists());
}
