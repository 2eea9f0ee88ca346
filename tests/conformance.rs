//! One table of kernel scenarios run against both the fake kernel (`fake::FakeBackend`) and
//! the real one (rtnetlink, in lab namespaces): each is a few setup requests and one request
//! under test, and both kernels must give the same outcome (success, or the same errno) and
//! end in the same state (their snapshots, compared field by field). This is what keeps the
//! fake as strict as the kernel, so that the rollback tests run on it prove something.
//!
//! Every MAC is given explicitly, so nothing the kernel picks at random takes part. Root
//! only: "SKIPPED: ..." and a failure otherwise, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Lab;
use mvtopo::apply::backend::Backend;
use mvtopo::apply::{MacvlanAttr, NewKind, NewLink, Request};
use mvtopo::fake::FakeBackend;
use mvtopo::live::{LinkRef, LiveState};
use mvtopo::model::Route;
use mvtopo::names::{LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};
use mvtopo::testing::{cidr, ln};

/// Names in a scenario, made concrete for one lab: namespaces get the lab's prefix.
struct Names<'a>(&'a Lab);

impl Names<'_> {
    fn ns(&self, short: &str) -> NsName {
        NsName::new(&self.0.ns(short)).unwrap()
    }
    /// `"x"` is the lab's host (the backend's own namespace), `"a/x"` namespace a.
    fn at(&self, s: &str) -> LinkRef {
        match s.split_once('/') {
            Some((ns, name)) => LinkRef {
                namespace: Some(self.ns(ns)),
                name: ln(name),
            },
            None => LinkRef {
                namespace: None,
                name: ln(s),
            },
        }
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0xc0, 0, 0, 0, n])
}

fn veth(n: &Names, at: &str, peer: &str, m: u8, mtu: Option<u32>) -> Request {
    Request::CreateLink(NewLink {
        at: n.at(at),
        kind: NewKind::Veth {
            peer: n.at(peer),
            peer_mac: Some(mac(m + 1)),
            peer_mtu: mtu,
        },
        mac: Some(mac(m)),
        mtu,
        restore: false,
    })
}

fn macvlan(n: &Names, at: &str, parent: &str, mode: Mode, m: u8, mtu: Option<u32>) -> Request {
    Request::CreateLink(NewLink {
        at: n.at(at),
        kind: NewKind::Macvlan {
            parent: n.at(parent),
            mode,
            source_macs: vec![],
            kind: Default::default(),
            flags: vec![],
            bcqueuelen: None,
            bc_cutoff: None,
        },
        mac: (mode != Mode::Passthru).then(|| mac(m)),
        mtu,
        restore: false,
    })
}

/// The parent, then `more`.
fn on_parent(n: &Names, more: Vec<Request>) -> Vec<Request> {
    let mut v = parent(n);
    v.extend(more);
    v
}

/// `macvlan` with the driver's other attributes changed by `f` (kind, flags, queue).
fn macvlan_with(
    n: &Names,
    at: &str,
    mode: Mode,
    m: u8,
    f: impl FnOnce(&mut MacvlanKind, &mut Vec<MacvlanFlag>, &mut Option<u32>, &mut Option<i32>),
) -> Request {
    let mut r = macvlan(n, at, "p0", mode, m, None);
    if let Request::CreateLink(NewLink {
        kind:
            NewKind::Macvlan {
                kind,
                flags,
                bcqueuelen,
                bc_cutoff,
                ..
            },
        ..
    }) = &mut r
    {
        f(kind, flags, bcqueuelen, bc_cutoff);
    }
    r
}

fn macvtap(n: &Names, at: &str, mode: Mode, m: u8) -> Request {
    macvlan_with(n, at, mode, m, |k, _, _, _| *k = MacvlanKind::Macvtap)
}

fn attr(n: &Names, at: &str, kind: MacvlanKind, attr: MacvlanAttr) -> Request {
    Request::SetMacvlanAttr {
        at: n.at(at),
        kind,
        attr,
    }
}

fn up(n: &Names, at: &str) -> Request {
    Request::Claim {
        at: n.at(at),
        up: true,
    }
}

