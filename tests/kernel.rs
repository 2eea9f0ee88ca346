//! The rtnetlink backend against the real kernel, checked with iproute2 (`ip -j -d`).
//!
//! Every test builds a private lab (namespaces `mvt<pid>-<n>-*`) and roots the backend in
//! its `host` namespace; the lab guard deletes all of it, even when the test panics. Not
//! root or no netns support: "SKIPPED: ..." and a failure, unless MVTOPO_ALLOW_SKIP=1.

mod common;

use std::net::IpAddr;

use common::Lab;
use mvtopo::backend::Backend;
use mvtopo::live::{LinkKind, LinkRef, LiveState};
use mvtopo::names::{Cidr, LinkName, MacAddr, Mode, NsName};
use mvtopo::plan::{Change, MacvlanLink, Object, Step};
use serde_json::Value;

const OWNER: &str = "labtest";

fn ns(s: &str) -> NsName {
    NsName::new(s).unwrap()
}
fn ln(s: &str) -> LinkName {
    LinkName::new(s).unwrap()
}
fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}
fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn macvlan(namespace: Option<&str>, name: &str, parent: &str, mode: Mode) -> MacvlanLink {
    MacvlanLink {
        namespace: namespace.map(ns),
        name: ln(name),
        parent: ln(parent),
        mode,
        mac: None,
        mtu: None,
        up: true,
        source_macs: vec![],
    }
}

fn create(b: &mut impl Backend, object: Object) {
    b.execute(&Step::Create { object }, OWNER)
        .unwrap_or_else(|e| panic!("create failed: {e}"));
}

fn info(l: &Value) -> &Value {
    &l["linkinfo"]["info_data"]
}

fn is_up(l: &Value) -> bool {
    l["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP")
}

fn find<'a>(live: &'a LiveState, namespace: Option<&str>, name: &str) -> &'a mvtopo::live::LiveLink {
    let n = namespace.map(ns);
    live.link(n.as_ref(), &ln(name))
        .unwrap_or_else(|| panic!("snapshot has no {namespace:?}/{name}"))
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
        assert!(ip["link_netnsid"].is_u64(), "{name}: parent not across namespaces");
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
        assert_eq!(got.mac.map(|m| m.to_string()).as_deref(), ip["address"].as_str());
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
    let sw = live.namespace(&ns(&lab.ns("sw"))).expect("switch namespace listed");
    assert_eq!(sw.owner, None);
    // The own namespace is never listed as a named one, even though it has a name.
    assert!(live.namespace(&ns(&lab.ns("host"))).is_none());
    assert!(live.links_in(Some(&ns(&lab.ns("host")))).next().is_none());
    // No loopback anywhere.
    assert!(live.links.iter().all(|l| l.name.as_str() != "lo"));
}
