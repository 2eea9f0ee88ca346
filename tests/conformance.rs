//! One table of kernel scenarios run against both the fake kernel (`fake::FakeBackend`) and
//! the real one (rtnetlink, in lab namespaces): each is a few setup requests and one request
//! under test, and both kernels must give the same outcome (success, or the same errno) and
//! end in the same state (their snapshots, compared field by field). This is what keeps the
//! fake as strict as the kernel, so that the rollback tests run on it prove something.
//!
//! Every MAC is given explicitly, so nothing the kernel picks at random takes part. Root
//! only: "SKIPPED: ..." and a failure otherwise, unless MVTOPO_ALLOW_SKIP=1.

mod common;

use common::Lab;
use mvtopo::apply::{NewKind, NewLink, Request};
use mvtopo::backend::Backend;
use mvtopo::fake::FakeBackend;
use mvtopo::live::{LinkRef, LiveState};
use mvtopo::model::Route;
use mvtopo::names::{Cidr, LinkName, MacAddr, Mode, NsName};

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
                name: LinkName::new(name).unwrap(),
            },
            None => LinkRef {
                namespace: None,
                name: LinkName::new(s).unwrap(),
            },
        }
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0xc0, 0, 0, 0, n])
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
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
            parent: LinkName::new(parent).unwrap(),
            mode,
            source_macs: vec![],
        },
        mac: (mode != Mode::Passthru).then(|| mac(m)),
        mtu,
        restore: false,
    })
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
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v
            },
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
                mode: Some(Mode::Passthru),
                source_macs: None,
            },
            errno: Some(libc::EINVAL),
        },
        Scenario {
            name: "claim: alias and up in one request; alias cleared",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v
            },
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
                },
            },
            errno: Some(libc::ESRCH),
        },
        Scenario {
            name: "a route through an unreachable gateway",
            namespaces: &[],
            setup: |n| {
                let mut v = parent(n);
                v.push(macvlan(n, "m0", "p0", Mode::Bridge, 10, None));
                v.push(up(n, "m0"));
                v
            },
            request: |n| Request::AddRoute {
                at: n.at("m0"),
                route: Route {
                    to: cidr("10.10.0.0/16"),
                    via: Some("10.9.0.254".parse().unwrap()),
                },
            },
            errno: Some(libc::ENETUNREACH),
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