/// The parent every scenario starts from: veth p0 (MAC …:01) / p0p (…:02), both up.
fn parent(n: &Names) -> Vec<Request> {
    vec![veth(n, "p0", "p0p", 1, None), up(n, "p0"), up(n, "p0p")]
}

/// The parent veth p0/p0p and an up macvlan m0 on p0.
fn up_macvlan(n: &Names) -> Vec<Request> {
    let mut v = parent(n);
    v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
    v.push(up(n, "m0"));
    v
}

/// The parent veth p0/p0p and an up bridge br0 (with a MAC of its own: a bridge without
/// one takes its first port's, a value the fake does not pick).
fn bridged(n: &Names) -> Vec<Request> {
    let mut v = parent(n);
    v.push(Request::CreateLink(NewLink {
        at: n.at("br0"),
        kind: NewKind::Bridge,
        mac: Some(mac(30)),
        mtu: None,
        restore: false,
    }));
    v.push(up(n, "br0"));
    v
}

fn set_master(n: &Names, at: &str, master: Option<&str>) -> Request {
    Request::SetMaster {
        at: n.at(at),
        master: master.map(|m| LinkName::new(m).unwrap()),
    }
}

/// `bridged`, with p0p a port of br0.
fn with_port(n: &Names) -> Vec<Request> {
    let mut v = bridged(n);
    v.push(set_master(n, "p0p", Some("br0")));
    v
}

fn route(to: &str, via: Option<&str>, metric: Option<u32>) -> Route {
    Route::new(cidr(to), via.map(|v| v.parse().unwrap()), metric)
}

/// An up macvlan m0 with 10.9.0.1/24 and fd09::1/64, a route to 10.10.0.0/16 through
/// 10.9.0.254 and one to fd10::/64 through fd09::254, both with the kernel's default metric.
fn routed(n: &Names) -> Vec<Request> {
    let mut v = up_macvlan(n);
    for a in ["10.9.0.1/24", "fd09::1/64"] {
        v.push(Request::AddAddress {
            at: n.at("m0"),
            address: cidr(a),
        });
    }
    for r in [
        route("10.10.0.0/16", Some("10.9.0.254"), None),
        route("fd10::/64", Some("fd09::254"), None),
    ] {
        v.push(Request::AddRoute {
            at: n.at("m0"),
            route: r,
        });
    }
    v
}

struct Scenario {
    name: &'static str,
    /// Namespaces (short names) made before anything else.
    namespaces: &'static [&'static str],
    setup: fn(&Names) -> Vec<Request>,
    request: fn(&Names) -> Request,
    /// `None`: accepted; `Some(errno)`: refused with it.
    errno: Option<i32>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "macvlan MTU above the parent's",
            namespaces: &[],
            setup: parent,
            request: |n| macvlan(n, "m0", "p0", Mode::Bridge, 10, Some(9000)),
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "macvlan into a missing namespace",
            namespaces: &[],
            setup: parent,
            request: |n| macvlan(n, "zz/m0", "p0", Mode::Bridge, 10, None),
            errno: Some(libc::ENOENT),
        },
        Scenario {
            name: "macvlan on a missing parent",
            namespaces: &[],
            setup: parent,
            request: |n| macvlan(n, "m0", "p9", Mode::Bridge, 10, None),
            errno: Some(libc::ENODEV),
        },
        Scenario {
            name: "macvlan whose name is taken",
            namespaces: &["a"],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "a/m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| macvlan(n, "a/m0", "p0", Mode::Vepa, 11, None),
            errno: Some(libc::EEXIST),
        },
        Scenario {
            name: "macvlan created straight into a namespace",
            namespaces: &["a"],
            setup: parent,
            request: |n| macvlan(n, "a/m0", "p0", Mode::Private, 10, Some(1400)),
            errno: None,
        },
        Scenario {
            name: "passthru beside another macvlan",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| macvlan(n, "m1", "p0", Mode::Passthru, 11, None),
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "a macvlan beside a passthru",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Passthru, 10, None));
                v
            },
            request: |n| macvlan(n, "m1", "p0", Mode::Bridge, 11, None),
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "passthru takes its parent's MAC",
            namespaces: &[],
            setup: parent,
            request: |n| macvlan(n, "m0", "p0", Mode::Passthru, 10, None),
            errno: None,
        },
        Scenario {
            name: "a down macvlan may share an up sibling's MAC",
            namespaces: &[],
            setup: up_macvlan,
            request: |n| macvlan(n, "m1", "p0", Mode::Bridge, 10, None),
            errno: None,
        },
        Scenario {
            name: "bringing up a macvlan with an up sibling's MAC (the alias is set anyway)",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v.push(macvlan(n, "m1", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| up(n, "m1"),
            errno: Some(libc::EADDRINUSE),
        },
        Scenario {
            name: "giving an up macvlan an up sibling's MAC",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v.push(macvlan(n, "m1", "p0", Mode::Bridge, 11, None));
                v.push(up(n, "m1"));
                v
            },
            request: |n| Request::SetMac {
                at: n.at("m1"),
                mac: mac(10),
            },
            errno: Some(libc::EADDRINUSE),
        },
        Scenario {
            name: "giving a down macvlan an up sibling's MAC (checked up or down)",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v.push(macvlan(n, "m1", "p0", Mode::Bridge, 11, None));
                v
            },
            request: |n| Request::SetMac {
                at: n.at("m1"),
                mac: mac(10),
            },
            errno: Some(libc::EADDRINUSE),
        },
        Scenario {
            name: "a veth's MTU is per end",
            namespaces: &["a"],
            setup: |n| vec![veth(n, "v0", "a/v0p", 20, None)],
            request: |n| Request::SetMtu {
                at: n.at("v0"),
                mtu: 1400,
            },
            errno: None,
        },
        Scenario {
            name: "macvlan MTU raised above its parent's",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, Some(1400)));
                v
            },
            request: |n| Request::SetMtu {
                at: n.at("m0"),
                mtu: 1600,
            },
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "lowering a parent's MTU lowers its macvlans'",
            namespaces: &["a"],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "a/m0", "p0", Mode::Bridge, 10, Some(1400)));
                v.push(macvlan(n, "m1", "p0", Mode::Vepa, 11, Some(1200)));
                v
            },
            request: |n| Request::SetMtu {
                at: n.at("p0"),
                mtu: 1300,
            },
            errno: None,
        },
        Scenario {
            name: "mode bridge to private",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| Request::SetMacvlan {
                at: n.at("m0"),
                kind: MacvlanKind::Macvlan,
                mode: Some(Mode::Private),
                source_macs: None,
            },
            errno: None,
        },
        Scenario {
            name: "mode into source with a list, in one request",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| Request::SetMacvlan {
                at: n.at("m0"),
                kind: MacvlanKind::Macvlan,
                mode: Some(Mode::Source),
                source_macs: Some(vec![mac(0xaa), mac(0xbb)]),
            },
            errno: None,
        },
        Scenario {
            name: "mode into passthru",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| Request::SetMacvlan {
                at: n.at("m0"),
                kind: MacvlanKind::Macvlan,
                mode: Some(Mode::Passthru),
                source_macs: None,
            },
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "claim: alias and up in one request; alias cleared",
            namespaces: &[],
            setup: up_macvlan,
            request: |n| Request::SetAlias {
                at: n.at("m0"),
                owner: None,
            },
            errno: None,
        },
        Scenario {
            name: "an address twice",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(Request::AddAddress {
                    at: n.at("m0"),
                    address: cidr("10.9.0.1/24"),
                });
                v
            },
            request: |n| Request::AddAddress {
                at: n.at("m0"),
                address: cidr("10.9.0.1/24"),
            },
            errno: Some(libc::EEXIST),
        },
        Scenario {
            name: "removing an absent address",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |n| Request::DeleteAddress {
                at: n.at("m0"),
                address: cidr("10.9.0.1/24"),
            },
            errno: Some(libc::EADDRNOTAVAIL),
        },
        Scenario {
            name: "removing an absent route",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v.push(Request::AddAddress {
                    at: n.at("m0"),
                    address: cidr("10.9.0.1/24"),
                });
                v
            },
            request: |n| Request::DeleteRoute {
                at: n.at("m0"),
                route: Route {
                    to: cidr("10.10.0.0/16"),
                    via: Some("10.9.0.254".parse().unwrap()),
                    metric: None,
                },
            },
            errno: Some(libc::ESRCH),
        },
        Scenario {
            name: "a route through an unreachable gateway",
            namespaces: &[],
            setup: up_macvlan,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: Route {
                    to: cidr("10.10.0.0/16"),
                    via: Some("10.9.0.254".parse().unwrap()),
                    metric: None,
                },
            },
            errno: Some(libc::ENETUNREACH),
        },
        Scenario {
            name: "a second route to a destination, with another metric",
            namespaces: &[],
            setup: routed,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: route("10.10.0.0/16", Some("10.9.0.254"), Some(100)),
            },
            errno: None,
        },
        Scenario {
            name: "a route whose destination and metric are taken, through another gateway",
            namespaces: &[],
            setup: routed,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: route("10.10.0.0/16", Some("10.9.0.253"), None),
            },
            errno: Some(libc::EEXIST),
        },
        Scenario {
            name: "an IPv6 route with metric 0 is one with 1024",
            namespaces: &[],
            setup: routed,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: Route {
                    metric: Some(0),
                    ..route("fd10::/64", None, None)
                },
            },
            errno: Some(libc::EEXIST),
        },
        Scenario {
            name: "an on-link IPv6 route beside one through a gateway, another metric",
            namespaces: &[],
            setup: routed,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: route("fd10::/64", None, Some(7)),
            },
            errno: None,
        },
        Scenario {
            name: "removing a route of another metric than the one there",
            namespaces: &[],
            setup: routed,
            request: |n| Request::DeleteRoute {
                at: n.at("m0"),
                route: route("10.10.0.0/16", Some("10.9.0.254"), Some(5)),
            },
            errno: Some(libc::ESRCH),
        },
        Scenario {
            name: "an on-link route, no gateway needed",
            namespaces: &[],
            setup: up_macvlan,
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: route("10.11.0.0/16", None, Some(20)),
            },
            errno: None,
        },
        Scenario {
            name: "going down drops IPv6 addresses and routes, keeps IPv4",
            namespaces: &["a"],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "a/m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "a/m0"));
                for a in ["10.9.0.1/24", "fd09::1/64"] {
                    v.push(Request::AddAddress {
                        at: n.at("a/m0"),
                        address: cidr(a),
                    });
                }
                v.push(Request::AddRoute {
                    at: n.at("a/m0"),
                    route: Route {
                        to: cidr("10.10.0.0/16"),
                        via: Some("10.9.0.254".parse().unwrap()),
                        metric: None,
                    },
                });
                v
            },
            request: |n| Request::SetUp {
                at: n.at("a/m0"),
                up: false,
            },
            errno: None,
        },
        Scenario {
            name: "removing an absent link",
            namespaces: &[],
            setup: parent,
            request: |n| Request::DeleteLink {
                at: n.at("m9"),
                takes: vec![],
            },
            errno: Some(libc::ENODEV),
        },
        Scenario {
            name: "deleting a veth end takes the pair and the macvlans on it",
            namespaces: &["a"],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "a/m0", "p0", Mode::Bridge, 10, None));
                v.push(macvlan(n, "m1", "p0", Mode::Source, 11, None));
                v
            },
            request: |n| Request::DeleteLink {
                at: n.at("p0p"),
                takes: vec![],
            },
            errno: None,
        },
        Scenario {
            name: "macvtap created straight into a namespace, beside a macvlan",
            namespaces: &["a"],
            setup: |n| on_parent(n, vec![macvlan(n, "m1", "p0", Mode::Bridge, 11, None)]),
            request: |n| macvtap(n, "a/t0", Mode::Bridge, 10),
            errno: None,
        },
        Scenario {
            name: "passthru macvtap on a parent that has a macvlan",
            namespaces: &[],
            setup: |n| on_parent(n, vec![macvlan(n, "m1", "p0", Mode::Bridge, 11, None)]),
            request: |n| macvtap(n, "t0", Mode::Passthru, 10),
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "a change naming macvlan on a macvtap",
            namespaces: &[],
            setup: |n| on_parent(n, vec![macvtap(n, "t0", Mode::Bridge, 10)]),
            request: |n| Request::SetMacvlan {
                at: n.at("t0"),
                kind: MacvlanKind::Macvlan,
                mode: Some(Mode::Private),
                source_macs: None,
            },
            errno: Some(libc::EOPNOTSUPP),
        },
        Scenario {
            name: "macvtap mode changed in place",
            namespaces: &[],
            setup: |n| on_parent(n, vec![macvtap(n, "t0", Mode::Bridge, 10)]),
            request: |n| Request::SetMacvlan {
                at: n.at("t0"),
                kind: MacvlanKind::Macvtap,
                mode: Some(Mode::Vepa),
                source_macs: None,
            },
            errno: None,
        },
        Scenario {
            name: "flags and bcqueuelen in a create",
            namespaces: &[],
            setup: parent,
            request: |n| {
                macvlan_with(n, "s0", Mode::Source, 10, |_, f, q, _| {
                    *f = vec![MacvlanFlag::Nodst];
                    *q = Some(64);
                })
            },
            errno: None,
        },
        Scenario {
            name: "nodst set in place on a source macvlan",
            namespaces: &[],
            setup: |n| on_parent(n, vec![macvlan(n, "s0", "p0", Mode::Source, 10, None)]),
            request: |n| {
                attr(
                    n,
                    "s0",
                    MacvlanKind::Macvlan,
                    MacvlanAttr::Flags(vec![MacvlanFlag::Nodst]),
                )
            },
            errno: None,
        },
        Scenario {
            name: "nopromisc cleared in place on an up passthru macvtap",
            namespaces: &[],
            setup: |n| {
                on_parent(
                    n,
                    vec![
                        macvlan_with(n, "t0", Mode::Passthru, 10, |k, f, _, _| {
                            *k = MacvlanKind::Macvtap;
                            *f = vec![MacvlanFlag::Nopromisc];
                        }),
                        up(n, "t0"),
                    ],
                )
            },
            request: |n| attr(n, "t0", MacvlanKind::Macvtap, MacvlanAttr::Flags(vec![])),
            errno: None,
        },
        Scenario {
            name: "bcqueuelen set in place: what this macvlan asks for",
            namespaces: &[],
            setup: |n| {
                on_parent(
                    n,
                    vec![
                        macvlan(n, "m0", "p0", Mode::Bridge, 10, None),
                        macvtap(n, "t1", Mode::Bridge, 11),
                    ],
                )
            },
            request: |n| attr(n, "m0", MacvlanKind::Macvlan, MacvlanAttr::BcQueueLen(2000)),
            errno: None,
        },
        Scenario {
            name: "bc-cutoff set through one macvlan is its parent's",
            namespaces: &["a"],
            setup: |n| {
                on_parent(
                    n,
                    vec![
                        macvlan(n, "m0", "p0", Mode::Bridge, 10, None),
                        macvtap(n, "a/t1", Mode::Bridge, 11),
                    ],
                )
            },
            request: |n| attr(n, "m0", MacvlanKind::Macvlan, MacvlanAttr::BcCutoff(5)),
            errno: None,
        },
        Scenario {
            name: "a new macvlan reports its parent's bc-cutoff; one in the create sets it",
            namespaces: &[],
            setup: |n| {
                on_parent(
                    n,
                    vec![
                        macvlan_with(n, "m0", Mode::Bridge, 10, |_, _, _, c| *c = Some(-1)),
                        macvlan(n, "m1", "p0", Mode::Bridge, 11, None),
                    ],
                )
            },
            request: |n| macvlan_with(n, "m2", Mode::Bridge, 12, |_, _, _, c| *c = Some(3)),
            errno: None,
        },
        Scenario {
            name: "bc-cutoff back to the default is left out of the dump",
            namespaces: &[],
            setup: |n| {
                on_parent(
                    n,
                    vec![macvlan_with(n, "m0", Mode::Bridge, 10, |_, _, _, c| {
                        *c = Some(4)
                    })],
                )
            },
            request: |n| attr(n, "m0", MacvlanKind::Macvlan, MacvlanAttr::BcCutoff(1)),
            errno: None,
        },
        Scenario {
            name: "a veth end enslaved to a bridge",
            namespaces: &[],
            setup: bridged,
            request: |n| set_master(n, "p0p", Some("br0")),
            errno: None,
        },
        Scenario {
            name: "a port released",
            namespaces: &[],
            setup: with_port,
            request: |n| set_master(n, "p0p", None),
            errno: None,
        },
        Scenario {
            name: "a master that is not a bridge",
            namespaces: &[],
            setup: bridged,
            request: |n| set_master(n, "p0p", Some("p0")),
            errno: Some(libc::EOPNOTSUPP),
        },
        Scenario {
            name: "a master that does not exist",
            namespaces: &[],
            setup: bridged,
            request: |n| set_master(n, "p0p", Some("br9")),
            errno: Some(libc::ENODEV),
        },
        Scenario {
            name: "a macvlan on a bridge port",
            namespaces: &[],
            setup: with_port,
            request: |n| macvlan(n, "m0", "p0p", Mode::Bridge, 10, None),
            errno: Some(libc::EBUSY),
        },
        Scenario {
            name: "a link with a macvlan on it made a port",
            namespaces: &[],
            setup: |n| {
                let mut v = bridged(n);
                v.push(macvlan(n, "m0", "p0p", Mode::Bridge, 10, None));
                v
            },
            request: |n| set_master(n, "p0p", Some("br0")),
            errno: Some(libc::EBUSY),
        },
        Scenario {
            name: "a macvlan on a bridge, in a namespace",
            namespaces: &["a"],
            setup: with_port,
            request: |n| macvlan(n, "a/m0", "br0", Mode::Bridge, 10, None),
            errno: None,
        },
        Scenario {
            name: "deleting a bridge releases its ports and takes its macvlans",
            namespaces: &[],
            setup: |n| {
                let mut v = with_port(n);
                v.push(macvlan(n, "m0", "br0", Mode::Bridge, 10, None));
                v
            },
            request: |n| Request::DeleteLink {
                at: n.at("br0"),
                takes: vec![],
            },
            errno: None,
        },
        Scenario {
            name: "a batch of deletes takes its links, their addresses and what sits on them",
            namespaces: &["a"],
            setup: |n| {
                let mut v = parent(n);
                v.push(veth(n, "q0", "q0p", 3, None));
                v.push(macvlan(n, "m0", "q0", Mode::Bridge, 10, None));
                v.push(macvlan(n, "a/m1", "p0", Mode::Bridge, 11, None));
                v.push(macvlan(n, "m2", "p0", Mode::Bridge, 12, None));
                v.push(up(n, "m2"));
                v.push(Request::AddAddress {
                    at: n.at("m2"),
                    address: cidr("10.9.0.1/24"),
                });
                v
            },
            request: |n| Request::DeleteLinks {
                namespace: None,
                links: vec![LinkName::new("m2").unwrap(), LinkName::new("q0").unwrap()],
                takes: vec![n.at("q0p"), n.at("m0")],
            },
            errno: None,
        },
        Scenario {
            name: "a batch naming an absent link changes nothing",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v
            },
            request: |_| Request::DeleteLinks {
                namespace: None,
                links: vec![LinkName::new("m0").unwrap(), LinkName::new("m9").unwrap()],
                takes: vec![],
            },
            errno: Some(libc::ENODEV),
        },
        Scenario {
            name: "a veth made in a namespace, its peer in the host",
            namespaces: &["a"],
            setup: |_| vec![],
            request: |n| veth(n, "a/q0", "q0p", 1, None),
            errno: None,
        },
        Scenario {
            name: "macvlan on a parent in a namespace, made through its socket, into another",
            namespaces: &["a", "b"],
            setup: |n| vec![veth(n, "a/q0", "a/q0p", 1, None)],
            request: |n| macvlan(n, "b/m0", "a/q0", Mode::Bridge, 10, None),
            errno: None,
        },
        Scenario {
            name: "macvlan on a parent in a namespace, into the host and beside one there",
            namespaces: &["a"],
            setup: |n| {
                vec![
                    veth(n, "a/q0", "a/q0p", 1, None),
                    macvlan(n, "a/m1", "a/q0", Mode::Bridge, 11, None),
                ]
            },
            request: |n| macvlan(n, "m0", "a/q0", Mode::Private, 10, Some(1400)),
            errno: None,
        },
        Scenario {
            name: "macvlan on a parent looked up in a namespace where it is not",
            namespaces: &["a"],
            setup: parent,
            request: |n| macvlan(n, "m0", "a/p0", Mode::Bridge, 10, None),
            errno: Some(libc::ENODEV),
        },
        Scenario {
            name: "deleting a namespace takes its parent and the macvlans on it elsewhere",
            namespaces: &["a", "b"],
            setup: |n| {
                vec![
                    veth(n, "a/q0", "q0p", 1, None),
                    macvlan(n, "b/m0", "a/q0", Mode::Bridge, 10, None),
                    macvlan(n, "m1", "a/q0", Mode::Bridge, 11, None),
                ]
            },
            request: |n| Request::DeleteNamespace { name: n.ns("a") },
            errno: None,
        },
        Scenario {
            name: "a namespace twice",
            namespaces: &[],
            setup: |n| vec![Request::CreateNamespace { name: n.ns("b") }],
            request: |n| Request::CreateNamespace { name: n.ns("b") },
            errno: Some(libc::EEXIST),
        },
        Scenario {
            name: "removing an absent namespace",
            namespaces: &[],
            setup: |_| vec![],
            request: |n| Request::DeleteNamespace { name: n.ns("b") },
            errno: Some(libc::ENOENT),
        },
    ]
}

/// The lab's part of a snapshot: its own namespace's links and the lab's namespaces (the
/// real snapshot also sees every other namespace on the machine).
fn lab_part(s: &LiveState, lab: &Lab) -> LiveState {
    let mine = |ns: &NsName| ns.as_str().starts_with(&format!("{}-", lab.prefix));
    let mut out = LiveState {
        namespaces: s
            .namespaces
            .iter()
            .filter(|n| mine(&n.name) && !n.name.as_str().ends_with("-host"))
            .cloned()
            .collect(),
        links: s
            .links
            .iter()
            .filter(|l| l.namespace.as_ref().is_none_or(mine))
            .cloned()
            .collect(),
        kernel: s.kernel.clone(),
    };
    out.normalize();
    out
}

#[test]
fn the_fake_and_the_kernel_agree_on_every_scenario() {
    let mut disagreements = Vec::new();
    let table = scenarios();
    for sc in &table {
        let Some(lab) = Lab::new() else { return };
        let n = Names(&lab);
        let owner = lab.prefix.clone();
        let mut real = lab.netlink();
        let mut fake = FakeBackend::new(LiveState::default());
        // Namespaces made by hand (unowned), on both sides.
        for short in sc.namespaces {
            lab.add_ns(short);
        }
        fake.state = lab_part(&real.snapshot().unwrap(), &lab);
        for r in (sc.setup)(&n) {
            real.request(&r, &owner)
                .unwrap_or_else(|e| panic!("{}: setup {r} on the kernel: {e}", sc.name));
            fake.request(&r, &owner)
                .unwrap_or_else(|e| panic!("{}: setup {r} on the fake: {e}", sc.name));
        }
        let r = (sc.request)(&n);
        let on_real = real.request(&r, &owner).err().map(|e| e.errno);
        let on_fake = fake.request(&r, &owner).err().map(|e| e.errno);
        let want = sc.errno.map(Some);
        if on_real != want || on_fake != want {
            disagreements.push(format!(
                "{}: {r}: expected {want:?}, kernel {on_real:?}, fake {on_fake:?}",
                sc.name
            ));
            continue;
        }
        // The kernel tears a deleted namespace's links down asynchronously; read until
        // the two agree or a second has passed.
        let mut tries = 0;
        let (k, f) = loop {
            let k = lab_part(&real.snapshot().unwrap(), &lab);
            let f = lab_part(&fake.snapshot().unwrap(), &lab);
            tries += 1;
            if k == f || tries > 10 {
                break (k, f);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        if k != f {
            disagreements.push(format!(
                "{}: {r}: states differ\nkernel: {}\nfake:   {}",
                sc.name,
                serde_json::to_string(&k).unwrap(),
                serde_json::to_string(&f).unwrap()
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} scenarios disagree:\n{}",
        disagreements.len(),
        table.len(),
        disagreements.join("\n")
    );
}
